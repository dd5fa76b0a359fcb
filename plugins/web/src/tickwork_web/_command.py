"""``tickwork web``: serve the dashboard for a store with uvicorn.

Only the arguments are declared when ``tickwork`` starts; uvicorn and the app load
when the command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import sys
from typing import Any

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "WebCommand"]

logger = logging.getLogger("tickwork.web")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


class WebCommand:
    """The ``web`` subcommand (a :class:`tickwork.abc.Command`)."""

    name = "web"
    help = "serve a dashboard and JSON API for a store (read-only without a token)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--store",
            default=None,
            help="store name or URL (default: $TICKWORK_STORE); never created by this command",
        )
        parser.add_argument(
            "--store-option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a keyword option for the store's constructor (repeatable), e.g. schema=jobs",
        )
        parser.add_argument(
            "--host",
            default=DEFAULT_HOST,
            help=f"address to listen on (default {DEFAULT_HOST}: this machine only)",
        )
        parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
        parser.add_argument(
            "--read-only",
            action="store_true",
            help="refuse every change, even with a token",
        )
        parser.add_argument(
            "--token-env",
            default="TICKWORK_WEB_TOKEN",
            metavar="NAME",
            help="the environment variable holding the token (default TICKWORK_WEB_TOKEN); "
            "without a token the dashboard is read-only",
        )
        parser.add_argument(
            "--token-file",
            default=None,
            metavar="PATH",
            help="read the token from this file instead (its first line); a token is never "
            "a command-line argument, which other users may see in the process list",
        )
        parser.add_argument("--title", default="tickwork", help="the pages' title")

    def run(self, args: argparse.Namespace) -> int:
        import uvicorn

        from tickwork.cli import store_arg, store_options

        from ._app import create_app

        options = store_options(args.store_option, reserved=True)
        store = store_arg(args.store)
        if not 0 < args.port < 65536:
            raise ValueError(f"--port must be between 1 and 65535, got {args.port}")
        asyncio.run(_check_store(store, options))
        token = _token(args)
        app = create_app(
            store,
            token=token or "",
            read_only=args.read_only,
            title=args.title,
            store_options=options,
        )
        if not _loopback(args.host):
            logger.warning(
                "listening on %s: anyone who can reach this machine can read the jobs "
                "(changes still need the token)",
                args.host,
            )
        mode = "read-only" if args.read_only or not token else "changes need the token"
        sys.stdout.write(f"tickwork web: http://{_shown(args.host)}:{args.port}/ ({mode})\n")
        sys.stdout.flush()
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level="warning",
            # Open event streams (live pages) must not hold up Ctrl-C for long.
            timeout_graceful_shutdown=5,
        )
        return 0


def _token(args: argparse.Namespace) -> str | None:
    """The token: from ``--token-file`` when given, else from ``--token-env``."""
    if args.token_file is None:
        return os.environ.get(args.token_env) or None
    try:
        with open(args.token_file, encoding="utf-8") as handle:
            token = handle.readline().strip()
    except OSError as exc:
        raise ValueError(f"--token-file {args.token_file}: {exc.strerror}") from None
    if not token:
        raise ValueError(f"--token-file {args.token_file}: the file's first line is empty")
    return token


async def _check_store(name_or_url: str, options: dict[str, Any]) -> None:
    """Open the store once before serving: a store that does not exist, a mistyped URL
    or an unknown option stops the command with one line; a store that does not answer
    now only warns (the pages answer 503 until it does)."""
    from tickwork import StorageConnectionError, StorageOperationError
    from tickwork.cli import open_store

    try:
        store = await open_store(name_or_url, create=False, options=options)
    except (StorageConnectionError, StorageOperationError, OSError) as exc:
        logger.warning("the store does not answer now (%s); the pages say so until it does", exc)
        return
    await store.close()


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host
