"""Task arguments of every kind a store must keep exactly, and the check that it did.

Shared by the round-trip tests of the SQL and NATS stores (issue 14). ``Parcel`` is a
user's attrs class: decoding finds it by the module-level name it was encoded under
(``support.task_arguments:Parcel``), in a module the test has imported, never by
importing anything itself.
"""

from __future__ import annotations

import threading
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import attrs

from tickwork import RunContext, TaskRegistry, current_run

__all__ = ["RICH_ARGS", "RICH_KWARGS", "Parcel", "assert_same", "receive", "received", "tasks"]


@attrs.frozen
class Parcel:
    """An argument of a user's class: rebuilt from its module-level name, never imported."""

    label: str
    due: datetime
    sizes: tuple[int, ...]


PARIS = ZoneInfo("Europe/Paris")
RICH_ARGS = (
    (1, "two", (3.5, [None, True])),
    {"$": "a key that looks like a tag", "nested": {"$tuple": [1], "list": [1, 2]}},
)
RICH_KWARGS = {
    # 02:30 happens twice in Paris that night: fold=1 is the second, the zone's name kept.
    "when": datetime(2026, 10, 25, 2, 30, tzinfo=PARIS, fold=1),
    "day": date(2026, 1, 2),
    "amount": Decimal("1.10"),
    "id": UUID("12345678-1234-5678-1234-567812345678"),
    "parcel": Parcel("p-1", datetime(2026, 3, 1, 9, 15, 30, 123456, tzinfo=PARIS), (1, 2)),
    "big": 2**70,
}

received: list[tuple[tuple[Any, ...], dict[str, Any], RunContext]] = []
received_lock = threading.Lock()
tasks = TaskRegistry()


@tasks.task
def receive(*args: Any, **kwargs: Any) -> None:
    with received_lock:
        received.append((args, kwargs, current_run()))


def assert_same(actual: Any, expected: Any, path: str = "") -> None:
    """``actual == expected`` with the same types all the way down, the same key order,
    and for datetimes the same zone, wall time and fold (``==`` compares instants)."""
    assert type(actual) is type(expected), f"{path}: {type(actual)} != {type(expected)}"
    if isinstance(expected, list | tuple):
        assert len(actual) == len(expected), f"{path}: {actual!r} != {expected!r}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{path}[{i}]")
    elif isinstance(expected, dict):
        assert list(actual) == list(expected), f"{path}: keys {list(actual)} != {list(expected)}"
        for key in expected:
            assert_same(actual[key], expected[key], f"{path}[{key!r}]")
    elif attrs.has(type(expected)):
        for field in attrs.fields(type(expected)):
            assert_same(getattr(actual, field.name), getattr(expected, field.name), path)
    elif isinstance(expected, datetime):
        assert (actual, actual.tzinfo, actual.fold) == (expected, expected.tzinfo, expected.fold)
        assert actual.replace(tzinfo=None) == expected.replace(tzinfo=None), path
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"
        assert str(actual) == str(expected), f"{path}: {actual!r} != {expected!r}"  # 1.10
