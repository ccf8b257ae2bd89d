"""The evidence feature's tables: which archives exist (each built once) and the threads of running canaries.

A run's progress thread lives in the canary's active row only while it runs; the sweep remembers
it here so the archive of an ended run can still be uploaded into that thread.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.migrations import Migration, Schema
from bot.core.runtime import Runtime
from bot.core.store import Database

_DDL = """
CREATE TABLE IF NOT EXISTS evidence_archives (
    key TEXT PRIMARY KEY,
    canary_id TEXT NOT NULL,
    trigger TEXT NOT NULL,
    state TEXT NOT NULL,
    path TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS evidence_threads (
    canary_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    thread_ts TEXT NOT NULL
);
"""
SCHEMA = Schema("evidence", [Migration(1, _DDL)])


def _db(runtime: Runtime) -> Database:
    db = runtime.store.get()
    db.ensure(SCHEMA)
    return db


def claim(runtime: Runtime, key: str, *, canary_id: str, trigger: str, at: datetime) -> bool:
    """True for the one caller (across threads, replicas, retries) that builds the archive for `key`."""
    with _db(runtime).transaction() as connection:
        cursor = connection.execute(
            "INSERT INTO evidence_archives (key, canary_id, trigger, state, at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (key) DO NOTHING",
            (key, canary_id, trigger, "building", at.astimezone(UTC).isoformat()))
        return cursor.rowcount == 1


def done(runtime: Runtime, key: str, *, path: str) -> None:
    _db(runtime).connect().execute("UPDATE evidence_archives SET state = 'done', path = ? WHERE key = ?", (path, key))


def forget(runtime: Runtime, key: str) -> None:
    """The build failed: the next sweep tries again."""
    _db(runtime).connect().execute("DELETE FROM evidence_archives WHERE key = ?", (key,))


def remember_thread(runtime: Runtime, canary_id: str, *, channel: str, thread_ts: str) -> None:
    _db(runtime).connect().execute(
        "INSERT INTO evidence_threads (canary_id, channel, thread_ts) VALUES (?, ?, ?) "
        "ON CONFLICT (canary_id) DO UPDATE SET channel = excluded.channel, thread_ts = excluded.thread_ts",
        (canary_id, channel, thread_ts))


def thread_of(runtime: Runtime, canary_id: str) -> tuple[str, str] | None:
    row = _db(runtime).connect().execute(
        "SELECT channel, thread_ts FROM evidence_threads WHERE canary_id = ?", (canary_id,)).fetchone()
    return (row["channel"], row["thread_ts"]) if row else None
