"""The sign-off's tables: every tick (kept, never overwritten) and where its living message is."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.migrations import Migration, Schema
from bot.core.runtime import Runtime
from bot.core.store import Database
from commands.signoff import Tick

_DDL = """
CREATE TABLE IF NOT EXISTS signoff_ticks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item TEXT NOT NULL,
    by_user TEXT NOT NULL,
    at TEXT NOT NULL,
    comment TEXT NOT NULL,
    whole_section INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS signoff_message (
    slot INTEGER PRIMARY KEY CHECK (slot = 1),
    channel TEXT NOT NULL,
    ts TEXT NOT NULL
);
"""
SCHEMA = Schema("signoff", [Migration(1, _DDL)])


def _db(runtime: Runtime) -> Database:
    db = runtime.store.get()
    db.ensure(SCHEMA)
    return db


def add_ticks(runtime: Runtime, ticks: list[Tick]) -> None:
    with _db(runtime).transaction() as connection:
        connection.executemany(
            "INSERT INTO signoff_ticks (item, by_user, at, comment, whole_section) VALUES (?, ?, ?, ?, ?)",
            [(t.item, t.by, t.at.astimezone(UTC).isoformat(), t.comment, int(t.whole_section)) for t in ticks],
        )


def ticks(runtime: Runtime) -> list[Tick]:
    rows = _db(runtime).connect().execute("SELECT * FROM signoff_ticks ORDER BY id").fetchall()
    return [Tick(item=r["item"], by=r["by_user"], at=datetime.fromisoformat(r["at"]), comment=r["comment"],
                 whole_section=bool(r["whole_section"])) for r in rows]


def message(runtime: Runtime) -> tuple[str, str] | None:
    row = _db(runtime).connect().execute("SELECT channel, ts FROM signoff_message WHERE slot = 1").fetchone()
    return (row["channel"], row["ts"]) if row else None


def set_message(runtime: Runtime, *, channel: str, ts: str) -> None:
    _db(runtime).connect().execute(
        "INSERT INTO signoff_message (slot, channel, ts) VALUES (1, ?, ?) "
        "ON CONFLICT(slot) DO UPDATE SET channel = excluded.channel, ts = excluded.ts", (channel, ts))
