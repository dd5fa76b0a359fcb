"""``tickwork run``: a worker from a TOML file, and how it ends on a signal.

The first SIGINT or SIGTERM stops the scheduler gracefully: runs in progress finish
(or, with ``--stop-timeout``, are cut short after that many seconds) and leave their
records, claims are released, the store is closed; the exit status is 0. A second
SIGINT or SIGTERM while it stops tells the stop to hurry (``stop(0)``: what still runs
is cut short and recorded by the scheduler), and the exit status is 130; the stop is
still let finish, so nothing is lost and no task is destroyed half-way. The handlers
are taken away then, so a third signal ends the process with Python's default action.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from .._errors import SchedulerNotStartedError
from .._scheduler import AsyncScheduler
from ._config import import_handler, load_config

__all__ = ["run_worker"]

#: Exit status after a second interrupt, as a shell reports a process ended by SIGINT.
INTERRUPTED = 130

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def run_worker(config_path: Path, out: TextIO, stop_timeout: float | None = None) -> int:
    """Run the worker ``config_path`` describes until a signal; the exit status."""
    config = load_config(config_path)
    handler = import_handler(config.handler)
    scheduler = AsyncScheduler(
        config.store,
        handler,
        trigger=config.trigger,
        store_options=config.store_options or None,
        trigger_options=config.trigger_options or None,
        max_workers=config.max_workers,
    )
    for spec in config.jobs:
        await scheduler.add_job(spec.id, spec.schedule, spec.metadata, options=spec.options)
    signals = _Signals(scheduler, out)
    with signals.handled():  # from before start: a signal during start stops it after
        async with scheduler:
            out.write(
                f"tickwork worker {scheduler.worker_id} running "
                f"{len(await scheduler.list_jobs())} jobs (store {config.store}, "
                f"trigger {config.trigger}); Ctrl-C to stop\n"
            )
            out.flush()
            await signals.first.wait()
            out.write("stopping: waiting for runs in progress (Ctrl-C again to hurry)\n")
            out.flush()
            await scheduler.stop(stop_timeout)
    return INTERRUPTED if signals.count > 1 else 0


class _Signals:
    """SIGINT and SIGTERM, counted: the first stops, the second hurries the stop."""

    def __init__(self, scheduler: AsyncScheduler, out: TextIO) -> None:
        self.scheduler = scheduler
        self.out = out
        self.first = asyncio.Event()
        self.count = 0
        self._hurrying: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def handled(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            loop.add_signal_handler(sig, self._received)
        try:
            yield
        finally:
            self._remove_handlers()

    def _remove_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            loop.remove_signal_handler(sig)

    def _received(self) -> None:
        self.count += 1
        if self.count == 1:
            self.first.set()
            return
        self.out.write("interrupted again: cutting the runs in progress short\n")
        self.out.flush()
        self._remove_handlers()  # a third signal: Python's default action
        self._hurrying = asyncio.get_running_loop().create_task(self._hurry())

    async def _hurry(self) -> None:
        # An AsyncScheduler that cannot shorten a stop in progress says it is not
        # running: the stop then simply goes on.
        with contextlib.suppress(SchedulerNotStartedError):
            await self.scheduler.stop(0)
