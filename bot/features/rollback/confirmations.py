"""Rollback confirmations in the store: posted once, decided once, bound to where they were posted, owned while run.

A confirmation is a row in `rollback_confirmation` holding the plan that was shown and where it was
shown: the surface (`slack` or `console`), the channel, and the message whose buttons decide it. In
Slack the confirmation is posted through the poster (the outbox), which answers the message's `ts`
(or a placeholder, `outbox:<id>`, while Slack has not taken it yet; resolved when it is sent):
`bind_message` stores it at once. Rows written by an earlier version, whose confirmation went out
as a `response_url` reply, have no message: their first decision binds the clicked one.

Clicking Confirm (or typing `/bizra rollback confirm <id>` on the console) *claims* it: inside one
store transaction (`db.transaction()`) the row must still be `pending`, not expired,
and decided from its own place (the same channel and message, or the console for a console
confirmation), and becomes `running`. A Slack retry, a double click or a second replica handling the
same click finds it `running` (or finished) and executes nothing. Expiry is checked on the
runtime's clock.

A running confirmation has an owner (this process: hostname, pid and a random part) and a claim
number, and its executor writes `heartbeat_at` while it follows the rollout. When the heartbeat is
older than `release.rollback.heartbeat_timeout_seconds` the owner counts as lost (a crash, `kill -9`,
a node gone): `take_over()` re-claims the row for one process at a time (the claim number moves on,
so the old owner, should it still live, finds its lease gone and stops). The new owner finishes the
rollback or marks it `interrupted` (bot/features/rollback/recovery.py).

Expiry: `expire_due` moves every pending confirmation past its `expires_at` to `expired` (a
conditional UPDATE, so one process does it) and returns the expired ones whose message still shows
its buttons (`expiry_shown_at` empty); the rollback-expiry job edits each message and then calls
`expiry_shown`. A crash between the two leaves `expiry_shown_at` empty, so the next run edits it
again (the same words: a second edit changes nothing a reader sees).

Schema changes are additive and versioned (`SCHEMA`, bot/core/migrations.py): columns missing in a store
written by an earlier version are added; rows from before have no owner or heartbeat, and count from
their `decided_at`.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel

from bot.core.migrations import Migration, Schema
from bot.core.outbox import PLACEHOLDER, OutboxPoster
from bot.core.runtime import Runtime
from bot.core.store import Database, Row
from commands.rollback import RollbackPlan

_DDL = """
CREATE TABLE IF NOT EXISTS rollback_confirmation (
    id TEXT PRIMARY KEY,
    plan TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    outcome TEXT
);
"""

# Added after the first version of the table; ALTER TABLE adds what an existing store lacks.
_COLUMNS: dict[str, str] = {
    "surface": "TEXT",            # where it was posted: slack | console (NULL in old rows: from plan.channel)
    "channel": "TEXT",            # the channel it was posted in
    "message_ts": "TEXT",         # the message whose buttons decide it (bound when posted; old rows: first click)
    "thread_ts": "TEXT",          # where progress and the summary go
    "owner": "TEXT",              # the process executing it
    "claim_no": "INTEGER NOT NULL DEFAULT 0",  # moves on with every claim and take-over
    "heartbeat_at": "TEXT",       # written by the owner while it follows the rollout
    "before_snapshot": "TEXT",    # the Deployment before the change (JSON), for a bundle written by a take-over
}

# `message_ts` of a Slack confirmation saved but not posted yet: no click matches it.
UNPOSTED = "unposted"
# Confirmations expired longer ago than this are not edited any more (a store from before the expiry
# job has expired rows whose buttons were already removed at their first click, or never will be read).
EXPIRY_EDIT_WINDOW = timedelta(days=1)

# Version 1 adopts any store written before versioned migrations: the table, and the columns added to it
# since its first release (each added when a store lacks it). A column added from now on: Migration(2, …).
SCHEMA = Schema("rollback", [
    Migration(1, _DDL, columns={"rollback_confirmation": _COLUMNS}),
    # When the expired message lost its buttons (chat.update by the rollback-expiry job); NULL: not yet.
    Migration(2, "ALTER TABLE rollback_confirmation ADD COLUMN expiry_shown_at TEXT"),
])


class ConfirmationState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    INTERRUPTED = "interrupted"


_owner: tuple[int, str] | None = None


def process_owner() -> str:
    """This process as an owner of claimed work: hostname, pid and a random part (a reused pid is not us)."""
    global _owner
    pid = os.getpid()
    if _owner is None or _owner[0] != pid:
        _owner = (pid, f"{socket.gethostname()}:{pid}:{secrets.token_hex(4)}")
    return _owner[1]


@dataclass(frozen=True)
class Place:
    """Where a decision comes from: a click on a message in a channel, or the console."""

    surface: str
    channel: str
    message_ts: str | None = None
    thread_ts: str | None = None


@dataclass(frozen=True)
class Lease:
    """Holding a running confirmation: valid while the row still has this owner and claim number."""

    plan_id: str
    owner: str
    claim_no: int


class LostClaim(Exception):
    """Another process took the running confirmation over (this one's heartbeat went stale)."""


class Claim(BaseModel):
    """Trying to decide a confirmation: no `refusal` means this caller got it (`plan` is then set)."""

    plan: RollbackPlan | None = None
    refusal: str | None = None
    expired: bool = False
    lease: Lease | None = None
    channel: str | None = None
    thread_ts: str | None = None


class Takeover(BaseModel):
    """A running confirmation re-claimed from a lost owner."""

    plan: RollbackPlan
    lease: Lease
    lost_owner: str
    last_heartbeat: datetime | None
    confirmed_by: str
    confirmed_at: datetime
    surface: str
    channel: str
    thread_ts: str | None
    before_snapshot: str | None


def _db(runtime: Runtime) -> Database:
    db = runtime.store.get()
    db.ensure(SCHEMA)
    return db


def _surface_of(row: Row, plan: RollbackPlan) -> str:
    return str(row["surface"] or ("console" if plan.channel == "console" else "slack"))


def _when(at: str | None) -> datetime | None:
    return datetime.fromisoformat(at).astimezone(UTC) if at else None


def save(runtime: Runtime, plan: RollbackPlan) -> None:
    """Store a new pending confirmation. In Slack its message is `UNPOSTED` until `bind_message` names it,
    so no click can bind another message meanwhile."""
    surface = "console" if runtime.surface == "console" else "slack"
    with _db(runtime).transaction() as connection:
        connection.execute(
            "INSERT INTO rollback_confirmation (id, plan, state, created_at, expires_at, surface, channel, message_ts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (plan.id, plan.model_dump_json(), ConfirmationState.PENDING, plan.requested_at.isoformat(),
             plan.expires_at.isoformat(), surface, plan.channel, UNPOSTED if surface == "slack" else None),
        )


