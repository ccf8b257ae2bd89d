"""The `flagger` canary engine: Flagger moves the traffic, the bot records what Flagger may do next.

What flows through: the canary flow (bot/features/canary/flow.py) calls this engine with the run
it holds the claim for, after the promotion policy decided; each method records a decision in the
Flagger store that the webhooks (gate.py) then answer from, or reads the Canary's status:

- `begin`: the waiting Flagger run of this image is approved (confirm-rollout answers 200, then
  confirm-traffic-increase at weight 0: stage 1 begins); the approval is bound to the run's checksum
  and to the target revision (image, pod-template hash) read from the cluster;
- `advance`: the move into the next stage is granted for this run (confirm-traffic-increase at
  the stage's weight answers 200 while the policy still holds);
- `complete`: the promotion is granted (confirm-promotion); DONE once Flagger reports Succeeded;
- `abort`: the rollback hook answers 200 for this run;
- `observe`: the Canary's status (phase, canaryWeight, iterations, failedChecks, conditions,
  lastTransitionTime), the target's pods, and whether Flagger holds at the run's stage.

A run whose revision Flagger no longer rolls out (a new checksum or pod template) refuses every step
with `RevisionChanged`: an approval never carries over to another revision.
"""

from __future__ import annotations

from bot.core.runtime import Runtime
from bot.features.canary.flagger import store
from bot.features.canary.flagger.messages import post_in_thread, update_run_message
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
from bot.features.canary.flagger.render import FlaggerNote, short_checksum
from bot.features.canary.flagger.resources import (
    CanaryState,
    TargetRevision,
    primary_image,
    read_canary,
    read_target,
)
from bot.features.canary.flagger.store import FlaggerRun, RunState
from commands.canary import CanaryRun, Completion, CompletionStep, PodCount, Stage, short_image
from commands.canary_engine import (
    EngineCondition,
    EngineFailed,
    EngineKind,
    EngineObservation,
    EnginePhase,
    EngineStep,
    Grant,
    MessageRef,
    Revision,
    RevisionChanged,
)
from commands.cluster import ClusterError

BOT = "bizra-bot"
_PHASES = {
    "": EnginePhase.IDLE, "Initializing": EnginePhase.IDLE, "Initialized": EnginePhase.IDLE,
    "Waiting": EnginePhase.PROGRESSING, "Progressing": EnginePhase.PROGRESSING,
    "WaitingPromotion": EnginePhase.PAUSED, "Promoting": EnginePhase.PROGRESSING,
    "Finalising": EnginePhase.PROGRESSING, "Succeeded": EnginePhase.COMPLETED, "Failed": EnginePhase.ABORTED,
}


def revision_of(run: FlaggerRun) -> Revision:
    return Revision(image=run.image, pod_hash=run.template_hash, checksum=run.checksum)


