"""W1, W2, W4 and W5 on PostgreSQL, MariaDB and the NATS KV store (opt-in variants).

    .venv/bin/python -m benchmarks --workloads backends        # every variant, stores and trigger
    .venv/bin/python -m benchmarks --workloads pg,mariadb      # the SQL servers only
    .venv/bin/python -m benchmarks --workloads nats-store      # the NATS KV store only
    .venv/bin/python -m benchmarks --workloads W1,W1-pg,W1-nats --repeat 5
    .venv/bin/python -m benchmarks --workloads all             # the default run plus all this

**One workload id per (workload, store)**: ``W1-pg``, ``W1-mariadb``, ``W1-nats``, and
so on for W2, W4 and W5. Cases would not do: the figures of a workload's cases are
merged into one set of rows, so three stores as cases of W1 would need three copies of
every figure key interleaved in one block. As ids of their own, each variant prints a
block of the same shape as its base workload (same figures, same labels), right under
it in the table (W1, W1-pg, W1-mariadb, W1-nats, W1-nats-trig1, W1-nats-trig3, W2, ...),
so a figure reads across stores down the page; and ``--workloads`` selects them one by
one or by group (``pg``, ``mariadb``, ``nats-store``, ``nats-trigger``, ``backends``,
``all``). They are not part of the default run, which stays as long as before.

The run functions are the base workloads' own, switched by ``params["store"]``
(``benchmarks/_common.py``: ``tickwork_store``, ``aps_jobstores``). What differs:

- **Fresh namespaces.** The runner makes a PostgreSQL schema, a MariaDB database or a
  whole nats-server for every child process and removes it afterwards
  (``benchmarks/_services.py``), so no measurement sees another's jobs. A server that
  cannot be reached makes the variant *unavailable* (with how to provide it) instead of
  failing the run. W4's prepare step runs before every measurement, into its namespace.
- **tickwork keeps its defaults**: ``create_store(url, schema=...)``; the SQL stores are
  ``shared``, so every run is claimed in ``scheduler_claims`` (what a deployment of
  several processes needs, and what a single one pays for it); the NATS KV store does
  not claim (with the local trigger, one process).
- **APScheduler**: its ``SQLAlchemyJobStore`` (synchronous) on MariaDB through PyMySQL,
  which the SQL store's ``aiomysql`` brings along, and on PostgreSQL through psycopg 3
  (a benchmark-only dependency of the workspace; psycopg2 is used instead when it is
  installed). Without either, its column says so. It has no NATS store, so the NATS
  rows are tickwork's only. APScheduler keeps no run history, hence no record
  figures.
- **Targets**: the base workloads' targets are for memory and SQLite; none is set for
  the servers, except the correctness ones (every due run done and recorded, none
  dropped).
- **The NATS server's CPU** over W1's window is reported too (it serves this one
  measurement; the SQL servers are shared by the machine and are not measured).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from . import w1_interval, w2_burst, w4_cold_start, w5_add
from ._harness import DEFAULT_SIDES, Metric, Params, Workload

STORES = {
    # store kind: (id suffix, title, short name, groups)
    "postgresql": ("pg", "PostgreSQL", "PostgreSQL", ("pg",)),
    "mariadb": ("mariadb", "MariaDB", "MariaDB", ("mariadb",)),
    "nats": ("nats", "the NATS KV store", "NATS KV", ("nats-store",)),
}
TICKWORK_SIDES = ("tickwork", "tickwork-async")
CORRECTNESS = frozenset({"runs_pct", "records_pct", "dropped"})

SERVER_CPU = Metric(
    "server_cpu_pct",
    "nats-server CPU, % of one core",
    "%",
    digits=1,
    sides=TICKWORK_SIDES,
)


def _sides(store: str) -> tuple[str, ...]:
    return TICKWORK_SIDES if store == "nats" else DEFAULT_SIDES


def _metrics(metrics: tuple[Metric, ...]) -> tuple[Metric, ...]:
    """The base workload's figures, with the performance targets taken off."""
    return tuple(m if m.key in CORRECTNESS else replace(m, target=None) for m in metrics)


def _with_store(
    base: Callable[[float, float | None], Params], store: str
) -> Callable[[float, float | None], Params]:
    def params(scale: float, duration: float | None) -> Params:
        return dict(base(scale, duration), store=store)

    return params


def _w5_metrics(store: str, name: str) -> tuple[Metric, ...]:
    return (
        Metric(f"add_{store}_per_s", f"add_job, {name} store", "/s", better="higher", digits=0),
        Metric(
            f"bulk_{store}_per_s",
            f"add_jobs (bulk), {name} store",
            "/s",
            better="higher",
            digits=0,
            sides=TICKWORK_SIDES,
        ),
    )


def variants(store: str) -> list[Workload]:
    """W1, W2, W4 and W5 on ``store`` (``postgresql``, ``mariadb`` or ``nats``)."""
    suffix, title, short, groups = STORES[store]
    w1_metrics = _metrics(w1_interval.METRICS)
    if store == "nats":
        w1_metrics = (*w1_metrics, SERVER_CPU)
    no_aps = "" if store != "nats" else " APScheduler has no NATS job store."
    workloads = [
        Workload(
            id=f"W1-{suffix}",
            title=f"W1 on {title}",
            module="w1_interval",
            metrics=w1_metrics,
            params=_with_store(w1_interval.params, store),
            timeout=300.0,
            notes=f"1,000 jobs on a fixed 1 s grid; every run is written to {title}.{no_aps}",
        ),
        Workload(
            id=f"W2-{suffix}",
            title=f"W2 on {title}",
            module="w2_burst",
            metrics=_metrics(w2_burst.METRICS),
            params=_with_store(w2_burst.params, store),
            timeout=400.0,
            notes=f"10,000 one-off jobs due at once, in {title}.{no_aps}",
        ),
        Workload(
            id=f"W4-{suffix}",
            title=f"cold start over jobs persisted in {title}",
            module="w4_cold_start",
            metrics=_metrics(w4_cold_start.METRICS),
            params=_with_store(w4_cold_start.params, store),
            prepare=frozenset(_sides(store)),
            timeout=300.0,
            notes=f"10,000 hourly jobs in {title}, 10 overdue; prepared before every run.{no_aps}",
        ),
        Workload(
            id=f"W5-{suffix}",
            title=f"add jobs to a running scheduler, {title}",
            module="w5_add",
            metrics=_w5_metrics(store, short),
            params=w5_add.params,
            cases=(store, f"{store}-bulk"),
            skip=frozenset({("apscheduler", f"{store}-bulk")}),
            timeout=600.0,
            notes=f"10,000 hourly interval jobs into {title}, one by one and in bulk.{no_aps}",
        ),
    ]
    return [
        replace(
            w,
            sides=_sides(store),
            service=store,
            default=False,
            groups=("backends", *groups),
        )
        for w in workloads
    ]


WORKLOADS: list[Workload] = [w for store in STORES for w in variants(store)]
