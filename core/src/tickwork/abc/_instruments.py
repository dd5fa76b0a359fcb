"""The instrument contracts: watching runs and store calls for metrics and traces, on
the run path itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .._run_attempt import AttemptInfo, AttemptOutcome

if TYPE_CHECKING:
    from .._jobs_view import JobsView

__all__ = ["AttemptScope", "Instrument"]


@runtime_checkable
class AttemptScope(Protocol):
    """One attempt as an :class:`Instrument` watches it (a span, a start time).

    Made by :meth:`Instrument.attempt` and ended once, by :meth:`end`, in the same
    asyncio task and therefore the same context: a context variable the instrument set
    when the attempt began (OpenTelemetry's current span) is reset here.
    """

    def end(self, outcome: AttemptOutcome) -> None:
        """The attempt ended as ``outcome`` says; reset what the attempt set."""
        ...


@runtime_checkable
class Instrument(Protocol):
    """Watches a scheduler's runs and store calls, for metrics and traces.

    Why a capability of its own rather than an event subscriber: events reach
    subscribers later and elsewhere (a thread, a queue), while a trace needs a span
    that is *current inside the handler*, so that the user's own spans nest under it,
    and store latency needs timings the events do not carry. An instrument is given to
    the scheduler (``AsyncScheduler(instruments=["otel"])``, a registered name or an
    object) and is called on the run path itself, so it must be quick and must not
    block; the scheduler pays nothing for instruments when none is given.
    Contract (``tickwork.testing.InstrumentContract``):

    - :meth:`open` is called at each start with a read-only view of the jobs (for
      gauges, read from any thread), :meth:`close` at each stop, after the last run;
    - :meth:`attempt` is called in the run's own asyncio task just before the handler
      (or task) is called, once per attempt, and may set context variables: the
      handler sees them, whether it is a coroutine, a plain function on the
      scheduler's threads, or a task on the ``loop`` or ``thread`` executor (a task in
      a child process does not). The returned scope's ``end`` is called in that task
      when the attempt ends, however it ends (completed, failed, timed out,
      cancelled);
    - :meth:`store_call` is told of each run-path store call: ``operation`` is
      ``claim``, ``finish`` or ``save_records``, ``seconds`` the time the run waited
      for it (batching included), ``failed`` whether it raised;
    - :meth:`claim_conflict` is told when another process had claimed a due run first;
    - none of them raises: an instrument that does is logged (``tickwork.instruments``)
      and the run goes on as if it were not there.
    """

    def open(self, jobs: JobsView) -> None:
        """The scheduler started; ``jobs`` counts its jobs by status."""
        ...

    def attempt(self, info: AttemptInfo) -> AttemptScope:
        """An attempt is starting, in the run's task; the scope it ends with."""
        ...

    def store_call(self, operation: str, seconds: float, failed: bool) -> None:
        """A store call of the run path took ``seconds`` and failed or not."""
        ...

    def claim_conflict(self, job_id: str) -> None:
        """Another process claimed ``job_id``'s due run first."""
        ...

    def close(self) -> None:
        """The scheduler stopped; flush what is kept (the instrument may open again)."""
        ...