def bind_message(runtime: Runtime, plan_id: str, *, channel: str, ts: str) -> None:
    """The confirmation was posted as message `ts` (or an outbox placeholder) in `channel`: only its
    buttons decide it, and progress goes to its thread."""
    with _db(runtime).transaction() as connection:
        connection.execute(
            "UPDATE rollback_confirmation SET channel = ?, message_ts = ?, thread_ts = ? "
            "WHERE id = ? AND message_ts = ?",
            (channel, ts, ts, plan_id, UNPOSTED))


def bound_message(runtime: Runtime, plan_id: str) -> tuple[str, str] | None:
    """The channel and real ts of the confirmation's message; None while it has none (yet)."""
    row = _db(runtime).connect().execute(
        "SELECT channel, message_ts FROM rollback_confirmation WHERE id = ?", (plan_id,)).fetchone()
    ts = _bound_ts(runtime, row["message_ts"]) if row else None
    if row is None or not row["channel"] or not ts or ts == UNPOSTED or ts.startswith(PLACEHOLDER):
        return None
    return str(row["channel"]), ts


def load(runtime: Runtime, plan_id: str) -> RollbackPlan | None:
    row = _db(runtime).connect().execute("SELECT plan FROM rollback_confirmation WHERE id = ?", (plan_id,)).fetchone()
    return RollbackPlan.model_validate_json(row["plan"]) if row else None


