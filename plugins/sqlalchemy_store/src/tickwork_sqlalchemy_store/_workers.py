"""The registry of the schedulers sharing the store (``scheduler_workers``).

One row per live scheduler: its worker id and the time until which it counts as alive.
A heartbeat moves its own row's time on, deletes the rows whose time has passed and
reads the rest, in one transaction, so the schedulers agree on who shares the store
(see ``tickwork._membership`` for what they do with it). The table is small (one row
per scheduler process), so none of this needs an index beyond the primary key.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Table, delete, insert, select, update

from . import _rows
from ._runners import Runner

__all__ = ["heartbeat", "leave"]


async def heartbeat(
    runner: Runner, workers: Table, owner: str, expires_at: datetime, now: datetime
) -> list[str]:
    """Keep ``owner`` alive until ``expires_at``; the owners alive at ``now``, sorted."""
    _rows.check_owner(owner)
    until, cutoff = _rows.utc(expires_at), _rows.utc(now)

    def beat(conn: Connection) -> list[str]:
        moved = conn.execute(
            update(workers).where(workers.c.owner == owner).values(expires_at=until)
        ).rowcount
        if not moved:  # first beat, or our row was deleted as expired meanwhile
            conn.execute(insert(workers).values(owner=owner, expires_at=until))
        conn.execute(delete(workers).where(workers.c.expires_at < cutoff))
        return sorted(conn.execute(select(workers.c.owner)).scalars())

    return await runner.transaction(f"heartbeat of scheduler {owner!r}", beat)


async def leave(runner: Runner, workers: Table, owner: str) -> None:
    """Delete ``owner``'s row (no error if there is none)."""
    _rows.check_owner(owner)

    def drop(conn: Connection) -> None:
        conn.execute(delete(workers).where(workers.c.owner == owner))

    await runner.transaction(f"scheduler {owner!r} leaving", drop)
