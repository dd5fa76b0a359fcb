"""Batches of claims racing for the same jobs: every run is claimed exactly once, and
nothing deadlocks.

Several stores (each with its own connections), several tasks per store and several
processes claim overlapping batches of the same 200 jobs, each batch in its own order,
while the previous round's winners release theirs. The store locks job rows and then
claim rows in id order on PostgreSQL and MariaDB, so the transactions mostly wait for
each other; the deadlocks InnoDB still finds between a claim's INSERT and a release's
DELETE are run again by the store, so no call fails (a failure would come out as
StorageOperationError). On SQLite the database's write lock serializes them.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sql_helpers import T0, job, query, record

from tickwork import FinishOutcome, RunFinish
from tickwork_sqlalchemy_store import SQLAlchemyStore

JOBS = [f"job-{i:03d}" for i in range(200)]
LEASE = timedelta(seconds=30)


def batches(ids: list[str], seed: int) -> list[list[str]]:
    """``ids`` shuffled and cut into batches of 10 to 60, so that batches of different
    claimers overlap in every way."""
    rng = random.Random(seed)
    shuffled = rng.sample(ids, len(ids))
    cut: list[list[str]] = []
    while shuffled:
        size = rng.randint(10, 60)
        cut.append(shuffled[:size])
        shuffled = shuffled[size:]
    return cut


async def claim_all(
    store: SQLAlchemyStore, owner: str, due: datetime, now: datetime, seed: int
) -> list[str]:
    """Try to claim every job's run at ``due``, batch after batch; the ids won."""
    won: list[str] = []
    for batch in batches(JOBS, seed):
        claimed = await store.claim_jobs([(i, due) for i in batch], owner, now + LEASE, now)
        assert set(claimed) <= set(batch)
        assert all(j.next_run == due for j in claimed.values())
        won.extend(claimed)
    return won


async def release_all(store: SQLAlchemyStore, owner: str, ids: list[str], seed: int) -> None:
    for batch in batches(ids, seed):
        await store.release_claims(batch, owner)


async def test_overlapping_batches_from_many_stores_and_tasks(database_url: str) -> None:
    stores = [SQLAlchemyStore(database_url) for _ in range(3)]
    await asyncio.gather(*(s.initialize() for s in stores))
    try:
        await stores[0].save_jobs([job(i, next_run=T0) for i in JOBS])
        previous: dict[str, list[str]] = {}
        for round_ in range(4):
            due = T0 + timedelta(minutes=round_)
            now = T0 + round_ * 2 * LEASE  # the previous round's claims have expired
            if round_:
                await stores[0].save_runs([], [job(i, next_run=due) for i in JOBS])
            owners = {
                f"r{round_}-s{s}-t{t}": (stores[s], s * 10 + t) for s in range(3) for t in range(3)
            }
            claiming = [
                claim_all(store, owner, due, now, seed + 100 * round_)
                for owner, (store, seed) in owners.items()
            ]
            # Meanwhile the previous winners release theirs (expired, maybe taken over).
            releasing = [
                release_all(stores[n % 3], owner, ids, n)
                for n, (owner, ids) in enumerate(previous.items())
            ]
            # A task group: when one call fails, the others are cancelled before the
            # stores close, rather than left running on closed connections.
            async with asyncio.timeout(120), asyncio.TaskGroup() as group:
                tasks = [group.create_task(work) for work in [*claiming, *releasing]]
            won = {o: t.result() for o, t in zip(owners, tasks[: len(owners)], strict=True)}
            counts = Counter(i for ids in won.values() for i in ids)
            assert sorted(counts) == JOBS, f"round {round_}: some runs were not claimed"
            assert max(counts.values()) == 1, f"round {round_}: a run was claimed twice"
            holders = dict(await _claims(database_url, stores[0]))
            assert holders == {i: owner for owner, ids in won.items() for i in ids}
            previous = won
    finally:
        for store in stores:
            await store.close()


