"""Where a run's ``last_completed_at`` comes from, for a job loaded from the store: the
store's last saved record when it has :class:`tickwork.abc.LastRecordStore`, the record
that ended last otherwise, and ``None`` (the run still happens) when the read fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from support.waiting import until

from tickwork import (
    AsyncScheduler,
    ExecutionRecord,
    JobData,
    JobEvent,
    MemoryStore,
    QueryOptions,
    StorageConnectionError,
)
from tickwork.abc import LastRecordStore


class LastRecordMemoryStore(MemoryStore):
    """A memory store that also remembers which record of each job it saved last."""

    def __init__(self, *, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.saved_last: dict[str, ExecutionRecord] = {}
        self.history_reads: list[str] = []

    async def save_execution(self, record: ExecutionRecord) -> None:
        await super().save_execution(record)
        self.saved_last[record.job_id] = record

    async def last_saved_execution(self, job_id: str) -> ExecutionRecord | None:
        if self.fail:
            raise StorageConnectionError("the store is down")
        return self.saved_last.get(job_id)

    async def list_executions(
        self, job_id: str, options: QueryOptions | None = None
    ) -> list[ExecutionRecord]:
        self.history_reads.append(job_id)
        return await super().list_executions(job_id, options)


async def _first_event(store: MemoryStore) -> JobEvent:
    """Save a due job that ran before, with two records: the one that ended last saved
    first, and an older one (an import) saved after it; run the scheduler once."""
    now = datetime.now(UTC)
    await store.initialize()
    await store.save_job(
        JobData(
            id="job",
            schedule_type="interval",
            schedule_config="1h0m0s",
            next_run=now - timedelta(seconds=1),
            last_run=now - timedelta(hours=1),
        )
    )
    saved_in_order = (
        ("ended-last", now - timedelta(minutes=59)),
        ("imported", now - timedelta(days=1)),
    )
    for execution_id, ended in saved_in_order:
        await store.save_execution(
            ExecutionRecord(
                job_id="job",
                execution_id=execution_id,
                start_time=ended - timedelta(seconds=5),
                end_time=ended,
            )
        )
    await store.close()
    events: list[JobEvent] = []

    async def handler(event: JobEvent) -> None:
        events.append(event)

    scheduler = AsyncScheduler(store, handler)
    await scheduler.start()
    try:
        await until(lambda: bool(events))
    finally:
        await scheduler.stop()
    return events[0]


async def test_a_last_record_store_answers_from_its_last_saved_record() -> None:
    store = LastRecordMemoryStore()
    assert isinstance(store, LastRecordStore)
    event = await _first_event(store)
    assert event.last_completed_at == store.saved_last["job"].end_time
    assert store.saved_last["job"].execution_id != "ended-last"  # (the import, saved last)
    assert "job" not in store.history_reads  # the history was not read for it


async def test_any_other_store_is_asked_for_the_record_that_ended_last() -> None:
    store = MemoryStore()
    assert not isinstance(store, LastRecordStore)
    event = await _first_event(store)
    await store.initialize()
    before = {r.execution_id: r for r in await store.list_executions("job")}
    assert event.last_completed_at == before["ended-last"].end_time
    assert before["imported"].end_time < before["ended-last"].end_time


async def test_the_run_happens_without_it_when_the_read_fails() -> None:
    event = await _first_event(LastRecordMemoryStore(fail=True))
    assert event.last_completed_at is None
