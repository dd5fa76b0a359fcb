"""tickwork-nats-store: keep tickwork jobs and execution history in NATS JetStream KV.

::

    from tickwork_nats_store import NATSStore

    store = NATSStore("nats://127.0.0.1:4222")      # the store owns this connection
    store = NATSStore(js=nc.jetstream())            # share a connection you own

or, through the plugin registry, ``tickwork.create_store("nats://127.0.0.1:4222")``.
See ``docs/stores/nats.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._keys import SAFE_CHARS, decode_id, encode_id

if TYPE_CHECKING:
    from ._atomic_batch import (
        MAX_BATCH_MESSAGES,
        BatchRejectedError,
        Write,
        enable_atomic,
        publish_atomically,
    )
    from ._connect import fail_if_all_refuse
    from ._errors import CONNECTION_ERRORS
    from ._multi_get import LastValue, read_last_many
    from ._once import JetStreamOnce, OnceFunc
    from ._replies import Replies, replies_of
    from ._store import NATSStore
    from ._write_many import ATOMIC_FROM, write_many

__all__ = [
    "ATOMIC_FROM",
    "CONNECTION_ERRORS",
    "MAX_BATCH_MESSAGES",
    "SAFE_CHARS",
    "BatchRejectedError",
    "JetStreamOnce",
    "LastValue",
    "NATSStore",
    "OnceFunc",
    "Replies",
    "Write",
    "decode_id",
    "enable_atomic",
    "encode_id",
    "fail_if_all_refuse",
    "publish_atomically",
    "read_last_many",
    "replies_of",
    "write_many",
]

_LAZY = {
    "MAX_BATCH_MESSAGES": "._atomic_batch",
    "BatchRejectedError": "._atomic_batch",
    "Write": "._atomic_batch",
    "enable_atomic": "._atomic_batch",
    "publish_atomically": "._atomic_batch",
    "LastValue": "._multi_get",
    "read_last_many": "._multi_get",
    "Replies": "._replies",
    "replies_of": "._replies",
    "ATOMIC_FROM": "._write_many",
    "write_many": "._write_many",
    "CONNECTION_ERRORS": "._errors",
    "fail_if_all_refuse": "._connect",
    "NATSStore": "._store",
    "JetStreamOnce": "._once",
    "OnceFunc": "._once",
}


def __getattr__(name: str) -> Any:
    # nats-py loads on first use, not when tickwork's plugin discovery imports us.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module, __name__), name)