def state_of(runtime: Runtime, plan_id: str) -> str | None:
    row = _db(runtime).connect().execute("SELECT state FROM rollback_confirmation WHERE id = ?",
                                         (plan_id,)).fetchone()
    return str(row["state"]) if row else None


def _decided(row: Row) -> str:
    state, by, at, outcome = row["state"], row["decided_by"], row["decided_at"], row["outcome"]
    when = datetime.fromisoformat(at).astimezone(UTC).strftime("%H:%M:%S UTC") if at else ""
    words = {
        ConfirmationState.RUNNING: f"is already being executed (confirmed by {by} at {when})",
        ConfirmationState.FINISHED: f"was already executed (confirmed by {by} at {when}; outcome: {outcome})",
        ConfirmationState.CANCELLED: f"was cancelled by {by} at {when}",
        ConfirmationState.EXPIRED: "has expired",
        ConfirmationState.INTERRUPTED: f"was interrupted (confirmed by {by} at {when}; the bot executing it was "
        "lost and the rollout could not be followed; its thread says why)",
    }
    return words.get(ConfirmationState(state), f"is {state}")


def _bound_ts(runtime: Runtime, ts: str | None) -> str | None:
    """The Slack ts of the confirmation's message; an outbox placeholder is resolved once the post was sent.

    A placeholder still unsent stays as it is: no click can come from a message Slack has not shown."""
    if not ts or not ts.startswith(PLACEHOLDER):
        return ts
    poster = runtime.poster.get()
    return poster.outbox.resolve(ts) if isinstance(poster, OutboxPoster) else ts


def _misplaced(row: Row, plan: RollbackPlan, at: Place, bound: str | None) -> str | None:
    """Why a decision from `at` is not accepted for this confirmation (None: it is its own place).

    `bound` is the ts of the message it was posted as (None for a row of an earlier version, whose
    first decision binds the clicked message)."""
    surface = _surface_of(row, plan)
    channel = row["channel"] or plan.channel
    if surface == "console":
        if at.surface != "console":
            return (f"Rollback `{plan.id}` was requested on the console; confirm or cancel it there. "
                    "Nothing was done.")
        return None
    if at.surface != "slack":
        return (f"Rollback `{plan.id}` was posted in Slack (<#{channel}>); confirm or cancel it with the buttons on "
                "that message. Nothing was done.")
    if at.channel != channel:
        return (f"Rollback `{plan.id}` belongs to the confirmation posted in <#{channel}>; only its buttons there "
                "can confirm or cancel it. Nothing was done.")
    if bound and at.message_ts != bound:
        return (f"Rollback `{plan.id}` is decided on the confirmation message it was posted as in <#{channel}>; "
                "use the buttons on that message. Nothing was done.")
    return None


def _expired_refusal(plan: RollbackPlan) -> str:
    return (f"Rollback `{plan.id}` expired at {plan.expires_at:%H:%M UTC}; nothing was changed. "
            "Run `/bizra rollback` again to see the current state and confirm a fresh one.")


