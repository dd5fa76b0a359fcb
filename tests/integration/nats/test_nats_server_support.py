"""The test helpers themselves: ``NatsServer`` and ``NatsCluster`` (support.nats_server)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nats
import pytest
from nats.js import api
from support.nats_server import NatsCluster, NatsServer, NatsServerError, find_nats_server
from support.services import port_open, unavailable

from tickwork import JobData
from tickwork_nats_store import NATSStore

pytestmark = pytest.mark.nats


def test_the_venv_binary_is_found_and_recent() -> None:
    binary, why = find_nats_server()
    if binary is None:
        unavailable("nats-server", why)
    assert binary is not None
    assert binary.name.startswith("nats-server")
    assert "/usr/sbin" not in str(binary)


async def test_server_lifecycle(nats_server_factory: Callable[..., NatsServer]) -> None:
    server = nats_server_factory(config="max_payload: 4096\n")
    assert server.url == f"nats://127.0.0.1:{server.port}"
    assert port_open("127.0.0.1", server.port)
    assert server.healthy()
    assert server.store_dir.is_dir()

    nc = await nats.connect(server.url)
    assert nc.max_payload == 4096  # the extra config was applied
    js = nc.jetstream()
    await js.add_stream(name="S", subjects=["s"], storage=api.StorageType.FILE)
    await js.publish("s", b"kept")
    await nc.close()

    port, pid = server.port, server.pid
    server.kill()
    assert not server.running
    server.restart()
    assert server.port == port
    assert server.pid != pid

    nc = await nats.connect(server.url)
    msg = await nc.jetstream().get_last_msg("S", "s")
    assert msg.data == b"kept"  # same store dir
    await nc.close()

    workdir = server.log_path.parent
    server.cleanup()
    assert not server.running
    assert not workdir.exists()
    assert not server.store_dir.exists()


def test_start_failure_reports_the_log(
    nats_server_factory: Callable[..., NatsServer], tmp_path: Path
) -> None:
    with pytest.raises(NatsServerError, match="exited early"):
        nats_server_factory(config="this is { not a valid config")


def test_a_given_store_dir_is_kept(
    nats_server_factory: Callable[..., NatsServer], tmp_path: Path
) -> None:
    server = nats_server_factory(store_dir=tmp_path / "js")
    server.cleanup()
    assert (tmp_path / "js").is_dir()


async def test_cluster_with_replicated_buckets(nats_cluster: NatsCluster) -> None:
    assert [s.server_name for s in nats_cluster] == ["n1", "n2", "n3"]
    store = NATSStore(nats_cluster.urls, replicas=3)
    await store.initialize()
    try:
        status = await store.jetstream.stream_info(f"KV_{store.job_bucket}")
        assert status.config.num_replicas == 3
        assert status.cluster is not None
        assert len(status.cluster.replicas or []) == 2
        await store.save_job(JobData(id="j", schedule_type="interval", schedule_config="1s"))
        assert (await store.get_job("j")).id == "j"
    finally:
        await store.close()
