"""The canary's state in the bot's store: the active run, its stage and stage start, and the history.

What flows through: `commands.canary.CanaryRun` rows in and out of `canary_active` (at most one
row: one canary at a time), and one `canary_history` row per event. The state survives restarts
and is shared by replicas on the same volume.

One transition at a time: a start, promote or abort first *claims* the run inside a
store transaction (`db.transaction()`) (comparing the stage it decided on with the stored one and checking
that no other transition holds the claim), then touches the cluster, then *finishes* the claim
(advancing the stage only when the cluster change succeeded). Two promotes racing (two people,
two replicas, a Slack retry) therefore apply one stage: the second finds the claim taken or the
stage already moved. A claim older than `canary.transition_timeout_seconds` is treated as
abandoned by a crashed process and may be taken over.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from bot.core.migrations import Migration, Schema
from bot.core.runtime import Runtime
from bot.core.store import Connection, Database, Row
from commands.canary import CanaryRun

_DDL = """
CREATE TABLE IF NOT EXISTS canary_active (
    slot INTEGER PRIMARY KEY CHECK (slot = 1),
    id TEXT NOT NULL,
    image TEXT NOT NULL,
    stage INTEGER NOT NULL,
    stage_started_at TEXT NOT NULL,
    started_at TEXT NOT NULL,
    started_by TEXT NOT NULL,
    channel TEXT NOT NULL,
    thread_ts TEXT,
    stable_image TEXT NOT NULL DEFAULT '',
    transition TEXT,
    transition_at TEXT,
    last_event TEXT,
    message_channel TEXT,
    engine TEXT,
    revision TEXT
);
CREATE TABLE IF NOT EXISTS canary_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    canary_id TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    event TEXT NOT NULL,
    stage_before INTEGER,
    stage_after INTEGER,
    image TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""


# Columns added after the first release of the table. Version 1 adopts a store of commit 10b9b11 or earlier
# (the run message's channel); version 2 adds the canary engine and its revision. New columns: a new
# Migration (its `columns` add them to existing tables; the DDL above already has them for new stores).
SCHEMA = Schema("canary", [
    Migration(1, _DDL, columns={"canary_active": {"message_channel": "TEXT"}}),
    Migration(2, columns={"canary_active": {"engine": "TEXT", "revision": "TEXT"}}),
])


def _db(runtime: Runtime) -> Database:
    db = runtime.store.get()
    db.ensure(SCHEMA)
    return db


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass(frozen=True)
class Active:
    run: CanaryRun
    transition: str | None  # "<kind>:<token>" while a transition holds the claim
    transition_at: datetime | None
    last_event: str | None

    @property
    def starting(self) -> bool:
        return bool(self.transition and self.transition.startswith("start:"))


def _row_to_active(row: Row) -> Active:
    data = dict(row)
    run = CanaryRun(
        id=data["id"], image=data["image"], stage=data["stage"], stage_started_at=_when(data["stage_started_at"]),
        started_at=_when(data["started_at"]), started_by=data["started_by"], channel=data["channel"],
        thread_ts=data["thread_ts"], stable_image=data["stable_image"],
        message_channel=data.get("message_channel") or "",
        engine=data.get("engine") or "gateway", revision=data.get("revision") or "",
    )
    at = data["transition_at"]
    return Active(run=run, transition=data["transition"], transition_at=_when(at) if at else None,
                  last_event=data["last_event"])


def load(runtime: Runtime) -> Active | None:
    row = _db(runtime).connect().execute("SELECT * FROM canary_active WHERE slot = 1").fetchone()
    return _row_to_active(row) if row else None


def new_token() -> str:
    return secrets.token_hex(6)


class Claim(BaseModel):
    """The outcome of trying to take the transition claim."""

    token: str | None = None  # set when claimed
    run: CanaryRun | None = None
    refusal: str | None = None


def _busy(active: Active, *, now: datetime, timeout: timedelta) -> bool:
    return bool(active.transition) and active.transition_at is not None and now - active.transition_at < timeout


def claim_start(runtime: Runtime, run: CanaryRun, *, now: datetime, timeout: timedelta) -> Claim:
    """Record the run as starting (stage 1 not yet applied), unless a canary is active or starting."""
    token = new_token()
    with _db(runtime).transaction() as connection:
        row = connection.execute("SELECT * FROM canary_active WHERE slot = 1").fetchone()
        if row is not None:
            existing = _row_to_active(row)
            if not (existing.starting and not _busy(existing, now=now, timeout=timeout)):
                what = "starting" if existing.starting else f"active at stage {existing.run.stage + 1}"
                return Claim(run=existing.run, refusal=(
                    f"A canary is already {what}: `{existing.run.image}`, started by <@{existing.run.started_by}>."
                    " Promote it to completion or `/bizra canary abort` it first."))
            connection.execute("DELETE FROM canary_active WHERE slot = 1")  # an abandoned start
        connection.execute(
            "INSERT INTO canary_active (slot, id, image, stage, stage_started_at, started_at, started_by, channel, "
            "thread_ts, stable_image, transition, transition_at, last_event, engine, revision) "
            "VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
            (run.id, run.image, run.stage, _iso(run.stage_started_at), _iso(run.started_at), run.started_by,
             run.channel, run.thread_ts, run.stable_image, f"start:{token}", _iso(now), run.engine, run.revision),
        )
    return Claim(token=token, run=run)


