"""Canary messages for Slack and the console (text): every sentence about a canary is here.

Each result model of `commands.canary` has one text renderer here (also the console's output and
the Slack fallback text) and one Block Kit renderer in `blocks.py` built from the same lines, so
both surfaces say the same thing. This module imports no slack_sdk.
"""

from __future__ import annotations

from datetime import datetime

from commands.canary import (
    CanaryAborted,
    CanaryApplyFailed,
    CanaryCompleted,
    CanaryCompletionPending,
    CanaryPromoted,
    CanaryRefused,
    CanaryStarted,
    CanaryStatus,
    PromotionCheck,
    human,
)
from commands.slo import SloState


def _at(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


REFUSED_NOTE = "Nothing was changed."

_SLO_ICON = {
    SloState.OK: ":large_green_circle:", SloState.BREACHING: ":red_circle:", SloState.UNKNOWN: ":white_circle:",
}


# -- refused --------------------------------------------------------------------------------------
def _when_lines(*, waiting_helps: bool, possible_at: datetime | None, conditions: list[str]) -> list[str]:
    """When promotion becomes possible, in one sentence."""
    if not waiting_helps:
        return ["Waiting alone will not make this stage promotable. Abort with `/bizra canary abort`, or, if you "
                "hold `canary.force`, `/bizra canary promote --force \"<reason>\"` (audited with the reason)."]
    if conditions:
        earliest = f"at {_at(possible_at)} at the earliest, " if possible_at else ""
        return [f"Promotion becomes possible {earliest}once the SLO state is known and OK and every canary pod is "
                "ready (see above)."]
    if possible_at:
        return [f"Promotion becomes possible at {_at(possible_at)} if SLOs stay OK."]
    return []


def refused_lines(result: CanaryRefused) -> list[str]:
    lines = [f":no_entry: `canary {result.action}` was not run:"]
    lines += [f"• {reason}" for reason in result.reasons]
    if result.hint:
        lines.append(result.hint)
    elif result.action == "promote":
        lines += _when_lines(waiting_helps=result.waiting_helps, possible_at=result.possible_at,
                             conditions=result.conditions)
    return lines


def refused_text(result: CanaryRefused) -> str:
    return "\n".join(refused_lines(result))


# -- started / promoted / completed ---------------------------------------------------------------
def started_lines(result: CanaryStarted) -> list[str]:
    stage = result.stage
    return [
        f":rocket: Canary started: stage {stage.number}/{result.stages} ({stage.name}), {stage.weight}% of traffic "
        f"on `{result.run.image}`",
        f"Bake {human(stage.bake)}: promotable from {_at(result.run.stage_started_at + stage.bake)} if SLOs stay OK.",
        f"Applied (server-side, field manager bizra-bot): {', '.join(result.applied)}",
        f"Started by <@{result.run.started_by}> · canary `{result.run.id}`",
    ]


def started_text(result: CanaryStarted) -> str:
    return "\n".join(started_lines(result))



def _forced(reason: str | None, bypassed: list[str]) -> list[str]:
    if reason is None:
        return []
    return [f":warning: Forced by policy override — reason: {reason}"] + [f"  bypassed: {b}" for b in bypassed]


def promoted_lines(result: CanaryPromoted) -> list[str]:
    to = result.to_stage
    return [
        f":arrow_forward: Canary promoted to stage {to.number}/{result.stages} ({to.name}): {to.weight}% of traffic "
        f"on `{result.run.image}`",
        f"From stage {result.from_stage.number} ({result.from_stage.name}, {result.from_stage.weight}%). Bake "
        f"{human(to.bake)}: promotable from {_at(result.run.stage_started_at + to.bake)} if SLOs stay OK.",
        *_forced(result.forced_reason, result.bypassed),
        f"Applied: {', '.join(result.applied)}",
        f"Promoted by <@{result.by}>",
    ]


def promoted_text(result: CanaryPromoted) -> str:
    return "\n".join(promoted_lines(result))



def completed_lines(result: CanaryCompleted) -> list[str]:
    return [
        f":white_check_mark: Release complete: `{result.run.image}` is the stable version.",
        "The stable Deployment runs it, all traffic is back on stable and the canary is scaled to zero; "
        "it is recorded as the last stable version (rollback target).",
        *_forced(result.forced_reason, result.bypassed),
        *[f":warning: {warning}" for warning in result.warnings],
        f"Applied: {', '.join(result.applied)}",
        f"Completed by <@{result.by}> · canary `{result.run.id}` started {_at(result.run.started_at)}",
    ]


def completed_text(result: CanaryCompleted) -> str:
    return "\n".join(completed_lines(result))



def pending_lines(result: CanaryCompletionPending) -> list[str]:
    return [
        f":hourglass_flowing_sand: Completing `{result.run.image}`: the stable Deployment has the image and is "
        f"rolling out ({result.stable_ready}/{result.stable_desired} updated and available).",
        "Traffic stays on the canary until the stable rollout is healthy. Run `/bizra canary promote` again "
        "to finish the release.",
    ]


def pending_text(result: CanaryCompletionPending) -> str:
    return "\n".join(pending_lines(result))


# -- failures -------------------------------------------------------------------------------------
def failed_lines(result: CanaryApplyFailed) -> list[str]:
    lines = [f":x: `canary {result.action}` failed in the cluster: {result.failed} was not applied.",
             f"{result.error}"]
    if result.applied:
        lines.append(f"Applied before the failure: {', '.join(result.applied)}.")
    if result.restored is True:
        lines.append("Those were put back: the previous stage is live again.")
    elif result.restored is False:
        lines.append(f":warning: Putting the previous stage back also failed ({result.restore_error}). Check the "
                     "cluster, then run `/bizra canary status`; abort if in doubt.")
    if result.run is not None:
        lines.append(f"The canary stays at stage {result.run.stage + 1}; run the command again when the cause is "
                     "fixed.")
    else:
        lines.append("No canary was started.")
    return lines


def failed_text(result: CanaryApplyFailed) -> str:
    return "\n".join(failed_lines(result))


# -- abort ----------------------------------------------------------------------------------------
def aborted_lines(result: CanaryAborted) -> list[str]:
    who = "Auto-rollback" if result.automatic else f"<@{result.by}>"
    if result.error:
        return [
            f":rotating_light: {who} could not abort the canary `{result.run.image}` at stage {result.stage.number}: "
            f"{result.error}",
            "Traffic may still reach the canary; the canary is still recorded as active. Fix the cause and run "
            "`/bizra canary abort` again, or follow ops/runbooks/CANARY-ROLLBACK.md.",
            f"Reason: {result.reason}",
        ]
    lines = [
        f":leftwards_arrow_with_hook: Canary aborted by {who}: all traffic is back on the stable version and "
        f"`{result.run.image}` is scaled to zero (it was at stage {result.stage.number}, {result.stage.weight}%).",
        f"Reason: {result.reason}",
        f"Applied: {', '.join(result.applied)}",
    ]
    if result.paged:
        lines.append(f"Paged: {result.paged}")
    return lines


def aborted_text(result: CanaryAborted) -> str:
    return "\n".join(aborted_lines(result))


# -- status ---------------------------------------------------------------------------------------
def _check_lines(check: PromotionCheck) -> list[str]:
    slo = check.slo
    lines = [
        f"Baked {human(check.baked)} of {human(check.stage.bake)}; "
        + (f"{human(check.left)} left (until {_at(check.ready_at)})." if check.left.total_seconds() > 0
           else "bake complete."),
        f"SLOs during the stage: {_SLO_ICON[slo.state_now]} now {slo.state_now}"
        + (f" ({slo.detail_now})" if slo.detail_now and slo.state_now is not SloState.OK else "")
        + f"; {slo.evaluations} evaluation(s) since {_at(slo.start)}, "
        + (f"{len(slo.problems)} problem(s)." if slo.problems else "no breach, no long UNKNOWN gap."),
    ]
    pods = check.pods
    if pods is not None:
        lines.append(f"Canary pods ready: {pods.ready}/{pods.desired}" if pods.error is None
                     else f"Canary pods: unknown ({pods.error})")
    if check.allowed:
        nxt = check.next_stage
        lines.append("Promotable now: `/bizra canary promote` "
                     + (f"moves to stage {nxt.number} ({nxt.weight}%)." if nxt else "completes the release."))
    else:
        lines.append("Not promotable yet:")
        lines += [f"• {blocker.reason}" for blocker in check.blockers]
        lines += _when_lines(waiting_helps=check.waiting_helps, possible_at=check.possible_at,
                             conditions=check.conditions)
    return lines


def status_lines(result: CanaryStatus) -> list[str]:
    if result.active and result.run is not None and result.stage is None:
        return [f":warning: A canary of `{result.run.image}` is active. {result.last_event or ''}".strip()]
    if not result.active or result.run is None or result.stage is None:
        lines = [":zzz: No canary is active."]
        if result.last_event:
            lines.append(f"Last: {result.last_event}")
        lines.append("Start one with `/bizra canary start <image@sha256:digest>`.")
        return lines
    run, stage = result.run, result.stage
    lines = [
        f":hatching_chick: Canary stage {stage.number}/{result.stages} ({stage.name}): {stage.weight}% of traffic "
        f"on `{run.image}`",
        f"Stage started {_at(run.stage_started_at)}; canary started {_at(run.started_at)} by <@{run.started_by}>.",
    ]
    if result.pending:
        lines.append(f":hourglass_flowing_sand: {result.pending}")
    if result.check is not None:
        lines += _check_lines(result.check)
    return lines


def status_text(result: CanaryStatus) -> str:
    return "\n".join(status_lines(result))


def status_footer(result: CanaryStatus) -> str | None:
    """The canary's id and its last event, for the small print under the status (when there is one)."""
    if result.run is None or not result.last_event:
        return None
    return f"canary `{result.run.id}` · last: {result.last_event}"
