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
``t`` runs, carried by ``seq``, on this worker    is that message again, and this worker no
                                                  longer holds it (the consumer takes each
                                                  message once at a time): runs
``t`` runs, carried by ``seq``, on another        is that message, redelivered: taken over
worker that has been silent for ``lease``         (runs) once its holder has not proved
                                                  alive for a whole ``lease``; before that it
                                                  is *held* and waits (the holder may be
                                                  slow, not dead)
``t`` runs, carried by another message            is a duplicate while it runs: dropped (if
                                                  the holder dies, *its* message comes back)
another run of the job runs on another worker     waits (redelivered a little later): one
                                                  job never runs twice at once
another run of the job runs on this worker        runs: this worker's scheduler applies the
                                                  job's overlap policy itself
nothing runs                                      is claimed and runs
================================================  =========================================

A redelivery alone does not prove that the holder is gone: the server redelivers a
message that went ``ack_wait`` without an in-progress ack, and a worker whose claim
request is slow (a cluster electing a leader, a loaded machine) sends none until its
claim is written. So a takeover waits for the holder's ``beat`` to be a whole
``lease`` (the ack wait) old, and the holder, for its part, starts a run only while
its own beat is younger than half a lease (:meth:`Claim.fresh`) and refreshes it every
third of one: the two can never both hold the run, whatever the order in which their
writes land, as long as the workers' clocks agree to within half a lease.

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
from dataclasses import dataclass, field
from typing import Any

import nats.js.errors
from nats.js.kv import KeyValue

from ._subjects import encode_token

__all__ = [
    "Claim",
    "ClaimDecision",
    "Claims",
    "Document",
    "copy_document",
    "decode_document",
    "encode_document",
]

logger = logging.getLogger("tickwork.nats.trigger")

_CAS_ROUNDS = 16


class ClaimDecision(enum.Enum):
    """What to do with a delivery after trying to claim it."""

    RUN = "run"
    DUPLICATE = "duplicate"
    BUSY = "busy"
    #: This very message is held by another worker that was alive less than a lease
    #: ago: it waits, and is taken over if the holder stays silent.
    HELD = "held"


@dataclass(frozen=True, slots=True)
class Claim:
    """A run this worker claimed, and when its claim was last proved alive (``beat``,
    wall-clock seconds, no later than the beat written)."""

    key: str
    at: str
    seq: int
    beat: float

    def fresh(self, lease: float, beat: float | None = None) -> bool:
        """Whether the claim may still start its run: less than half a ``lease`` since
        ``beat`` (default: the claim's own). Another worker takes a run over only a
        whole lease after its last beat."""
        since = self.beat if beat is None else beat
        return time.time() - since < lease / 2


Document = dict[str, Any]


