"""tickwork-nats-store: keep tickwork jobs and execution history in NATS JetStream KV.

::

    from tickwork_nats_store import NATSStore

    store = NATSStore("nats://127.0.0.1:4222")      # the store owns this connection
    store = NATSStore(js=nc.jetstream())            # share a connection you own

or, through the plugin registry, ``tickwork.create_store("nats://127.0.0.1:4222")``.
See ``docs/stores/nats.md``.
"""

from __future__ import annotations

from ._keys import decode_id, encode_id
from ._once import JetStreamOnce, OnceFunc
from ._store import NATSStore

__all__ = ["JetStreamOnce", "NATSStore", "OnceFunc", "decode_id", "encode_id"]
