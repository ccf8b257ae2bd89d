"""The canary feature on the registry: its subcommand, the run message's buttons, renderers and the
auto-rollback breach listener."""

from __future__ import annotations

from bot.core.runtime import Registry, Subcommand
from bot.features.canary.autorollback import on_breach
from bot.features.canary.blocks import (
    aborted_blocks,
    completed_blocks,
    failed_blocks,
    notice_blocks,
    pending_blocks,
    promoted_blocks,
    refused_blocks,
    run_blocks,
    started_blocks,
    status_blocks,
)
from bot.features.canary.flagger.feature import register as register_flagger
from bot.features.canary.handlers import USAGE, canary_button, canary_command
from bot.features.canary.render import (
    CanaryAborted,
    CanaryApplyFailed,
    CanaryCompleted,
    CanaryCompletionPending,
    CanaryNotice,
    CanaryPromoted,
    CanaryRefused,
    CanaryRunMessage,
    CanaryStarted,
    CanaryStatus,
    aborted_text,
    completed_text,
    failed_text,
    notice_text,
    pending_text,
    promoted_text,
    refused_text,
    run_text,
    started_text,
    status_text,
)
from bot.features.canary.store import SCHEMA as canary_tables


def register(registry: Registry) -> None:
    registry.add_schema(canary_tables)
    registry.add_subcommand(
        Subcommand(
            name="canary",
            handler=canary_command,
            usage=USAGE,
            summary="Move NODE0 through its canary stages (status, start, promote, abort).",
        )
    )
    registry.renderers.add(CanaryRefused, text=refused_text, blocks=refused_blocks)
    registry.renderers.add(CanaryStarted, text=started_text, blocks=started_blocks)
    registry.renderers.add(CanaryPromoted, text=promoted_text, blocks=promoted_blocks)
    registry.renderers.add(CanaryCompleted, text=completed_text, blocks=completed_blocks)
    registry.renderers.add(CanaryCompletionPending, text=pending_text, blocks=pending_blocks)
    registry.renderers.add(CanaryApplyFailed, text=failed_text, blocks=failed_blocks)
    registry.renderers.add(CanaryAborted, text=aborted_text, blocks=aborted_blocks)
    registry.renderers.add(CanaryStatus, text=status_text, blocks=status_blocks)
    registry.renderers.add(CanaryRunMessage, text=run_text, blocks=run_blocks)
    registry.renderers.add(CanaryNotice, text=notice_text, blocks=notice_blocks)
    registry.add_action("canary.", canary_button)  # Promote / Abort on the run message
    registry.add_breach_listener(on_breach)
    register_flagger(registry)  # the Flagger engine's webhooks, buttons and renderers (bot/features/canary/flagger/)
