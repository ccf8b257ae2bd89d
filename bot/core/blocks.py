"""Block Kit helpers shared by the features' Slack renderers, built on `slack_sdk.models.blocks`.

Slack's length limits are kept here, in one place: text that would not fit is cut and ends with
"…", so a renderer never hand-cuts a string. Only Slack-facing code imports this module (each
feature's `blocks.py`); the text renderers in `render.py` do not, because slack_sdk is slow to
import and the CLI does not need it.
"""

from __future__ import annotations

from collections.abc import Iterable

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

Blocks = list[Block]

# Slack's limits (Block Kit reference); slack_sdk's `to_dict()` refuses anything longer.
SECTION_CHARS = 3000
CONTEXT_CHARS = 3000
HEADER_CHARS = 150
MAX_BLOCKS = 50  # per message
ELLIPSIS = "…"


def fit(text: str, limit: int) -> str:
    """`text`, or its first `limit - 1` characters and "…" when it is longer than `limit`."""
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


def mrkdwn(text: str, *, limit: int = SECTION_CHARS) -> MarkdownTextObject:
    return MarkdownTextObject(text=fit(text, limit))


def section(text: str) -> SectionBlock:
    """One mrkdwn section, cut to Slack's 3000 characters."""
    return SectionBlock(text=mrkdwn(text, limit=SECTION_CHARS))


def context(*texts: str) -> ContextBlock:
    """A context block (small grey text), one mrkdwn element per text."""
    return ContextBlock(elements=[mrkdwn(text, limit=CONTEXT_CHARS) for text in texts])


def header(text: str) -> HeaderBlock:
    """A header (large plain text, emoji shortcodes rendered), cut to Slack's 150 characters."""
    return HeaderBlock(text=PlainTextObject(text=fit(text, HEADER_CHARS), emoji=True))


def packed_sections(lines: Iterable[str]) -> Blocks:
    """Lines joined into as few sections as fit, one line per row; a line too long for a section is cut."""
    blocks: Blocks = []
    chunk: list[str] = []
    size = 0  # len("\n".join(chunk))
    for line in lines:
        line = fit(line, SECTION_CHARS)
        if chunk and size + 1 + len(line) > SECTION_CHARS:
            blocks.append(section("\n".join(chunk)))
            chunk, size = [], 0
        size += len(line) + (1 if chunk else 0)
        chunk.append(line)
    if chunk:
        blocks.append(section("\n".join(chunk)))
    return blocks


def text_section(text: str) -> Blocks:
    """A plain string (usage error, refusal) as one mrkdwn section."""
    return [section(text)]
