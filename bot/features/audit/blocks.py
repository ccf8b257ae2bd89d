"""The audit listing as Block Kit: a header, then the entries packed into as few sections as fit."""

from __future__ import annotations

from bot.core.audit import AuditListing
from bot.core.blocks import MAX_BLOCKS, Blocks, header, packed_sections, section
from bot.features.audit.render import EMPTY, entry_line, title


def audit_blocks(listing: AuditListing) -> Blocks:
    if not listing.entries:
        return [section(EMPTY)]
    blocks: Blocks = [header(title(listing)), *packed_sections(entry_line(entry) for entry in listing.entries)]
    return blocks[:MAX_BLOCKS]
