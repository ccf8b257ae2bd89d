"""The rollback feature on the registry: its subcommands, buttons and renderers."""

from __future__ import annotations

from bot.core.runtime import Registry, Subcommand
from bot.features.rollback.blocks import (
    cancelled_blocks,
    plan_blocks,
    progress_blocks,
    refused_blocks,
    result_blocks,
    started_blocks,
)
from bot.features.rollback.handlers import USAGE, rollback_button, rollback_command
from bot.features.rollback.render import (
    RollbackCancelled,
    RollbackPlan,
    RollbackRefused,
    RollbackResult,
    RollbackStarted,
    RolloutProgress,
    cancelled_text,
    plan_text,
    progress_text,
    refused_text,
    result_text,
    started_text,
)


def register(registry: Registry) -> None:
    registry.add_subcommand(
        Subcommand(
            name="rollback",
            handler=rollback_command,
            usage=USAGE,
            summary="Roll NODE0 back to the last stable image (after a confirmation).",
        )
    )
    registry.add_action("rollback.", rollback_button)
    registry.renderers.add(RollbackPlan, text=plan_text, blocks=plan_blocks)
    registry.renderers.add(RollbackRefused, text=refused_text, blocks=refused_blocks)
    registry.renderers.add(RollbackStarted, text=started_text, blocks=started_blocks)
    registry.renderers.add(RollbackCancelled, text=cancelled_text, blocks=cancelled_blocks)
    registry.renderers.add(RolloutProgress, text=progress_text, blocks=progress_blocks)
    registry.renderers.add(RollbackResult, text=result_text, blocks=result_blocks)
