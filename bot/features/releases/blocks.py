"""`/bizra history` as Block Kit: one section per release, the full digests in context lines."""

from __future__ import annotations

from bot.core.blocks import Blocks, context, section
from bot.features.releases.render import (
    ReleaseHistory,
    history_empty,
    history_footer,
    history_full,
    history_heading,
    history_line,
)

# Slack allows 50 blocks a message: heading + footer + two per entry.
MAX_ENTRIES = 24


def history_blocks(history: ReleaseHistory) -> Blocks:
    if not history.entries:
        return [section(history_empty(history))]
    blocks: Blocks = [section(history_heading(history))]
    for entry in history.entries[:MAX_ENTRIES]:
        blocks.append(section(history_line(entry)))
        blocks.append(context(history_full(entry)))
    blocks.append(context(history_footer()))
    return blocks
