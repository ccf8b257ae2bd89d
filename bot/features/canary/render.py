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
    CanaryNotice,
    CanaryPromoted,
    CanaryRefused,
    CanaryRunMessage,
    CanaryStarted,
    CanaryStatus,
    EngineView,
    PromotionCheck,
    RunOutcome,
    bake_fraction,
    human,
    short_image,
)
from commands.slo import SloState


def _at(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def when(at: datetime, *, slack: bool = False) -> str:
    """A moment: in Slack a date token (each reader sees their own time zone), else UTC."""
    if not slack:
        return _at(at)
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time_secs}}|{_at(at)}>"


REFUSED_NOTE = "Nothing was changed."

_SLO_ICON = {
    SloState.OK: ":large_green_circle:", SloState.BREACHING: ":red_circle:", SloState.UNKNOWN: ":white_circle:",
}


# -- refused --------------------------------------------------------------------------------------
def _when_lines(*, waiting_helps: bool, possible_at: datetime | None, conditions: list[str],
                slack: bool = False) -> list[str]:
    """When promotion becomes possible, in one sentence."""
    if not waiting_helps:
        return ["Waiting alone will not make this stage promotable. Abort with `/bizra canary abort`, or, if you "
                "hold `canary.force`, `/bizra canary promote --force \"<reason>\"` (audited with the reason)."]
    if conditions:
        earliest = f"at {when(possible_at, slack=slack)} at the earliest, " if possible_at else ""
        return [f"Promotion becomes possible {earliest}once the SLO state is known and OK and every canary pod is "
                "ready (see above)."]
    if possible_at:
        return [f"Promotion becomes possible at {when(possible_at, slack=slack)} if SLOs stay OK."]
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
        (f"Applied (server-side, field manager bizra-bot): {', '.join(result.applied)}"
         if result.run.engine == "gateway" else f"Changed ({result.run.engine}): {', '.join(result.applied)}"),
        *([result.note] if result.note else []),
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
        *([result.note] if result.note else []),
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



PROMOTE_AGAIN = "Run `/bizra canary promote` again to finish the release."


