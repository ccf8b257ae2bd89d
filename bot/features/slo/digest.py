"""The daily SLO digest: the last 24 hours of the watch in one message, at `slo.digest.at` (UTC).

What flows through: the `slo-digest` job runs every minute with the clock's time; once the day's
digest time has passed it claims the day in `slo_digests` (one row per UTC day: a second replica or a
retried run finds it claimed and does nothing), reads the day's `slo_samples` and opened alerts, and
posts one message to `slo.digest.channel` (default `slack.release_channel`). A digest whose post
failed is retried by the next run (the claim is released).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from bot.core.migrations import Migration, Schema
from bot.core.runtime import Runtime
from bot.core.store import Database
from bot.features.slo.live import iso, silences_at
from bot.features.slo.render import Digest, DigestLine
from bot.features.slo.watch import slo_history
from commands.breach import Alert
from commands.slo import SloState

log = logging.getLogger(__name__)

_DDL = """
CREATE TABLE IF NOT EXISTS slo_digests (
    day TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    ts TEXT,
    claimed_at TEXT NOT NULL
);
"""
SCHEMA = Schema("slo_digest", [Migration(1, _DDL)])

INTERVAL_SECONDS = 60.0


class DigestRun(BaseModel):
    posted: bool = False
    day: str | None = None
    ts: str | None = None


def _db(runtime: Runtime) -> Database:
    db = runtime.store.get()
    db.ensure(SCHEMA)
    return db


def digest_time(runtime: Runtime, at: datetime) -> datetime:
    """Today's (UTC) digest time."""
    midnight = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(minutes=runtime.config.slo.digest.minutes)


def build_digest(runtime: Runtime, *, end: datetime) -> Digest:
    """The 24 hours before `end`: each SLO's share of OK evaluations, breaching/unknown counts, pages opened."""
    start = end - timedelta(days=1)
    history = slo_history(runtime, start=start, end=end)
    rows = runtime.store.get().connect().execute(
        "SELECT data FROM slo_alerts WHERE updated_at >= ?", (iso(start),)).fetchall()
    opened = [a for a in (Alert.model_validate_json(r["data"]) for r in rows) if start <= a.opened_at <= end]
    lines = []
    for slo in runtime.config.slo.catalog:
        states = [r.state for status in history for r in status.results if r.name == slo.name]
        ok = sum(1 for s in states if s is SloState.OK)
        lines.append(DigestLine(name=slo.name, ok_ratio=ok / len(states) if states else None,
                                breaching=sum(1 for s in states if s is SloState.BREACHING),
                                unknown=sum(1 for s in states if s is SloState.UNKNOWN),
                                alerts=sum(1 for a in opened if a.slo == slo.name)))
    return Digest(start=start, end=end, evaluations=len(history), lines=lines, silences=silences_at(runtime, end))


def run_digest(runtime: Runtime, *, at: datetime) -> DigestRun:
    """Post today's digest once, as soon as `at` has reached `slo.digest.at`."""
    settings = runtime.config.slo.digest
    if not settings.enabled:
        return DigestRun()
    due = digest_time(runtime, at)
    if at < due:
        return DigestRun()
    day = due.date().isoformat()
    channel = settings.channel or runtime.config.slack.release_channel or ""
    db = _db(runtime)
    with db.transaction() as connection:
        claimed = connection.execute(
            "INSERT INTO slo_digests (day, channel, ts, claimed_at) VALUES (?, ?, NULL, ?) "
            "ON CONFLICT (day) DO NOTHING",
            (day, channel, iso(at))).rowcount
    if not claimed:
        return DigestRun(day=day)
    try:
        ts = runtime.poster.get().post(build_digest(runtime, end=due), channel=channel or None)
    except Exception:
        log.exception("could not post the SLO digest for %s; the next run retries", day)
        db.connect().execute("DELETE FROM slo_digests WHERE day = ?", (day,))
        return DigestRun(day=day)
    db.connect().execute("UPDATE slo_digests SET ts = ? WHERE day = ?", (ts, day))
    return DigestRun(posted=True, day=day, ts=ts)
