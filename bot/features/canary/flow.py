"""Running the canary: start, status, promote, abort — the decisions of `commands.canary` applied.

What flows through: a request (who, where, image or reason) comes in from the Slack handler or
from auto-rollback; this module reads the stored run, the gates, the SLO history and the pods,
asks `commands.canary` what may happen, claims the transition in the store, applies manifests
through the cluster adapter, records the outcome (stage, history, audit, last stable), posts the
step in the run's thread and edits the run message (the thread's root; docs/canary.md). It returns
the result model the renderers show.

Order of every change: decide → claim (a store transaction, expected stage) → engine → record. The
cluster side is the engine's (`canary.engine`: bot/features/canary/engines/, the port in
commands/canary_engine.py); the policy is decided here, once, for every engine. The recorded
stage moves only after the engine carried the step out; a failed step is undone by the engine
(the gateway re-applies the stage that was live), and the claim is released, so state stays
consistent.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from bot.core.audit import AuditOutcome, record
from bot.core.delivery import Postable
from bot.core.runtime import Runtime
from bot.features.canary import store as store
from bot.features.canary.engines import engine_for
from bot.features.canary.inputs import gap_limit, gate_verdict, slo_samples, stages
from bot.features.releases.history import record_aborted, record_stable
from bot.features.signoff.handlers import current as signoff_now
from commands.canary import (
    CanaryAborted,
    CanaryAction,
    CanaryApplyFailed,
    CanaryCompleted,
    CanaryCompletionPending,
    CanaryPromoted,
    CanaryRefused,
    CanaryRun,
    CanaryRunMessage,
    CanaryStarted,
    CanaryStatus,
    CompletionStep,
    EngineView,
    ManifestError,
    PromotionCheck,
    RunOutcome,
    Stage,
    check_promotion,
    start_refusals,
)
from commands.canary_engine import (
    CanaryEngine,
    EngineFailed,
    EngineKind,
    EngineObservation,
    Grant,
    RevisionChanged,
    hold_of,
    view_of,
)
from commands.cluster import Cluster, ClusterError
from commands.signoff import canary_refusal

log = logging.getLogger(__name__)

AUTO_ACTOR = "bizra-bot (auto-rollback)"


def target_name(runtime: Runtime) -> str:
    release = runtime.config.release
    return f"{release.namespace}/{runtime.config.canary.canary_deployment}"


def _timeout(runtime: Runtime) -> timedelta:
    return timedelta(seconds=runtime.config.canary.transition_timeout_seconds)


def _where(run: CanaryRun | None, stage_list: list[Stage]) -> dict[str, Any]:
    if run is None:
        return {"canary": "none"}
    stage = stage_list[run.stage] if 0 <= run.stage < len(stage_list) else None
    return {"canary": run.id, "image": run.image, "stage": run.stage + 1,
            "stage_name": stage.name if stage else "?", "weight": stage.weight if stage else None}


def _audit(runtime: Runtime, *, actor: str, channel: str, action: str, before: Any, after: Any, outcome: str,
           detail: str = "") -> None:
    record(runtime, actor=actor, channel=channel, action=f"canary.{action}", target=target_name(runtime),
           before=before, after=after, outcome=outcome, detail=detail)


class Thread:
    """The canary's run message and its thread (the history) in the release channel; a Slack hiccup
    never stops a transition. The run message is the thread's root: `thread_ts` is its ts."""

    def __init__(self, runtime: Runtime, *, channel: str, thread_ts: str | None, message_channel: str = "") -> None:
        self._runtime = runtime
        release = runtime.config.slack.release_channel
        self.channel = None if runtime.surface == "console" else (message_channel or release or channel or None)
        self.thread_ts = thread_ts

    @classmethod
    def of(cls, runtime: Runtime, run: CanaryRun, *, channel: str) -> Thread:
        return cls(runtime, channel=channel, thread_ts=run.thread_ts, message_channel=run.message_channel)

    def show(self, message: CanaryRunMessage) -> str | None:
        """Edit the run message in place, or post it (opening the thread) when there is none yet. The
        console has no run message: each command's reply is on screen already."""
        if self._runtime.surface == "console":
            return None
        poster = self._runtime.poster.get()
        try:
            if self.thread_ts is not None:
                poster.update(self.thread_ts, message, channel=self.channel)
                return self.thread_ts
            self.thread_ts = poster.post(message, channel=self.channel)
        except Exception as exc:
            log.warning("could not show the canary run message: %s", exc)
        return self.thread_ts

    def post(self, message: Postable, *, is_reply: bool = True) -> str | None:
        """Post in the thread (opening it on the first post). On the console the command's reply is
        already on screen, so a message that is also the reply is not printed twice."""
        if is_reply and self._runtime.surface == "console":
            return None
        try:
            ts = self._runtime.poster.get().post(message, channel=self.channel, thread_ts=self.thread_ts)
        except Exception as exc:
            log.warning("could not post canary progress: %s", exc)
            return None
        if self.thread_ts is None:
            self.thread_ts = ts
        return ts


