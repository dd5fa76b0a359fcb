"""Claims of many due runs in two round trips: what :mod:`._claims` decides, batched.

A pull hands a worker up to 32 due messages at once, and runs that were due together
end together. Claiming or settling each one on its own costs a read and a
compare-and-set, two round trips per message. Here every claim asked for while the
previous batch is out goes in the next one (the scheduler's group commit pattern,
:class:`tickwork.Batcher`): one batched direct get reads every document
(where the bucket allows direct gets; else the reads go out in parallel), the rules of
:mod:`._claims` decide each run in order, and every document that changed is written
in one round trip (:func:`tickwork_nats_store.write_many`), each on condition of the
revision read. Settling a finished run needs no read at all: the
worker knows what it wrote last.

When another worker wrote one of the documents in between, its write is not stored
(in an atomic batch, no write of the batch is), and the claims of the documents not
written are made again key by key with :class:`._claims.Claims`, which reads, decides
and retries on its own: nothing is decided twice against a document that changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from nats.aio.client import Client

from tickwork import Batcher
from tickwork_nats_store import MAX_BATCH_MESSAGES, Write, read_last_many, write_many

from ._claims import (
    Claim,
    ClaimDecision,
    Claims,
    Document,
    copy_document,
    decode_document,
    encode_document,
)
from ._subjects import encode_token

__all__ = ["ClaimBatches"]

logger = logging.getLogger("tickwork.nats.trigger")

Acquire = tuple[str, str, int]
"""``(job_id, at, seq)``: a run to claim."""

Acquired = tuple[ClaimDecision, Claim | None]


class ClaimBatches:
    """The claims of one worker, taken and settled in batches.

    :param claims: the rules, and the key-by-key way when a batch is rejected.
    :param stream: the claims bucket's stream (``KV_<bucket>``).
    :param multi_get: whether the stream allows batched direct gets.
    """

    def __init__(
        self, claims: Claims, *, nc: Client, stream: str, multi_get: bool, timeout: float
    ) -> None:
        self.claims = claims
        self._nc = nc
        self._stream = stream
        self._prefix = f"$KV.{stream.removeprefix('KV_')}."
        self._multi_get = multi_get
        self._timeout = timeout
        self._acquires: Batcher[Acquire, Acquired] = Batcher(
            self._acquire_batch, max_batch=MAX_BATCH_MESSAGES
        )
        self._finishes: Batcher[Claim, bool] = Batcher(
            self._finish_batch, max_batch=MAX_BATCH_MESSAGES
        )

    def __repr__(self) -> str:
        return f"ClaimBatches({self._stream!r}, owner={self.claims.owner!r})"

    async def acquire(self, job_id: str, at: str, seq: int) -> Acquired:
        """As :meth:`Claims.acquire`, in a batch with the claims asked for meanwhile."""
        return await self._acquires.submit((job_id, at, seq))

    async def finish(self, claim: Claim) -> bool:
        """As :meth:`Claims.finish`, in a batch with the runs settled meanwhile."""
        return await self._finishes.submit(claim)

    async def heartbeat(self, claim: Claim) -> bool | None:
        """As :meth:`Claims.heartbeat` (one write: the document is known)."""
        return await self.claims.heartbeat(claim)

    # -- batches ------------------------------------------------------------------------

    async def _acquire_batch(self, items: list[Acquire]) -> list[Acquired]:
        keys = [encode_token(job_id) for job_id, _, _ in items]
        docs = await self._read(keys)
        results: list[Acquired] = []
        changed: set[str] = set()
        for key, (job_id, at, seq) in zip(keys, items, strict=True):
            doc = docs[key][0]
            decision = self.claims.take(doc, job_id, at, seq)
            if decision is ClaimDecision.RUN:
                changed.add(key)
                results.append((decision, self.claims.claim_in(doc, key, at, seq)))
            else:
                results.append((decision, None))
        lost = await self._write({key: docs[key] for key in changed})
        if not lost:
            return results
        # Written by another worker since it was read: those claims again, key by key.
        redo = [i for i, key in enumerate(keys) if key in lost]
        again = await asyncio.gather(*(self.claims.acquire(*items[i]) for i in redo))
        for i, result in zip(redo, again, strict=True):
            results[i] = result
        return results

    async def _finish_batch(self, items: list[Claim]) -> list[bool]:
        known = self.claims.known
        unknown = [claim.key for claim in items if claim.key not in known]
        docs = await self._read(unknown) if unknown else {}
        for claim in items:
            if claim.key not in docs:
                doc, revision = known[claim.key]
                docs[claim.key] = (copy_document(doc), revision)
        results = [self.claims.drop(docs[claim.key][0], claim) for claim in items]
        changed = {claim.key for claim, kept in zip(items, results, strict=True) if kept}
        lost = await self._write({key: docs[key] for key in changed})
        if not lost:
            return results
        for key in lost:
            known.pop(key, None)
        redo = [i for i, claim in enumerate(items) if claim.key in lost]
        again = await asyncio.gather(*(self.claims.finish(items[i]) for i in redo))
        for i, result in zip(redo, again, strict=True):
            results[i] = result
        return results

    # -- reading and writing documents ---------------------------------------------------

    async def _read(self, keys: Sequence[str]) -> dict[str, tuple[Document, int | None]]:
        """Each key's document and revision (None: no document yet)."""
        wanted = list(dict.fromkeys(keys))
        if not self._multi_get:
            read = await asyncio.gather(*(self.claims.read(key) for key in wanted))
            return dict(zip(wanted, read, strict=True))
        found = await read_last_many(
            self._nc, self._stream, [self._prefix + key for key in wanted], self._timeout
        )
        docs: dict[str, tuple[Document, int | None]] = {}
        for key in wanted:
            last = found.get(self._prefix + key)
            docs[key] = (
                ({"runs": {}}, None)
                if last is None
                else (
                    decode_document(last.value),
                    last.revision,
                )
            )
        return docs

    async def _write(self, docs: dict[str, tuple[Document, int | None]]) -> set[str]:
        """Write ``docs``, each on condition of its revision, in one round trip; the
        keys not written (another worker wrote them since they were read)."""
        if not docs:
            return set()
        keys = list(docs)
        writes = [
            Write(self._prefix + key, encode_document(docs[key][0]), docs[key][1] or 0)
            for key in keys
        ]
        lost: set[str] = set()
        for key, revision in zip(
            keys, await write_many(self._nc, writes, self._timeout), strict=True
        ):
            if revision is None:
                lost.add(key)
            else:
                self.claims.wrote(key, docs[key][0], revision)
        if lost:
            logger.debug(
                "%d of %d claim write(s) lost their revision; key by key", len(lost), len(keys)
            )
        return lost
