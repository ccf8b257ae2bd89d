"""Running the canary: start, status, promote, abort — the decisions of `commands.canary` applied.

What flows through: a request (who, where, image or reason) comes in from the Slack handler or
from auto-rollback; this module reads the stored run, the gates, the SLO history and the pods,
asks `commands.canary` what may happen, claims the transition in the store, applies manifests
through the cluster adapter, records the outcome (stage, history, audit, last stable), posts the
step in the run's thread and edits the run message (the thread's root; docs/canary.md). It returns
the result model the renderers show.

Order of every change: decide → claim (BEGIN IMMEDIATE, expected stage) → cluster → record. The
recorded stage moves only after the cluster accepted the whole manifest; a failed apply is undone
by re-applying the stage that was live, and the claim is released, so state stays consistent.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bot.core.audit import AuditOutcome, record
from bot.core.delivery import Postable
from bot.core.runtime import Runtime
from bot.features.canary import store as store
from bot.features.canary.inputs import canary_pods, gap_limit, gate_verdict, load_documents, slo_samples, stages
from bot.features.releases.history import record_aborted, record_stable
from bot.features.signoff.handlers import current as signoff_now
from commands.canary import (
    ApplyFailed,
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
    ManifestError,
    PromotionCheck,
    RunOutcome,
    Stage,
    apply_documents,
    check_promotion,
    complete_release,
    restore_stable_image,
    start_refusals,
    substitute_image,
)
from commands.cluster import Cluster, ClusterError, KubeObject
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


def _documents(runtime: Runtime, path: Path, *, image: str) -> list[KubeObject]:
    return substitute_image(load_documents(path), placeholder=runtime.config.canary.image_placeholder, image=image,
                            source=str(path))


def _stage_documents(runtime: Runtime, stage: Stage, *, image: str) -> list[KubeObject]:
    return _documents(runtime, Path(stage.manifest), image=image)


def _stable_documents(runtime: Runtime, *, image: str) -> list[KubeObject]:
    return _documents(runtime, runtime.config.canary.stable_manifest, image=image)


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
    now = status(runtime)
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


def start(runtime: Runtime, *, image: str, actor: str, channel: str, force_reason: str | None = None) -> BaseModel:
    stage_list = stages(runtime)
    first = stage_list[0]
    release = runtime.config.release
    existing = store.load(runtime)
    cluster: Cluster | None = None
    stable_image: str | None = None
    reasons: list[str] = []
    try:
        cluster = _cluster(runtime)
        stable = cluster.read_deployment(namespace=release.namespace, name=release.deployment)
        stable_image = stable.images.get(release.container, "")
    except ClusterError as exc:
        reasons.append(f"The stable Deployment could not be read: {exc}")
    reasons = start_refusals(image=image, repository=release.image_repository, gates=gate_verdict(runtime),
                             active=existing.run if existing else None, stable_image=stable_image) + reasons
    signoff_refusal, signoff_note = _signoff_refusal(runtime, force_reason=force_reason)
    if signoff_refusal:
        reasons.append(signoff_refusal)
    documents: list[KubeObject] = []
    if not reasons:
        try:
            documents = _stage_documents(runtime, first, image=image)
            restore = _stable_documents(runtime, image=image)
        except ManifestError as exc:
            reasons.append(str(exc))
    if reasons or cluster is None:
        _audit(runtime, actor=actor, channel=channel, action="start", before=_where(existing.run if existing else None,
               stage_list), after="", outcome=AuditOutcome.REFUSED, detail=f"{image}: " + " | ".join(reasons))
        return CanaryRefused(action=CanaryAction.START, reasons=reasons)
    now = runtime.clock.now()
    run = CanaryRun(id=store.new_token()[:8], image=image, stage=0, stage_started_at=now, started_at=now,
                    started_by=actor, channel=channel, stable_image=stable_image or "")
    claim = store.claim_start(runtime, run, now=now, timeout=_timeout(runtime))
    if claim.token is None:
        _audit(runtime, actor=actor, channel=channel, action="start", before=_where(claim.run, stage_list), after="",
               outcome=AuditOutcome.REFUSED, detail=claim.refusal or "")
        return CanaryRefused(action=CanaryAction.START, reasons=[claim.refusal or "Another start is in progress."])
    namespace = runtime.config.release.namespace
    try:
        applied = apply_documents(cluster, documents, namespace=namespace)
    except ApplyFailed as failed:
        restored, restore_error = _restore(cluster, restore, namespace=namespace, needed=bool(failed.applied))
        store.abandon_start(runtime, claim.token)
        failure = CanaryApplyFailed(action=CanaryAction.START, run=None, target=first.name, applied=failed.applied,
                                    failed=failed.failed, error=str(failed.error), restored=restored,
                                    restore_error=restore_error)
        _audit(runtime, actor=actor, channel=channel, action="start", before=_where(None, stage_list),
               after=_where(None, stage_list), outcome=AuditOutcome.FAILED,
               detail=f"{image}: {failed.failed} failed: {failed.error}; applied before it: {failed.applied}; "
                      f"restored: {restored}")
        return failure
    started_at = runtime.clock.now()
    run = run.model_copy(update={"stage_started_at": started_at, "started_at": started_at})
    result = CanaryStarted(run=run, stage=first, stages=len(stage_list), applied=applied)
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
                      detail=", ".join(applied))
    _audit(runtime, actor=actor, channel=channel, action="start", before=_where(None, stage_list),
           after=_where(run, stage_list), outcome=AuditOutcome.OK, detail=f"applied {first.manifest}: {applied}"
           + (f"; {signoff_note}" if signoff_note else ""))
    return result.model_copy(update={"run": run})


def _restore(cluster: Cluster, documents: list[KubeObject], *, namespace: str,
             needed: bool) -> tuple[bool | None, str | None]:
    """Re-apply what was live before a failed apply; (None, None) when nothing had been applied."""
    if not needed:
        return None, None
    try:
        apply_documents(cluster, documents, namespace=namespace)
    except ApplyFailed as again:
        return False, f"{again.failed}: {again.error}"
    return True, None


# -- status ---------------------------------------------------------------------------------------


def review(runtime: Runtime, run: CanaryRun, cluster: Cluster | None, *, cluster_error: str | None = None
           ) -> PromotionCheck:
    stage_list = stages(runtime)
    now = runtime.clock.now()
    return check_promotion(
        run=run, stages=stage_list, now=now,
        samples=slo_samples(runtime, start=run.stage_started_at, end=now), gap_limit=gap_limit(runtime),
        pods=canary_pods(runtime, cluster, error=cluster_error), require_ready=runtime.config.canary.require_ready,
    )


def status(runtime: Runtime) -> CanaryStatus:
    stage_list = stages(runtime)
    active = store.load(runtime)
    if active is None:
        entries = store.history(runtime, 1)
        last = (f"{entries[0].event} of `{entries[0].image}` by {entries[0].actor} at {entries[0].at:%Y-%m-%d %H:%M} "
                f"UTC ({entries[0].outcome})") if entries else None
        return CanaryStatus(active=False, stages=len(stage_list), last_event=last)
    cluster: Cluster | None = None
    error: str | None = None
    try:
        cluster = _cluster(runtime)
    except ClusterError as exc:
        error = str(exc)
    run = active.run
    mismatch = _config_mismatch(run, stage_list)
    if mismatch:
        return CanaryStatus(active=True, run=run, stages=len(stage_list), last_event=mismatch)
    pending = None
    if active.transition:
        kind = active.transition.split(":")[0]
        pending = f"{kind} in progress since {active.transition_at:%H:%M:%S} UTC" if active.transition_at else kind
    return CanaryStatus(active=True, run=run, stage=stage_list[run.stage], stages=len(stage_list),
                        check=review(runtime, run, cluster, cluster_error=error), pending=pending,
                        last_event=active.last_event)


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
        cluster = _cluster(runtime)
    except ClusterError as exc:
        _audit(runtime, actor=actor, channel=channel, action="promote", before=_where(run, stage_list), after="",
               outcome=AuditOutcome.REFUSED, detail=str(exc))
        return CanaryRefused(action=CanaryAction.PROMOTE, reasons=[str(exc)])
    check = review(runtime, run, cluster)
    bypassed = [blocker.reason for blocker in check.blockers]
    if check.blockers and force_reason is None:
        _audit(runtime, actor=actor, channel=channel, action="promote", before=_where(run, stage_list), after="",
               outcome=AuditOutcome.REFUSED, detail=" | ".join(bypassed))
        return CanaryRefused(action=CanaryAction.PROMOTE, reasons=bypassed, possible_at=check.possible_at,
                             waiting_helps=check.waiting_helps, conditions=check.conditions)
    try:
        documents = (_stage_documents(runtime, check.next_stage, image=run.image) if check.next_stage
                     else _stable_documents(runtime, image=run.image))
        restore = _stage_documents(runtime, check.stage, image=run.image)
    except ManifestError as exc:
        return CanaryRefused(action=CanaryAction.PROMOTE, reasons=[str(exc)])
    claim = store.claim(runtime, kind="promote", expected_stage=run.stage, now=runtime.clock.now(),
                        timeout=_timeout(runtime))
    if claim.token is None:
        _audit(runtime, actor=actor, channel=channel, action="promote", before=_where(claim.run or run, stage_list),
               after="", outcome=AuditOutcome.REFUSED, detail=claim.refusal or "")
        return CanaryRefused(action=CanaryAction.PROMOTE, reasons=[claim.refusal or "The claim is taken."])
    forced = f"forced: {force_reason}; bypassed: {' | '.join(bypassed)}" if force_reason is not None and bypassed \
        else ""
    if check.next_stage is None:
        return _complete(runtime, cluster, run=run, token=claim.token, actor=actor, channel=channel,
                         documents=documents, force_reason=force_reason if bypassed else None, bypassed=bypassed,
                         forced=forced)
    namespace = runtime.config.release.namespace
    target = check.next_stage
    try:
        applied = apply_documents(cluster, documents, namespace=namespace)
    except ApplyFailed as failed:
        restored, restore_error = _restore(cluster, restore, namespace=namespace, needed=bool(failed.applied))
        store.release(runtime, claim.token, event=f"promotion to stage {target.number} failed")
        store.add_history(runtime, run=run, actor=actor, event="promote", stage_before=run.stage,
                          stage_after=run.stage, outcome="failed", detail=f"{failed.failed}: {failed.error}")
        _audit(runtime, actor=actor, channel=channel, action="promote", before=_where(run, stage_list),
               after=_where(run, stage_list), outcome=AuditOutcome.FAILED,
               detail=f"{failed.failed} failed: {failed.error}; applied before it: {failed.applied}; restored "
                      f"{check.stage.name}: {restored} {restore_error or ''} {forced}".strip())
        failure = CanaryApplyFailed(action=CanaryAction.PROMOTE, run=run, target=target.name, applied=failed.applied,
                                    failed=failed.failed, error=str(failed.error), restored=restored,
                                    restore_error=restore_error)
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
           detail=f"applied {target.manifest}: {applied}" + (f"; {forced}" if forced else ""))
    result = CanaryPromoted(run=moved, from_stage=check.stage, to_stage=target, stages=len(stage_list), by=actor,
                            applied=applied, forced_reason=force_reason if bypassed else None, bypassed=bypassed)
    Thread.of(runtime, run, channel=channel).post(result)
    refresh(runtime)
    return result


def _complete(runtime: Runtime, cluster: Cluster, *, run: CanaryRun, token: str, actor: str, channel: str,
              documents: list[KubeObject], force_reason: str | None, bypassed: list[str], forced: str) -> BaseModel:
    release = runtime.config.release
    stage_list = stages(runtime)
    thread = Thread.of(runtime, run, channel=channel)
    try:
        done = complete_release(cluster, namespace=release.namespace, deployment=release.deployment,
                                container=release.container, image=run.image, stable_documents=documents)
    except (ClusterError, ApplyFailed) as exc:
        error = exc.error if isinstance(exc, ApplyFailed) else exc
        store.release(runtime, token, event="completion failed")
        store.add_history(runtime, run=run, actor=actor, event="complete", stage_before=run.stage,
                          stage_after=run.stage, outcome="failed", detail=str(error))
        _audit(runtime, actor=actor, channel=channel, action="complete", before=_where(run, stage_list),
               after=_where(run, stage_list), outcome=AuditOutcome.FAILED, detail=f"{error} {forced}".strip())
        failure = CanaryApplyFailed(
            action=CanaryAction.PROMOTE, run=run, target="completion",
            applied=exc.applied if isinstance(exc, ApplyFailed) else [],
            failed=exc.failed if isinstance(exc, ApplyFailed) else f"Deployment/{release.deployment}",
            error=str(error))
        thread.post(failure)
        refresh(runtime)
        return failure
    if done.step is CompletionStep.STABLE_ROLLING_OUT:
        store.release(runtime, token, event="completion waits for the stable rollout")
        _audit(runtime, actor=actor, channel=channel, action="complete", before=_where(run, stage_list),
               after={"stable_image": run.image, "traffic": "still on canary"}, outcome="pending",
               detail=f"stable {release.deployment} rolling out {done.stable_ready}/{done.stable_desired}")
        pending = CanaryCompletionPending(run=run, stable_ready=done.stable_ready, stable_desired=done.stable_desired)
        thread.post(pending)
        refresh(runtime)
        return pending
    warnings: list[str] = []
    try:
        warning = record_stable(runtime, image=run.image, source=f"canary {run.id}", by=actor, cluster=cluster)
    except ValueError as exc:
        warning = str(exc)
    if warning:
        warnings.append(warning)
    store.end(runtime, token)
    store.add_history(runtime, run=run, actor=actor, event="complete", stage_before=run.stage, stage_after=None,
                      outcome="ok", detail=forced)
    _audit(runtime, actor=actor, channel=channel, action="complete", before=_where(run, stage_list),
           after={"stable_image": run.image, "canary": "none"}, outcome=AuditOutcome.OK,
           detail=f"applied {runtime.config.canary.stable_manifest}: {done.applied}"
           + (f"; {forced}" if forced else ""))
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
    release = runtime.config.release
    try:
        documents = _stable_documents(runtime, image=run.image)
        cluster = _cluster(runtime)
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
    restored: list[str] = []
    try:
        # A completion that had begun moved the stable Deployment to the canary image: undo that first,
        # so "all traffic to stable" means the version that was stable before the canary.
        done = restore_stable_image(cluster, namespace=release.namespace, deployment=release.deployment,
                                    container=release.container, run=run)
        restored = [done] if done else []
        applied = restored + apply_documents(cluster, documents, namespace=release.namespace)
    except (ApplyFailed, ClusterError) as exc:
        failed = exc.failed if isinstance(exc, ApplyFailed) else f"Deployment/{release.deployment}"
        error = exc.error if isinstance(exc, ApplyFailed) else exc
        before_failure = restored + (exc.applied if isinstance(exc, ApplyFailed) else [])
        store.release(runtime, claim.token, event=f"{action} failed")
        store.add_history(runtime, run=run, actor=actor, event=action, stage_before=run.stage,
                          stage_after=run.stage, outcome="failed", detail=f"{failed}: {error}")
        _audit(runtime, actor=actor, channel=channel, action=action, before=_where(run, stage_list),
               after=_where(run, stage_list), outcome=AuditOutcome.FAILED,
               detail=f"{failed} failed: {error}; applied before it: {before_failure}; reason: {reason}")
        result = CanaryAborted(run=run, stage=stage, by=actor, reason=reason, automatic=automatic,
                               applied=before_failure, error=f"{failed}: {error}")
        if not automatic:
            thread.post(result)
        refresh(runtime)
        return result
    store.end(runtime, claim.token)
    record_aborted(runtime, image=run.image, by=actor,
                   source=f"canary {run.id}" + (" (auto-rollback)" if automatic else ""))  # in /bizra history
    store.add_history(runtime, run=run, actor=actor, event=action,
                      stage_before=run.stage, stage_after=None, outcome="ok", detail=reason)
    _audit(runtime, actor=actor, channel=channel, action=action,
           before=_where(run, stage_list), after={"canary": "none", "traffic": "100% stable"},
           outcome=AuditOutcome.OK, detail=f"applied {runtime.config.canary.stable_manifest}: {applied}; "
                                           f"reason: {reason}")
    result = CanaryAborted(run=run, stage=stage, by=actor, reason=reason, automatic=automatic, applied=applied)
    if not automatic:
        thread.post(result)
    _finish(runtime, thread, run=run, outcome=RunOutcome.ROLLED_BACK if automatic else RunOutcome.ABORTED,
            by=actor, reason=reason, step="auto-rollback" if automatic else f"aborted by <@{actor}>")
    return result
