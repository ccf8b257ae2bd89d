"""The Flagger gate's decisions in the bot's store, so every replica answers Flagger the same.

What flows through: one `flagger_runs` row per revision Flagger asked about — keyed by its id,
found by (namespace, name, checksum), bound to the target revision the bot read from the cluster
(image, pod-template hash) — with its state (waiting for a start, approved, denied, aborted,
completed, failed, superseded); `flagger_current` names the run Flagger is on for each Canary;
`flagger_grants` holds the promotions granted per step; `flagger_events` the event hooks already
posted (Flagger repeats them every interval).

Every check-then-write runs inside `db.transaction()`; every state change is a conditional update
(`WHERE state = ?`) whose rowcount says whether this call made it, so a double click, a Slack
retry or two replicas answering the same webhook decide once. SQL is portable between SQLite and
PostgreSQL (`?` placeholders, ON CONFLICT, ISO-8601 UTC text times, integers for flags).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from bot.core.migrations import Migration, Schema
from bot.core.runtime import Runtime
from bot.core.store import Database
from bot.features.canary.flagger.ref import canary_name, canary_namespace

DDL = """
CREATE TABLE IF NOT EXISTS flagger_runs (
    id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    rollout_checksum TEXT NOT NULL,
    image TEXT NOT NULL,
    template_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    adopted INTEGER NOT NULL,
    observed_stage INTEGER NOT NULL,
    observed_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    canary_id TEXT NOT NULL,
    posted INTEGER NOT NULL,
    message_channel TEXT NOT NULL,
    message_ts TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS flagger_runs_checksum ON flagger_runs (namespace, name, checksum);
CREATE TABLE IF NOT EXISTS flagger_current (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (namespace, name)
);
CREATE TABLE IF NOT EXISTS flagger_grants (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    granted_by TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    forced_reason TEXT NOT NULL,
    PRIMARY KEY (run_id, step)
);
CREATE TABLE IF NOT EXISTS flagger_events (
    run_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (run_id, digest)
);
"""


class RunState(StrEnum):
    WAITING = "waiting"          # Flagger asks; nobody started it yet
    APPROVED = "approved"        # `/bizra canary start` (or Approve) for this revision
    DENIED = "denied"            # Deny before a start: the rollback hook rolls it back
    ABORTED = "aborted"          # abort / auto-rollback: the rollback hook answers 200
    COMPLETED = "completed"      # Flagger promoted it (phase Succeeded)
    FAILED = "failed"            # Flagger rolled it back on its own (phase Failed)
    SUPERSEDED = "superseded"    # a new revision (checksum) replaced it; every approval of it is void


ROLLBACK_STATES = (RunState.DENIED, RunState.ABORTED)
OVER_STATES = (RunState.DENIED, RunState.ABORTED, RunState.COMPLETED, RunState.FAILED, RunState.SUPERSEDED)


class FlaggerRun(BaseModel):
    id: str
    namespace: str
    name: str
    checksum: str
    rollout_checksum: str
    image: str
    template_hash: str
    state: RunState
    adopted: bool
    observed_stage: int  # -1: Flagger has not been seen at any stage's weight
    observed_at: datetime | None
    created_at: datetime
    decided_by: str
    decided_at: datetime | None
    reason: str
    canary_id: str
    posted: bool
    message_channel: str
    message_ts: str

    @property
    def over(self) -> bool:
        return self.state in OVER_STATES

    def knows(self, checksum: str) -> bool:
        return checksum in (self.checksum, self.rollout_checksum)


class StepGrant(BaseModel):
    """A step granted to a Flagger run: by whom (the promote's actor), and the reason when it was forced."""

    run_id: str
    step: int
    granted_by: str
    granted_at: datetime
    forced_reason: str  # empty: granted by the policy; else `--force "<reason>"` bypassed it

    @property
    def forced(self) -> bool:
        return bool(self.forced_reason)


# The Flagger gate's tables, versioned like every component's (bot/core/migrations.py); registered by
# flagger/feature.py so `bizra db upgrade` and `bizra serve` create them up front.
SCHEMA = Schema("canary-flagger", [Migration(1, DDL)])


def db(runtime: Runtime) -> Database:
    database = runtime.store.get()
    database.ensure(SCHEMA)
    return database


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


def _when(text: str) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _run(row: Any) -> FlaggerRun:
    data = dict(row)
    return FlaggerRun(
        id=data["id"], namespace=data["namespace"], name=data["name"], checksum=data["checksum"],
        rollout_checksum=data["rollout_checksum"], image=data["image"], template_hash=data["template_hash"],
        state=RunState(data["state"]), adopted=bool(data["adopted"]), observed_stage=int(data["observed_stage"]),
        observed_at=_when(data["observed_at"]), created_at=datetime.fromisoformat(data["created_at"]),
        decided_by=data["decided_by"], decided_at=_when(data["decided_at"]), reason=data["reason"],
        canary_id=data["canary_id"], posted=bool(data["posted"]), message_channel=data["message_channel"],
        message_ts=data["message_ts"],
    )


def get(runtime: Runtime, run_id: str) -> FlaggerRun | None:
    row = db(runtime).connect().execute("SELECT * FROM flagger_runs WHERE id = ?", (run_id,)).fetchone()
    return _run(row) if row else None


def current(runtime: Runtime, *, namespace: str, name: str) -> FlaggerRun | None:
    row = db(runtime).connect().execute(
        "SELECT r.* FROM flagger_runs r JOIN flagger_current c ON c.run_id = r.id "
        "WHERE c.namespace = ? AND c.name = ?", (namespace, name)).fetchone()
    return _run(row) if row else None


def waiting(runtime: Runtime) -> FlaggerRun | None:
    """The revision Flagger holds at confirm-rollout until it is started, with engine `flagger` (None otherwise);
    a store read only, for views that must not call the cluster (the App Home tab)."""
    if runtime.config.canary.engine != "flagger":
        return None
    run = current(runtime, namespace=canary_namespace(runtime), name=canary_name(runtime))
    return run if run is not None and run.state is RunState.WAITING else None


def by_checksum(runtime: Runtime, *, namespace: str, name: str, checksum: str) -> FlaggerRun | None:
    """The newest run that Flagger called with this checksum (as its bound or its confirm-rollout checksum)."""
    row = db(runtime).connect().execute(
        "SELECT * FROM flagger_runs WHERE namespace = ? AND name = ? AND (checksum = ? OR rollout_checksum = ?) "
        "ORDER BY created_at DESC, id DESC", (namespace, name, checksum, checksum)).fetchone()
    return _run(row) if row else None


def by_canary(runtime: Runtime, canary_id: str) -> FlaggerRun | None:
    row = db(runtime).connect().execute("SELECT * FROM flagger_runs WHERE canary_id = ? ORDER BY created_at DESC",
                                        (canary_id,)).fetchone()
    return _run(row) if row else None


class Resolution(BaseModel):
    """Which run a webhook call belongs to, and what resolving it changed."""

    run: FlaggerRun
    created: bool = False
    superseded: FlaggerRun | None = None
    adopted_from: str | None = None  # the confirm-rollout checksum this call's checksum replaced
    stale: bool = False  # the call is about an earlier run than the current one


def _new_run(connection: Any, *, namespace: str, name: str, checksum: str, rollout: bool, image: str,
             template_hash: str, now: datetime) -> FlaggerRun:
    run_id = secrets.token_hex(6)
    connection.execute(
        "INSERT INTO flagger_runs (id, namespace, name, checksum, rollout_checksum, image, template_hash, state, "
        "adopted, observed_stage, observed_at, created_at, decided_by, decided_at, reason, canary_id, posted, "
        "message_channel, message_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, -1, '', ?, '', '', '', '', 0, '', '')",
        (run_id, namespace, name, checksum, checksum if rollout else "", image, template_hash, RunState.WAITING,
         iso(now)))
    connection.execute(
        "INSERT INTO flagger_current (namespace, name, run_id) VALUES (?, ?, ?) "
        "ON CONFLICT (namespace, name) DO UPDATE SET run_id = excluded.run_id", (namespace, name, run_id))
    row = connection.execute("SELECT * FROM flagger_runs WHERE id = ?", (run_id,)).fetchone()
    return _run(row)


def resolve(runtime: Runtime, *, namespace: str, name: str, checksum: str, rollout: bool, image: str,
            template_hash: str, canary_weight: int, now: datetime) -> Resolution:
    """The run for a gating call (confirm-*, rollback) with `checksum`, for the target revision read now.

    Same checksum and revision: the same run. The checksum of an earlier run while the target still
    runs the current run's revision: that earlier run, unchanged (a late call). A different revision,
    or a new checksum: a new run, and the previous one is superseded (its approvals are void). One
    exception, for Flagger
    releases that sent the previous revision's checksum at confirm-rollout: a run approved at
    confirm-rollout, for this very revision, that no traffic has reached yet (weight 0), adopts the
    first new checksum once.
    """
    with db(runtime).transaction() as connection:
        row = connection.execute(
            "SELECT r.* FROM flagger_runs r JOIN flagger_current c ON c.run_id = r.id "
            "WHERE c.namespace = ? AND c.name = ?", (namespace, name)).fetchone()
        existing = _run(row) if row else None
        same_revision = existing is not None and existing.image == image and existing.template_hash == template_hash
        if existing is not None and same_revision and existing.knows(checksum):
            if rollout and not existing.rollout_checksum:
                connection.execute("UPDATE flagger_runs SET rollout_checksum = ? WHERE id = ?", (checksum, existing.id))
            return Resolution(run=existing)
        if existing is not None and same_revision:
            # A late or retried call about an earlier run (Flagger has moved on to the current one): answered
            # from that run, changing nothing, so it can never void the current run's approvals.
            older = connection.execute(
                "SELECT * FROM flagger_runs WHERE namespace = ? AND name = ? AND id <> ? "
                "AND (checksum = ? OR rollout_checksum = ?) ORDER BY created_at DESC, id DESC",
                (namespace, name, existing.id, checksum, checksum)).fetchone()
            if older is not None:
                return Resolution(run=_run(older), stale=True)
        if (existing is not None and same_revision and not rollout and not existing.adopted
                and existing.state == RunState.APPROVED and existing.rollout_checksum == existing.checksum
                and existing.observed_stage < 0 and canary_weight == 0):
            connection.execute("UPDATE flagger_runs SET checksum = ?, adopted = 1 WHERE id = ? AND adopted = 0",
                               (checksum, existing.id))
            adopted = existing.model_copy(update={"checksum": checksum, "adopted": True})
            return Resolution(run=adopted, adopted_from=existing.checksum)
        superseded = None
        if existing is not None and not existing.over:
            reason = f"superseded by checksum {checksum}"
            connection.execute(
                "UPDATE flagger_runs SET state = ?, reason = ?, decided_at = ? WHERE id = ? AND state = ?",
                (RunState.SUPERSEDED, reason, iso(now), existing.id, existing.state))
            superseded = existing.model_copy(update={"state": RunState.SUPERSEDED, "reason": reason})
        run = _new_run(connection, namespace=namespace, name=name, checksum=checksum, rollout=rollout, image=image,
                       template_hash=template_hash, now=now)
        return Resolution(run=run, created=True, superseded=superseded)


def claim_post(runtime: Runtime, run_id: str) -> bool:
    """True for exactly one caller: the one that posts the run's message."""
    cursor = db(runtime).connect().execute("UPDATE flagger_runs SET posted = 1 WHERE id = ? AND posted = 0", (run_id,))
    return cursor.rowcount == 1


def set_message(runtime: Runtime, run_id: str, *, channel: str, ts: str) -> None:
    db(runtime).connect().execute("UPDATE flagger_runs SET message_channel = ?, message_ts = ? WHERE id = ?",
                                  (channel, ts, run_id))


def decide(runtime: Runtime, run_id: str, *, to: RunState, frm: tuple[RunState, ...], by: str, at: datetime,
           reason: str = "", canary_id: str | None = None) -> bool:
    """Move the run from one of `frm` to `to`; True when this call made the change."""
    placeholders = ", ".join("?" for _ in frm)
    with db(runtime).transaction() as connection:
        cursor = connection.execute(
            f"UPDATE flagger_runs SET state = ?, decided_by = ?, decided_at = ?, reason = ?, "
            f"canary_id = COALESCE(?, canary_id) WHERE id = ? AND state IN ({placeholders})",
            (to, by, iso(at), reason, canary_id, run_id, *frm))
        return cursor.rowcount == 1


def grant(runtime: Runtime, run_id: str, *, step: int, by: str, at: datetime, forced_reason: str = "") -> bool:
    """Grant the move into stage `step` (1-based; len(stages) + 1 is the promotion); True when new or newly forced.

    The first grant of a step stands (a double click grants once). A forced grant replaces one that was
    not forced (the policy held at the promote, then Flagger's webhook found it no longer does and the
    release manager forced it); a forced grant is never turned back into an unforced one.
    """
    cursor = db(runtime).connect().execute(
        "INSERT INTO flagger_grants (run_id, step, granted_by, granted_at, forced_reason) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (run_id, step) DO UPDATE SET granted_by = excluded.granted_by, "
        "granted_at = excluded.granted_at, forced_reason = excluded.forced_reason "
        "WHERE excluded.forced_reason <> '' AND flagger_grants.forced_reason = ''",
        (run_id, step, by, iso(at), forced_reason))
    return cursor.rowcount == 1


def granted(runtime: Runtime, run_id: str, *, step: int) -> StepGrant | None:
    row = db(runtime).connect().execute("SELECT * FROM flagger_grants WHERE run_id = ? AND step = ?",
                                        (run_id, step)).fetchone()
    if row is None:
        return None
    data = dict(row)
    return StepGrant(run_id=data["run_id"], step=int(data["step"]), granted_by=data["granted_by"],
                 granted_at=datetime.fromisoformat(data["granted_at"]), forced_reason=data["forced_reason"])


def observe_stage(runtime: Runtime, run_id: str, *, stage: int, at: datetime) -> bool:
    """Flagger was seen at stage `stage` (0-based) for the first time; True for the call that saw it first."""
    cursor = db(runtime).connect().execute(
        "UPDATE flagger_runs SET observed_stage = ?, observed_at = ? WHERE id = ? AND observed_stage < ?",
        (stage, iso(at), run_id, stage))
    return cursor.rowcount == 1


def first_event(runtime: Runtime, run_id: str, *, digest: str, at: datetime) -> bool:
    """True the first time this event (by digest) arrives for the run: Flagger repeats events every interval."""
    cursor = db(runtime).connect().execute(
        "INSERT INTO flagger_events (run_id, digest, at) VALUES (?, ?, ?) ON CONFLICT (run_id, digest) DO NOTHING",
        (run_id, digest, iso(at)))
    return cursor.rowcount == 1
