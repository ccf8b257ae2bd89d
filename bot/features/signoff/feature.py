"""The sign-off feature on the registry: its subcommand, the Tick buttons and the living message's renderer."""

from __future__ import annotations

from bot.core.runtime import Registry, Subcommand
from bot.features.signoff.blocks import signoff_blocks
from bot.features.signoff.handlers import USAGE, signoff_button, signoff_command
from bot.features.signoff.render import SignoffMessage, signoff_text
from bot.features.signoff.store import SCHEMA as signoff_tables


def register(registry: Registry) -> None:
    registry.add_schema(signoff_tables)
    registry.add_subcommand(
        Subcommand(
            name="signoff",
            handler=signoff_command,
            usage=USAGE,
            summary="The readiness checklist's sign-off by Infrastructure, Security, SRE and Engineering.",
        )
    )
    registry.add_action("signoff.", signoff_button)
    registry.renderers.add(SignoffMessage, text=signoff_text, blocks=signoff_blocks)