def _cluster(runtime: Runtime) -> Cluster:
    return runtime.cluster.get()


def living(runtime: Runtime, *, buttons: bool = True) -> CanaryRunMessage | None:
    """The active run as its message, now (None when no canary is active)."""
    now = status(runtime, observe_idle=False)
    if not now.active or now.run is None:
        return None
    return CanaryRunMessage(status=now, last_step=now.last_event or "", buttons=buttons)


def refresh(runtime: Runtime) -> CanaryRunMessage | None:
    """Edit the active run's message to what it is now (after a step, a status, a click) and return it. A
    run without one yet (started before run messages, without a thread) gets one, remembered in the store."""
    if runtime.surface == "console":
        return None
    message = living(runtime)
    if message is None or message.run is None:
        return None
    run = message.run
    thread = Thread.of(runtime, run, channel=run.channel)
    ts = thread.show(message)
    if ts and (ts != run.thread_ts or not run.message_channel):
        store.set_message(runtime, run.id, channel=thread.channel, ts=ts)
        message = message.model_copy(update={"status": message.status.model_copy(update={
            "run": run.model_copy(update={"thread_ts": ts, "message_channel": thread.channel or ""})})})
    return message


def _finish(runtime: Runtime, thread: Thread, *, run: CanaryRun, outcome: RunOutcome, by: str,
            reason: str | None = None, step: str) -> None:
    """The run is over: its message shows how it ended, without buttons."""
    stage_list = stages(runtime)
    stage = stage_list[min(run.stage, len(stage_list) - 1)]
    thread.show(CanaryRunMessage(
        status=CanaryStatus(active=False, run=run, stage=stage, stages=len(stage_list), last_event=step),
        outcome=outcome, last_step=step, ended_by=by, ended_at=runtime.clock.now(), reason=reason, buttons=False))


def _config_mismatch(run: CanaryRun, stage_list: list[Stage]) -> str | None:
    """The stage list was shortened in the config while this canary ran past its end."""
    if run.stage < len(stage_list):
        return None
    return (f"The active canary is at stage {run.stage + 1}, but `canary.stages` now has only {len(stage_list)} "
            "stage(s). Restore the config, or `/bizra canary abort`.")


# -- start ----------------------------------------------------------------------------------------


def _signoff_refusal(runtime: Runtime, *, force_reason: str | None) -> tuple[str | None, str]:
    """(refusal, audit note): with `signoff.required_for_canary`, an incomplete sign-off refuses the start
    unless forced; the bypass is noted for the audit row."""
    if not runtime.config.signoff.required_for_canary:
        return None, ""
    refusal = canary_refusal(signoff_now(runtime))
    if refusal is None:
        return None, "sign-off complete"
    if force_reason is not None:
        return None, f"forced past an incomplete sign-off: {force_reason}; bypassed: {refusal}"
    return refusal, ""


def _engine(runtime: Runtime, run: CanaryRun | None = None) -> CanaryEngine:
    """The engine of the run (the one it started with), else the configured one."""
    return engine_for(runtime, run.engine if run is not None else None)