def decide(runtime: Runtime, plan_id: str, *, user: str, to: ConfirmationState, at: Place | None = None) -> Claim:
    """Move a pending, unexpired confirmation to `to` (RUNNING or CANCELLED), atomically; at most once.

    `at` is where the decision comes from; it must be where the confirmation was posted (the first
    Slack decision binds the message). Without `at`, the runtime's surface and the plan's channel.
    """
    now = runtime.clock.now().astimezone(UTC)
    with _db(runtime).transaction() as connection:
        row = connection.execute("SELECT * FROM rollback_confirmation WHERE id = ?", (plan_id,)).fetchone()
        if row is None:
            return Claim(refusal=f"There is no rollback confirmation `{plan_id}`. Run `/bizra rollback` to start one.")
        plan = RollbackPlan.model_validate_json(row["plan"])
        bound = _bound_ts(runtime, row["message_ts"])
        place = at or Place(surface=_surface_of(row, plan), channel=row["channel"] or plan.channel,
                            message_ts=bound)
        misplaced = _misplaced(row, plan, place, bound)
        if misplaced:
            return Claim(refusal=misplaced, plan=plan)
        if row["state"] == ConfirmationState.EXPIRED:  # by the expiry job, or an earlier click
            return Claim(refusal=_expired_refusal(plan), expired=True, plan=plan)
        if row["state"] != ConfirmationState.PENDING:
            return Claim(refusal=f"Rollback `{plan_id}` {_decided(row)}. Nothing more was done.")
        if now >= plan.expires_at:
            connection.execute("UPDATE rollback_confirmation SET state = ? WHERE id = ?",
                               (ConfirmationState.EXPIRED, plan_id))
            return Claim(refusal=_expired_refusal(plan), expired=True, plan=plan)
        message_ts = bound or place.message_ts
        thread_ts = place.thread_ts or message_ts
        owner = process_owner() if to is ConfirmationState.RUNNING else None
        claim_no = int(row["claim_no"] or 0) + 1
        connection.execute(
            "UPDATE rollback_confirmation SET state = ?, decided_by = ?, decided_at = ?, message_ts = ?, "
            "thread_ts = ?, owner = ?, claim_no = ?, heartbeat_at = ? WHERE id = ? AND state = ?",
            (to, user, now.isoformat(), message_ts, thread_ts, owner, claim_no,
             now.isoformat() if owner else None, plan_id, ConfirmationState.PENDING),
        )
        lease = Lease(plan_id=plan_id, owner=owner, claim_no=claim_no) if owner else None
        return Claim(plan=plan, lease=lease, channel=place.channel, thread_ts=thread_ts)


def current_lease(runtime: Runtime, plan_id: str) -> Lease | None:
    """This process's lease on a running confirmation, if it holds one."""
    row = _db(runtime).connect().execute(
        "SELECT owner, claim_no, state FROM rollback_confirmation WHERE id = ?", (plan_id,)).fetchone()
    if row is None or row["state"] != ConfirmationState.RUNNING or row["owner"] != process_owner():
        return None
    return Lease(plan_id=plan_id, owner=row["owner"], claim_no=int(row["claim_no"]))


def heartbeat(runtime: Runtime, lease: Lease) -> None:
    """Say the owner is alive; raises LostClaim when another process has taken the confirmation over."""
    with _db(runtime).transaction() as connection:
        cursor = connection.execute(
            "UPDATE rollback_confirmation SET heartbeat_at = ? WHERE id = ? AND owner = ? AND claim_no = ? "
            "AND state = ?",
            (runtime.clock.now().astimezone(UTC).isoformat(), lease.plan_id, lease.owner, lease.claim_no,
             ConfirmationState.RUNNING),
        )
        if cursor.rowcount != 1:
            raise LostClaim(lease.plan_id)


def save_before(runtime: Runtime, lease: Lease, before_json: str) -> None:
    with _db(runtime).transaction() as connection:
        connection.execute(
            "UPDATE rollback_confirmation SET before_snapshot = ? WHERE id = ? AND owner = ? AND claim_no = ?",
            (before_json, lease.plan_id, lease.owner, lease.claim_no))


def finish(runtime: Runtime, plan_id: str, *, outcome: str, lease: Lease | None = None,
           state: ConfirmationState = ConfirmationState.FINISHED) -> bool:
    """Spend the confirmation (with a lease: only while it is still held). True when this call spent it."""
    with _db(runtime).transaction() as connection:
        if lease is None:
            cursor = connection.execute("UPDATE rollback_confirmation SET state = ?, outcome = ? WHERE id = ?",
                                        (state, outcome, plan_id))
        else:
            cursor = connection.execute(
                "UPDATE rollback_confirmation SET state = ?, outcome = ? WHERE id = ? AND owner = ? AND claim_no = ? "
                "AND state = ?",
                (state, outcome, plan_id, lease.owner, lease.claim_no, ConfirmationState.RUNNING))
        return cursor.rowcount == 1


