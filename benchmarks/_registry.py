"""Every workload, by id, in table order."""

from __future__ import annotations

from . import w1_interval, w2_burst, w3_idle, w4_cold_start, w5_add, w6_interval_sqlite
from ._harness import Workload

WORKLOADS: dict[str, Workload] = {
    module.WORKLOAD.id: module.WORKLOAD
    for module in (w1_interval, w2_burst, w3_idle, w4_cold_start, w5_add, w6_interval_sqlite)
}