def start(runtime: Runtime, *, image: str, actor: str, channel: str, force_reason: str | None = None) -> BaseModel:
    stage_list = stages(runtime)
    first = stage_list[0]
    release = runtime.config.release
    existing = store.load(runtime)
    cluster: Cluster | None = None
    stable_image: str | None = None
    reasons: list[str] = []
    engine = _engine(runtime)
    try:
        cluster = _cluster(runtime)
        stable_image = engine.stable_image()
    except ClusterError as exc:
        reasons.append(f"{engine.stable_label} could not be read: {exc}")
    reasons = start_refusals(image=image, repository=release.image_repository, gates=gate_verdict(runtime),
                             active=existing.run if existing else None, stable_image=stable_image) + reasons
    signoff_refusal, signoff_note = _signoff_refusal(runtime, force_reason=force_reason)
    if signoff_refusal:
        reasons.append(signoff_refusal)
    if not reasons:
        try:
            reasons.extend(engine.check_start(image))
        except ClusterError as exc:
            reasons.append(str(exc))
    if reasons or cluster is None:
        _audit(runtime, actor=actor, channel=channel, action="start", before=_where(existing.run if existing else None,
               stage_list), after="", outcome=AuditOutcome.REFUSED, detail=f"{image}: " + " | ".join(reasons))
        return CanaryRefused(action=CanaryAction.START, reasons=reasons)
    now = runtime.clock.now()
    run = CanaryRun(id=store.new_token()[:8], image=image, stage=0, stage_started_at=now, started_at=now,
                    started_by=actor, channel=channel, stable_image=stable_image or "", engine=str(engine.kind))
    claim = store.claim_start(runtime, run, now=now, timeout=_timeout(runtime))
    if claim.token is None:
        _audit(runtime, actor=actor, channel=channel, action="start", before=_where(claim.run, stage_list), after="",
               outcome=AuditOutcome.REFUSED, detail=claim.refusal or "")
        return CanaryRefused(action=CanaryAction.START, reasons=[claim.refusal or "Another start is in progress."])
    try:
        step = engine.begin(run, first)
    except EngineFailed as failed:
        store.abandon_start(runtime, claim.token)
        failure = CanaryApplyFailed(action=CanaryAction.START, run=None, target=first.name, applied=failed.applied,
                                    failed=failed.failed, error=failed.error, restored=failed.restored,
                                    restore_error=failed.restore_error)
        _audit(runtime, actor=actor, channel=channel, action="start", before=_where(None, stage_list),
               after=_where(None, stage_list), outcome=AuditOutcome.FAILED,
               detail=f"{image}: {failed.failed} failed: {failed.error}; applied before it: {failed.applied}; "
                      f"restored: {failed.restored}")
        return failure
    started_at = runtime.clock.now()
    revision = step.revision.key if step.revision else ""
    run = run.model_copy(update={"stage_started_at": started_at, "started_at": started_at, "revision": revision})
    if revision:
        store.set_revision(runtime, claim.token, revision)
    result = CanaryStarted(run=run, stage=first, stages=len(stage_list), applied=step.applied, note=step.note)
    store.advance(runtime, claim.token, stage=0, stage_started_at=started_at, event=f"Canary started by <@{actor}>")
    # The run message first (the thread's root), then the step in its thread.
    thread = Thread(runtime, channel=channel, thread_ts=None)
    message = living(runtime)
    if message is not None:
        thread.show(message)
    thread.post(result)
    ts = thread.thread_ts
    store.set_message(runtime, run.id, channel=thread.channel, ts=ts)
    run = run.model_copy(update={"thread_ts": ts, "message_channel": thread.channel or ""})
    store.add_history(runtime, run=run, actor=actor, event="start", stage_before=None, stage_after=0, outcome="ok",
                      detail=", ".join(step.applied))
    _audit(runtime, actor=actor, channel=channel, action="start", before=_where(None, stage_list),
           after=_where(run, stage_list), outcome=AuditOutcome.OK, detail=f"applied {step.source}: {step.applied}"
           + (f"; revision {revision}" if revision else "") + (f"; {signoff_note}" if signoff_note else ""))
    return result.model_copy(update={"run": run})


# -- status ---------------------------------------------------------------------------------------


