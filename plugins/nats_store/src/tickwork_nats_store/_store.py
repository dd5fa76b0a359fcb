"""The NATS JetStream KV store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext, api

from tickwork import (
    ExecutionPage,
    ExecutionQuery,
    ExecutionRecord,
    FinishOutcome,
    InvalidQueryError,
    JobData,
    JobDataAlreadyExistsError,
    JobDataNotFoundError,
    JobPage,
    JobQuery,
    JobStatus,
    QueryOptions,
    RunFinish,
    StorageNotInitializedError,
    StoreNotFoundError,
    apply_job_query,
    check_count_window,
    check_per_job,
)
from tickwork.abc import ChangedJobs

from . import _browsing as browsing
from . import _history as history
from . import _keys as keys
from ._atomic_batch import enable_atomic
from ._batched_finish import BatchedFinish
from ._bucket import Bucket, BucketSettings, Entry, open_bucket
from ._change_subject import ChangeSubject
from ._checks import (
    check_bucket_name,
    check_job,
    check_job_id,
    existing_key,
    id_too_long,
    new_job_key,
    seconds_or_none,
)
from ._connect import connect, parse_servers, shown_server, wait_for_jetstream
from ._documents import (
    encode_job,
)
from ._errors import translate_errors
from ._finishing import finish_job, finish_key_by_key, sort_finishes
from ._job_reads import JobReads
from ._job_revision import compare_and_set, job_from
from ._known_revisions import KnownRevisions
from ._multi_get import direct_reads_allowed
from ._once import DEFAULT_LOCK_BUCKET, JetStreamOnce, OnceFunc

__all__ = ["NATSStore"]


def _hide_password(url: str) -> str:
    """``nats://user:***@host:4222`` for a URL with a password: messages never show it."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


logger = logging.getLogger("tickwork.nats")

T = TypeVar("T")

DEFAULT_JOB_BUCKET = "SCHEDULER_JOBS"
DEFAULT_EXEC_BUCKET = "SCHEDULER_EXECUTIONS"
DEFAULT_ONCE_KEY = "scheduler.storage-init"

_CAS_ATTEMPTS = 25
"""Compare-and-set rounds an update or delete makes before giving up on a hot key."""


