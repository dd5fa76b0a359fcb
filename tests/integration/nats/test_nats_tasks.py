"""Task arguments through a restart on the NATS KV store (issue 14).

The same check as ``test_task_arguments_survive_a_restart_with_their_types`` in
tests/integration/sqlalchemy/test_sql_tasks.py, for the store that keeps a job as a JSON
document instead of a row: one scheduler adds a task job with rich arguments, a new
scheduler on a new store object over the same server runs it, and the task must receive
exactly what was given, types included, because the stored JSON text is the only copy.
The job document's ``metadata`` must stay a ``string -> string`` object (what the Go
library reads), the task carried in two reserved keys.

The argument values and the class are this module's own (not imported from the SQL
tests): decoding finds an attrs class by the module-level name it was encoded under,
and the SQL test directory is not importable from here.
"""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import attrs
import pytest
from nats.js import JetStreamContext
from support.nats_server import NatsServer

from tickwork import (
    AsyncScheduler,
    ExecutionStatus,
    OnceSchedule,
    RunContext,
    TaskRegistry,
    current_run,
)
from tickwork_nats_store import NATSStore
from tickwork_nats_store._keys import job_key
from tickwork_nats_store._store import DEFAULT_JOB_BUCKET

pytestmark = pytest.mark.nats

TASK_KEY, ARGS_KEY = "tickwork.task", "tickwork.args"


@attrs.frozen
class Parcel:
    """An argument of a user's class: rebuilt from its module-level name, never imported."""

    label: str
    due: datetime
    sizes: tuple[int, ...]


PARIS = ZoneInfo("Europe/Paris")
RICH_ARGS = (
    (1, "two", (3.5, [None, True])),
    {"$": "a key that looks like a tag", "nested": {"$tuple": [1], "list": [1, 2]}},
)
RICH_KWARGS = {
    # 02:30 happens twice in Paris that night: fold=1 is the second, the zone's name kept.
    "when": datetime(2026, 10, 25, 2, 30, tzinfo=PARIS, fold=1),
    "day": date(2026, 1, 2),
    "amount": Decimal("1.10"),
    "id": UUID("12345678-1234-5678-1234-567812345678"),
    "parcel": Parcel("p-1", datetime(2026, 3, 1, 9, 15, 30, 123456, tzinfo=PARIS), (1, 2)),
    "big": 2**70,
}

received: list[tuple[tuple[Any, ...], dict[str, Any], RunContext]] = []
received_lock = threading.Lock()
tasks = TaskRegistry()


@tasks.task
def receive(*args: Any, **kwargs: Any) -> None:
    with received_lock:
        received.append((args, kwargs, current_run()))


def assert_same(actual: Any, expected: Any, path: str = "") -> None:
    """``actual == expected`` with the same types all the way down, the same key order,
    and for datetimes the same zone, wall time and fold (``==`` compares instants)."""
    assert type(actual) is type(expected), f"{path}: {type(actual)} != {type(expected)}"
    if isinstance(expected, list | tuple):
        assert len(actual) == len(expected), f"{path}: {actual!r} != {expected!r}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{path}[{i}]")
    elif isinstance(expected, dict):
        assert list(actual) == list(expected), f"{path}: keys {list(actual)} != {list(expected)}"
        for key in expected:
            assert_same(actual[key], expected[key], f"{path}[{key!r}]")
    elif attrs.has(type(expected)):
        for field in attrs.fields(type(expected)):
            assert_same(getattr(actual, field.name), getattr(expected, field.name), path)
    elif isinstance(expected, datetime):
        assert (actual, actual.tzinfo, actual.fold) == (expected, expected.tzinfo, expected.fold)
        assert actual.replace(tzinfo=None) == expected.replace(tzinfo=None), path
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"
        assert str(actual) == str(expected), f"{path}: {actual!r} != {expected!r}"  # 1.10


def now() -> datetime:
    return datetime.now(UTC)


async def test_task_arguments_survive_a_restart_with_their_types(
    nats_server: NatsServer, jetstream: JetStreamContext
) -> None:
    def make_store() -> NATSStore:
        return NATSStore(nats_server.url, connect_timeout=3, jetstream_ready_timeout=5)

    received.clear()
    async with AsyncScheduler(make_store(), tasks=tasks, worker_id="first") as first:
        await first.add_job(
            "rich",
            OnceSchedule(now() + timedelta(seconds=1.5)),  # after the first has stopped
            {"team": "ops"},
            task=receive,
            args=RICH_ARGS,
            kwargs=RICH_KWARGS,
        )
    assert received == [], "the first scheduler ran the job"

    # What the Go library reads: the document's metadata, strings only.
    kv = await jetstream.key_value(DEFAULT_JOB_BUCKET)
    entry = await kv.get(job_key("rich"))
    metadata = json.loads(entry.value or b"")["metadata"]
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()), metadata
    assert metadata["team"] == "ops"
    assert metadata[TASK_KEY] == f"{__name__}:receive"
    assert set(json.loads(metadata[ARGS_KEY])) == {"args", "kwargs"}  # plain JSON text

    async with AsyncScheduler(make_store(), tasks=tasks, worker_id="second") as second:
        deadline = now() + timedelta(seconds=10)
        while not received:
            assert now() < deadline, "the restarted scheduler never ran the job"
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)  # a second run would show now
        history = await second.run_history("rich")
    assert [r.status for r in history] == [ExecutionStatus.COMPLETED]
    assert len(received) == 1, received
    args, kwargs, run = received[0]
    assert (run.job_id, run.worker_id, run.task) == ("rich", "second", f"{__name__}:receive")
    assert_same(args, RICH_ARGS)
    assert_same(kwargs, dict(sorted(RICH_KWARGS.items())))  # kwargs are stored by name