def _last_sign_of_life(row: Row) -> datetime | None:
    return _when(row["heartbeat_at"]) or _when(row["decided_at"])


def stale(runtime: Runtime, *, now: datetime, timeout_seconds: float) -> list[str]:
    """Ids of running confirmations whose owner has given no sign of life for `timeout_seconds`."""
    limit = now.astimezone(UTC) - timedelta(seconds=timeout_seconds)
    rows = _db(runtime).connect().execute(
        "SELECT id, heartbeat_at, decided_at FROM rollback_confirmation WHERE state = ?",
        (ConfirmationState.RUNNING,)).fetchall()
    found = []
    for row in rows:
        seen = _last_sign_of_life(row)
        if seen is None or seen <= limit:
            found.append(str(row["id"]))
    return found


def take_over(runtime: Runtime, plan_id: str, *, now: datetime, timeout_seconds: float) -> Takeover | None:
    """Re-claim a running confirmation whose owner is lost, for this process; None when it is not (any more)."""
    limit = now.astimezone(UTC) - timedelta(seconds=timeout_seconds)
    with _db(runtime).transaction() as connection:
        row = connection.execute("SELECT * FROM rollback_confirmation WHERE id = ?", (plan_id,)).fetchone()
        if row is None or row["state"] != ConfirmationState.RUNNING:
            return None
        seen = _last_sign_of_life(row)
        if seen is not None and seen > limit:
            return None  # alive, or another process took it over a moment ago
        plan = RollbackPlan.model_validate_json(row["plan"])
        owner, claim_no = process_owner(), int(row["claim_no"] or 0) + 1
        connection.execute(
            "UPDATE rollback_confirmation SET owner = ?, claim_no = ?, heartbeat_at = ? WHERE id = ? AND state = ?",
            (owner, claim_no, now.astimezone(UTC).isoformat(), plan_id, ConfirmationState.RUNNING))
        return Takeover(
            plan=plan, lease=Lease(plan_id=plan_id, owner=owner, claim_no=claim_no),
            lost_owner=row["owner"] or "an earlier version of the bot", last_heartbeat=seen,
            confirmed_by=row["decided_by"] or plan.requested_by,
            confirmed_at=_when(row["decided_at"]) or plan.requested_at,
            surface=_surface_of(row, plan), channel=row["channel"] or plan.channel, thread_ts=row["thread_ts"],
            before_snapshot=row["before_snapshot"],
        )


def replan(runtime: Runtime, plan_id: str, plan: RollbackPlan, *, at: Place) -> Claim:
    """Show another target on a pending, unexpired confirmation (the select menu), from its own place.

    The confirmation keeps its id, requester and expiry; the first Slack interaction binds its message.
    """
    now = runtime.clock.now().astimezone(UTC)
    with _db(runtime).transaction() as connection:
        row = connection.execute("SELECT * FROM rollback_confirmation WHERE id = ?", (plan_id,)).fetchone()
        if row is None:
            return Claim(refusal=f"There is no rollback confirmation `{plan_id}`. Run `/bizra rollback` to start one.")
        shown = RollbackPlan.model_validate_json(row["plan"])
        misplaced = _misplaced(row, shown, at, _bound_ts(runtime, row["message_ts"]))
        if misplaced:
            return Claim(refusal=misplaced, plan=shown)
        if row["state"] == ConfirmationState.EXPIRED:
            return Claim(refusal=_expired_refusal(shown), expired=True, plan=shown)
        if row["state"] != ConfirmationState.PENDING:
            return Claim(refusal=f"Rollback `{plan_id}` {_decided(row)}. Nothing more was done.", plan=shown)
        if now >= shown.expires_at:
            connection.execute("UPDATE rollback_confirmation SET state = ? WHERE id = ?",
                               (ConfirmationState.EXPIRED, plan_id))
            return Claim(refusal=_expired_refusal(shown), expired=True, plan=shown)
        connection.execute(
            "UPDATE rollback_confirmation SET plan = ?, message_ts = COALESCE(message_ts, ?) "
            "WHERE id = ? AND state = ?",
            (plan.model_dump_json(), at.message_ts, plan_id, ConfirmationState.PENDING))
        return Claim(plan=plan, channel=at.channel, thread_ts=at.thread_ts)


