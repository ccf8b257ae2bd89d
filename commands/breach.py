"""Breach tracking: from a stream of SLO evaluations to pages, re-pages and resolutions.

What flows through: the persisted `BreachState` (the bot keeps it in its store) and one new
`SloStatus`; `step()` returns the next state and the events to deliver. Purely computational: the
time comes in with the status, and delivery (Slack, PagerDuty, listeners) is the bot's job, which
records what it delivered in the same persisted alerts so that a restart never pages twice.

Rules (the seed's "5-min sustained breach"):
- an SLO violated continuously for `sustain` opens one breach alert (a page); a spike that
  recovers sooner pages nobody. Burn-rate SLOs page as soon as a burn-rate tier fires (the tier's
  long window already proves the breach is significant);
- any SLO UNKNOWN for `sustain` or longer opens one "monitoring blind" alert: not knowing is
  never green, and staying silent about it would look like green;
- an open alert nobody acknowledged pages again every `repage`; acknowledged, it stays quiet;
- a breach alert resolves when its SLO is OK again (UNKNOWN is not recovery); the blind alert
  resolves when no SLO is UNKNOWN for `sustain` any more;
- a silence (`Silence`: one SLO, the blind alert's key, or `all`, until a time) stops re-pages of the
  alerts it covers while it lasts; it ends by itself when the clock passes `until`, and an alert still
  open and unacknowledged then re-pages at once. A new breach still opens its alert and pages once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from commands.slo import Comparator, Paging, SloResult, SloState, SloStatus, Unit

BLIND_KEY = "monitoring-blind"
SILENCE_ALL = "all"


class AlertKind(StrEnum):
    BREACH = "breach"
    BLIND = "blind"


class Track(BaseModel):
    """The paging condition of one SLO and since when it has held."""

    condition: SloState
    since: datetime
    value: float | None = None
    reason: str = ""


class BlindSlo(BaseModel):
    name: str
    since: datetime
    reason: str


class Alert(BaseModel):
    """One page and its life: open → (acknowledged) → resolved. Delivery fields are filled by the bot."""

    id: str
    key: str
    kind: AlertKind
    slo: str | None = None
    description: str = ""
    since: datetime
    opened_at: datetime
    value: float | None = None
    objective: float | None = None
    comparator: Comparator | None = None
    unit: Unit = Unit.NUMBER
    detail: str = ""
    blind: list[BlindSlo] = Field(default_factory=list)
    pages_due: int = 1
    last_page_at: datetime
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_value: float | None = None
    # Delivery bookkeeping (the bot's): what has reached Slack, PagerDuty and the breach listeners.
    channel: str | None = None
    message_ts: str | None = None
    pages_sent: int = 0
    chart_sent: bool = False
    ack_posted: bool = False
    resolve_posted: bool = False
    listeners_done: bool = False
    pagerduty_triggered: bool = False
    pagerduty_resolved: bool = False
    claim_until: datetime | None = None
    # Who holds that claim (one process of one replica), and whether it claimed as the leader's job: a new
    # leader may take over a former leader's claim at once instead of waiting for `claim_until`.
    claimed_by: str | None = None
    claimed_as_leader: bool = False
    # Where the alert came from: "" the SLO watch; "alertmanager" a webhook (opened and resolved from outside).
    source: str = ""

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def external(self) -> bool:
        """Opened and resolved by another system (Alertmanager), not by this watch's evaluations."""
        return self.source != ""


class BreachState(BaseModel):
    tracks: dict[str, Track] = Field(default_factory=dict)
    # Open alerts, and resolved ones whose delivery has not finished yet.
    alerts: list[Alert] = Field(default_factory=list)
    last_evaluated_at: datetime | None = None

    def open_alert(self, key: str) -> Alert | None:
        return next((a for a in self.alerts if a.key == key and a.is_open), None)

    def find(self, alert_id: str) -> Alert | None:
        return next((a for a in self.alerts if a.id == alert_id), None)


class Silence(BaseModel):
    """Re-pages of `slo` (an SLO name, `monitoring-blind`, or `all`) held back until `until`."""

    id: str
    slo: str
    until: datetime
    reason: str
    by: str
    at: datetime

    def active(self, now: datetime) -> bool:
        return self.at <= now < self.until

    def covers(self, key: str, now: datetime) -> bool:
        return self.active(now) and self.slo in (SILENCE_ALL, key)


def silenced_until(silences: Sequence[Silence], key: str, now: datetime) -> datetime | None:
    """The end of the longest silence covering `key` at `now`, or None when nothing silences it."""
    return max((s.until for s in silences if s.covers(key, now)), default=None)


def active_silences(silences: Sequence[Silence], now: datetime) -> list[Silence]:
    """The silences in force at `now`, soonest to end first (expiry is by the clock alone)."""
    return sorted((s for s in silences if s.active(now)), key=lambda s: (s.until, s.id))


class EventKind(StrEnum):
    PAGE = "page"
    REPAGE = "repage"
    RESOLVE = "resolve"


class BreachEvent(BaseModel):
    """Handed to breach listeners (the canary's auto-rollback) once when a sustained breach starts."""

    kind: EventKind
    alert_id: str
    alert_kind: AlertKind
    slo: str | None
    value: float | None = None
    objective: float | None = None
    comparator: Comparator | None = None
    since: datetime
    at: datetime


class StepResult(BaseModel):
    state: BreachState
    events: list[BreachEvent] = Field(default_factory=list)


