"""Which replica runs the background jobs: leader election on a `coordination.k8s.io/v1` Lease.

What flows through: the Lease's record (holder, acquire/renew times, duration, transitions,
resourceVersion) read and written through a small port (`LeaseBackend`, implemented over the
official Kubernetes client by `bot/adapters/lease.py`), and one answer for the rest of the bot:
`is_leader()`. The scheduler asks it right before each leader-only job run; a job body that is
about to do something that must happen once (a page) asks it again.

The loop is client-go's leader election, small: every `retry_period` each replica reads the Lease;
absent → create it (holding it); held by us → renew; released (no holder) or expired → take it
over; else follow. Every write is conditioned on the resourceVersion just read, so of two replicas
racing for one Lease exactly one wins (the other gets 409 Conflict and follows).

Why expiry is judged on *this* replica's clock, from when it observed the record last change (as
client-go does), not from the renewTime the leader wrote: the two clocks may disagree. A follower
takes over only `lease_duration` after it saw the last renewal, which in real time is after that
renewal; the leader counts its `renew_deadline` from before it sent that renewal. So with
`renew_deadline < lease_duration` the leader has stopped considering itself leader before any
follower may take over, whatever the clocks of the two machines say. `is_leader()` is computed
at the moment it is asked, so a renewal stuck on a slow API server still ends leadership on time.

On shutdown the leader releases the Lease (holder cleared, duration 1 s), so the next replica takes
over at its next try instead of after a full lease duration.

The pure decisions (`next_action`, `claimed`, `released_record`, `holds_leadership`) take the time
as an argument; the elector applies them with the runtime's clock, so tests drive it step by step.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from bot.core.settings import LeaderElectionSettings
from commands.ports import Clock

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_NAMESPACE = "bizra-bot"


# -- the Lease as the elector sees it, and the port that reads and writes it -----------------------
class LeaseRecord(BaseModel):
    """A Lease's spec (`holderIdentity`, `leaseDurationSeconds`, `acquireTime`, `renewTime`,
    `leaseTransitions`) and the resourceVersion it was read at (empty for one not yet written)."""

    model_config = ConfigDict(frozen=True)

    holder: str | None = None
    lease_duration_seconds: int = 15
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    transitions: int = 0
    resource_version: str = ""


class LeaseConflict(Exception):
    """The Lease changed since it was read (409 Conflict), or was created meanwhile (409 AlreadyExists)."""


class LeaseUnavailable(Exception):
    """The Lease could not be read or written (API server unreachable, slow, refusing)."""


class LeaseBackend(Protocol):
    """One Lease object. `replace_lease` is conditioned on `record.resource_version`."""

    @property
    def where(self) -> str: ...  # "namespace/name", for logs and status

    def read_lease(self) -> LeaseRecord | None: ...

    def create_lease(self, record: LeaseRecord) -> LeaseRecord: ...

    def replace_lease(self, record: LeaseRecord) -> LeaseRecord: ...


# -- pure decisions -------------------------------------------------------------------------------
class LeaseAction(StrEnum):
    CREATE = "create"  # no Lease yet
    RENEW = "renew"  # we hold it
    TAKE_OVER = "take-over"  # released, or expired on our clock
    FOLLOW = "follow"  # another replica holds a valid lease


def next_action(record: LeaseRecord | None, *, identity: str, observed_at: datetime, now: datetime) -> LeaseAction:
    """What this replica does with the Lease it just read (`observed_at`: when it saw the record change)."""
    if record is None:
        return LeaseAction.CREATE
    if record.holder == identity:
        return LeaseAction.RENEW
    if not record.holder:
        return LeaseAction.TAKE_OVER
    if now >= observed_at + timedelta(seconds=record.lease_duration_seconds):
        return LeaseAction.TAKE_OVER
    return LeaseAction.FOLLOW


def claimed(record: LeaseRecord | None, *, identity: str, now: datetime, lease_duration: timedelta) -> LeaseRecord:
    """The record that makes `identity` the holder at `now` (a renewal keeps acquireTime and transitions)."""
    seconds = int(lease_duration.total_seconds())
    if record is None:
        return LeaseRecord(holder=identity, lease_duration_seconds=seconds, acquire_time=now, renew_time=now)
    if record.holder == identity:
        return record.model_copy(update={"renew_time": now, "lease_duration_seconds": seconds})
    # client-go counts a transition whenever the holder changes (a released lease had a holder before).
    return record.model_copy(update={"holder": identity, "lease_duration_seconds": seconds, "acquire_time": now,
                                     "renew_time": now, "transitions": record.transitions + 1})


def released_record(record: LeaseRecord, *, now: datetime) -> LeaseRecord:
    """What a leader writes on shutdown (client-go's release): no holder, a 1 s lease that ended now."""
    return record.model_copy(update={"holder": None, "lease_duration_seconds": 1, "acquire_time": now,
                                     "renew_time": now})


def holds_leadership(renewed_at: datetime | None, *, now: datetime, renew_deadline: timedelta) -> bool:
    """A leader is one while its last successful acquire/renew began less than `renew_deadline` ago."""
    return renewed_at is not None and now < renewed_at + renew_deadline


def election_enabled(settings: LeaderElectionSettings, environ: Mapping[str, str]) -> bool:
    """`auto` elects exactly in a Kubernetes pod (the kubelet sets KUBERNETES_SERVICE_HOST in every one)."""
    if settings.enabled == "auto":
        return bool(environ.get("KUBERNETES_SERVICE_HOST"))
    return bool(settings.enabled)


def resolve_identity(settings: LeaderElectionSettings, environ: Mapping[str, str]) -> str:
    """The configured identity, else $POD_NAME (unique per pod), else <hostname>-<pid> (unique per process)."""
    if settings.identity:
        return settings.identity
    pod = (environ.get("POD_NAME") or "").strip()
    return pod or f"{socket.gethostname()}-{os.getpid()}"


def resolve_namespace(settings: LeaderElectionSettings, environ: Mapping[str, str], *,
                      service_account_file: Path = SERVICE_ACCOUNT_NAMESPACE) -> str:
    """The configured namespace, else $POD_NAMESPACE, else the pod's service-account namespace, else bizra-bot."""
    if settings.namespace:
        return settings.namespace
    from_env = (environ.get("POD_NAMESPACE") or "").strip()
    if from_env:
        return from_env
    try:
        from_file = service_account_file.read_text(encoding="utf-8").strip()
    except OSError:
        from_file = ""
    return from_file or DEFAULT_NAMESPACE


# -- what the rest of the bot asks ----------------------------------------------------------------
class Leadership(Protocol):
    """Whether this replica runs the leader-only background jobs now."""

    @property
    def identity(self) -> str: ...

    @property
    def elected(self) -> bool: ...  # False: no election, this process leads alone

    @property
    def lease(self) -> str | None: ...  # "namespace/name" of the Lease (None: no election)

    def is_leader(self) -> bool: ...

    def leader(self) -> str | None: ...  # the holder as last seen (None: nobody, or not known)

    def start(self) -> None: ...

    def stop(self) -> None: ...


class SoleLeader:
    """No election (console, `bizra serve` on a laptop, one replica): this process is the leader."""

    elected = False
    lease = None

    def __init__(self, identity: str) -> None:
        self._identity = identity

    @property
    def identity(self) -> str:
        return self._identity

    def is_leader(self) -> bool:
        return True

    def leader(self) -> str | None:
        return self._identity

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class LeaseElector:
    """client-go's leader election on one Lease, driven by `step()` (a thread calls it every retry_period).

    Thread-safe: the scheduler's threads call `is_leader()` while the election thread steps.
    """

    elected = True

    def __init__(self, backend: LeaseBackend, *, identity: str, settings: LeaderElectionSettings,
                 clock: Clock) -> None:
        self.backend = backend
        self._identity = identity
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._record: LeaseRecord | None = None  # as last read or written
        self._observed_version: str | None = None
        self._observed_at: datetime | None = None
        self._renewed_at: datetime | None = None  # when our last successful acquire/renew began
        self._was_leader = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def lease(self) -> str | None:
        return self.backend.where

    # -- asked by the scheduler and job bodies ---------------------------------------------------
    def is_leader(self) -> bool:
        with self._lock:
            holding = self._record is not None and self._record.holder == self._identity
            renewed_at = self._renewed_at
        leading = holding and holds_leadership(renewed_at, now=self._clock.now(),
                                               renew_deadline=self._settings.renew_deadline)
        self._note_change(leading)
        return leading

    def leader(self) -> str | None:
        """The holder as last read, while its lease is valid on this replica's clock (else None)."""
        with self._lock:
            record, observed_at = self._record, self._observed_at
        if record is None or not record.holder:
            return None
        if record.holder == self._identity:
            return record.holder if self.is_leader() else None  # named, but past our renew deadline
        expires = (observed_at or self._clock.now()) + timedelta(seconds=record.lease_duration_seconds)
        return record.holder if self._clock.now() < expires else None  # a dead leader is nobody

    # -- one round of the election ---------------------------------------------------------------
    def step(self) -> bool:
        """Read the Lease and act on it once; returns whether this replica leads afterwards."""
        try:
            record = self.backend.read_lease()
        except LeaseUnavailable as exc:
            log.warning("leader election: cannot read lease %s: %s", self.backend.where, exc)
            return self.is_leader()
        # After the read: a follower's expiry counts from no earlier than the record really was there, and
        # before the write: the leader's renew deadline counts from no later than its renewal was sent.
        now = self._clock.now()
        self._observe(record, now)
        with self._lock:
            observed_at = self._observed_at or now
        action = next_action(record, identity=self._identity, observed_at=observed_at, now=now)
        if action is LeaseAction.FOLLOW:
            return self.is_leader()
        wanted = claimed(record, identity=self._identity, now=now, lease_duration=self._settings.lease_duration)
        try:
            written = (self.backend.create_lease(wanted) if action is LeaseAction.CREATE
                       else self.backend.replace_lease(wanted))
        except LeaseConflict:
            log.info("leader election: another replica wrote lease %s first", self.backend.where)
            return self.is_leader()
        except LeaseUnavailable as exc:
            log.warning("leader election: cannot %s lease %s: %s", action.value, self.backend.where, exc)
            return self.is_leader()
        with self._lock:
            self._record = written
            self._observed_version, self._observed_at = written.resource_version, now
            if not self._stop.is_set():  # a round that ends after release() must not make us leader again
                self._renewed_at = now  # counted from before the request: the conservative end of the deadline
        if action is not LeaseAction.RENEW:
            log.info("leader election: %s acquired lease %s (%s)", self._identity, self.backend.where, action.value)
        return self.is_leader()

    def _observe(self, record: LeaseRecord | None, now: datetime) -> None:
        with self._lock:
            version = record.resource_version if record is not None else None
            if version != self._observed_version or self._observed_at is None:
                self._observed_version, self._observed_at = version, now
            self._record = record

    def _note_change(self, leading: bool) -> None:
        with self._lock:
            changed, self._was_leader = leading != self._was_leader, leading
        if changed:
            if leading:
                log.info("leader election: %s is the leader; background jobs run here", self._identity)
            else:
                log.warning("leader election: %s is no longer the leader; its background jobs stop", self._identity)

    def release(self) -> bool:
        """Give the Lease up (shutdown): holder cleared, so the next replica takes over at once."""
        now = self._clock.now()
        with self._lock:
            self._renewed_at = None  # from here on we are not leader, whatever the write does
        try:
            record = self.backend.read_lease()
        except LeaseUnavailable as exc:
            log.warning("leader election: cannot release lease %s: %s", self.backend.where, exc)
            return False
        if record is None or record.holder != self._identity:
            return False
        try:
            written = self.backend.replace_lease(released_record(record, now=now))
        except (LeaseConflict, LeaseUnavailable) as exc:
            log.warning("leader election: lease %s not released: %s", self.backend.where, exc)
            return False
        with self._lock:
            self._record = written
        self._note_change(False)
        log.info("leader election: %s released lease %s", self._identity, self.backend.where)
        return True

    # -- the election thread ---------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="bizra-leader-election", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        period = self._settings.retry_period.total_seconds()
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # the election must keep going; a bug here is logged, leadership lapses
                log.exception("leader election: a round failed")
            self._stop.wait(period)  # the retry period between rounds, not a wait for a condition

    def stop(self) -> None:
        """Stop electing and release the Lease if we hold it."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self._settings.renew_deadline.total_seconds())
        self.release()