class FlaggerEngine:
    kind = EngineKind.FLAGGER
    stable_label = "Flagger's primary Deployment"

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    # -- reads ------------------------------------------------------------------------------------
    def _read(self) -> tuple[CanaryState, TargetRevision]:
        cluster = self._runtime.cluster.get()
        canary = read_canary(cluster, namespace=canary_namespace(self._runtime), name=canary_name(self._runtime))
        target = read_target(cluster, namespace=canary.namespace, deployment=canary.target,
                             container=self._runtime.config.release.container)
        return canary, target

    def _current(self) -> FlaggerRun | None:
        return store.current(self._runtime, namespace=canary_namespace(self._runtime), name=canary_name(self._runtime))

    def _bound(self, run: CanaryRun) -> FlaggerRun:
        """The Flagger run this canary run approved, still the one Flagger rolls out (RevisionChanged otherwise)."""
        bound = store.by_canary(self._runtime, run.id)
        if bound is None:
            raise EngineFailed(f"No Flagger run is bound to canary `{run.id}`; abort it and start the one Flagger "
                               "asks about.", failed=f"Canary {canary_ref(self._runtime)}")
        current = self._current()
        if bound.state is RunState.SUPERSEDED or current is None or current.id != bound.id:
            found = revision_of(current) if current else Revision()
            raise RevisionChanged(
                f"Flagger now rolls out another revision of Canary {canary_ref(self._runtime)} (checksum "
                f"`{short_checksum(found.checksum)}`, image `{short_image(found.image)}`) than the one approved for "
                f"canary `{run.id}` (checksum `{short_checksum(bound.checksum)}`): that approval is void. Nothing was "
                "granted; start the new revision from its own message.", approved=revision_of(bound), found=found)
        return bound

    def _grant(self, bound: FlaggerRun, *, step: int, grant: Grant) -> None:
        """Record the step for the webhook: who granted it, and the force reason when the policy was bypassed.

        A forced step also forces the step into the stage the run is recorded at, when Flagger has not taken
        it yet (its grant held at the webhook, e.g. by a breach since the grant): the force carries Flagger
        through to where the promote records the run, instead of granting a step Flagger never gets to.
        """
        now, reason = self._runtime.clock.now(), grant.forced_reason or ""
        held = step - 1  # the step into the run's recorded stage (1-based); step 1 is the start, not a grant
        if grant.forced and held >= 2 and bound.observed_stage < held - 1:
            store.grant(self._runtime, bound.id, step=held, by=grant.actor, at=now, forced_reason=reason)
        store.grant(self._runtime, bound.id, step=step, by=grant.actor, at=now, forced_reason=reason)

    # -- the port ---------------------------------------------------------------------------------
    def stable_image(self) -> str:
        canary = read_canary(self._runtime.cluster.get(), namespace=canary_namespace(self._runtime),
                             name=canary_name(self._runtime))
        return primary_image(self._runtime.cluster.get(), namespace=canary.namespace, primary=canary.primary,
                             container=self._runtime.config.release.container)

    def check_start(self, image: str) -> list[str]:
        problem = weights_problem(self._runtime)
        if problem:
            return [problem]
        ref = canary_ref(self._runtime)
        try:
            canary, target = self._read()
        except ClusterError as exc:
            return [str(exc)]
        mismatch = steps_mismatch(self._runtime, canary.step_weights)
        if mismatch:
            return [mismatch[0].upper() + mismatch[1:] + "."]
        waiting = self._current()
        if waiting is None:
            return [f"Flagger has not asked to roll out anything: no webhook call of Canary {ref} has reached the bot. "
                    "Set the new image on the Canary's target Deployment; Flagger asks at its next analysis interval "
                    "and the run's message appears in the release channel."]
        if waiting.state is not RunState.WAITING:
            return [f"Flagger's current run of Canary {ref} (`{short_image(waiting.image)}`) is {waiting.state}, not "
                    "waiting for a start" + (f" ({waiting.reason})" if waiting.reason else "") + "."]
        if image != waiting.image:
            return [f"Flagger asks to roll out `{waiting.image}`, not `{image}`: start that image, or set `{image}` "
                    f"on the Canary's target Deployment and wait for Flagger to ask."]
        if target.image != waiting.image or target.template_hash != waiting.template_hash:
            return [f"The target Deployment changed since Flagger asked (it now runs {target.describe()}); wait for "
                    "Flagger's next call, which opens a run for the new revision."]
        return []

    def check_advance(self, run: CanaryRun, *, from_stage: Stage, to_stage: Stage | None) -> list[str]:
        try:
            self._bound(run)
        except (EngineFailed, RevisionChanged) as exc:
            return [str(exc)]
        return []

    def check_abort(self, run: CanaryRun) -> list[str]:
        return []

    def begin(self, run: CanaryRun, stage: Stage) -> EngineStep:
        waiting = self._current()
        ref = canary_ref(self._runtime)
        if waiting is None or waiting.image != run.image:
            raise EngineFailed(f"Flagger no longer asks to roll out `{run.image}` on Canary {ref}.",
                               failed=f"Canary {ref}")
        if not store.decide(self._runtime, waiting.id, to=RunState.APPROVED, frm=(RunState.WAITING,),
                            by=run.started_by, at=self._runtime.clock.now(), canary_id=run.id):
            fresh = store.get(self._runtime, waiting.id) or waiting
            raise EngineFailed(f"Flagger's run `{waiting.id}` is {fresh.state} already"
                               + (f" (by {fresh.decided_by})" if fresh.decided_by else "") + "; nothing was approved.",
                               failed=f"Flagger run {waiting.id}")
        update_run_message(self._runtime, waiting.id)
        weights = step_weights(self._runtime)
        return EngineStep(
            applied=[f"approval of Flagger run {waiting.id} (checksum {short_checksum(waiting.checksum)})"],
            source=f"Canary {ref} confirm-rollout", revision=revision_of(waiting),
            note=f"Flagger's next confirm-rollout proceeds (within its analysis interval); stage 1's bake starts when "
                 f"Flagger holds at {weights[stage.index]}%.")

    def advance(self, run: CanaryRun, *, from_stage: Stage, to_stage: Stage, grant: Grant) -> EngineStep:
        bound = self._bound(run)
        weights = step_weights(self._runtime)
        self._grant(bound, step=to_stage.number, grant=grant)
        holds = (f"forced by <@{grant.actor}> ({grant.forced_reason}), it is not re-checked" if grant.forced
                 else "while the policy holds")
        post_in_thread(self._runtime, bound.id, FlaggerNote(
            text=f":arrow_forward: Stage {to_stage.number} ({weights[to_stage.index]}%) granted: Flagger's next "
                 f"confirm-traffic-increase proceeds {holds}."))
        return EngineStep(applied=[f"grant of stage {to_stage.number} to Flagger run {bound.id}"],
                          source=f"Canary {canary_ref(self._runtime)} confirm-traffic-increase",
                          revision=revision_of(bound),
                          note=f"Flagger shifts to {weights[to_stage.index]}% at its next analysis interval; the "
                               "stage's bake starts when it holds there.")

    def complete(self, run: CanaryRun, stage: Stage, *, grant: Grant) -> Completion:
        bound = self._bound(run)
        ref = canary_ref(self._runtime)
        step = promotion_step(self._runtime)
        self._grant(bound, step=step, grant=grant)
        applied = [f"grant of the promotion to Flagger run {bound.id}"]
        try:
            canary, _ = self._read()
            primary = self._runtime.cluster.get().read_deployment(namespace=canary.namespace, name=canary.primary)
        except ClusterError as exc:
            raise EngineFailed(str(exc), failed=f"Canary {ref}", applied=applied) from exc
        if canary.phase == "Succeeded":
            store.decide(self._runtime, bound.id, to=RunState.COMPLETED, frm=(RunState.APPROVED,), by=BOT,
                         at=self._runtime.clock.now(), reason="Flagger promoted it")
            update_run_message(self._runtime, bound.id)
            return Completion(step=CompletionStep.DONE, stable_ready=primary.ready_replicas,
                              stable_desired=primary.desired_replicas, applied=[f"Deployment/{canary.primary}"],
                              source=f"Flagger's promotion of Canary {ref}")
        return Completion(step=CompletionStep.STABLE_ROLLING_OUT, stable_ready=primary.ready_replicas,
                          stable_desired=primary.desired_replicas, applied=applied,
                          source=f"Canary {ref} confirm-promotion")

    def abort(self, run: CanaryRun, *, grant: Grant) -> EngineStep:
        bound = store.by_canary(self._runtime, run.id)
        ref = canary_ref(self._runtime)
        if bound is None:
            return EngineStep(source=f"Canary {ref}",
                              note="No Flagger run was bound to this canary: nothing to roll back.")
        if store.decide(self._runtime, bound.id, to=RunState.ABORTED, frm=(RunState.APPROVED, RunState.WAITING),
                        by=grant.actor or BOT, at=self._runtime.clock.now(),
                        reason=grant.reason or "the canary run was aborted"):
            update_run_message(self._runtime, bound.id)
            return EngineStep(applied=[f"rollback decision for Flagger run {bound.id}"],
                              source=f"Canary {ref} rollback hook", revision=revision_of(bound),
                              note="Flagger's next rollback check (every analysis interval) answers 200: Flagger "
                                   "routes all traffic to the primary and scales the canary to zero.")
        fresh = store.get(self._runtime, bound.id) or bound
        return EngineStep(source=f"Canary {ref}", revision=revision_of(fresh),
                          note=f"Flagger's run `{bound.id}` is {fresh.state} already: nothing more to roll back.")

    def observe(self, run: CanaryRun | None) -> EngineObservation:
        ref = canary_ref(self._runtime)
        try:
            canary, target = self._read()
            stable = self.stable_image()
        except (ClusterError, RuntimeError) as exc:
            return EngineObservation(engine=self.kind, phase=EnginePhase.UNKNOWN, error=str(exc),
                                     resource=f"Canary {ref}")
        flagger_run = store.by_canary(self._runtime, run.id) if run is not None else self._current()
        stage_index = stage_of_weight(self._runtime, canary.canary_weight)
        paused = stage_index is not None and canary.phase in HOLDING_PHASES
        phase = _PHASES.get(canary.phase, EnginePhase.UNKNOWN)
        if paused:
            phase = EnginePhase.PAUSED
        if canary.phase in ("Promoting", "Finalising", "Succeeded") and run is not None:
            stage_index = len(step_weights(self._runtime)) - 1
            paused = canary.phase == "Succeeded"  # finished: the completion may be recorded now
        checksum = flagger_run.checksum if flagger_run is not None else ""
        threshold = f"/{canary.threshold}" if canary.threshold else ""
        # No run: Flagger may hold a revision at confirm-rollout, waiting for `/bizra canary start` or Approve.
        waiting = flagger_run if run is None and flagger_run is not None and flagger_run.state is RunState.WAITING \
            else None
        return EngineObservation(
            awaiting=revision_of(waiting) if waiting else None,
            awaiting_message=MessageRef(channel=waiting.message_channel, ts=waiting.message_ts)
            if waiting and waiting.message_ts else None,
            engine=self.kind, phase=phase, weight=canary.canary_weight, stage_index=stage_index, paused=paused,
            revision=Revision(image=target.image, pod_hash=target.template_hash, checksum=checksum),
            stable_revision=Revision(image=stable),
            pods=PodCount(ready=target.ready, desired=target.desired),
            conditions=[EngineCondition(type=c.type, status=c.status, reason=c.reason, message=c.message,
                                        last_transition=c.last_transition) for c in canary.conditions],
            message=f"Flagger phase {canary.phase or 'none'} at {canary.canary_weight}% (iterations "
                    f"{canary.iterations}, failed checks {canary.failed_checks}{threshold})",
            last_transition=canary.last_transition, resource=f"Canary {ref}")
