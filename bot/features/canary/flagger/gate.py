"""Answering Flagger's webhooks: every answer is a decision the store already holds, applied to the call.

What flows through: `receive(runtime, hook=…, body=…)` gets one webhook call from the HTTP
surface and returns the `Answer` (status and one line for Flagger's event). In order: the engine
must be `flagger` (else 404); the body must parse (400) and carry the token (403); the Canary must
be the configured one (404). A gating call (confirm-rollout, confirm-traffic-increase,
confirm-promotion, rollback) then reads the Canary's status and its target's revision from the
cluster, resolves the run in the store (`store.resolve`: a new checksum or revision starts a new run
and voids the old one), posts the run's message once, notes the stage Flagger has reached, and
answers from the recorded decisions:

- confirm-rollout: 200 once `/bizra canary start` (or Approve) approved this run (the gates and
  the sign-off were checked then);
- confirm-traffic-increase at weight 0: the same (stage 1 begins); at stage N's weight: 200 only when
  a promotion into stage N+1 was granted for this run AND the stage's policy (commands.canary
  `check_promotion`: full bake since Flagger reached the stage, SLOs OK the whole stage, pods
  ready) still holds now — unless the grant was forced (`--force "<reason>"`, audited);
- confirm-promotion (and confirm-traffic-increase at the last stage's weight): the same with the
  grant for the promotion;
- rollback: 200 when the run was denied, aborted or auto-rolled back.

Event calls are posted in the run's thread once each (Flagger repeats them). Terminal phases
(Succeeded, Failed) are reconciled by `reconcile` on the worker pool, so Flagger gets its answer at
once. The decisions are the store's, so every replica answers the same.
"""

from __future__ import annotations

import hashlib
import logging
import os
from datetime import datetime, timedelta

from bot.core.audit import AuditOutcome, record
from bot.core.runtime import Runtime
from bot.features.canary import flow
from bot.features.canary import store as canary_store
from bot.features.canary.flagger import store
from bot.features.canary.flagger.messages import post_in_thread, post_run_message, update_run_message
from bot.features.canary.flagger.protocol import Answer, Hook, HookCall, authorized, halt, parse, proceed
from bot.features.canary.flagger.ref import (
    HOLDING_PHASES,
    canary_name,
    canary_namespace,
    canary_ref,
    promotion_step,
    stage_of_weight,
    step_weights,
    steps_mismatch,
    weights_problem,
)
from bot.features.canary.flagger.render import FlaggerEvent, FlaggerNote, short_checksum
from bot.features.canary.flagger.resources import (
    CanaryState,
    TargetRevision,
    primary_image,
    read_canary,
    read_target,
)
from bot.features.canary.flagger.store import FlaggerRun, Resolution, RunState, StepGrant
from bot.features.canary.inputs import gap_limit, slo_samples
from bot.features.releases.history import history as release_history
from commands.canary import PodCount, SloProblemKind, review_slos, short_image
from commands.cluster import ClusterError
from commands.last_stable import ReleaseOutcome
from commands.slo import SloState

log = logging.getLogger(__name__)

GATE_ACTOR = "bizra-bot (Flagger gate)"
# A revision that brings no new version (the target back on the primary's image, or — with the Canary's
# skipAnalysis, the emergency switch — an image released before): `/bizra rollback` and the by-hand path
# must not wait for a canary start, so every gate lets it through (recorded and audited as such).
RETURN_ACTOR = "bizra-bot (no new version)"
FLAGGER_ACTOR = "Flagger"


