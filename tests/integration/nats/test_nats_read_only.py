"""Commands that only read never create: on a NATS server without the store's KV
buckets they fail in one line naming the buckets, and no bucket (nor the lock bucket
that guards creating them) appears (issue 16)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest
from support.nats_server import NatsServer

import tickwork
from tickwork.cli import main

pytestmark = pytest.mark.nats


def _streams(url: str) -> list[str]:
    async def names() -> list[str]:
        nc = await nats.connect(url, connect_timeout=2)
        try:
            return [info.config.name or "" for info in await nc.jetstream().streams_info()]
        finally:
            await nc.close()

    return asyncio.run(names())


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["jobs", "--store", "{url}", "list"], id="jobs-list"),
        pytest.param(["jobs", "--store", "{url}", "show", "x"], id="jobs-show"),
        pytest.param(["history", "x", "--store", "{url}"], id="history"),
        pytest.param(["migrate", "{url}", "{dst}"], id="migrate-source"),
    ],
)
def test_reading_a_server_without_buckets_creates_none(
    argv: list[str], nats_server: NatsServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dst = tmp_path / "dst.db"
    args = [a.format(url=nats_server.url, dst=f"sqlite:///{dst}") for a in argv]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "SCHEDULER_JOBS" in err
    assert nats_server.url in err
    assert "tickwork jobs add" in err
    assert _streams(nats_server.url) == []
    assert not dst.exists()


def test_create_false_opens_existing_buckets(nats_server: NatsServer) -> None:
    async def scenario() -> None:
        first = tickwork.create_store(nats_server.url)
        await first.initialize()
        await first.close()
        store = tickwork.create_store(nats_server.url, create=False)
        await store.initialize()
        try:
            assert await store.list_jobs() == []
        finally:
            await store.close()

    asyncio.run(scenario())


def test_a_password_in_the_url_is_hidden() -> None:
    from tickwork_nats_store._store import _hide_password

    assert _hide_password("nats://u:pw@127.0.0.1:4222") == "nats://u:***@127.0.0.1:4222"
    assert _hide_password("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"
