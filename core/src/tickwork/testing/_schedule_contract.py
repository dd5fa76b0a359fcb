"""Contract suites for the optional capabilities of schedules and in-process stores.

A schedule plugin whose schedules define ``first_run`` or ``skipped_between`` subclasses
the matching suite and provides ``schedules``, a fixture returning a few schedules to
check (and ``moments``, the times to check them at, when the defaults do not suit)::

    class TestMySchedule(FirstRunScheduleContract):
        @pytest.fixture
        def schedules(self):
            return [MySchedule(...), MySchedule(...)]
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ..abc import FirstRunSchedule, GapSkippingSchedule, InProcessStore, Schedule
from ._store_contract import StoreContract, make_job

__all__ = ["FirstRunScheduleContract", "GapSkippingScheduleContract", "InProcessStoreContract"]

_DEFAULT_MOMENTS = [
    datetime(2020, 1, 1, tzinfo=UTC),
    datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
    datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
]


def _aware_utc(value: datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() == timedelta(0)


class _ScheduleSuite:
    @pytest.fixture
    def moments(self) -> list[datetime]:
        """The times the rules are checked at (override for your schedules)."""
        return list(_DEFAULT_MOMENTS)


class FirstRunScheduleContract(_ScheduleSuite):
    """:class:`~tickwork.abc.FirstRunSchedule`: ``first_run(now)`` is the first fire
    time of a new job, aware UTC or None, and ``next`` continues strictly after it."""

    def test_they_are_first_run_schedules(self, schedules: list[Schedule]) -> None:
        assert schedules, "the fixture must give at least one schedule"
        for schedule in schedules:
            assert isinstance(schedule, FirstRunSchedule), schedule

    def test_first_run_is_aware_utc_and_next_follows_it(
        self, schedules: list[FirstRunSchedule], moments: list[datetime]
    ) -> None:
        for schedule in schedules:
            for now in moments:
                first = schedule.first_run(now)
                if first is None:
                    continue
                assert _aware_utc(first), (schedule, now, first)
                following = schedule.next(first)
                assert following is None or following > first, (schedule, first, following)

    def test_first_run_is_a_pure_function_of_now(
        self, schedules: list[FirstRunSchedule], moments: list[datetime]
    ) -> None:
        for schedule in schedules:
            for now in moments:
                assert schedule.first_run(now) == schedule.first_run(now)


class GapSkippingScheduleContract(_ScheduleSuite):
    """:class:`~tickwork.abc.GapSkippingSchedule`: ``skipped_between(after, until)``
    lists, in order and in aware UTC, times in ``(after, until]`` that are not fire
    times; windows split in two list the same times as the whole."""

    def test_they_are_gap_skipping_schedules(self, schedules: list[Schedule]) -> None:
        assert schedules, "the fixture must give at least one schedule"
        for schedule in schedules:
            assert isinstance(schedule, GapSkippingSchedule), schedule

    def test_skips_are_in_the_window_in_order_and_not_fire_times(
        self, schedules: list[GapSkippingSchedule], moments: list[datetime]
    ) -> None:
        for schedule in schedules:
            for after in moments:
                until = after + timedelta(days=2)
                skipped = schedule.skipped_between(after, until)
                assert skipped == sorted(skipped), (schedule, after)
                for moment in skipped:
                    assert _aware_utc(moment), (schedule, moment)
                    assert after < moment <= until, (schedule, after, moment)
                    previous = moment - timedelta(microseconds=1)
                    assert schedule.next(previous) != moment, "a skipped time is a fire time"

    def test_a_window_split_in_two_lists_the_same_skips(
        self, schedules: list[GapSkippingSchedule], moments: list[datetime]
    ) -> None:
        for schedule in schedules:
            for after in moments:
                middle, until = after + timedelta(hours=17), after + timedelta(days=2)
                whole = schedule.skipped_between(after, until)
                halves = schedule.skipped_between(after, middle) + schedule.skipped_between(
                    middle, until
                )
                assert whole == halves, (schedule, after)


class InProcessStoreContract(StoreContract):
    """:class:`~tickwork.abc.InProcessStore`: ``in_process`` is true, and a write is
    read back at once, with no backend that could refuse it."""

    async def test_it_says_it_keeps_its_data_in_this_process(self, store: InProcessStore) -> None:
        assert isinstance(store, InProcessStore)
        assert store.in_process is True

    async def test_writes_are_read_back_at_once(self, store: InProcessStore) -> None:
        job = make_job("in-process")
        await store.save_job(job)
        assert await store.get_job(job.id) == job
