"""Rollback messages for Slack (the words of the Block Kit in `blocks.py`) and the console (text).

Every sentence a person reads about a rollback is here: the confirmation, refusals, the progress
thread, the final summary (also written as the bundle's summary.md). The Block Kit renderers, with
the Confirm/Cancel buttons, are in `blocks.py`; this module imports no slack_sdk.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from bot.features.releases.render import mention, outcome_words, slack_date
from commands.last_stable import short_digest
from commands.rollback import (
    RollbackOutcome,
    RollbackPlan,
    RollbackRefused,
    RollbackResult,
    RolloutProgress,
    TargetChoice,
)

CONFIRM_ACTION = "rollback.confirm"
CANCEL_ACTION = "rollback.cancel"
TARGET_ACTION = "rollback.target"  # the confirmation's select menu, value "<plan id>:<release #>"
REQUEST_ACTION = "rollback.request"  # the SLO alert's "Roll back" button, value "alert:<id>"
CONFIRM_LABEL = "Confirm rollback"
CANCEL_LABEL = "Cancel"


class RollbackExpired(BaseModel):
    """The confirmation message once it expired: the same change, no buttons."""

    plan: RollbackPlan


class RollbackPosted(BaseModel):
    """The answer to whoever asked (an ephemeral reply, or a DM after a Home click): where the
    confirmation was posted, with a link to it; `note` says why it is not where it was asked for."""

    plan: RollbackPlan
    channel: str
    permalink: str | None = None
    note: str = ""


class RollbackStarted(BaseModel):
    plan: RollbackPlan
    confirmed_by: str


class RollbackCancelled(BaseModel):
    plan: RollbackPlan
    cancelled_by: str


class RollbackResumed(BaseModel):
    """Posted in the thread when another process takes over a rollback whose executor was lost."""

    plan: RollbackPlan
    confirmed_by: str
    lost_owner: str
    last_heartbeat: datetime | None
    resumed_by: str


class RollbackInterrupted(BaseModel):
    """The executor was lost and the rollout could not be followed: the confirmation is `interrupted`."""

    plan: RollbackPlan
    lost_owner: str
    resumed_by: str
    reason: str


def _hm(when: datetime) -> str:
    return when.strftime("%H:%M UTC")


def change(plan: RollbackPlan) -> str:
    """What the rollback changes, in mrkdwn (short digests; the full ones are in `full_digests`)."""
    moves = (f"`{short_digest(plan.current_image)}` (running now) → `{short_digest(plan.target_image)}`"
             if plan.changes_image else
             f"`{short_digest(plan.target_image)}` runs already: no image change, only the canary ends")
    canary = f"{canary_line(plan)}\n" if plan.canary else ""
    return f"{canary}*{plan.namespace}/{plan.deployment}*, container `{plan.container}`\n{moves}\n{target_origin(plan)}"


def canary_line(plan: RollbackPlan) -> str:
    """The active canary the rollback aborts first (empty without one)."""
    canary = plan.canary
    if canary is None:
        return ""
    weight = f" ({canary.weight}%)" if canary.weight is not None else ""
    return (f":warning: Canary `{canary.id}` at stage {canary.stage}{weight} will be aborted first: all traffic "
            f"back on stable, `{short_digest(canary.image)}` scaled to zero ({canary.engine} engine).")


def target_origin(plan: RollbackPlan) -> str:
    """Where the target came from: the default choice or a person's, and the release it is."""
    release = plan.target_release
    if release is not None:
        what = (f"release *#{release.id}* ({outcome_words(release.outcome)} {slack_date(release.at)} by "
                f"{mention(release.by)}, {release.source})")
    else:
        what = plan.source_detail
    if plan.chosen_by:
        return f"Target chosen by {mention(plan.chosen_by)} (`{plan.chosen_as}`) from the {plan.source}: {what}"
    if plan.canary is not None:
        return f"Target from the {plan.source}: {what}"
    return f"Target (the newest stable image that differs from what runs) from the {plan.source}: {what}"


def full_digests(plan: RollbackPlan) -> str:
    return f"now `{plan.current_image}`\ntarget `{plan.target_image}`"


def choice_label(choice: TargetChoice) -> str:
    """A select option's text (plain text, at most 75 characters: no tokens or mentions)."""
    return f"#{choice.release} {short_digest(choice.image)} · {outcome_words(choice.outcome)} {choice.at:%b %d %H:%M}Z"


def choice_value(plan: RollbackPlan, choice: TargetChoice) -> str:
    return f"{plan.id}:{choice.release}"


