"""Job reads asked for together, answered by one request (batched direct get).

A scheduler on a shared trigger reads each due job from the store before running it:
a thousand runs a second are a thousand reads. The reads asked for while one request
is out go in the next one (:class:`tickwork.Batcher`), a batched direct get
(:mod:`._multi_get`) that returns the latest version of each key.

Only for a bucket with one replica: a direct get may be answered by a replica that
lags behind its leader, and a scheduler that read a job a moment out of date could
run a run that another worker has just finished. With one replica there is nobody to
lag.
"""

from __future__ import annotations

import asyncio

from nats.aio.client import Client

from tickwork import Batcher

from ._bucket import Bucket, Entry
from ._multi_get import read_last_many

__all__ = ["JobReads"]

#: Keys read by one batch at most.
MAX_READS = 256


class JobReads:
    """Reads the latest entry of job keys, batched."""

    def __init__(self, nc: Client, jobs: Bucket, timeout: float) -> None:
        self._nc = nc
        self._jobs = jobs
        self._timeout = timeout
        self._batches: Batcher[str, Entry | None] = Batcher(self._read, max_batch=MAX_READS)

    def __repr__(self) -> str:
        return f"JobReads({self._jobs.name!r})"

    async def get(self, key: str) -> Entry | None:
        """The latest value of ``key``, or None when it is missing or deleted."""
        return await self._batches.submit(key)

    async def _read(self, keys: list[str]) -> list[Entry | None]:
        prefix = self._jobs.prefix
        found = await read_last_many(
            self._nc, self._jobs.stream, [prefix + key for key in keys], self._timeout
        )
        entries: list[Entry | None] = []
        for key in keys:
            last = found.get(prefix + key)
            entries.append(None if last is None else Entry(key, last.value, last.revision))
        # A key left out of the answer is missing, unless the answer was cut short (a
        # size limit): a job said to be missing is dropped, so each is asked again.
        unsure = [i for i, entry in enumerate(entries) if entry is None]
        again = await asyncio.gather(*(self._jobs.get(keys[i]) for i in unsure))
        for i, entry in zip(unsure, again, strict=True):
            entries[i] = entry
        return entries
