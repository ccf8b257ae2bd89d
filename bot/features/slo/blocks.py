"""SLO status, the page and its thread notes as Block Kit (the words are in `render.py`)."""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, ButtonElement

from bot.core.blocks import Blocks, context, packed_sections, section
from bot.features.slo.render import (
    ACK_ACTION,
    ACK_LABEL,
    DASHBOARD_ACTION,
    DASHBOARD_LABEL,
    ROLLBACK_ACTION,
    ROLLBACK_LABEL,
    AlertMessage,
    AlertNote,
    AlertView,
    SloStatus,
    alert_lines,
    chart_note,
    note_line,
    result_line,
    status_head,
)


def status_blocks(status: SloStatus) -> Blocks:
    blocks: Blocks = [section(status_head(status)), *packed_sections(result_line(r) for r in status.results)]
    note = chart_note(status)
    if note:
        blocks.append(context(note))
    return blocks


def _buttons(message: AlertMessage) -> list[ButtonElement]:
    """Acknowledge while open, Roll back until resolved, and always the dashboard link."""
    alert = message.alert
    buttons: list[ButtonElement] = []
    if message.view is AlertView.OPEN:
        buttons.append(ButtonElement(text=ACK_LABEL, action_id=ACK_ACTION, value=alert.id, style="primary"))
    if message.view is not AlertView.RESOLVED:
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
