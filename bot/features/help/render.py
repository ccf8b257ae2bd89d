"""The help listing's words, for Slack and the console (its Block Kit renderer is in `blocks.py`)."""

from __future__ import annotations

from pydantic import BaseModel

TITLE = "bizra — release ChatOps for NODE0"


class HelpEntry(BaseModel):
    usage: str
    summary: str


class HelpListing(BaseModel):
    command: str
    entries: list[HelpEntry]


def entry_line(listing: HelpListing, entry: HelpEntry) -> str:
    """One subcommand in mrkdwn: the usage as code, then what it does."""
    return f"`{listing.command} {entry.usage}` — {entry.summary}"


def help_text(listing: HelpListing) -> str:
    lines = [TITLE, ""]
    for entry in listing.entries:
        # Usages can be long (canary has four forms), so the summary goes on its own line.
        lines.append(f"  {listing.command} {entry.usage}")
        lines.append(f"      {entry.summary}")
    return "\n".join(lines)
