"""The audit log: every state-changing action and every refused attempt, in the bot's store.

Any feature calls `record(runtime, actor=…, channel=…, action=…, target=…, before=…, after=…,
outcome=…)` after it acts (or is refused); `latest(runtime, n)` reads the newest entries back for
`/bizra audit` and for incident bundles. Rows live in the `audit_log` table of the store (SQLite or
PostgreSQL), so they survive restarts and are shared by replicas. `before`/`after` accept
text or any JSON-serialisable value (stored as JSON text), so a change can be shown exactly.

Retention: the log is kept forever unless the operator asks otherwise; `prune(runtime, before=…,
export_dir=…)` deletes entries older than a time, in batches by the `at` index, and with an export
directory first appends them (JSON lines, fsynced) to `audit-<UTC time>.jsonl` there, so nothing is
deleted that was not written out. Reads with `since` (incident bundles) go through the same index.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bot.core.migrations import Migration, Schema
from bot.core.runtime import Runtime
from bot.core.store import inserted_id

log = logging.getLogger(__name__)

_DDL = """
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    channel TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before TEXT NOT NULL,
    after TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
"""
SCHEMA = Schema("audit", [Migration(1, _DDL)])


class AuditOutcome(StrEnum):
    """Common outcomes; features may record their own words, these keep the usual ones consistent."""

    OK = "ok"
    DENIED = "denied"
    REFUSED = "refused"
    FAILED = "failed"
    REQUESTED = "requested"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    TIMEOUT = "timeout"


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    channel: str
    action: str
    target: str
    before: str
    after: str
    outcome: str
    detail: str


class AuditListing(BaseModel):
    """What `/bizra audit [N]` shows: the newest entries first."""

    requested: int
    entries: list[AuditEntry]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps(value, sort_keys=True, default=str)


def record(runtime: Runtime, *, actor: str, channel: str, action: str, target: str, before: Any, after: Any,
           outcome: str, detail: str = "") -> int:
    """Append one entry (time from the runtime's clock); returns its id."""
    db = runtime.store.get()
    db.ensure(SCHEMA)
    at = runtime.clock.now().astimezone(UTC).isoformat()
    entry_id = inserted_id(
        db.connect(),
        "INSERT INTO audit_log (at, actor, channel, action, target, before, after, outcome, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (at, actor, channel, action, target, _text(before), _text(after), str(outcome), detail),
    )
    log.info("audit %s %s by %s in %s: %s", action, target, actor, channel, outcome)
    return entry_id


def latest(runtime: Runtime, n: int = 20, *, action_prefix: str | None = None,
           since: datetime | None = None) -> list[AuditEntry]:
    """The newest `n` entries, newest first; optionally only actions starting with a prefix / after a time."""
    db = runtime.store.get()
    db.ensure(SCHEMA)
    query = "SELECT * FROM audit_log"
    clauses: list[str] = []
    params: list[Any] = []
    if action_prefix:
        clauses.append("substr(action, 1, ?) = ?")
        params += [len(action_prefix), action_prefix]
    if since is not None:
        clauses.append("at >= ?")
        params.append(since.astimezone(UTC).isoformat())
    if clauses:
        query += " WHERE " + " AND ".join(clauses)
    # With `since`, newest first by the time index (its entries are ordered by (at, id)), so an
    # incident bundle reads only the rows of its window however long the log has grown.
    query += " ORDER BY at DESC, id DESC LIMIT ?" if since is not None else " ORDER BY id DESC LIMIT ?"
    params.append(max(0, n))
    rows = db.connect().execute(query, params).fetchall()
    return [AuditEntry(**dict(row)) for row in rows]


class PruneResult(BaseModel):
    deleted: int = 0
    exported_to: str | None = None


def prune(runtime: Runtime, *, before: datetime, export_dir: Path | None = None,
          batch_rows: int = 10_000) -> PruneResult:
    """Delete entries older than `before`, oldest first in batches; with `export_dir`, each batch is
    appended to one JSON-lines file there (and fsynced) before it is deleted."""
    db = runtime.store.get()
    db.ensure(SCHEMA)
    cutoff = before.astimezone(UTC).isoformat()
    target: Path | None = None
    if export_dir is not None:
        export_dir.mkdir(parents=True, exist_ok=True)
        target = export_dir / f"audit-{runtime.clock.now().astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}.jsonl"
    deleted = 0
    while True:
        with db.transaction() as connection:
            rows = connection.execute("SELECT * FROM audit_log WHERE at < ? ORDER BY at, id LIMIT ?",
                                      (cutoff, max(1, batch_rows))).fetchall()
            if not rows:
                break
            if target is not None:
                with target.open("a", encoding="utf-8") as out:
                    for row in rows:
                        out.write(json.dumps(dict(row), sort_keys=True) + "\n")
                    out.flush()
                    os.fsync(out.fileno())
            connection.executemany("DELETE FROM audit_log WHERE id = ?", [(row["id"],) for row in rows])
        deleted += len(rows)
        if len(rows) < batch_rows:
            break
    if deleted:
        log.info("audit retention: %d entries before %s deleted%s", deleted, cutoff,
                 f", exported to {target}" if target else "")
    return PruneResult(deleted=deleted, exported_to=str(target) if target is not None and deleted else None)
