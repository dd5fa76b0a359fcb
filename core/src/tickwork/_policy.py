"""Per-job run policies: what to do with late, missed, overlapping, slow or failing runs.

Policies are frozen values kept with the job. Every store persists them without
knowing about them: they travel in the job's metadata under the reserved key
:data:`OPTIONS_KEY` as compact JSON holding only the non-default fields, so a job with
default options stores exactly what the reference library stores. The scheduler strips
that key before it shows metadata to users and handlers.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any

import attrs

from ._errors import InvalidJobDataError
from ._task_ref import ARGS_KEY, TASK_KEY, TASK_KEYS

__all__ = [
    "OPTIONS_KEY",
    "CatchUp",
    "JobOptions",
    "Overlap",
    "RetryPolicy",
    "options_from_metadata",
    "options_to_metadata",
    "user_metadata",
]

OPTIONS_KEY = "tickwork.options"


class CatchUp(StrEnum):
    """Which of several ticks missed during downtime run when the scheduler is back."""

    LATEST = "latest"  # one run, for the most recent missed tick
    EARLIEST = "earliest"  # one run, for the oldest missed tick
    ALL = "all"  # one run per missed tick, at most max_catch_up


class Overlap(StrEnum):
    """What happens when a run is due while the job's previous run is still going."""

    SKIP = "skip"  # the new run is skipped (recorded as skipped_overlap)
    QUEUE_ONE = "queue_one"  # it runs as soon as the current run ends; at most one waits
    ALLOW = "allow"  # it runs alongside, up to max_instances at once
    CANCEL_RUNNING = "cancel_running"  # the running one is cancelled (coroutine handlers)