@dataclass(slots=True)
class Claims:
    """The claims of one worker (``owner``) in one KV bucket.

    :param kv: the claims bucket.
    :param owner: this worker's unique name (new at each start of the trigger).
    :param stale_after: seconds after its last beat when a run is presumed dead even
        though no redelivery proved it.
    :param lease: seconds a run's holder must have been silent (no beat) before a
        redelivery of its message takes the run over: the ack wait.
    """

    kv: KeyValue
    owner: str
    stale_after: float
    lease: float
    #: The documents this worker wrote last and their revisions, by key: a heartbeat
    #: or a finish writes on condition of it without reading first (it reads when
    #: somebody else wrote the key since).
    known: dict[str, tuple[Document, int]] = field(default_factory=dict)

    async def acquire(self, job_id: str, at: str, seq: int) -> tuple[ClaimDecision, Claim | None]:
        """Try to claim run ``at`` of ``job_id`` for the message with sequence ``seq``;
        the claim comes back with :attr:`ClaimDecision.RUN`."""
        key = encode_token(job_id)
        decision = ClaimDecision.RUN
        claim: Claim | None = None

        def change(doc: Document) -> bool:
            nonlocal decision, claim
            decision = self.take(doc, job_id, at, seq)
            claim = self.claim_in(doc, key, at, seq)
            return decision is ClaimDecision.RUN

        try:
            written = await self._modify(key, change, trust_known=False)
        except _Busy:
            return ClaimDecision.BUSY, None
        if not written:
            return decision, None
        return ClaimDecision.RUN, claim

    def take(self, doc: Document, job_id: str, at: str, seq: int) -> ClaimDecision:
        """Decide on run ``at`` (message ``seq``) against ``doc``, and enter the run in
        it when it is this worker's to run."""
        decision = self._decide(doc, at, seq)
        if decision is ClaimDecision.RUN:
            previous = doc["runs"].get(at)
            if previous is not None:
                logger.info(
                    "job %r run %s: taking it over from %s (message %d)",
                    job_id, at, previous.get("owner"), seq,
                )  # fmt: skip
            doc["runs"][at] = self._run(seq)
        return decision

    def claim_in(self, doc: Document, key: str, at: str, seq: int) -> Claim | None:
        """The claim :meth:`take` entered in ``doc`` for run ``at`` (None: it did not)."""
        run = doc["runs"].get(at)
        if run is None or run.get("owner") != self.owner or run.get("seq") != seq:
            return None
        return Claim(key, at, seq, float(run["beat"]))

    def drop(self, doc: Document, claim: Claim) -> bool:
        """Take a finished run out of ``doc``; False when another worker holds it."""
        if not self._holds(doc["runs"].get(claim.at), claim):
            return False
        del doc["runs"][claim.at]
        return True

    def wrote(self, key: str, doc: Document, revision: int) -> None:
        """Remember what this worker wrote to ``key`` (forgotten once no run is left)."""
        if doc["runs"]:
            self.known[key] = (doc, revision)
        else:
            self.known.pop(key, None)

    def _decide(self, doc: Document, at: str, seq: int) -> ClaimDecision:
        runs: dict[str, dict[str, Any]] = doc["runs"]
        now = time.time()
        for other_at, run in list(runs.items()):
            if now - float(run.get("beat", 0.0)) > self.stale_after:
                del runs[other_at]  # its holder is gone, and so is its message
        mine = runs.get(at)
        if mine is not None:
            if mine.get("seq") != seq:
                return ClaimDecision.DUPLICATE
            if mine.get("owner") == self.owner:
                return ClaimDecision.RUN  # ours, and not held here any more
            silent = now - float(mine.get("beat", 0.0))
            return ClaimDecision.RUN if silent >= self.lease else ClaimDecision.HELD
        if any(run.get("owner") != self.owner for run in runs.values()):
            return ClaimDecision.BUSY
        return ClaimDecision.RUN

    async def heartbeat(self, claim: Claim) -> bool | None:
        """Refresh a run in progress: True once written, False when another worker
        took it over, None when the key stayed too busy to write (still ours, as far
        as anyone showed, but not refreshed)."""

        def change(doc: Document) -> bool:
            run = doc["runs"].get(claim.at)
            if not self._holds(run, claim):
                raise _Lost
            run["beat"] = time.time()
            return True

        try:
            return await self._modify(claim.key, change)
        except _Lost:
            return False
        except _Busy:
            return None

    async def finish(self, claim: Claim) -> bool:
        """The run is over (or was given up): drop it; False when another worker had
        taken it over."""

        def change(doc: Document) -> bool:
            if not self.drop(doc, claim):
                raise _Lost
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

    async def _modify(
        self, key: str, change: Callable[[Document], bool], *, trust_known: bool = True
    ) -> bool:
        """Read, change and compare-and-set the document of ``key``.

        ``change`` edits the document and returns whether to write it. Returns whether
        it was written (False: ``change`` declined, or the key stayed too busy). With
        ``trust_known``, the first round starts from what this worker wrote last, if
        anything, instead of reading.
        """
        for _ in range(_CAS_ROUNDS):
            known = self.known.pop(key, None) if trust_known else None
            revision: int | None
            if known is not None:
                doc, revision = copy_document(known[0]), known[1]
            else:
                doc, revision = await self.read(key)
            if not change(doc):
                return False
            value = encode_document(doc)
            try:
                if revision is None:
                    written = await self.kv.create(key, value)
                else:
                    written = await self.kv.update(key, value, last=revision)
            except nats.js.errors.KeyWrongLastSequenceError:
                continue
            self.wrote(key, doc, written)
            return True
        logger.warning("the claims of %r keep changing under us; giving up for now", key)
        raise _Busy

    async def read(self, key: str) -> tuple[Document, int | None]:
        """The document of ``key`` and its revision (None: no document yet)."""
        try:
            entry = await self.kv.get(key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return {"runs": {}}, None
        return decode_document(entry.value), entry.revision or 0

    def _run(self, seq: int) -> dict[str, Any]:
        return {"seq": seq, "owner": self.owner, "beat": time.time()}


def decode_document(value: bytes | None) -> Document:
    """A claims document as stored; anything unreadable counts as no runs."""
    try:
        doc = json.loads(value or b"{}")
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    runs = doc.get("runs")
    if not isinstance(runs, dict):
        runs = {}
    return {"runs": {k: v for k, v in runs.items() if isinstance(v, dict)}}


def encode_document(doc: Document) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def copy_document(doc: Document) -> Document:
    """A copy to change (the runs are dicts of their own)."""
    return {"runs": {at: dict(run) for at, run in doc["runs"].items()}}


class _Lost(Exception):
    """The run is no longer ours (another worker took it over)."""


class _Busy(Exception):
    """Compare-and-set lost too many rounds in a row."""
