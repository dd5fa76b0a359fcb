"""What to do with a due tick, and what a finished run leaves: decisions as pure values.

Every rule of a job's run policy (catch-up after downtime, misfire grace, what the job
looks like after a run, how an outcome is carried over a change stored meanwhile) is a
function of values here, with no clock, store or task inside. The scheduler's moving
parts call them and carry out the plan; tests call them directly, with any ``now``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from ._models import ExecutionStatus, JobStatus
from ._policy import CatchUp, JobOptions, Overlap
from ._schedules import IntervalSchedule
from ._ticks import ticks_between
from .abc import Schedule

__all__ = [
    "TICK_LOG_LIMIT",
    "DuePlan",
    "FinishPlan",
    "MergedOutcome",
    "merge_outcome",
    "misfired",
    "plan_due",
    "plan_finish",
]

#: Ticks that did not run (coalesced, paused, skipped) are logged one record each up to
#: this many per occasion; the rest are summed up in one record with a "count".
TICK_LOG_LIMIT = 100

#: What a run's handler outcome makes of the job's status (anything else: failed).
_JOB_STATUS_OF = {
    JobStatus.COMPLETED: JobStatus.COMPLETED,
    ExecutionStatus.TIMED_OUT: JobStatus.FAILED,
}


@attrs.frozen
class DuePlan:
    """Which of the ticks due now run, and which are folded into them.

    ``coalesced`` lists the coalesced ticks one by one (up to a limit);
    ``coalesced_total`` counts them all, ``at_least`` when even counting stopped.
    """

    to_run: tuple[datetime, ...]
    coalesced: tuple[datetime, ...] = ()
    coalesced_total: int = 0
    at_least: bool = False


def plan_due(schedule: Schedule, options: JobOptions, tick: datetime, now: datetime) -> DuePlan:
    """Which runs a job due at ``tick`` makes at ``now``.

    On time (no later tick has passed yet), the tick itself runs. After downtime,
    several ticks have passed while nothing ran them: one run (``catch_up="latest"``,
    the latest tick; ``"earliest"``, the first) or a bounded series (``"all"``) stands for
    them, and the rest are coalesced.
    """
    following = schedule.next(tick)
    if following is None or following > now:
        return DuePlan((tick,))
    overdue = ticks_between(schedule, tick, now, keep=max(options.max_catch_up, TICK_LOG_LIMIT))
    if not overdue.count:
        return DuePlan((tick,))
    known = [tick, *overdue.first]
    if overdue.last is not None and overdue.last not in known:
        known.append(overdue.last)
    if options.catch_up == CatchUp.LATEST:
        to_run = [known[-1]]
    elif options.catch_up == CatchUp.ALL:
        to_run = known[: options.max_catch_up]
    else:
        to_run = [tick]
    return DuePlan(
        tuple(to_run),
        tuple(t for t in known if t not in to_run),
        overdue.count + 1 - len(to_run),
        overdue.truncated,
    )


def misfired(when: datetime, now: datetime, grace: timedelta | None) -> bool:
    """Whether a run due at ``when`` is too late to start at ``now`` (recorded missed)."""
    return grace is not None and now - when > grace


@attrs.frozen(kw_only=True)
class FinishPlan:
    """The job's state after a run, and what the scheduler does next.

    ``rearm``: arm ``next_run`` once the state is saved. ``log_skipped``: record the
    grid ticks that fell inside the run as skipped (overlap="skip" on a fixed grid).
    ``schedule_error``: the schedule failed to give a next run (the job is then
    ``rescheduling_failed``).

    The rules (:func:`plan_finish`): an interrupted run (the scheduler stopped before
    its handler was called) stays due at its tick. A manual run moves the schedule only
    if the scheduled run was skipped while it ran. With overlap="skip" the next run
    follows the end of this one, never before its tick (a run that started early must
    not get its own tick back from a grid). A pause made during the run wins.
    """

    next_run: datetime | None
    last_run: datetime
    status: JobStatus
    rearm: bool
    log_skipped: bool
    schedule_error: str | None = None


def plan_finish(
    *,
    schedule: Schedule,
    overlap: Overlap,
    next_run: datetime | None,
    last_run: datetime | None,
    status: JobStatus,
    previous_status: JobStatus,
    tick: datetime,
    started: datetime,
    ended: datetime,
    outcome: JobStatus | ExecutionStatus,
    manual: bool,
    interrupted: bool,
    still_running: bool,
) -> FinishPlan:
    """What a run for ``tick`` (``started`` to ``ended``, ending in ``outcome``) leaves
    of its job, whose stored fields are the other arguments. The rules are listed on
    :class:`FinishPlan`."""
    new_status = _JOB_STATUS_OF.get(outcome, JobStatus.FAILED)
    if interrupted:
        next_run, new_status, rearm = (next_run if manual else tick), JobStatus.PENDING, False
    elif manual:
        rearm = (next_run is None or next_run <= ended) and (
            next_run is not None or last_run is None
        )
    else:
        rearm = overlap == Overlap.SKIP
    # An interval counts from the end of the run, so none of its ticks can fall inside
    # one; a grid's can, and those were skipped.
    log_skipped = rearm and not manual and not isinstance(schedule, IntervalSchedule)
    error: str | None = None
    if rearm:
        try:
            next_run = schedule.next(max(ended, tick))
        except Exception as exc:
            error = str(exc) or type(exc).__name__
            next_run, new_status = None, JobStatus.RESCHEDULING_FAILED
    if JobStatus.DISABLED in (status, previous_status):
        new_status = JobStatus.DISABLED
    elif still_running:
        new_status = JobStatus.RUNNING
    return FinishPlan(
        next_run=next_run,
        last_run=max(started, last_run) if last_run else started,
        status=new_status,
        rearm=rearm,
        log_skipped=log_skipped,
        schedule_error=error,
    )


@attrs.frozen
class MergedOutcome:
    """A run's outcome carried over to the job as another process stored it."""

    next_run: datetime | None
    last_run: datetime | None
    status: JobStatus


def merge_outcome(
    *,
    same_schedule: bool,
    stored_next_run: datetime | None,
    stored_last_run: datetime | None,
    stored_status: JobStatus,
    next_run: datetime | None,
    last_run: datetime | None,
    status: JobStatus,
) -> MergedOutcome:
    """The job to write when a run's outcome lost to a change stored during the run.

    A pause stored meanwhile stays; a new schedule keeps the next run it computed.
    On the same schedule the later of the two next runs stands: a later one stored
    meanwhile means another worker ran the ticks before it (after this run's claim ran
    out in a store outage, say), and going back to ours would run them again.
    ``last_run`` is the latest of the two.
    """
    if not same_schedule:
        merged_next = stored_next_run
    elif next_run is not None and stored_next_run is not None:
        merged_next = max(next_run, stored_next_run)
    else:
        merged_next = next_run
    merged_last = stored_last_run
    if last_run is not None and (merged_last is None or merged_last < last_run):
        merged_last = last_run
    if stored_status == JobStatus.DISABLED:
        merged_status = JobStatus.DISABLED
    else:
        merged_status = JobStatus.PENDING if status == JobStatus.DISABLED else status
    return MergedOutcome(merged_next, merged_last, merged_status)
