"""tickwork-holidays: run a schedule except on a country's (or region's) public holidays.

Installing the distribution registers schedule type ``except_holidays`` through the
``tickwork`` entry point; the holiday dates come from the ``holidays`` package::

    from tickwork import CronSchedule
    from tickwork_holidays import HolidayExclusionSchedule

    workdays = HolidayExclusionSchedule(
        schedule=CronSchedule("0 9 * * 1-5", "Europe/Berlin"), country="DE", subdivision="BY"
    )
"""

from __future__ import annotations

from ._codec import HolidayCodec
from ._schedule import SCHEDULE_TYPE, HolidayExclusionSchedule, holiday_dates

__all__ = ["SCHEDULE_TYPE", "HolidayCodec", "HolidayExclusionSchedule", "holiday_dates"]
