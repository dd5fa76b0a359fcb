"""``tickwork.migrate_storage`` between the SQL store (a SQLite file) and the NATS store,
both ways, for real: every field and every tricky id survives, a second run skips
everything, and the source is never written to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.nats_server import NatsServer

import tickwork
from tickwork import ExecutionRecord, JobData, JobStatus, MigrateResult
from tickwork.abc import Store
from tickwork.testing import TRICKY_JOB_IDS
from tickwork_nats_store import NATSStore
from tickwork_sqlalchemy_store import SQLAlchemyStore

pytestmark = pytest.mark.nats

T0 = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
JOB_IDS = [*TRICKY_JOB_IDS, "job", "Job", "job "]


def sample_jobs() -> list[JobData]:
    return [
        JobData(
            id=job_id,
            schedule_type="cron" if i % 2 else "interval",
            schedule_config="CRON_TZ=Europe/Paris 0 9 * * *" if i % 2 else "1h30m0s",
            status=list(JobStatus)[i % len(JobStatus)],
            next_run=None if i % 3 == 0 else T0 + timedelta(minutes=i),
            last_run=None if i % 4 == 0 else T0 - timedelta(seconds=i, microseconds=i),
            created_at=T0 - timedelta(days=1),
            updated_at=T0 + timedelta(microseconds=i),
            metadata={"i": str(i), "id": job_id} if i % 5 else {},
        )
        for i, job_id in enumerate(JOB_IDS)
    ]


def sample_records() -> list[ExecutionRecord]:
    records = []
    for i, job_id in enumerate(JOB_IDS):
        for n in range(i % 3 + 1):
            start = T0 + timedelta(minutes=n, microseconds=i)
            records.append(
                ExecutionRecord(
                    job_id=job_id,
                    execution_id=f"{i}-{n}-{job_id}",
                    start_time=start,
                    end_time=start + timedelta(seconds=n, microseconds=7),
                    duration=timedelta(seconds=n, microseconds=7),
                    status=JobStatus.FAILED if n == 1 else JobStatus.COMPLETED,
                    error="boom\nline 2 ünï" if n == 1 else None,
                    metadata={"attempt": str(n)},
                )
            )
    return records


async def snapshot(store: Store) -> tuple[list[JobData], list[ExecutionRecord]]:
    jobs = await store.list_jobs()
    records = [r for j in jobs for r in await store.list_executions(j.id)]
    return jobs, sorted(records, key=lambda r: r.execution_id)


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = SQLAlchemyStore(url=f"sqlite:///{tmp_path / 'source.db'}")
    await store.initialize()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def nats_store(nats_server: NatsServer) -> AsyncIterator[NATSStore]:
    store = NATSStore(nats_server.url)
    await store.initialize()
    try:
        yield store
    finally:
        await store.close()


async def fill(store: Store) -> None:
    for job in sample_jobs():
        await store.save_job(job)
    for record in sample_records():
        await store.save_execution(record)


async def test_sql_to_nats_and_back(
    sqlite_store: Store, nats_store: NATSStore, tmp_path: Path
) -> None:
    await fill(sqlite_store)
    source = await snapshot(sqlite_store)
    assert len(source[0]) == len(JOB_IDS)

    result = await tickwork.migrate_storage(sqlite_store, nats_store)
    assert result == MigrateResult(
        jobs_migrated=len(JOB_IDS), executions_migrated=len(sample_records())
    )
    assert await snapshot(nats_store) == source
    assert await snapshot(sqlite_store) == source  # the source is only read
    for record in sample_records()[:5]:
        assert await nats_store.get_execution(record.execution_id) == record

    again = await tickwork.migrate_storage(sqlite_store, nats_store)
    assert again == MigrateResult(
        jobs_skipped=len(JOB_IDS), executions_skipped=len(sample_records())
    )

    back = SQLAlchemyStore(url=f"sqlite:///{tmp_path / 'back.db'}")
    await back.initialize()
    try:
        result = await tickwork.migrate_storage(nats_store, back)
        assert result.jobs_migrated == len(JOB_IDS)
        assert result.executions_migrated == len(sample_records())
        assert await snapshot(back) == source
    finally:
        await back.close()
    assert await snapshot(nats_store) == source


async def test_nats_to_sql_finishes_an_interrupted_migration(
    sqlite_store: Store, nats_store: NATSStore
) -> None:
    await fill(nats_store)
    # Part of the data is already there, as if an earlier run had stopped halfway.
    jobs, records = sample_jobs(), sample_records()
    for job in jobs[:7]:
        await sqlite_store.save_job(job)
    for record in records[:4]:
        await sqlite_store.save_execution(record)

    result = await tickwork.migrate_storage(nats_store, sqlite_store)
    assert result == MigrateResult(
        jobs_migrated=len(jobs) - 7,
        jobs_skipped=7,
        executions_migrated=len(records) - 4,
        executions_skipped=4,
    )
    assert await snapshot(sqlite_store) == await snapshot(nats_store)
