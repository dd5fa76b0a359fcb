"""The ``tickwork`` entry point of tickwork-web: it adds the ``tickwork web`` command."""

from __future__ import annotations

from collections.abc import Callable

from tickwork import hookimpl

from ._command import WebCommand


@hookimpl
def register_commands(register: Callable[..., None]) -> None:
    register(WebCommand())
