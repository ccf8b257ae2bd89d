"""Each replica's heartbeat in the shared store: who runs, since when, which version, whether it leads.

What flows through: one row per replica identity (`POD_NAME`, else host-pid) in `bizra_replicas`,
written by every replica's `replica-heartbeat` job (the one background job that is not leader-only)
and read by `/bizra status` and `/healthz`. A replica whose row is older than three heartbeat
intervals is listed as not seen recently (it died, or was scaled away); rows are never needed for a
decision, so a stale one is harmless and old ones are pruned after a day.

Portable SQL: `ON CONFLICT … DO UPDATE`, ISO-8601 UTC text for times, 0/1 integers for the flag.
"""

from __future__ import annotations

import importlib.metadata
from datetime import datetime, timedelta

from pydantic import BaseModel

from bot.core.migrations import Migration, Schema
from bot.core.runtime import Runtime
from bot.core.store import Database

TABLE = "bizra_replicas"
SCHEMA = Schema("replicas", [Migration(1, f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    identity TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    version TEXT NOT NULL,
    is_leader INTEGER NOT NULL DEFAULT 0
)""")])
RECENT_HEARTBEATS = 3  # a replica missing this many heartbeats is no longer "seen recently"
FORGET_AFTER = timedelta(days=1)


class ReplicaSeen(BaseModel):
    identity: str
    started_at: datetime
    last_seen: datetime
    version: str
    is_leader: bool  # as the replica itself said in its last heartbeat
    recent: bool  # seen within RECENT_HEARTBEATS heartbeat intervals


def bot_version() -> str:
    try:
        return importlib.metadata.version("bizra-bot")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def record_heartbeat(db: Database, *, identity: str, started_at: datetime, at: datetime, version: str,
                     is_leader: bool) -> None:
    db.ensure(SCHEMA)
    with db.transaction() as connection:
        connection.execute(
            f"INSERT INTO {TABLE} (identity, started_at, last_seen, version, is_leader) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (identity) DO UPDATE SET started_at = excluded.started_at, last_seen = excluded.last_seen, "
            "version = excluded.version, is_leader = excluded.is_leader",
            (identity, started_at.isoformat(), at.isoformat(), version, int(is_leader)))
        connection.execute(f"DELETE FROM {TABLE} WHERE last_seen < ?", ((at - FORGET_AFTER).isoformat(),))


def replicas_seen(db: Database, *, now: datetime, heartbeat_interval: timedelta) -> list[ReplicaSeen]:
    """Every replica with a heartbeat row, the most recently seen first."""
    db.ensure(SCHEMA)
    rows = db.connect().execute(
        f"SELECT identity, started_at, last_seen, version, is_leader FROM {TABLE} ORDER BY last_seen DESC, identity"
    ).fetchall()
    horizon = now - heartbeat_interval * RECENT_HEARTBEATS
    seen = []
    for identity, started_at, last_seen, version, is_leader in rows:
        last = datetime.fromisoformat(str(last_seen))
        seen.append(ReplicaSeen(identity=str(identity), started_at=datetime.fromisoformat(str(started_at)),
                                last_seen=last, version=str(version), is_leader=bool(is_leader),
                                recent=last >= horizon))
    return seen


class Heartbeat:
    """The `replica-heartbeat` job's body: this replica's row, with the time it first ran as its start."""

    def __init__(self) -> None:
        self.started_at: datetime | None = None

    def __call__(self, runtime: Runtime, at: datetime) -> None:
        if self.started_at is None:
            self.started_at = at
        leadership = runtime.leadership.get()
        record_heartbeat(runtime.store.get(), identity=leadership.identity, started_at=self.started_at, at=at,
                         version=bot_version(), is_leader=leadership.is_leader())
