"""The SLO watch's job body: evaluate → persist → post status, page, re-page, resolve.

What flows through: the scheduler (or a test) calls `run_once(runtime, at=…)` with the time.
The catalog is read from Prometheus (one query per SLO), the breach state is loaded from the
store, stepped (`commands.breach.step`) and saved in one write transaction together with the
evaluation history (`slo_samples`), so a restart or a second replica never pages a breach twice
and never forgets one. Delivery then works off the persisted alerts: each pending piece (the page
and its chart, a re-page, the acknowledgement note, the resolution, PagerDuty, the breach
listeners) is claimed in the store, done, and recorded as done, so a retried tick re-sends only
what never went out.

Tables (all `slo_`): `slo_state` (one row: the breach state as JSON), `slo_alerts` (every alert
ever opened, for acknowledgements after the fact), `slo_samples` (at, slo, state, value, …).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field

from bot.adapters.charts import Panel, render_png
from bot.core.runtime import Runtime
from bot.core.store import Database
from bot.core.telemetry import ALERTS, SLO_EVALUATION_SECONDS
from bot.features.slo.render import AlertMessage, AlertNote, AlertView, NoteKind, alert_summary
from commands.breach import (
    AckOutcome,
    Alert,
    AlertKind,
    BreachEvent,
    BreachState,
    EventKind,
    acknowledge,
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
    evaluate,
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

# A delivery claimed but not finished (the process died mid-post) is retried after this.
CLAIM_TIMEOUT = timedelta(minutes=2)

class WatchRun(BaseModel):
    """What one tick did (for logs and tests)."""

    status: SloStatus
    events: list[BreachEvent] = Field(default_factory=list)
    replayed: bool = False  # this time was evaluated already (another replica, a retried tick)


def _db(runtime: Runtime) -> Database:
    db = runtime.store.get()
    db.ensure_schema(_DDL)
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


def evaluate_now(runtime: Runtime, *, at: datetime) -> SloStatus:
    """Read and judge the catalog (no state change); timed into the bot's own metrics."""
    settings = runtime.config.slo
    with SLO_EVALUATION_SECONDS.time():
        return evaluate(settings.catalog, _source(runtime), window=settings.window, at=at,
                        burn_policy=settings.burn_rate)


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


def run_once(runtime: Runtime, *, at: datetime) -> WatchRun:
    """One tick: evaluate at `at`, step and persist the breach state, post status, deliver alerts."""
    settings = runtime.config.slo
    status = evaluate_now(runtime, at=at)
    db = _db(runtime)
    with db.transaction() as connection:
        state = _load(connection)
        # A tick within half an interval of the last evaluation is another replica's tick (or a retry):
        # with two replicas each ticking on its own timer, this keeps one status post per interval.
        replayed = state.last_evaluated_at is not None and at < state.last_evaluated_at + settings.interval / 2
        events: list[BreachEvent] = []
        if not replayed:
            stepped = step(state, status, sustain=settings.sustain, repage=settings.repage)
            events = stepped.events
            _save(connection, stepped.state, at=at)
            _record_samples(connection, status)
    if replayed:
        log.info("SLO evaluation at %s already recorded; only pending deliveries are retried", at)
    elif settings.post_status:
        try:
            runtime.poster.get().post(status)
        except Exception:
            log.exception("could not post the SLO status")
    deliver(runtime, at=at)
    return WatchRun(status=status, events=events, replayed=replayed)


# -- delivery -------------------------------------------------------------------------------------


def _claim(runtime: Runtime, alert_id: str, *, at: datetime) -> Alert | None:
    with _db(runtime).transaction() as connection:
        state = _load(connection)
        alert = state.find(alert_id)
        if alert is None or (alert.claim_until is not None and alert.claim_until > at):
            return None
        alert.claim_until = at + CLAIM_TIMEOUT
        _save(connection, state, at=at)
        return alert.model_copy(deep=True)


def _finish(runtime: Runtime, alert_id: str, *, at: datetime, **changes: object) -> None:
    with _db(runtime).transaction() as connection:
        state = _load(connection)
        alert = state.find(alert_id)
        if alert is None:
            return
        for name, value in changes.items():
            setattr(alert, name, value)
        alert.claim_until = None
        if _delivered(alert, runtime):
            state.alerts = [a for a in state.alerts if a.id != alert_id]
        _save(connection, state, at=at)
        if _delivered(alert, runtime):  # gone from the state: keep its final form in slo_alerts
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
    for alert in load_state(runtime).alerts:
        if not _pending(alert, runtime):
            continue
        claimed = _claim(runtime, alert.id, at=at)
        if claimed is None:
            continue  # someone else is on it
        changes: dict[str, object] = {}
        try:
            _deliver_one(runtime, claimed, changes)
        except Exception:
            log.exception("delivering alert %s failed; the next tick retries what is left", claimed.id)
        finally:
            _finish(runtime, claimed.id, at=at, **changes)