CHOOSE_PLACEHOLDER = "Roll back to another release"
CONFIRM_DIALOG_TITLE = "Roll back NODE0?"
CONFIRM_DIALOG_YES = "Roll back"
CANCEL_DIALOG_TITLE = "Cancel this rollback?"
CANCEL_DIALOG_YES = "Cancel it"
DIALOG_NO = "Go back"
TARGET_DIALOG_TITLE = "Change the target?"
TARGET_DIALOG_YES = "Change it"


def confirm_dialog_text(plan: RollbackPlan) -> str:
    first = f"Aborts canary `{plan.canary.id}`, then sets" if plan.canary else "Sets"
    return (f"{first} container `{plan.container}` of {plan.namespace}/{plan.deployment} to "
            f"`{short_digest(plan.target_image)}` now.")


def cancel_dialog_text(plan: RollbackPlan) -> str:
    return "Nothing will be changed; a new rollback needs `/bizra rollback` again."


def target_dialog_text(plan: RollbackPlan) -> str:
    return "The confirmation will show the release you pick as the target; nothing is changed until someone confirms."


# -- the confirmation ---------------------------------------------------------------------------
def plan_text(plan: RollbackPlan) -> str:
    origin = (f"chosen by {plan.chosen_by} ({plan.chosen_as}) from the {plan.source}" if plan.chosen_by
              else f"target from the {plan.source}")
    lines = [
        # The first line is Slack's notification text of the posted confirmation: no user text in it,
        # so a reason reading `<!channel>` pings nobody (the blocks escape it).
        f"Roll back {plan.namespace}/{plan.deployment}? (requested by {plan.requested_by})",
        f"  reason: {plan.reason}",
        f"  container {plan.container}: {plan.current_image}",
        f"        →  {plan.target_image}",
        f"  {origin}: {plan.source_detail}",
    ]
    if plan.canary:
        weight = f" ({plan.canary.weight}%)" if plan.canary.weight is not None else ""
        lines.append(f"  Canary {plan.canary.id} at stage {plan.canary.stage}{weight} will be aborted first "
                     f"(all traffic back on stable, {plan.canary.image} scaled to zero).")
    if plan.choices:
        others = ", ".join(f"#{c.release} {short_digest(c.image)}" for c in plan.choices
                           if c.image != plan.target_image)
        if others:
            lines.append(f"  other stable releases: {others} (/bizra rollback --to <release #|digest>)")
    lines += [
        f"To execute, type: /bizra rollback confirm {plan.id}",
        f"To cancel, type:  /bizra rollback cancel {plan.id}",
        f"This confirmation expires at {_hm(plan.expires_at)}.",
    ]
    return "\n".join(lines)


def plan_question(plan: RollbackPlan) -> str:
    # The reason is user text: escaped, so `<!channel>` or a `<url|label>` in it stays text (issue 12).
    reason = plan.reason.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f":rewind: *Roll back?* requested by {mention(plan.requested_by)} — {reason}"


def plan_footer(plan: RollbackPlan) -> str:
    return (f"Only people with the `rollback` permission can confirm. Expires {slack_date(plan.expires_at)} · "
            f"id `{plan.id}`")


def posted_text(posted: RollbackPosted) -> str:
    plan = posted.plan
    where = f"posted in #{posted.channel}" + (f": {posted.permalink}" if posted.permalink else "")
    return (f"Rollback confirmation {plan.id} ({short_digest(plan.current_image)} → {short_digest(plan.target_image)}) "
            f"{where}. Only its buttons there confirm or cancel it; it expires at {_hm(plan.expires_at)}."
            + (f" {posted.note}" if posted.note else ""))


def posted_line(posted: RollbackPosted) -> str:
    plan = posted.plan
    link = f" — <{posted.permalink}|open it>" if posted.permalink else " (it appears there as soon as Slack takes it)"
    return (f":rewind: Rollback confirmation `{plan.id}` posted in <#{posted.channel}>{link}: "
            f"`{short_digest(plan.current_image)}` → `{short_digest(plan.target_image)}`. Only its buttons there "
            f"confirm or cancel it; it expires {slack_date(plan.expires_at)}."
            + (f" {posted.note}" if posted.note else ""))


def expired_text(expired: RollbackExpired) -> str:
    plan = expired.plan
    return (f"Rollback {plan.id} of {plan.namespace}/{plan.deployment} to {plan.target_image} expired at "
            f"{_hm(plan.expires_at)}; nothing was changed. Run /bizra rollback again for a fresh confirmation.")


def expired_line(expired: RollbackExpired) -> str:
    plan = expired.plan
    return (f":hourglass: *Expired at* {slack_date(plan.expires_at)}; nothing was changed. "
            "Run `/bizra rollback` again for a fresh confirmation.")


