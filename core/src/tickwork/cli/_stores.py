"""How the commands name and open a store: ``--store`` (or ``$TICKWORK_STORE``), the
``--store-option`` flags, and opening a store without creating it where a command only
reads (a mistyped URL is then an error, not a new empty store).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from .._errors import StoreOptionError
from .._plugins import create_store
from ..abc import Store
from ._config import ConfigError, parse_option_value
from ._demo import DEFAULT_STORE

__all__ = ["STORE_ENV", "open_store", "option_flag", "store_arg", "store_options"]

STORE_ENV = "TICKWORK_STORE"

logger = logging.getLogger("tickwork.cli")


def store_arg(value: str | None) -> str:
    """The store a command works on: ``--store``, else ``$TICKWORK_STORE``, else the
    demo's default."""
    return value or os.environ.get(STORE_ENV) or DEFAULT_STORE


def option_flag(
    parser: argparse.ArgumentParser,
    flag: str = "--store-option",
    whose: str = "",
    option_help: str = "",
    dest: str | None = None,
) -> None:
    """Add a repeatable ``KEY=VALUE`` flag for a store's constructor options to
    ``parser`` (``whose`` replaces "the store's" in the help, for a second store)."""
    text = option_help.replace("the store's", whose) if whose else option_help
    parser.add_argument(
        flag, action="append", default=[], metavar="KEY=VALUE", help=text, dest=dest or None
    )


def store_options(
    items: Sequence[str], flag: str = "--store-option", *, reserved: bool = False
) -> dict[str, Any]:
    """``KEY=VALUE`` flags as the store's keyword options.

    ``true``/``false``, whole numbers and decimals become those types, anything else
    stays a string (``schema=jobs``). Each error is one line naming the flag.

    :raises ConfigError: no ``=``, a key that is not an identifier, a key given twice,
        or, with ``reserved``, ``create`` (a command that opens a store to read or add
        decides itself whether the store may be created).
    """
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise ConfigError(f"{flag} takes KEY=VALUE, got {item!r}")
        if not key.isidentifier():
            raise ConfigError(
                f"{flag} {item!r}: the key must be an option name (letters, digits, _), got {key!r}"
            )
        if key in options:
            raise ConfigError(f"{flag} {key} is given twice")
        if reserved and key == "create":
            raise ConfigError(
                f"{flag} {key}: set by the command (only `jobs add` and a migration's "
                "destination create a store)"
            )
        options[key] = parse_option_value(value)
    return options


async def open_store(
    name_or_url: str,
    *,
    create: bool,
    options: dict[str, Any] | None = None,
    before_opening: Callable[[Store], None] | None = None,
) -> Store:
    """Create and initialize a store; with ``create=False`` it must exist already.

    Commands that only read open stores with ``create=False`` (the project's rule: a
    command that only reads never creates), so a mistyped URL is reported with
    :class:`StoreNotFoundError` instead of leaving an empty store behind. A third-party
    store whose constructor has no ``create`` option is opened without it, with a
    warning, since refusing it would make it unreadable from the command line.
    ``options`` (``--store-option``) go to the constructor; one it does not take is a
    :class:`~tickwork.StoreOptionError` naming the option and the store.
    ``before_opening`` checks what it must against the store object before it touches
    the backend (``jobs add``: an id the store would not hold), so that a refusal
    leaves no new store behind.
    """
    options = dict(options or {})
    if create:
        store = create_store(name_or_url, **options)
    else:
        try:
            store = create_store(name_or_url, create=False, **options)
        except StoreOptionError as exc:
            if exc.option != "create":
                raise
            logger.warning(
                "store %s has no create= option: it may create what it lacks", name_or_url
            )
            store = create_store(name_or_url, **options)
    if before_opening is not None:
        before_opening(store)
    await store.initialize()
    return store
