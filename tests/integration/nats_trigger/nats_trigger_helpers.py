"""Helpers of the NATS trigger tests: worker processes, seeding jobs, reading history."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tickwork import JobData, JobStatus, Schedule, default_codec
from tickwork.abc import Store

WORKER = Path(__file__).with_name("worker.py")


class WorkerProcess:
    """One ``worker.py`` process."""

    def __init__(self, name: str, process: subprocess.Popen[str], log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: a crash in the middle of whatever it does."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM: a graceful stop; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


class Workers:
    """Worker processes sharing one deployment; their handler events."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.events_dir = directory / "events"
        self.events_dir.mkdir(parents=True, exist_ok=True)
        self.started: list[WorkerProcess] = []

    def start(
        self,
        names: Sequence[str],
        *,
        servers: str,
        store: str = "nats",
        ack_wait: float = 3.0,
        replicas: int = 1,
        timeout: float = 30.0,
    ) -> list[WorkerProcess]:
        """Start one process per name and wait until each prints ``ready``."""
        procs: list[WorkerProcess] = []
        for name in names:
            log = self.directory / f"{name}.log"
            command = [
                sys.executable, str(WORKER),
                "--servers", servers,
                "--name", name,
                "--events", str(self.events_dir),
                "--store", store,
                "--ack-wait", str(ack_wait),
                "--replicas", str(replicas),
            ]  # fmt: skip
            process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=log.open("a"),
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            worker = WorkerProcess(name, process, log)
            self.started.append(worker)
            procs.append(worker)
        deadline = time.monotonic() + timeout
        for worker in procs:
            assert worker.process.stdout is not None
            line = worker.process.stdout.readline()
            if line.strip() != "ready" or time.monotonic() > deadline:
                raise AssertionError(f"worker {worker.name} did not start:\n{worker.log_tail()}")
        return procs

    def events(self) -> list[dict[str, Any]]:
        """Every handler event of every worker so far, in time order."""
        found: list[dict[str, Any]] = []
        for path in self.events_dir.glob("*.jsonl"):
            for line in path.read_text().splitlines():
                with contextlib.suppress(ValueError):
                    found.append(json.loads(line))
        return sorted(found, key=lambda e: e["at"])

    def wait_for(
        self, condition: Callable[[list[dict[str, Any]]], bool], timeout: float, what: str
    ) -> list[dict[str, Any]]:
        """Poll the events until ``condition(events)``; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.events()
            if condition(events):
                return events
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {w.name}\n{w.log_tail(15)}" for w in self.started)
                raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")
            time.sleep(0.05)

    def stop_all(self) -> None:
        for worker in self.started:
            with contextlib.suppress(Exception):
                worker.stop(timeout=15)


async def seed_jobs(
    store: Store,
    jobs: Sequence[tuple[str, Schedule, datetime]],
    metadata: dict[str, str] | None = None,
) -> None:
    """Save ``(job_id, schedule, first_run)`` jobs straight into ``store``."""
    codec = default_codec()
    now = datetime.now(UTC)
    for job_id, schedule, first in jobs:
        schedule_type, config = codec.encode(schedule)
        await store.save_job(
            JobData(
                id=job_id,
                schedule_type=schedule_type,
                schedule_config=config,
                status=JobStatus.PENDING,
                next_run=first,
                last_run=None,
                created_at=now,
                updated_at=now,
                metadata=dict(metadata or {}),
            )
        )