def review(runtime: Runtime, run: CanaryRun, observation: EngineObservation | None = None) -> PromotionCheck:
    """The promotion policy on the run now: its stage's SLO record, and the pods (and, for a controller-driven
    engine, whether it holds at the stage with the approved revision) as the engine observes them."""
    stage_list = stages(runtime)
    now = runtime.clock.now()
    seen = observation if observation is not None else _engine(runtime, run).observe(run)
    hold = None if seen.engine is EngineKind.GATEWAY else hold_of(seen, run)
    return check_promotion(
        run=run, stages=stage_list, now=now,
        samples=slo_samples(runtime, start=run.stage_started_at, end=now), gap_limit=gap_limit(runtime),
        pods=seen.pods, require_ready=runtime.config.canary.require_ready, hold=hold,
    )


def status(runtime: Runtime, *, observe_idle: bool = True) -> CanaryStatus:
    """The active run now; with none, the last run and (`observe_idle`, a controller-driven engine) what the
    controller is doing meanwhile: Flagger may hold a new revision until it is started, a Rollout may be moving."""
    stage_list = stages(runtime)
    active = store.load(runtime)
    if active is None:
        entries = store.history(runtime, 1)
        last = (f"{entries[0].event} of `{entries[0].image}` by {entries[0].actor} at {entries[0].at:%Y-%m-%d %H:%M} "
                f"UTC ({entries[0].outcome})") if entries else None
        return CanaryStatus(active=False, stages=len(stage_list), last_event=last,
                            engine=_idle_view(runtime) if observe_idle else None)
    run = active.run
    mismatch = _config_mismatch(run, stage_list)
    if mismatch:
        return CanaryStatus(active=True, run=run, stages=len(stage_list), last_event=mismatch)
    pending = None
    if active.transition:
        kind = active.transition.split(":")[0]
        pending = f"{kind} in progress since {active.transition_at:%H:%M:%S} UTC" if active.transition_at else kind
    observation = _engine(runtime, run).observe(run)
    return CanaryStatus(active=True, run=run, stage=stage_list[run.stage], stages=len(stage_list),
                        check=review(runtime, run, observation), pending=pending, last_event=active.last_event,
                        engine=None if observation.engine is EngineKind.GATEWAY else view_of(observation))


def _idle_view(runtime: Runtime) -> EngineView | None:
    """What the configured controller-driven engine observes with no run active (None: the gateway engine, whose
    HTTPRoute says nothing beyond "all traffic on stable")."""
    engine = _engine(runtime)
    if engine.kind is EngineKind.GATEWAY:
        return None
    return view_of(engine.observe(None))


# -- promote --------------------------------------------------------------------------------------


