"""The living status message and silences: their tables, and keeping today's status edited in place.

What flows through: each tick of the watch hands `publish_status` the evaluation with the silences in
force. Today's message (per UTC day and channel) is in `slo_status_message` with the per-SLO states it
last showed: the same states → `chat.update` of that message; a state changed (or a new day, or the
message is gone) → one new post, whose ts replaces the stored one. The ts may be the outbox's
placeholder `outbox:<id>` (Slack was slow): updates to it are sent once the post is, and the stored
placeholder is replaced by the real ts once known. Being in the store, a restart or another replica
keeps editing the same message.

Silences (`slo_silences`: id, slo or `all`, until, reason, by, at) are written by `/bizra slo silence`
and the Silence button, read by every tick (`commands.breach.step` holds back re-pages they cover),
and end by themselves: a silence is in force only while the clock is before its `until`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from bot.core.migrations import Migration, Schema
from bot.core.outbox import PLACEHOLDER, OutboxPoster
from bot.core.runtime import Runtime
from bot.core.store import Database
from bot.features.slo.render import LiveStatus
from commands.breach import Silence, active_silences
from commands.slo import SloStatus

log = logging.getLogger(__name__)

_DDL = """
CREATE TABLE IF NOT EXISTS slo_status_message (
    day TEXT NOT NULL,
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,
    last_state TEXT NOT NULL,
    posted_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (day, channel)
);
CREATE TABLE IF NOT EXISTS slo_silences (
    id TEXT PRIMARY KEY,
    slo TEXT NOT NULL,
    until TEXT NOT NULL,
    reason TEXT NOT NULL,
    by TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS slo_silences_until ON slo_silences (until);
"""
SCHEMA = Schema("slo_live", [Migration(1, _DDL)])


def _db(runtime: Runtime) -> Database:
    db = runtime.store.get()
    db.ensure(SCHEMA)
    return db


def iso(when: datetime) -> str:
    # Fixed width (always microseconds, always UTC) so that text order in SQLite is time order.
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


# -- silences -------------------------------------------------------------------------------------


def add_silence(runtime: Runtime, *, slo: str, duration: timedelta, reason: str, by: str,
                at: datetime) -> tuple[Silence, bool]:
    """Record a silence from `at` for `duration`; the same person silencing the same SLO in the same
    second (a double click, Slack's retry) is the same silence. Returns it, and whether it is new."""
    silence = Silence(id=f"{slo}.{at.astimezone(UTC).strftime('%Y%m%dT%H%M%S')}.{by}", slo=slo, until=at + duration,
                      reason=reason, by=by, at=at)
    connection = _db(runtime).connect()
    created = connection.execute(
        "INSERT INTO slo_silences (id, slo, until, reason, by, at) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO NOTHING",
        (silence.id, silence.slo, iso(silence.until), silence.reason, silence.by, iso(silence.at))).rowcount
    row = connection.execute("SELECT * FROM slo_silences WHERE id = ?", (silence.id,)).fetchone()
    return _silence(row), bool(created)


def _silence(row) -> Silence:  # type: ignore[no-untyped-def]
    return Silence(id=row["id"], slo=row["slo"], until=datetime.fromisoformat(row["until"]), reason=row["reason"],
                   by=row["by"], at=datetime.fromisoformat(row["at"]))


def silences_at(runtime: Runtime, at: datetime) -> list[Silence]:
    """The silences in force at `at` (soonest to end first); expired ones are simply not in force."""
    rows = _db(runtime).connect().execute(
        "SELECT * FROM slo_silences WHERE until > ? ORDER BY until, id", (iso(at),)).fetchall()
    return active_silences([_silence(row) for row in rows], at)


# -- the living status message --------------------------------------------------------------------


def state_key(status: SloStatus) -> str:
    """What a new post is made for: the state of each SLO (values change every tick; states rarely)."""
    return ",".join(f"{r.name}={r.state.value}" for r in sorted(status.results, key=lambda r: r.name))


def _channel(runtime: Runtime) -> str:
    return runtime.config.slack.release_channel or ""


def _real_ts(runtime: Runtime, ts: str) -> str:
    poster = runtime.poster.get()
    if ts.startswith(PLACEHOLDER) and isinstance(poster, OutboxPoster):
        return poster.outbox.resolve(ts) or ts
    return ts


def status_message_ts(runtime: Runtime, *, at: datetime) -> str | None:
    """Today's (UTC) status message ts in the release channel, if one was posted."""
    row = _db(runtime).connect().execute(
        "SELECT ts FROM slo_status_message WHERE day = ? AND channel = ?",
        (at.astimezone(UTC).date().isoformat(), _channel(runtime))).fetchone()
    return str(row["ts"]) if row else None


def publish_status(runtime: Runtime, status: SloStatus, *, silences: list[Silence], at: datetime) -> str:
    """Edit today's status message in place, or post a new one when a state changed; "updated" or "posted"."""
    channel = _channel(runtime)
    day = at.astimezone(UTC).date().isoformat()
    key = state_key(status)
    message = LiveStatus(status=status, silences=silences,
                         interval_minutes=runtime.config.slo.interval.total_seconds() / 60)
    poster = runtime.poster.get()
    db = _db(runtime)
    row = db.connect().execute("SELECT ts, last_state FROM slo_status_message WHERE day = ? AND channel = ?",
                               (day, channel)).fetchone()
    if row is not None and row["last_state"] == key:
        ts = _real_ts(runtime, str(row["ts"]))
        try:
            poster.update(ts, message, channel=channel or None)
        except Exception:  # the message is gone (deleted, not found): post a new one below
            log.exception("could not update the SLO status message %s; posting a new one", ts)
        else:
            db.connect().execute("UPDATE slo_status_message SET ts = ?, updated_at = ? WHERE day = ? AND channel = ?",
                                 (ts, iso(at), day, channel))
            return "updated"
    posted = poster.post(message, channel=channel or None)
    if posted:
        db.connect().execute(
            "INSERT INTO slo_status_message (day, channel, ts, last_state, posted_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (day, channel) DO UPDATE SET ts = excluded.ts, "
            "last_state = excluded.last_state, posted_at = excluded.posted_at, updated_at = excluded.updated_at",
            (day, channel, posted, key, iso(at), iso(at)))
    return "posted"


def refresh_status(runtime: Runtime, status: SloStatus | None, *, at: datetime) -> None:
    """Show a change of silences at once in today's message (same states: an edit, never a new post)."""
    if status is None or not runtime.config.slo.post_status:
        return
    row = _db(runtime).connect().execute(
        "SELECT ts, last_state FROM slo_status_message WHERE day = ? AND channel = ?",
        (at.astimezone(UTC).date().isoformat(), _channel(runtime))).fetchone()
    if row is None or row["last_state"] != state_key(status):
        return
    message = LiveStatus(status=status, silences=silences_at(runtime, at),
                         interval_minutes=runtime.config.slo.interval.total_seconds() / 60)
    try:
        runtime.poster.get().update(_real_ts(runtime, str(row["ts"])), message, channel=_channel(runtime) or None)
    except Exception:
        log.exception("could not show the silence in the SLO status message")
