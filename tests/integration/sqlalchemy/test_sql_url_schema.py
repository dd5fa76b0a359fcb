"""``?schema=NAME`` in a server URL is the store's ``schema`` option (issue 16): it is
taken out of the URL instead of reaching the driver, which failed at connect with
``connect() got an unexpected keyword argument 'schema'``."""

from __future__ import annotations

import asyncio

import pytest
from sql_helpers import admin_engine, execute, job
from sqlalchemy import make_url, text

import tickwork
from tickwork.cli import main
from tickwork_sqlalchemy_store import SQLAlchemyStore

SCHEMA = "tickwork_url_schema"

pytestmark = pytest.mark.postgresql


def _with_schema(url: str, schema: str = SCHEMA) -> str:
    parsed = make_url(url).update_query_dict({"schema": schema})
    return parsed.render_as_string(hide_password=False)


async def _has_table(url: str, schema: str | None) -> bool:
    async with admin_engine(url).connect() as conn:
        return bool(
            await conn.run_sync(
                lambda sync: sync.dialect.has_table(sync, "scheduler_jobs", schema=schema)
            )
        )


async def _job_ids_in_default_schema(url: str) -> set[str]:
    if not await _has_table(url, None):
        return set()
    async with admin_engine(url).connect() as conn:
        rows = await conn.execute(text("SELECT id FROM scheduler_jobs"))
        return {row[0] for row in rows}


async def test_a_postgresql_url_with_schema_keeps_the_tables_in_that_schema(
    postgres_url: str,
) -> None:
    await execute(
        postgres_url, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE", f"CREATE SCHEMA {SCHEMA}"
    )
    store = tickwork.create_store(_with_schema(postgres_url))
    try:
        assert "schema" not in str(store.url)  # type: ignore[attr-defined]
        assert f"schema={SCHEMA!r}" in repr(store)
        await store.initialize()
        await store.save_job(job("nightly"))
        assert (await store.get_job("nightly")).id == "nightly"
        assert await _has_table(postgres_url, SCHEMA)
        # Not in the default schema (where other tests may have left tables of theirs).
        assert "nightly" not in await _job_ids_in_default_schema(postgres_url)
    finally:
        await store.close()
        await execute(postgres_url, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def test_the_command_line_reads_a_url_schema_and_a_schema_option_alike(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A plain test: main() runs its own event loop.
    drop = f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"
    asyncio.run(execute(postgres_url, drop, f"CREATE SCHEMA {SCHEMA}"))
    try:
        add = ["jobs", "add", "nightly", "--interval", "1h", "--store", _with_schema(postgres_url)]
        assert main(add) == 0, capsys.readouterr().err
        listing = ["jobs", "list", "--store", postgres_url, "--store-option", f"schema={SCHEMA}"]
        assert main([*listing, "--json"]) == 0, capsys.readouterr().err
        assert '"id": "nightly"' in capsys.readouterr().out
    finally:
        asyncio.run(execute(postgres_url, drop))


def test_a_url_schema_and_a_different_schema_option_are_refused(postgres_url: str) -> None:
    with pytest.raises(ValueError, match="give one") as info:
        SQLAlchemyStore(_with_schema(postgres_url, "a"), schema="b")
    assert "\n" not in str(info.value)
    same = SQLAlchemyStore(_with_schema(postgres_url, "a"), schema="a")
    assert "schema='a'" in repr(same)