def promote(runtime: Runtime, *, actor: str, channel: str, force_reason: str | None) -> BaseModel:
    stage_list = stages(runtime)
    active = store.load(runtime)
    if active is None:
        return CanaryRefused(action=CanaryAction.PROMOTE, reasons=["No canary is active."],
                             hint="Start one with `/bizra canary start <image@sha256:digest>`.")
    run = active.run
    mismatch = _config_mismatch(run, stage_list)
    if mismatch:
        return CanaryRefused(action=CanaryAction.PROMOTE, reasons=[mismatch])
    try:
        _cluster(runtime)
    except ClusterError as exc:
        _audit(runtime, actor=actor, channel=channel, action="promote", before=_where(run, stage_list), after="",
               outcome=AuditOutcome.REFUSED, detail=str(exc))
        return CanaryRefused(action=CanaryAction.PROMOTE, reasons=[str(exc)])
    engine = _engine(runtime, run)
    check = review(runtime, run)
    bypassed = [blocker.reason for blocker in check.blockers]
    if check.blockers and force_reason is None:
        _audit(runtime, actor=actor, channel=channel, action="promote", before=_where(run, stage_list), after="",
               outcome=AuditOutcome.REFUSED, detail=" | ".join(bypassed))
        return CanaryRefused(action=CanaryAction.PROMOTE, reasons=bypassed, possible_at=check.possible_at,
                             waiting_helps=check.waiting_helps, conditions=check.conditions)
    problems = engine.check_advance(run, from_stage=check.stage, to_stage=check.next_stage)
    if problems:
        return CanaryRefused(action=CanaryAction.PROMOTE, reasons=problems)
    claim = store.claim(runtime, kind="promote", expected_stage=run.stage, now=runtime.clock.now(),
                        timeout=_timeout(runtime))
    if claim.token is None:
        _audit(runtime, actor=actor, channel=channel, action="promote", before=_where(claim.run or run, stage_list),
               after="", outcome=AuditOutcome.REFUSED, detail=claim.refusal or "")
        return CanaryRefused(action=CanaryAction.PROMOTE, reasons=[claim.refusal or "The claim is taken."])
    forced = f"forced: {force_reason}; bypassed: {' | '.join(bypassed)}" if force_reason is not None and bypassed \
        else ""
    # The engine learns who asked and whether the policy was forced: a controller-driven engine answers the
    # controller later from this, so a force given once is carried through (never judged again).
    grant = Grant(actor=actor, forced_reason=force_reason if bypassed else None)
    if check.next_stage is None:
        return _complete(runtime, engine, run=run, stage=check.stage, token=claim.token, grant=grant,
                         channel=channel, bypassed=bypassed, forced=forced)
    target = check.next_stage
    try:
        step = engine.advance(run, from_stage=check.stage, to_stage=target, grant=grant)
    except RevisionChanged as changed:
        return _revision_changed(runtime, changed, run=run, token=claim.token, actor=actor, channel=channel,
                                 action="promote")
    except EngineFailed as failed:
        store.release(runtime, claim.token, event=f"promotion to stage {target.number} failed")
        store.add_history(runtime, run=run, actor=actor, event="promote", stage_before=run.stage,
                          stage_after=run.stage, outcome="failed", detail=f"{failed.failed}: {failed.error}")
        _audit(runtime, actor=actor, channel=channel, action="promote", before=_where(run, stage_list),
               after=_where(run, stage_list), outcome=AuditOutcome.FAILED,
               detail=f"{failed.failed} failed: {failed.error}; applied before it: {failed.applied}; restored "
                      f"{check.stage.name}: {failed.restored} {failed.restore_error or ''} {forced}".strip())
        failure = CanaryApplyFailed(action=CanaryAction.PROMOTE, run=run, target=target.name, applied=failed.applied,
                                    failed=failed.failed, error=failed.error, restored=failed.restored,
                                    restore_error=failed.restore_error)
        Thread.of(runtime, run, channel=channel).post(failure)
        refresh(runtime)
        return failure
    now = runtime.clock.now()
    store.advance(runtime, claim.token, stage=target.index, stage_started_at=now,
                  event=f"promoted to stage {target.number} by <@{actor}>")
    moved = run.model_copy(update={"stage": target.index, "stage_started_at": now})
    store.add_history(runtime, run=moved, actor=actor, event="promote", stage_before=run.stage,
                      stage_after=target.index, outcome="ok", detail=forced)
    _audit(runtime, actor=actor, channel=channel, action="promote", before=_where(run, stage_list),
           after=_where(moved, stage_list), outcome=AuditOutcome.OK,
           detail=f"applied {step.source}: {step.applied}" + (f"; {forced}" if forced else ""))
    result = CanaryPromoted(run=moved, from_stage=check.stage, to_stage=target, stages=len(stage_list), by=actor,
                            applied=step.applied, forced_reason=force_reason if bypassed else None, bypassed=bypassed,
                            note=step.note)
    Thread.of(runtime, run, channel=channel).post(result)
    refresh(runtime)
    return result


