"""The reference library's schema (GORM models ``JobDataModel``/``ExecutionRecordModel``),
rebuilt with SQLAlchemy Core so both libraries can read and write the same tables, plus
two tables of tickwork's own for schedulers that share the store (``scheduler_claims``,
``scheduler_workers``).

Column names, sizes and index names are the ones GORM derives from the Go structs
(``idx_<table>_<column>``). Two things are added: a composite index that serves the
history query (``job_id`` equal, ordered by ``start_time``), and, on MySQL/MariaDB, a
``NO PAD`` binary collation on the id columns so ids compare exactly (``job``, ``Job``
and ``job `` are three jobs; GORM's default would merge them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    DateTime,
    Dialect,
    Index,
    MetaData,
    String,
    Table,
    Text,
    any_,
    bindparam,
    case,
    cast,
    literal_column,
    null,
    or_,
    type_coerce,
)
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.sql.expression import Grouping
from sqlalchemy.types import NullType, TypeDecorator, TypeEngine

__all__ = [
    "CLAIMS_TABLE",
    "EXECUTIONS_TABLE",
    "IDS_PER_STATEMENT",
    "ID_LENGTH",
    "JOBS_TABLE",
    "JOB_ID_ORDER_INDEX",
    "NEVER_BEFORE",
    "NEXT_RUN_ORDER_INDEX",
    "NO_PAD_BINARY_COLLATIONS",
    "SCHEDULE_TYPE_LENGTH",
    "STATUS_LENGTH",
    "WORKERS_TABLE",
    "Tables",
    "UTCDateTime",
    "build_tables",
    "chunks",
    "ids_in",
    "job_columns",
    "run_time_order",
]

JOBS_TABLE = "scheduler_jobs"
EXECUTIONS_TABLE = "scheduler_executions"
CLAIMS_TABLE = "scheduler_claims"
WORKERS_TABLE = "scheduler_workers"
ID_LENGTH = 255
SCHEDULE_TYPE_LENGTH = 50
STATUS_LENGTH = 20

#: Binary utf8mb4 collations that do not ignore trailing spaces, best first: MariaDB
#: 10.2+ has the first, MySQL 8.0.17+ the second. Plain ``utf8mb4_bin`` pads, so it
#: would make ``job`` and ``job `` the same primary key.
NO_PAD_BINARY_COLLATIONS: tuple[str, ...] = ("utf8mb4_nopad_bin", "utf8mb4_0900_bin")

_MYSQL = ("mysql", "mariadb")

#: Ids per ``IN (...)`` list: far below every driver's limit on bound parameters
#: (SQLite 32766, asyncpg 32767), and short enough to stay a cheap index probe.
IDS_PER_STATEMENT = 500


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC with microseconds and always read back aware.

    PostgreSQL gets ``timestamp with time zone`` (what GORM creates for ``time.Time``).
    MySQL/MariaDB get ``DATETIME(6)``: its default precision is whole seconds. SQLite
    keeps SQLAlchemy's fixed-width text form, which sorts like the times it holds.
    Zones other than PostgreSQL's store naive UTC, so a session time zone never shifts
    a value.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in _MYSQL:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: PostgreSQL only: the job ids in code-point order. Pages of jobs sort by ``id COLLATE
#: "C"`` (``_queries``: Python's order, whatever the database's locale), an order the
#: primary key's index, in the database's default collation, cannot give: without this
#: index each page of a million jobs sorted every row (0.3 s) before keeping 50.
JOB_ID_ORDER_INDEX = f"idx_{JOBS_TABLE}_id_code_points"


#: PostgreSQL only: the jobs in ``next_run`` order as pages sort them
#: (:func:`run_time_order`), so that "the next jobs due" out of a million reads a few
#: index entries instead of sorting every row (0.3-1 s).
NEXT_RUN_ORDER_INDEX = f"idx_{JOBS_TABLE}_next_run_order"

#: Times before this are the Go library's "never" (``time.Time{}``, year 1).
NEVER_BEFORE = datetime(2, 1, 1, tzinfo=UTC)
#: The same instant as SQL text, for PostgreSQL's order keys: an index serves an ORDER
#: BY only when its expressions are the same, constants included, and a bound
#: parameter is not a constant.
_NEVER_BEFORE_SQL = "TIMESTAMPTZ '0002-01-01 00:00:00+00'"


def run_time_order(column: ColumnElement[Any], dialect: str) -> list[ColumnElement[Any]]:
    """The sort keys of a run time (``next_run``, ``last_run``): jobs without one (no
    time, or the Go library's year-1 "never") after the others in ascending order, by
    a flag rather than by each dialect's NULL placement, then the time.

    On PostgreSQL the constants are SQL text (see :data:`_NEVER_BEFORE_SQL`), so that
    :data:`NEXT_RUN_ORDER_INDEX`, built from the same keys, serves the order.
    """
    if dialect == "postgresql":
        never = or_(column.is_(None), column < literal_column(_NEVER_BEFORE_SQL))
        flag = case((never, literal_column("1")), else_=literal_column("0"))
    else:
        never = or_(column.is_(None), column < NEVER_BEFORE)
        flag = case((never, 1), else_=0)
    return [flag, case((never, null()), else_=column)]


class Tables(NamedTuple):
    """The tables of one store, and the metadata that creates them."""

    metadata: MetaData
    jobs: Table
    executions: Table
    claims: Table
    workers: Table


def build_tables(
    *, schema: str | None = None, id_collation: str | None = None, dialect: str | None = None
) -> Tables:
    """Declare both tables.

    :param schema: the PostgreSQL schema or MySQL database holding them (``None``: the
        connection's default), so several services can share one database.
    :param id_collation: on MySQL/MariaDB, the binary ``NO PAD`` collation for the id
        columns and the tables' default (see :data:`NO_PAD_BINARY_COLLATIONS`).
    :param dialect: the database's dialect name; PostgreSQL gets two indexes more for
        pages of jobs (:data:`JOB_ID_ORDER_INDEX`, :data:`NEXT_RUN_ORDER_INDEX`). They
        cost every write of a job two index entries more (a run's finish rewrites
        ``next_run``, which is indexed already, so the write was never a HOT update).
    """
    metadata = MetaData(schema=schema)
    table_options: dict[str, Any] = {}
    if id_collation is not None:
        table_options = {"mysql_charset": "utf8mb4", "mysql_collate": id_collation}

    def id_column(name: str, **kwargs: Any) -> Column[str]:
        type_: TypeEngine[str] = String(ID_LENGTH)
        if id_collation is not None:
            type_ = type_.with_variant(
                mysql.VARCHAR(ID_LENGTH, charset="utf8mb4", collation=id_collation), *_MYSQL
            )
        return Column(name, type_, **kwargs)

    # Error texts and metadata can outgrow MySQL's 64 KiB TEXT; MEDIUMTEXT holds 16 MiB.
    long_text: TypeEngine[str] = Text().with_variant(mysql.MEDIUMTEXT(), *_MYSQL)

    jobs = Table(
        JOBS_TABLE,
        metadata,
        id_column("id", primary_key=True),
        Column("schedule_type", String(SCHEDULE_TYPE_LENGTH), nullable=False),
        Column("schedule_config", Text, nullable=False),
        Column("status", String(STATUS_LENGTH), nullable=False),
        Column("next_run", UTCDateTime()),
        Column("last_run", UTCDateTime()),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
        Column("metadata", long_text),
        Index(f"idx_{JOBS_TABLE}_status", "status"),
        Index(f"idx_{JOBS_TABLE}_next_run", "next_run"),
        Index(f"idx_{JOBS_TABLE}_created_at", "created_at"),
        Index(f"idx_{JOBS_TABLE}_updated_at", "updated_at"),
        **table_options,
    )
    if dialect == "postgresql":
        Index(JOB_ID_ORDER_INDEX, jobs.c.id.collate("C"))
        # (PostgreSQL wants an expression in an index in parentheses of its own.)
        keys = [Grouping(key) for key in run_time_order(jobs.c.next_run, dialect)]
        Index(NEXT_RUN_ORDER_INDEX, *keys, jobs.c.id.collate("C"))
    executions = Table(
        EXECUTIONS_TABLE,
        metadata,
        id_column("execution_id", primary_key=True),
        id_column("job_id", nullable=False),
        Column("start_time", UTCDateTime(), nullable=False),
        Column("end_time", UTCDateTime(), nullable=False),
        Column("duration", BigInteger, nullable=False),  # nanoseconds, like Go's Duration
        Column("status", String(STATUS_LENGTH), nullable=False),
        Column("error", long_text),
        Column("metadata", long_text),
        Index(f"idx_{EXECUTIONS_TABLE}_job_id", "job_id"),
        Index(f"idx_{EXECUTIONS_TABLE}_start_time", "start_time"),
        Index(f"idx_{EXECUTIONS_TABLE}_status", "status"),
        # One job's history in (start_time, execution_id) order is a range scan of this
        # index, so "the last N runs" reads N rows however long the history is.
        Index(f"idx_{EXECUTIONS_TABLE}_job_id_start_time", "job_id", "start_time", "execution_id"),
        # Every job's history in (start_time, execution_id) order, the dashboard's
        # history page, is a scan of this one; with the status in it, "runs in the last
        # hour by outcome" is a range of it that reads no row.
        Index(
            f"idx_{EXECUTIONS_TABLE}_start_time_status",
            "start_time",
            "execution_id",
            "status",
        ),
        **table_options,
    )
    # Not in the reference: which scheduler process owns a job's due run, for schedulers
    # that share the store (tickwork.abc.ClaimingStore). The Go library never reads it.
    claims = Table(
        CLAIMS_TABLE,
        metadata,
        id_column("job_id", primary_key=True),
        id_column("owner", nullable=False),
        Column("scheduled_at", UTCDateTime(), nullable=False),
        Column("lease_until", UTCDateTime(), nullable=False),
        **table_options,
    )
    # Not in the reference either: the schedulers sharing the store, each with the time
    # until which it counts as alive (tickwork.abc.WorkerRegistryStore).
    workers = Table(
        WORKERS_TABLE,
        metadata,
        id_column("owner", primary_key=True),
        Column("expires_at", UTCDateTime(), nullable=False),
        **table_options,
    )
    return Tables(metadata, jobs, executions, claims, workers)


def job_columns(jobs: Table, dialect: str) -> list[ColumnElement[Any]]:
    """The job columns to SELECT, in ``_rows.JOB_FIELDS`` order, for
    ``_rows.job_from_values``.

    Times come as the driver gives them, without :class:`UTCDateTime`'s processing,
    for ``_rows.read_time`` to convert in one step: SQLite's text as it is stored;
    MySQL's DATETIME cast to text (pymysql would parse each in Python, then it would
    still need its zone); PostgreSQL's aware datetimes as asyncpg makes them. Every
    other dialect gets the processed columns, which ``read_time`` takes as they are.
    Reading 10,000 jobs spent more time on the four times of each than on the rest.
    """
    columns: list[ColumnElement[Any]] = []
    for name in ("id", "schedule_type", "schedule_config", "status"):
        columns.append(jobs.c[name])
    for name in ("next_run", "last_run", "created_at", "updated_at"):
        column = jobs.c[name]
        if dialect in _MYSQL:
            columns.append(cast(column, String).label(name))
        elif dialect in ("sqlite", "postgresql"):
            columns.append(type_coerce(column, NullType()).label(name))
        else:
            columns.append(column)
    columns.append(jobs.c.metadata)
    return columns


def ids_in(column: ColumnElement[Any], dialect: str) -> ColumnElement[bool]:
    """``column`` is one of the ids bound as ``ids`` (a list).

    PostgreSQL gets ``= ANY(:ids)`` with one array parameter: an ``IN`` list of n
    parameters is a new statement for every n, and asyncpg prepares each new statement
    in an extra round trip. The other drivers have no server-side statement to reuse
    (aiomysql) or prepare in microseconds (SQLite): they get ``IN (...)``.
    """
    if dialect == "postgresql":
        return column == any_(bindparam("ids", type_=postgresql.ARRAY(String())))
    return column.in_(bindparam("ids", expanding=True))


def chunks(ids: list[str], size: int = IDS_PER_STATEMENT) -> list[list[str]]:
    """``ids`` in consecutive slices of at most ``size`` (none for no ids)."""
    return [ids[start : start + size] for start in range(0, len(ids), size)]