def _mentions(runtime: Runtime) -> str:
    return runtime.config.slo.on_call.mentions()


def _message(runtime: Runtime, alert: Alert) -> AlertMessage:
    view = AlertView.RESOLVED if not alert.is_open else (
        AlertView.ACKNOWLEDGED if alert.acknowledged_by else AlertView.OPEN)
    return AlertMessage(alert=alert, mentions=_mentions(runtime), dashboard_url=runtime.config.slo.dashboard_url,
                        view=view)


def _event(alert: Alert, at: datetime) -> BreachEvent:
    return BreachEvent(kind=EventKind.PAGE, alert_id=alert.id, alert_kind=alert.kind, slo=alert.slo,
                       value=alert.value, objective=alert.objective, comparator=alert.comparator, since=alert.since,
                       at=at)


def _deliver_one(runtime: Runtime, alert: Alert, changes: dict[str, object]) -> None:
    """One alert's pending work, in order of urgency; `changes` records each piece as it is done."""
    out = runtime.poster.get()
    if alert.kind is AlertKind.BREACH and not alert.listeners_done:
        # Marked done whatever the listeners do: an auto-rollback must never run twice.
        changes["listeners_done"] = alert.listeners_done = True
        listeners = list(runtime.registry.breach_listeners) if alert.is_open else []
        for listener in listeners:
            try:
                listener(runtime, _event(alert, alert.opened_at))
            except Exception:
                log.exception("a breach listener failed")
    if alert.message_ts is None:
        if not alert.is_open:
            return
        ts = out.post(_message(runtime, alert))
        channel = runtime.config.slack.release_channel or None
        changes.update(message_ts=ts or "", channel=channel, pages_sent=alert.pages_due)
        alert.message_ts, alert.channel, alert.pages_sent = ts or "", channel, alert.pages_due
        ALERTS.labels(kind="page" if alert.kind is AlertKind.BREACH else "blind").inc()
    if _pagerduty_on(runtime) and alert.is_open and not alert.pagerduty_triggered:
        runtime.pager.get().trigger(alert, summary=alert_summary(alert),
                                    links=[{"href": runtime.config.slo.dashboard_url, "text": "Dashboard"}])
        changes["pagerduty_triggered"] = alert.pagerduty_triggered = True
    if not alert.chart_sent and alert.kind is AlertKind.BREACH:
        changes["chart_sent"] = alert.chart_sent = True  # one attempt: a missing chart must not block re-pages
        try:
            _upload_chart(runtime, alert)
        except Exception:
            log.exception("the chart for alert %s could not be uploaded", alert.id)
    if alert.is_open and alert.acknowledged_by is None and alert.pages_sent < alert.pages_due:
        out.post(AlertNote(alert=alert, kind=NoteKind.REPAGE, mentions=_mentions(runtime)), channel=alert.channel,
                 thread_ts=alert.message_ts or None)
        changes["pages_sent"] = alert.pages_sent = alert.pages_due
        ALERTS.labels(kind="repage").inc()
    if alert.acknowledged_by is not None and not alert.ack_posted:
        out.post(AlertNote(alert=alert, kind=NoteKind.ACKNOWLEDGED), channel=alert.channel,
                 thread_ts=alert.message_ts or None)
        changes["ack_posted"] = alert.ack_posted = True
        if alert.message_ts:
            out.update(alert.message_ts, _message(runtime, alert), channel=alert.channel)
    if not alert.is_open and not alert.resolve_posted:
        out.post(AlertNote(alert=alert, kind=NoteKind.RESOLVED), channel=alert.channel,
                 thread_ts=alert.message_ts or None)
        changes["resolve_posted"] = alert.resolve_posted = True
        ALERTS.labels(kind="resolved").inc()
        if alert.message_ts:
            out.update(alert.message_ts, _message(runtime, alert), channel=alert.channel)
    if not alert.is_open and alert.pagerduty_triggered and not alert.pagerduty_resolved:
        runtime.pager.get().resolve(alert)
        changes["pagerduty_resolved"] = True


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
    return render_png(panels, title=title, start=start, end=end)


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
