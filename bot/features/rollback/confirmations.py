"""Rollback confirmations in the store: posted once, decided once.

A confirmation is a row in `rollback_confirmation` holding the plan that was shown. Clicking
Confirm (or typing `/bizra rollback confirm <id>` on the console) *claims* it: inside one
`BEGIN IMMEDIATE` transaction the row must still be `pending` and not expired, and becomes
`running`. A Slack retry, a double click or a second replica handling the same click finds it
`running` (or finished) and executes nothing. Expiry is checked on the runtime's clock.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel

from bot.core.runtime import Runtime
from bot.core.store import Database
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


class ConfirmationState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Claim(BaseModel):
    """Trying to decide a confirmation: no `refusal` means this caller got it (`plan` is then set)."""

    plan: RollbackPlan | None = None
    refusal: str | None = None
    expired: bool = False


def _db(runtime: Runtime) -> Database:
    db = runtime.store.get()
    db.ensure_schema(_DDL)
    return db


def save(runtime: Runtime, plan: RollbackPlan) -> None:
    with _db(runtime).transaction() as connection:
        connection.execute(
            "INSERT INTO rollback_confirmation (id, plan, state, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            (plan.id, plan.model_dump_json(), ConfirmationState.PENDING, plan.requested_at.isoformat(),
             plan.expires_at.isoformat()),
        )


def load(runtime: Runtime, plan_id: str) -> RollbackPlan | None:
    row = _db(runtime).connect().execute("SELECT plan FROM rollback_confirmation WHERE id = ?", (plan_id,)).fetchone()
    return RollbackPlan.model_validate_json(row["plan"]) if row else None


def _decided(row: sqlite3.Row) -> str:
    state, by, at, outcome = row["state"], row["decided_by"], row["decided_at"], row["outcome"]
    when = datetime.fromisoformat(at).astimezone(UTC).strftime("%H:%M:%S UTC") if at else ""
    words = {
        ConfirmationState.RUNNING: f"is already being executed (confirmed by {by} at {when})",
        ConfirmationState.FINISHED: f"was already executed (confirmed by {by} at {when}; outcome: {outcome})",
        ConfirmationState.CANCELLED: f"was cancelled by {by} at {when}",
        ConfirmationState.EXPIRED: "has expired",
    }
    return words.get(ConfirmationState(state), f"is {state}")


def decide(runtime: Runtime, plan_id: str, *, user: str, to: ConfirmationState) -> Claim:
    """Move a pending, unexpired confirmation to `to` (RUNNING or CANCELLED), atomically; at most once."""
    now = runtime.clock.now().astimezone(UTC)
    with _db(runtime).transaction() as connection:
        row = connection.execute("SELECT * FROM rollback_confirmation WHERE id = ?", (plan_id,)).fetchone()
        if row is None:
            return Claim(refusal=f"There is no rollback confirmation `{plan_id}`. Run `/bizra rollback` to start one.")
        plan = RollbackPlan.model_validate_json(row["plan"])
        if row["state"] != ConfirmationState.PENDING:
            return Claim(refusal=f"Rollback `{plan_id}` {_decided(row)}. Nothing more was done.")
        if now >= plan.expires_at:
            connection.execute("UPDATE rollback_confirmation SET state = ? WHERE id = ?",
                               (ConfirmationState.EXPIRED, plan_id))
            return Claim(
                refusal=f"Rollback `{plan_id}` expired at {plan.expires_at:%H:%M UTC}; nothing was changed. "
                "Run `/bizra rollback` again to see the current state and confirm a fresh one.",
                expired=True,
                plan=plan,
            )
        connection.execute(
            "UPDATE rollback_confirmation SET state = ?, decided_by = ?, decided_at = ? WHERE id = ? AND state = ?",
            (to, user, now.isoformat(), plan_id, ConfirmationState.PENDING),
        )
        return Claim(plan=plan)


def finish(runtime: Runtime, plan_id: str, *, outcome: str) -> None:
    with _db(runtime).transaction() as connection:
        connection.execute("UPDATE rollback_confirmation SET state = ?, outcome = ? WHERE id = ?",
                           (ConfirmationState.FINISHED, outcome, plan_id))
