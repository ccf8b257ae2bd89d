"""Canary messages as Block Kit, built from the lines in `render.py` (so Slack and the console agree).

Every message has the same shape: the first line as its own section (what happened), the rest in a
second section, and for some a context block (who did it, or the canary's id).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ConfirmObject, MarkdownTextObject

from bot.core.blocks import Blocks, context, section
from bot.features.canary.render import (
    ABORT_ACTION,
    ABORT_CONFIRM,
    ABORT_LABEL,
    ABORT_QUESTION,
    PROMOTE_ACTION,
    PROMOTE_CONFIRM,
    REFUSED_NOTE,
    CanaryAborted,
    CanaryApplyFailed,
    CanaryCompleted,
    CanaryCompletionPending,
    CanaryNotice,
    CanaryPromoted,
    CanaryRefused,
    CanaryRunMessage,
    CanaryStarted,
    CanaryStatus,
    RunOutcome,
    aborted_lines,
    button_value,
    completed_lines,
    failed_lines,
    pending_lines,
    pointer,
    promote_label,
    promote_question,
    promoted_lines,
    refused_lines,
    run_footer,
    run_lines,
    started_lines,
    status_footer,
    status_lines,
)


def _blocks(lines: list[str], *, note: str | None = None) -> Blocks:
    blocks: Blocks = [section(lines[0])]
    if len(lines) > 1:
        blocks.append(section("\n".join(lines[1:])))
    if note:
        blocks.append(context(note))
    return blocks


def _signed(lines: list[str]) -> Blocks:
    """The last line (who did it) as the context."""
    return _blocks(lines[:-1], note=lines[-1])


def refused_blocks(result: CanaryRefused) -> Blocks:
    return _blocks(refused_lines(result), note=REFUSED_NOTE)


def started_blocks(result: CanaryStarted) -> Blocks:
    return _signed(started_lines(result))


def promoted_blocks(result: CanaryPromoted) -> Blocks:
    return _signed(promoted_lines(result))


def completed_blocks(result: CanaryCompleted) -> Blocks:
    return _signed(completed_lines(result))


def pending_blocks(result: CanaryCompletionPending) -> Blocks:
    """What is taking the image, then (small print) who finishes the release: a promote again, or the bot itself."""
    lines = pending_lines(result)
    return _blocks(lines[:-1], note=lines[-1])


def failed_blocks(result: CanaryApplyFailed) -> Blocks:
    return _blocks(failed_lines(result))


def aborted_blocks(result: CanaryAborted) -> Blocks:
    return _blocks(aborted_lines(result))


def status_blocks(result: CanaryStatus) -> Blocks:
    return _blocks(status_lines(result, slack=True), note=status_footer(result))


def _confirm(words: tuple[str, str, str], question: str) -> ConfirmObject:
    title, yes, no = words
    return ConfirmObject(title=title, text=MarkdownTextObject(text=question), confirm=yes, deny=no)


def run_blocks(message: CanaryRunMessage) -> Blocks:
    """The living run message: what it is now, Promote / Abort while active, the small print."""
    lines = run_lines(message, slack=True)
    blocks: Blocks = [section(lines[0])]
    if len(lines) > 1:
        blocks.append(section("\n".join(lines[1:])))
    run = message.run
    if message.outcome is RunOutcome.ACTIVE and message.buttons and run is not None and message.status.stage:
        value = button_value(message)
        blocks.append(ActionsBlock(block_id=f"canary-{run.id}", elements=[
            ButtonElement(text=promote_label(message), action_id=PROMOTE_ACTION, value=value, style="primary",
                          confirm=_confirm(PROMOTE_CONFIRM, promote_question(message))),
            ButtonElement(text=ABORT_LABEL, action_id=ABORT_ACTION, value=value, style="danger",
                          confirm=_confirm(ABORT_CONFIRM, ABORT_QUESTION)),
        ]))
    blocks.append(context(run_footer(message)))
    return blocks


def _step_blocks(step: object) -> Blocks:
    for kind, render in _STEPS:
        if isinstance(step, kind):
            return render(step)
    return [section(str(step))]


def notice_blocks(notice: CanaryNotice) -> Blocks:
    """The step (or the run, for status) as its own blocks, and where the run message is."""
    return [*_step_blocks(notice.step), context(pointer(notice))]


_STEPS: list[tuple[type, Callable[[Any], Blocks]]] = [
    (CanaryRunMessage, run_blocks), (CanaryStarted, started_blocks), (CanaryPromoted, promoted_blocks),
    (CanaryCompleted, completed_blocks), (CanaryCompletionPending, pending_blocks), (CanaryApplyFailed, failed_blocks),
    (CanaryAborted, aborted_blocks), (CanaryStatus, status_blocks), (CanaryRefused, refused_blocks),
]
