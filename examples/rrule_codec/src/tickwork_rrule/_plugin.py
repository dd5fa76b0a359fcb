"""The ``tickwork`` entry point of this distribution.

``pyproject.toml`` points the entry point at this module::

    [project.entry-points.tickwork]
    rrule = "tickwork_rrule._plugin"

tickwork imports it the first time a registry is consulted and calls the hook below.
The module holds nothing but the hook, so loading it costs no more than importing the
schedule and codec it registers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tickwork

from ._codec import RRuleCodec
from ._schedule import SCHEDULE_TYPE, RRuleSchedule


@tickwork.hookimpl
def register_codecs(register: Callable[..., Any]) -> None:
    """RFC 5545 recurrence rules, persisted as schedule type ``rrule``."""
    register(SCHEDULE_TYPE, RRuleSchedule, RRuleCodec())
