"""``write_many``: a few writes as separate publishes, many as one atomic batch.

Against a real server: which way each set goes (the messages on the wire), what is
stored when one condition fails (only that write is missing from separate publishes;
nothing from a rejected batch), a duplicate message id, and a server that is gone.
"""

from __future__ import annotations

import nats.errors
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext, api
from support.nats_publishes import observing_publishes
from support.nats_server import NatsServer

from tickwork_nats_store import ATOMIC_FROM, Write, enable_atomic, write_many

pytestmark = pytest.mark.nats

PREFIX = "$KV.wm."


@pytest.fixture
async def bucket(nats_client: Client, jetstream: JetStreamContext) -> str:
    """An empty KV bucket ``wm`` that takes atomic batches; yields its stream."""
    await jetstream.create_key_value(api.KeyValueConfig(bucket="wm", history=1))
    server = nats_client.connected_server_version
    assert await enable_atomic(jetstream, "KV_wm", (server.major, server.minor))
    return "KV_wm"


async def revision(js: JetStreamContext, key: str) -> int | None:
    try:
        msg = await js.get_last_msg("KV_wm", PREFIX + key)
    except nats.js.errors.NotFoundError:
        return None
    return msg.seq


def writes_of(count: int) -> list[Write]:
    """Creations of keys ``k0``.. (each on condition that the key is new)."""
    return [Write(f"{PREFIX}k{i}", f"v{i}".encode(), 0) for i in range(count)]


async def test_a_few_writes_are_separate_publishes_and_each_is_stored_on_its_own(
    nats_client: Client, jetstream: JetStreamContext, bucket: str
) -> None:
    count = ATOMIC_FROM - 1
    await nats_client.request(f"{PREFIX}k2", b"there already", 5)  # k2's condition fails
    before = await revision(jetstream, "k2")
    published: list[tuple[str, bool]] = []
    with observing_publishes(lambda subject, _p, reply: published.append((subject, bool(reply)))):
        stored = await write_many(nats_client, writes_of(count), timeout=5)
    # Each asks for its own answer (in an atomic batch only the last one does).
    assert published == [(f"{PREFIX}k{i}", True) for i in range(count)]
    assert stored[2] is None
    assert await revision(jetstream, "k2") == before
    for i, seq in enumerate(stored):
        if i != 2:
            assert seq is not None
            assert await revision(jetstream, f"k{i}") == seq


async def test_many_writes_are_one_atomic_batch_all_or_nothing(
    nats_client: Client, jetstream: JetStreamContext, bucket: str
) -> None:
    count = ATOMIC_FROM
    stored = await write_many(nats_client, writes_of(count), timeout=5)
    assert None not in stored
    assert stored == list(range(stored[0], stored[0] + count))  # consecutive: one batch
    again = writes_of(count)
    again[-1] = Write(f"{PREFIX}new", b"x", 0)  # one new key; the rest exist: rejected
    assert await write_many(nats_client, again, timeout=5) == [None] * count
    assert await revision(jetstream, "new") is None  # nothing of a rejected batch


async def test_a_duplicate_message_id_counts_as_not_stored(
    nats_client: Client, jetstream: JetStreamContext, bucket: str
) -> None:
    first = Write(f"{PREFIX}d", b"1", headers={"Nats-Msg-Id": "same-id"})
    assert (await write_many(nats_client, [first], timeout=5))[0] is not None
    [again] = await write_many(nats_client, [first], timeout=5)
    assert again is None


async def test_a_server_that_is_gone_raises_instead_of_answering(
    nats_server: NatsServer, nats_client: Client, bucket: str
) -> None:
    nats_server.stop()
    with pytest.raises((nats.errors.TimeoutError, nats.errors.ConnectionClosedError)):
        await write_many(nats_client, writes_of(2), timeout=0.5)
    nats_server.start()
