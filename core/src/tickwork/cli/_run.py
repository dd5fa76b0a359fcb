"""``tickwork run``: a worker from a TOML file and/or an app, and how it ends on a signal.

``--app module:attribute`` (or the file's ``app`` key) gives the tasks, and maybe the
handler; ``--config`` the store, trigger and jobs. Every job's task is checked against
the app's registry before the scheduler is even built, so a typo in a task name stops
the command with one line naming the job, instead of a worker that quarantines the job
and runs nothing.

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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

from .._errors import SchedulerNotStartedError
from .._scheduler import AsyncScheduler
from .._tasks import TaskRegistry
from ._app import App, load_app
from ._config import ConfigError, RunConfig, import_handler, load_config

__all__ = ["load_worker_config", "run_worker", "worker_app"]

#: Exit status after a second interrupt, as a shell reports a process ended by SIGINT.
INTERRUPTED = 130

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def load_worker_config(
    config_path: Path | None,
    app: str | None,
    store: str | None,
    default_store: str,
    store_options: dict[str, Any] | None = None,
    instruments: Sequence[str] = (),
) -> RunConfig:
    """The worker's configuration: the file's, with ``--app`` and ``--store`` (when
    given) in place of its keys and ``--store-option`` added to (and overriding) its
    ``store_options``; without a file, the app alone on ``store`` (or
    ``default_store``) with ``store_options``, the local trigger and the jobs already
    stored. ``instruments`` (``--instrument``) are added to the file's."""
    if config_path is not None:
        config = load_config(config_path)
        changes: dict[str, Any] = {}
        if instruments:
            changes["instruments"] = tuple(dict.fromkeys([*config.instruments, *instruments]))
        if store_options:
            changes["store_options"] = {**config.store_options, **store_options}
        if app is not None:
            changes["app"] = app
        if store is not None:
            changes["store"] = store
        return attrs.evolve(config, **changes)
    if app is None:
        raise ConfigError("give --app module:attribute, --config FILE, or both")
    return RunConfig(
        store=store or default_store,
        trigger="local",
        handler=None,
        store_options=dict(store_options or {}),
        trigger_options={},
        max_workers=20,
        jobs=[],
        app=app,
        instruments=tuple(dict.fromkeys(instruments)),
    )


def worker_app(config: RunConfig, where: str = "the configuration") -> App:
    """The tasks and handler the worker runs with, checked against its jobs.

    The ``handler`` key, when given, replaces an app's own handler.

    :raises ConfigError: a job names a task the app does not register, or a job without
        a task has no handler to go to (each names the job); nothing to run at all.
    :raises AppError: the app or handler cannot be imported.
    """
    app = load_app(config.app) if config.app is not None else App("", TaskRegistry())
    if config.handler is not None:
        app = attrs.evolve(app, handler=import_handler(config.handler))
    source = f"app {app.spec!r}" if app.spec else f"{where} (it has no app)"
    for spec in config.jobs:
        if spec.task is not None and spec.task not in app.tasks:
            known = ", ".join(t.name for t in app.tasks) or "none"
            raise ConfigError(
                f"job {spec.id!r} names task {spec.task!r}, which {source} does not "
                f"register (registered: {known})"
            )
        if spec.task is None and app.handler is None:
            raise ConfigError(
                f"job {spec.id!r} names no task, and there is no handler for it "
                "(set scheduler.handler, or give the job a task)"
            )
    if app.handler is None and not len(app.tasks):
        raise ConfigError(f"{source} registers no tasks and has no handler: nothing to run")
    return app


async def run_worker(config: RunConfig, out: TextIO, stop_timeout: float | None = None) -> int:
    """Run the worker ``config`` describes until a signal; the exit status."""
    app = worker_app(config)
    scheduler = AsyncScheduler(
        config.store,
        app.handler,
        trigger=config.trigger,
        store_options=config.store_options or None,
        trigger_options=config.trigger_options or None,
        max_workers=config.max_workers,
        tasks=app.tasks,
        instruments=list(config.instruments) or None,
    )
    for spec in config.jobs:
        if spec.task is None:
            await scheduler.add_job(spec.id, spec.schedule, spec.metadata, options=spec.options)
        else:
            await scheduler.add_job(
                spec.id,
                spec.schedule,
                spec.metadata,
                task=spec.task,
                args=spec.args,
                kwargs=spec.kwargs,
                **spec.option_fields,
            )
    signals = _Signals(scheduler, out)
    with signals.handled():  # from before start: a signal during start stops it after
        async with scheduler:
            out.write(
                f"tickwork worker {scheduler.worker_id} running "
                f"{len(await scheduler.list_jobs())} jobs, {len(app.tasks)} tasks "
                f"(store {config.store}, trigger {config.trigger}); Ctrl-C to stop\n"
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