async def test_claims_and_finishes_racing_over_the_same_jobs(database_url: str) -> None:
    """Nine claimers on three stores claim overlapping batches and finish each batch
    they won with finish_runs (job moved on to the next due time on condition of the
    claimed version, claim released) while the others claim: finishing locks job rows
    and claim rows in the order claiming does, so nothing fails, every finish is
    STORED, no run is claimed twice and each job has moved on once per claim."""
    stores = [SQLAlchemyStore(database_url) for _ in range(3)]
    await asyncio.gather(*(s.initialize() for s in stores))
    dues = [T0 + timedelta(minutes=m) for m in range(5)]
    try:
        await stores[0].save_jobs([job(i, next_run=dues[0]) for i in JOBS])

        async def claim_and_finish(
            store: SQLAlchemyStore, owner: str, seed: int
        ) -> list[tuple[str, datetime]]:
            won: list[tuple[str, datetime]] = []
            for round_, due in enumerate(dues[:-1]):
                for batch in batches(JOBS, seed + 1000 * round_):
                    claimed = await store.claim_jobs(
                        [(i, due) for i in batch], owner, T0 + LEASE, T0
                    )
                    finishes = [
                        RunFinish(
                            records=(record(i, f"{i}-{round_}-{owner}"),),
                            job=job(
                                i,
                                next_run=dues[round_ + 1],
                                updated_at=claimed[i].updated_at + timedelta(seconds=1),
                            ),
                            seen=claimed[i].updated_at,
                            release_owner=owner,
                        )
                        for i in sorted(claimed)
                    ]
                    outcomes = await store.finish_runs(finishes)
                    assert outcomes == [FinishOutcome.STORED] * len(finishes)
                    won.extend((i, due) for i in sorted(claimed))
            return won

        async with asyncio.timeout(120), asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(claim_and_finish(stores[s], f"s{s}-t{t}", s * 10 + t))
                for s in range(3)
                for t in range(3)
            ]
        runs = Counter(run for task in tasks for run in task.result())
        assert runs, "nothing was claimed"
        assert max(runs.values()) == 1, "a run was claimed twice"
        per_job = Counter(job_id for job_id, _ in runs)
        for stored in await stores[0].list_jobs():
            assert stored.next_run == dues[per_job[stored.id]], stored.id
        assert await _claims(database_url, stores[0]) == []  # every claim released
    finally:
        for store in stores:
            await store.close()


async def _claims(url: str, store: SQLAlchemyStore) -> list[tuple[str, str]]:
    if url.startswith("sqlite"):
        import sqlite3

        path = url.split("///", 1)[1]
        with sqlite3.connect(path) as conn:
            return list(conn.execute("SELECT job_id, owner FROM scheduler_claims"))
    return [(row.job_id, row.owner) for row in await query(url, "SELECT * FROM scheduler_claims")]


CLAIMER = """
import asyncio, json, random, sys, time
from datetime import datetime, timedelta
from tickwork_sqlalchemy_store import SQLAlchemyStore

async def claim_all(store, owner, ids, due, seed):
    rng = random.Random(seed)
    ids = rng.sample(ids, len(ids))
    won = []
    while ids:
        size = rng.randint(10, 60)
        batch, ids = ids[:size], ids[size:]
        claimed = await store.claim_jobs(
            [(i, due) for i in batch], owner, due + timedelta(seconds=30), due
        )
        won.extend(claimed)
    return won

async def main(url, name, start_at, due, ids):
    store = SQLAlchemyStore(url)
    await store.initialize()
    try:
        due = datetime.fromisoformat(due)
        ids = ids.split(",")
        time.sleep(max(0.0, float(start_at) - time.time()))  # every process at once
        owners = [f"{name}-t{t}" for t in range(3)]
        results = await asyncio.gather(
            *(claim_all(store, owner, ids, due, n) for n, owner in enumerate(owners))
        )
        print(json.dumps(dict(zip(owners, results))))
    finally:
        await store.close()

asyncio.run(main(*sys.argv[1:6]))
"""


@pytest.mark.slow
async def test_overlapping_batches_from_several_processes(database_url: str) -> None:
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    try:
        due = T0
        await store.save_jobs([job(i, next_run=due) for i in JOBS])
        start_at = time.time() + 3.0  # after every interpreter has started
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                CLAIMER,
                database_url,
                f"p{n}",
                str(start_at),
                due.isoformat(),
                ",".join(JOBS),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for n in range(3)
        ]
        won: dict[str, list[str]] = {}
        for process in processes:
            stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
            assert process.returncode == 0, stderr.decode()[-4000:]
            won.update(json.loads(stdout))
        counts = Counter(i for ids in won.values() for i in ids)
        assert sorted(counts) == JOBS, "some runs were not claimed"
        assert max(counts.values()) == 1, "a run was claimed twice"
        holders = dict(await _claims(database_url, store))
        assert holders == {i: owner for owner, ids in won.items() for i in ids}
    finally:
        await store.close()