def _revision_changed(runtime: Runtime, changed: RevisionChanged, *, run: CanaryRun, token: str, actor: str,
                      channel: str, action: str) -> CanaryRefused:
    """The engine runs another revision than the approved one: nothing was done; the run says so in its thread."""
    stage_list = stages(runtime)
    store.release(runtime, token, event="a new revision voided the approval")
    store.add_history(runtime, run=run, actor=actor, event=action, stage_before=run.stage, stage_after=run.stage,
                      outcome="refused", detail=str(changed))
    _audit(runtime, actor=actor, channel=channel, action=action, before=_where(run, stage_list), after="",
           outcome=AuditOutcome.REFUSED,
           detail=f"approved revision {changed.approved.key}, found {changed.found.key}: {changed}")
    refused = CanaryRefused(action=CanaryAction.PROMOTE, reasons=[str(changed)], waiting_helps=False,
                            hint="`/bizra canary abort` this run, then start one for the new image.")
    Thread.of(runtime, run, channel=channel).post(refused, is_reply=False)
    refresh(runtime)
    return refused


def _complete(runtime: Runtime, engine: CanaryEngine, *, run: CanaryRun, stage: Stage, token: str, grant: Grant,
              channel: str, bypassed: list[str], forced: str) -> BaseModel:
    release = runtime.config.release
    stage_list = stages(runtime)
    thread = Thread.of(runtime, run, channel=channel)
    actor, force_reason = grant.actor, grant.forced_reason
    try:
        done = engine.complete(run, stage, grant=grant)
    except RevisionChanged as changed:
        return _revision_changed(runtime, changed, run=run, token=token, actor=actor, channel=channel,
                                 action="complete")
    except EngineFailed as failed:
        store.release(runtime, token, event="completion failed")
        store.add_history(runtime, run=run, actor=actor, event="complete", stage_before=run.stage,
                          stage_after=run.stage, outcome="failed", detail=failed.error)
        _audit(runtime, actor=actor, channel=channel, action="complete", before=_where(run, stage_list),
               after=_where(run, stage_list), outcome=AuditOutcome.FAILED, detail=f"{failed.error} {forced}".strip())
        failure = CanaryApplyFailed(action=CanaryAction.PROMOTE, run=run, target="completion", applied=failed.applied,
                                    failed=failed.failed, error=failed.error)
        thread.post(failure)
        refresh(runtime)
        return failure
    if done.step is CompletionStep.STABLE_ROLLING_OUT:
        store.release(runtime, token, event="completion waits for the stable rollout")
        _audit(runtime, actor=actor, channel=channel, action="complete", before=_where(run, stage_list),
               after={"stable_image": run.image, "traffic": "still on canary"}, outcome="pending",
               detail=f"stable {release.deployment} rolling out {done.stable_ready}/{done.stable_desired}"
                      + (f"; {forced}" if forced else ""))
        pending = CanaryCompletionPending(run=run, stable_ready=done.stable_ready, stable_desired=done.stable_desired)
        thread.post(pending)
        refresh(runtime)
        return pending
    warnings: list[str] = []
    try:
        warning = record_stable(runtime, image=run.image, source=f"canary {run.id}", by=actor,
                                cluster=_cluster(runtime))
    except ValueError as exc:
        warning = str(exc)
    # The last-stable annotation is written on the Deployment; with a controller-driven engine the controller's
    # own record (the Rollout's stableRS, Flagger's primary) is the cluster's answer, and there may be no such
    # Deployment: the release history entry is what counts.
    if warning and engine.kind is EngineKind.GATEWAY:
        warnings.append(warning)
    store.end(runtime, token)
    store.add_history(runtime, run=run, actor=actor, event="complete", stage_before=run.stage, stage_after=None,
                      outcome="ok", detail=forced)
    _audit(runtime, actor=actor, channel=channel, action="complete", before=_where(run, stage_list),
           after={"stable_image": run.image, "canary": "none"}, outcome=AuditOutcome.OK,
           detail=f"applied {done.source}: {done.applied}" + (f"; {forced}" if forced else ""))
    result = CanaryCompleted(run=run, by=actor, applied=done.applied, forced_reason=force_reason, bypassed=bypassed,
                             warnings=warnings)
    thread.post(result)
    _finish(runtime, thread, run=run, outcome=RunOutcome.COMPLETED, by=actor, step=f"completed by <@{actor}>")
    return result


# -- abort ----------------------------------------------------------------------------------------


