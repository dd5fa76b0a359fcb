"""migrate_storage: copies everything, is idempotent, never writes to the source."""

from __future__ import annotations

from typing import Any

from tickwork import ExecutionRecord, JobData, MemoryStore, MigrateResult, migrate_storage
from tickwork.testing._store_contract import make_job, make_record


class ReadOnlyStore(MemoryStore):
    """A source that fails the test if anything tries to write to it."""

    writes: list[str]

    def __init__(self) -> None:
        super().__init__()
        self.writes = []

    async def save_job(self, job: JobData) -> None:
        self.writes.append("save_job")
        await super().save_job(job)

    async def update_job(self, job: JobData) -> None:
        self.writes.append("update_job")
        await super().update_job(job)

    async def delete_job(self, job_id: str) -> None:
        self.writes.append("delete_job")
        await super().delete_job(job_id)

    async def save_execution(self, record: ExecutionRecord) -> None:
        self.writes.append("save_execution")
        await super().save_execution(record)

    async def delete_executions(self, job_id: Any, before: Any) -> None:
        self.writes.append("delete_executions")
        await super().delete_executions(job_id, before)


async def test_migrate_copies_everything_once() -> None:
    src, dst = ReadOnlyStore(), MemoryStore()
    await src.initialize()
    await dst.initialize()
    for j in range(3):
        await MemoryStore.save_job(src, make_job(f"job-{j}"))
        for e in range(1205 if j == 0 else 2):  # more than one page for job-0
            await MemoryStore.save_execution(src, make_record(f"job-{j}", f"e-{j}-{e}", minutes=e))
    result = await migrate_storage(src, dst)
    assert result == MigrateResult(
        jobs_migrated=3, jobs_skipped=0, executions_migrated=1209, executions_skipped=0
    )
    assert await dst.list_jobs() == await src.list_jobs()
    assert await dst.list_executions("job-0") == await src.list_executions("job-0")
    again = await migrate_storage(src, dst)
    assert again == MigrateResult(
        jobs_migrated=0, jobs_skipped=3, executions_migrated=0, executions_skipped=1209
    )
    assert src.writes == []


async def test_migrate_keeps_what_the_destination_has() -> None:
    src, dst = MemoryStore(), MemoryStore()
    await src.initialize()
    await dst.initialize()
    await src.save_job(make_job("shared", schedule_config="1m0s"))
    await dst.save_job(make_job("shared", schedule_config="9m0s"))
    await src.save_job(make_job("new"))
    progress: list[tuple[str, int]] = []
    result = await migrate_storage(src, dst, progress=lambda k, n: progress.append((k, n)))
    assert (result.jobs_migrated, result.jobs_skipped) == (1, 1)
    assert (await dst.get_job("shared")).schedule_config == "9m0s"
    assert progress.count(("jobs", 1)) == 2
