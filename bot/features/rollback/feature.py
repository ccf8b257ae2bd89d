"""The rollback feature on the registry: its subcommands, buttons, renderers and the recovery job."""

from __future__ import annotations

from bot.core.runtime import Job, Registry, Subcommand
from bot.features.rollback.blocks import (
    cancelled_blocks,
    expired_blocks,
    interrupted_blocks,
    plan_blocks,
    posted_blocks,
    progress_blocks,
    refused_blocks,
    result_blocks,
    resumed_blocks,
    started_blocks,
)
from bot.features.rollback.confirmations import SCHEMA as rollback_tables
from bot.features.rollback.expiry import EXPIRY_CHECK_SECONDS, expire
from bot.features.rollback.handlers import USAGE, rollback_button, rollback_command
from bot.features.rollback.recovery import recover
from bot.features.rollback.render import (
    RollbackCancelled,
    RollbackExpired,
    RollbackInterrupted,
    RollbackPlan,
    RollbackPosted,
    RollbackRefused,
    RollbackResult,
    RollbackResumed,
    RollbackStarted,
    RolloutProgress,
    cancelled_text,
    expired_text,
    interrupted_text,
    plan_text,
    posted_text,
    progress_text,
    refused_text,
    result_text,
    resumed_text,
    started_text,
)


def register(registry: Registry) -> None:
    registry.add_schema(rollback_tables)
    registry.add_subcommand(
        Subcommand(
            name="rollback",
            handler=rollback_command,
            usage=USAGE,
            summary="Roll NODE0 back to the previous stable image, or --to another (after a confirmation).",
        )
    )
    registry.add_action("rollback.", rollback_button)
    # At start-up (the scheduler's first run is immediate) and every half heartbeat timeout: rollbacks
    # whose executor was lost are finished, or marked interrupted, by one replica.
    registry.add_job(Job(name="rollback-recovery", body=lambda runtime, at: recover(runtime, at=at),
                         interval=lambda config: max(1.0, config.release.rollback.heartbeat_timeout_seconds / 2)))
    # Confirmations nobody decided lose their buttons when they expire (chat.update of their message).
    registry.add_job(Job(name="rollback-expiry", body=lambda runtime, at: expire(runtime, at=at),
                         interval=lambda config: EXPIRY_CHECK_SECONDS))
    registry.renderers.add(RollbackPlan, text=plan_text, blocks=plan_blocks)
    registry.renderers.add(RollbackRefused, text=refused_text, blocks=refused_blocks)
    registry.renderers.add(RollbackPosted, text=posted_text, blocks=posted_blocks)
    registry.renderers.add(RollbackStarted, text=started_text, blocks=started_blocks)
    registry.renderers.add(RollbackCancelled, text=cancelled_text, blocks=cancelled_blocks)
    registry.renderers.add(RollbackExpired, text=expired_text, blocks=expired_blocks)
    registry.renderers.add(RolloutProgress, text=progress_text, blocks=progress_blocks)
    registry.renderers.add(RollbackResult, text=result_text, blocks=result_blocks)
    registry.renderers.add(RollbackResumed, text=resumed_text, blocks=resumed_blocks)
    registry.renderers.add(RollbackInterrupted, text=interrupted_text, blocks=interrupted_blocks)