def claim(runtime: Runtime, *, kind: str, expected_stage: int | None, now: datetime, timeout: timedelta) -> Claim:
    """Take the claim for a promote/abort of the active run (at `expected_stage`, when given)."""
    token = new_token()
    with _db(runtime).transaction() as connection:
        row = connection.execute("SELECT * FROM canary_active WHERE slot = 1").fetchone()
        if row is None:
            return Claim(refusal="No canary is active (it may have just been completed or aborted). "
                                 "`/bizra canary status` shows the current state.")
        active = _row_to_active(row)
        if _busy(active, now=now, timeout=timeout):
            what = (active.transition or "").split(":")[0]
            return Claim(run=active.run, refusal=(
                f"Another {what} of this canary is in progress (since {active.transition_at:%H:%M:%S} UTC); "
                "only one change runs at a time. Check `/bizra canary status` in a moment."))
        if expected_stage is not None and active.run.stage != expected_stage:
            return Claim(run=active.run, refusal=(
                f"The canary already moved on: it is at stage {active.run.stage + 1} now, not stage "
                f"{expected_stage + 1}. Nothing was applied; `/bizra canary status` shows where it stands."))
        connection.execute("UPDATE canary_active SET transition = ?, transition_at = ? WHERE slot = 1",
                           (f"{kind}:{token}", _iso(now)))
    return Claim(token=token, run=active.run)


def _holds(connection: Connection, token: str) -> bool:
    row = connection.execute("SELECT transition FROM canary_active WHERE slot = 1").fetchone()
    return bool(row and row["transition"] and row["transition"].endswith(":" + token))


def release(runtime: Runtime, token: str, *, event: str) -> None:
    """Give the claim back without changing the stage (the change failed, or was not needed yet)."""
    with _db(runtime).transaction() as connection:
        if _holds(connection, token):
            connection.execute("UPDATE canary_active SET transition = NULL, transition_at = NULL, last_event = ? "
                               "WHERE slot = 1", (event,))


def set_revision(runtime: Runtime, token: str, revision: str) -> bool:
    """Bind the run to the revision its engine approved (the pod-template hash, Flagger checksum), under the claim."""
    with _db(runtime).transaction() as connection:
        if not _holds(connection, token):
            return False
        connection.execute("UPDATE canary_active SET revision = ? WHERE slot = 1", (revision,))
    return True


def abandon_start(runtime: Runtime, token: str) -> None:
    """Stage 1 could not be applied: no canary is active after all."""
    with _db(runtime).transaction() as connection:
        if _holds(connection, token):
            connection.execute("DELETE FROM canary_active WHERE slot = 1")


def advance(runtime: Runtime, token: str, *, stage: int, stage_started_at: datetime, event: str,
            thread_ts: str | None = None) -> bool:
    """The cluster change succeeded: record the new stage and its start, and release the claim."""
    with _db(runtime).transaction() as connection:
        if not _holds(connection, token):
            return False
        connection.execute(
            "UPDATE canary_active SET stage = ?, stage_started_at = ?, transition = NULL, transition_at = NULL, "
            "last_event = ?, thread_ts = COALESCE(?, thread_ts) WHERE slot = 1",
            (stage, _iso(stage_started_at), event, thread_ts),
        )
    return True


def set_message(runtime: Runtime, run_id: str, *, channel: str | None, ts: str | None) -> None:
    """Remember the run message (the root of its thread) and its channel, so restarts and other replicas
    keep editing the same message. A store from before the run message has only `thread_ts`: the
    thread's first post, which then becomes the run message."""
    if ts is None:
        return
    _db(runtime).connect().execute(
        "UPDATE canary_active SET message_channel = COALESCE(?, message_channel), thread_ts = ? "
        "WHERE slot = 1 AND id = ?", (channel, ts, run_id))


def set_thread(runtime: Runtime, run_id: str, thread_ts: str | None) -> None:
    if thread_ts:
        _db(runtime).connect().execute("UPDATE canary_active SET thread_ts = ? WHERE slot = 1 AND id = ?",
                                       (thread_ts, run_id))


def end(runtime: Runtime, token: str) -> bool:
    """The canary is over (completed or aborted): remove it, if this claim still holds it."""
    with _db(runtime).transaction() as connection:
        if not _holds(connection, token):
            return False
        connection.execute("DELETE FROM canary_active WHERE slot = 1")
    return True


class HistoryEntry(BaseModel):
    canary_id: str
    at: datetime
    actor: str
    event: str
    stage_before: int | None
    stage_after: int | None
    image: str
    outcome: str
    detail: str


def add_history(runtime: Runtime, *, run: CanaryRun, actor: str, event: str, stage_before: int | None,
                stage_after: int | None, outcome: str, detail: str = "") -> None:
    _db(runtime).connect().execute(
        "INSERT INTO canary_history (canary_id, at, actor, event, stage_before, stage_after, image, outcome, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (run.id, _iso(runtime.clock.now()), actor, event, stage_before, stage_after, run.image, outcome, detail),
    )


def history(runtime: Runtime, n: int = 50) -> list[HistoryEntry]:
    rows = _db(runtime).connect().execute("SELECT * FROM canary_history ORDER BY id DESC LIMIT ?", (n,)).fetchall()
    return [HistoryEntry(**{k: v for k, v in dict(row).items() if k != "id"}) for row in rows]
