"""Finding or creating the store's tables when the store starts.

Separate from the store because starting is the only time it looks at the database's
catalogue: it creates what is missing (or, with ``create=False``, only checks), races
other processes doing the same, and picks the collation ids need on MySQL/MariaDB.
"""

from __future__ import annotations

import asyncio
import logging
import random

from sqlalchemy import bindparam, inspect, text
from sqlalchemy.engine import Connection

import tickwork

from ._runners import Runner, statement_errors
from ._schema import NO_PAD_BINARY_COLLATIONS, Tables, build_tables

__all__ = ["not_found", "prepare_schema"]

logger = logging.getLogger("tickwork.sqlalchemy")

# How often initialize() tries again when another process creates the schema at the
# same moment (the loser sees "already exists", then finds the tables on a new look).
_SCHEMA_ATTEMPTS = 10


async def prepare_schema(runner: Runner, schema: str | None, where: str, *, create: bool) -> Tables:
    """The store's tables, created where missing unless ``create`` is false; tried again
    (after a short random pause) when a concurrent creation won a race."""
    for attempt in range(1, _SCHEMA_ATTEMPTS + 1):
        last = attempt == _SCHEMA_ATTEMPTS

        def prepare(conn: Connection, last: bool = last) -> Tables | None:
            if not create:
                return _existing_tables(conn, schema, where)
            return _prepare_tables(conn, schema, where, last_attempt=last)

        tables = await runner.session(prepare)
        if tables is not None:
            return tables
        await asyncio.sleep(random.uniform(0.01, 0.05) * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _missing_objects(conn: Connection, tables: Tables) -> set[str]:
    """Names of the tables and indexes the store needs and the database lacks."""
    wanted = (tables.jobs, tables.executions, tables.claims, tables.workers)
    present = _present_indexes(conn, tables.jobs.schema, [table.name for table in wanted])
    missing: set[str] = set()
    for table in wanted:
        names = present.get(table.name)
        if names is None:  # no such table
            missing.add(table.name)
            missing.update(str(index.name) for index in table.indexes)
            continue
        missing.update(str(index.name) for index in table.indexes if index.name not in names)
    return missing


#: Each of the tables named ``names`` in the schema (the connection's own when NULL),
#: with the names of its indexes (none: NULL).
_POSTGRESQL_INDEXES = text(
    "SELECT t.tablename, i.indexname FROM pg_catalog.pg_tables t "
    "LEFT JOIN pg_catalog.pg_indexes i "
    "ON i.schemaname = t.schemaname AND i.tablename = t.tablename "
    "WHERE t.schemaname = coalesce(CAST(:schema AS text), current_schema()) "
    "AND t.tablename = ANY(CAST(:names AS text[]))"
)


def _present_indexes(conn: Connection, schema: str | None, names: list[str]) -> dict[str, set[str]]:
    """The index names of each of the tables ``names`` that exist.

    On PostgreSQL one catalog query: SQLAlchemy's inspector sends several for each
    table (50 ms for the four, most of a store's start, which comes before the first
    due run); the other databases answer the inspector quickly.
    """
    if conn.dialect.name == "postgresql":
        found: dict[str, set[str]] = {}
        for table, index in conn.execute(_POSTGRESQL_INDEXES, {"schema": schema, "names": names}):
            found.setdefault(table, set()).update([index] if index is not None else [])
        return found
    indexes = inspect(conn).get_multi_indexes(schema=schema, filter_names=names)
    return {table: {str(index["name"]) for index in found} for (_, table), found in indexes.items()}


def _create_missing(conn: Connection, tables: Tables) -> None:
    """Create what is missing: whole tables, or the indexes an existing table lacks.

    Looking first and creating object by object keeps tables that another library (or
    an older tickwork) created, and adds only what they lack.
    """
    inspector = inspect(conn)
    for table in (tables.jobs, tables.executions, tables.claims, tables.workers):
        if not inspector.has_table(table.name, schema=table.schema):
            logger.info("creating table %s", table.name)
            table.create(conn)
            continue
        present = {index["name"] for index in inspector.get_indexes(table.name, table.schema)}
        for index in table.indexes:
            if index.name not in present:
                logger.info("creating index %s on %s", index.name, table.name)
                index.create(conn)


def not_found(where: str, reason: str) -> tickwork.StoreNotFoundError:
    return tickwork.StoreNotFoundError(
        f"no tickwork store in {where}: {reason}; it is created by `tickwork run`, "
        "by adding a job (`tickwork jobs add`), or by any store opened with create=True"
    )


def _existing_tables(conn: Connection, schema: str | None, where: str) -> Tables:
    """The tables, when they all exist; creates nothing (``create=False``).

    Only the inspector looks: no CREATE is sent, and a missing index is not needed to
    read, so it is not reported.
    """
    tables = build_tables(
        schema=schema, id_collation=_id_collation(conn, where), dialect=conn.dialect.name
    )
    with statement_errors("look at the tables", where):
        inspector = inspect(conn)
        missing = [
            table.name
            for table in (tables.jobs, tables.executions, tables.claims)
            if not inspector.has_table(table.name, schema=table.schema)
        ]
        conn.rollback()
    if missing:
        place = f" (schema {schema})" if schema is not None else ""
        raise not_found(where, f"table(s) {', '.join(missing)} missing{place}")
    return tables


def _prepare_tables(
    conn: Connection, schema: str | None, where: str, *, last_attempt: bool
) -> Tables | None:
    """Create what is missing of the schema; ``None`` when another process creating
    the same objects at the same moment won a race and it is worth looking again.

    Another process's CREATE makes ours fail with "already exists"; then the object is
    there on a second look, and the caller tries again. If nothing appeared, the failure
    is real (a permission, a missing schema) and is raised at once.
    """
    collation = _id_collation(conn, where)
    tables = build_tables(schema=schema, id_collation=collation, dialect=conn.dialect.name)
    with statement_errors("look at the tables", where):
        missing = _missing_objects(conn, tables)
        conn.rollback()
    try:
        with statement_errors("create the tables", where):
            if missing:
                with conn.begin():
                    _create_missing(conn, tables)
            if collation is not None:
                _warn_on_padded_ids(conn, tables, collation)
        return tables
    except tickwork.StorageOperationError as exc:
        with statement_errors("look at the tables", where):
            still_missing = _missing_objects(conn, tables)
            conn.rollback()
        if last_attempt or not still_missing < missing:
            raise
        logger.debug("schema creation raced with another process (%s); looking again", exc)
        return None


def _id_collation(conn: Connection, where: str) -> str | None:
    """The binary NO PAD collation ids get on MySQL/MariaDB (``None`` elsewhere)."""
    if conn.dialect.name not in ("mysql", "mariadb"):
        return None
    with statement_errors("look up collations", where):
        found = set(
            conn.execute(
                text(
                    "SELECT COLLATION_NAME FROM information_schema.COLLATIONS "
                    "WHERE COLLATION_NAME IN :names"
                ).bindparams(bindparam("names", list(NO_PAD_BINARY_COLLATIONS), expanding=True))
            ).scalars()
        )
        conn.rollback()
    for name in NO_PAD_BINARY_COLLATIONS:
        if name in found:
            return name
    logger.warning(
        "%s has no NO PAD binary collation (MySQL 8.0.17+ or MariaDB 10.2+ have one); "
        "falling back to utf8mb4_bin, where ids that differ only by trailing spaces "
        "collide",
        where,
    )
    return "utf8mb4_bin"


def _warn_on_padded_ids(conn: Connection, tables: Tables, collation: str) -> None:
    """Tables made by GORM (or by hand) on MySQL usually compare ids case-insensitively;
    say so, since such a database merges ``Job`` into ``job``."""
    rows = conn.execute(
        text(
            "SELECT TABLE_NAME, COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = COALESCE(:schema, DATABASE()) AND TABLE_NAME IN :tables "
            "AND COLUMN_NAME IN ('id', 'job_id', 'execution_id')"
        ).bindparams(
            bindparam("tables", [tables.jobs.name, tables.executions.name], expanding=True),
            schema=tables.jobs.schema,
        )
    )
    for table_name, column, found in rows:
        if found != collation:
            logger.warning(
                "%s.%s uses collation %s: ids that differ in case or trailing spaces may "
                "be treated as the same job. Change it to compare ids exactly: ALTER TABLE "
                "%s MODIFY %s VARCHAR(255) CHARACTER SET utf8mb4 COLLATE %s NOT NULL",
                table_name,
                column,
                found,
                table_name,
                column,
                collation,
            )
    conn.rollback()
