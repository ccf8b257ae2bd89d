"""The help listing as Block Kit: a header and one line per subcommand."""

from __future__ import annotations

from bot.core.blocks import Blocks, header, packed_sections
from bot.features.help.render import TITLE, HelpListing, entry_line


def help_blocks(listing: HelpListing) -> Blocks:
    return [header(TITLE), *packed_sections(entry_line(listing, entry) for entry in listing.entries)]
