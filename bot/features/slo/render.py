"""SLO status, alert messages and their thread notes: their words, and their text renderers.

All SLO wording lives here: the status list (✅ ok, 🔥 breaching, ❔ unknown, each value against
its objective with units), the page (on-call mention, what breached since when, what to do, and
the Acknowledge / Silence / Roll back / Open dashboard buttons), and the replies in its thread (re-page,
acknowledged, resolved, silenced), the living status message with its silences, and the daily
digest. The Block Kit renderers are in `blocks.py`; this module imports no slack_sdk.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from commands.breach import BLIND_KEY, SILENCE_ALL, Alert, AlertKind, Silence
from commands.slo import Comparator, SloResult, SloState, SloStatus, Unit

ACK_ACTION = "alert.ack"
SILENCE_ACTION = "alert.silence"
SILENCE_LABEL = "Silence"
ROLLBACK_ACTION = "rollback.request"  # handled by the rollback feature (confirmation first)
DASHBOARD_ACTION = "alert.dashboard"  # a URL button; Slack still sends the click, which is ignored
ACK_LABEL = "Acknowledge"
ROLLBACK_LABEL = "Roll back"
DASHBOARD_LABEL = "Open dashboard"

ICON = {SloState.OK: "✅", SloState.BREACHING: "🔥", SloState.UNKNOWN: "❔"}
WORD = {SloState.OK: "ok", SloState.BREACHING: "breaching", SloState.UNKNOWN: "unknown"}


def format_value(value: float | None, unit: Unit) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "+∞" if value > 0 else "-∞"
    if unit is Unit.SECONDS:
        return f"{value * 1000:.3g} ms"
    if unit is Unit.RATIO:
        return f"{value * 100:.4g}%"
    return f"{value:.4g}"


def _at(when: datetime) -> str:
    return when.strftime("%H:%M:%S UTC")


def result_line(result: SloResult) -> str:
    objective = f"{result.comparator.symbol} {format_value(result.objective, result.unit)}"
    line = f"{ICON[result.state]} {result.name}: {format_value(result.value, result.unit)} (objective {objective}) " \
           f"{WORD[result.state]}"
    if result.state is SloState.UNKNOWN and result.reason:
        line += f" — {result.reason}"
    if result.burn_firing:
        line += f" — burn-rate page: {result.burn_detail}"
    return line


def status_head(status: SloStatus) -> str:
    return f"{ICON[status.state]} *NODE0 SLOs* at {_at(status.at)}: {WORD[status.state]}"


def chart_note(status: SloStatus) -> str:
    if not status.chart:
        return ""
    return f"Chart written to {status.chart}" if ("/" in status.chart or "\\" in status.chart) else \
        "Chart of the last 30 minutes attached."


def status_text(status: SloStatus) -> str:
    lines = [status_head(status).replace("*", ""), *(result_line(r) for r in status.results)]
    note = chart_note(status)
    return "\n".join([*lines, note] if note else lines)


def slack_date(when: datetime) -> str:
    """A time every reader sees in their own time zone (`<!date^…>`), with a UTC fallback."""
    fallback = when.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(when.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _silenced_what(silence: Silence) -> str:
    if silence.slo == SILENCE_ALL:
        return "all SLO alerts"
    return "monitoring blind" if silence.slo == BLIND_KEY else silence.slo


def silence_line(silence: Silence, *, slack: bool = True) -> str:
    until = slack_date(silence.until) if slack else silence.until.strftime("%Y-%m-%d %H:%M UTC")
    by = f"<@{silence.by}>" if slack else silence.by
    return f"🔕 {_silenced_what(silence)} silenced until {until} by {by}: {silence.reason}"


class LiveStatus(BaseModel):
    """The living status message: today's one message in the release channel, edited in place every tick."""

    status: SloStatus
    silences: list[Silence] = Field(default_factory=list)
    interval_minutes: float = 5.0


def live_note(message: LiveStatus) -> str:
    return (f"Living status for {message.status.at.strftime('%Y-%m-%d')} (UTC): edited in place every "
            f"{message.interval_minutes:g} min; a new message when a state changes.")


def live_text(message: LiveStatus) -> str:
    lines = [status_text(message.status), *(silence_line(s, slack=False) for s in message.silences)]
    return "\n".join([*lines, live_note(message)])


class SilenceNote(BaseModel):
    """A reply in a page's thread: who silenced it, until when, why."""

    silence: Silence


def silence_note_line(note: SilenceNote) -> str:
    return f"{silence_line(note.silence)} — no re-pages until then (they resume by themselves)."


def silence_note_text(note: SilenceNote) -> str:
    return f"{silence_line(note.silence, slack=False)} — no re-pages until then (they resume by themselves)."


class DigestLine(BaseModel):
    name: str
    ok_ratio: float | None = None  # share of evaluations that were OK; None without any
    breaching: int = 0
    unknown: int = 0
    alerts: int = 0


class Digest(BaseModel):
    """The daily digest: the last 24 hours of the SLO watch in one message."""

    start: datetime
    end: datetime
    evaluations: int
    lines: list[DigestLine] = Field(default_factory=list)
    silences: list[Silence] = Field(default_factory=list)


def digest_head(digest: Digest) -> str:
    return (f"📊 *NODE0 SLO digest* {digest.start.strftime('%Y-%m-%d %H:%M')} → {digest.end.strftime('%H:%M')} UTC: "
            f"{digest.evaluations} evaluations")


def digest_line(line: DigestLine) -> str:
    if line.ok_ratio is None:
        return f"❔ {line.name}: no evaluations"
    icon = "✅" if line.ok_ratio >= 1.0 and not line.alerts else ("🔥" if line.breaching or line.alerts else "❔")
    return (f"{icon} {line.name}: ok {line.ok_ratio * 100:.1f}% of evaluations, {line.breaching} breaching, "
            f"{line.unknown} unknown, {line.alerts} page(s)")