def _claim_for_abort(runtime: Runtime) -> store.Claim:
    """Take the claim, waiting (bounded) for a promote in flight: an abort must not race a stage apply."""
    deadline = time.monotonic() + runtime.config.canary.abort_wait_seconds
    pause = threading.Event()
    while True:
        claim = store.claim(runtime, kind="abort", expected_stage=None, now=runtime.clock.now(),
                            timeout=_timeout(runtime))
        if claim.token is not None or claim.run is None or time.monotonic() >= deadline:
            return claim
        pause.wait(0.1)  # real time: the other transition is a few API calls


def abort(runtime: Runtime, *, actor: str, channel: str, reason: str, automatic: bool = False) -> BaseModel:
    stage_list = stages(runtime)
    active = store.load(runtime)
    if active is None:
        return CanaryRefused(action=CanaryAction.ABORT, reasons=["No canary is active; there is nothing to abort."])
    run = active.run
    action = "auto_rollback" if automatic else "abort"
    engine = _engine(runtime, run)
    try:
        problems = engine.check_abort(run)
        if problems:
            raise ManifestError(" ".join(problems))
        _cluster(runtime)
    except (ManifestError, ClusterError) as exc:
        _audit(runtime, actor=actor, channel=channel, action=action, before=_where(run, stage_list), after="",
               outcome=AuditOutcome.FAILED, detail=f"{exc}; reason: {reason}")
        result = CanaryAborted(run=run, stage=stage_list[min(run.stage, len(stage_list) - 1)], by=actor,
                               reason=reason, automatic=automatic, error=str(exc))
        if not automatic:  # auto-rollback posts (and pages) itself
            Thread.of(runtime, run, channel=channel).post(result)
        refresh(runtime)
        return result
    claim = _claim_for_abort(runtime)
    if claim.token is None:
        _audit(runtime, actor=actor, channel=channel, action=action, before=_where(run, stage_list), after="",
               outcome=AuditOutcome.REFUSED, detail=claim.refusal or "")
        return CanaryRefused(action=CanaryAction.ABORT, reasons=[claim.refusal or "The claim is taken."])
    run = claim.run or run
    stage = stage_list[min(run.stage, len(stage_list) - 1)]
    thread = Thread.of(runtime, run, channel=channel)
    try:
        step = engine.abort(run, grant=Grant(actor=actor, reason=reason))
    except EngineFailed as failed:
        store.release(runtime, claim.token, event=f"{action} failed")
        store.add_history(runtime, run=run, actor=actor, event=action, stage_before=run.stage,
                          stage_after=run.stage, outcome="failed", detail=f"{failed.failed}: {failed.error}")
        _audit(runtime, actor=actor, channel=channel, action=action, before=_where(run, stage_list),
               after=_where(run, stage_list), outcome=AuditOutcome.FAILED,
               detail=f"{failed.failed} failed: {failed.error}; applied before it: {failed.applied}; reason: {reason}")
        result = CanaryAborted(run=run, stage=stage, by=actor, reason=reason, automatic=automatic,
                               applied=failed.applied, error=f"{failed.failed}: {failed.error}")
        if not automatic:
            thread.post(result)
        refresh(runtime)
        return result
    applied = step.applied
    store.end(runtime, claim.token)
    record_aborted(runtime, image=run.image, by=actor,
                   source=f"canary {run.id}" + (" (auto-rollback)" if automatic else ""))  # in /bizra history
    store.add_history(runtime, run=run, actor=actor, event=action,
                      stage_before=run.stage, stage_after=None, outcome="ok", detail=reason)
    _audit(runtime, actor=actor, channel=channel, action=action,
           before=_where(run, stage_list), after={"canary": "none", "traffic": "100% stable"},
           outcome=AuditOutcome.OK, detail=f"applied {step.source}: {applied}; reason: {reason}")
    result = CanaryAborted(run=run, stage=stage, by=actor, reason=reason, automatic=automatic, applied=applied)
    if not automatic:
        thread.post(result)
    if step.note:
        thread.post(step.note, is_reply=False)
    _finish(runtime, thread, run=run, outcome=RunOutcome.ROLLED_BACK if automatic else RunOutcome.ABORTED,
            by=actor, reason=reason, step="auto-rollback" if automatic else f"aborted by <@{actor}>")
    return result
