"""Every workload, by id, in table order, and the groups ``--workloads`` accepts.

Each variant follows its base workload: W1, W1-tasks, W1-pg, W1-mariadb, W1-nats,
W1-nats-trig1, W1-nats-trig3, W2, ... Only the base workloads W1-W6 run by default;
the variants on servers (``benchmarks/backends.py``, ``benchmarks/nats_trigger.py``),
W1-tasks (W1 through a registered task, ``benchmarks/w1_tasks.py``, group ``tasks``),
W1-events (W1 with a subscriber to every event, ``benchmarks/w1_events.py``, group
``events``), W1-otel (W1 with the OpenTelemetry instrument, ``benchmarks/w1_otel.py``,
group ``otel``) and W7 (several processes on one SQL database, ``benchmarks/w7_multi.py``: W7-pg,
W7-mariadb, group ``w7``) are selected by id or by group, as are W8 (a million jobs,
``benchmarks/w8_scale.py``: W8-mem, W8-sqlite, W8-pg, group ``w8``), W9 (group ``push``) and
W10 (the web dashboard's pages over a large store, ``benchmarks/w10_web.py``, group ``web``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from . import (
    aps4_side,
    backends,
    nats_trigger,
    w1_events,
    w1_interval,
    w1_otel,
    w1_tasks,
    w2_burst,
    w3_idle,
    w4_cold_start,
    w5_add,
    w6_interval_sqlite,
    w7_multi,
    w8_scale,
    w9_push,
    w10_web,
)
from ._harness import Workload

_BASE = [
    module.WORKLOAD
    for module in (w1_interval, w2_burst, w3_idle, w4_cold_start, w5_add, w6_interval_sqlite)
]
_VARIANTS = [
    w1_tasks.WORKLOAD,
    w1_events.WORKLOAD,
    w1_otel.WORKLOAD,
    *backends.WORKLOADS,
    *nats_trigger.WORKLOADS,
]


def _table_order() -> list[Workload]:
    ordered: list[Workload] = []
    for base in _BASE:
        ordered.append(base)
        ordered += [v for v in _VARIANTS if v.id.partition("-")[0] == base.id]
    return [
        *ordered,
        *w7_multi.WORKLOADS,
        *w8_scale.WORKLOADS,
        *w9_push.WORKLOADS,
        *w10_web.WORKLOADS,
    ]


def _with_aps4(workload: Workload) -> Workload:
    """The workload with APScheduler 4's side where it runs (``aps4_side.WORKLOAD_IDS``):
    it skips what 3.11 skips (W5's bulk cases: neither has a bulk add) and prepares
    where 3.11 prepares (W4's database)."""
    if workload.id not in aps4_side.WORKLOAD_IDS:
        return workload
    skip = {("apscheduler4", case) for side, case in workload.skip if side == "apscheduler"}
    prepare = {"apscheduler4"} if "apscheduler" in workload.prepare else set()
    return replace(
        workload,
        sides=(*workload.sides, "apscheduler4"),
        skip=workload.skip | skip,
        prepare=workload.prepare | prepare,
    )


WORKLOADS: dict[str, Workload] = {w.id: _with_aps4(w) for w in _table_order()}


def _groups() -> dict[str, tuple[str, ...]]:
    groups: dict[str, list[str]] = {"default": [w.id for w in WORKLOADS.values() if w.default]}
    for workload in WORKLOADS.values():
        for group in workload.groups:
            groups.setdefault(group, []).append(workload.id)
    groups["all"] = list(WORKLOADS)
    return {name: tuple(ids) for name, ids in groups.items()}


GROUPS: dict[str, tuple[str, ...]] = _groups()
"""``default`` (W1-W6), ``backends`` (every variant on a server), ``pg``, ``mariadb``,
``nats-store``, ``nats-trigger``, ``tasks``, ``events``, ``otel``, ``w7``, and ``all``."""


def select(names: Iterable[str]) -> tuple[list[str], list[str]]:
    """The workload ids that ``names`` (ids and groups, any case) stand for, in the
    order given, each once; and the names that match nothing."""
    by_name = {key.lower(): key for key in WORKLOADS}
    chosen: list[str] = []
    unknown: list[str] = []
    for name in names:
        key = name.lower()
        found = GROUPS.get(key) or ((by_name[key],) if key in by_name else None)
        if found is None:
            unknown.append(name)
            continue
        chosen += [workload_id for workload_id in found if workload_id not in chosen]
    return chosen, unknown
