"""What `/bizra status` and `/healthz` say about the deployment: the leader, the replicas seen, the store.

Built from this replica's view: the leader as its election last read the Lease (at most one retry
period old), the replicas from their heartbeat rows in the shared store, and the store's backend,
location (never a password) and schema versions. A store that cannot be read is said so, with why;
it never shows as an empty list of replicas.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from bot.core.runtime import Runtime
from bot.features.status.replicas import ReplicaSeen, replicas_seen


class StoreSummary(BaseModel):
    backend: str
    location: str
    schema_versions: dict[str, int] = Field(default_factory=dict)
    problem: str | None = None  # why the store could not be read


class StatusReport(BaseModel):
    this_replica: str
    elected: bool  # False: no election, this process leads alone
    lease: str | None  # namespace/name of the Lease
    leader: str | None  # None: nobody holds a valid lease as far as this replica knows
    this_is_leader: bool
    replicas: list[ReplicaSeen] = Field(default_factory=list)
    store: StoreSummary


def status_report(runtime: Runtime, *, read_store: bool = True) -> StatusReport:
    """`read_store=False` (a probe that already found the store unusable) asks nothing of the store: a
    query to an unreachable database would wait out the pool's timeout, longer than a probe may take."""
    leadership = runtime.leadership.get()
    if read_store:
        store, replicas = _read_store(runtime)
    else:
        store, replicas = _unread(runtime, "not read: the store is unusable (see its state)"), []
    return StatusReport(this_replica=leadership.identity, elected=leadership.elected, lease=leadership.lease,
                        leader=leadership.leader(), this_is_leader=leadership.is_leader(), replicas=replicas,
                        store=store)


def _read_store(runtime: Runtime) -> tuple[StoreSummary, list[ReplicaSeen]]:
    try:
        db = runtime.store.get()
        store = StoreSummary(backend=db.backend, location=db.location, schema_versions=db.schema_versions())
        return store, replicas_seen(db, now=runtime.clock.now(),
                                    heartbeat_interval=runtime.config.leader_election.heartbeat_interval)
    except Exception as exc:  # a status must answer: the store's problem is part of it
        return _unread(runtime, f"{type(exc).__name__}: {str(exc)[:200]}"), []


def _unread(runtime: Runtime, problem: str) -> StoreSummary:
    settings = runtime.config.store  # the URL holds no password (the config refuses one)
    return StoreSummary(backend="postgresql" if (settings.url or "").startswith("postgres") else "sqlite",
                        location=settings.url or str(settings.path), problem=problem)