# -- the request -----------------------------------------------------------------------------------
def receive(runtime: Runtime, *, hook: str, body: bytes) -> Answer:
    """One webhook request, answered as Flagger reads answers (≤ 202 proceeds)."""
    if runtime.config.canary.engine != "flagger":
        return halt(f"bizra-bot runs canary.engine {runtime.config.canary.engine}, not flagger: it does not gate "
                    "Flagger canaries", status=404)
    try:
        kind = Hook(hook)
    except ValueError:
        return halt(f"unknown Flagger hook {hook[:40]!r}; the bot serves {', '.join(h.value for h in Hook)}",
                    status=404)
    call = parse(body)
    if isinstance(call, str):
        return halt(call, status=400)
    settings = runtime.config.canary.flagger
    if not authorized(call, key=settings.token_key, expected=os.environ.get(settings.token_env, "")):
        log.warning("Flagger %s webhook for %s/%s refused: missing or wrong token in metadata.%s", kind,
                    call.namespace[:63], call.name[:63], settings.token_key)
        return halt(f"forbidden: metadata.{settings.token_key} does not carry the token bizra-bot expects",
                    status=403)
    if (call.namespace, call.name) != (canary_namespace(runtime), settings.canary):
        return halt(f"bizra-bot gates the Canary {canary_ref(runtime)}, not {call.namespace}/{call.name}", status=404)
    problem = weights_problem(runtime)
    if problem:
        return halt(f"bizra-bot's config does not fit the Canary: {problem}", status=500)
    if kind is Hook.EVENT:
        return _event(runtime, call)
    return _gate(runtime, kind, call)


def _read(runtime: Runtime) -> tuple[CanaryState, TargetRevision]:
    cluster = runtime.cluster.get()
    canary = read_canary(cluster, namespace=canary_namespace(runtime), name=canary_name(runtime))
    target = read_target(cluster, namespace=canary.namespace, deployment=canary.target,
                         container=runtime.config.release.container)
    return canary, target


def _gate(runtime: Runtime, kind: Hook, call: HookCall) -> Answer:
    now = runtime.clock.now()
    try:
        canary, target = _read(runtime)
    except ClusterError as exc:
        if kind is Hook.ROLLBACK:  # a rollback decision needs no cluster: the store has it
            decided = store.by_checksum(runtime, namespace=call.namespace, name=call.name, checksum=call.checksum)
            return _rollback(decided)
        return halt(f"bizra-bot cannot read the Canary or its target, so it holds the canary: {exc}", status=503)
    mismatch = steps_mismatch(runtime, canary.step_weights)
    if mismatch and kind is not Hook.ROLLBACK:
        return halt(f"bizra-bot holds the canary: {mismatch}")
    resolution = store.resolve(runtime, namespace=call.namespace, name=call.name, checksum=call.checksum,
                               rollout=kind is Hook.CONFIRM_ROLLOUT, image=target.image,
                               template_hash=target.template_hash, canary_weight=canary.canary_weight, now=now)
    run = resolution.run
    if not resolution.stale:
        run = _after_resolve(runtime, resolution, canary=canary, target=target)
        run = _observe(runtime, run, canary=canary, now=now)
    if kind is Hook.ROLLBACK:
        answer = _rollback(run)
        if canary.phase in ("Succeeded", "Failed"):
            submit_reconcile(runtime)
        return answer
    if run.state is not RunState.APPROVED:
        return _not_approved(runtime, run)
    if run.decided_by == RETURN_ACTOR:
        return proceed(f"{short_image(run.image)} is no new version ({run.reason}): not gated")
    if kind is Hook.CONFIRM_ROLLOUT:
        return proceed(f"rollout of {short_image(run.image)} approved by {run.decided_by} at "
                       f"{run.decided_at:%H:%M:%S} UTC (checksum {short_checksum(run.checksum)})")
    weights = step_weights(runtime)
    weight = canary.canary_weight
    if kind is Hook.CONFIRM_PROMOTION:
        if weight != weights[-1]:
            return halt(f"Flagger asks to promote at {weight}% but the last bizra-bot stage is {weights[-1]}%; "
                        "promotion waits for that stage")
        return _granted(runtime, run, stage_index=len(weights) - 1, target=target, now=now)
    if weight == 0:
        return proceed(f"rollout approved by {run.decided_by}: stage 1 ({weights[0]}%) may begin")
    stage_index = stage_of_weight(runtime, weight)
    if stage_index is None:
        return halt(f"the Canary is at {weight}%, which is none of bizra-bot's stage weights {weights}; set "
                    "canary.flagger.step_weights to the Canary's analysis.stepWeights")
    return _granted(runtime, run, stage_index=stage_index, target=target, now=now)


