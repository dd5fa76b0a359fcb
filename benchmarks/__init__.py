"""Benchmarks of tickwork side by side with APScheduler 3.11 and 4.0.0a6.

Run ``python -m benchmarks --help`` from the repository root. Each measurement runs in
a fresh subprocess; see ``docs/performance.md`` for the workloads and the latest table.
"""
