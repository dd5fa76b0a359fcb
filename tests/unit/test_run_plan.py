"""The scheduler's policy decisions, called directly: no clock, no store, no loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwork import (
    CatchUp,
    CronSchedule,
    ExecutionStatus,
    IntervalSchedule,
    JobOptions,
    JobStatus,
    OnceSchedule,
    Overlap,
    StartAtIntervalSchedule,
)
from tickwork._run_plan import FinishPlan, merge_outcome, misfired, plan_due, plan_finish

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
GRID = StartAtIntervalSchedule(T0, 10 * SECOND)


def test_a_tick_on_time_runs_alone() -> None:
    plan = plan_due(GRID, JobOptions(), T0 + 10 * SECOND, T0 + 10.2 * SECOND)
    assert plan.to_run == (T0 + 10 * SECOND,)
    assert plan.coalesced == ()
    assert plan.coalesced_total == 0


@pytest.mark.parametrize(
    ("catch_up", "expected"),
    [
        (CatchUp.LATEST, (T0 + 50 * SECOND,)),
        (CatchUp.EARLIEST, (T0 + 10 * SECOND,)),
        (CatchUp.ALL, (T0 + 10 * SECOND, T0 + 20 * SECOND, T0 + 30 * SECOND)),
    ],
)
def test_after_downtime_one_run_or_a_bounded_series_stands_for_the_missed_ticks(
    catch_up: CatchUp, expected: tuple[datetime, ...]
) -> None:
    options = JobOptions(catch_up=catch_up, max_catch_up=3)
    plan = plan_due(GRID, options, T0 + 10 * SECOND, T0 + 55 * SECOND)
    assert plan.to_run == expected
    assert plan.coalesced_total == 5 - len(expected)
    assert set(plan.coalesced).isdisjoint(expected)
    assert len(plan.coalesced) == plan.coalesced_total


def test_a_one_off_is_never_coalesced() -> None:
    once = OnceSchedule(T0)
    plan = plan_due(once, JobOptions(), T0, T0 + timedelta(days=3))
    assert plan.to_run == (T0,)


def test_misfire_grace() -> None:
    assert not misfired(T0, T0 + 5 * SECOND, None)
    assert not misfired(T0, T0 + 5 * SECOND, 5 * SECOND)
    assert misfired(T0, T0 + 5.001 * SECOND, 5 * SECOND)


def _finish(**changes: Any) -> FinishPlan:
    fields: dict[str, Any] = {
        "schedule": GRID,
        "overlap": Overlap.SKIP,
        "next_run": T0 + 10 * SECOND,
        "last_run": None,
        "status": JobStatus.RUNNING,
        "previous_status": JobStatus.PENDING,
        "tick": T0 + 10 * SECOND,
        "started": T0 + 10 * SECOND,
        "ended": T0 + 13 * SECOND,
        "outcome": JobStatus.COMPLETED,
        "manual": False,
        "interrupted": False,
        "still_running": False,
    }
    fields.update(changes)
    return plan_finish(**fields)


def test_a_run_on_a_grid_arms_the_next_tick_after_its_end_and_logs_skipped_ones() -> None:
    plan = _finish(ended=T0 + 25 * SECOND)
    assert plan.next_run == T0 + 30 * SECOND
    assert plan.status is JobStatus.COMPLETED
    assert plan.rearm
    assert plan.log_skipped
    assert plan.last_run == T0 + 10 * SECOND


def test_an_interval_counts_from_the_end_and_skips_nothing() -> None:
    plan = _finish(schedule=IntervalSchedule(5 * SECOND))
    assert plan.next_run == T0 + 18 * SECOND
    assert not plan.log_skipped


def test_a_run_that_started_early_never_gets_its_own_tick_back() -> None:
    tick = T0 + 10 * SECOND
    plan = _finish(tick=tick, started=tick - 2 * SECOND, ended=tick - SECOND)
    assert plan.next_run == T0 + 20 * SECOND


def test_an_interrupted_run_stays_due_at_its_tick() -> None:
    plan = _finish(interrupted=True, outcome=JobStatus.FAILED)
    assert plan.next_run == T0 + 10 * SECOND
    assert plan.status is JobStatus.PENDING
    assert not plan.rearm


def test_a_manual_run_keeps_the_schedule() -> None:
    later = T0 + timedelta(hours=1)
    plan = _finish(manual=True, next_run=later, last_run=T0)
    assert plan.next_run == later
    assert not plan.rearm


def test_a_pause_during_the_run_wins() -> None:
    assert _finish(status=JobStatus.DISABLED).status is JobStatus.DISABLED
    paused_before = _finish(previous_status=JobStatus.DISABLED)
    assert paused_before.status is JobStatus.DISABLED


def test_timed_out_and_other_outcomes_leave_the_job_failed() -> None:
    assert _finish(outcome=ExecutionStatus.TIMED_OUT).status is JobStatus.FAILED
    assert _finish(outcome=JobStatus.FAILED).status is JobStatus.FAILED


def test_another_run_still_going_keeps_the_job_running() -> None:
    plan = _finish(overlap=Overlap.ALLOW, still_running=True)
    assert plan.status is JobStatus.RUNNING
    assert not plan.rearm


class _Broken:
    def next(self, after: datetime) -> datetime | None:
        raise ValueError("no more")


def test_a_schedule_that_fails_leaves_the_job_rescheduling_failed() -> None:
    plan = _finish(schedule=_Broken())
    assert plan.status is JobStatus.RESCHEDULING_FAILED
    assert plan.next_run is None
    assert plan.schedule_error == "no more"


def test_merge_keeps_a_pause_and_the_later_last_run() -> None:
    merged = merge_outcome(
        same_schedule=True,
        stored_next_run=T0,
        stored_last_run=T0 - SECOND,
        stored_status=JobStatus.DISABLED,
        next_run=T0 + 20 * SECOND,
        last_run=T0 + 10 * SECOND,
        status=JobStatus.COMPLETED,
    )
    assert merged.status is JobStatus.DISABLED
    assert merged.next_run == T0 + 20 * SECOND
    assert merged.last_run == T0 + 10 * SECOND


def test_merge_keeps_the_next_run_of_a_new_schedule() -> None:
    new_next = T0 + timedelta(hours=1)
    merged = merge_outcome(
        same_schedule=False,
        stored_next_run=new_next,
        stored_last_run=None,
        stored_status=JobStatus.PENDING,
        next_run=T0 + 20 * SECOND,
        last_run=T0 + 10 * SECOND,
        status=JobStatus.DISABLED,
    )
    assert merged.next_run == new_next
    assert merged.status is JobStatus.PENDING  # the pause was ours, undone elsewhere


@given(
    step=st.integers(min_value=1, max_value=600),
    late=st.integers(min_value=0, max_value=50_000),
    catch_up=st.sampled_from(list(CatchUp)),
    max_catch_up=st.integers(min_value=1, max_value=20),
)
def test_every_passed_tick_is_run_or_coalesced_exactly_once(
    step: int, late: int, catch_up: CatchUp, max_catch_up: int
) -> None:
    grid = StartAtIntervalSchedule(T0, timedelta(seconds=step))
    tick = T0 + timedelta(seconds=step)
    now = tick + timedelta(seconds=late)
    options = JobOptions(catch_up=catch_up, max_catch_up=max_catch_up)
    plan = plan_due(grid, options, tick, now)
    passed = late // step + 1  # the tick itself and every later tick up to now
    assert len(plan.to_run) + plan.coalesced_total == passed
    assert all(tick <= t <= now for t in plan.to_run)
    assert 1 <= len(plan.to_run) <= max(1, max_catch_up)
    assert list(plan.to_run) == sorted(plan.to_run)


@given(
    started=st.integers(min_value=-5_000, max_value=5_000),
    duration=st.integers(min_value=0, max_value=100_000),
)
def test_the_next_run_on_a_grid_is_always_after_the_tick_and_the_end(
    started: int, duration: int
) -> None:
    tick = T0 + 10 * SECOND
    begin = tick + timedelta(milliseconds=started)
    end = begin + timedelta(milliseconds=duration)
    plan = _finish(tick=tick, started=begin, ended=end)
    assert plan.next_run is not None
    assert plan.next_run > max(tick, end)


def test_cron_plans_need_no_clock_either() -> None:
    cron = CronSchedule("0 * * * *", "UTC")
    plan = plan_due(cron, JobOptions(), T0, T0 + timedelta(hours=5, minutes=1))
    assert plan.to_run == (T0 + timedelta(hours=5),)
    assert plan.coalesced_total == 5


def test_merge_never_moves_the_next_run_back_on_the_same_schedule() -> None:
    """Another worker ran a later tick while this run's outcome waited (its claim ran
    out in an outage): the job must not go back to ticks that have been run."""
    merged = merge_outcome(
        same_schedule=True,
        stored_next_run=T0 + 31 * SECOND,
        stored_last_run=T0 + 30 * SECOND,
        stored_status=JobStatus.PENDING,
        next_run=T0 + SECOND,
        last_run=T0,
        status=JobStatus.PENDING,
    )
    assert merged.next_run == T0 + 31 * SECOND
    assert merged.last_run == T0 + 30 * SECOND


@given(
    ours=st.integers(min_value=0, max_value=10_000),
    stored=st.integers(min_value=0, max_value=10_000),
)
def test_merge_on_the_same_schedule_keeps_the_later_next_run(ours: int, stored: int) -> None:
    merged = merge_outcome(
        same_schedule=True,
        stored_next_run=T0 + stored * SECOND,
        stored_last_run=None,
        stored_status=JobStatus.PENDING,
        next_run=T0 + ours * SECOND,
        last_run=T0,
        status=JobStatus.PENDING,
    )
    assert merged.next_run == T0 + max(ours, stored) * SECOND
