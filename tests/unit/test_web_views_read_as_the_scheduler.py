"""The dashboard's pages read each stored row with ``tickwork.job_from_data``, so what
they call quarantined is what a scheduler quarantines, and they take nothing from
tickwork's private modules (``test_plugin_boundaries.py`` checks the imports)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tickwork import (
    ExecutionQuery,
    InvalidJobDataError,
    JobData,
    JobQuery,
    MemoryStore,
    StoreQueries,
)
from tickwork_web import _views

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _row(job_id: str, metadata: dict[str, str], schedule_type: str = "interval") -> JobData:
    return JobData(
        id=job_id,
        schedule_type=schedule_type,
        schedule_config="5m",
        next_run=NOW,
        created_at=NOW,
        updated_at=NOW,
        metadata=metadata,
    )


@pytest.fixture
async def store() -> MemoryStore:
    store = MemoryStore()
    await store.initialize()
    for row in [
        _row("fine", {"team": "ops", "tickwork.options": '{"timeout":12.0}'}),
        _row("tasked", {"tickwork.task": "reports:send", "tickwork.args": '{"args":[1]}'}),
        _row("bad-options", {"tickwork.options": "{not json"}),
        _row("no-codec", {"tickwork.options": '{"timeout":3.0}'}, schedule_type="nope"),
    ]:
        await store.save_job(row)
    return store


@pytest.fixture
def queries(store: MemoryStore) -> StoreQueries:
    return StoreQueries(store)


async def test_the_overview_lists_what_a_scheduler_quarantines(queries: StoreQueries) -> None:
    overview = await _views.overview(queries, NOW)
    reasons = {q["id"]: q["reason"] for q in overview["quarantined"]}
    assert set(reasons) == {"bad-options", "no-codec"}
    assert "stored job options" in reasons["bad-options"]
    assert "nope" in reasons["no-codec"]
    # A job for a task this dashboard lacks is not quarantined: the workers have it.
    assert {j["id"] for j in overview["next_runs"]} == {"fine", "tasked"}


async def test_rows_show_the_task_and_only_the_users_metadata(queries: StoreQueries) -> None:
    listing = await _views.job_list(queries, JobQuery())
    jobs = {j["id"]: j for j in listing["jobs"]}
    assert jobs["tasked"]["task"] == "reports:send"
    assert jobs["tasked"]["metadata"] == {}
    assert jobs["fine"]["metadata"] == {"team": "ops"}
    assert jobs["bad-options"]["quarantined"]


async def test_policies_of_a_quarantined_job_are_neither_shown_nor_changed(
    store: MemoryStore, queries: StoreQueries
) -> None:
    fine = await _views.job_detail(queries, await store.get_job("fine"), ExecutionQuery())
    assert fine["options"]["timeout"] == 12.0
    assert fine["schedule"]
    assert _views.stored_options(await store.get_job("fine")).timeout is not None
    for job_id in ("bad-options", "no-codec"):
        row = await store.get_job(job_id)
        detail = await _views.job_detail(queries, row, ExecutionQuery())
        assert "quarantined" in detail["options"]["error"]
        assert detail["schedule"] is None
        with pytest.raises(InvalidJobDataError, match=f"job {job_id!r} is quarantined"):
            _views.stored_options(row)
