"""The reference library's schema (GORM models ``JobDataModel``/``ExecutionRecordModel``),
rebuilt with SQLAlchemy Core so both libraries can read and write the same tables, plus
one table of tickwork's own for schedulers that share the store (``scheduler_claims``).

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
    DateTime,
    Dialect,
    Index,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "CLAIMS_TABLE",
    "EXECUTIONS_TABLE",
    "ID_LENGTH",
    "JOBS_TABLE",
    "NO_PAD_BINARY_COLLATIONS",
    "SCHEDULE_TYPE_LENGTH",
    "STATUS_LENGTH",
    "Tables",
    "UTCDateTime",
    "build_tables",
]

JOBS_TABLE = "scheduler_jobs"
EXECUTIONS_TABLE = "scheduler_executions"
CLAIMS_TABLE = "scheduler_claims"
ID_LENGTH = 255
SCHEDULE_TYPE_LENGTH = 50
STATUS_LENGTH = 20

#: Binary utf8mb4 collations that do not ignore trailing spaces, best first: MariaDB
#: 10.2+ has the first, MySQL 8.0.17+ the second. Plain ``utf8mb4_bin`` pads, so it
#: would make ``job`` and ``job `` the same primary key.
NO_PAD_BINARY_COLLATIONS: tuple[str, ...] = ("utf8mb4_nopad_bin", "utf8mb4_0900_bin")

_MYSQL = ("mysql", "mariadb")


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


class Tables(NamedTuple):
    """The tables of one store, and the metadata that creates them."""

    metadata: MetaData
    jobs: Table
    executions: Table
    claims: Table


def build_tables(*, schema: str | None = None, id_collation: str | None = None) -> Tables:
    """Declare both tables.

    :param schema: the PostgreSQL schema or MySQL database holding them (``None``: the
        connection's default), so several services can share one database.
    :param id_collation: on MySQL/MariaDB, the binary ``NO PAD`` collation for the id
        columns and the tables' default (see :data:`NO_PAD_BINARY_COLLATIONS`).
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
    return Tables(metadata, jobs, executions, claims)