class NATSStore:
    """Jobs and execution history in JetStream KV buckets (NATS Server 2.10+ with -js).

    Give it either an existing JetStream context (``js=``: the caller owns that
    connection; the store never closes it) or server URLs (``servers=``: the store
    connects in :meth:`initialize` and disconnects in :meth:`close`)::

        store = NATSStore("nats://127.0.0.1:4222")
        store = NATSStore(js=nc.jetstream())
        store = tickwork.create_store("nats://127.0.0.1:4222")

    Jobs live in ``job_bucket``, execution records and their id index in
    ``exec_bucket``; ids of any shape are escaped into key tokens (see
    ``docs/stores/nats.md`` for the layout and the JSON documents). Missing buckets are
    created on the first ``initialize()``, serialized across processes by ``once``.

    It answers the browsing queries (:class:`tickwork.abc.QueryableStore`), but KV has
    no server-side query: NATS pages in Python, over one scan of the keys involved
    (all jobs; one job's records, or every record), so a page costs as much as that
    scan. A dashboard over a large history is faster on a SQL store.

    :param servers: one URL, a comma-separated string or a list (``nats://``,
        ``tls://``); default ``nats://127.0.0.1:4222``. Not with ``js``.
    :param js: a nats-py JetStream context to use instead of connecting.
    :param job_bucket: KV bucket for jobs.
    :param exec_bucket: KV bucket for execution records.
    :param once_lock_bucket: KV bucket of the built-in :class:`JetStreamOnce` lock
        (shared with the NATS trigger).
    :param once_key: the key handed to ``once``; keep it distinct from the trigger's.
    :param once: a custom :data:`OnceFunc` that serializes first-time bucket creation.
    :param jetstream_ready_timeout: seconds ``initialize()`` waits for JetStream to
        answer (a new cluster elects its meta leader first); ``0`` tries once.
    :param connect_timeout: seconds ``initialize()`` keeps trying to reach a server
        before raising :class:`tickwork.StorageConnectionError` (``servers=`` only).
    :param request_timeout: seconds each JetStream request waits for its answer
        (``servers=`` only; with ``js=`` the context's own timeout applies to requests,
        and this one to scans).
    :param reconnect_time_wait: seconds between reconnection attempts to one server.
    :param replicas: replicas of buckets the store creates (3 or 5 in a cluster).
    :param storage: ``"file"`` (survives a restart) or ``"memory"``, for new buckets.
    :param max_value_size: largest document, in bytes, new buckets accept.
    :param job_max_bytes: size limit of a new job bucket (writes fail beyond it).
    :param exec_max_bytes: size limit of a new execution bucket.
    :param exec_ttl: age after which the server drops execution records (and their
        index entries) by itself; ``None`` keeps them until ``delete_executions``.
    :param connect_options: extra keyword arguments for
        :meth:`nats.aio.client.Client.connect` (``tls``, ``user_credentials``,
        ``token``, ``user``/``password``, …) (``servers=`` only).
    :param create: whether :meth:`initialize` creates missing buckets. ``False`` opens
        only existing ones, for callers that only read (``tickwork jobs list``, the
        source of ``tickwork migrate``): a missing bucket raises
        :class:`tickwork.StoreNotFoundError` and nothing is created (not even the lock
        bucket).
    """

    def __init__(
        self,
        servers: str | Sequence[str] | None = None,
        *,
        js: JetStreamContext | None = None,
        job_bucket: str = DEFAULT_JOB_BUCKET,
        exec_bucket: str = DEFAULT_EXEC_BUCKET,
        once_lock_bucket: str = DEFAULT_LOCK_BUCKET,
        once_key: str = DEFAULT_ONCE_KEY,
        once: OnceFunc | None = None,
        jetstream_ready_timeout: float = 30.0,
        connect_timeout: float = 5.0,
        request_timeout: float = 5.0,
        reconnect_time_wait: float = 1.0,
        replicas: int = 1,
        storage: Literal["file", "memory"] = "file",
        max_value_size: int | None = None,
        job_max_bytes: int | None = None,
        exec_max_bytes: int | None = None,
        exec_ttl: timedelta | float | None = None,
        connect_options: Mapping[str, Any] | None = None,
        create: bool = True,
    ) -> None:
        if js is not None and servers is not None:
            raise ValueError("pass either servers=... or js=..., not both")
        for label, name in (
            ("job_bucket", job_bucket),
            ("exec_bucket", exec_bucket),
            ("once_lock_bucket", once_lock_bucket),
        ):
            check_bucket_name(label, name)
        if job_bucket == exec_bucket:
            raise ValueError("job_bucket and exec_bucket must be different buckets")
        if not isinstance(replicas, int) or not 1 <= replicas <= 5:
            raise ValueError(f"replicas must be an int from 1 to 5, got {replicas!r}")
        if storage not in ("file", "memory"):
            raise ValueError(f"storage must be 'file' or 'memory', got {storage!r}")
        if not once_key:
            raise ValueError("once_key must be a non-empty string")
        for label, value in (
            ("jetstream_ready_timeout", jetstream_ready_timeout),
            ("connect_timeout", connect_timeout),
            ("request_timeout", request_timeout),
            ("reconnect_time_wait", reconnect_time_wait),
        ):
            if not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{label} must be a number of seconds >= 0, got {value!r}")
        if request_timeout <= 0 or connect_timeout <= 0:
            raise ValueError("connect_timeout and request_timeout must be greater than 0")

        self.servers: tuple[str, ...] = () if js is not None else parse_servers(servers)
        self.job_bucket = job_bucket
        self.exec_bucket = exec_bucket
        self.once_lock_bucket = once_lock_bucket
        self.once_key = once_key
        self._given_js = js
        self._once = once
        self._jetstream_ready_timeout = float(jetstream_ready_timeout)
        self._connect_timeout = float(connect_timeout)
        self._request_timeout = float(request_timeout)
        self._reconnect_time_wait = float(reconnect_time_wait)
        self._connect_options = dict(connect_options or {})
        self._create = bool(create)
        self._replicas = replicas
        kind = api.StorageType.FILE if storage == "file" else api.StorageType.MEMORY
        self._job_settings = BucketSettings(
            replicas=replicas,
            storage=kind,
            max_value_size=max_value_size,
            max_bytes=job_max_bytes,
            description="tickwork jobs",
        )
        self._exec_settings = BucketSettings(
            replicas=replicas,
            storage=kind,
            max_value_size=max_value_size,
            max_bytes=exec_max_bytes,
            ttl=seconds_or_none("exec_ttl", exec_ttl),
            description="tickwork execution records",
        )

        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._jobs: Bucket | None = None
        self._execs: Bucket | None = None
        self._lock = asyncio.Lock()
        self._changes = ChangeSubject(job_bucket)
        self._revisions = KnownRevisions()
        self._batched: BatchedFinish | None = None
        self._job_reads: JobReads | None = None

    #: Job changes are pushed to other processes on a core NATS subject
    #: (:class:`tickwork.abc.ChangeSignalingStore`).
    signals_changes = True

    #: Every id of this many characters fits a key, whatever they are: a KV key holds
    #: 1500 characters, and a character outside A-Z a-z 0-9 - _ takes 3 per UTF-8 byte
    #: (12 for a 4-byte one). Plain ASCII ids may be up to 1500 characters
    #: (:class:`tickwork.abc.IdLimitedStore`; :meth:`id_too_long` says exactly).
    max_id_length = keys.MAX_TOKEN_LENGTH // 12

    def id_too_long(self, job_id: str) -> str | None:
        """Why ``job_id`` makes a key longer than JetStream takes, or None."""
        return id_too_long(job_id)

    def __repr__(self) -> str:
        servers = [shown_server(url) for url in self.servers]
        where = "js=<given>" if self._given_js is not None else f"servers={servers!r}"
        state = "ready" if self._jobs is not None else "not initialized"
        return (
            f"NATSStore({where}, job_bucket={self.job_bucket!r}, "
            f"exec_bucket={self.exec_bucket!r}, {state})"
        )

    # -- connection, for components that share it (the NATS trigger) ------------------

    @property
    def owns_connection(self) -> bool:
        """True when the store opened its connection itself (``servers=``)."""
        return self._given_js is None

    @property
    def jetstream(self) -> JetStreamContext:
        """The JetStream context the store uses.

        :raises StorageNotInitializedError: the store opens its own connection and
            :meth:`initialize` has not run (or :meth:`close` did).
        """
        js = self._given_js or self._js
        if js is None:
            raise StorageNotInitializedError("NATSStore")
        return js

    @property
    def connection(self) -> Client:
        """The NATS connection under :attr:`jetstream` (the caller's, with ``js=``).

        :raises StorageNotInitializedError: as for :attr:`jetstream`.
        """
        nc: Client = self.jetstream._nc
        return nc

    # -- lifecycle ------------------------------------------------------------------------

    async def initialize(self) -> None:
        async with self._lock:
            if self._jobs is not None:
                return
            js = self._given_js
            if js is None:
                self._nc = await connect(
                    self.servers,
                    timeout=self._connect_timeout,
                    reconnect_time_wait=self._reconnect_time_wait,
                    options=self._connect_options,
                )
                js = self._nc.jetstream(timeout=self._request_timeout)
            try:
                await wait_for_jetstream(js, self._jetstream_ready_timeout)
                with translate_errors(f"open KV buckets {self.job_bucket}, {self.exec_bucket}"):
                    jobs, execs = await self._open_buckets(js)
            except BaseException:
                await self._disconnect()
                raise
            self._js, self._jobs, self._execs = js, jobs, execs
            self._batched = await self._batched_finish(js, jobs, execs)
            self._job_reads = await self._batched_reads(js, jobs)
            if self._job_reads is not None:
                jobs.direct_scans = js._nc
            if await direct_reads_allowed(js, execs.stream, create=self._create):
                execs.direct_scans = js._nc
            logger.debug("NATSStore ready (buckets %s, %s)", self.job_bucket, self.exec_bucket)

    async def _batched_finish(
        self, js: JetStreamContext, jobs: Bucket, execs: Bucket
    ) -> BatchedFinish | None:
        """Atomic batches for ``finish_runs`` when the server and buckets allow them.

        Not for a read-only store (turning them on changes the buckets' settings), nor
        with ``exec_ttl`` (an index entry is rewritten with each save there).
        """
        if not self._create or self._exec_settings.ttl is not None:
            return None
        nc: Client = js._nc
        server = nc.connected_server_version
        version = (server.major, server.minor)
        for bucket in (jobs, execs):
            if not await enable_atomic(js, bucket.stream, version):
                return None
        return BatchedFinish(
            nc=nc,
            jobs=jobs,
            execs=execs,
            revisions=self._revisions,
            timeout=self._request_timeout,
            save_one=self.save_execution,
            finish_one=lambda job_id, some: finish_job(jobs, job_id, some, _CAS_ATTEMPTS),
        )

    async def _batched_reads(self, js: JetStreamContext, jobs: Bucket) -> JobReads | None:
        """Batched job reads where the job bucket has one replica (:mod:`._job_reads`);
        a read-only store uses them only if the bucket allows them already."""
        allowed = await direct_reads_allowed(js, jobs.stream, create=self._create)
        return JobReads(js._nc, jobs, self._request_timeout) if allowed else None

    async def _open_buckets(self, js: JetStreamContext) -> tuple[Bucket, Bucket]:
        try:
            # Steady state: both buckets exist, two metadata lookups and no lock.
            return (
                await open_bucket(js, self.job_bucket, None),
                await open_bucket(js, self.exec_bucket, None),
            )
        except nats.js.errors.BucketNotFoundError:
            if not self._create:
                raise await self._not_found(js) from None

        async def provision() -> None:
            await open_bucket(js, self.job_bucket, self._job_settings)
            await open_bucket(js, self.exec_bucket, self._exec_settings)

        once = self._once or JetStreamOnce(
            js, bucket=self.once_lock_bucket, replicas=self._replicas
        )
        await once(self.once_key, provision)
        # After the once (run here or by a peer) the buckets exist; creating them again
        # covers a lock that remembered an old "done" while the buckets were deleted.
        return (
            await open_bucket(js, self.job_bucket, self._job_settings),
            await open_bucket(js, self.exec_bucket, self._exec_settings),
        )

    async def _not_found(self, js: JetStreamContext) -> StoreNotFoundError:
        """The error for missing buckets under ``create=False``, naming each one."""
        missing = []
        for name in (self.job_bucket, self.exec_bucket):
            try:
                await js.key_value(name)
            except nats.js.errors.BucketNotFoundError:
                missing.append(name)
        where = (
            ", ".join(_hide_password(url) for url in self.servers)
            if self.servers
            else "the given JetStream connection"
        )
        return StoreNotFoundError(
            f"no tickwork store on NATS {where}: KV bucket(s) {', '.join(missing)} missing; "
            "they are created by `tickwork run`, by adding a job (`tickwork jobs add`), or "
            "by any store opened with create=True"
        )

    async def close(self) -> None:
        async with self._lock:
            self._jobs = self._execs = None
            self._js = None
            self._batched = self._job_reads = None
            await self._disconnect()

    async def _disconnect(self) -> None:
        nc, self._nc = self._nc, None
        if nc is not None:
            try:
                await nc.close()
            except Exception:  # closing is best effort: the data is on the server
                logger.warning("closing the NATS connection failed", exc_info=True)

    # -- pushed changes -------------------------------------------------------------------

    async def signal_changes(self, job_ids: Collection[str] | None = None) -> None:
        self._buckets()  # initialized
        await self._changes.signal(self.connection, job_ids)

    @contextlib.asynccontextmanager
    async def listen_for_changes(self) -> AsyncIterator[AsyncIterator[ChangedJobs]]:
        self._buckets()
        async with self._changes.listen(self.connection) as signals:
            yield signals

    def _buckets(self) -> tuple[Bucket, Bucket]:
        jobs, execs = self._jobs, self._execs
        if jobs is None or execs is None:
            raise StorageNotInitializedError("NATSStore")
        return jobs, execs

    async def health_check(self) -> None:
        jobs, _ = self._buckets()
        with translate_errors(f"read the status of bucket {jobs.name}"):
            await jobs.status()

    # -- jobs -----------------------------------------------------------------------------

    async def save_job(self, job: JobData) -> None:
        jobs, _ = self._buckets()
        check_job(job)
        key = new_job_key(job.id)
        with translate_errors(f"save job {job.id!r}"):
            created = await jobs.create(key, encode_job(job))
        if created is None:
            raise JobDataAlreadyExistsError(job.id)
        self._revisions.note(job.id, created, job.updated_at)

    async def update_job(self, job: JobData) -> None:
        await self._update(job, None)

    async def update_job_if(self, job: JobData, updated_at: datetime) -> bool:
        """Overwrite the job if its stored ``updated_at`` is still ``updated_at``
        (:class:`tickwork.abc.ConditionalUpdateStore`): the time is checked on the
        revision read, and the write is conditional on that revision."""
        return await self._update(job, updated_at)

    async def _update(self, job: JobData, seen: datetime | None) -> bool:
        """Write ``job`` over the stored one (only while its ``updated_at`` is ``seen``,
        when given); whether it was written."""
        jobs, _ = self._buckets()
        check_job(job)
        key = existing_key(keys.job_key, job.id)
        if key is None:
            raise JobDataNotFoundError(job.id)
        value = encode_job(job)
        written = False
        self._revisions.forget(job.id)

        async def write(entry: Entry) -> None:
            nonlocal written
            if seen is None or job_from(jobs, entry, job.id).updated_at == seen:
                await jobs.update(key, value, entry.revision)
                written = True

        await compare_and_set(jobs, key, job.id, write, "update", attempts=_CAS_ATTEMPTS)
        return written

    async def finish_runs(self, finishes: Sequence[RunFinish]) -> list[FinishOutcome]:
        """Save each finish's records and write its job (on condition of ``seen``)
        (:class:`tickwork.abc.FinishingStore`).

        On NATS Server 2.12+ the records go as one atomic batch and the jobs as
        another, each job on condition of the revision it was last read at
        (:mod:`._batched_finish`): two round trips whatever the call holds; otherwise
        key by key, all at once (:mod:`._finishing`). KV has no transaction over
        several buckets, so a call is not atomic: a failure can leave some records or
        jobs written and others not, which the call made again repairs (records replace
        records, job writes are idempotent). The store keeps no claims (workers share
        it through the NATS trigger), so ``release_owner`` has nothing to drop.

        :raises InvalidJobDataError: a finish no bucket can hold; nothing was written.
        """
        jobs, _ = self._buckets()
        records, by_job = sort_finishes(finishes)
        if self._batched is not None:
            return await self._batched.apply(finishes, records, by_job)
        return await finish_key_by_key(
            finishes,
            records,
            by_job,
            save=self.save_execution,
            finish_one=lambda job_id, some: finish_job(jobs, job_id, some, _CAS_ATTEMPTS),
        )

    async def delete_job(self, job_id: str) -> None:
        jobs, _ = self._buckets()
        check_job_id(job_id)
        key = existing_key(keys.job_key, job_id)
        if key is None:
            raise JobDataNotFoundError(job_id)

        self._revisions.forget(job_id)

        async def write(entry: Entry) -> None:
            await jobs.delete(key, entry.revision)

        await compare_and_set(jobs, key, job_id, write, "delete", attempts=_CAS_ATTEMPTS)

    async def get_job(self, job_id: str) -> JobData:
        jobs, _ = self._buckets()
        check_job_id(job_id)
        key = existing_key(keys.job_key, job_id)
        if key is None:
            raise JobDataNotFoundError(job_id)
        with translate_errors(f"get job {job_id!r}"):
            reads = self._job_reads
            entry = await (jobs.get(key) if reads is None else reads.get(key))
        if entry is None:
            raise JobDataNotFoundError(job_id)
        job = job_from(jobs, entry, job_id)
        if job.unreadable is None:
            self._revisions.note(job_id, entry.revision, job.updated_at)
        return job

    async def list_jobs(self) -> list[JobData]:
        jobs, _ = self._buckets()
        with translate_errors(f"list the jobs in bucket {jobs.name}"):
            entries = await jobs.scan(keys.all_jobs_filter(), timeout=self._request_timeout)
        found = [job_from(jobs, e) for e in entries]
        found.sort(key=lambda j: j.id)
        return found

    async def list_jobs_by_status(self, status: JobStatus) -> list[JobData]:
        wanted = JobStatus(status)
        return [j for j in await self.list_jobs() if j.status == wanted]

    # -- executions -------------------------------------------------------------------------

    async def save_execution(self, record: ExecutionRecord) -> None:
        _, execs = self._buckets()
        await history.save_execution(execs, record, expires=self._exec_settings.ttl is not None)

    async def get_execution(self, execution_id: str) -> ExecutionRecord:
        _, execs = self._buckets()
        return await history.get_execution(execs, execution_id)

    async def list_executions(
        self, job_id: str, options: QueryOptions | None = None
    ) -> list[ExecutionRecord]:
        opts = (options or QueryOptions()).validate()
        _, execs = self._buckets()
        return await history.list_executions(execs, job_id, opts, timeout=self._request_timeout)

    async def last_saved_execution(self, job_id: str) -> ExecutionRecord | None:
        _, execs = self._buckets()
        return await history.last_saved_execution(execs, job_id, timeout=self._request_timeout)

    async def delete_executions(self, job_id: str | None, before: datetime) -> None:
        _, execs = self._buckets()
        await history.delete_executions(execs, job_id, before, timeout=self._request_timeout)

    # -- browsing (tickwork.abc.QueryableStore): paged in Python, see _browsing -------------

    async def query_jobs(self, query: JobQuery) -> JobPage:
        """One scan of the job bucket, filtered, sorted and paged in Python."""
        if not isinstance(query, JobQuery):
            raise InvalidQueryError("query", query, "must be a JobQuery")
        return apply_job_query(await self.list_jobs(), query)

    async def query_executions(self, query: ExecutionQuery) -> ExecutionPage:
        if not isinstance(query, ExecutionQuery):
            raise InvalidQueryError("query", query, "must be an ExecutionQuery")
        _, execs = self._buckets()
        return await browsing.query_records(execs, query, timeout=self._request_timeout)

    async def latest_executions(
        self, job_ids: Sequence[str], per_job: int
    ) -> Mapping[str, Sequence[ExecutionRecord]]:
        check_per_job(per_job)
        _, execs = self._buckets()
        return await browsing.latest_records(execs, job_ids, per_job, timeout=self._request_timeout)

    async def count_executions_by_status(
        self, start_time: datetime, end_time: datetime | None = None
    ) -> Mapping[str, int]:
        start, end = check_count_window(start_time, end_time)
        _, execs = self._buckets()
        return await browsing.count_records(execs, start, end, timeout=self._request_timeout)


# -- helpers ------------------------------------------------------------------------------
