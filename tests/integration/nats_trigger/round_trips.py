"""Counting what a run costs on NATS: every message the clients of this process send,
sorted by what it is for.

Every message a nats-py client sends goes through ``Client.publish`` (requests too:
``request()`` publishes with a reply subject). :class:`TripCounter` wraps that one
method for the duration of a ``with`` block and files each message under a kind
(claim read, job write, schedule publish, ack...). A message with a reply subject is a
*request*: the sender waits for the server's answer. Requests of one kind sent in the
same turn of the event loop are waited for together, so they count as one *round
trip* (``write_many`` sends a few writes as separate requests, all before any answer
is awaited: a record and its index entry are two requests, one round trip). A message
without a reply (an ack, a change signal) costs the server a message but nobody waits
for it.

Run it as a script for the table in the report::

    .venv/bin/python tests/integration/nats_trigger/round_trips.py --workers 3
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterator

__all__ = ["TripCounter", "kind_of"]


def kind_of(subject: str, payload: bytes, claims: str, jobs: str, execs: str) -> str:
    """The kind of one message, from its subject (and an ack's payload)."""
    for direct in ("$JS.API.DIRECT.GET.", "$JS.API.STREAM.MSG.GET."):
        if not subject.startswith(direct):
            continue
        stream = subject[len(direct) :].split(".", 1)[0]
        return {
            f"KV_{claims}": "claim read",
            f"KV_{jobs}": "job read",
            f"KV_{execs}": "record read",
        }.get(stream, f"message get {stream}")
    for bucket, kind in ((claims, "claim write"), (jobs, "job write"), (execs, "record write")):
        if subject.startswith(f"$KV.{bucket}."):
            return kind
    if subject.startswith("$JS.ACK."):
        word = payload[:4].decode(errors="replace")
        return {"+ACK": "ack", "+WPI": "in-progress ack", "-NAK": "nak", "+TER": "term"}.get(
            word, "ack"
        )
    if subject.startswith("$JS.API.CONSUMER.MSG.NEXT."):
        return "pull request"
    if subject.startswith("$JS.API.STREAM.PURGE."):
        return "purge"
    if subject.startswith("$JS.API."):
        return "other JetStream API"
    if ".schedule." in subject:
        return "schedule publish"
    return "other"


class TripCounter:
    """Counts the messages (and the requests among them) sent in a ``with`` block."""

    def __init__(
        self,
        *,
        claims: str = "SCHEDULER_CLAIMS",
        jobs: str = "SCHEDULER_JOBS",
        execs: str = "SCHEDULER_EXECUTIONS",
    ) -> None:
        self._buckets = (claims, jobs, execs)
        self.messages: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.trips: Counter[str] = Counter()
        self.counting = False
        self._this_turn: set[str] = set()

    def reset(self) -> None:
        self.messages.clear()
        self.requests.clear()
        self.trips.clear()

    @contextlib.contextmanager
    def installed(self) -> Iterator[TripCounter]:
        """Wrap ``Client.publish`` (and ``Client._send_command`` batches) meanwhile."""
        from support.nats_publishes import observing_publishes  # importable once run

        counter = self

        def seen(subject: str, payload: bytes, reply: str) -> None:
            if counter.counting:
                kind = kind_of(subject, payload, *counter._buckets)
                counter.messages[kind] += 1
                if reply:
                    counter.requests[kind] += 1
                    counter._new_trip(kind)

        with observing_publishes(seen):
            yield self

    def _new_trip(self, kind: str) -> None:
        """A round trip, unless a request of ``kind`` went out earlier in this turn of the
        loop (tasks started together, such as ``write_many``'s, run in one turn)."""
        if kind in self._this_turn:
            return
        self.trips[kind] += 1
        if not self._this_turn:
            asyncio.get_running_loop().call_soon(self._this_turn.clear)
        self._this_turn.add(kind)

    def table(self, runs: int) -> str:
        """Round trips, requests and messages per run, by kind."""
        lines = [f"{'kind':<20}{'round trips/run':>16}{'requests/run':>14}{'messages/run':>14}"]
        for kind in sorted(self.messages, key=lambda k: -self.messages[k]):
            lines.append(
                f"{kind:<20}{self.trips[kind] / runs:>16.2f}"
                f"{self.requests[kind] / runs:>14.2f}{self.messages[kind] / runs:>14.2f}"
            )
        totals = (self.trips, self.requests, self.messages)
        trips, requests, messages = (sum(c.values()) / runs for c in totals)
        lines.append(f"{'total':<20}{trips:>16.2f}{requests:>14.2f}{messages:>14.2f}")
        return "\n".join(lines)

    def per_run(self, runs: int) -> float:
        """Round trips per run, every kind together."""
        return sum(self.trips.values()) / max(1, runs)


async def measure(
    url: str,
    *,
    workers: int,
    jobs: int = 40,
    seconds: float = 6.0,
    warmup: float = 2.0,
    spread: bool = False,
    lateness: list[float] | None = None,
) -> tuple[TripCounter, int]:
    """Run ``jobs`` jobs on a 1 s grid on ``workers`` schedulers (one connection each,
    in this process) against the server at ``url``; count the messages of the runs
    started after ``warmup`` seconds. Returns the counter and the runs it covers.

    The jobs are due together at each grid point, or (``spread``) spread evenly over
    the second, as in W1; ``lateness`` collects each counted run's start minus its
    time, in seconds."""
    import asyncio
    import time
    from datetime import UTC, datetime, timedelta

    from tickwork import JobEvent, StartAtIntervalSchedule
    from tickwork_nats_trigger import create_nats_scheduler

    counter = TripCounter()
    runs = 0

    async def handler(event: JobEvent) -> None:
        nonlocal runs
        if counter.counting:
            runs += 1
            if lateness is not None:
                lateness.append(time.time() - event.scheduled_at.timestamp())

    with counter.installed():
        schedulers = [
            create_nats_scheduler(url, handler, worker_id=f"w{i}", ack_wait=5)
            for i in range(workers)
        ]
        for scheduler in schedulers:
            await scheduler.start()
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
        for i in range(jobs):
            first = start + timedelta(seconds=i / jobs) if spread else start
            await schedulers[0].add_job(
                f"job-{i}", StartAtIntervalSchedule(start_at=first, interval=timedelta(seconds=1))
            )
        await asyncio.sleep(2.0 + warmup)
        counter.counting = True
        await asyncio.sleep(seconds)
        counter.counting = False
        for scheduler in schedulers:
            await scheduler.stop()
    return counter, runs


def _main() -> None:
    import argparse
    import asyncio
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from support.nats_server import NatsServer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--spread", action="store_true", help="jobs spread over the second")
    args = parser.parse_args()
    late: list[float] = []
    with NatsServer() as server:
        counter, runs = asyncio.run(
            measure(
                server.url,
                workers=args.workers,
                jobs=args.jobs,
                seconds=args.seconds,
                spread=args.spread,
                lateness=late,
            )
        )
    print(f"{args.workers} worker(s), {args.jobs} jobs at 1 s, {runs} runs counted")
    late.sort()
    if late:
        p50, p99 = late[len(late) // 2], late[int(0.99 * (len(late) - 1))]
        print(f"lateness p50 {1000 * p50:.0f} ms, p99 {1000 * p99:.0f} ms")
    print(counter.table(max(1, runs)))


if __name__ == "__main__":
    _main()
