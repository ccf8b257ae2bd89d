"""Rollback messages as Block Kit: the confirmation (with Confirm / Cancel buttons), refusals, progress, result."""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, ButtonElement

from bot.core.blocks import Blocks, context, section
from bot.features.rollback.render import (
    CANCEL_ACTION,
    CANCEL_LABEL,
    CONFIRM_ACTION,
    CONFIRM_LABEL,
    RollbackCancelled,
    RollbackInterrupted,
    RollbackPlan,
    RollbackRefused,
    RollbackResult,
    RollbackResumed,
    RollbackStarted,
    RolloutProgress,
    cancelled_line,
    change,
    interrupted_line,
    plan_footer,
    plan_question,
    progress_text,
    refused_lines,
    result_details,
    result_head,
    resumed_line,
    started_line,
)


def plan_blocks(plan: RollbackPlan) -> Blocks:
    return [
        section(plan_question(plan)),
        section(change(plan)),
        ActionsBlock(
            block_id=f"rollback-{plan.id}",
            elements=[
                ButtonElement(text=CONFIRM_LABEL, action_id=CONFIRM_ACTION, value=plan.id, style="danger"),
                ButtonElement(text=CANCEL_LABEL, action_id=CANCEL_ACTION, value=plan.id),
            ],
        ),
        context(plan_footer(plan)),
    ]


def refused_blocks(refused: RollbackRefused) -> Blocks:
    return [section(line) for line in refused_lines(refused)]


def started_blocks(started: RollbackStarted) -> Blocks:
    return [section(started_line(started))]


def cancelled_blocks(cancelled: RollbackCancelled) -> Blocks:
    return [section(cancelled_line(cancelled))]


def progress_blocks(point: RolloutProgress) -> Blocks:
    return [section(progress_text(point))]


def result_blocks(result: RollbackResult) -> Blocks:
    return [section(result_head(result)), section(result_details(result))]


def resumed_blocks(resumed: RollbackResumed) -> Blocks:
    return [section(resumed_line(resumed))]


def interrupted_blocks(interrupted: RollbackInterrupted) -> Blocks:
    return [section(interrupted_line(interrupted))]
