"""``job_from_data`` and ``jobs_from_data``: a stored row as the scheduler reads it,
for tools that only have the store (the web dashboard, scripts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from tickwork import (
    AsyncScheduler,
    IntervalSchedule,
    Job,
    JobData,
    JobOptions,
    JobStatus,
    MemoryStore,
    Schedule,
    TaskRegistry,
    UnsupportedScheduleError,
    job_from_data,
    jobs_from_data,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def ping(n: int) -> None:
    """A task for the jobs below."""


def _row(job_id: str = "a", **fields: object) -> JobData:
    values: dict[str, object] = {
        "id": job_id,
        "schedule_type": "interval",
        "schedule_config": "5m",
        "next_run": NOW,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(fields)
    return JobData(**values)  # type: ignore[arg-type]


async def test_a_row_reads_as_the_schedulers_own_snapshot() -> None:
    store = MemoryStore()
    scheduler = AsyncScheduler(store=store, handler=lambda event: None)
    async with scheduler:
        await scheduler.add_job(
            "a", IntervalSchedule(timedelta(minutes=5)), {"team": "ops"}, task=ping, args=(1,)
        )
        await scheduler.update_job_options("a", JobOptions(timeout=12, retry=3))
        row = await store.get_job("a")
        seen = await scheduler.get_job("a")
    assert "tickwork.options" in row.metadata  # the row holds tickwork's own keys
    job = job_from_data(row, tasks=scheduler.tasks)
    assert job == seen
    assert job.metadata == {"team": "ops"}
    assert job.options.timeout == timedelta(seconds=12)
    assert job.task == f"{__name__}:ping"
    assert job.quarantined is None


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (_row(schedule_type="no_such_type", schedule_config="x"), "no_such_type"),
        (_row(schedule_config="not a duration"), "not a duration"),
        (_row(metadata={"tickwork.options": "{not json"}), "stored job options"),
        (_row(metadata={"tickwork.args": "[]"}), "tickwork.task"),
        (JobData.unreadable_row("a", "status: 'weird' is not a job status"), "'weird'"),
        # Pending, has run, no next run: nothing would ever be due.
        (_row(next_run=None, last_run=NOW), "next_run"),
    ],
    ids=[
        "unknown-type",
        "bad-config",
        "bad-options",
        "args-without-task",
        "unreadable",
        "stranded",
    ],
)
def test_a_row_the_scheduler_would_quarantine_is_quarantined_not_raised(
    row: JobData, reason: str
) -> None:
    job = job_from_data(row)
    assert job.quarantined is not None
    assert reason in job.quarantined
    assert job.options == JobOptions()
    assert not any(key.startswith("tickwork.") for key in job.metadata)
    assert job.schedule.next(NOW) is None  # a stand-in that never fires


def test_the_state_is_the_rows_own() -> None:
    # A scheduler loading a `running` row turns it back to pending (its process died)
    # and gives a never-run job a first fire time; a tool shows what is stored.
    running = job_from_data(_row(status=JobStatus.RUNNING, last_run=NOW))
    assert running.status is JobStatus.RUNNING
    assert running.is_running
    fresh = job_from_data(_row(next_run=None))
    assert fresh.next_run is None
    assert fresh.quarantined is None
    assert not fresh.is_running


def test_tasks_are_checked_only_against_a_registry_given() -> None:
    row = _row(metadata={"tickwork.task": "reports:send"})
    assert job_from_data(row).quarantined is None
    assert job_from_data(row).task == "reports:send"
    missing = job_from_data(row, tasks=TaskRegistry())
    assert missing.quarantined is not None
    assert "'reports:send' is not registered" in missing.quarantined


class HourlyOnly:
    """A codec that reads every stored schedule as one hour: the given codec decides."""

    def encode(self, schedule: Schedule) -> tuple[str, str]:
        raise UnsupportedScheduleError(type(schedule).__name__)

    def decode(self, schedule_type: str, config: str) -> Schedule:
        if schedule_type != "interval":
            raise UnsupportedScheduleError(schedule_type)
        return IntervalSchedule(timedelta(hours=1))


def test_a_codec_given_is_the_one_used() -> None:
    assert job_from_data(_row()).schedule == IntervalSchedule(timedelta(minutes=5))
    assert job_from_data(_row(), HourlyOnly()).schedule == IntervalSchedule(timedelta(hours=1))
    [job] = jobs_from_data([_row(schedule_type="cron", schedule_config="0 9 * * *")], HourlyOnly())
    assert job.quarantined is not None
    assert "cron" in job.quarantined


def test_many_rows_share_each_decoded_schedule_and_keep_their_order() -> None:
    rows = [
        _row("c"),
        _row("a", schedule_type="no_such_type"),
        _row("b"),
        _row("c", schedule_config="1h"),  # the same id twice: each row is its own
    ]
    jobs = jobs_from_data(iter(rows))
    assert [j.id for j in jobs] == ["c", "a", "b", "c"]
    assert [j.quarantined is None for j in jobs] == [True, False, True, True]
    assert jobs[0].schedule is jobs[2].schedule  # one stored schedule, decoded once
    assert jobs[3].schedule == IntervalSchedule(timedelta(hours=1))
    assert jobs_from_data([]) == []


def test_the_answer_is_a_frozen_job() -> None:
    job = job_from_data(_row())
    assert isinstance(job, Job)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        job.status = JobStatus.DISABLED  # type: ignore[misc]