def _rollback(run: FlaggerRun | None) -> Answer:
    if run is not None and run.state in store.ROLLBACK_STATES:
        return proceed(f"roll back: {run.state} by {run.decided_by}: {run.reason}")
    state = run.state if run is not None else "unknown to bizra-bot"
    return halt(f"no rollback: the run is {state}")


def _not_approved(runtime: Runtime, run: FlaggerRun) -> Answer:
    if run.state is RunState.WAITING:
        where = f" in {runtime.config.slack.release_channel}" if runtime.config.slack.release_channel else ""
        return halt(f"waiting for /bizra canary start (or Approve{where}) of {short_image(run.image)}, checksum "
                    f"{short_checksum(run.checksum)}")
    return halt(f"the run of {short_image(run.image)} is {run.state}"
                + (f" by {run.decided_by}: {run.reason}" if run.decided_by else "")
                + ("; the rollback hook rolls it back" if run.state in store.ROLLBACK_STATES else ""))


def _step_name(runtime: Runtime, step: int) -> str:
    weights = step_weights(runtime)
    return f"stage {step} ({weights[step - 1]}%)" if step <= len(weights) else "promotion"


def still_holds(runtime: Runtime, run: FlaggerRun, *, stage_index: int, grant: StepGrant, target: TargetRevision,
                now: datetime) -> str | None:
    """Why the policy no longer holds since the grant (None: it holds).

    The flow judged the stage when it granted the move (`check_promotion`: full bake, SLOs OK the
    whole stage, pods ready — or `--force`, audited). Until Flagger acts on it, the same SLO review
    of the stage (commands.canary `review_slos`, from when Flagger reached it) must show nothing new
    since the grant (no breach, no over-long UNKNOWN stretch), a known OK state now, and ready pods.
    """
    if run.observed_stage != stage_index or run.observed_at is None:
        return f"Flagger has not been seen holding at stage {stage_index + 1}"
    review = review_slos(slo_samples(runtime, start=run.observed_at, end=now), start=run.observed_at, end=now,
                         gap_limit=gap_limit(runtime))
    fresh = [problem for problem in review.problems if problem.end >= grant.granted_at]
    if fresh:
        problem = fresh[0]
        what = "an SLO breached" if problem.kind is SloProblemKind.BREACH else "the SLO state was UNKNOWN too long"
        return f"{what} since the grant ({problem.start:%H:%M:%S}–{problem.end:%H:%M:%S} UTC {problem.detail})".strip()
    if review.state_now is not SloState.OK:
        return f"the SLO state now is {review.state_now} ({review.detail_now})"
    pods = PodCount(ready=target.ready, desired=target.desired)
    if runtime.config.canary.require_ready and not pods.all_ready:
        return f"canary pods ready {pods.ready}/{pods.desired}"
    return None


def _granted(runtime: Runtime, run: FlaggerRun, *, stage_index: int, target: TargetRevision, now: datetime) -> Answer:
    step = stage_index + 2  # the 1-based stage Flagger wants to enter; len(stages) + 1 is the promotion
    name = _step_name(runtime, step)
    grant = store.granted(runtime, run.id, step=step)
    if grant is None:
        return halt(f"waiting for /bizra canary promote to {name} of {short_image(run.image)}: stage "
                    f"{stage_index + 1} needs its full bake with SLOs OK first")
    if grant.forced:  # the promote bypassed the policy on purpose (canary.force, audited): carried through as given
        return proceed(f"{name} forced by {grant.granted_by} at {grant.granted_at:%H:%M:%S} UTC: "
                       f"{grant.forced_reason}")
    problem = still_holds(runtime, run, stage_index=stage_index, grant=grant, target=target, now=now)
    if problem:
        return halt(f"{name} was granted at {grant.granted_at:%H:%M:%S} UTC but the policy no longer holds: {problem}")
    return proceed(f"{name} granted at {grant.granted_at:%H:%M:%S} UTC (/bizra canary promote); the policy holds")