def _positive_or_none(_inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise InvalidJobDataError(
            f"{attr.name} must be a positive timedelta or None, got {value!r}"
        )


def _non_negative_or_none(_inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise InvalidJobDataError(f"{attr.name} must be a timedelta >= 0 or None, got {value!r}")


def _at_least(minimum: int) -> Any:
    def check(_inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise InvalidJobDataError(f"{attr.name} must be an int >= {minimum}, got {value!r}")

    return check


def _enum_value(enum: type[StrEnum], value: Any) -> Any:
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(e.value for e in enum)
        raise InvalidJobDataError(
            f"{enum.__name__.lower()} must be one of {choices}, got {value!r}"
        ) from None


def _to_catch_up(value: Any) -> CatchUp:
    result: CatchUp = _enum_value(CatchUp, value)
    return result


def _to_overlap(value: Any) -> Overlap:
    result: Overlap = _enum_value(Overlap, value)
    return result


def _to_timedelta(value: Any) -> Any:
    """Accept seconds as a number as well as a timedelta (config files, CLI)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    return value


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Retries of a failed run: ``max_attempts`` in all, with exponential backoff.

    Attempt *n* (n >= 2) waits ``backoff * multiplier**(n - 2)``, capped at
    ``max_backoff``, then a random fraction ``jitter`` of that is added or taken away,
    so many jobs failing at once do not retry in lockstep.
    """

    max_attempts: int = attrs.field(default=3, validator=_at_least(1))
    backoff: timedelta = attrs.field(
        default=timedelta(seconds=1), converter=_to_timedelta, validator=_non_negative_or_none
    )
    multiplier: float = 2.0
    max_backoff: timedelta = attrs.field(
        default=timedelta(minutes=5), converter=_to_timedelta, validator=_non_negative_or_none
    )
    jitter: float = 0.1

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.multiplier, int | float) or self.multiplier < 1:
            raise InvalidJobDataError(f"multiplier must be >= 1, got {self.multiplier!r}")
        if not isinstance(self.jitter, int | float) or not 0 <= self.jitter <= 1:
            raise InvalidJobDataError(f"jitter must be between 0 and 1, got {self.jitter!r}")

    def delay_before(self, attempt: int, rng: random.Random | None = None) -> timedelta:
        """How long to wait before ``attempt`` (2 for the first retry)."""
        base = self.backoff * (self.multiplier ** max(attempt - 2, 0))
        base = min(base, self.max_backoff)
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return max(base * (1 + spread), timedelta(0))


def _to_retry(value: Any) -> RetryPolicy | None:
    if value is None or isinstance(value, RetryPolicy):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return RetryPolicy(max_attempts=value)
    if isinstance(value, dict):
        return RetryPolicy(**value)
    raise InvalidJobDataError(f"retry must be a RetryPolicy, an int or None, got {value!r}")


@attrs.frozen(kw_only=True)
class JobOptions:
    """How the scheduler treats one job's runs. The defaults keep the plain behaviour:
    late runs still run, one catch-up run after downtime, no overlap, no timeout, no
    retry, no jitter."""

    #: A run that would start later than this after its due time is not started but
    #: recorded as ``missed``. None: always run, however late.
    misfire_grace_time: timedelta | None = attrs.field(
        default=None, converter=_to_timedelta, validator=_positive_or_none
    )
    catch_up: CatchUp = attrs.field(default=CatchUp.LATEST, converter=_to_catch_up)
    #: With ``catch_up="all"``: the most missed ticks run; older ones are ``coalesced``.
    max_catch_up: int = attrs.field(default=10, validator=_at_least(1))
    overlap: Overlap = attrs.field(default=Overlap.SKIP, converter=_to_overlap)
    #: With ``overlap="allow"``: how many runs of the job may go at once.
    max_instances: int = attrs.field(default=1, validator=_at_least(1))
    #: A run still going after this is recorded as ``timed_out``; coroutine handlers are
    #: cancelled, threads are left to finish and their result is ignored.
    timeout: timedelta | None = attrs.field(
        default=None, converter=_to_timedelta, validator=_positive_or_none
    )
    retry: RetryPolicy | None = attrs.field(default=None, converter=_to_retry)
    #: Each run starts after a random delay between 0 and this (spreads load).
    jitter: timedelta | None = attrs.field(
        default=None, converter=_to_timedelta, validator=_non_negative_or_none
    )

    def replace(self, **changes: Any) -> JobOptions:
        """A copy with some fields changed (validated like the constructor)."""
        unknown = set(changes) - {f.name for f in attrs.fields(JobOptions)}
        if unknown:
            raise InvalidJobDataError(f"unknown job option(s): {', '.join(sorted(unknown))}")
        return attrs.evolve(self, **changes)

    @property
    def is_default(self) -> bool:
        return self == DEFAULT_OPTIONS


DEFAULT_OPTIONS = JobOptions()


def _encode_value(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, RetryPolicy):
        return {
            f.name: _encode_value(getattr(value, f.name))
            for f in attrs.fields(RetryPolicy)
            if getattr(value, f.name) != f.default
        }
    if isinstance(value, StrEnum):
        return value.value
    return value


def options_to_metadata(options: JobOptions, metadata: Mapping[str, str]) -> dict[str, str]:
    """``metadata`` plus the encoded options (nothing added for default options)."""
    if options is DEFAULT_OPTIONS or options == DEFAULT_OPTIONS:  # most jobs; after every run
        return user_metadata(metadata)
    result = dict(metadata) if metadata else {}
    result.pop(OPTIONS_KEY, None)
    changed = {
        f.name: _encode_value(getattr(options, f.name))
        for f in attrs.fields(JobOptions)
        if getattr(options, f.name) != f.default
    }
    if changed:
        result[OPTIONS_KEY] = json.dumps(changed, separators=(",", ":"), sort_keys=True)
    return result


def options_from_metadata(metadata: dict[str, str]) -> JobOptions:
    """The options stored in ``metadata`` (defaults when there are none).

    :raises InvalidJobDataError: the stored options cannot be read.
    """
    raw = metadata.get(OPTIONS_KEY)
    if raw is None:
        return DEFAULT_OPTIONS
    try:
        fields = json.loads(raw)
        if not isinstance(fields, dict):
            raise TypeError("not an object")
        return JobOptions(**fields)
    except (TypeError, ValueError) as exc:
        raise InvalidJobDataError(f"stored job options {raw!r} cannot be read: {exc}") from None


def user_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """The metadata as users gave it (the options and task keys removed)."""
    if not metadata:  # (most jobs: ``dict()`` of the shared read-only empty mapping is slow)
        return {}
    if OPTIONS_KEY not in metadata and TASK_KEY not in metadata and ARGS_KEY not in metadata:
        return dict(metadata)
    return {k: v for k, v in metadata.items() if k != OPTIONS_KEY and k not in TASK_KEYS}
