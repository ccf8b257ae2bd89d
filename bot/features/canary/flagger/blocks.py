"""The Flagger gate's messages as Block Kit, from the lines in `render.py`."""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ConfirmObject, MarkdownTextObject

from bot.core.blocks import Blocks, context, section
from bot.features.canary.flagger.render import (
    APPROVE_ACTION,
    APPROVE_CONFIRM,
    DENY_ACTION,
    DENY_CONFIRM,
    DENY_QUESTION,
    FlaggerEvent,
    FlaggerNote,
    FlaggerRunMessage,
    approve_question,
    button_value,
    event_line,
    run_lines,
)
from bot.features.canary.flagger.store import RunState


def _confirm(words: tuple[str, str, str], question: str) -> ConfirmObject:
    title, yes, no = words
    return ConfirmObject(title=title, text=MarkdownTextObject(text=question), confirm=yes, deny=no)


def run_blocks(message: FlaggerRunMessage) -> Blocks:
    lines = run_lines(message)
    blocks: Blocks = [section(lines[0]), section("\n".join(lines[1:-1]))]
    if message.buttons and message.run.state is RunState.WAITING:
        value = button_value(message.run)
        blocks.append(ActionsBlock(block_id=f"flagger-{message.run.id}", elements=[
            ButtonElement(text="Approve", action_id=APPROVE_ACTION, value=value, style="primary",
                          confirm=_confirm(APPROVE_CONFIRM, approve_question(message))),
            ButtonElement(text="Deny", action_id=DENY_ACTION, value=value, style="danger",
                          confirm=_confirm(DENY_CONFIRM, DENY_QUESTION)),
        ]))
    blocks.append(context(lines[-1]))
    return blocks


def event_blocks(event: FlaggerEvent) -> Blocks:
    return [section(event_line(event))]


def note_blocks(note: FlaggerNote) -> Blocks:
    return [section(note.text)]
