"""A PostgreSQL store behind the NATS trigger: no coordinator polls it (the trigger hands
each due run to one worker), so the change follower brings other schedulers' job
changes into the job table, woken by LISTEN/NOTIFY. ``sync_interval`` is 30 s: a change
seen within seconds came through a notification."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support.change_push import PUSHED_WITHIN
from support.nats_server import NatsServer
from support.waiting import until

from tickwork import AsyncScheduler, IntervalSchedule, JobStatus
from tickwork_nats_trigger import NATSTrigger
from tickwork_sqlalchemy_store import SQLAlchemyStore

pytestmark = [pytest.mark.nats, pytest.mark.postgresql]


async def _ignore(_event: object) -> None:
    return None


def _scheduler(url: str, server: NatsServer, name: str) -> AsyncScheduler:
    trigger = NATSTrigger(server.url, ack_wait=3)
    return AsyncScheduler(
        SQLAlchemyStore(url), _ignore, trigger=trigger, worker_id=name, sync_interval=30.0
    )


async def test_changes_reach_the_other_scheduler_through_notifications(
    postgres_url: str, nats_server: NatsServer
) -> None:
    async with (
        _scheduler(postgres_url, nats_server, "a") as a,
        _scheduler(postgres_url, nats_server, "b") as b,
    ):
        follower = b._follower
        assert follower is not None
        assert b._coordinator is None
        await until(lambda: follower.listening, PUSHED_WITHIN, "b listens")
        table = b._entries
        await a.add_job("report", IntervalSchedule(timedelta(hours=1)))
        await until(lambda: "report" in table, PUSHED_WITHIN, "the add in b")
        await a.pause_job("report")
        await until(
            lambda: table["report"].status is JobStatus.DISABLED, PUSHED_WITHIN, "the pause"
        )
        await a.remove_job("report")
        await until(lambda: "report" not in table, PUSHED_WITHIN, "the removal in b")
