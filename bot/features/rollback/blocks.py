"""Rollback messages as Block Kit: the confirmation (with Confirm / Cancel buttons), refusals, progress, result."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    InteractiveElement,
    Option,
    PlainTextObject,
    StaticSelectElement,
)

from bot.core.blocks import Blocks, context, section
from bot.features.rollback.render import (
    CANCEL_ACTION,
    CANCEL_DIALOG_TITLE,
    CANCEL_DIALOG_YES,
    CANCEL_LABEL,
    CHOOSE_PLACEHOLDER,
    CONFIRM_ACTION,
    CONFIRM_DIALOG_TITLE,
    CONFIRM_DIALOG_YES,
    CONFIRM_LABEL,
    DIALOG_NO,
    TARGET_ACTION,
    TARGET_DIALOG_TITLE,
    TARGET_DIALOG_YES,
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
    cancel_dialog_text,
    cancelled_line,
    change,
    choice_label,
    choice_value,
    confirm_dialog_text,
    expired_line,
    full_digests,
    interrupted_line,
    plan_footer,
    plan_question,
    posted_line,
    progress_text,
    refused_lines,
    result_details,
    result_head,
    resumed_line,
    started_line,
    target_dialog_text,
)


def _dialog(title: str, text: str, yes: str, *, danger: bool = False) -> ConfirmObject:
    return ConfirmObject(title=PlainTextObject(text=title), text=text, confirm=PlainTextObject(text=yes),
                         deny=PlainTextObject(text=DIALOG_NO), style="danger" if danger else None)


def plan_blocks(plan: RollbackPlan) -> Blocks:
    elements: list[InteractiveElement] = [
        ButtonElement(text=CONFIRM_LABEL, action_id=CONFIRM_ACTION, value=plan.id, style="danger",
                      confirm=_dialog(CONFIRM_DIALOG_TITLE, confirm_dialog_text(plan), CONFIRM_DIALOG_YES,
                                      danger=True)),
        ButtonElement(text=CANCEL_LABEL, action_id=CANCEL_ACTION, value=plan.id,
                      confirm=_dialog(CANCEL_DIALOG_TITLE, cancel_dialog_text(plan), CANCEL_DIALOG_YES)),
    ]
    options = [Option(value=choice_value(plan, c), label=choice_label(c)) for c in plan.choices]
    if options:
        current = next((o for o, c in zip(options, plan.choices, strict=True) if c.image == plan.target_image), None)
        elements.append(StaticSelectElement(
            placeholder=CHOOSE_PLACEHOLDER, action_id=TARGET_ACTION, options=options, initial_option=current,
            confirm=_dialog(TARGET_DIALOG_TITLE, target_dialog_text(plan), TARGET_DIALOG_YES)))
    return [
        section(plan_question(plan)),
        section(change(plan)),
        context(full_digests(plan)),
        ActionsBlock(block_id=f"rollback-{plan.id}", elements=elements),
        context(plan_footer(plan)),
    ]


def posted_blocks(posted: RollbackPosted) -> Blocks:
    """Where the confirmation is (to whoever asked): a line with its permalink, no buttons."""
    return [section(posted_line(posted))]


def expired_blocks(expired: RollbackExpired) -> Blocks:
    """The confirmation once expired (by `chat.update`): what it would have changed, no buttons."""
    plan = expired.plan
    return [section(plan_question(plan)), section(change(plan)), context(full_digests(plan)),
            section(expired_line(expired))]


def refused_blocks(refused: RollbackRefused) -> Blocks:
    return [section(line) for line in refused_lines(refused)]


def started_blocks(started: RollbackStarted) -> Blocks:
    return [section(started_line(started)), context(full_digests(started.plan))]


def cancelled_blocks(cancelled: RollbackCancelled) -> Blocks:
    return [section(cancelled_line(cancelled))]


def progress_blocks(point: RolloutProgress) -> Blocks:
    return [section(progress_text(point))]


def result_blocks(result: RollbackResult) -> Blocks:
    return [section(result_head(result)), section(result_details(result)), context(full_digests(result.plan))]


def resumed_blocks(resumed: RollbackResumed) -> Blocks:
    return [section(resumed_line(resumed))]


def interrupted_blocks(interrupted: RollbackInterrupted) -> Blocks:
    return [section(interrupted_line(interrupted))]
