"""The contract of :class:`~tickwork.abc.QueryableStore`: every page a store cuts is the
page :func:`tickwork.apply_job_query` / :func:`tickwork.apply_execution_query` cut from
the same data.

A store that pages in its database can get it subtly wrong in ways a few hand-written
cases would miss: NULL times sorted first on one dialect and last on another, ties
broken by a collation instead of by code point, a ``%`` in a search taken as a
wildcard, a task name matched as text inside another metadata value. So the suite seeds
one awkward data set (ids with LIKE wildcards, quotes, markup and non-ASCII letters,
jobs without run times, equal times, tasks in metadata, history of a job that is gone)
and asks many queries of it, each compared with the reference functions.

Like :class:`ChangeSignalingStoreContract` it does not repeat the store contract:
subclass it with the same ``make_store`` fixture. An optional ``backend_objects``
fixture (what the backend holds: tables, indexes, buckets) lets it check that queries
create nothing. A store that can hold a row it cannot read subclasses
:class:`UnreadableRowsQueryContract` instead, with a ``damage_job`` fixture.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import attrs
import pytest

from .._errors import InvalidQueryError
from .._models import ExecutionRecord, ExecutionStatus, JobData, JobStatus, SortField
from .._query_values import (
    MAX_PAGE,
    TASK_METADATA_KEY,
    ExecutionQuery,
    JobPage,
    JobQuery,
    JobSortField,
    apply_execution_query,
    apply_job_query,
    count_by_status,
    latest_by_job,
)
from ..abc import QueryableStore, Store
from ._store_contract import T0, make_job, make_record

__all__ = ["QUERY_JOB_IDS", "QueryContract", "query_data"]

#: Job ids of the seeded data: LIKE wildcards and escape characters, quotes, markup,
#: case variants of one word, non-ASCII letters with case, and plain ids.
QUERY_JOB_IDS: tuple[str, ...] = (
    "abc",
    "ABC",
    "aBc-2",
    "100%",
    "100_",
    "under_score",
    "slash/and\\backslash",
    "quote'and\"double",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "semi;colon -- comment",
    "ünïcödé-Ωμέγα",
    "ÜNÏCÖDÉ-ΩΜΈΓΑ",
    "日本語のジョブ",
    "emoji-🚀",
    "with space",
    "job-00",
    "job-01",
    "job-02",
    "job-10",
    "job-11",
    "Zeta",
    "zeta",
    "~tilde",
)

#: The job the contract makes unreadable (through ``damage_job``).
BROKEN_ID = "broken-job"
#: A job that has history but no longer exists.
GONE_ID = "gone-job"

_TASKS = ("tasks:report", "tasks:Report", "tasks:100%_x", "mod:<b>&amp;", None)
# A value that looks like the stored form of a task, to catch matching on JSON text.
_LOOKALIKE = {"note": '"tickwork.task":"tasks:report"', "other": "tickwork.task"}
_STATUSES = tuple(JobStatus)
_OUTCOMES = (
    JobStatus.COMPLETED,
    JobStatus.FAILED,
    ExecutionStatus.MISSED,
    JobStatus.RUNNING,
    ExecutionStatus.TIMED_OUT,
    ExecutionStatus.SKIPPED_OVERLAP,
)


def _maybe_time(n: int, every: int, step: timedelta) -> datetime | None:
    """Every ``every``-th value is missing; the others repeat in groups (ties)."""
    return None if n % every == 0 else T0 + step * (n % 5)


def _seed_job(n: int, job_id: str) -> JobData:
    metadata: dict[str, str] = {"team": "core" if n % 2 else "ops"}
    task = _TASKS[n % len(_TASKS)]
    if task is not None:
        metadata[TASK_METADATA_KEY] = task
    if n % 7 == 3:
        metadata.update(_LOOKALIKE)
    return make_job(
        job_id,
        status=_STATUSES[n % len(_STATUSES)],
        next_run=_maybe_time(n, 4, timedelta(minutes=7)),
        last_run=_maybe_time(n + 1, 3, timedelta(minutes=-3)),
        created_at=T0 - timedelta(days=n % 3),
        updated_at=T0 + timedelta(seconds=(n * 11) % 6),
        metadata=metadata,
    )


def _seed_records(jobs: list[JobData]) -> list[ExecutionRecord]:
    """Many records of the first job, a few of some others, some of a gone job; start
    times, end times and durations that tie, and execution ids as awkward as job ids."""
    owners = [jobs[0].id] * 14 + [j.id for j in jobs[1:12]] * 2 + [GONE_ID] * 4
    records = []
    for n, job_id in enumerate(owners):
        execution_id = f"e{(n * 37) % 64:02d}-{QUERY_JOB_IDS[n % len(QUERY_JOB_IDS)]}"
        records.append(
            make_record(
                job_id,
                execution_id,
                minutes=(n * 13) % 9,
                duration=timedelta(seconds=n % 4),
                end_time=T0 + timedelta(minutes=(n * 5) % 11),
                status=_OUTCOMES[n % len(_OUTCOMES)],
                error=None if n % 3 else f"boom <{n}> & 'quoted'",
            )
        )
    return records


def query_data() -> tuple[list[JobData], list[ExecutionRecord]]:
    """The jobs and records the contract seeds (for other tests over the same data)."""
    jobs = [_seed_job(n, job_id) for n, job_id in enumerate(QUERY_JOB_IDS)]
    return jobs, _seed_records(jobs)


_SEARCHES = (
    "abc",
    "ABC",
    "%",
    "_",
    "/",
    "\\",
    "'",
    '"',
    "<script>",
    "ü",
    "Ü",
    "μέ",
    "ΜΈ",
    "Ω",
    "",
    "job-0",
    "JOB-1",
    "nothing here",
    "'; DROP TABLE scheduler_jobs; --",
    "\x00",
    "10",
    "e",
)


_JOB_FIELDS: tuple[JobSortField, ...] = (
    "id",
    "status",
    "next_run",
    "last_run",
    "created_at",
    "updated_at",
)


def _job_queries() -> list[JobQuery]:
    queries = []
    pages = ((0, 7), (5, 7), (20, 50), (1000, 10), (0, 0), (0, MAX_PAGE))
    for field, desc, (offset, limit) in itertools.product(_JOB_FIELDS, (False, True), pages):
        queries.append(JobQuery(sort_by=field, sort_desc=desc, offset=offset, limit=limit))
    queries += [JobQuery(search=text, limit=MAX_PAGE) for text in _SEARCHES]
    queries += [JobQuery(status=status, limit=MAX_PAGE) for status in JobStatus]
    tasks = (*_TASKS[:-1], "tickwork.task", "tasks:report\x00")
    queries += [JobQuery(task=task, limit=MAX_PAGE) for task in tasks]
    queries += [
        JobQuery(search="o", status=JobStatus.PENDING, sort_by="next_run", limit=3, offset=1),
        JobQuery(search="b", task="tasks:report", sort_by="last_run", sort_desc=True),
        JobQuery(search="job", sort_by="next_run", sort_desc=True, limit=2, offset=2),
        JobQuery(status=JobStatus.DISABLED, sort_by="updated_at", sort_desc=True, limit=1),
    ]
    return queries


def _execution_queries(jobs: list[JobData]) -> list[ExecutionQuery]:
    queries = []
    owners = (None, jobs[0].id, jobs[3].id, GONE_ID, "no-such-job")
    pages = ((0, 5), (3, 5), (0, MAX_PAGE), (500, 5), (0, 0))
    fields: tuple[SortField, ...] = ("start_time", "end_time", "duration")
    for job_id, field, desc, (offset, limit) in itertools.product(
        owners, fields, (False, True), pages
    ):
        queries.append(
            ExecutionQuery(job_id=job_id, sort_by=field, sort_desc=desc, offset=offset, limit=limit)
        )
    statuses: tuple[Any, ...] = (*_OUTCOMES, ExecutionStatus.PAUSED)
    queries += [ExecutionQuery(status=status, limit=MAX_PAGE) for status in statuses]
    minute = timedelta(minutes=1)
    for start, end in ((T0 + 2 * minute, None), (None, T0 + 4 * minute), (T0, T0 + 3 * minute)):
        queries.append(ExecutionQuery(start_time=start, end_time=end, limit=MAX_PAGE))
        queries.append(ExecutionQuery(job_id=jobs[0].id, start_time=start, end_time=end))
    queries.append(ExecutionQuery(start_time=T0 + 3 * minute, end_time=T0 + 3 * minute))
    queries.append(
        ExecutionQuery(status=JobStatus.COMPLETED, start_time=T0, sort_by="duration", limit=2)
    )
    return queries


def _described(query: object) -> str:
    fields = attrs.asdict(query, recurse=False)  # type: ignore[arg-type]
    return ", ".join(f"{name}={value!r}" for name, value in fields.items())


class QueryContract:
    """Jobs and records paged, sorted, filtered and counted as the reference does."""

    #: Whether the store's queries see the history of a removed job (a store's own
    #: queries do; :class:`tickwork.StoreQueries` over a plain store cannot).
    lists_history_of_removed_jobs: bool = True

    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:
        """Return a factory of new, uninitialized stores over one empty backend."""
        raise NotImplementedError("override the make_store fixture in your subclass")

    @pytest.fixture
    def backend_objects(self) -> Callable[[], Awaitable[set[str]]] | None:
        """An async function naming every object the backend holds (tables, indexes,
        buckets), to check that queries create none; None to skip that check."""
        return None

    @pytest.fixture
    async def store(self, make_store: Callable[[], Store]) -> AsyncIterator[QueryableStore]:
        store = make_store()
        assert isinstance(store, QueryableStore), f"{type(store).__name__} is no QueryableStore"
        await store.initialize()
        try:
            yield store
        finally:
            await store.close()

    @pytest.fixture
    async def seeded(
        self, store: QueryableStore
    ) -> tuple[QueryableStore, list[JobData], list[ExecutionRecord]]:
        jobs, records = query_data()
        if not self.lists_history_of_removed_jobs:
            records = [r for r in records if r.job_id != GONE_ID]
        for job in jobs:
            await store.save_job(job)
        for record in records:
            await store.save_execution(record)
        return store, jobs, records

    # -- jobs ------------------------------------------------------------------------

    async def test_job_pages_match_the_reference(
        self, seeded: tuple[QueryableStore, list[JobData], list[ExecutionRecord]]
    ) -> None:
        store, jobs, _ = seeded
        for query in _job_queries():
            expected = apply_job_query(jobs, query)
            page = await store.query_jobs(query)
            assert page.total == expected.total, _described(query)
            got, want = [j.id for j in page.jobs], [j.id for j in expected.jobs]
            assert got == want, _described(query)
            assert list(page.jobs) == list(expected.jobs), _described(query)

    async def test_wildcards_in_a_search_match_themselves(
        self, seeded: tuple[QueryableStore, list[JobData], list[ExecutionRecord]]
    ) -> None:
        store, _, _ = seeded
        for text, ids in (("%", {"100%"}), ("_", {"100_", "under_score"})):
            page = await store.query_jobs(JobQuery(search=text, limit=MAX_PAGE))
            assert {j.id for j in page.jobs} == ids, text

    async def test_search_ignores_ascii_case_only(
        self, seeded: tuple[QueryableStore, list[JobData], list[ExecutionRecord]]
    ) -> None:
        store, _, _ = seeded
        page = await store.query_jobs(JobQuery(search="aBC", limit=MAX_PAGE))
        assert [j.id for j in page.jobs] == ["ABC", "aBc-2", "abc"]
        page = await store.query_jobs(JobQuery(search="μέ", limit=MAX_PAGE))
        assert [j.id for j in page.jobs] == ["ünïcödé-Ωμέγα"]

    async def test_task_is_matched_exactly_in_metadata(
        self, seeded: tuple[QueryableStore, list[JobData], list[ExecutionRecord]]
    ) -> None:
        store, jobs, _ = seeded
        page = await store.query_jobs(JobQuery(task="tasks:report", limit=MAX_PAGE))
        want = {j.id for j in jobs if j.metadata.get(TASK_METADATA_KEY) == "tasks:report"}
        assert {j.id for j in page.jobs} == want
        assert want
        assert all(j.metadata[TASK_METADATA_KEY] == "tasks:report" for j in page.jobs)

    async def test_missing_times_sort_last_ascending_and_first_descending(
        self, seeded: tuple[QueryableStore, list[JobData], list[ExecutionRecord]]
    ) -> None:
        store, _, _ = seeded
        for field in ("next_run", "last_run"):
            up = await store.query_jobs(JobQuery(sort_by=field, limit=MAX_PAGE))
            down = await store.query_jobs(JobQuery(sort_by=field, sort_desc=True, limit=MAX_PAGE))
            values = [getattr(j, field) for j in up.jobs]
            assert values[-1] is None, field
            assert values[0] is not None, field
            assert next(getattr(j, field) for j in down.jobs) is None, field
            assert list(down.jobs) == list(reversed(up.jobs)), field

    # -- records ---------------------------------------------------------------------

    async def test_record_pages_match_the_reference(
        self, seeded: tuple[QueryableStore, list[JobData], list[ExecutionRecord]]
    ) -> None:
        store, jobs, records = seeded
        for query in _execution_queries(jobs):
            expected = apply_execution_query(records, query)
            page = await store.query_executions(query)
            assert page.total == expected.total, _described(query)
            got = [r.execution_id for r in page.records]
            assert got == [r.execution_id for r in expected.records], _described(query)
            assert list(page.records) == list(expected.records), _described(query)

    async def test_latest_executions_per_job(
        self, seeded: tuple[QueryableStore, list[JobData], list[ExecutionRecord]]
    ) -> None:
        store, jobs, records = seeded
        wanted = [jobs[0].id, jobs[5].id, GONE_ID, "no-such-job", jobs[0].id, jobs[20].id]
        for per_job in (1, 3, 0, MAX_PAGE):
            got = await store.latest_executions(wanted, per_job)
            expected = latest_by_job(records, wanted, per_job)
            assert {k: list(v) for k, v in got.items()} == expected, per_job
        assert await store.latest_executions([], 5) == {}

    async def test_counts_by_status_in_a_window(
        self, seeded: tuple[QueryableStore, list[JobData], list[ExecutionRecord]]
    ) -> None:
        store, _, records = seeded
        minute = timedelta(minutes=1)
        windows = (
            (T0 - minute, None),
            (T0 + 2 * minute, T0 + 5 * minute),  # the end is exclusive, at a tie
            (T0 + 4 * minute, None),
            (T0 + 3 * minute, T0 + 3 * minute),
            (T0 + timedelta(days=1), None),
        )
        for start, end in windows:
            got = await store.count_executions_by_status(start, end)
            assert dict(got) == count_by_status(records, start, end), (start, end)

    async def test_bad_arguments_raise_before_any_io(self, store: QueryableStore) -> None:
        with pytest.raises(InvalidQueryError, match="per_job"):
            await store.latest_executions(["a"], -1)
        with pytest.raises(InvalidQueryError, match="start_time"):
            await store.count_executions_by_status(datetime(2025, 1, 1))  # naive
        with pytest.raises(InvalidQueryError, match="query"):
            await store.query_jobs(ExecutionQuery())  # type: ignore[arg-type]
        with pytest.raises(InvalidQueryError, match="query"):
            await store.query_executions(JobQuery())  # type: ignore[arg-type]

    # -- empty stores, writes, unreadable rows ----------------------------------------

    async def test_queries_on_an_empty_store_create_and_write_nothing(
        self,
        store: QueryableStore,
        backend_objects: Callable[[], Awaitable[set[str]]] | None,
    ) -> None:
        before = None if backend_objects is None else await backend_objects()
        assert await store.query_jobs(JobQuery(search="x", task="t")) == JobPage(jobs=(), total=0)
        page = await store.query_executions(ExecutionQuery(job_id="job-1"))
        assert (page.records, page.total) == ((), 0)
        page = await store.query_executions(ExecutionQuery(status=JobStatus.FAILED))
        assert (page.records, page.total) == ((), 0)
        assert await store.latest_executions(["job-1"], 3) == {}
        assert await store.count_executions_by_status(T0) == {}
        assert await store.list_jobs() == []
        if backend_objects is not None:
            assert await backend_objects() == before

    async def test_queries_change_nothing(
        self, seeded: tuple[QueryableStore, list[JobData], list[ExecutionRecord]]
    ) -> None:
        store, jobs, records = seeded
        await store.query_jobs(JobQuery(sort_by="next_run", limit=MAX_PAGE))
        await store.query_executions(ExecutionQuery(limit=MAX_PAGE))
        await store.latest_executions([j.id for j in jobs], 2)
        await store.count_executions_by_status(T0)
        assert await store.list_jobs() == sorted(jobs, key=lambda j: j.id)
        assert await store.list_executions(jobs[0].id) == sorted(
            (r for r in records if r.job_id == jobs[0].id),
            key=lambda r: (r.start_time, r.execution_id),
        )


class UnreadableRowsQueryContract(QueryContract):
    """:class:`QueryContract` for a store that can hold a row it cannot read (SQL, NATS
    KV): such a job is listed, marked and found like the others. Subclass it instead of
    :class:`QueryContract`, with a ``damage_job`` fixture as well."""

    @pytest.fixture
    def damage_job(self) -> Callable[[Store, str], Awaitable[None]]:
        """An async ``damage(store, job_id)`` that makes the stored job unreadable, as a
        hand edit or another program would."""
        raise NotImplementedError("override the damage_job fixture in your subclass")

    async def test_an_unreadable_job_is_listed_and_marked(
        self,
        store: QueryableStore,
        damage_job: Callable[[Store, str], Awaitable[None]],
    ) -> None:
        good = [make_job("alpha"), make_job("omega", status=JobStatus.FAILED)]
        for job in (*good, make_job(BROKEN_ID, metadata={TASK_METADATA_KEY: "tasks:x"})):
            await store.save_job(job)
        await damage_job(store, BROKEN_ID)
        page = await store.query_jobs(JobQuery())
        assert [j.id for j in page.jobs] == ["alpha", BROKEN_ID, "omega"]
        assert page.total == 3
        assert page.jobs[1].unreadable
        assert page.jobs[0] == good[0]
        assert page.jobs[2] == good[1]
        found = await store.query_jobs(JobQuery(search="BROKEN"))
        assert [(j.id, bool(j.unreadable)) for j in found.jobs] == [(BROKEN_ID, True)]
        failed = await store.query_jobs(JobQuery(status=JobStatus.FAILED))
        assert [j.id for j in failed.jobs] == ["omega"]
        assert (await store.query_jobs(JobQuery(task="tasks:x"))).total == 0
        for field in _JOB_FIELDS:  # every order still lists it
            listed = await store.query_jobs(JobQuery(sort_by=field))
            assert BROKEN_ID in {j.id for j in listed.jobs}, field
