"""SLO status, alert messages and their thread notes: their words, and their text renderers.

All SLO wording lives here: the status list (✅ ok, 🔥 breaching, ❔ unknown, each value against
its objective with units), the page (on-call mention, what breached since when, what to do, and
the Acknowledge / Roll back / Open dashboard buttons), and the replies in its thread (re-page,
acknowledged, resolved). The Block Kit renderers are in `blocks.py`; this module imports no slack_sdk.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from commands.breach import Alert, AlertKind
from commands.slo import Comparator, SloResult, SloState, SloStatus, Unit

ACK_ACTION = "alert.ack"
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
    objective = f"{result.comparator.value} {format_value(result.objective, result.unit)}"
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
    return f"SLO breach: {alert.slo}"


def _objective(alert: Alert) -> str:
    if alert.objective is None or alert.comparator is None:
        return ""
    return f"{alert.comparator.value} {format_value(alert.objective, alert.unit)}"


def alert_summary(alert: Alert) -> str:
    """One line: what, value vs objective, since when (also PagerDuty's summary)."""
    if alert.kind is AlertKind.BLIND:
        names = ", ".join(b.name for b in alert.blind) or "SLOs"
        return f"Monitoring blind: {names} UNKNOWN since {_at(alert.since)} — the SLOs cannot be judged"
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
    if alert.kind is AlertKind.BREACH:
        lines.append(f"{alert.description or alert.slo}: {format_value(alert.value, alert.unit)} "
                     f"(objective {_objective(alert)}), breaching since {_at(alert.since)}.")
        if alert.detail:
            lines.append(alert.detail)
    else:
        lines.append(f"No usable SLO data since {_at(alert.since)}: nothing can be judged green. "
                     "Check Prometheus and the NODE0 scrape targets.")
        lines += [f"❔ {b.name}: {b.reason}" for b in alert.blind]
    if message.view is AlertView.OPEN:
        lines.append("Next: acknowledge to stop re-pages; roll back if the canary or last release caused it "
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
        lines.append(f"Acknowledge: /bizra slo ack {message.alert.id} · Dashboard: {message.dashboard_url}")
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
    return f"✅ Resolved at {when}: {_what(alert)} is back within its objective{recovered}." \
        if alert.kind is AlertKind.BREACH else f"✅ Resolved at {when}: SLO data is flowing again."


def note_text(note: AlertNote) -> str:
    return note_line(note)