# -- refusals, start, cancel --------------------------------------------------------------------
def refused_text(refused: RollbackRefused) -> str:
    return f"Rollback refused; nothing was changed. {refused.reason}" + (
        f"\nWhat to do: {refused.what_to_do}" if refused.what_to_do else "")


def refused_lines(refused: RollbackRefused) -> list[str]:
    """The refusal in mrkdwn: why, then what to do (when known)."""
    lines = [f":no_entry: *Rollback refused; nothing was changed.* {refused.reason}"]
    if refused.what_to_do:
        lines.append(f"*What to do:* {refused.what_to_do}")
    return lines


def started_text(started: RollbackStarted) -> str:
    plan = started.plan
    first = f"aborting canary {plan.canary.id}, then " if plan.canary else ""
    if not plan.changes_image:
        return (f"Rollback confirmed by {started.confirmed_by}: {first}checking {plan.namespace}/{plan.deployment}, "
                f"which runs {plan.target_image} already. Following the rollout…")
    return (f"Rollback confirmed by {started.confirmed_by}: {first}setting {plan.namespace}/{plan.deployment} "
            f"container {plan.container} to {plan.target_image} (was {plan.current_image}). Following the rollout…")


def started_line(started: RollbackStarted) -> str:
    plan = started.plan
    first = f"aborting canary `{plan.canary.id}`, then " if plan.canary else ""
    if not plan.changes_image:
        return (f":rewind: Rollback confirmed by {mention(started.confirmed_by)}: {first}checking `{plan.container}`, "
                f"which runs `{short_digest(plan.target_image)}` already. Following the rollout…")
    return (f":rewind: Rollback confirmed by {mention(started.confirmed_by)}: {first}setting `{plan.container}` to "
            f"`{short_digest(plan.target_image)}` (was `{short_digest(plan.current_image)}`). Following the rollout…")


def cancelled_text(cancelled: RollbackCancelled) -> str:
    plan = cancelled.plan
    return f"Rollback {plan.id} of {plan.namespace}/{plan.deployment} cancelled by {cancelled.cancelled_by}; " \
        "nothing was changed."


def cancelled_line(cancelled: RollbackCancelled) -> str:
    plan = cancelled.plan
    return (f":heavy_multiplication_x: Rollback of *{plan.namespace}/{plan.deployment}* to "
            f"`{short_digest(plan.target_image)}` cancelled by {mention(cancelled.cancelled_by)}; nothing was changed.")


def _lost(lost_owner: str, last_heartbeat: datetime | None) -> str:
    since = f", no heartbeat since {last_heartbeat:%H:%M:%S UTC}" if last_heartbeat else ""
    return f"the bot executing it ({lost_owner}) was lost{since}"


def resumed_text(resumed: RollbackResumed) -> str:
    plan = resumed.plan
    return (f"Rollback {plan.id} resumed by {resumed.resumed_by} after the original executor was lost: "
            f"{_lost(resumed.lost_owner, resumed.last_heartbeat)}. Following the rollout of {plan.target_image} "
            f"(confirmed by {resumed.confirmed_by})…")


def resumed_line(resumed: RollbackResumed) -> str:
    plan = resumed.plan
    return (f":arrows_counterclockwise: *Rollback resumed after the original executor was lost* — "
            f"{_lost(resumed.lost_owner, resumed.last_heartbeat)}. `{resumed.resumed_by}` is following the "
            f"rollout of `{plan.target_image}` (confirmed by <@{resumed.confirmed_by}>)…")


def interrupted_text(interrupted: RollbackInterrupted) -> str:
    plan = interrupted.plan
    return (f"Rollback {plan.id} of {plan.namespace}/{plan.deployment} was interrupted: the bot executing it "
            f"({interrupted.lost_owner}) was lost, and {interrupted.resumed_by} could not follow the rollout. "
            f"{interrupted.reason}")


def interrupted_line(interrupted: RollbackInterrupted) -> str:
    plan = interrupted.plan
    return (f":warning: *Rollback `{plan.id}` interrupted* — the bot executing it (`{interrupted.lost_owner}`) "
            f"was lost, and the rollout could not be followed. {interrupted.reason}")


# -- progress -----------------------------------------------------------------------------------
def progress_text(point: RolloutProgress) -> str:
    if point.observed_generation < point.generation:
        # The replica counts still describe the previous template until the controller catches up.
        return f"+{point.elapsed_seconds:.0f}s rollout: waiting for the controller to pick up generation " \
            f"{point.generation}"
    return (f"+{point.elapsed_seconds:.0f}s rollout: {point.updated}/{point.desired} updated, "
            f"{point.available}/{point.desired} available, {point.ready}/{point.desired} ready")


