"""tickwork-rrule: RFC 5545 recurrence rules as a tickwork schedule type.

An example of a third-party plugin. Installing the distribution registers schedule
type ``rrule`` through the ``tickwork`` entry point (see ``_plugin.py``); importing
this package registers nothing by itself::

    from datetime import datetime, UTC
    from tickwork_rrule import RRuleSchedule

    every_monday = RRuleSchedule(
        "FREQ=WEEKLY;BYDAY=MO", datetime(2025, 1, 6, 8, tzinfo=UTC), "Europe/Paris"
    )
"""

from __future__ import annotations

from ._codec import RRuleCodec
from ._schedule import SCHEDULE_TYPE, RRuleSchedule

__all__ = ["SCHEDULE_TYPE", "RRuleCodec", "RRuleSchedule"]
