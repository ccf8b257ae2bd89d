"""SLO status, the page and its thread notes as Block Kit (the words are in `render.py`)."""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ConfirmObject

from bot.core.blocks import Blocks, context, packed_sections, section
from bot.features.slo.render import (
    ACK_ACTION,
    ACK_LABEL,
    DASHBOARD_ACTION,
    DASHBOARD_LABEL,
    ROLLBACK_ACTION,
    ROLLBACK_LABEL,
    SILENCE_ACTION,
    SILENCE_LABEL,
    AlertMessage,
    AlertNote,
    AlertView,
    Digest,
    LiveStatus,
    SilenceNote,
    SloStatus,
    alert_lines,
    chart_note,
    digest_head,
    digest_line,
    live_note,
    note_line,
    result_line,
    silence_line,
    silence_note_line,
    status_head,
)


def status_blocks(status: SloStatus) -> Blocks:
    blocks: Blocks = [section(status_head(status)), *packed_sections(result_line(r) for r in status.results)]
    note = chart_note(status)
    if note:
        blocks.append(context(note))
    return blocks


def live_blocks(message: LiveStatus) -> Blocks:
    blocks = status_blocks(message.status)
    if message.silences:
        blocks.append(section("\n".join(silence_line(s) for s in message.silences)))
    blocks.append(context(live_note(message)))
    return blocks


def silence_note_blocks(note: SilenceNote) -> Blocks:
    return [section(silence_note_line(note))]


def digest_blocks(digest: Digest) -> Blocks:
    blocks: Blocks = [section(digest_head(digest)), *packed_sections(digest_line(line) for line in digest.lines)]
    if digest.silences:
        blocks.append(section("\n".join(silence_line(s) for s in digest.silences)))
    return blocks


def _buttons(message: AlertMessage) -> list[ButtonElement]:
    """Acknowledge while open, Roll back until resolved, and always the dashboard link."""
    alert = message.alert
    buttons: list[ButtonElement] = []
    if message.view is AlertView.OPEN:
        buttons.append(ButtonElement(text=ACK_LABEL, action_id=ACK_ACTION, value=alert.id, style="primary"))
    if message.view is not AlertView.RESOLVED:
        what = alert.slo or "monitoring blind"
        buttons.append(ButtonElement(
            text=SILENCE_LABEL, action_id=SILENCE_ACTION, value=alert.id,
            confirm=ConfirmObject(title="Silence re-pages?", confirm="Silence", deny="Cancel",
                                  text=f"No re-pages for {what} for {message.silence_minutes:g} min. "
                                       "They resume by themselves; the silence is audited.")))
        buttons.append(ButtonElement(text=ROLLBACK_LABEL, action_id=ROLLBACK_ACTION, value=f"alert:{alert.id}",
                                     style="danger"))
    buttons.append(ButtonElement(text=DASHBOARD_LABEL, action_id=DASHBOARD_ACTION, url=message.dashboard_url))
    return buttons


def alert_blocks(message: AlertMessage) -> Blocks:
    return [
        section("\n".join(alert_lines(message))),
        ActionsBlock(block_id=f"alert-{message.alert.id}", elements=_buttons(message)),
    ]


def note_blocks(note: AlertNote) -> Blocks:
    return [section(note_line(note))]
