"""The help listing as Block Kit: a header and one line per subcommand (or one subcommand in detail)."""

from __future__ import annotations

from bot.core.blocks import Blocks, context, header, packed_sections, section
from bot.features.help.render import (
    TITLE,
    HelpListing,
    SubcommandHelp,
    entry_line,
    more_line,
    requirement_line,
    usage_lines,
)


def help_blocks(listing: HelpListing) -> Blocks:
    return [
        header(TITLE),
        *packed_sections(entry_line(listing, entry) for entry in listing.entries),
        context(more_line(listing)),
    ]


def subcommand_blocks(help_: SubcommandHelp) -> Blocks:
    blocks: Blocks = [
        header(f"{help_.command} {help_.name}"),
        section(help_.summary),
        section("*Usage*\n" + "\n".join(usage_lines(help_))),
    ]
    if help_.requirements:
        blocks.append(section("*Permissions*\n" + "\n".join(requirement_line(help_, r) for r in help_.requirements)))
    return blocks
