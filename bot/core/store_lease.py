"""The leader Lease kept in the bot's own store, for several replicas without Kubernetes.

`leader_election.backend: store` puts the Lease record in a table of the shared store instead of a
`coordination.k8s.io/v1` Lease: PostgreSQL replicas on machines without a Kubernetes API (or several
`bizra serve` processes on one host sharing a SQLite file) elect through the same `LeaseElector`,
with the same rules (expiry judged on the follower's clock, the leader's renew deadline, release on
shutdown). It implements `bot.core.leadership.LeaseBackend` in portable SQL: a create is an
`INSERT … ON CONFLICT DO NOTHING` (no row inserted: someone else created it first), a replace an
`UPDATE … WHERE name = ? AND version = ?` that bumps the version (no row updated: the record changed
since it was read) — the store's version column plays the resourceVersion.

Why not a PostgreSQL advisory lock: a session lock lives as long as one connection, and the
server notices a dead client only when TCP does, so a replica cut off from the database could keep
believing it leads while the server has handed the lock to another. The lease's renew deadline
bounds that on the leader's own clock.
"""

from __future__ import annotations

from datetime import datetime

from bot.core.leadership import LeaseConflict, LeaseRecord, LeaseUnavailable
from bot.core.migrations import Migration, Schema
from bot.core.store import Database

TABLE = "bizra_leases"
SCHEMA = Schema("leases", [Migration(1, f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    name TEXT PRIMARY KEY,
    holder TEXT,
    lease_duration_seconds INTEGER NOT NULL,
    acquire_time TEXT,
    renew_time TEXT,
    transitions INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL
)""")])


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def _text(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class StoreLease:
    """One lease record in the store, read, created and replaced conditioned on its version."""

    def __init__(self, db: Database, *, name: str) -> None:
        self._db, self.name = db, name

    @property
    def where(self) -> str:
        return f"store/{self.name}"

    def _ensure(self) -> None:
        try:
            self._db.ensure(SCHEMA)
        except Exception as exc:  # the store's own error types differ by backend; all mean "cannot ask"
            raise LeaseUnavailable(f"the store cannot hold lease {self.name}: {exc}") from exc

    def read_lease(self) -> LeaseRecord | None:
        self._ensure()
        try:
            row = self._db.connect().execute(
                f"SELECT holder, lease_duration_seconds, acquire_time, renew_time, transitions, version "
                f"FROM {TABLE} WHERE name = ?", (self.name,)).fetchone()
        except Exception as exc:
            raise LeaseUnavailable(f"could not read lease {self.name} from the store: {exc}") from exc
        if row is None:
            return None
        holder, duration, acquired, renewed, transitions, version = row
        return LeaseRecord(holder=holder or None, lease_duration_seconds=int(duration),
                           acquire_time=_time(acquired), renew_time=_time(renewed), transitions=int(transitions),
                           resource_version=str(version))

    def create_lease(self, record: LeaseRecord) -> LeaseRecord:
        self._ensure()
        try:
            with self._db.transaction() as connection:
                created = connection.execute(
                    f"INSERT INTO {TABLE} (name, holder, lease_duration_seconds, acquire_time, renew_time, "
                    "transitions, version) VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT (name) DO NOTHING",
                    (self.name, record.holder, record.lease_duration_seconds, _text(record.acquire_time),
                     _text(record.renew_time), record.transitions)).rowcount
        except Exception as exc:
            raise LeaseUnavailable(f"could not create lease {self.name} in the store: {exc}") from exc
        if created != 1:
            raise LeaseConflict(f"lease {self.name} was created by another replica first")
        return record.model_copy(update={"resource_version": "1"})

    def replace_lease(self, record: LeaseRecord) -> LeaseRecord:
        if not record.resource_version:
            raise ValueError("a lease is replaced only conditioned on the version it was read at")
        self._ensure()
        version = int(record.resource_version)
        try:
            with self._db.transaction() as connection:
                updated = connection.execute(
                    f"UPDATE {TABLE} SET holder = ?, lease_duration_seconds = ?, acquire_time = ?, renew_time = ?, "
                    "transitions = ?, version = ? WHERE name = ? AND version = ?",
                    (record.holder, record.lease_duration_seconds, _text(record.acquire_time),
                     _text(record.renew_time), record.transitions, version + 1, self.name, version)).rowcount
        except Exception as exc:
            raise LeaseUnavailable(f"could not update lease {self.name} in the store: {exc}") from exc
        if updated != 1:
            raise LeaseConflict(f"lease {self.name} changed since it was read")
        return record.model_copy(update={"resource_version": str(version + 1)})
