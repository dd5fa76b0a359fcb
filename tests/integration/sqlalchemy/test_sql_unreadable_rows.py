"""A ``scheduler_jobs`` row the store cannot read is quarantined on its own (issue 13).

Each kind of damage is made with raw SQL on a real row, as another program (or a hand
edit) would leave it, on SQLite, PostgreSQL and MariaDB. Every read path hands the row
back as :meth:`tickwork.JobData.unreadable_row` with a reason naming the field and the
value; the other jobs read as before; nothing writes the row back; ``tickwork jobs
list`` shows it and exits 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

import pytest
from sql_helpers import T0, execute, job, query, record

import tickwork
from tickwork import JobData, JobStatus
from tickwork.cli import main
from tickwork_sqlalchemy_store import SQLAlchemyStore


class Damage(NamedTuple):
    """One kind of unreadable row: how it is made and what its reason must say."""

    job_id: str
    sql: str  # the SET clause of an UPDATE of that job's row
    reason: str  # the reason, whole (it names the field and the value)
    backends: tuple[str, ...] = ("sqlite", "postgresql", "mariadb")


DAMAGES = [
    Damage("bad-json", "metadata = 'not json{'", "metadata: 'not json{' is not a JSON object"),
    Damage("json-list", "metadata = '[1, 2]'", "metadata: '[1, 2]' is not a JSON object"),
    Damage(
        "number-value",
        """metadata = '{"team": "core", "x": 3}'""",
        "metadata: value of 'x' is 3, not a string",
    ),
    Damage("bad-status", "status = 'weird'", "status: 'weird' is not a job status"),
    # SQLite keeps times as text: anything can be there.
    Damage(
        "bad-next-run",
        "next_run = '2024-13-99'",
        "next_run: '2024-13-99' is not a time",
        ("sqlite",),
    ),
    Damage(
        "bad-last-run", "last_run = 'yesterday'", "last_run: 'yesterday' is not a time", ("sqlite",)
    ),
    Damage("bad-created", "created_at = 'soon'", "created_at: 'soon' is not a time", ("sqlite",)),
    Damage(
        "empty-updated",
        "updated_at = ''",
        "updated_at: '' is not a time",
        ("sqlite",),
    ),
    # MariaDB keeps a zero date where its sql_mode lets it (set for that statement below).
    Damage(
        "zero-date",
        "next_run = '0000-00-00 00:00:00'",
        "next_run: '0000-00-00 00:00:00.000000' is not a time",
        ("mariadb",),
    ),
    Damage(
        "two-faults",
        "status = 'weird', metadata = 'nope'",
        "status: 'weird' is not a job status; metadata: 'nope' is not a JSON object",
    ),
]

GOOD = ["alpha", "omega"]


def damages_for(backend: str) -> list[Damage]:
    return [d for d in DAMAGES if backend in d.backends]


async def corrupt(url: str, backend: str, damages: list[Damage]) -> None:
    """Damage each row with raw SQL, as another program would."""
    statements = [f"UPDATE scheduler_jobs SET {d.sql} WHERE id = '{d.job_id}'" for d in damages]
    if backend == "mariadb":  # let the zero date in (the default mode refuses it)
        statements.insert(0, "SET SESSION sql_mode = ''")
    await execute(url, *statements)


@pytest.fixture
async def damaged(
    database_url: str, backend: str
) -> AsyncIterator[tuple[SQLAlchemyStore, list[Damage]]]:
    """A store holding the good jobs and one damaged row per kind of damage."""
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    damages = damages_for(backend)
    try:
        await store.save_jobs([job(i) for i in GOOD] + [job(d.job_id) for d in damages])
        await corrupt(database_url, backend, damages)
        yield store, damages
    finally:
        await store.close()


def assert_unreadable(found: JobData, damage: Damage) -> None:
    assert found.id == damage.job_id
    assert found.unreadable == damage.reason
    assert found.status is JobStatus.DISABLED  # nothing that ignores `unreadable` runs it
    assert found.next_run is None
    # What can be read is kept, so that a listing still shows what the job was.
    assert (found.schedule_type, found.schedule_config) == ("interval", "5m0s")
    if not damage.reason.startswith("metadata") and "metadata" not in damage.reason:
        assert found.metadata == {"team": "core"}


async def test_every_read_path_hands_back_the_unreadable_row_on_its_own(
    damaged: tuple[SQLAlchemyStore, list[Damage]],
) -> None:
    store, damages = damaged
    by_id = {d.job_id: d for d in damages}
    listed = await store.list_jobs()
    assert [j.id for j in listed] == sorted(GOOD + list(by_id))
    for found in listed:
        if found.id in by_id:
            assert_unreadable(found, by_id[found.id])
        else:
            assert found == job(found.id)
    for damage in damages:
        assert_unreadable(await store.get_job(damage.job_id), damage)
    batch = await store.get_jobs(["alpha", *by_id])
    assert batch["alpha"] == job("alpha")
    for damage in damages:
        assert_unreadable(batch[damage.job_id], damage)
    changed = await store.list_jobs_changed_since(T0)
    assert {j.id for j in changed} >= set(GOOD)
    assert all(j.unreadable == by_id[j.id].reason for j in changed if j.id in by_id)
    due = await store.list_due_jobs(T0 + timedelta(days=1))
    assert {j.id for j in due} >= set(GOOD)
    assert [j.id for j in due if j.unreadable is None] == GOOD
    pending = await store.list_jobs_by_status(JobStatus.PENDING)
    assert {j.id for j in pending} >= set(GOOD)


async def test_an_unreadable_row_is_never_claimed(
    damaged: tuple[SQLAlchemyStore, list[Damage]],
) -> None:
    store, damages = damaged
    due = job().next_run
    assert due is not None
    lease = due + timedelta(seconds=30)
    for damage in damages:
        assert await store.claim_job(damage.job_id, due, "a", lease, due) is None
        assert not await store.renew_claim(damage.job_id, "a", lease)  # nothing held
    runs = [(job_id, due) for job_id in [*GOOD, *(d.job_id for d in damages)]]
    claimed = await store.claim_jobs(runs, "b", lease, due)
    assert sorted(claimed) == GOOD
    assert claimed["alpha"] == job("alpha")


async def test_an_unreadable_row_is_never_written_back(
    damaged: tuple[SQLAlchemyStore, list[Damage]], database_url: str
) -> None:
    store, damages = damaged
    damage = damages[0]
    stand_in = await store.get_job(damage.job_id)
    before = await query(database_url, f"SELECT * FROM scheduler_jobs WHERE id = '{damage.job_id}'")
    for write in (
        store.update_job(stand_in),
        store.update_job_if(stand_in, stand_in.updated_at),
        store.save_runs([], [stand_in]),
        store.save_runs_if([], [stand_in], {}),
        store.finish_runs([tickwork.RunFinish(job=stand_in, seen=stand_in.updated_at)]),
    ):
        with pytest.raises(tickwork.InvalidJobDataError, match=damage.job_id) as excinfo:
            await write
        assert "never written back" in str(excinfo.value)
    await store.delete_job("omega")  # removing a job is a write too; only this one
    with pytest.raises(tickwork.InvalidJobDataError, match=damage.job_id):
        await store.save_job(stand_in.copy())
    after = await query(database_url, f"SELECT * FROM scheduler_jobs WHERE id = '{damage.job_id}'")
    assert after == before
    await store.delete_job(damage.job_id)  # the way out: remove it
    with pytest.raises(tickwork.JobDataNotFoundError):
        await store.get_job(damage.job_id)


async def test_the_cli_lists_every_job_and_says_why_one_cannot_be_read(
    damaged: tuple[SQLAlchemyStore, list[Damage]],
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, damages = damaged
    url = database_url.replace("+aiosqlite", "")
    assert await asyncio.to_thread(main, ["jobs", "--store", url, "list"]) == 0
    out = capsys.readouterr().out
    for job_id in GOOD:
        assert job_id in out
    for damage in damages:
        assert f"job {damage.job_id!r} cannot be read: {damage.reason}" in out
    assert out.count("unreadable") >= len(damages)
    assert await asyncio.to_thread(main, ["jobs", "--store", url, "list", "--json"]) == 0
    assert '"unreadable": "status: \'weird\' is not a job status"' in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["history", "--store", url, "alpha"]) == 0
    assert "(none)" in capsys.readouterr().out


async def test_a_scheduler_starts_beside_unreadable_rows(
    damaged: tuple[SQLAlchemyStore, list[Damage]], database_url: str
) -> None:
    _, damages = damaged

    async def handler(event: tickwork.JobEvent) -> None:
        pass

    scheduler = tickwork.AsyncScheduler(SQLAlchemyStore(database_url), handler)
    await scheduler.start()
    try:
        listed = {j.id for j in await scheduler.list_jobs()}
        assert listed >= set(GOOD)
    finally:
        await scheduler.stop()
    store = SQLAlchemyStore(database_url)
    await store.initialize()
    try:  # it wrote nothing over them
        for damage in damages:
            assert (await store.get_job(damage.job_id)).unreadable == damage.reason
    finally:
        await store.close()


async def test_migrate_leaves_an_unreadable_row_behind_and_says_so(
    damaged: tuple[SQLAlchemyStore, list[Damage]],
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store, damages = damaged
    await store.save_execution(record(damages[0].job_id, "its-run"))
    source = database_url.replace("+aiosqlite", "")
    destination = f"sqlite:///{tmp_path / 'copy.db'}"
    assert await asyncio.to_thread(main, ["migrate", source, destination]) == 0
    out = capsys.readouterr().out
    assert f"not copied: {len(damages)} job(s)" in out
    for damage in damages:
        assert f"job {damage.job_id!r}: {damage.reason}" in out
    copy = SQLAlchemyStore(destination)
    await copy.initialize()
    try:
        assert await copy.list_jobs() == [job(i) for i in GOOD]
        # Its history is copied (history outlives a job, as after a delete).
        assert [r.execution_id for r in await copy.list_executions(damages[0].job_id)] == [
            "its-run"
        ]
    finally:
        await copy.close()
    # The source is as it was.
    assert (await store.get_job(damages[0].job_id)).unreadable == damages[0].reason


async def test_migrate_storage_reports_each_unreadable_job(
    damaged: tuple[SQLAlchemyStore, list[Damage]],
) -> None:
    store, damages = damaged
    destination = tickwork.MemoryStore()
    await destination.initialize()
    result = await tickwork.migrate_storage(store, destination)
    assert result.jobs_migrated == len(GOOD)
    assert result.unreadable_jobs == tuple(sorted((d.job_id, d.reason) for d in damages))
    with pytest.raises(tickwork.InvalidJobDataError, match="never written back"):
        await destination.save_job(await store.get_job(damages[0].job_id))
