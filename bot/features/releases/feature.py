"""The releases feature on the registry: `/bizra history` and its renderers."""

from __future__ import annotations

from bot.core.runtime import Registry, Subcommand
from bot.features.releases.blocks import history_blocks
from bot.features.releases.handlers import history_command
from bot.features.releases.history import SCHEMA as releases_tables
from bot.features.releases.render import HISTORY_USAGE, ReleaseHistory, history_text


def register(registry: Registry) -> None:
    registry.add_schema(releases_tables)
    registry.add_subcommand(
        Subcommand(
            name="history",
            handler=history_command,
            usage=HISTORY_USAGE,
            summary="The last releases of NODE0: short digest, when, who, how it ended.",
        )
    )
    registry.renderers.add(ReleaseHistory, text=history_text, blocks=history_blocks)
