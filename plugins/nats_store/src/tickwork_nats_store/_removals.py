"""Which stored KV messages say that their key is gone, for every reader of the store.

A key's last message may remove it rather than hold a value: a delete or purge marker
(``KV-Operation``), or, on nats-server 2.11+, the marker the server itself leaves when
a TTL or a limit removes the key (``Nats-Marker-Reason``). Every way the store reads a
key's latest value (a scan, a batched direct get, the last record of a job) asks
:func:`is_removal`, so that all of them agree on whether a key exists.
"""

from __future__ import annotations

from collections.abc import Mapping

from nats.js.kv import KV_DEL, KV_OP, KV_PURGE

__all__ = ["KV_MARKER_REASON", "is_removal"]

KV_MARKER_REASON = "Nats-Marker-Reason"
"""Header of the markers nats-server 2.11+ leaves when a TTL or limit removes a key."""


def is_removal(headers: Mapping[str, str] | None) -> bool:
    """Whether a message with ``headers`` removes its key instead of holding a value."""
    if not headers:
        return False
    return headers.get(KV_OP) in (KV_DEL, KV_PURGE) or KV_MARKER_REASON in headers