# -- after resolving: the message, a void run, an adopted checksum, a stage reached ----------------
def _after_resolve(runtime: Runtime, resolution: Resolution, *, canary: CanaryState,
                   target: TargetRevision) -> FlaggerRun:
    run = resolution.run
    if resolution.superseded is not None:
        _void(runtime, resolution.superseded, by=run, canary=canary)
    if resolution.adopted_from is not None:
        note = (f"Flagger now reports checksum `{short_checksum(run.checksum)}` for this revision (it sent "
                f"`{short_checksum(resolution.adopted_from)}` at confirm-rollout, as Flagger releases before the "
                f"status sync do); the pod template `{run.template_hash}` is unchanged, so the approval stands.")
        _audit(runtime, action="flagger.checksum", before=resolution.adopted_from, after=run.checksum,
               outcome=AuditOutcome.OK, detail=f"run {run.id}: {note}")
        post_in_thread(runtime, run.id, FlaggerNote(text=f":link: {note}"))
    if resolution.created:
        _audit(runtime, action="flagger.run", before="", after={"run": run.id, "checksum": run.checksum,
               "image": run.image, "template_hash": run.template_hash}, outcome=AuditOutcome.REQUESTED,
               detail=f"Flagger asks to roll out {target.describe()} (phase {canary.phase or 'none'})")
        returning = _no_new_version(runtime, run, canary=canary)
        if returning and store.decide(runtime, run.id, to=RunState.APPROVED, frm=(RunState.WAITING,),
                                      by=RETURN_ACTOR, at=runtime.clock.now(), reason=returning):
            _audit(runtime, action="flagger.return", before={"run": run.id, "state": RunState.WAITING},
                   after={"run": run.id, "state": RunState.APPROVED}, outcome=AuditOutcome.OK,
                   detail=f"{run.image}: {returning}; every gate lets it through")
    if not run.posted and store.claim_post(runtime, run.id):
        post_run_message(runtime, run)
    return store.get(runtime, run.id) or run


def _no_new_version(runtime: Runtime, run: FlaggerRun, *, canary: CanaryState) -> str | None:
    """Why this revision brings no new version (None: it does, and is gated like any canary)."""
    try:
        serving = primary_image(runtime.cluster.get(), namespace=canary.namespace, primary=canary.primary,
                                container=runtime.config.release.container)
    except ClusterError:
        serving = ""
    if serving and serving == run.image:
        return f"the target is back on the image {canary.primary} serves"
    released = (ReleaseOutcome.COMPLETED, ReleaseOutcome.RESTORED)
    if canary.skip_analysis and any(record.image == run.image and record.outcome in released
                                    for record in release_history(runtime, 50)):
        return "a released image, with the Canary's skipAnalysis set (emergency rollback)"
    return None


def _void(runtime: Runtime, old: FlaggerRun, *, by: FlaggerRun, canary: CanaryState) -> None:
    """A new revision voids the old run: its message says so, and a canary run started for it ends."""
    reason = (f"Flagger reports a new revision (checksum {short_checksum(old.checksum)} → "
              f"{short_checksum(by.checksum)}, image {short_image(by.image)}): every approval of the old one is void")
    _audit(runtime, action="flagger.superseded", before={"run": old.id, "checksum": old.checksum},
           after={"run": by.id, "checksum": by.checksum}, outcome=AuditOutcome.OK, detail=reason)
    update_run_message(runtime, old.id)
    active = canary_store.load(runtime)
    if old.canary_id and active is not None and active.run.id == old.canary_id:
        flow.abort(runtime, actor=GATE_ACTOR, channel=runtime.config.slack.release_channel or active.run.channel,
                   reason=reason)


def _observe(runtime: Runtime, run: FlaggerRun, *, canary: CanaryState, now: datetime) -> FlaggerRun:
    """Note the first time Flagger holds at a stage's weight: that stage's bake starts then."""
    stage_index = stage_of_weight(runtime, canary.canary_weight)
    if stage_index is None or run.state is not RunState.APPROVED or canary.phase not in HOLDING_PHASES:
        return run
    if not store.observe_stage(runtime, run.id, stage=stage_index, at=now):
        return run
    weights = step_weights(runtime)
    note = f"Flagger holds at stage {stage_index + 1} ({weights[stage_index]}% of traffic); its bake starts now."
    post_in_thread(runtime, run.id, FlaggerNote(text=f":stopwatch: {note}"))
    _restart_bake(runtime, run, stage_index=stage_index, now=now, note=note)
    return store.get(runtime, run.id) or run


