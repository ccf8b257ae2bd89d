"""The evidence answer as Block Kit: what was archived, and where it is."""

from __future__ import annotations

from bot.core.blocks import Blocks, context, section
from bot.features.evidence.render import EvidenceArchived, archived_details, archived_line


def archived_blocks(result: EvidenceArchived) -> Blocks:
    return [section(f":package: {archived_line(result)}"), context(archived_details(result))]