def _condition(result: SloResult) -> SloState:
    """What paging looks at: the value's state, or for burn-rate SLOs whether a tier fires."""
    if result.state is SloState.UNKNOWN or result.paging is Paging.SUSTAINED:
        return result.state
    return SloState.BREACHING if result.burn_firing else SloState.OK


def _event(kind: EventKind, alert: Alert, at: datetime) -> BreachEvent:
    return BreachEvent(kind=kind, alert_id=alert.id, alert_kind=alert.kind, slo=alert.slo, value=alert.value,
                       objective=alert.objective, comparator=alert.comparator, since=alert.since, at=at)


def _alert_id(key: str, since: datetime) -> str:
    # Deterministic: the same breach gets the same ID however often the step is replayed.
    return f"{key}.{since.strftime('%Y%m%dT%H%M%S')}"


def _repage(alert: Alert, *, now: datetime, repage: timedelta, events: list[BreachEvent],
            silences: Sequence[Silence]) -> None:
    if silenced_until(silences, alert.key, now) is not None:
        return  # silenced: no re-page now; once the silence ends, one falls due at once if still unacknowledged
    if alert.acknowledged_by is None and now - alert.last_page_at >= repage:
        alert.pages_due += 1
        alert.last_page_at = now
        events.append(_event(EventKind.REPAGE, alert, now))


def step(state: BreachState, status: SloStatus, *, sustain: timedelta, repage: timedelta,
         silences: Sequence[Silence] = ()) -> StepResult:
    """The next breach state after one evaluation, and what to deliver. Purely computational.

    `silences` hold back re-pages of the alerts they cover while they last (see the module's rules)."""
    now = status.at
    new = state.model_copy(deep=True)
    events: list[BreachEvent] = []
    by_name = {r.name: r for r in status.results}
    for result in status.results:
        condition = _condition(result)
        track = new.tracks.get(result.name)
        if track is None or track.condition is not condition:
            track = Track(condition=condition, since=now)
        track.value, track.reason = result.value, result.reason or result.burn_detail
        new.tracks[result.name] = track
    # SLOs no longer in the catalog stop being tracked (their open alerts still resolve below).
    for name in list(new.tracks):
        if name not in by_name:
            del new.tracks[name]

    for result in status.results:
        track = new.tracks[result.name]
        alert = new.open_alert(result.name)
        if alert is None:
            due = result.paging is Paging.BURN_RATE or now - track.since >= sustain
            if track.condition is SloState.BREACHING and due:
                alert = Alert(id=_alert_id(result.name, track.since), key=result.name, kind=AlertKind.BREACH,
                              slo=result.name, description=result.description, since=track.since, opened_at=now,
                              value=result.value, objective=result.objective, comparator=result.comparator,
                              unit=result.unit, detail=result.burn_detail, last_page_at=now)
                new.alerts.append(alert)
                events.append(_event(EventKind.PAGE, alert, now))
            continue
        if track.condition is SloState.OK:
            alert.resolved_at, alert.resolved_value = now, result.value
            events.append(_event(EventKind.RESOLVE, alert, now))
            continue
        if track.condition is SloState.BREACHING:
            alert.value, alert.detail = result.value, result.burn_detail
        _repage(alert, now=now, repage=repage, events=events, silences=silences)

    for alert in [a for a in new.alerts if a.is_open and a.kind is AlertKind.BREACH and a.slo not in by_name
                  and not a.external]:
        alert.resolved_at = now  # removed from the catalog: nothing left to watch
        events.append(_event(EventKind.RESOLVE, alert, now))
    for alert in [a for a in new.alerts if a.is_open and a.external]:
        _repage(alert, now=now, repage=repage, events=events, silences=silences)  # resolved only from outside

    blind = [BlindSlo(name=name, since=t.since, reason=t.reason) for name, t in new.tracks.items()
             if t.condition is SloState.UNKNOWN and now - t.since >= sustain]
    alert = new.open_alert(BLIND_KEY)
    if blind and alert is None:
        since = min(b.since for b in blind)
        alert = Alert(id=_alert_id(BLIND_KEY, since), key=BLIND_KEY, kind=AlertKind.BLIND, since=since,
                      opened_at=now, blind=blind, last_page_at=now,
                      detail="; ".join(f"{b.name}: {b.reason}" for b in blind))
        new.alerts.append(alert)
        events.append(_event(EventKind.PAGE, alert, now))
    elif blind and alert is not None:
        alert.blind = blind
        alert.detail = "; ".join(f"{b.name}: {b.reason}" for b in blind)
        _repage(alert, now=now, repage=repage, events=events, silences=silences)
    elif alert is not None:
        alert.resolved_at = now
        events.append(_event(EventKind.RESOLVE, alert, now))

    new.last_evaluated_at = now
    return StepResult(state=new, events=events)


class AckOutcome(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    ALREADY_ACKNOWLEDGED = "already_acknowledged"
    ALREADY_RESOLVED = "already_resolved"
    NOT_FOUND = "not_found"


def acknowledge(state: BreachState, alert_id: str, *, by: str, at: datetime) -> tuple[BreachState, AckOutcome]:
    """Mark an open alert acknowledged (idempotent: a second click changes nothing). Purely computational."""
    new = state.model_copy(deep=True)
    alert = new.find(alert_id)
    if alert is None:
        return new, AckOutcome.NOT_FOUND
    if not alert.is_open:
        return new, AckOutcome.ALREADY_RESOLVED
    if alert.acknowledged_by is not None:
        return new, AckOutcome.ALREADY_ACKNOWLEDGED
    alert.acknowledged_by, alert.acknowledged_at = by, at
    return new, AckOutcome.ACKNOWLEDGED
