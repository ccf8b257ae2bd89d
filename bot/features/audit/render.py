"""The audit listing for Slack and the console: newest first, one line per entry."""

from __future__ import annotations

from bot.core.audit import AuditEntry, AuditListing
from bot.core.blocks import Blocks

EMPTY = "The audit log is empty: nothing has been changed or refused yet."
_SECTION_LIMIT = 2900  # Slack caps a section's text at 3000 characters


def entry_line(entry: AuditEntry) -> str:
    when = entry.at.strftime("%Y-%m-%d %H:%M:%SZ")
    change = f" `{entry.before}` → `{entry.after}`" if entry.before or entry.after else ""
    detail = f" — {entry.detail}" if entry.detail else ""
    where = f" in {entry.channel}" if entry.channel else ""
    return f"{when} {entry.actor}{where}: {entry.action} {entry.target}{change} → *{entry.outcome}*{detail}"


def audit_text(listing: AuditListing) -> str:
    if not listing.entries:
        return EMPTY
    header = f"Audit log — latest {len(listing.entries)} of up to {listing.requested}, newest first"
    return "\n".join([header, *(entry_line(entry).replace("*", "") for entry in listing.entries)])


def audit_blocks(listing: AuditListing) -> Blocks:
    if not listing.entries:
        return [{"type": "section", "text": {"type": "mrkdwn", "text": EMPTY}}]
    blocks: Blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Audit log — latest {len(listing.entries)}"}}
    ]
    chunk: list[str] = []
    size = 0
    for entry in listing.entries:
        line = entry_line(entry)[:_SECTION_LIMIT]
        if size + len(line) + 1 > _SECTION_LIMIT and chunk:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(chunk)}})
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(chunk)}})
    return blocks[:50]  # Slack's per-message block limit