def _restart_bake(runtime: Runtime, run: FlaggerRun, *, stage_index: int, now: datetime, note: str) -> None:
    """The canary run's stage starts when Flagger got there, not when the promotion was granted."""
    active = canary_store.load(runtime)
    if active is None or active.run.id != run.canary_id or active.run.stage != stage_index:
        return
    timeout = runtime.config.canary.transition_timeout_seconds
    claim = canary_store.claim(runtime, kind="flagger-arrival", expected_stage=stage_index, now=now,
                               timeout=timedelta(seconds=timeout))
    if claim.token is None:
        return  # another transition holds the run; its stage start stands (conservative: the grant's moment)
    canary_store.advance(runtime, claim.token, stage=stage_index, stage_started_at=now, event=note)


# -- events ----------------------------------------------------------------------------------------
def _event(runtime: Runtime, call: HookCall) -> Answer:
    run = store.by_checksum(runtime, namespace=call.namespace, name=call.name, checksum=call.checksum)
    if run is None:
        return proceed("no bizra-bot run has this checksum yet; the event was not posted")
    message = call.event_message.strip()[:500] or "(no message)"
    digest = hashlib.sha256(f"{call.event_type}\n{message}".encode()).hexdigest()
    if not store.first_event(runtime, run.id, digest=digest, at=runtime.clock.now()):
        return proceed("already posted")
    post_in_thread(runtime, run.id, FlaggerEvent(run_id=run.id, canary=canary_ref(runtime), event_type=call.event_type,
                                              message=message, phase=call.phase))
    if call.phase in ("Succeeded", "Failed") or "completed" in message.lower() or "failed" in message.lower():
        submit_reconcile(runtime)
    return proceed("posted in the run's thread")


def _audit(runtime: Runtime, *, action: str, before: object, after: object, outcome: str, detail: str,
           actor: str = GATE_ACTOR) -> None:
    record(runtime, actor=actor, channel=runtime.config.slack.release_channel or "webhook",
           action=f"canary.{action}", target=canary_ref(runtime), before=before, after=after, outcome=outcome,
           detail=detail)


# -- terminal phases ---------------------------------------------------------------------------------
def submit_reconcile(runtime: Runtime) -> None:
    try:
        runtime.work.get().submit(lambda: reconcile(runtime))
    except Exception:  # no pool (a bare runtime) or a full one: reconcile here
        reconcile(runtime)


def reconcile(runtime: Runtime) -> None:
    """Finish the canary run when Flagger has: promoted (Succeeded) or rolled back on its own (Failed)."""
    try:
        _reconcile(runtime)
    except Exception:
        log.exception("reconciling the Flagger canary failed; the next webhook or status retries")


def _reconcile(runtime: Runtime) -> None:
    active = canary_store.load(runtime)
    if active is None or active.run.engine != "flagger":
        return
    run = store.by_canary(runtime, active.run.id)
    if run is None:
        return
    canary, _ = _read(runtime)
    channel = runtime.config.slack.release_channel or active.run.channel
    promotion = promotion_step(runtime)
    if canary.phase == "Succeeded" and run.state is RunState.APPROVED:
        granted = store.granted(runtime, run.id, step=promotion)
        if granted is not None:
            # The same promote as the one that asked for the promotion, by the same person and with the same
            # force: it re-checks the policy (as a completion waiting for the stable rollout does; a forced one
            # bypasses it again, audited with the reason given once) and records the release.
            flow.promote(runtime, actor=granted.granted_by, channel=channel,
                         force_reason=granted.forced_reason or None)
    elif canary.phase == "Failed" and run.state is RunState.APPROVED:
        checks = f"{canary.failed_checks} failed checks" + (f" of {canary.threshold}" if canary.threshold else "")
        reason = f"Flagger rolled the canary back on its own (phase Failed, {checks})"
        if store.decide(runtime, run.id, to=RunState.FAILED, frm=(RunState.APPROVED,), by=FLAGGER_ACTOR,
                        at=runtime.clock.now(), reason=reason):
            flow.abort(runtime, actor=FLAGGER_ACTOR, channel=channel, reason=reason)
            update_run_message(runtime, run.id)
