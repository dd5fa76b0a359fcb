"""The schedule contracts: when a job fires, its optional refinements, and the codec
that stores a schedule as text.

A schedule is a value the scheduler asks for fire times; the refinements
(:class:`FirstRunSchedule`, :class:`EndingSchedule`, :class:`GapSkippingSchedule`) are
asked only of schedules that match them, so a plain one needs nothing more.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = ["EndingSchedule", "FirstRunSchedule", "GapSkippingSchedule", "Schedule", "ScheduleCodec"]


@runtime_checkable
class Schedule(Protocol):
    """When a job fires.

    Schedules are immutable values (``==`` and ``hash`` work). Two optional
    capabilities refine them: :class:`FirstRunSchedule` (a first fire time other than
    ``next(now)``) and :class:`GapSkippingSchedule` (fire times skipped on purpose, to
    be recorded in the tick log).
    """

    def next(self, after: datetime) -> datetime | None:
        """Return the first fire time strictly after ``after``.

        :param after: any datetime; aware values in any zone, naive ones as local time.
        :return: an aware UTC datetime strictly greater than ``after``, or ``None`` when
            the schedule will never fire again.
        """
        ...


@runtime_checkable
class FirstRunSchedule(Schedule, Protocol):
    """A schedule whose first fire time is not simply ``next(now)`` (optional
    capability).

    A one-off time that has already passed when its job is added still fires once, at
    once: ``next(now)`` would say "never". The scheduler asks ``first_run`` for a new or
    rescheduled job, and ``next`` for every later run.
    """

    def first_run(self, now: datetime) -> datetime | None:
        """The first fire time of a job given this schedule at ``now`` (aware UTC), or
        None when it will never fire."""
        ...


@runtime_checkable
class EndingSchedule(Schedule, Protocol):
    """A schedule that ends by its own bounds and can say why (optional capability).

    When a job's schedule has no fire time left, the job is over; a schedule bounded by
    an end time or a number of fire times owes its history a record saying which bound
    ended it, so the scheduler writes a ``schedule_ended`` tick-log record with this
    reason. (A one-off time needs none: its single run says it all.)
    """

    def end_reason(self, after: datetime) -> str:
        """A one-line reason why ``next(after)`` is None (only asked when it is)."""
        ...


@runtime_checkable
class GapSkippingSchedule(Schedule, Protocol):
    """A schedule that skips some of its own fire times on purpose (optional
    capability).

    A cron schedule with ``on_gap="skip"`` has no run for a wall-clock time that does
    not exist on a daylight-saving day. Those intended runs belong in the tick log as
    ``dst_skipped``, so the scheduler asks which times were skipped between two runs.
    """

    def skipped_between(self, after: datetime, until: datetime) -> list[datetime]:
        """Fire times skipped in ``(after, until]``, in order (aware UTC); usually empty."""
        ...


@runtime_checkable
class ScheduleCodec(Protocol):
    """Turns schedules into ``(schedule_type, config)`` strings for storage and back.

    Codecs must round-trip: ``decode(*encode(s)) == s`` for every schedule they accept.
    """

    def encode(self, schedule: Schedule) -> tuple[str, str]:
        """Return ``(schedule_type, config)`` for ``schedule``.

        :raises UnsupportedScheduleError: the codec does not know this schedule class.
        """
        ...

    def decode(self, schedule_type: str, config: str) -> Schedule:
        """Rebuild a schedule from what :meth:`encode` returned.

        :raises UnsupportedScheduleError: the codec does not know ``schedule_type``.
        :raises InvalidScheduleConfigError: ``config`` is malformed. Never any other
            exception type, whatever the input.
        """
        ...
