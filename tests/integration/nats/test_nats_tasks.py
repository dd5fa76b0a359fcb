"""Task arguments through a restart on the NATS KV store (issue 14).

The same check as ``test_task_arguments_survive_a_restart_with_their_types`` in
tests/integration/sqlalchemy/test_sql_tasks.py, for the store that keeps a job as a JSON
document instead of a row: one scheduler adds a task job with rich arguments, a new
scheduler on a new store object over the same server runs it, and the task must receive
exactly what was given, types included, because the stored JSON text is the only copy.
The job document's ``metadata`` must stay a ``string -> string`` object (what the Go
library reads), the task carried in two reserved keys.

The argument values, their class and the check come from ``support.task_arguments``,
shared with the SQL stores' round trip.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from nats.js import JetStreamContext
from support.nats_server import NatsServer
from support.task_arguments import RICH_ARGS, RICH_KWARGS, assert_same, receive, received, tasks

from tickwork import (
    AsyncScheduler,
    ExecutionStatus,
    OnceSchedule,
)
from tickwork_nats_store import NATSStore
from tickwork_nats_store._keys import job_key
from tickwork_nats_store._store import DEFAULT_JOB_BUCKET

pytestmark = pytest.mark.nats

TASK_KEY, ARGS_KEY = "tickwork.task", "tickwork.args"


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
    assert metadata[TASK_KEY] == f"{receive.__module__}:receive"
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
    assert (run.job_id, run.worker_id, run.task) == (
        "rich",
        "second",
        f"{receive.__module__}:receive",
    )
    assert_same(args, RICH_ARGS)
    assert_same(kwargs, dict(sorted(RICH_KWARGS.items())))  # kwargs are stored by name
