"""`/bizra rollback [reason]` and its Confirm / Cancel buttons (also the SLO alert's "Roll back" button).

Flow: the command (or `rollback.request` with value `alert:<id>`, or the Home tab's button) plans
the change and posts a confirmation showing namespace/deployment and current image → target
image@digest as a channel message, through the poster (the outbox), so its ts is known at once and
stored with it (the expiry job edits it when it expires); whoever asked gets an ephemeral link to
it. Confirm (`rollback.confirm`, value = confirmation id) by someone holding `rollback` claims the
confirmation atomically (confirmations.py) and executes: an active canary run is aborted first
(canary_run.py; its failure is said, never blocks), the image is patched (or, already in place, only followed), the
rollout followed with progress posted in the confirmation's thread, the incident bundle written,
the outcome audited, a recovered image recorded as last stable, and the summary posted in the
thread; the confirmation message is replaced by the result. On the console (no buttons) type
`/bizra rollback confirm <id>` or `/bizra rollback cancel <id>`; in Slack the typed form is refused.

A confirmation is decided only where it was posted: its own channel and message in Slack (a click
from another channel, or on another message, is refused), the console for a console confirmation.
While it runs, `_execute` writes the claim's heartbeat at every poll of the rollout; should this
process die, bot/features/rollback/recovery.py lets the next replica or restart finish it.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from bot.core.audit import AuditOutcome, record
from bot.core.delivery import Postable, upload_file
from bot.core.invocation import ActionInvocation, Invocation, Reply, UsageError
from bot.core.outbox import PLACEHOLDER, OutboxPoster, PermanentDeliveryError
from bot.core.runtime import Runtime
from bot.features.access.enforce import require
from bot.features.releases.history import StoreHistory, record_stable
from bot.features.rollback import confirmations as confirmations
from bot.features.rollback.canary_run import CanaryEnded, end_first, in_flight
from bot.features.rollback.incidents import Snapshot, share_bundle, snapshot, write_bundle
from bot.features.rollback.render import (
    CANCEL_ACTION,
    CONFIRM_ACTION,
    REQUEST_ACTION,
    TARGET_ACTION,
    RollbackCancelled,
    RollbackExpired,
    RollbackPosted,
    RollbackStarted,
)
from bot.features.rollback.render import result_text as summary_markdown
from bot.features.rollback.workload import rollback_target, workload_cluster
from commands.cluster import Cluster, ClusterError
from commands.last_stable import ReleaseOutcome
from commands.rollback import (
    RollbackOutcome,
    RollbackPlan,
    RollbackRefused,
    RollbackResult,
    execute_rollback,
    follow_rollout,
    plan_rollback,
)

log = logging.getLogger(__name__)

USAGE = "rollback [--to <release #|digest>] [reason] | rollback confirm <id> | rollback cancel <id>"


def _target_name(runtime: Runtime) -> str:
    release = runtime.config.release
    return f"{release.namespace}/{release.deployment}"


def _authorize(runtime: Runtime, *, user_id: str, groups: frozenset[str], channel_id: str) -> str | None:
    return require(runtime, user_id=user_id, user_groups=groups, channel_id=channel_id, permission="rollback",
                   target=_target_name(runtime))


def rollback_command(invocation: Invocation, runtime: Runtime) -> Reply:
    args = invocation.args
    refusal = _authorize(runtime, user_id=invocation.user_id, groups=invocation.user_groups,
                         channel_id=invocation.channel_id)
    if refusal:
        return Reply(result=refusal, ephemeral=True)
    if args and args[0].lower() in ("confirm", "cancel"):
        verb = args[0].lower()
        if len(args) != 2:
            raise UsageError(f"Usage: `/bizra rollback {verb} <id>` with the id shown in the confirmation.")
        if runtime.surface != "console":
            # In Slack a confirmation is decided by its own buttons, where everyone in its channel sees it.
            refusal = (f"`/bizra rollback {verb}` works only on the console. In Slack, use the "
                       f"*{'Confirm rollback' if verb == 'confirm' else 'Cancel'}* button on the confirmation "
                       "message in the channel where it was posted. Nothing was done.")
            record(runtime, actor=invocation.user_id, channel=invocation.channel_id, action=f"rollback.{verb}",
                   target=_target_name(runtime), before="", after="", outcome=AuditOutcome.REFUSED,
                   detail=f"confirmation {args[1]}: typed in Slack")
            return Reply(result=refusal, ephemeral=True)
        place = confirmations.Place(surface="console", channel=invocation.channel_id)
        if verb == "confirm":
            return confirm(runtime, plan_id=args[1], user_id=invocation.user_id, channel_id=invocation.channel_id,
                           thread_ts=None, place=place)
        return cancel(runtime, plan_id=args[1], user_id=invocation.user_id, channel_id=invocation.channel_id,
                      place=place)
    to, rest = _split_to(args)
    reason = " ".join(rest).strip() or "no reason given"
    return request(runtime, reason=reason, user_id=invocation.user_id, channel_id=invocation.channel_id, to=to)


def _split_to(args: list[str]) -> tuple[str | None, list[str]]:
    """`--to <release #|digest>` (or `--to=…`) anywhere among the words; the rest is the reason."""
    to: str | None = None
    rest: list[str] = []
    words = iter(args)
    for word in words:
        if word == "--to" or word.startswith("--to="):
            value = word.removeprefix("--to").removeprefix("=") or next(words, "")
            if not value or to is not None:
                raise UsageError("Usage: `/bizra rollback --to <release #|digest> [reason]`, once; "
                                 "`/bizra history` lists the releases.")
            to = value
        else:
            rest.append(word)
    return to, rest


def rollback_button(invocation: ActionInvocation, runtime: Runtime) -> Reply | None:
    refusal = _authorize(runtime, user_id=invocation.user_id, groups=invocation.user_groups,
                         channel_id=invocation.channel_id)
    if refusal:
        return Reply(result=refusal, ephemeral=True)
    place = confirmations.Place(surface="slack", channel=invocation.channel_id, message_ts=invocation.message_ts,
                                thread_ts=invocation.thread_ts or invocation.message_ts)
    if invocation.action_id == CONFIRM_ACTION:
        return confirm(runtime, plan_id=invocation.value, user_id=invocation.user_id,
                       channel_id=invocation.channel_id, thread_ts=invocation.thread_ts or invocation.message_ts,
                       place=place)
    if invocation.action_id == CANCEL_ACTION:
        return cancel(runtime, plan_id=invocation.value, user_id=invocation.user_id, channel_id=invocation.channel_id,
                      place=place)
    if invocation.action_id == TARGET_ACTION:
        return retarget(runtime, value=invocation.value, user_id=invocation.user_id,
                        channel_id=invocation.channel_id, place=place)
    if invocation.action_id == REQUEST_ACTION:
        alert = invocation.value.removeprefix("alert:")
        return request(runtime, reason=f"SLO alert {alert}", user_id=invocation.user_id,
                       channel_id=invocation.channel_id)
    log.warning("unknown rollback action %s", invocation.action_id)
    return None


def request(runtime: Runtime, *, reason: str, user_id: str, channel_id: str, to: str | None = None) -> Reply:
    """Plan the rollback and post the confirmation in the channel; whoever asked is answered where it is.

    In Slack the answer is ephemeral (a link to the confirmation, or the refusal): the confirmation
    itself is the channel message. On the console the confirmation is the reply.
    """
    offered = offer(runtime, reason=reason, user_id=user_id, channel_id=channel_id, to=to)
    return Reply(result=offered, ephemeral=not isinstance(offered, RollbackPlan))


def offer(runtime: Runtime, *, reason: str, user_id: str, channel_id: str,
          to: str | None = None) -> RollbackPlan | RollbackPosted | RollbackRefused | str:
    """Plan the rollback and post its confirmation in `channel_id` (Slack) or return it (the console).

    The target is the newest stable image that differs from what runs, or `to` (a release # or digest).
    Refusals are audited and answered (a `RollbackRefused`, or text when the post failed). Also used by
    the Home tab's *Roll back…* button, with the release channel.
    """
    settings = runtime.config.release.rollback
    try:
        cluster = workload_cluster(runtime)
    except ClusterError as exc:
        planned: RollbackPlan | RollbackRefused = RollbackRefused(reason=str(exc))
    else:
        planned = plan_rollback(
            cluster=cluster, history=StoreHistory(runtime), target=rollback_target(runtime), now=runtime.clock.now(),
            expires_in=timedelta(minutes=settings.confirmation_minutes), plan_id=secrets.token_hex(4),
            reason=reason, requested_by=user_id, channel=channel_id, to=to, canary=in_flight(runtime),
        )
    if isinstance(planned, RollbackRefused):
        record(runtime, actor=user_id, channel=channel_id, action="rollback.request", target=_target_name(runtime),
               before="", after="", outcome=AuditOutcome.REFUSED,
               detail=f"{planned.reason} (reason: {reason}" + (f"; --to {to})" if to else ")"))
        return planned
    confirmations.save(runtime, planned)
    detail = (f"confirmation {planned.id}; target from the {planned.source}"
              + (f" (chosen with --to {to})" if to else "") + f"; reason: {reason}"
              + (f"; canary {planned.canary.id} at stage {planned.canary.stage} to be aborted first"
                 if planned.canary else ""))
    if runtime.surface == "console":
        record(runtime, actor=user_id, channel=channel_id, action="rollback.request", target=_target_name(runtime),
               before=planned.current_image, after=planned.target_image, outcome=AuditOutcome.REQUESTED,
               detail=detail)
        return planned
    posted = _post_confirmation(runtime, planned)
    if isinstance(posted, str):
        confirmations.finish(runtime, planned.id, outcome="not posted", state=confirmations.ConfirmationState.CANCELLED)
        record(runtime, actor=user_id, channel=channel_id, action="rollback.request", target=_target_name(runtime),
               before=planned.current_image, after="", outcome=AuditOutcome.FAILED, detail=f"{detail}; {posted}")
        return posted
    record(runtime, actor=user_id, channel=channel_id, action="rollback.request", target=_target_name(runtime),
           before=planned.current_image, after=planned.target_image, outcome=AuditOutcome.REQUESTED,
           detail=f"{detail}; posted in {posted.channel}")
    return posted


def _post_confirmation(runtime: Runtime, plan: RollbackPlan) -> RollbackPosted | str:
    """Post the confirmation as a channel message (through the outbox) and bind it to that message.

    Where the bot cannot post (a DM, a channel it was not invited to), it posts in the release channel
    instead and says so. Text when it could not be posted anywhere.
    """
    poster = runtime.poster.get()
    release = runtime.config.slack.release_channel
    channel, note = plan.channel, ""
    try:
        ts = poster.post(plan, channel=channel)
    except PermanentDeliveryError as exc:
        if not release or release == channel:
            return _not_posted(channel, exc, release)
        log.warning("rollback %s: cannot post in %s (%s); posting in the release channel %s", plan.id, channel, exc,
                    release)
        note = f"(The bot cannot post in <#{channel}>: {exc}; the release channel has it instead.)"
        channel = release
        try:
            ts = poster.post(plan, channel=channel)
        except Exception as again:
            return _not_posted(channel, again, None)
    except Exception as exc:
        return _not_posted(channel, exc, release if release != channel else None)
    if not ts:
        return _not_posted(channel, "Slack answered no message", None)
    confirmations.bind_message(runtime, plan.id, channel=channel, ts=ts)
    return RollbackPosted(plan=plan, channel=channel, permalink=permalink(runtime, channel=channel, ts=ts), note=note)


def _not_posted(channel: str, error: object, release: str | None) -> str:
    elsewhere = f" or run `/bizra rollback` in <#{release}>" if release else ""
    return (f":x: The rollback confirmation could not be posted in <#{channel}> ({error}); nothing was changed. "
            f"Invite the bot there (`/invite @bizra`){elsewhere}, then try again.")


def permalink(runtime: Runtime, *, channel: str, ts: str) -> str | None:
    """Slack's link to the message (`chat.getPermalink`); None while it is in the outbox, or when Slack fails."""
    if ts.startswith(PLACEHOLDER):
        poster = runtime.poster.get()
        resolved = poster.outbox.resolve(ts) if isinstance(poster, OutboxPoster) else None
        if not resolved or resolved.startswith(PLACEHOLDER):
            return None
        ts = resolved
    try:
        link = runtime.slack.get().chat_getPermalink(channel=channel, message_ts=ts).get("permalink")
    except Exception as exc:
        log.warning("no permalink for the rollback confirmation %s in %s: %s", ts, channel, exc)
        return None
    return str(link) if link else None


def retarget(runtime: Runtime, *, value: str, user_id: str, channel_id: str, place: confirmations.Place) -> Reply:
    """The select menu: re-plan the pending confirmation for the chosen release and show it (replace_original)."""
    plan_id, _, number = value.partition(":")
    shown = confirmations.load(runtime, plan_id)
    if shown is None or not number.isdigit():
        return Reply(result=f"There is no rollback confirmation `{plan_id}`. Run `/bizra rollback` to start one.",
                     ephemeral=True)
    try:
        cluster = workload_cluster(runtime)
    except ClusterError as exc:
        planned: RollbackPlan | RollbackRefused = RollbackRefused(reason=str(exc))
    else:
        planned = plan_rollback(
            cluster=cluster, history=StoreHistory(runtime), target=rollback_target(runtime), now=shown.requested_at,
            expires_in=shown.expires_at - shown.requested_at, plan_id=shown.id, reason=shown.reason,
            requested_by=shown.requested_by, channel=shown.channel, to=f"#{number}", chosen_by=user_id,
            canary=in_flight(runtime),
        )
    if isinstance(planned, RollbackRefused):
        record(runtime, actor=user_id, channel=channel_id, action="rollback.target", target=_target_name(runtime),
               before=shown.target_image, after="", outcome=AuditOutcome.REFUSED,
               detail=f"confirmation {plan_id}; release #{number}: {planned.reason}")
        return Reply(result=planned, ephemeral=True)
    claim = confirmations.replan(runtime, plan_id, planned, at=place)
    if claim.refusal or claim.plan is None:
        record(runtime, actor=user_id, channel=channel_id, action="rollback.target", target=_target_name(runtime),
               before=shown.target_image, after="",
               outcome=AuditOutcome.EXPIRED if claim.expired else AuditOutcome.REFUSED, detail=claim.refusal or "")
        if claim.expired and claim.plan is not None:
            _strip_buttons(runtime, claim.plan, place)
        return Reply(result=claim.refusal or "", ephemeral=True)
    record(runtime, actor=user_id, channel=channel_id, action="rollback.target", target=_target_name(runtime),
           before=shown.target_image, after=planned.target_image, outcome=AuditOutcome.OK,
           detail=f"confirmation {plan_id}; target release #{number} chosen in the select menu")
    return Reply(result=planned, replace_original=True)


def _strip_buttons(runtime: Runtime, plan: RollbackPlan, place: confirmations.Place | None) -> None:
    """An expired confirmation loses its buttons: its message is updated (`chat.update`) to say so."""
    if place is None or place.surface != "slack" or not place.message_ts:
        return
    try:
        runtime.poster.get().update(place.message_ts, RollbackExpired(plan=plan), channel=place.channel)
    except Exception as exc:  # the refusal still reaches the person; the expiry job tries the message again
        log.warning("could not remove the buttons of expired rollback %s: %s", plan.id, exc)
        return
    confirmations.expiry_shown(runtime, plan.id, at=runtime.clock.now())


def cancel(runtime: Runtime, *, plan_id: str, user_id: str, channel_id: str,
           place: confirmations.Place | None = None) -> Reply:
    claim = confirmations.decide(runtime, plan_id, user=user_id, to=confirmations.ConfirmationState.CANCELLED,
                                 at=place)
    if claim.refusal or claim.plan is None:
        if claim.expired and claim.plan is not None:
            _strip_buttons(runtime, claim.plan, place)
        if claim.plan is not None:  # a decision from the wrong place is an attempt worth auditing
            record(runtime, actor=user_id, channel=channel_id, action="rollback.cancel", target=_target_name(runtime),
                   before=claim.plan.current_image, after="", outcome=AuditOutcome.REFUSED, detail=claim.refusal or "")
        return Reply(result=claim.refusal or "", ephemeral=True)
    plan = claim.plan
    record(runtime, actor=user_id, channel=channel_id, action="rollback.cancel", target=_target_name(runtime),
           before=plan.current_image, after=plan.current_image, outcome=AuditOutcome.CANCELLED,
           detail=f"confirmation {plan.id}")
    return Reply(result=RollbackCancelled(plan=plan, cancelled_by=user_id), replace_original=True)


def confirm(runtime: Runtime, *, plan_id: str, user_id: str, channel_id: str, thread_ts: str | None,
            place: confirmations.Place | None = None) -> Reply:
    """Claim the confirmation (at most once, from where it was posted) and execute it."""
    claim = confirmations.decide(runtime, plan_id, user=user_id, to=confirmations.ConfirmationState.RUNNING,
                                 at=place)
    if claim.refusal or claim.plan is None:
        plan = claim.plan
        record(runtime, actor=user_id, channel=channel_id, action="rollback.confirm", target=_target_name(runtime),
               before=plan.current_image if plan else "", after="",
               outcome=AuditOutcome.EXPIRED if claim.expired else AuditOutcome.REFUSED, detail=claim.refusal or "")
        if claim.expired and plan is not None:
            _strip_buttons(runtime, plan, place)
        return Reply(result=claim.refusal or "", ephemeral=True)
    plan = claim.plan
    outcome = "error"
    try:
        result = _execute(runtime, plan, user_id=user_id, channel_id=claim.channel or channel_id,
                          thread_ts=claim.thread_ts or thread_ts, lease=claim.lease)
        outcome = str(result.outcome)
    except confirmations.LostClaim:
        # This process stopped heartbeating long enough for another to take over: that one finishes it.
        return Reply(result=f"Rollback `{plan.id}` was taken over by another replica of the bot after this one "
                     "stopped reporting progress; its thread will have the summary.", ephemeral=True)
    finally:
        # Whatever happened, the confirmation is spent: a retry must never run it again (unless taken over).
        confirmations.finish(runtime, plan.id, outcome=outcome, lease=claim.lease)
    return Reply(result=result, replace_original=True)


class ProgressThread:
    """Posts into the confirmation's thread; a Slack hiccup is logged, never stops the rollback."""

    def __init__(self, runtime: Runtime, *, channel_id: str | None, thread_ts: str | None) -> None:
        self._poster = runtime.poster.get()
        self._channel = channel_id if runtime.surface != "console" else None
        self._thread_ts = thread_ts

    def post(self, message: Postable) -> None:
        try:
            ts = self._poster.post(message, channel=self._channel, thread_ts=self._thread_ts)
        except Exception as exc:
            log.warning("could not post rollback progress: %s", exc)
            return
        if self._thread_ts is None:
            self._thread_ts = ts  # no confirmation message to hang off (typed confirm): start a thread

    def upload(self, data: bytes, *, filename: str, title: str) -> None:
        """Share a file in the thread (files_upload_v2 on Slack); a failure is logged, like a post's."""
        try:
            upload_file(self._poster, data, filename=filename, title=title, channel=self._channel,
                        thread_ts=self._thread_ts)
        except Exception as exc:
            log.warning("could not upload to the rollback thread: %s", exc)


def _execute(runtime: Runtime, plan: RollbackPlan, *, user_id: str, channel_id: str,
             thread_ts: str | None, lease: confirmations.Lease | None = None) -> RollbackResult:
    """Patch, follow the rollout (writing the claim's heartbeat), bundle, audit, post the summary.

    A plain function: any thread may run it. `lease` is the claim (looked up when not given). Raises
    `confirmations.LostClaim` when another process took the confirmation over meanwhile.
    """
    target = rollback_target(runtime)
    held = lease or confirmations.current_lease(runtime, plan.id)
    thread = ProgressThread(runtime, channel_id=channel_id, thread_ts=thread_ts)
    thread.post(RollbackStarted(plan=plan, confirmed_by=user_id))
    # An active canary ends first (all traffic back on stable); its failure never stops the rollback.
    ended = end_first(runtime, plan, user_id=user_id,
                      link=permalink(runtime, channel=channel_id, ts=thread_ts) if thread_ts else None)
    if ended is not None:
        thread.post(ended.line)
    try:
        cluster = workload_cluster(runtime)
    except ClusterError as exc:
        now = runtime.clock.now()
        result = RollbackResult(plan=plan, outcome=RollbackOutcome.NOT_APPLIED, confirmed_by=user_id,
                                confirmed_at=now, finished_at=now, message=f"The rollback was not applied: {exc}")
        cluster = None
    before = snapshot(cluster, target) if cluster else Snapshot({"unavailable": "no cluster access"})
    if held is not None:
        confirmations.save_before(runtime, held, json.dumps(before.parts, default=str))
    if cluster is not None:
        result = _apply(runtime, cluster, plan, user_id=user_id, thread=thread, held=held)
    if ended is not None:
        result.canary_note = ended.line
    if held is not None:
        confirmations.heartbeat(runtime, held)  # still ours? A take-over concludes it instead (LostClaim)
    return conclude(runtime, result, cluster=cluster, before=before, thread=thread, actor=user_id,
                    channel_id=channel_id, note=_canary_audit(ended))


def _apply(runtime: Runtime, cluster: Cluster, plan: RollbackPlan, *, user_id: str, thread: ProgressThread,
           held: confirmations.Lease | None) -> RollbackResult:
    """Patch the image and follow the rollout; only follow it when the workload runs the target already.

    It does when only the canary was in the way (the gateway engine's stable Deployment), or when the
    canary's abort set it back itself (the Argo Rollout's template): a patch conditioned on the image
    the confirmation showed would be refused, though the rollback is in place.
    """
    settings = runtime.config.release.rollback
    try:
        running = cluster.read_deployment(namespace=plan.namespace, name=plan.deployment).images.get(plan.container)
    except ClusterError:
        running = None  # the patch says what is wrong
    if running == plan.target_image:
        return follow_rollout(
            cluster=cluster, clock=runtime.clock, plan=plan, confirmed_by=user_id, confirmed_at=runtime.clock.now(),
            deadline_seconds=settings.rollout_deadline_seconds, poll_seconds=settings.poll_interval_seconds,
            wait=_beating(runtime, held), on_progress=lambda point: thread.post(point))
    return execute_rollback(
        cluster=cluster, clock=runtime.clock, plan=plan, confirmed_by=user_id,
        deadline_seconds=settings.rollout_deadline_seconds, poll_seconds=settings.poll_interval_seconds,
        wait=_beating(runtime, held),  # real time between polls; the deadline is on the runtime's clock
        on_progress=lambda point: thread.post(point),
    )


def _canary_audit(ended: CanaryEnded | None) -> str:
    if ended is None:
        return ""
    return ("" if ended.ok else "canary NOT aborted: ") + ended.audit_note


def _beating(runtime: Runtime, lease: confirmations.Lease | None) -> Callable[[float], None]:
    """`wait` between polls that first writes the heartbeat (and notices a take-over)."""

    def wait(seconds: float) -> None:
        if lease is not None:
            confirmations.heartbeat(runtime, lease)
        time.sleep(seconds)

    return wait


def conclude(runtime: Runtime, result: RollbackResult, *, cluster: Cluster | None, before: Snapshot,
             thread: ProgressThread, actor: str, channel_id: str, note: str = "") -> RollbackResult:
    """After the rollout was followed: snapshot, audit, record a recovered image as stable, bundle, summary."""
    settings = runtime.config.release.rollback
    plan = result.plan
    target = rollback_target(runtime)
    after = (snapshot(cluster, target, with_pods_and_events=True, events_limit=settings.events_limit)
             if cluster else Snapshot({"unavailable": "no cluster access"}))
    applied = result.outcome is not RollbackOutcome.NOT_APPLIED
    outcome = {RollbackOutcome.RECOVERED: AuditOutcome.OK, RollbackOutcome.TIMED_OUT: AuditOutcome.TIMEOUT}.get(
        result.outcome, AuditOutcome.FAILED)
    record(runtime, actor=actor, channel=channel_id, action="rollback", target=_target_name(runtime),
           before=plan.current_image, after=result.image_after or plan.current_image, outcome=outcome,
           detail=f"confirmation {plan.id}; {result.outcome}: {result.message} time to recovery: "
           + (f"{result.time_to_recovery_seconds:.1f} s" if result.time_to_recovery_seconds is not None else "none")
           + f"; reason: {plan.reason}"
           + ("" if applied else "; nothing was changed")
           + (f"; {note}" if note else ""))
    if result.outcome is RollbackOutcome.RECOVERED and cluster is not None:
        warning = record_stable(runtime, image=plan.target_image, source=f"rollback {plan.id}", by=actor,
                                cluster=cluster, outcome=ReleaseOutcome.RESTORED, replaced=plan.current_image)
        if warning:
            result.warnings.append(warning)
    try:
        path = write_bundle(runtime, at=result.finished_at, suffix=plan.id, before=before, after=after,
                            since=plan.requested_at, summary=summary_markdown(result))
        result.bundle_path = str(path)
        # summary.md is written before the path is known; rewrite it so it names itself too.
        (path / "summary.md").write_text(summary_markdown(result) + "\n", encoding="utf-8")
    except OSError as exc:
        result.warnings.append(f"The incident bundle could not be written: {exc}")
    if runtime.surface != "console" or result.resumed_by:  # on the console the reply itself is the summary
        thread.post(result)
    if result.bundle_path:  # the .tar.gz into the thread, beside the summary (on disk only, on the console)
        share_bundle(Path(result.bundle_path), thread if runtime.surface != "console" else None)
    return result
