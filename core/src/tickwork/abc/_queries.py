"""Browsing a store: jobs and execution records filtered, sorted and paged by the store.

A dashboard or an HTTP API shows one page of a large job list or of a long history at
a time. Reading every job or record into Python and paging there makes each page cost
as much as the whole table, so a store that can answer these questions itself declares
:class:`QueryableStore`. Stores without it still work: :class:`tickwork.StoreQueries`
answers the same questions over the plain :class:`~tickwork.abc.Store` methods, in
Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from .._models import ExecutionRecord
from .._query_values import ExecutionPage, ExecutionQuery, JobPage, JobQuery
from ._store import Store

__all__ = ["QueryableStore"]


@runtime_checkable
class QueryableStore(Store, Protocol):
    """A store that filters, sorts, counts and pages jobs and records itself.

    Invariants (checked by :class:`tickwork.testing.QueryContract`):

    - ``query_jobs`` and ``query_executions`` return exactly the page that
      :func:`tickwork.apply_job_query` / :func:`tickwork.apply_execution_query` would cut
      from the full lists: the same filters, the same order (ties broken by job id or
      execution id in the sort's direction), ``total`` counted before paging.
    - Text a caller passes (``JobQuery.search``, ``JobQuery.task``) is matched as
      text, never interpreted: ``%``, ``_`` and quotes in it match themselves.
      ``search`` ignores the case of the ASCII letters only (:func:`tickwork.fold_case`:
      the one folding every database does alike); ``task`` is compared exactly.
    - ``latest_executions`` takes ``per_job`` from 0 to ``MAX_PAGE`` and
      ``count_executions_by_status`` aware datetimes; anything else raises
      :class:`~tickwork.InvalidQueryError` before any I/O, as does a query of the
      wrong type.
    - Unreadable (quarantined) jobs are listed like the others, with ``unreadable``
      set, so an operator can see them; ``status`` filters never select them unless
      their stored status matches.
    - The queries never create anything (no table, bucket or schema) and never write.
    """

    async def query_jobs(self, query: JobQuery) -> JobPage:
        """One page of jobs matching ``query``, and how many match in all."""
        ...

    async def query_executions(self, query: ExecutionQuery) -> ExecutionPage:
        """One page of execution records (of one job, or of every job) matching
        ``query``, and how many match in all."""
        ...

    async def latest_executions(
        self, job_ids: Sequence[str], per_job: int
    ) -> Mapping[str, Sequence[ExecutionRecord]]:
        """The ``per_job`` most recent records (by ``start_time``, newest first) of
        each job in ``job_ids``, in one call; jobs with no record are left out."""
        ...

    async def count_executions_by_status(
        self, start_time: datetime, end_time: datetime | None = None
    ) -> Mapping[str, int]:
        """How many records of every job have ``start_time`` in ``[start_time,
        end_time)``, by status value (``"completed"``, ``"failed"``, ``"missed"``...);
        statuses with no record are left out."""
        ...
