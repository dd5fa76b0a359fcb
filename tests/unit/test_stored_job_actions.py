"""Changing a stored job without a scheduler (``tickwork jobs``, the web dashboard)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tickwork import (
    CronSchedule,
    IntervalSchedule,
    InvalidJobDataError,
    JobData,
    JobDataNotFoundError,
    JobOptions,
    JobStatus,
    MemoryStore,
    StorageOperationError,
    default_codec,
)
from tickwork._stored_job_actions import StoredJobActions

NOW = datetime.now(UTC).replace(microsecond=0)
EVERY_MINUTE = IntervalSchedule(timedelta(minutes=1))


def _job(job_id: str = "job", **changes: object) -> JobData:
    schedule_type, config = default_codec().encode(EVERY_MINUTE)
    fields: dict[str, object] = {
        "id": job_id,
        "schedule_type": schedule_type,
        "schedule_config": config,
        "next_run": NOW + timedelta(minutes=1),
        "created_at": NOW - timedelta(hours=1),
        "updated_at": NOW - timedelta(hours=1),
        "metadata": {"tickwork.task": "app:work", "team": "core"},
    }
    fields.update(changes)
    return JobData(**fields)  # type: ignore[arg-type]


@pytest.fixture
async def store() -> MemoryStore:
    opened = MemoryStore()
    await opened.initialize()
    await opened.save_job(_job())
    return opened


async def test_pause_and_resume(store: MemoryStore) -> None:
    actions = StoredJobActions(store)
    paused = await actions.pause("job")
    assert paused.changed
    assert (await store.get_job("job")).status is JobStatus.DISABLED
    resumed = await actions.resume("job")
    assert resumed.changed
    assert (await store.get_job("job")).status is JobStatus.PENDING
    again = await actions.resume("job")
    assert not again.changed
    assert again.job.status is JobStatus.PENDING


async def test_a_resumed_job_whose_next_run_passed_moves_on(store: MemoryStore) -> None:
    await store.update_job(_job(status="disabled", next_run=NOW - timedelta(hours=1), last_run=NOW))
    resumed = await StoredJobActions(store).resume("job")
    assert resumed.job.next_run is not None
    assert resumed.job.next_run > datetime.now(UTC)


async def test_run_now_makes_the_job_due_and_refuses_a_paused_one(store: MemoryStore) -> None:
    actions = StoredJobActions(store)
    before = datetime.now(UTC)
    due = await actions.run_now("job")
    stored = await store.get_job("job")
    assert stored.next_run == due.job.next_run
    assert before <= stored.next_run <= datetime.now(UTC)
    await actions.pause("job")
    with pytest.raises(InvalidJobDataError, match="is paused: resume it"):
        await actions.run_now("job")


async def test_change_schedule_and_options_keep_the_task(store: MemoryStore) -> None:
    actions = StoredJobActions(store)
    await actions.change_schedule("job", CronSchedule("0 6 * * *", "Europe/Berlin"))
    stored = await store.get_job("job")
    assert stored.schedule_type == "cron"
    assert "Europe/Berlin" in stored.schedule_config
    await actions.change_options("job", JobOptions(timeout=timedelta(seconds=5)), max_instances=2)
    stored = await store.get_job("job")
    assert json.loads(stored.metadata["tickwork.options"]) == {"timeout": 5.0, "max_instances": 2}
    assert stored.metadata["tickwork.task"] == "app:work"
    assert stored.metadata["team"] == "core"
    await actions.change_options("job", JobOptions())  # the defaults: no options key at all
    stored = await store.get_job("job")
    assert "tickwork.options" not in stored.metadata
    assert stored.metadata["tickwork.task"]
    with pytest.raises(InvalidJobDataError, match="colour"):
        await actions.change_options("job", colour="red")


async def test_remove_and_missing_jobs(store: MemoryStore) -> None:
    actions = StoredJobActions(store)
    await actions.remove("job")
    with pytest.raises(JobDataNotFoundError):
        await actions.pause("job")
    with pytest.raises(JobDataNotFoundError):
        await actions.remove("job")


class RacingStore(MemoryStore):
    """A memory store where another writer changes the job just before each of the
    first ``races`` conditional writes (as a worker finishing a run would)."""

    def __init__(self, races: int) -> None:
        super().__init__()
        self.races = races

    async def update_job_if(self, job: JobData, updated_at: datetime) -> bool:
        if self.races > 0:
            self.races -= 1
            current = await self.get_job(job.id)
            current.last_run = datetime.now(UTC)
            current.updated_at = datetime.now(UTC) + timedelta(seconds=self.races + 1)
            await self.update_job(current)
        return await super().update_job_if(job, updated_at)


async def test_a_change_lost_to_another_writer_is_made_again() -> None:
    store = RacingStore(races=2)
    await store.initialize()
    await store.save_job(_job())
    paused = await StoredJobActions(store).pause("job")
    stored = await store.get_job("job")
    assert paused.changed
    assert stored.status is JobStatus.DISABLED
    assert stored.last_run is not None  # the other writer's change is kept
    store.races = 10
    with pytest.raises(StorageOperationError, match="kept changing"):
        await StoredJobActions(store).resume("job")


async def test_a_quarantined_job_only_takes_a_new_schedule(store: MemoryStore) -> None:
    await store.save_job(_job("odd", schedule_type="no_such_type", schedule_config="x"))
    actions = StoredJobActions(store)
    for change in (actions.pause, actions.resume, actions.run_now, actions.change_options):
        with pytest.raises(InvalidJobDataError, match=r"is quarantined .*no_such_type"):
            await change("odd")
    assert (await store.get_job("odd")).status is JobStatus.PENDING  # never rewritten
    await actions.change_schedule("odd", EVERY_MINUTE)
    assert (await store.get_job("odd")).schedule_type == "interval"
