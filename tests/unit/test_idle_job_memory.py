"""What an idle job shares with the others instead of holding a copy (issue 19, W8),
and that sharing never lets one job's change reach another."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from tickwork import AsyncScheduler, IntervalSchedule, InvalidJobDataError, MemoryStore
from tickwork._entry import NO_METADATA, JobEntry
from tickwork._validation import check_metadata

HOURLY = IntervalSchedule(timedelta(hours=1))


def test_no_metadata_is_one_read_only_mapping() -> None:
    assert check_metadata(None) is NO_METADATA
    assert check_metadata({}) is NO_METADATA
    with pytest.raises(TypeError):
        NO_METADATA["key"] = "value"  # type: ignore[index]
    given = {"team": "core"}
    kept = check_metadata(given)
    assert kept == given
    assert kept is not given  # a copy of its own
    with pytest.raises(InvalidJobDataError):
        check_metadata("")  # type: ignore[arg-type]
    with pytest.raises(InvalidJobDataError):
        check_metadata([("a", "b")])  # type: ignore[arg-type]


async def test_jobs_without_metadata_share_it_and_nothing_leaks_between_them() -> None:
    async with AsyncScheduler(MemoryStore(), lambda event: None) as s:
        await s.add_jobs([("a", HOURLY), ("b", HOURLY)])
        await s.add_job("c", HOURLY)
        entries = [s._table.entries[k] for k in "abc"]
        assert all(e.metadata is NO_METADATA for e in entries)
        # A snapshot's metadata is a dict of its own; changing it changes no job.
        job = await s.get_job("a")
        job.metadata["leak"] = "yes"
        assert NO_METADATA == {}
        assert (await s.get_job("b")).metadata == {}
        # So is what the store receives.
        data = entries[0].to_data()
        data.metadata["leak"] = "yes"
        assert NO_METADATA == {}
        assert (await s.store.get_job("a")).metadata == {}
        # Jobs given metadata keep their own, and updating them replaces the mapping.
        await s.add_job("d", HOURLY, {"team": "core"})
        assert s._table.entries["d"].metadata == {"team": "core"}
        assert (await s.get_job("a")).metadata == {}


async def test_jobs_added_on_one_schedule_share_its_text_and_first_run() -> None:
    async with AsyncScheduler(MemoryStore(), lambda event: None) as s:
        await s.add_jobs([("a", HOURLY), ("b", HOURLY)])
        a, b = s._table.entries["a"], s._table.entries["b"]
        assert a.schedule_config is b.schedule_config
        assert a.next_run is b.next_run
        # Another schedule object, equal or not, is encoded for itself.
        other = IntervalSchedule(timedelta(minutes=5))
        await s.add_jobs([("c", other), ("d", HOURLY)])
        c, d = s._table.entries["c"], s._table.entries["d"]
        assert (c.schedule_type, c.schedule_config) == ("interval", "5m0s")
        assert d.schedule_config == "1h0m0s"
        assert c.next_run is not None
        assert d.next_run is not None
        assert d.next_run - c.next_run == timedelta(minutes=55)
        # One by one, each job gets the first run of its own moment.
        await s.add_job("e", HOURLY)
        assert s._table.entries["e"].next_run != a.next_run
        # A rescheduled job moves alone.
        await s.update_job_schedule("a", other)
        assert s._table.entries["b"].schedule_config == "1h0m0s"
        assert (await s.store.get_job("b")).schedule_config == "1h0m0s"


def _entry() -> JobEntry:
    now = datetime.now(UTC)
    return JobEntry(
        id="j",
        schedule=HOURLY,
        schedule_type="interval",
        schedule_config="1h0m0s",
        metadata=NO_METADATA,
        status="pending",  # type: ignore[arg-type]
        next_run=now,
        last_run=None,
        created_at=now,
        updated_at=now,
    )


def test_an_idle_entry_has_no_extras_and_no_weakref_slot() -> None:
    entry = _entry()
    assert not hasattr(entry, "__weakref__")
    assert sys.getsizeof(entry) <= 160  # 16 slots (22 before issue 19)
    # Setting a seldom attribute to its default makes nothing.
    entry.queued = None
    entry.completion_known = False
    entry.unreadable = False
    assert entry.extras is None
    assert (entry.queued, entry.finishing, entry.last_completed_at) == (None, None, None)


def test_seldom_attributes_are_kept_per_entry() -> None:
    entry, other = _entry(), _entry()
    tick = datetime.now(UTC)
    entry.queued = tick
    entry.completion_known = True
    assert entry.extras is not None
    assert other.extras is None
    assert (entry.queued, entry.completion_known, other.queued) == (tick, True, None)
    finishing = entry.finishing_tasks()
    assert entry.finishing is finishing
    assert other.finishing is None
    entry.queued = None
    assert entry.queued is None
    assert entry.completion_known is True
    # A copy made with attrs.evolve starts from the same values.
    copy = attrs.evolve(entry, updated_at=tick)
    assert (copy.completion_known, copy.finishing) == (True, finishing)


def test_an_entry_made_from_another_has_seldom_attributes_of_its_own() -> None:
    """``attrs.evolve`` would share the extras object; ``copied_extras`` (what the
    start-up merge of a job added before start() passes) keeps the two apart."""
    first = _entry()
    first.completion_known = True
    second = attrs.evolve(first, extras=first.copied_extras())
    assert second.completion_known
    second.queued = datetime.now(UTC)
    second.completion_known = False
    assert first.queued is None
    assert first.completion_known
