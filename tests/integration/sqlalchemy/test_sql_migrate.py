"""migrate_storage and ``tickwork migrate`` between memory, SQLite, PostgreSQL and
MariaDB, in every direction, on the real databases."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sql_helpers import server_url

from tickwork import MemoryStore, MigrateResult, create_store, migrate_storage
from tickwork.abc import Store
from tickwork.cli import main
from tickwork.testing import TRICKY_JOB_IDS, make_job, make_record

KINDS = ["memory", "sqlite", "postgresql", "mariadb"]
MARKS = {"postgresql": pytest.mark.postgresql, "mariadb": pytest.mark.mariadb}
# Ids every SQL backend stores (at most 255 characters, no NUL).
IDS = [i for i in TRICKY_JOB_IDS if len(i) <= 255]


def _pair(src: str, dst: str) -> object:
    marks = [MARKS[k] for k in (src, dst) if k in MARKS]
    return pytest.param(src, dst, id=f"{src}->{dst}", marks=marks)


PAIRS = [_pair(a, b) for a, b in itertools.permutations(KINDS, 2)]


@pytest.fixture
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Callable[[str], Store]]:
    """``open(kind)``: an initialized, empty store of that kind (closed after the test)."""
    opened: list[Store] = []
    servers = [k for k in ("postgresql", "mariadb") if k in request.node.callspec.id]
    if servers:
        request.getfixturevalue("server_lock")
        from sql_helpers import empty_database

        for kind in servers:
            await empty_database(server_url(kind))

    def url_of(kind: str) -> str:
        return f"sqlite:///{tmp_path / 'jobs.db'}" if kind == "sqlite" else server_url(kind)

    async def open_store(kind: str) -> Store:
        store = MemoryStore() if kind == "memory" else create_store(url_of(kind))
        await store.initialize()
        opened.append(store)
        return store

    yield open_store  # type: ignore[misc]
    for store in opened:
        await store.close()


@pytest.mark.parametrize(("src_kind", "dst_kind"), PAIRS)
async def test_migrate_in_every_direction(
    stores: Callable[[str], object], src_kind: str, dst_kind: str
) -> None:
    src: Store = await stores(src_kind)  # type: ignore[misc]
    dst: Store = await stores(dst_kind)  # type: ignore[misc]
    for i, job_id in enumerate(IDS):
        await src.save_job(make_job(job_id, metadata={"n": str(i)}))
        for e in range(3):
            await src.save_execution(make_record(job_id, f"{i}-{e}", minutes=e))
    result = await migrate_storage(src, dst)
    assert result == MigrateResult(jobs_migrated=len(IDS), executions_migrated=3 * len(IDS))
    assert await dst.list_jobs() == await src.list_jobs()
    for job_id in IDS:
        assert await dst.list_executions(job_id) == await src.list_executions(job_id)
    again = await migrate_storage(src, dst)
    assert again == MigrateResult(jobs_skipped=len(IDS), executions_skipped=3 * len(IDS))


@pytest.mark.postgresql
@pytest.mark.mariadb
async def test_tickwork_migrate_command_round_trip(
    tmp_path: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    request.getfixturevalue("server_lock")
    from sql_helpers import empty_database

    pg, maria = server_url("postgresql"), server_url("mariadb")
    for url in (pg, maria):
        await empty_database(url)
    first, last = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    seed = create_store(first)
    await seed.initialize()
    for job_id in ("alpha", "beta gamma", "δ"):
        await seed.save_job(make_job(job_id))
        await seed.save_execution(make_record(job_id, f"exec-{job_id}"))
    await seed.close()
    # The CLI runs its own event loop: run it outside this test's loop.
    import asyncio

    loop = asyncio.get_running_loop()
    for src, dst in ((first, pg), (pg, maria), (maria, last)):
        code = await loop.run_in_executor(None, main, ["migrate", src, dst])
        assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert out.count("jobs: 3 copied, 0 already there") == 3
    final = create_store(last)
    await final.initialize()
    try:
        assert sorted(j.id for j in await final.list_jobs()) == ["alpha", "beta gamma", "δ"]
        assert [r.execution_id for r in await final.list_executions("δ")] == ["exec-δ"]
    finally:
        await final.close()