def digest_text(digest: Digest) -> str:
    lines = [digest_head(digest).replace("*", ""), *(digest_line(line) for line in digest.lines)]
    lines += [silence_line(s, slack=False) for s in digest.silences]
    return "\n".join(lines)


class AlertView(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertMessage(BaseModel):
    """The page in the release channel (posted once, then updated as the alert moves on)."""

    alert: Alert
    mentions: str
    dashboard_url: str
    view: AlertView = AlertView.OPEN
    silenced_until: datetime | None = None
    silence_minutes: float = 60.0  # what the Silence button sets (slo.silence.default_duration)


class NoteKind(StrEnum):
    REPAGE = "repage"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertNote(BaseModel):
    """A reply in the page's thread."""

    alert: Alert
    kind: NoteKind
    mentions: str = ""


def _what(alert: Alert) -> str:
    if alert.kind is AlertKind.BLIND:
        return "Monitoring blind"
    return f"Alert: {alert.slo}" if alert.external else f"SLO breach: {alert.slo}"


def _objective(alert: Alert) -> str:
    if alert.objective is None or alert.comparator is None:
        return ""
    return f"{alert.comparator.symbol} {format_value(alert.objective, alert.unit)}"


def alert_summary(alert: Alert) -> str:
    """One line: what, value vs objective, since when (also PagerDuty's summary)."""
    if alert.kind is AlertKind.BLIND:
        names = ", ".join(b.name for b in alert.blind) or "SLOs"
        return f"Monitoring blind: {names} UNKNOWN since {_at(alert.since)} — the SLOs cannot be judged"
    if alert.external:  # from Alertmanager: no value or objective of ours
        return f"Alert: {alert.slo}{': ' + alert.description if alert.description else ''}, firing since " \
               f"{_at(alert.since)}"
    direction = "above" if alert.comparator is Comparator.LE else "below"
    return (f"SLO breach: {alert.slo} at {format_value(alert.value, alert.unit)}, {direction} objective "
            f"{_objective(alert)}, since {_at(alert.since)}")


def alert_lines(message: AlertMessage) -> list[str]:
    alert = message.alert
    if message.view is AlertView.RESOLVED:
        head = f"✅ Resolved: {_what(alert)}"
    else:
        head = f"🔥 {_what(alert)}" if alert.kind is AlertKind.BREACH else f"❔ {_what(alert)}"
    lines = [f"{head} — {message.mentions}" if message.view is AlertView.OPEN else head]
    if alert.external:
        lines.append(f"{alert.description or alert.slo}: firing since {_at(alert.since)} ({alert.source}).")
        if alert.detail:
            lines.append(alert.detail)
    elif alert.kind is AlertKind.BREACH:
        lines.append(f"{alert.description or alert.slo}: {format_value(alert.value, alert.unit)} "
                     f"(objective {_objective(alert)}), breaching since {_at(alert.since)}.")
        if alert.detail:
            lines.append(alert.detail)
    else:
        lines.append(f"No usable SLO data since {_at(alert.since)}: nothing can be judged green. "
                     "Check Prometheus and the NODE0 scrape targets.")
        lines += [f"❔ {b.name}: {b.reason}" for b in alert.blind]
    if message.silenced_until is not None and message.view is not AlertView.RESOLVED:
        lines.append(f"🔕 Re-pages silenced until {slack_date(message.silenced_until)}.")
    if message.view is AlertView.OPEN:
        lines.append("Next: acknowledge to stop re-pages (or silence them for a while); roll back if the canary or "
                     "last release caused it "
                     "(see ops/runbooks/CANARY-ROLLBACK.md).")
    if alert.acknowledged_by:
        lines.append(f"Acknowledged by <@{alert.acknowledged_by}> at {_at(alert.acknowledged_at or alert.since)}.")
    if alert.resolved_at:
        recovered = f" at {format_value(alert.resolved_value, alert.unit)}" if alert.resolved_value is not None else ""
        lines.append(f"Resolved at {_at(alert.resolved_at)}{recovered}.")
    return lines


def alert_text(message: AlertMessage) -> str:
    lines = alert_lines(message)
    if message.view is not AlertView.RESOLVED:
        lines.append(f"Acknowledge: /bizra slo ack {message.alert.id} · Silence: /bizra slo silence "
                     f"{message.alert.slo or BLIND_KEY} 1h <reason> · Dashboard: {message.dashboard_url}")
    return "\n".join(lines)


def note_line(note: AlertNote) -> str:
    alert = note.alert
    if note.kind is NoteKind.REPAGE:
        return (f"🔁 Still unacknowledged: {alert_summary(alert)} (page {alert.pages_due}). {note.mentions} "
                "— acknowledge to stop re-pages.")
    if note.kind is NoteKind.ACKNOWLEDGED:
        return f"👀 Acknowledged by <@{alert.acknowledged_by}>: no more re-pages for this alert."
    recovered = f" ({format_value(alert.resolved_value, alert.unit)})" if alert.resolved_value is not None else ""
    when = _at(alert.resolved_at) if alert.resolved_at else "now"
    if alert.external:
        return f"✅ Resolved at {when}: {_what(alert)} ({alert.source} resolved it)."
    return f"✅ Resolved at {when}: {_what(alert)} is back within its objective{recovered}." \
        if alert.kind is AlertKind.BREACH else f"✅ Resolved at {when}: SLO data is flowing again."


def note_text(note: AlertNote) -> str:
    return note_line(note)