def pending_lines(result: CanaryCompletionPending) -> list[str]:
    """What completes the release, per engine; the last line says what happens next (the blocks' small print)."""
    image, rolled = result.run.image, f"{result.stable_ready}/{result.stable_desired}"
    if result.run.engine == "flagger":
        return [
            f":hourglass_flowing_sand: Completing `{image}`: the promotion is granted. Flagger's next "
            f"confirm-promotion proceeds and Flagger copies the revision to its primary Deployment ({rolled} ready "
            "now).",
            "Traffic stays on the canary until the primary has rolled it out.",
            "bizra-bot records the release by itself when the Canary reports Succeeded; there is nothing more to run.",
        ]
    if result.run.engine == "argo-rollouts":
        return [
            f":hourglass_flowing_sand: Completing `{image}`: the Rollout has not finished its last step yet "
            f"({rolled} available).",
            "The controller makes the new ReplicaSet stable when it has.",
            PROMOTE_AGAIN,
        ]
    return [
        f":hourglass_flowing_sand: Completing `{image}`: the stable Deployment has the image and is "
        f"rolling out ({rolled} updated and available).",
        "Traffic stays on the canary until the stable rollout is healthy.",
        PROMOTE_AGAIN,
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
def progress_bar(fraction: float, *, width: int = 10) -> str:
    """`▓▓▓▓░░░░░░ 40%`: the share of the bake done."""
    done = round(max(0.0, min(1.0, fraction)) * width)
    return "▓" * done + "░" * (width - done) + f" {int(fraction * 100)}%"


def _check_lines(check: PromotionCheck, *, slack: bool = False) -> list[str]:
    slo = check.slo
    lines = [
        f"Baked {human(check.baked)} of {human(check.stage.bake)}; "
        + (f"{human(check.left)} left (until {when(check.ready_at, slack=slack)})." if check.left.total_seconds() > 0
           else "bake complete."),
        f"SLOs during the stage: {_SLO_ICON[slo.state_now]} now {slo.state_now}"
        + (f" ({slo.detail_now})" if slo.detail_now and slo.state_now is not SloState.OK else "")
        + f"; {slo.evaluations} evaluation(s) since {when(slo.start, slack=slack)}, "
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
                             conditions=check.conditions, slack=slack)
    return lines


def status_lines(result: CanaryStatus, *, slack: bool = False) -> list[str]:
    if result.active and result.run is not None and result.stage is None:
        return [f":warning: A canary of `{result.run.image}` is active. {result.last_event or ''}".strip()]
    if not result.active or result.run is None or result.stage is None:
        if result.engine is not None:
            return idle_engine_lines(result, result.engine)
        lines = [":zzz: No canary is active."]
        if result.last_event:
            lines.append(f"Last: {result.last_event}")
        lines.append("Start one with `/bizra canary start <image@sha256:digest>`.")
        return lines
    run, stage = result.run, result.stage
    image = short_image(run.image) if slack else run.image
    lines = [
        f":hatching_chick: Canary stage {stage.number}/{result.stages} ({stage.name}): {stage.weight}% of traffic "
        f"on `{image}`",
        f"Stage started {when(run.stage_started_at, slack=slack)}; canary started {when(run.started_at, slack=slack)}"
        f" by <@{run.started_by}>.",
    ]
    if result.pending:
        lines.append(f":hourglass_flowing_sand: {result.pending}")
    if result.engine is not None:
        lines += engine_lines(result.engine)
    if result.check is not None:
        if slack:
            lines.append(f"Bake {progress_bar(bake_fraction(result.check))}")
        lines += _check_lines(result.check, slack=slack)
    return lines


def idle_engine_lines(result: CanaryStatus, view: EngineView) -> list[str]:
    """No run active, with a controller-driven engine: what its controller does meanwhile, and how to start one."""
    lines = [":zzz: No canary run is active."]
    if view.awaiting_image:
        link = f" (<{view.permalink}|its message>)" if view.permalink else ""
        revision = f"`{short_image(view.awaiting_image)}`" + (f" ({view.awaiting_revision})"
                                                                if view.awaiting_revision else "")
        lines.append(f":double_vertical_bar: Flagger waits for approval of revision {revision}: "
                     f"`/bizra canary start {view.awaiting_image}` or Approve on the run message{link} starts "
                     "the canary; Deny there makes Flagger roll it back.")
    lines += engine_lines(view)
    if result.last_event:
        lines.append(f"Last: {result.last_event}")
    if view.awaiting_image or view.error:
        return lines
    if view.engine == "flagger":
        lines.append("A canary starts when Flagger asks: set the new image on the Canary's target Deployment; Flagger "
                     "asks at its next analysis interval and its message appears in the release channel.")
    else:
        lines.append("Start one with `/bizra canary start <image@sha256:digest>`.")
    return lines


def engine_lines(view: EngineView) -> list[str]:
    """What the controller shows (argo-rollouts, flagger): its resource, phase, weight, revisions, conditions."""
    if view.error:
        return [f":warning: {view.resource or view.engine}: could not be read: {view.error}"]
    settled = bool(view.revision) and view.revision == view.stable_revision  # no canary revision in flight
    weight = f", canary weight {view.weight}%" if view.weight is not None and not settled else ""
    lines = [f"Engine `{view.engine}`: {view.resource} is {view.phase}{weight} ({view.message})."]
    if settled:
        lines.append(f"Stable revision (all traffic): {view.stable_revision}.")
    else:
        if view.revision:
            lines.append(f"Canary revision: {view.revision}.")
        if view.stable_revision:
            lines.append(f"Stable revision: {view.stable_revision}.")
    if view.conditions:
        since = f" (last transition {view.last_transition:%H:%M:%S} UTC)" if view.last_transition else ""
        lines.append(f"Conditions: {', '.join(view.conditions)}{since}.")
    return lines


def status_text(result: CanaryStatus) -> str:
    return "\n".join(status_lines(result))


def status_footer(result: CanaryStatus) -> str | None:
    """The canary's id and its last event, for the small print under the status (when there is one)."""
    if result.run is None or not result.last_event:
        return None
    return f"canary `{result.run.id}` · last: {result.last_event}"


# -- the run message ------------------------------------------------------------------------------
PROMOTE_ACTION = "canary.promote"
ABORT_ACTION = "canary.abort"
ABORT_REASON = "aborted with the button on the run message"


def promote_label(message: CanaryRunMessage) -> str:
    check = message.status.check
    if check is not None and check.next_stage is None:
        return "Complete release"
    nxt = check.next_stage if check is not None else None
    return f"Promote to stage {nxt.number} ({nxt.weight}%)" if nxt else "Promote"


ABORT_LABEL = "Abort"
PROMOTE_CONFIRM = ("Promote the canary?", "Confirm", "Cancel")
ABORT_CONFIRM = ("Abort the canary?", "Abort", "Keep it")


def promote_question(message: CanaryRunMessage) -> str:
    check = message.status.check
    nxt = check.next_stage if check is not None else None
    move = (f"Stage {nxt.number} ({nxt.weight}% of traffic) is applied" if nxt
            else "The stable Deployment gets the image and all traffic returns to it")
    return (f"{move}. The promotion policy still checks the bake and the SLOs first; refused, nothing changes. "
            "Needs `canary.promote`.")


ABORT_QUESTION = ("All traffic goes back to the stable version and the canary is scaled to zero. "
                  "Needs `canary.abort`.")


def button_value(message: CanaryRunMessage) -> str:
    """What a button carries: the run and the stage it was shown for (a stale button is refused)."""
    run = message.run
    return f"{run.id}:{run.stage}" if run is not None else ""


def run_lines(message: CanaryRunMessage, *, slack: bool = False) -> list[str]:
    status, run, stage = message.status, message.status.run, message.status.stage
    if message.outcome is RunOutcome.ACTIVE or run is None or stage is None:
        return status_lines(status, slack=slack)
    image = short_image(run.image) if slack else run.image
    by = "auto-rollback" if message.outcome is RunOutcome.ROLLED_BACK else (
        f"<@{message.ended_by}>" if message.ended_by else "someone")
    ended = f" {when(message.ended_at, slack=slack)}" if message.ended_at else ""
    started = f"Started {when(run.started_at, slack=slack)} by <@{run.started_by}>"
    if message.outcome is RunOutcome.COMPLETED:
        return [f":white_check_mark: Canary `{run.id}` complete: `{image}` is the stable version.",
                f"Ran all {status.stages} stages, all traffic is on stable and the canary is scaled to zero.",
                f"{started}; completed{ended} by {by}."]
    verb = "rolled back" if message.outcome is RunOutcome.ROLLED_BACK else "aborted"
    return [f":leftwards_arrow_with_hook: Canary `{run.id}` {verb} at stage {stage.number}/{status.stages} "
            f"({stage.weight}%): all traffic is back on stable and `{image}` is scaled to zero.",
            f"Reason: {message.reason or 'none given'}",
            f"{started}; {verb}{ended} by {by}."]


def run_footer(message: CanaryRunMessage) -> str:
    """The small print: the full image, the run's id and its latest step."""
    run = message.run
    if run is None:
        return "canary"
    last = f" · last: {message.last_step}" if message.last_step else ""
    return f"canary `{run.id}` · `{run.image}`{last} · history in the thread"


def run_text(message: CanaryRunMessage) -> str:
    return "\n".join([*run_lines(message), run_footer(message)])


def step_lines(step: object, *, slack: bool = False) -> list[str]:
    """The lines of one step of a run, whatever kind it is."""
    if isinstance(step, CanaryStarted):
        return started_lines(step)
    if isinstance(step, CanaryPromoted):
        return promoted_lines(step)
    if isinstance(step, CanaryCompleted):
        return completed_lines(step)
    if isinstance(step, CanaryCompletionPending):
        return pending_lines(step)
    if isinstance(step, CanaryApplyFailed):
        return failed_lines(step)
    if isinstance(step, CanaryAborted):
        return aborted_lines(step)
    if isinstance(step, CanaryRunMessage):
        return [*run_lines(step, slack=slack), run_footer(step)]
    if isinstance(step, CanaryStatus):
        return status_lines(step, slack=slack)
    return [str(step)]


def pointer(notice: CanaryNotice) -> str:
    """Where the run is: a permalink to its message when Slack gave one, else a plain "see the thread"."""
    if notice.permalink:
        return f"The run and its history: <{notice.permalink}|open the run message and its thread>."
    where = f" in <#{notice.channel}>" if notice.channel else ""
    return f"The run and its history: see the thread of the run message{where}."


def notice_text(notice: CanaryNotice) -> str:
    return "\n".join([*step_lines(notice.step), pointer(notice)])
