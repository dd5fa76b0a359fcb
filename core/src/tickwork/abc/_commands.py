"""The command contract: a ``tickwork`` subcommand that a plugin adds.

Why a plugin may add commands: a distribution such as ``tickwork-web`` brings a
program of its own (a web server) that users expect under the one ``tickwork``
command, next to ``run`` and ``jobs``, without the core knowing it or depending on
what it needs.
"""

from __future__ import annotations

import argparse
from typing import Protocol, runtime_checkable

__all__ = ["Command"]


@runtime_checkable
class Command(Protocol):
    """A subcommand of ``tickwork``, registered with ``register_commands``.

    Invariants:

    - ``name`` is the word after ``tickwork`` (``"web"``); it must differ from the
      built-in commands and from every other plugin's, or the registration is refused.
    - ``help`` is one line, shown by ``tickwork --help``.
    - ``add_arguments`` only adds arguments to the subcommand's parser; it imports
      nothing heavy (it runs on every ``tickwork`` invocation).
    - ``run`` is called in the main thread, outside any event loop, with the parsed
      arguments, and returns the process's exit status. A :class:`~tickwork.TickworkError`,
      ``ValueError`` or ``OSError`` it raises is printed as one line, like the built-in
      commands' errors.
    """

    @property
    def name(self) -> str:
        """The subcommand's name."""
        ...

    @property
    def help(self) -> str:
        """One line for ``tickwork --help``."""
        ...

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the subcommand's arguments to ``parser``."""
        ...

    def run(self, args: argparse.Namespace) -> int:
        """Carry out the command; return the exit status."""
        ...
