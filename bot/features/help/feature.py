"""The help feature on the registry: its subcommands, buttons and renderers."""

from __future__ import annotations

from bot.core.runtime import Registry, Subcommand
from bot.features.help.blocks import help_blocks, subcommand_blocks
from bot.features.help.handlers import show_help
from bot.features.help.render import HelpListing, SubcommandHelp, help_text, subcommand_text


def register(registry: Registry) -> None:
    registry.add_subcommand(
        Subcommand(name="help", handler=show_help, usage="help [subcommand]",
                   summary="List every subcommand, or one with its forms and permissions.", slow=False)
    )
    registry.renderers.add(HelpListing, text=help_text, blocks=help_blocks)
    registry.renderers.add(SubcommandHelp, text=subcommand_text, blocks=subcommand_blocks)
