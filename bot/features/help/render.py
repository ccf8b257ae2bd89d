"""The help listing, for Slack and the console."""

from __future__ import annotations

from pydantic import BaseModel

from bot.core.blocks import Blocks


class HelpEntry(BaseModel):
    usage: str
    summary: str


class HelpListing(BaseModel):
    command: str
    entries: list[HelpEntry]


def help_blocks(listing: HelpListing) -> Blocks:
    lines = "\n".join(f"`{listing.command} {entry.usage}` — {entry.summary}" for entry in listing.entries)
    return [
        {"type": "header", "text": {"type": "plain_text", "text": "bizra — release ChatOps for NODE0"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": lines}},
    ]


def help_text(listing: HelpListing) -> str:
    lines = ["bizra — release ChatOps for NODE0", ""]
    for entry in listing.entries:
        # Usages can be long (canary has four forms), so the summary goes on its own line.
        lines.append(f"  {listing.command} {entry.usage}")
        lines.append(f"      {entry.summary}")
    return "\n".join(lines)
