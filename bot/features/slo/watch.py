"""The SLO watch's job body: evaluate → persist → post status, page, re-page, resolve.

What flows through: the scheduler (or a test) calls `run_once(runtime, at=…)` with the time.
The catalog is read from Prometheus (one query per SLO, up to `slo.max_concurrent_queries` at once,
all under one `slo.tick_deadline`: a query unanswered by then is UNKNOWN, and the slow tick is
logged and counted in `bizra_slo_slow_ticks_total`), the breach state is loaded from the
store, stepped (`commands.breach.step`) and saved in one write transaction together with the
evaluation history (`slo_samples`), so a restart or a second replica never pages a breach twice
and never forgets one. Delivery then works off the persisted alerts: each pending piece (the page
and its chart, a re-page, the acknowledgement note, the resolution, PagerDuty, the breach
listeners) is done and recorded as done in its own transaction, under a claim of the alert's delivery,
so a retried tick (or a new leader taking over a killed one's claim) re-sends only what never went out.

Sustain boundary: `WatchRun.next_evaluation` is the earliest moment a pending decision falls due
(a breach or a blind stretch reaching `sustain`, an unacknowledged alert's re-page); the job body
returns it and the scheduler runs the watch again then instead of on the next interval tick, so a
page goes out on the boundary itself. Such an early run is not mistaken for another replica's tick.

Retention: `prune(runtime, at=…)` (the `slo-retention` job) deletes `slo_samples` older than
`slo.retention.samples_days`, and audit entries only when `slo.retention.audit_days` is set.

Status: each tick (not a replay, not an early run) edits today's living status message in place, or
posts a new one when a state changed (`live.publish_status`). Silences in force (`live.silences_at`)
go into `step`, which holds back the re-pages they cover until they end by themselves.

Tables (all `slo_`): `slo_state` (one row: the breach state as JSON), `slo_alerts` (every alert
ever opened, for acknowledgements after the fact), `slo_samples` (at, slo, state, value, …); the
status message and silences are in `live.py` (`slo_status_message`, `slo_silences`), the digest's
claims in `digest.py` (`slo_digests`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, Field

from bot.adapters.charts import Panel, render_png
from bot.core import audit
from bot.core.migrations import Migration, Schema
from bot.core.outbox import message_key
from bot.core.runtime import Runtime
from bot.core.store import Database
from bot.core.telemetry import (
    ALERTS,
    RETENTION_PRUNED,
    SLO_EVALUATION_SECONDS,
    SLO_QUERIES_UNANSWERED,
    SLO_SLOW_TICKS,
)
from bot.features.slo.live import add_silence, publish_status, refresh_status, silences_at
from bot.features.slo.onset import date_onsets, first_seen
from bot.features.slo.render import AlertMessage, AlertNote, AlertView, NoteKind, SilenceNote, alert_summary
from commands.breach import (
    BLIND_KEY,
    AckOutcome,
    Alert,
    AlertKind,
    BreachEvent,
    BreachState,
    EventKind,
    Silence,
    acknowledge,
    silenced_until,
    step,
)
from commands.slo import (
    Comparator,
    MetricsReader,
    Reading,
    Series,
    SloDefinition,
    SloResult,
    SloState,
    SloStatus,
    Unit,
    evaluate_readings,
)

log = logging.getLogger(__name__)

_DDL = """
CREATE TABLE IF NOT EXISTS slo_state (
    slot INTEGER PRIMARY KEY CHECK (slot = 1),
    data TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS slo_alerts (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    open INTEGER NOT NULL,
    data TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS slo_samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    slo TEXT NOT NULL,
    state TEXT NOT NULL,
    value REAL,
    objective REAL NOT NULL,
    comparator TEXT NOT NULL,
    unit TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS slo_samples_at ON slo_samples (at);
"""
SCHEMA = Schema("slo_watch", [Migration(1, _DDL)])

# A delivery claimed but not finished (the process died mid-post) is retried after this, unless a new leader
# takes over a former leader's claim at once (`_may_take_over`).
CLAIM_TIMEOUT = timedelta(minutes=2)

class WatchRun(BaseModel):
    """What one tick did (for logs and tests)."""

    status: SloStatus
    events: list[BreachEvent] = Field(default_factory=list)
    replayed: bool = False  # this time was evaluated already (another replica, a retried tick)
    # The earliest moment a pending decision falls due (sustain boundary, re-page), if any.
    next_evaluation: datetime | None = None
    unanswered: int = 0  # queries not answered within slo.tick_deadline
    slow: bool = False  # the tick reached slo.tick_deadline


def _db(runtime: Runtime) -> Database:
    db = runtime.store.get()
    db.ensure(SCHEMA)
    return db


def _iso(when: datetime) -> str:
    # Fixed width (always microseconds, always UTC) so that text order in SQLite is time order.
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


class _Unavailable:
    """The metrics source when it cannot even be built (a missing token): every SLO UNKNOWN, with why."""

    def __init__(self, reason: str) -> None:
        self._reason = reason

    def read(self, slo: SloDefinition, *, window: str, at: datetime) -> Reading:
        return Reading(error=self._reason)

    def range(self, slo: SloDefinition, *, window: str, start: datetime, end: datetime) -> list[Series]:
        raise RuntimeError(self._reason)


def _source(runtime: Runtime) -> MetricsReader | _Unavailable:
    try:
        return runtime.metrics.get()
    except Exception as exc:
        return _Unavailable(f"Prometheus client cannot be set up: {exc}")


# -- reading: concurrent, bounded, one deadline ----------------------------------------------------

# One pool of reader threads per metrics source, at most `max_concurrent_queries` threads: a query
# still hanging when its tick's deadline passed keeps its thread until the client's timeout, so a hung
# Prometheus can never pile up threads, and the next tick's queries wait behind it (and are UNKNOWN).
_POOLS: weakref.WeakKeyDictionary[object, tuple[int, ThreadPoolExecutor]] = weakref.WeakKeyDictionary()
_POOLS_LOCK = threading.Lock()


def _pool(source: object, size: int) -> ThreadPoolExecutor:
    with _POOLS_LOCK:
        found = _POOLS.get(source)
        if found is not None and found[0] == size:
            return found[1]
        if found is not None:
            found[1].shutdown(wait=False, cancel_futures=True)
        pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="slo-read")
        _POOLS[source] = (size, pool)
        return pool


def _read_one(source: MetricsReader | _Unavailable, slo: SloDefinition, window: str, at: datetime) -> Reading:
    try:
        return source.read(slo, window=window, at=at)
    except Exception as exc:  # a broken adapter must leave the SLO UNKNOWN, not stop the watch
        return Reading(error=f"{type(exc).__name__}: {exc}")


def read_catalog(source: MetricsReader | _Unavailable, catalog: Sequence[SloDefinition], *, window: str,
                 at: datetime, max_concurrent: int, deadline: float) -> dict[str, Reading]:
    """Every SLO's reading, up to `max_concurrent` queries at once, all within `deadline` seconds.

    A query not answered by the deadline gives an UNKNOWN reading saying so (never OK); it is
    cancelled if it had not started, and left to the client's timeout if it had."""
    pool = _pool(source, max(1, max_concurrent))
    futures: dict[Future[Reading], SloDefinition] = {
        pool.submit(_read_one, source, slo, window, at): slo for slo in catalog}
    done, _ = wait_futures(futures, timeout=max(0.0, deadline))
    readings: dict[str, Reading] = {}
    for future, slo in futures.items():
        if future in done:
            readings[slo.name] = future.result()
        else:
            future.cancel()
            readings[slo.name] = Reading(
                error=f"Prometheus did not answer within the evaluation's deadline ({deadline:g}s, "
                      "slo.tick_deadline)")
    return readings


def _unanswered(readings: dict[str, Reading]) -> int:
    return sum(1 for r in readings.values() if r.error and "slo.tick_deadline" in r.error)


def _evaluate(runtime: Runtime, *, at: datetime, deadline: float | None = None) -> tuple[SloStatus, int]:
    settings = runtime.config.slo
    with SLO_EVALUATION_SECONDS.time():
        readings = read_catalog(_source(runtime), settings.catalog, window=settings.window, at=at,
                                max_concurrent=settings.max_concurrent_queries,
                                deadline=settings.tick_deadline.total_seconds() if deadline is None else deadline)
        status = evaluate_readings(settings.catalog, readings, at=at, burn_policy=settings.burn_rate)
    unanswered = _unanswered(readings)
    if unanswered:
        SLO_QUERIES_UNANSWERED.inc(unanswered)
    return status, unanswered


def evaluate_now(runtime: Runtime, *, at: datetime) -> SloStatus:
    """Read and judge the catalog (no state change); timed into the bot's own metrics."""
    return _evaluate(runtime, at=at)[0]


# -- persistence ----------------------------------------------------------------------------------


def _load(connection) -> BreachState:  # type: ignore[no-untyped-def]
    row = connection.execute("SELECT data FROM slo_state WHERE slot = 1").fetchone()
    return BreachState.model_validate_json(row["data"]) if row else BreachState()


def _save(connection, state: BreachState, *, at: datetime) -> None:  # type: ignore[no-untyped-def]
    connection.execute(
        "INSERT INTO slo_state (slot, data, updated_at) VALUES (1, ?, ?) "
        "ON CONFLICT (slot) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
        (state.model_dump_json(), _iso(at)),
    )
    for alert in state.alerts:
        connection.execute(
            "INSERT INTO slo_alerts (id, key, open, data, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET open = excluded.open, data = excluded.data, "
            "updated_at = excluded.updated_at",
            (alert.id, alert.key, int(alert.is_open), alert.model_dump_json(), _iso(at)),
        )


def load_state(runtime: Runtime) -> BreachState:
    return _load(_db(runtime).connect())


def find_alert(runtime: Runtime, alert_id: str) -> Alert | None:
    """Any alert ever opened (open ones from the state, older ones from `slo_alerts`)."""
    row = _db(runtime).connect().execute("SELECT data FROM slo_alerts WHERE id = ?", (alert_id,)).fetchone()
    return Alert.model_validate_json(row["data"]) if row else None


def _record_samples(connection, status: SloStatus) -> None:  # type: ignore[no-untyped-def]
    connection.executemany(
        "INSERT INTO slo_samples (at, slo, state, value, objective, comparator, unit, reason) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(_iso(status.at), r.name, r.state.value, r.value, r.objective, r.comparator.value, r.unit.value, r.reason)
         for r in status.results],
    )


def slo_history(runtime: Runtime, *, start: datetime, end: datetime) -> list[SloStatus]:
    """Evaluations recorded in [start, end], oldest first, one `SloStatus` per tick."""
    rows = _db(runtime).connect().execute(
        "SELECT * FROM slo_samples WHERE at >= ? AND at <= ? ORDER BY at, id", (_iso(start), _iso(end))
    ).fetchall()
    grouped: dict[str, list[SloResult]] = {}
    for row in rows:
        grouped.setdefault(row["at"], []).append(SloResult(
            name=row["slo"], state=SloState(row["state"]), value=row["value"], objective=row["objective"],
            comparator=Comparator(row["comparator"]), unit=Unit(row["unit"]), reason=row["reason"]))
    return [SloStatus(at=datetime.fromisoformat(at), results=results) for at, results in grouped.items()]


def latest_evaluation(runtime: Runtime) -> SloStatus | None:
    """The latest recorded evaluation (incident bundles), or None before the first tick."""
    row = _db(runtime).connect().execute("SELECT MAX(at) AS at FROM slo_samples").fetchone()
    if not row or row["at"] is None:
        return None
    at = datetime.fromisoformat(row["at"])
    found = slo_history(runtime, start=at, end=at)
    return found[-1] if found else None


# -- the job body ---------------------------------------------------------------------------------


def due_times(state: BreachState, *, sustain: timedelta, repage: timedelta,
              silences: Sequence[Silence] = (), at: datetime | None = None) -> list[datetime]:
    """When the decisions pending in `state` fall due: a breach or a blind stretch reaching `sustain`
    (no alert yet), an unacknowledged open alert's next re-page (not before a silence covering it ends)."""
    times = [track.since + sustain for name, track in state.tracks.items()
             if track.condition is SloState.BREACHING and state.open_alert(name) is None]
    unknown = [track.since for track in state.tracks.values() if track.condition is SloState.UNKNOWN]
    if unknown and state.open_alert(BLIND_KEY) is None:
        times.append(min(unknown) + sustain)
    for alert in state.alerts:
        if alert.is_open and alert.acknowledged_by is None:
            quiet = silenced_until(silences, alert.key, at) if at is not None else None
            times.append(max(alert.last_page_at + repage, quiet) if quiet else alert.last_page_at + repage)
    return times


def run_once(runtime: Runtime, *, at: datetime) -> WatchRun:
    """One tick: evaluate at `at`, step and persist the breach state, post status, deliver alerts."""
    settings = runtime.config.slo
    started = time.monotonic()
    deadline = settings.tick_deadline.total_seconds()
    status, unanswered = _evaluate(runtime, at=at, deadline=deadline)
    db = _db(runtime)
    silences = silences_at(runtime, at)
    # A breach first seen now is dated from its data (onset.py), read before the write lock is taken.
    onsets = first_seen(_source(runtime), settings.catalog, status, load_state(runtime), window=settings.window,
                        interval=settings.interval)
    with db.transaction() as connection:
        state = _load(connection)
        # A tick within half an interval of the last evaluation is another replica's tick (or a retry):
        # with two replicas each ticking on its own timer, this keeps one status post per interval.
        # Unless a decision fell due since that evaluation (the sustain boundary): then it is this
        # watch's early run, which evaluates (and pages) but does not post another status.
        last = state.last_evaluated_at
        early = last is not None and at < last + settings.interval / 2
        boundary = last is not None and any(
            last < due <= at for due in due_times(state, sustain=settings.sustain, repage=settings.repage,
                                                  silences=silences_at(runtime, last), at=last))
        replayed = early and not boundary
        events: list[BreachEvent] = []
        if not replayed:
            stepped = step(state, status, sustain=settings.sustain, repage=settings.repage, silences=silences)
            events = stepped.events
            state = stepped.state
            date_onsets(state, onsets, at=at, after=last)
            _save(connection, state, at=at)
            _record_samples(connection, status)
    upcoming = [due for due in due_times(state, sustain=settings.sustain, repage=settings.repage,
                                         silences=silences, at=at) if due > at]
    if replayed:
        log.info("SLO evaluation at %s already recorded; only pending deliveries are retried", at)
    elif settings.post_status and not early:
        try:  # the living status: today's message edited in place; a new one when a state changed
            publish_status(runtime, status, silences=silences, at=at)
        except Exception:
            log.exception("could not post the SLO status")
    if runtime.still_leader():  # the evaluation may have outlived the lease: pages go out from the leader only
        deliver(runtime, at=at)
    else:
        log.warning("SLO tick at %s: this replica lost the leader Lease meanwhile; the new leader delivers the "
                    "pending alerts from the store", at)
    elapsed = time.monotonic() - started
    slow = unanswered > 0 or elapsed > deadline
    if slow:
        SLO_SLOW_TICKS.inc()
        log.warning("slow SLO tick at %s: %.1fs against slo.tick_deadline %gs, %d of %d queries unanswered "
                    "(UNKNOWN); the next tick runs on its own schedule, none is stacked",
                    at, elapsed, deadline, unanswered, len(settings.catalog))
    return WatchRun(status=status, events=events, replayed=replayed, next_evaluation=min(upcoming, default=None),
                    unanswered=unanswered, slow=slow)


# -- retention ------------------------------------------------------------------------------------


class PruneRun(BaseModel):
    samples_deleted: int = 0
    audit_deleted: int = 0
    audit_exported_to: str | None = None


def prune(runtime: Runtime, *, at: datetime) -> PruneRun:
    """Delete `slo_samples` older than `slo.retention.samples_days` (by the `at` index, in batches),
    and audit entries older than `audit_days` when set (exported first when `audit_export_dir` is)."""
    retention = runtime.config.slo.retention
    db = _db(runtime)
    cutoff = _iso(at - timedelta(days=retention.samples_days))
    deleted = 0
    while True:
        with db.transaction() as connection:
            cursor = connection.execute(
                "DELETE FROM slo_samples WHERE id IN "
                "(SELECT id FROM slo_samples WHERE at < ? ORDER BY at LIMIT ?)", (cutoff, retention.batch_rows))
            count = cursor.rowcount or 0
        deleted += count
        if count < retention.batch_rows:
            break
    result = PruneRun(samples_deleted=deleted)
    if retention.audit_days is not None:
        export = Path(retention.audit_export_dir) if retention.audit_export_dir else None
        pruned = audit.prune(runtime, before=at - timedelta(days=retention.audit_days), export_dir=export,
                             batch_rows=retention.batch_rows)
        result.audit_deleted, result.audit_exported_to = pruned.deleted, pruned.exported_to
    if result.samples_deleted:
        RETENTION_PRUNED.labels(table="slo_samples").inc(result.samples_deleted)
    if result.audit_deleted:
        RETENTION_PRUNED.labels(table="audit_log").inc(result.audit_deleted)
    if result.samples_deleted or result.audit_deleted:
        log.info("retention: %d SLO samples and %d audit entries deleted", result.samples_deleted,
                 result.audit_deleted)
    return result


# -- delivery -------------------------------------------------------------------------------------
#
# Each piece of an alert's delivery (the listeners, the page, PagerDuty, the chart, a re-page, the
# acknowledgement and resolution notes, PagerDuty's resolve) is its own step: done, then recorded in its
# own transaction at once, so a process killed mid-delivery repeats at most the piece in flight, and a
# piece whose effect is recorded is never done again. The pieces that must never run twice (the breach
# listeners: an auto-rollback; the chart: a convenience, its outbox row carries it through a crash) are
# recorded before they are done instead.
#
# A post whose answer was lost (the process killed after Slack took it, before its ts was recorded) is found
# again: each post of a piece is written to the outbox under a key of its own (`message_key`), so posting it
# again is the same outbox row — already sent: its ts is answered; in flight when its sender died: the outbox
# looks for it in the channel by its message metadata before sending it again (bot/core/outbox.py).
#
# The whole delivery of one alert is claimed (`claim_until`, `claimed_by`) so two threads or replicas never
# work on it at once. A claim made by the leader's watch in another process is taken over by a new leader
# at once instead of after CLAIM_TIMEOUT (see `_may_take_over`).

# Who holds a claim: this replica's identity and this process (a container restarted in its pod keeps the
# pod's name, so the identity alone would not tell the new process from the one that died).
_PROCESS = uuid.uuid4().hex[:12]


def _claimant(runtime: Runtime) -> str:
    identity = runtime.leadership.get().identity if runtime.leadership.wired else "local"
    return f"{identity}/{os.getpid()}-{_PROCESS}"


def _elected_leader(runtime: Runtime) -> bool:
    """Whether this replica holds the leader Lease now (False without an election: see `_may_take_over`)."""
    if not runtime.leadership.wired:
        return False
    leadership = runtime.leadership.get()
    return leadership.elected and leadership.is_leader()


def _may_take_over(runtime: Runtime, alert: Alert, claimant: str) -> bool:
    """A live claim another process made as the leader's job, now that this replica holds the Lease.

    Safe: that process is no longer the leader (one holder at a time), and it stopped on its own clock by its
    `renew_deadline`, which ends before the Lease can change hands (`lease_duration` after its last renewal,
    on the new leader's clock; bot/core/leadership.py). A deposed leader asks `still_leader()` before each
    piece, so at most the one piece it had in flight may still finish, within `lease_duration -
    renew_deadline` of margin. Without an election (`SoleLeader`) every process thinks it leads, so nothing is
    taken over there; a claim made outside the leader's watch (an acknowledgement on a follower, which is
    alive) neither: those wait for CLAIM_TIMEOUT."""
    if not alert.claimed_as_leader or not alert.claimed_by or alert.claimed_by == claimant:
        return False
    return _elected_leader(runtime)


def _claim(runtime: Runtime, alert_id: str, *, claimant: str, as_leader: bool, at: datetime) -> Alert | None:
    with _db(runtime).transaction() as connection:
        state = _load(connection)
        alert = state.find(alert_id)
        if alert is None:
            return None
        if alert.claim_until is not None and alert.claim_until > at:
            if not _may_take_over(runtime, alert, claimant):
                return None  # someone else is on it
            log.warning("alert %s: taking over the delivery %s claimed as the former leader", alert.id,
                        alert.claimed_by)
        alert.claim_until, alert.claimed_by, alert.claimed_as_leader = at + CLAIM_TIMEOUT, claimant, as_leader
        _save(connection, state, at=at)
        return alert.model_copy(deep=True)


def _record(runtime: Runtime, alert_id: str, *, claimant: str, at: datetime, changes: dict[str, object]) -> bool:
    """Record one piece as done (whoever holds the claim now: the effect happened); returns whether the claim
    is still this process's (False: a new leader took it over, so this delivery stops here)."""
    with _db(runtime).transaction() as connection:
        state = _load(connection)
        alert = state.find(alert_id)
        if alert is None:
            return False
        for name, value in changes.items():
            setattr(alert, name, value)
        _save(connection, state, at=at)
        return alert.claimed_by == claimant


def _finish(runtime: Runtime, alert_id: str, *, claimant: str, at: datetime) -> None:
    """Give the claim back (if it is still ours) and prune an alert whose delivery is complete."""
    with _db(runtime).transaction() as connection:
        state = _load(connection)
        alert = state.find(alert_id)
        if alert is None or alert.claimed_by != claimant:
            return
        alert.claim_until, alert.claimed_by, alert.claimed_as_leader = None, None, False
        delivered = _delivered(alert, runtime)
        if delivered:
            state.alerts = [a for a in state.alerts if a.id != alert_id]
        _save(connection, state, at=at)
        if delivered:  # gone from the state: keep its final form in slo_alerts
            connection.execute("UPDATE slo_alerts SET open = 0, data = ? WHERE id = ?",
                               (alert.model_dump_json(), alert.id))


def _pagerduty_on(runtime: Runtime) -> bool:
    return runtime.config.slo.pagerduty.enabled


def _delivered(alert: Alert, runtime: Runtime) -> bool:
    if alert.is_open:
        return False
    if alert.message_ts is None:
        return True  # resolved before its page ever went out: nothing to tell
    pagerduty_done = not alert.pagerduty_triggered or alert.pagerduty_resolved
    return alert.resolve_posted and pagerduty_done


def _pending(alert: Alert, runtime: Runtime) -> bool:
    if _delivered(alert, runtime):
        return True  # still in the state only to be pruned
    if alert.kind is AlertKind.BREACH and not alert.listeners_done:
        return True
    if alert.message_ts is None:
        return alert.is_open
    if _pagerduty_on(runtime) and alert.is_open and not alert.pagerduty_triggered:
        return True
    if alert.is_open and alert.acknowledged_by is None and alert.pages_sent < alert.pages_due:
        return True
    if alert.acknowledged_by is not None and not alert.ack_posted:
        return True
    if not alert.is_open and (not alert.resolve_posted or (alert.pagerduty_triggered and not alert.pagerduty_resolved)):
        return True
    return not alert.chart_sent and alert.kind is AlertKind.BREACH


def deliver(runtime: Runtime, *, at: datetime) -> None:
    """Send whatever the persisted alerts still owe to Slack, PagerDuty and the breach listeners."""
    claimant = _claimant(runtime)
    for alert in load_state(runtime).alerts:
        if not _pending(alert, runtime):
            continue
        # Claimed as the leader's job when this replica holds the Lease: only such a claim may be taken over.
        as_leader = _elected_leader(runtime)
        claimed = _claim(runtime, alert.id, claimant=claimant, as_leader=as_leader, at=at)
        if claimed is None:
            continue  # someone else is on it
        delivery = _Delivery(runtime, claimed, claimant=claimant, as_leader=as_leader, at=at)
        try:
            delivery.run()
        except Exception:
            log.exception("delivering alert %s failed; the next tick retries what is left", claimed.id)
        finally:
            _finish(runtime, claimed.id, claimant=claimant, at=at)


def _mentions(runtime: Runtime) -> str:
    return runtime.config.slo.on_call.mentions()


def _message(runtime: Runtime, alert: Alert, *, at: datetime | None = None) -> AlertMessage:
    view = AlertView.RESOLVED if not alert.is_open else (
        AlertView.ACKNOWLEDGED if alert.acknowledged_by else AlertView.OPEN)
    quiet = silenced_until(silences_at(runtime, at), alert.key, at) if at is not None else None
    return AlertMessage(alert=alert, mentions=_mentions(runtime), dashboard_url=runtime.config.slo.dashboard_url,
                        view=view, silenced_until=quiet,
                        silence_minutes=runtime.config.slo.silence.default_duration.total_seconds() / 60)


def _event(alert: Alert, at: datetime) -> BreachEvent:
    return BreachEvent(kind=EventKind.PAGE, alert_id=alert.id, alert_kind=alert.kind, slo=alert.slo,
                       value=alert.value, objective=alert.objective, comparator=alert.comparator, since=alert.since,
                       at=at)


class _Stop(Exception):
    """This delivery ends here: the claim was taken over, or this replica is no longer the leader."""


class _Delivery:
    """One claimed alert's pending pieces, in order of urgency, each recorded as soon as it is done."""

    def __init__(self, runtime: Runtime, alert: Alert, *, claimant: str, as_leader: bool, at: datetime) -> None:
        self.runtime, self.alert, self.at = runtime, alert, at
        self._claimant, self._as_leader = claimant, as_leader
        self.out = runtime.poster.get()

    def run(self) -> None:
        pieces = (self._listeners, self._page, self._pagerduty_trigger, self._chart, self._repage,
                  self._ack_note, self._resolve_note, self._pagerduty_resolve)
        try:
            for piece in pieces:
                if self._as_leader and not self.runtime.still_leader():
                    log.warning("alert %s: this replica lost the leader Lease mid-delivery; the new leader "
                                "delivers the rest", self.alert.id)
                    return
                if not piece():
                    return
        except _Stop:
            return

    def _done(self, **changes: object) -> None:
        """Record a piece (in this alert's copy and in the store); stop if the claim is no longer ours."""
        for name, value in changes.items():
            setattr(self.alert, name, value)
        if not _record(self.runtime, self.alert.id, claimant=self._claimant, at=self.at, changes=changes):
            log.warning("alert %s: its delivery was taken over by the new leader; stopping here", self.alert.id)
            raise _Stop

    def _thread(self) -> str | None:
        return self.alert.message_ts or None

    # Each piece returns False when nothing after it may go out (a resolved alert never paged).

    def _listeners(self) -> bool:
        alert = self.alert
        if alert.kind is AlertKind.BREACH and not alert.listeners_done:
            self._done(listeners_done=True)  # recorded first, whatever they do: an auto-rollback must never run twice
            for listener in list(self.runtime.registry.breach_listeners) if alert.is_open else []:
                try:
                    listener(self.runtime, _event(alert, alert.opened_at))
                except Exception:
                    log.exception("a breach listener failed")
        return True

    def _page(self) -> bool:
        alert = self.alert
        if alert.message_ts is not None:
            return True
        if not alert.is_open:
            return False  # resolved before its page went out: nothing to tell
        with message_key(f"slo.page:{alert.id}"):  # posted again after a crash: the same outbox row, found
            ts = self.out.post(_message(self.runtime, alert, at=self.at))
        self._done(message_ts=ts or "", channel=self.runtime.config.slack.release_channel or None,
                   pages_sent=alert.pages_due)
        ALERTS.labels(kind="page" if alert.kind is AlertKind.BREACH else "blind").inc()
        return True

    def _pagerduty_trigger(self) -> bool:
        alert = self.alert
        if _pagerduty_on(self.runtime) and alert.is_open and not alert.pagerduty_triggered:
            self.runtime.pager.get().trigger(alert, summary=alert_summary(alert),
                                             links=[{"href": self.runtime.config.slo.dashboard_url,
                                                     "text": "Dashboard"}])
            self._done(pagerduty_triggered=True)
        return True

    def _chart(self) -> bool:
        alert = self.alert
        if not alert.chart_sent and alert.kind is AlertKind.BREACH:
            # One attempt, recorded first: a missing chart must not block re-pages, and a chart is never worth
            # a second copy (the outbox row it becomes carries it through a crash of the sender).
            self._done(chart_sent=True)
            try:
                _upload_chart(self.runtime, alert)
            except Exception:
                log.exception("the chart for alert %s could not be uploaded", alert.id)
        return True

    def _repage(self) -> bool:
        alert = self.alert
        if alert.is_open and alert.acknowledged_by is None and alert.pages_sent < alert.pages_due:
            with message_key(f"slo.repage:{alert.id}:{alert.pages_due}"):
                self.out.post(AlertNote(alert=alert, kind=NoteKind.REPAGE, mentions=_mentions(self.runtime)),
                              channel=alert.channel, thread_ts=self._thread())
            self._done(pages_sent=alert.pages_due)
            ALERTS.labels(kind="repage").inc()
        return True

    def _ack_note(self) -> bool:
        alert = self.alert
        if alert.acknowledged_by is not None and not alert.ack_posted:
            with message_key(f"slo.acknowledged:{alert.id}"):
                self.out.post(AlertNote(alert=alert, kind=NoteKind.ACKNOWLEDGED), channel=alert.channel,
                              thread_ts=self._thread())
            self._done(ack_posted=True)
            if alert.message_ts:  # an edit in place: repeating it after a crash changes nothing
                self.out.update(alert.message_ts, _message(self.runtime, alert, at=self.at), channel=alert.channel)
        return True

    def _resolve_note(self) -> bool:
        alert = self.alert
        if not alert.is_open and not alert.resolve_posted:
            with message_key(f"slo.resolved:{alert.id}"):
                self.out.post(AlertNote(alert=alert, kind=NoteKind.RESOLVED), channel=alert.channel,
                              thread_ts=self._thread())
            self._done(resolve_posted=True)
            ALERTS.labels(kind="resolved").inc()
            if alert.message_ts:
                self.out.update(alert.message_ts, _message(self.runtime, alert, at=self.at), channel=alert.channel)
        return True

    def _pagerduty_resolve(self) -> bool:
        alert = self.alert
        if not alert.is_open and alert.pagerduty_triggered and not alert.pagerduty_resolved:
            self.runtime.pager.get().resolve(alert)
            self._done(pagerduty_resolved=True)
        return True


# -- charts ---------------------------------------------------------------------------------------


def chart_png(runtime: Runtime, slos: list[SloDefinition], *, end: datetime, title: str) -> bytes:
    """The last `slo.chart_minutes` of each SLO with its objective; a failed range query is a labelled gap."""
    settings = runtime.config.slo
    start = end - timedelta(minutes=settings.chart_minutes)
    source = _source(runtime)
    panels = []
    for slo in slos:
        try:
            series = source.range(slo, window=settings.window, start=start, end=end)
            panels.append(Panel(slo=slo, series=series))
        except Exception as exc:
            panels.append(Panel(slo=slo, series=[], error=f"no data: {type(exc).__name__}"))
    return runtime.work.get().cpu(render_png, panels, title=title, start=start, end=end)  # off the GIL


def _upload_chart(runtime: Runtime, alert: Alert) -> None:
    slos = [s for s in runtime.config.slo.catalog if s.name == alert.slo]
    if not slos:
        return
    end = alert.opened_at
    png = chart_png(runtime, slos, end=end, title=f"{alert.slo}, last {runtime.config.slo.chart_minutes:g} min")
    runtime.poster.get().upload_png(png, filename=f"slo-{alert.id}.png", title=f"{alert.slo} — last 30 minutes",
                               channel=alert.channel, thread_ts=alert.message_ts or None)


# -- acknowledgement ------------------------------------------------------------------------------


class AckResult(BaseModel):
    outcome: AckOutcome
    alert: Alert | None = None


def acknowledge_alert(runtime: Runtime, alert_id: str, *, user_id: str, at: datetime) -> AckResult:
    """Acknowledge once (a double click or a Slack retry changes nothing), then tell the thread."""
    with _db(runtime).transaction() as connection:
        state = _load(connection)
        new, outcome = acknowledge(state, alert_id, by=user_id, at=at)
        if outcome is AckOutcome.ACKNOWLEDGED:
            _save(connection, new, at=at)
        alert = new.find(alert_id)
    if alert is None:
        alert = find_alert(runtime, alert_id)
        if alert is not None and outcome is AckOutcome.NOT_FOUND:
            outcome = AckOutcome.ALREADY_RESOLVED if not alert.is_open else outcome
    if outcome is AckOutcome.ACKNOWLEDGED:
        deliver(runtime, at=at)
    return AckResult(outcome=outcome, alert=alert)


# -- silences -------------------------------------------------------------------------------------


class SilenceResult(BaseModel):
    silence: Silence
    new: bool = True  # False: the same silence again (a double click, a retry): nothing was told again
    alerts: list[Alert] = Field(default_factory=list)  # the open alerts it covers (told in their threads)


def silence(runtime: Runtime, *, slo: str, duration: timedelta, reason: str, by: str, at: datetime) -> SilenceResult:
    """Record the silence, tell each open alert it covers in its thread, re-render those pages and today's
    status. Auditing is the caller's (it knows the channel)."""
    recorded, new = add_silence(runtime, slo=slo, duration=duration, reason=reason, by=by, at=at)
    covered = [a for a in load_state(runtime).alerts if a.is_open and recorded.covers(a.key, at)]
    if not new:
        return SilenceResult(silence=recorded, new=False, alerts=covered)
    out = runtime.poster.get()
    for alert in covered:
        if not alert.message_ts:
            continue
        try:
            out.post(SilenceNote(silence=recorded), channel=alert.channel, thread_ts=alert.message_ts)
            out.update(alert.message_ts, _message(runtime, alert, at=at), channel=alert.channel)
        except Exception:
            log.exception("could not tell alert %s's thread about the silence", alert.id)
    refresh_status(runtime, latest_evaluation(runtime), at=at)
    return SilenceResult(silence=recorded, alerts=covered)
