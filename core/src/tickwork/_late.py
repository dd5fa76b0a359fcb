"""A reference to a part that is built after the parts that call it.

Some parts of a scheduler call each other both ways: the run path re-reads jobs through
the job editor, which needs the run path's intake; the store-outage watcher re-arms
through the reconciler, which needs the watcher. One side gets a :class:`Late` and
calls through it; assembly sets it once everything exists, and a call before that is a
bug in assembly, reported as such.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["Late"]

_T = TypeVar("_T")


class Late(Generic[_T]):
    """Holds a part once it is built (:attr:`value`); :meth:`get` returns it."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: _T | None = None

    def get(self) -> _T:
        assert self.value is not None, "a part was used before the scheduler was assembled"
        return self.value