class ExpiredMessage(BaseModel):
    """An expired confirmation whose message still shows its buttons: where it is and what it showed."""

    plan: RollbackPlan
    channel: str
    ts: str


def expire_due(runtime: Runtime, *, now: datetime) -> list[ExpiredMessage]:
    """Mark pending confirmations past their expiry `expired`; answer the expired messages to edit.

    Each row moves by a conditional UPDATE (`WHERE state = 'pending'`), so a click deciding it at the
    same moment, or another replica, cannot both win. A message is answered until `expiry_shown`
    is called for it; rows without a Slack message (the console, an earlier version's unbound row, one
    whose post never happened) or expired before `EXPIRY_EDIT_WINDOW` are marked shown and left alone.
    """
    at = now.astimezone(UTC)
    db = _db(runtime)
    rows = db.connect().execute(
        "SELECT * FROM rollback_confirmation WHERE state IN (?, ?) AND expiry_shown_at IS NULL",
        (ConfirmationState.PENDING, ConfirmationState.EXPIRED)).fetchall()
    found: list[ExpiredMessage] = []
    for row in rows:
        plan = RollbackPlan.model_validate_json(row["plan"])
        if at < plan.expires_at:
            continue
        if row["state"] == ConfirmationState.PENDING:
            with db.transaction() as connection:
                moved = connection.execute(
                    "UPDATE rollback_confirmation SET state = ? WHERE id = ? AND state = ?",
                    (ConfirmationState.EXPIRED, plan.id, ConfirmationState.PENDING)).rowcount
            if moved != 1:
                continue  # decided (or expired by a click) meanwhile: whoever did it answers for the message
        # A placeholder is edited too: the outbox sends the edit after the post it waits behind.
        ts = _bound_ts(runtime, row["message_ts"])
        recent = at - plan.expires_at <= EXPIRY_EDIT_WINDOW
        if _surface_of(row, plan) != "slack" or not ts or ts == UNPOSTED or not recent:
            expiry_shown(runtime, plan.id, at=at)  # no message to edit
            continue
        found.append(ExpiredMessage(plan=plan, channel=str(row["channel"] or plan.channel), ts=ts))
    return found


def expiry_shown(runtime: Runtime, plan_id: str, *, at: datetime) -> None:
    """The expired confirmation's message no longer shows buttons (or has none to lose)."""
    with _db(runtime).transaction() as connection:
        connection.execute(
            "UPDATE rollback_confirmation SET expiry_shown_at = ? WHERE id = ? AND expiry_shown_at IS NULL",
            (at.astimezone(UTC).isoformat(), plan_id))


class PendingConfirmation(BaseModel):
    """A confirmation waiting for someone to press Confirm or Cancel (the Home tab lists them)."""

    plan: RollbackPlan
    channel: str


def pending(runtime: Runtime, *, now: datetime) -> list[PendingConfirmation]:
    """Pending, unexpired Slack confirmations, newest first."""
    rows = _db(runtime).connect().execute(
        "SELECT plan, channel, surface FROM rollback_confirmation WHERE state = ? ORDER BY created_at DESC",
        (ConfirmationState.PENDING,)).fetchall()
    found = []
    for row in rows:
        plan = RollbackPlan.model_validate_json(row["plan"])
        if now.astimezone(UTC) < plan.expires_at and _surface_of(row, plan) == "slack":
            found.append(PendingConfirmation(plan=plan, channel=str(row["channel"] or plan.channel)))
    return found
