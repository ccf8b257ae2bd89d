"""The audit listing's words, for Slack and the console: newest first, one line per entry.

The Block Kit renderer is in `blocks.py` and uses these lines, so both surfaces say the same thing.
"""

from __future__ import annotations

from bot.core.audit import AuditEntry, AuditListing

EMPTY = "The audit log is empty: nothing has been changed or refused yet."


def entry_line(entry: AuditEntry) -> str:
    when = entry.at.strftime("%Y-%m-%d %H:%M:%SZ")
    change = f" `{entry.before}` → `{entry.after}`" if entry.before or entry.after else ""
    detail = f" — {entry.detail}" if entry.detail else ""
    where = f" in {entry.channel}" if entry.channel else ""
    return f"{when} {entry.actor}{where}: {entry.action} {entry.target}{change} → *{entry.outcome}*{detail}"


def title(listing: AuditListing) -> str:
    return f"Audit log — latest {len(listing.entries)}"


def audit_text(listing: AuditListing) -> str:
    if not listing.entries:
        return EMPTY
    header = f"{title(listing)} of up to {listing.requested}, newest first"
    return "\n".join([header, *(entry_line(entry).replace("*", "") for entry in listing.entries)])
