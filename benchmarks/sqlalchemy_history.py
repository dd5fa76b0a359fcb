"""How fast the SQL store answers history queries over a long execution history.

    .venv/bin/python benchmarks/sqlalchemy_history.py [--records 100000] [--repeat 15]

For each database (SQLite in a temporary file, PostgreSQL and MariaDB at the test
suite's URLs, overridable with TICKWORK_TEST_POSTGRES_URL / TICKWORK_TEST_MARIADB_URL)
it bulk-loads ``--records`` execution records (80 % of them for one job, the rest
spread over twenty others), then times
``list_executions`` with the filters a dashboard uses, with and without the composite
history index ``idx_scheduler_executions_job_id_start_time``, and prints PostgreSQL's
``EXPLAIN ANALYZE`` plans so you can see the index at work.

The servers' data lives in a scratch schema (PostgreSQL) or database (MariaDB) named
``tickwork_bench``, created and dropped by this script, so nothing else is touched. A
server that does not answer is reported and skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import socket
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from tickwork import ExecutionRecord, JobStatus, QueryOptions
from tickwork_sqlalchemy_store import SQLAlchemyStore

# The bulk load goes around the store (100,000 single-row transactions would make the
# set-up, not the query, the subject); these give it exactly the store's rows and types.
from tickwork_sqlalchemy_store._rows import execution_to_row
from tickwork_sqlalchemy_store._schema import NO_PAD_BINARY_COLLATIONS, build_tables

SCHEMA = "tickwork_bench"
HOT_SHARE = 0.8
T0 = datetime(2025, 1, 1, tzinfo=UTC)
HISTORY_INDEX = "idx_scheduler_executions_job_id_start_time"

SERVERS = {
    "postgresql": os.environ.get(
        "TICKWORK_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get(
        "TICKWORK_TEST_MARIADB_URL", "mysql+aiomysql://root@127.0.0.1:3306/test"
    ),
}

# (label, job, options). "hot" holds 80 % of the history (the worst case for the job
# filter); "cold-3" is one of twenty jobs sharing the rest, about 1 % each.
QUERIES: list[tuple[str, str, QueryOptions]] = [
    (
        "hot: last 20 failures",
        "hot",
        QueryOptions(status=JobStatus.FAILED, limit=20, sort_desc=True),
    ),
    (
        "hot: 1-hour window, 50",
        "hot",
        QueryOptions(
            start_time=T0 + timedelta(hours=10), end_time=T0 + timedelta(hours=11), limit=50
        ),
    ),
    ("hot: newest 100", "hot", QueryOptions(limit=100, sort_desc=True)),
    ("hot: page at offset 50k", "hot", QueryOptions(limit=10, offset=50_000)),
    ("hot: 3 longest (no index)", "hot", QueryOptions(sort_by="duration", sort_desc=True, limit=3)),
    ("cold: newest 100", "cold-3", QueryOptions(limit=100, sort_desc=True)),
    (
        "cold: oldest 50 since 25h",
        "cold-3",
        QueryOptions(start_time=T0 + timedelta(hours=25), limit=50),
    ),
]
EXPLAINED = ("hot: last 20 failures", "cold: newest 100")


def history(records: int) -> list[dict[str, Any]]:
    hot = int(records * HOT_SHARE)
    rows = []
    for i in range(records):
        start = T0 + timedelta(seconds=i)
        rows.append(
            execution_to_row(
                ExecutionRecord(
                    job_id="hot" if i < hot else f"cold-{i % 20}",
                    execution_id=f"run-{i:07d}",
                    start_time=start,
                    end_time=start + timedelta(milliseconds=i % 997),
                    duration=timedelta(milliseconds=i % 997),
                    status=JobStatus.FAILED if i % 10 == 0 else JobStatus.COMPLETED,
                    error="boom" if i % 10 == 0 else None,
                    metadata={"n": str(i)},
                )
            )
        )
    return rows


def reachable(url: str) -> bool:
    parsed = make_url(url)
    port = parsed.port or (5432 if parsed.get_backend_name() == "postgresql" else 3306)
    try:
        with socket.create_connection((parsed.host or "127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


async def admin(url: str, *statements: str) -> None:
    engine = create_async_engine(make_url(url), poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def median_ms(call: Callable[[], Awaitable[object]], repeat: int) -> float:
    await call()  # warm caches and the connection pool
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


class Bench:
    """One database: load the history, time the queries, show plans."""

    def __init__(self, name: str, url: str, schema: str | None, records: int, repeat: int):
        self.name, self.url, self.schema = name, url, schema
        self.records, self.repeat = records, repeat
        self.statements: list[tuple[str, Any]] = []

    async def run(self) -> dict[str, dict[str, float]]:
        # The store borrows this engine, so the listener sees the SQL it sends.
        engine = create_async_engine(SQLAlchemyStore(self.url).url)
        event.listen(engine.sync_engine, "before_cursor_execute", self._remember)
        self.store = SQLAlchemyStore(engine=engine, schema=self.schema)
        await self.store.initialize()
        try:
            await self._load(engine)
            results = {"with index": await self._time_queries()}
            if self.name == "postgresql":
                await self._explain(engine)
            await self._drop_history_index(engine)
            results["without"] = await self._time_queries()
            return results
        finally:
            await self.store.close()
            await engine.dispose()

    def _remember(self, _c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.statements.append((statement, parameters))

    async def _load(self, engine: AsyncEngine) -> None:
        dialect = engine.dialect.name
        collation = NO_PAD_BINARY_COLLATIONS[0] if dialect in ("mysql", "mariadb") else None
        table = build_tables(schema=self.schema, id_collation=collation).executions
        rows = history(self.records)
        started = time.perf_counter()
        async with engine.begin() as conn:
            for offset in range(0, len(rows), 10_000):
                await conn.execute(table.insert(), rows[offset : offset + 10_000])
        async with engine.begin() as conn:  # fresh statistics, as autovacuum would keep
            name = f"{self.schema}.{table.name}" if self.schema else table.name
            await conn.execute(text(f"ANALYZE {'TABLE ' if collation else ''}{name}"))
        took = time.perf_counter() - started
        print(f"  loaded {len(rows):,} records in {took:.1f} s", flush=True)

    async def _time_queries(self) -> dict[str, float]:
        timings = {}
        for label, job_id, options in QUERIES:
            timings[label] = await median_ms(
                functools.partial(self.store.list_executions, job_id, options), self.repeat
            )
        return timings

    async def _explain(self, engine: AsyncEngine) -> None:
        for label, job_id, options in QUERIES:
            if label not in EXPLAINED:
                continue
            self.statements.clear()
            await self.store.list_executions(job_id, options)
            statement, parameters = self.statements[-1]
            async with engine.connect() as conn:
                plan = await conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + statement, parameters
                )
                print(f"\n  EXPLAIN ANALYZE, {label}:")
                for (line,) in plan:
                    print(f"    {line}")
        print()

    async def _drop_history_index(self, engine: AsyncEngine) -> None:
        qualified = f"{self.schema}.{HISTORY_INDEX}" if self.schema else HISTORY_INDEX
        async with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                await conn.execute(text(f"DROP INDEX {qualified}"))
            elif engine.dialect.name == "sqlite":
                await conn.execute(text(f"DROP INDEX {HISTORY_INDEX}"))
            else:
                table = f"{self.schema}.scheduler_executions"
                await conn.execute(text(f"DROP INDEX {HISTORY_INDEX} ON {table}"))


async def bench_server(name: str, url: str, records: int, repeat: int) -> Any:
    if not reachable(url):
        print(f"{name}: nothing answers at {make_url(url).host}; skipped")
        return None
    create, drop = (
        (f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}", f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        if name == "postgresql"
        else (f"CREATE DATABASE IF NOT EXISTS {SCHEMA}", f"DROP DATABASE IF EXISTS {SCHEMA}")
    )
    await admin(url, drop, create)
    try:
        return await Bench(name, url, SCHEMA, records, repeat).run()
    finally:
        await admin(url, drop)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    print(
        f"{args.records:,} execution records, {int(HOT_SHARE * 100)} % of them for job 'hot', "
        f"the rest for 20 'cold-*' jobs; median of {args.repeat} runs per query\n"
    )
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        print("sqlite:", flush=True)
        url = f"sqlite:///{Path(tmp) / 'history.db'}"
        results["sqlite"] = await Bench("sqlite", url, None, args.records, args.repeat).run()
    for name, server_url in SERVERS.items():
        print(f"{name}:", flush=True)
        results[name] = await bench_server(name, server_url, args.records, args.repeat)

    print(f"list_executions(job, ...) in ms, with / without the index {HISTORY_INDEX}\n")
    names = [n for n, r in results.items() if r]
    print(f"  {'query':<28}" + "".join(f"{n:>24}" for n in names))
    for label, _, _ in QUERIES:
        cells = "".join(
            f"{results[n]['with index'][label]:>12.1f} / {results[n]['without'][label]:<9.1f}"
            for n in names
        )
        print(f"  {label:<28}{cells}")


if __name__ == "__main__":
    asyncio.run(main())
