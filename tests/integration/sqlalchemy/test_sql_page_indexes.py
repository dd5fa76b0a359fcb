"""On PostgreSQL, pages of jobs read their order from an index.

Pages sort by ``id COLLATE "C"`` (Python's order) or by a run time with "never" last
(``_schema.run_time_order``). PostgreSQL's primary key index has the database's
collation, and the plain ``next_run`` index has no "never" flag, so neither gives those
orders: a page of a million jobs sorted every row (0.3-1 s). The store's own indexes
(``_schema.JOB_ID_ORDER_INDEX``, ``NEXT_RUN_ORDER_INDEX``) do. MariaDB and SQLite
compare ids as binary already.
"""

from __future__ import annotations

import pytest
from sql_helpers import admin_engine
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from tickwork import JobQuery
from tickwork_sqlalchemy_store import SQLAlchemyStore
from tickwork_sqlalchemy_store._queries import BrowseStatements
from tickwork_sqlalchemy_store._schema import build_tables


async def _plan(url: str, query: JobQuery) -> str:
    """PostgreSQL's plan for the page ``query`` as the store sends it, with sequential
    scans and sorts priced out: it shows whether an index can give the order at all."""
    store = SQLAlchemyStore(url)
    await store.initialize()
    await store.close()
    page, _ = BrowseStatements(build_tables(dialect="postgresql"), "postgresql").jobs_page(query)
    async with admin_engine(url).begin() as conn:
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        await conn.execute(text("SET LOCAL enable_sort = off"))
        sql = page.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
        return "\n".join(str(row[0]) for row in await conn.execute(text(f"EXPLAIN {sql}")))


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize(
    ("sort_by", "index"),
    [
        ("id", "idx_scheduler_jobs_id_code_points"),
        ("next_run", "idx_scheduler_jobs_next_run_order"),
    ],
)
async def test_postgresql_pages_jobs_from_an_index(
    postgres_url: str, sort_by: str, index: str, descending: bool
) -> None:
    """The page's ids come from the index, in its order, with no sort after it."""
    query = JobQuery(sort_by=sort_by, sort_desc=descending, limit=50)  # type: ignore[arg-type]
    plan = await _plan(postgres_url, query)
    assert index in plan, plan
    assert "Sort" not in plan.split(index)[1], plan  # nothing sorted after the index
