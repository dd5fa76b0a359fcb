"""Claims: which worker runs a job's due run, so no run happens twice across workers.

JetStream hands each due message to one worker at a time, but the same run can still
reach two workers: a schedule armed again for a time that had already fired (one
worker's catch-up, another's restart, the reconciler), or a message redelivered
because its worker stalled. After a run the scheduler drops deliveries whose time is
no longer the job's next run, but two deliveries of the *current* run could both pass
that check while the first one runs. And only the worker running a job knows that it
runs: a job changed by another worker during a run could otherwise start a second run.

A claim closes both gaps. Each job has one KV key in the claims bucket (the job's
subject token), a small JSON document written with compare-and-set, listing the runs
in progress: which message carries each (``seq``, its stream sequence), who runs it,
and when it last proved alive (``beat``)::

    {"runs": {"2025-10-02T15:04:05.123456Z": {"seq": 42, "owner": "host:pid:x", "beat": 1.7e9}}}

For a delivery of run ``t`` carried by message ``seq``:

================================================  =========================================
the document says                                 the delivery
================================================  =========================================
``t`` runs, carried by ``seq``                    is that message, redelivered because its
                                                  worker went silent: taken over, runs
``t`` runs, carried by another message            is a duplicate while it runs: dropped (if
                                                  the holder dies, *its* message comes back)
another run of the job runs on another worker     waits (redelivered a little later): one
                                                  job never runs twice at once
another run of the job runs on this worker        runs: this worker's scheduler applies the
                                                  job's overlap policy itself
nothing runs                                      is claimed and runs
================================================  =========================================

A finished run leaves the document; a later duplicate of it is dropped by the
scheduler, whose stored ``next_run`` has moved on by then. A run whose ``beat`` is
older than ``stale_after`` is forgotten (its holder is gone and so is its message).
The bucket's max age forgets documents of idle jobs; a run in progress refreshes its
document with every in-progress ack.
"""

from __future__ import annotations

import enum
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nats.js.errors
from nats.js.kv import KeyValue

from ._subjects import encode_token

__all__ = ["Claim", "ClaimDecision", "Claims"]

logger = logging.getLogger("tickwork.nats.trigger")

_CAS_ROUNDS = 16


class ClaimDecision(enum.Enum):
    """What to do with a delivery after trying to claim it."""

    RUN = "run"
    DUPLICATE = "duplicate"
    BUSY = "busy"


@dataclass(frozen=True, slots=True)
class Claim:
    """A run this worker claimed."""

    key: str
    at: str
    seq: int


Document = dict[str, Any]


@dataclass(slots=True)
class Claims:
    """The claims of one worker (``owner``) in one KV bucket.

    :param kv: the claims bucket.
    :param owner: this worker's unique name.
    :param stale_after: seconds after its last beat when a run is presumed dead even
        though no redelivery proved it.
    """

    kv: KeyValue
    owner: str
    stale_after: float

    async def acquire(self, job_id: str, at: str, seq: int) -> tuple[ClaimDecision, Claim | None]:
        """Try to claim run ``at`` of ``job_id`` for the message with sequence ``seq``;
        the claim comes back with :attr:`ClaimDecision.RUN`."""
        key = encode_token(job_id)
        decision = ClaimDecision.RUN

        def change(doc: Document) -> bool:
            nonlocal decision
            decision = self._decide(doc, at, seq)
            if decision is not ClaimDecision.RUN:
                return False
            previous = doc["runs"].get(at)
            if previous is not None:
                logger.info(
                    "job %r run %s: taking it over from %s (message %d)",
                    job_id, at, previous.get("owner"), seq,
                )  # fmt: skip
            doc["runs"][at] = self._run(seq)
            return True

        try:
            written = await self._modify(key, change)
        except _Busy:
            return ClaimDecision.BUSY, None
        if not written:
            return decision, None
        return ClaimDecision.RUN, Claim(key, at, seq)

    def _decide(self, doc: Document, at: str, seq: int) -> ClaimDecision:
        runs: dict[str, dict[str, Any]] = doc["runs"]
        now = time.time()
        for other_at, run in list(runs.items()):
            if now - float(run.get("beat", 0.0)) > self.stale_after:
                del runs[other_at]  # its holder is gone, and so is its message
        mine = runs.get(at)
        if mine is not None:
            return ClaimDecision.RUN if mine.get("seq") == seq else ClaimDecision.DUPLICATE
        if any(run.get("owner") != self.owner for run in runs.values()):
            return ClaimDecision.BUSY
        return ClaimDecision.RUN

    async def heartbeat(self, claim: Claim) -> bool:
        """Refresh a run in progress; False when another worker took it over."""

        def change(doc: Document) -> bool:
            run = doc["runs"].get(claim.at)
            if not self._holds(run, claim):
                raise _Lost
            run["beat"] = time.time()
            return True

        return await self._settle(claim, change)

    async def finish(self, claim: Claim) -> bool:
        """The run is over (or was given up): drop it; False when another worker had
        taken it over."""

        def change(doc: Document) -> bool:
            if not self._holds(doc["runs"].get(claim.at), claim):
                raise _Lost
            del doc["runs"][claim.at]
            return True

        return await self._settle(claim, change)

    def _holds(self, run: dict[str, Any] | None, claim: Claim) -> bool:
        return run is not None and run.get("owner") == self.owner and run.get("seq") == claim.seq

    async def _settle(self, claim: Claim, change: Callable[[Document], bool]) -> bool:
        try:
            return await self._modify(claim.key, change)
        except _Lost:
            return False
        except _Busy:
            # Nobody showed the run is not ours; its entry expires as stale.
            return True

    async def _modify(self, key: str, change: Callable[[Document], bool]) -> bool:
        """Read, change and compare-and-set the document of ``key``.

        ``change`` edits the document and returns whether to write it. Returns whether
        it was written (False: ``change`` declined, or the key stayed too busy).
        """
        for _ in range(_CAS_ROUNDS):
            doc, revision = await self._read(key)
            if not change(doc):
                return False
            value = json.dumps(doc, separators=(",", ":")).encode()
            try:
                if revision is None:
                    await self.kv.create(key, value)
                else:
                    await self.kv.update(key, value, last=revision)
            except nats.js.errors.KeyWrongLastSequenceError:
                continue
            return True
        logger.warning("the claims of %r keep changing under us; giving up for now", key)
        raise _Busy

    async def _read(self, key: str) -> tuple[Document, int | None]:
        try:
            entry = await self.kv.get(key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return {"runs": {}}, None
        try:
            doc = json.loads(entry.value or b"{}")
        except ValueError:
            doc = {}
        if not isinstance(doc, dict):
            doc = {}
        runs = doc.get("runs")
        if not isinstance(runs, dict):
            runs = {}
        clean = {k: v for k, v in runs.items() if isinstance(v, dict)}
        return {"runs": clean}, entry.revision or 0

    def _run(self, seq: int) -> dict[str, Any]:
        return {"seq": seq, "owner": self.owner, "beat": time.time()}


class _Lost(Exception):
    """The run is no longer ours (another worker took it over)."""


class _Busy(Exception):
    """Compare-and-set lost too many rounds in a row."""
