"""``Replies``: one inbox subscription per connection for the answers it waits for.

Against a real server: several answers to one request, one answer to each of several
publishes, a server that stops (nothing answers: a timeout, not a hang) and comes back
(the subscription is renewed with the connection, and answers arrive again).
"""

from __future__ import annotations

import json

import nats.errors
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext, api
from support.nats_server import NatsServer

from tickwork_nats_store import replies_of

pytestmark = pytest.mark.nats


@pytest.fixture
async def bucket(jetstream: JetStreamContext) -> str:
    """A KV bucket ``r`` that allows direct gets; its stream."""
    await jetstream.create_key_value(api.KeyValueConfig(bucket="r", history=1, direct=True))
    return "KV_r"


async def test_a_request_answered_by_several_messages_ends_at_its_status(
    nats_client: Client, bucket: str
) -> None:
    replies = replies_of(nats_client)
    answers = await replies.publish_each(
        [(f"$KV.r.k{i}", f"v{i}".encode(), None) for i in range(3)], timeout=5
    )
    assert [json.loads(a.data)["seq"] for a in answers if a is not None] == [1, 2, 3]
    request = {"multi_last": [f"$KV.r.k{i}" for i in range(3)], "batch": 3}
    got = await replies.stream(f"$JS.API.DIRECT.GET.{bucket}", json.dumps(request).encode(), 5)
    assert [m.data for m in got[:-1]] == [b"v0", b"v1", b"v2"]
    assert got[-1].headers is not None
    assert got[-1].headers["Status"] == "204"
    assert replies_of(nats_client) is replies  # one per connection


async def test_a_server_that_stops_times_out_and_answers_again_when_back(
    nats_server: NatsServer, nats_client: Client, bucket: str
) -> None:
    replies = replies_of(nats_client)
    request = json.dumps({"multi_last": ["$KV.r.x"], "batch": 1}).encode()
    await replies.stream(f"$JS.API.DIRECT.GET.{bucket}", request, 5)  # subscribed now
    nats_server.stop()
    with pytest.raises(nats.errors.TimeoutError):
        await replies.stream(f"$JS.API.DIRECT.GET.{bucket}", request, 0.5)
    assert await replies.publish_each([("$KV.r.x", b"1", None)], timeout=0.5) == [None]
    nats_server.start()
    for _ in range(50):  # the client reconnects, and renews the subscription
        [answer] = await replies.publish_each([("$KV.r.x", b"2", None)], timeout=0.5)
        if answer is not None:
            break
    assert answer is not None
    assert "seq" in json.loads(answer.data)
