"""Canary messages as Block Kit, built from the lines in `render.py` (so Slack and the console agree).

Every message has the same shape: the first line as its own section (what happened), the rest in a
second section, and for some a context block (who did it, or the canary's id).
"""

from __future__ import annotations

from bot.core.blocks import Blocks, context, section
from bot.features.canary.render import (
    REFUSED_NOTE,
    CanaryAborted,
    CanaryApplyFailed,
    CanaryCompleted,
    CanaryCompletionPending,
    CanaryPromoted,
    CanaryRefused,
    CanaryStarted,
    CanaryStatus,
    aborted_lines,
    completed_lines,
    failed_lines,
    pending_lines,
    promoted_lines,
    refused_lines,
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
    return _blocks(pending_lines(result))


def failed_blocks(result: CanaryApplyFailed) -> Blocks:
    return _blocks(failed_lines(result))


def aborted_blocks(result: CanaryAborted) -> Blocks:
    return _blocks(aborted_lines(result))


def status_blocks(result: CanaryStatus) -> Blocks:
    return _blocks(status_lines(result), note=status_footer(result))
