"""The instruments a scheduler was given, as one object the run path calls.

The run path holds an :class:`InstrumentSet` or None, and asks only ``is None`` when
there is none: a scheduler without instruments pays one comparison per attempt and
per store call. With instruments, every call into them is guarded, so an instrument
that raises is logged (logger ``tickwork.instruments``, a WARNING the first time, then
DEBUG) and the run goes on as if it were not there: metrics must never fail a job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Iterable, Sequence
from typing import TypeVar

from ._errors import InstrumentError
from ._jobs_view import JobsView
from ._run_attempt import AttemptInfo, AttemptOutcome
from .abc import AttemptScope, Instrument

__all__ = ["InstrumentSet", "resolve_instruments"]

logger = logging.getLogger("tickwork.instruments")

_T = TypeVar("_T")


class InstrumentSet:
    """Calls each instrument in turn, none of them able to break a run."""

    def __init__(self, instruments: Sequence[Instrument]) -> None:
        self.instruments = tuple(instruments)
        self._warned: set[int] = set()

    def __repr__(self) -> str:
        return f"InstrumentSet({list(self.instruments)!r})"

    def _failed(self, instrument: Instrument, what: str) -> None:
        first = id(instrument) not in self._warned
        self._warned.add(id(instrument))
        logger.log(
            logging.WARNING if first else logging.DEBUG,
            "instrument %r raised in %s; the run goes on without it",
            instrument,
            what,
            exc_info=True,
        )

    def open(self, jobs: JobsView) -> None:
        for instrument in self.instruments:
            try:
                instrument.open(jobs)
            except Exception:
                self._failed(instrument, "open")

    def close(self) -> None:
        for instrument in self.instruments:
            try:
                instrument.close()
            except Exception:
                self._failed(instrument, "close")

    def begin(self, info: AttemptInfo) -> list[AttemptScope | None]:
        """Each instrument's scope for an attempt starting now (None where it raised)."""
        scopes: list[AttemptScope | None] = []
        for instrument in self.instruments:
            try:
                scopes.append(instrument.attempt(info))
            except Exception:
                self._failed(instrument, "attempt")
                scopes.append(None)
        return scopes

    def end(self, scopes: list[AttemptScope | None], outcome: AttemptOutcome) -> None:
        """End the scopes, the last begun first (context variables reset in order)."""
        for instrument, scope in zip(reversed(self.instruments), reversed(scopes), strict=True):
            if scope is None:
                continue
            try:
                scope.end(outcome)
            except Exception:
                self._failed(instrument, "end")

    def store_call(self, operation: str, seconds: float, failed: bool) -> None:
        for instrument in self.instruments:
            try:
                instrument.store_call(operation, seconds, failed)
            except Exception:
                self._failed(instrument, "store_call")

    def claim_conflict(self, job_id: str) -> None:
        for instrument in self.instruments:
            try:
                instrument.claim_conflict(job_id)
            except Exception:
                self._failed(instrument, "claim_conflict")

    async def timed(self, operation: str, call: Awaitable[_T]) -> _T:
        """Await a store call, telling the instruments how long it took and whether
        it raised (a cancellation is not a store failure: nothing is told)."""
        start = time.perf_counter()
        try:
            result = await call
        except Exception:
            self.store_call(operation, time.perf_counter() - start, True)
            raise
        self.store_call(operation, time.perf_counter() - start, False)
        return result


def resolve_instruments(given: Iterable[Instrument | str] | None) -> InstrumentSet | None:
    """The set for what a scheduler was given (names made by their plugins), or None
    when nothing was given.

    :raises InstrumentError: an item is neither an instrument nor a name.
    :raises PluginNotFoundError: no plugin registered a name.
    """
    if given is None:
        return None
    if isinstance(given, str | Instrument):
        given = [given]
    from ._plugins import create_instrument  # the registry loads plugins: at first use

    instruments: list[Instrument] = []
    for item in given:
        if isinstance(item, str):
            instruments.append(create_instrument(item))
        elif isinstance(item, Instrument):
            instruments.append(item)
        else:
            raise InstrumentError(item)
    return InstrumentSet(instruments) if instruments else None
