"""The store contract: every rule of ``tickwork.abc.Store`` as a test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from .._errors import (
    EmptyJobIDError,
    ExecutionNotFoundError,
    InvalidJobDataError,
    InvalidQueryError,
    JobDataAlreadyExistsError,
    JobDataNotFoundError,
    StorageNotInitializedError,
)
from .._models import ExecutionRecord, ExecutionStatus, JobData, JobStatus, QueryOptions
from ..abc import Store

__all__ = ["TRICKY_JOB_IDS", "StoreContract"]

# Ids that break naive key, subject, path or SQL handling. Each must round-trip.
TRICKY_JOB_IDS: tuple[str, ...] = (
    "plain",
    "with.dots.in.it",
    "with space",
    " leading space",
    "trailing space ",
    "*",
    ">",
    "a.*.b",
    "a.>",
    "slash/and\\backslash",
    ".leading-dot",
    "trailing-dot.",
    "..",
    "quote'and\"double",
    "semi;colon -- comment",
    "percent%2Fencoded",
    "tab\tand\nnewline",
    "ünïcödé-Ωμέγα",
    "日本語のジョブ",
    "emoji-🚀-🔥",
    "=equals=",
    "_underscore_",
    "x" * 200,
)

T0 = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)

# Forty ids, saved in an order unrelated to their sort order (every collation sorts
# these the same way: lower-case letters, digits and dashes of one length).
_SHUFFLED_IDS: tuple[str, ...] = tuple(f"job-{(n * 17) % 40:02d}" for n in range(40))


def make_job(job_id: str = "job-1", **changes: Any) -> JobData:
    """A fully populated job (every field set) for round-trip checks."""
    fields: dict[str, Any] = {
        "id": job_id,
        "schedule_type": "interval",
        "schedule_config": "5m0s",
        "status": JobStatus.PENDING,
        "next_run": T0 + timedelta(minutes=5),
        "last_run": T0,
        "created_at": T0 - timedelta(days=1),
        "updated_at": T0,
        "metadata": {"team": "core", "ünï": "cödé ✓"},
    }
    fields.update(changes)
    return JobData(**fields)


def make_record(
    job_id: str = "job-1", execution_id: str = "exec-1", minutes: int = 0, **changes: Any
) -> ExecutionRecord:
    """An execution record starting ``minutes`` after T0."""
    start = T0 + timedelta(minutes=minutes)
    fields: dict[str, Any] = {
        "job_id": job_id,
        "execution_id": execution_id,
        "start_time": start,
        "end_time": start + timedelta(seconds=minutes + 1, microseconds=7),
        "duration": timedelta(seconds=minutes + 1, microseconds=7),
        "status": JobStatus.COMPLETED,
        "error": None,
        "metadata": {"attempt": "1"},
    }
    fields.update(changes)
    return ExecutionRecord(**fields)


class StoreContract:
    """Every rule a tickwork store keeps. Subclass it and override ``make_store``."""

    #: Whether a second store created by ``make_store`` sees the first one's data.
    persistent: bool = True

    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:
        """Return a factory of new, uninitialized stores over one empty backend."""
        raise NotImplementedError("override the make_store fixture in your subclass")

    @pytest.fixture
    async def store(self, make_store: Callable[[], Store]) -> AsyncIterator[Store]:
        store = make_store()
        await store.initialize()
        try:
            yield store
        finally:
            await store.close()

    # -- lifecycle -------------------------------------------------------------------

    async def test_every_call_before_initialize_raises(
        self, make_store: Callable[[], Store]
    ) -> None:
        store = make_store()
        await self._assert_all_calls_uninitialized(store)

    async def test_every_call_after_close_raises(self, make_store: Callable[[], Store]) -> None:
        store = make_store()
        await store.initialize()
        await store.close()
        await self._assert_all_calls_uninitialized(store)
        await store.close()  # closing twice is harmless

    async def _assert_all_calls_uninitialized(self, store: Store) -> None:
        calls: list[Callable[[], Any]] = [
            lambda: store.save_job(make_job()),
            lambda: store.update_job(make_job()),
            lambda: store.delete_job("job-1"),
            lambda: store.get_job("job-1"),
            store.list_jobs,
            lambda: store.list_jobs_by_status(JobStatus.PENDING),
            lambda: store.save_execution(make_record()),
            lambda: store.get_execution("exec-1"),
            lambda: store.list_executions("job-1"),
            lambda: store.delete_executions(None, T0),
            store.health_check,
        ]
        for call in calls:
            with pytest.raises(StorageNotInitializedError):
                await call()

    async def test_initialize_is_idempotent(self, store: Store) -> None:
        await store.initialize()
        await store.save_job(make_job())
        await store.initialize()
        assert (await store.get_job("job-1")).id == "job-1"

    async def test_reinitialize_after_close_keeps_data(
        self, make_store: Callable[[], Store]
    ) -> None:
        store = make_store()
        await store.initialize()
        await store.save_job(make_job())
        await store.close()
        await store.initialize()
        try:
            assert (await store.get_job("job-1")) == make_job()
        finally:
            await store.close()

    async def test_second_store_sees_the_data(self, make_store: Callable[[], Store]) -> None:
        """A persistent store shares its backend; an in-process one is independent."""
        first, second = make_store(), make_store()
        await first.initialize()
        await second.initialize()
        try:
            await first.save_job(make_job())
            await first.save_execution(make_record())
            if self.persistent:
                assert await second.get_job("job-1") == make_job()
                assert await second.get_execution("exec-1") == make_record()
            else:
                assert await second.list_jobs() == []
                with pytest.raises(ExecutionNotFoundError):
                    await second.get_execution("exec-1")
        finally:
            await first.close()
            await second.close()

    async def test_health_check(self, store: Store) -> None:
        await store.health_check()

    # -- jobs --------------------------------------------------------------------------

    async def test_job_round_trips_every_field(self, store: Store) -> None:
        job = make_job()
        await store.save_job(job)
        got = await store.get_job("job-1")
        assert got == job
        assert got.status is JobStatus.PENDING
        for value in (got.next_run, got.last_run, got.created_at, got.updated_at):
            assert value is not None
            assert value.utcoffset() == timedelta(0)

    async def test_job_with_no_run_times(self, store: Store) -> None:
        job = make_job(next_run=None, last_run=None, metadata={})
        await store.save_job(job)
        got = await store.get_job("job-1")
        assert got.next_run is None
        assert got.last_run is None
        assert got.metadata == {}

    async def test_times_in_other_zones_come_back_as_utc(self, store: Store) -> None:
        plus_five = timezone(timedelta(hours=5, minutes=30))
        local = datetime(2025, 6, 1, 12, 0, 0, 1, tzinfo=plus_five)
        await store.save_job(make_job(next_run=local))
        got = await store.get_job("job-1")
        assert got.next_run == local
        assert got.next_run is not None
        assert got.next_run.tzinfo is not None
        assert got.next_run.utcoffset() == timedelta(0)
        assert got.next_run.hour == 6

    async def test_save_existing_job_raises(self, store: Store) -> None:
        await store.save_job(make_job())
        with pytest.raises(JobDataAlreadyExistsError):
            await store.save_job(make_job(schedule_config="1h0m0s"))
        assert (await store.get_job("job-1")).schedule_config == "5m0s"

    async def test_missing_job_raises_not_found(self, store: Store) -> None:
        with pytest.raises(JobDataNotFoundError):
            await store.get_job("nope")
        with pytest.raises(JobDataNotFoundError):
            await store.update_job(make_job("nope"))
        with pytest.raises(JobDataNotFoundError):
            await store.delete_job("nope")
        with pytest.raises(LookupError):
            await store.get_job("nope")

    async def test_empty_job_id_raises(self, store: Store) -> None:
        with pytest.raises(EmptyJobIDError):
            await store.save_job(make_job(""))
        with pytest.raises(EmptyJobIDError):
            await store.update_job(make_job(""))
        with pytest.raises(EmptyJobIDError):
            await store.get_job("")
        with pytest.raises(EmptyJobIDError):
            await store.delete_job("")
        with pytest.raises(EmptyJobIDError):
            await store.list_executions("")
        with pytest.raises(ValueError):
            await store.save_execution(make_record(job_id=""))
        assert await store.list_jobs() == []

    async def test_update_replaces_every_field(self, store: Store) -> None:
        await store.save_job(make_job())
        changed = make_job(
            schedule_type="cron",
            schedule_config="CRON_TZ=Europe/Paris 0 9 * * *",
            status=JobStatus.FAILED,
            next_run=None,
            last_run=T0 + timedelta(hours=1),
            updated_at=T0 + timedelta(hours=1),
            metadata={"new": "only"},
        )
        await store.update_job(changed)
        assert await store.get_job("job-1") == changed

    async def test_delete_job_keeps_its_history(self, store: Store) -> None:
        await store.save_job(make_job())
        await store.save_execution(make_record())
        await store.delete_job("job-1")
        with pytest.raises(JobDataNotFoundError):
            await store.get_job("job-1")
        assert [r.execution_id for r in await store.list_executions("job-1")] == ["exec-1"]
        await store.save_job(make_job())  # the id can be used again

    async def test_a_stand_in_for_an_unreadable_row_is_never_written(self, store: Store) -> None:
        """A store hands back a row it cannot read as ``JobData.unreadable_row``; no
        write takes one, so the stored row is never replaced by the stand-in."""
        await store.save_job(make_job())
        stand_in = JobData.unreadable_row(
            "job-1", "status: 'weird' is not a job status", schedule_type="interval"
        )
        for write in (store.update_job(stand_in), store.save_job(stand_in.copy())):
            with pytest.raises(InvalidJobDataError, match="job-1"):
                await write
        with pytest.raises(InvalidJobDataError, match="new-one"):
            await store.save_job(JobData.unreadable_row("new-one", "metadata: 3 is not text"))
        assert await store.list_jobs() == [make_job()]

    async def test_saved_job_is_a_copy(self, store: Store) -> None:
        job = make_job()
        await store.save_job(job)
        job.metadata["team"] = "changed"
        job.status = JobStatus.FAILED
        got = await store.get_job("job-1")
        assert got.metadata["team"] == "core"
        assert got.status is JobStatus.PENDING
        got.metadata["team"] = "changed again"
        got.schedule_config = "1h0m0s"
        again = await store.get_job("job-1")
        assert again.metadata["team"] == "core"
        assert again.schedule_config == "5m0s"
        listed = await store.list_jobs()
        listed[0].metadata.clear()
        assert (await store.get_job("job-1")).metadata["team"] == "core"

    async def test_list_jobs_sorted_by_id(self, store: Store) -> None:
        for job_id in ("b", "a", "c"):
            await store.save_job(make_job(job_id))
        assert [j.id for j in await store.list_jobs()] == ["a", "b", "c"]

    async def test_list_jobs_sorted_by_id_at_any_count(self, store: Store) -> None:
        """The order holds for many jobs saved in no particular order, not only for a
        handful (a store that sorted only short lists once passed the test above)."""
        for job_id in _SHUFFLED_IDS:
            status = JobStatus.DISABLED if job_id.endswith(("3", "7")) else JobStatus.PENDING
            await store.save_job(make_job(job_id, status=status))
        assert [j.id for j in await store.list_jobs()] == sorted(_SHUFFLED_IDS)
        disabled = sorted(i for i in _SHUFFLED_IDS if i.endswith(("3", "7")))
        got = await store.list_jobs_by_status(JobStatus.DISABLED)
        assert [j.id for j in got] == disabled
        pending = await store.list_jobs_by_status(JobStatus.PENDING)
        assert [j.id for j in pending] == sorted(set(_SHUFFLED_IDS) - set(disabled))

    async def test_list_jobs_by_status(self, store: Store) -> None:
        await store.save_job(make_job("p1"))
        await store.save_job(make_job("d1", status=JobStatus.DISABLED))
        await store.save_job(make_job("p2"))
        await store.save_job(make_job("f1", status=JobStatus.FAILED))
        pending = await store.list_jobs_by_status(JobStatus.PENDING)
        assert [j.id for j in pending] == ["p1", "p2"]
        assert [j.id for j in await store.list_jobs_by_status(JobStatus.DISABLED)] == ["d1"]
        assert await store.list_jobs_by_status(JobStatus.RUNNING) == []

    async def test_tricky_job_ids_round_trip(self, store: Store) -> None:
        for job_id in TRICKY_JOB_IDS:
            await store.save_job(make_job(job_id, metadata={"id": job_id}))
            await store.save_execution(make_record(job_id, f"exec-{job_id}"))
        for job_id in TRICKY_JOB_IDS:
            got = await store.get_job(job_id)
            assert got.id == job_id
            assert got.metadata == {"id": job_id}
            records = await store.list_executions(job_id)
            assert [r.execution_id for r in records] == [f"exec-{job_id}"]
        assert sorted(j.id for j in await store.list_jobs()) == sorted(TRICKY_JOB_IDS)
        for job_id in TRICKY_JOB_IDS:
            await store.delete_job(job_id)
        assert await store.list_jobs() == []

    async def test_ids_compare_exactly(self, store: Store) -> None:
        ids = ["job", "Job", "job ", "JOB", "jöb"]
        for job_id in ids:
            await store.save_job(make_job(job_id, schedule_config=f"{len(job_id)}s"))
            await store.save_execution(make_record(job_id, f"e-{job_id}!"))
        for job_id in ids:
            assert (await store.get_job(job_id)).id == job_id
            assert [r.job_id for r in await store.list_executions(job_id)] == [job_id]
        await store.delete_job("Job")
        assert sorted(j.id for j in await store.list_jobs()) == sorted(set(ids) - {"Job"})

    async def test_wildcard_like_id_does_not_reach_other_jobs(self, store: Store) -> None:
        for job_id in ("a.b", "a.c", "a"):
            await store.save_job(make_job(job_id))
            await store.save_execution(make_record(job_id, f"e-{job_id}"))
        for probe in ("a.*", "a.>", "*", ">", "a%", "a_b"):
            with pytest.raises(JobDataNotFoundError):
                await store.get_job(probe)
            assert await store.list_executions(probe) == []
        await store.delete_executions("a.*", T0 + timedelta(days=1))
        assert len(await store.list_executions("a.b")) == 1

    # -- executions ----------------------------------------------------------------------

    async def test_execution_round_trips_every_field(self, store: Store) -> None:
        record = make_record(
            status=JobStatus.FAILED, error="boom: ünïcödé\nline 2", metadata={"k": "v"}
        )
        await store.save_execution(record)
        got = await store.get_execution("exec-1")
        assert got == record
        assert got.status is JobStatus.FAILED
        assert got.start_time.utcoffset() == timedelta(0)
        assert got.duration == timedelta(seconds=1, microseconds=7)

    async def test_tick_log_statuses_round_trip_and_filter(self, store: Store) -> None:
        # Records of runs that did not happen (missed, coalesced, ...) are stored too.
        outcomes = [s for s in ExecutionStatus if s.value not in JobStatus._value2member_map_]
        for i, outcome in enumerate(outcomes):
            await store.save_execution(
                make_record(execution_id=f"tick-{i}", minutes=i, status=outcome)
            )
        for i, outcome in enumerate(outcomes):
            got = await store.get_execution(f"tick-{i}")
            assert got.status == outcome
            assert got.status is outcome
            filtered = await store.list_executions("job-1", QueryOptions(status=outcome))
            assert [r.execution_id for r in filtered] == [f"tick-{i}"]
        await store.save_execution(make_record(execution_id="done", minutes=99))
        done = await store.list_executions("job-1", QueryOptions(status=JobStatus.COMPLETED))
        assert [r.status for r in done] == [JobStatus.COMPLETED]
        assert done[0].status is JobStatus.COMPLETED

    async def test_missing_execution_raises(self, store: Store) -> None:
        with pytest.raises(ExecutionNotFoundError):
            await store.get_execution("nope")
        with pytest.raises(LookupError):
            await store.get_execution("nope")

    async def test_saving_an_execution_again_replaces_it(self, store: Store) -> None:
        await store.save_execution(make_record(status=JobStatus.RUNNING))
        await store.save_execution(make_record(status=JobStatus.COMPLETED, error=None))
        got = await store.list_executions("job-1")
        assert [(r.execution_id, r.status) for r in got] == [("exec-1", JobStatus.COMPLETED)]

    async def test_saved_execution_is_a_copy(self, store: Store) -> None:
        record = make_record()
        await store.save_execution(record)
        record.metadata["attempt"] = "9"
        record.status = JobStatus.FAILED
        got = await store.get_execution("exec-1")
        assert got.metadata == {"attempt": "1"}
        assert got.status is JobStatus.COMPLETED
        got.metadata.clear()
        assert (await store.get_execution("exec-1")).metadata == {"attempt": "1"}

    async def _seed_history(self, store: Store) -> list[ExecutionRecord]:
        statuses = [JobStatus.COMPLETED, JobStatus.FAILED] * 3
        records = [
            make_record("job-1", f"exec-{i}", minutes=i, status=s) for i, s in enumerate(statuses)
        ]
        # Durations that do not follow start order, so sorting by duration is visible.
        records[0].duration = timedelta(seconds=50)
        records[3].duration = timedelta(microseconds=1)
        for record in reversed(records):
            await store.save_execution(record)
        await store.save_execution(make_record("other-job", "exec-other", minutes=2))
        return records

    async def test_list_executions_defaults_to_start_time_order(self, store: Store) -> None:
        records = await self._seed_history(store)
        got = await store.list_executions("job-1")
        assert got == records

    async def test_list_executions_time_window(self, store: Store) -> None:
        await self._seed_history(store)
        opts = QueryOptions(
            start_time=T0 + timedelta(minutes=1), end_time=T0 + timedelta(minutes=4)
        )
        got = await store.list_executions("job-1", opts)
        assert [r.execution_id for r in got] == ["exec-1", "exec-2", "exec-3"]

    async def test_list_executions_status_filter(self, store: Store) -> None:
        await self._seed_history(store)
        got = await store.list_executions("job-1", QueryOptions(status=JobStatus.FAILED))
        assert [r.execution_id for r in got] == ["exec-1", "exec-3", "exec-5"]

    @pytest.mark.parametrize("sort_by", ["start_time", "end_time", "duration", None])
    @pytest.mark.parametrize("sort_desc", [False, True])
    async def test_list_executions_sorting(
        self, store: Store, sort_by: Any, sort_desc: bool
    ) -> None:
        records = await self._seed_history(store)
        field = sort_by or "start_time"
        expected = sorted(records, key=lambda r: getattr(r, field), reverse=sort_desc)
        got = await store.list_executions(
            "job-1", QueryOptions(sort_by=sort_by, sort_desc=sort_desc)
        )
        assert [r.execution_id for r in got] == [r.execution_id for r in expected]

    @pytest.mark.parametrize("sort_by", ["start_time", "end_time", "duration"])
    async def test_ties_are_broken_by_execution_id_in_the_sort_direction(
        self, store: Store, sort_by: Any
    ) -> None:
        """Records equal on the sort field come by ``execution_id``, ascending when the
        sort is ascending and descending when it is descending: a descending list is
        the ascending one reversed, so paging either way is stable."""
        ids = [f"tie-{n}" for n in (3, 0, 4, 1, 2)]
        for execution_id in ids:
            await store.save_execution(make_record(execution_id=execution_id, minutes=5))
        await store.save_execution(make_record(execution_id="tie-early", minutes=1))
        ascending = await store.list_executions("job-1", QueryOptions(sort_by=sort_by))
        expected = ["tie-early", *sorted(ids)]
        assert [r.execution_id for r in ascending] == expected
        descending = await store.list_executions(
            "job-1", QueryOptions(sort_by=sort_by, sort_desc=True)
        )
        assert [r.execution_id for r in descending] == expected[::-1]
        page = await store.list_executions(
            "job-1", QueryOptions(sort_by=sort_by, sort_desc=True, limit=2, offset=1)
        )
        assert [r.execution_id for r in page] == expected[::-1][1:3]

    async def test_list_executions_paging(self, store: Store) -> None:
        await self._seed_history(store)
        page = await store.list_executions("job-1", QueryOptions(limit=2, offset=1))
        assert [r.execution_id for r in page] == ["exec-1", "exec-2"]
        tail = await store.list_executions("job-1", QueryOptions(offset=4))
        assert [r.execution_id for r in tail] == ["exec-4", "exec-5"]
        assert await store.list_executions("job-1", QueryOptions(offset=10)) == []
        assert await store.list_executions("job-1", QueryOptions(limit=0)) == []
        newest = await store.list_executions(
            "job-1", QueryOptions(limit=1, sort_desc=True, status=JobStatus.COMPLETED)
        )
        assert [r.execution_id for r in newest] == ["exec-4"]

    async def test_invalid_query_options_raise_before_io(self, store: Store) -> None:
        for bad in ("start_time; DROP TABLE scheduler_jobs", "job_id", "", "START_TIME"):
            with pytest.raises(InvalidQueryError):
                await store.list_executions("job-1", QueryOptions(sort_by=bad))  # type: ignore[arg-type]
        with pytest.raises(InvalidQueryError):
            QueryOptions(limit=-1)
        with pytest.raises(InvalidQueryError):
            QueryOptions(offset=-1)
        with pytest.raises(ValueError):
            QueryOptions(offset=-5)
        await store.save_job(make_job())
        assert await store.list_jobs() != []  # nothing was dropped

    async def test_list_executions_of_unknown_job_is_empty(self, store: Store) -> None:
        assert await store.list_executions("never-ran") == []

    async def test_delete_executions_before_is_exclusive(self, store: Store) -> None:
        await self._seed_history(store)
        await store.delete_executions("job-1", T0 + timedelta(minutes=2))
        assert [r.execution_id for r in await store.list_executions("job-1")] == [
            "exec-2",
            "exec-3",
            "exec-4",
            "exec-5",
        ]
        assert len(await store.list_executions("other-job")) == 1
        with pytest.raises(ExecutionNotFoundError):
            await store.get_execution("exec-0")

    async def test_delete_executions_of_every_job(self, store: Store) -> None:
        await self._seed_history(store)
        await store.delete_executions(None, T0 + timedelta(minutes=3))
        assert [r.execution_id for r in await store.list_executions("job-1")] == [
            "exec-3",
            "exec-4",
            "exec-5",
        ]
        assert await store.list_executions("other-job") == []

    async def test_concurrent_saves(self, store: Store) -> None:
        records = [make_record("job-1", f"c-{i:03d}", minutes=i) for i in range(100)]
        await asyncio.gather(*(store.save_execution(r) for r in records))
        got = await store.list_executions("job-1")
        assert [r.execution_id for r in got] == [r.execution_id for r in records]
        jobs = [make_job(f"j-{i:03d}") for i in range(50)]
        await asyncio.gather(*(store.save_job(j) for j in jobs))
        assert len(await store.list_jobs()) == 50