# -- the result (thread summary and summary.md) ---------------------------------------------------
_HEADLINE = {
    RollbackOutcome.RECOVERED: "Rollback complete: the rollout is healthy",
    RollbackOutcome.TIMED_OUT: "Rollback applied, but the rollout did not become healthy in time",
    RollbackOutcome.FAILED: "Rollback failed",
    RollbackOutcome.NOT_APPLIED: "Rollback not applied; nothing was changed",
}
_ICON = {RollbackOutcome.RECOVERED: ":white_check_mark:", RollbackOutcome.TIMED_OUT: ":warning:",
         RollbackOutcome.FAILED: ":x:", RollbackOutcome.NOT_APPLIED: ":x:"}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not recovered"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def summary_lines(result: RollbackResult) -> list[str]:
    plan = result.plan
    lines = [
        f"# {_HEADLINE[result.outcome]}",
        "",
        f"- Target: {plan.namespace}/{plan.deployment}, container {plan.container}",
        f"- Change: {plan.current_image} → {plan.target_image}" if plan.changes_image
        else f"- Change: none to the image ({plan.target_image} ran already): ending the canary was the change",
        f"- Target source: {plan.source} ({plan.source_detail})",
        f"- Reason: {plan.reason}",
        f"- Requested by {plan.requested_by} at {plan.requested_at:%Y-%m-%d %H:%M:%S UTC}; "
        f"confirmed by {result.confirmed_by} at {result.confirmed_at:%H:%M:%S UTC}",
        f"- Time to recovery (command → healthy): {_duration(result.time_to_recovery_seconds)}",
    ]
    if result.rollout_seconds is not None:
        lines.append(f"- Rollout (confirmation → healthy): {_duration(result.rollout_seconds)}")
    if result.image_after:
        lines.append(f"- Image now: {result.image_after}")
    lines.append(f"- Outcome: {result.outcome} — {result.message}")
    if result.progress:
        last = result.progress[-1]
        lines.append(f"- Last seen: {last.updated}/{last.desired} updated, {last.available}/{last.desired} available")
    if result.resumed_by:
        lines.append(f"- Resumed by {result.resumed_by} after the original executor was lost")
    if result.canary_note:
        lines.append(f"- Canary: {result.canary_note}")
    for warning in result.warnings:
        lines.append(f"- Warning: {warning}")
    if result.bundle_path:
        lines.append(f"- Incident bundle: {result.bundle_path}")
    return lines


def result_text(result: RollbackResult) -> str:
    return "\n".join(summary_lines(result))


def result_head(result: RollbackResult) -> str:
    """The outcome in one mrkdwn line, with its icon (the summary's heading)."""
    return f"{_ICON[result.outcome]} *{_HEADLINE[result.outcome]}*"


def result_details(result: RollbackResult) -> str:
    """The summary's bullet list for Slack: people as mentions, times as date tokens, digests short."""
    plan = result.plan
    lines = [
        f"• Target: {plan.namespace}/{plan.deployment}, container `{plan.container}`",
        f"• Change: `{short_digest(plan.current_image)}` → `{short_digest(plan.target_image)}`" if plan.changes_image
        else f"• Change: none to the image (`{short_digest(plan.target_image)}` ran already): ending the canary "
             "was the change",
        f"• {target_origin(plan)}",
        f"• Reason: {plan.reason.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}",
        f"• Requested by {mention(plan.requested_by)} {slack_date(plan.requested_at)}; confirmed by "
        f"{mention(result.confirmed_by)} {slack_date(result.confirmed_at)}",
        f"• Time to recovery (command → healthy): {_duration(result.time_to_recovery_seconds)}",
    ]
    if result.rollout_seconds is not None:
        lines.append(f"• Rollout (confirmation → healthy): {_duration(result.rollout_seconds)}")
    if result.image_after:
        lines.append(f"• Image now: `{short_digest(result.image_after)}`")
    lines.append(f"• Outcome: {result.outcome} — {result.message}")
    if result.progress:
        last = result.progress[-1]
        lines.append(f"• Last seen: {last.updated}/{last.desired} updated, {last.available}/{last.desired} available")
    if result.resumed_by:
        lines.append(f"• Resumed by `{result.resumed_by}` after the original executor was lost")
    if result.canary_note:
        lines.append(f"• Canary: {result.canary_note}")
    lines += [f"• Warning: {warning}" for warning in result.warnings]
    if result.bundle_path:
        lines.append(f"• Incident bundle: `{result.bundle_path}`")
    return "\n".join(lines)
