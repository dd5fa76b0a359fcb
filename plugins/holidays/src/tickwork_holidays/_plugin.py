"""The ``tickwork`` entry point of this distribution: registers ``except_holidays``.

Loading it imports the schedule class and codec only; the ``holidays`` package itself
is imported when a holiday schedule is first built or read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tickwork

from ._codec import HolidayCodec
from ._schedule import SCHEDULE_TYPE, HolidayExclusionSchedule


@tickwork.hookimpl
def register_codecs(register: Callable[..., Any]) -> None:
    """Holiday calendars, persisted as schedule type ``except_holidays``."""
    register(SCHEDULE_TYPE, HolidayExclusionSchedule, HolidayCodec())
