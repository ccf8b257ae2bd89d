"""The `argo-rollouts` engine: the Argo Rollouts controller moves the traffic, the bot holds each stage.

What flows through: the Rollout named `canary.argo_rollouts.rollout` in `release.namespace`
(ops/canary/argo-rollouts/), read and patched through the `Cluster` port (`commands.argo_rollouts`
builds the patches). The flow has decided before any method here runs; this module only carries
the decision out and follows the controller:

- begin: after the gates passed, set the approved image on the Rollout's pod template (what a
  CD would do), then follow the controller to the first pause (10%); the revision it created
  (`status.currentPodHash`, the ReplicaSet holding exactly that image) is what the run approves;
- advance: what `kubectl argo rollouts promote` does (clear the pause), only while
  `status.currentPodHash` is the approved hash, conditioned on the resourceVersion read. A 409
  re-reads and re-checks; a new pod hash raises `RevisionChanged` (the approval is void and
  nothing is promoted); then follow to the next pause (50%), or to the end (100%, the new
  ReplicaSet becomes stable);
- complete: the controller finished already at the 100% stage; completion checks that the
  stable ReplicaSet is the approved hash and reports it;
- abort: `status.abort: true` (as `kubectl argo rollouts abort`: all traffic to the stable
  ReplicaSet), then the pod template back to the stable image so the Rollout is Healthy again
  (the controller goes straight back to the stable ReplicaSet). At the 100% stage the canary
  already is stable, so abort sets the template back to the image that was stable at start
  (`rollbackWindow` in the Rollout makes that immediate);
- observe: the Rollout's status (phase, message, currentStepIndex, pauseConditions,
  currentPodHash, stableRS, canary weight, conditions) and the canary ReplicaSet's pods.

Following is bounded by `canary.argo_rollouts.follow_seconds` (real time, polls every
`poll_seconds`); a controller that has not reached the stage by then leaves the stage unreached,
and the policy refuses promotion until `observe` shows the pause.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bot.core.runtime import Runtime
from bot.features.canary.inputs import stages
from commands.argo_rollouts import (
    API_VERSION,
    KIND,
    POD_HASH_LABEL,
    RolloutCluster,
    RolloutPosition,
    RolloutState,
    StageStop,
    abort_patch,
    image_patch,
    parse_time,
    position,
    promote_patches,
    replica_set_image,
    replica_set_pods,
    rollout_state,
    stage_stops,
)
from commands.canary import CanaryRun, Completion, CompletionStep, PodCount, Stage, short_image
from commands.canary_engine import (
    EngineCondition,
    EngineFailed,
    EngineKind,
    EngineObservation,
    EnginePhase,
    EngineStep,
    Grant,
    Revision,
    RevisionChanged,
)
from commands.cluster import ClusterError, ClusterErrorKind, KubeObject

log = logging.getLogger(__name__)


class ArgoRolloutsEngine:
    kind = EngineKind.ARGO_ROLLOUTS
    stable_label = "The Rollout"

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._settings = runtime.config.canary.argo_rollouts
        self._namespace = runtime.config.release.namespace
        self._container = runtime.config.release.container
        self._name = self._settings.rollout
        self._retries = runtime.config.release.kube.conflict_retries

    # -- reading ----------------------------------------------------------------------------------
    @property
    def resource(self) -> str:
        return f"Rollout {self._namespace}/{self._name}"

    def _cluster(self) -> RolloutCluster:
        cluster = self._runtime.cluster.get()
        if not isinstance(cluster, RolloutCluster):
            raise ClusterError("The cluster adapter cannot patch Rollouts (no patch_object).",
                               kind=ClusterErrorKind.UNSUPPORTED)
        return cluster

    def _read(self) -> tuple[KubeObject, RolloutState]:
        obj = self._cluster().read_object(api_version=API_VERSION, kind=KIND, namespace=self._namespace,
                                          name=self._name)
        if obj is None:
            raise ClusterError(f"{self.resource} does not exist. Apply ops/canary/argo-rollouts/ (or set "
                               "canary.argo_rollouts.rollout) and make sure Argo Rollouts is installed.",
                               kind=ClusterErrorKind.NOT_FOUND, status=404)
        return obj, rollout_state(obj)

    def _stops(self, state: RolloutState) -> tuple[list[StageStop], list[str]]:
        return stage_stops(state.steps, [stage.weight for stage in stages(self._runtime)])

    def _replica_set_image(self, pod_hash: str) -> str | None:
        if not pod_hash:
            return None
        found = self._cluster().list_replica_sets(namespace=self._namespace, selector=f"{POD_HASH_LABEL}={pod_hash}")
        return replica_set_image(found, pod_hash=pod_hash, container=self._container)

    def _pods(self, pod_hash: str) -> PodCount:
        if not pod_hash:
            return PodCount(ready=0, desired=0, error=f"{self.resource} reports no current pod hash yet")
        found = self._cluster().list_replica_sets(namespace=self._namespace, selector=f"{POD_HASH_LABEL}={pod_hash}")
        counted = replica_set_pods(found, pod_hash=pod_hash)
        if counted is None:
            return PodCount(ready=0, desired=0, error=f"no ReplicaSet with {POD_HASH_LABEL}={pod_hash}")
        ready, desired = counted
        return PodCount(ready=ready, desired=desired)

    def _revision(self, state: RolloutState) -> Revision:
        image = self._replica_set_image(state.current_pod_hash) or state.images.get(self._container, "")
        return Revision(image=image, pod_hash=state.current_pod_hash)

    def _check_revision(self, run: CanaryRun, state: RolloutState) -> None:
        """RevisionChanged unless the Rollout's current revision is the one approved for this run."""
        found = self._revision(state)
        approved = Revision(image=run.image, pod_hash=run.revision)
        same_hash = not run.revision or state.current_pod_hash == run.revision
        if same_hash and found.image == run.image:
            return
        raise RevisionChanged(
            f"{self.resource} now runs another revision (pod hash `{state.current_pod_hash or 'none'}`, image "
            f"`{short_image(found.image)}`) than the one approved for this run (pod hash `{run.revision or '?'}`, "
            f"`{short_image(run.image)}`): a new pod template replaced it mid-run, so the approval is void and nothing "
            "was promoted.", approved=approved, found=found)

    # -- following the controller ------------------------------------------------------------------
    def _follow(self, done: Callable[[RolloutState], bool]) -> RolloutState | None:
        """Read until `done(state)` or `follow_seconds` passed (None then); real time, bounded."""
        deadline = time.monotonic() + self._settings.follow_seconds
        pause = threading.Event()
        while True:
            try:
                _, state = self._read()
            except ClusterError as exc:
                log.warning("following %s: %s", self.resource, exc)
                state = None
            if state is not None and done(state):
                return state
            if time.monotonic() >= deadline:
                return None
            pause.wait(self._settings.poll_seconds)  # real time: the controller reconciles on its own schedule

    def _at(self, stage_index: int, *, image: str) -> Callable[[RolloutState], bool]:
        def reached(state: RolloutState) -> bool:
            stops, _ = self._stops(state)
            where: RolloutPosition = position(state, stops)
            return (where.stage_index == stage_index and where.paused and bool(state.current_pod_hash)
                    and self._replica_set_image(state.current_pod_hash) == image)
        return reached

    def _follow_note(self, stage: Stage, reached: RolloutState | None) -> str:
        if reached is None:
            return (f"{self.resource} has not reached stage {stage.number} ({stage.weight}%) within "
                    f"{self._settings.follow_seconds:g}s; promotion waits until the controller holds there "
                    "(`/bizra canary status`).")
        if stage.weight == 100:
            return f"{self.resource} finished its steps: 100% on pod hash `{reached.current_pod_hash}`, now stable."
        return (f"{self.resource} holds at {stage.weight}% (step {reached.current_step_index}, pod hash "
                f"`{reached.current_pod_hash}`).")

    # -- patches ----------------------------------------------------------------------------------
    def _patch(self, patch: KubeObject, *, subresource: str | None = None) -> KubeObject:
        return self._cluster().patch_object(api_version=API_VERSION, kind=KIND, namespace=self._namespace,
                                            name=self._name, patch=patch, subresource=subresource)

    def _set_image(self, image: str, *, only_if: Callable[[RolloutState], str | None]) -> bool:
        """Set the template's image, conditioned on the resourceVersion read; a 409 re-reads and asks `only_if`
        again (a refusal sentence, or None to go on). False: it already ran `image`."""
        for attempt in range(self._retries + 1):
            obj, state = self._read()
            if state.images.get(self._container) == image:
                return False
            refusal = only_if(state)
            if refusal:
                raise EngineFailed(refusal, failed=f"Rollout/{self._name}")
            try:
                self._patch(image_patch(obj, container=self._container, image=image))
            except ClusterError as exc:
                if exc.kind is ClusterErrorKind.CONFLICT and attempt < self._retries:
                    continue
                raise EngineFailed(str(exc), failed=f"Rollout/{self._name}") from exc
            return True
        raise AssertionError("unreachable")  # the loop returns or raises

    # -- the port ---------------------------------------------------------------------------------
    def stable_image(self) -> str:
        _, state = self._read()
        if state.stable_rs:
            image = self._replica_set_image(state.stable_rs)
            if image:
                return image
        return state.images.get(self._container, "")

    def check_start(self, image: str) -> list[str]:
        try:
            _, state = self._read()
        except ClusterError as exc:
            return [str(exc)]
        _, problems = self._stops(state)
        reasons = []
        if problems:
            reasons.append(f"The canary steps of {self.resource} do not match canary.stages: {'; '.join(problems)}. "
                           "Use the steps in ops/canary/argo-rollouts/rollout.yaml.")
        if self._container not in state.images:
            reasons.append(f"{self.resource} has no container `{self._container}`; check release.container.")
        if state.current_pod_hash and state.current_pod_hash != state.stable_rs:
            reasons.append(f"{self.resource} is in the middle of another update (pod hash `{state.current_pod_hash}`, "
                           f"phase {state.phase or '?'}): finish or abort it first (`kubectl argo rollouts status "
                           f"{self._name} -n {self._namespace}`).")
        return reasons

    def check_advance(self, run: CanaryRun, *, from_stage: Stage, to_stage: Stage | None) -> list[str]:
        return []

    def check_abort(self, run: CanaryRun) -> list[str]:
        return []

    def begin(self, run: CanaryRun, stage: Stage) -> EngineStep:
        def still_settled(state: RolloutState) -> str | None:
            if state.current_pod_hash and state.current_pod_hash != state.stable_rs:
                return (f"{self.resource} started another update meanwhile (pod hash `{state.current_pod_hash}`); "
                        "nothing was changed.")
            return None

        self._set_image(run.image, only_if=still_settled)
        applied = [f"Rollout/{self._name} image {short_image(run.image)}"]
        reached = self._follow(self._at(stage.index, image=run.image))
        revision = Revision(image=run.image, pod_hash=reached.current_pod_hash) if reached else None
        return EngineStep(applied=applied, source=self.resource, revision=revision,
                          note=self._follow_note(stage, reached))

    def advance(self, run: CanaryRun, *, from_stage: Stage, to_stage: Stage, grant: Grant) -> EngineStep:
        for attempt in range(self._retries + 1):
            _, state = self._read()
            self._check_revision(run, state)
            stops, _ = self._stops(state)
            where = position(state, stops)
            if where.stage_index != from_stage.index or not where.paused:
                raise EngineFailed(f"{self.resource} is not holding at stage {from_stage.number} (phase "
                                   f"{state.phase or '?'}, step {state.current_step_index}); nothing was promoted.",
                                   failed=f"Rollout/{self._name}")
            status_patch, spec_patch = promote_patches(state)
            try:
                if status_patch is not None:
                    state = rollout_state(self._patch(status_patch, subresource="status"))
                if spec_patch is not None:
                    spec_patch["metadata"] = {"resourceVersion": state.resource_version}
                    self._patch(spec_patch)
            except ClusterError as exc:
                if exc.kind is ClusterErrorKind.CONFLICT and attempt < self._retries:
                    log.info("409 promoting %s; re-reading and re-checking (%d)", self.resource, attempt + 1)
                    continue
                if exc.kind is ClusterErrorKind.CONFLICT:
                    _, latest = self._read()
                    self._check_revision(run, latest)  # say so when the revision changed under every retry
                raise EngineFailed(str(exc), failed=f"Rollout/{self._name}") from exc
            break
        reached = self._follow(self._at(to_stage.index, image=run.image))
        return EngineStep(applied=[f"Rollout/{self._name} promoted (pause at step {state.current_step_index} "
                                   "cleared)"], source=self.resource,
                          revision=Revision(image=run.image, pod_hash=run.revision),
                          note=self._follow_note(to_stage, reached))

    def complete(self, run: CanaryRun, stage: Stage, *, grant: Grant) -> Completion:
        try:
            _, state = self._read()
        except ClusterError as exc:
            raise EngineFailed(str(exc), failed=f"Rollout/{self._name}") from exc
        self._check_revision(run, state)
        if not state.complete:
            return Completion(step=CompletionStep.STABLE_ROLLING_OUT, stable_ready=state.available_replicas,
                              stable_desired=state.replicas_desired, source=self.resource)
        return Completion(step=CompletionStep.DONE, stable_ready=state.available_replicas,
                          stable_desired=state.replicas_desired, source=self.resource,
                          applied=[f"Rollout/{self._name} stable at pod hash {state.stable_rs}"])

    def abort(self, run: CanaryRun, *, grant: Grant) -> EngineStep:
        try:
            _, state = self._read()
        except ClusterError as exc:
            raise EngineFailed(str(exc), failed=f"Rollout/{self._name}") from exc
        back_to = run.stable_image
        if state.complete and state.images.get(self._container) == run.image and back_to and back_to != run.image:
            return self._undo_completion(run, back_to)
        applied: list[str] = []
        if state.current_pod_hash != state.stable_rs and not state.abort:
            applied.append(self._abort_update())
        note = ""

        def still_ours(now: RolloutState) -> str | None:
            # Someone else's template (a CD pushed another image mid-run) is theirs to set back: the update is
            # aborted (traffic on stable, the safe side), the template is left alone.
            if now.images.get(self._container) != run.image:
                return (f"the pod template names `{short_image(now.images.get(self._container, ''))}`, not this "
                        "run's image; it was left as it is.")
            return None

        if back_to and back_to != run.image:
            try:
                if self._set_image(back_to, only_if=still_ours):
                    applied.append(f"Rollout/{self._name} image back to {short_image(back_to)}")
            except EngineFailed as failed:  # traffic is on stable already: the abort stands, the template lags
                note = (f"Traffic is back on the stable ReplicaSet; the pod template was not set back: {failed.error} "
                        f"(`kubectl argo rollouts undo {self._name} -n {self._namespace}` sets it back by hand).")
        settled = self._follow(lambda s: s.abort or s.current_pod_hash == s.stable_rs)
        if not note:
            note = (f"{self.resource}: all traffic on the stable ReplicaSet `{settled.stable_rs}`." if settled else
                    f"{self.resource} has not confirmed the abort within {self._settings.follow_seconds:g}s; "
                    "`/bizra rollback` or `kubectl argo rollouts status` to check.")
        return EngineStep(applied=applied, source=self.resource, note=note)

    def _abort_update(self) -> str:
        for attempt in range(self._retries + 1):
            _, state = self._read()
            try:
                self._patch(abort_patch(state), subresource="status")
            except ClusterError as exc:
                if exc.kind is ClusterErrorKind.CONFLICT and attempt < self._retries:
                    continue  # aborting is safe whatever revision is in flight: re-read and send it again
                raise EngineFailed(str(exc), failed=f"Rollout/{self._name}") from exc
            return f"Rollout/{self._name} status.abort=true"
        raise AssertionError("unreachable")

    def _undo_completion(self, run: CanaryRun, back_to: str) -> EngineStep:
        """The canary became stable at the 100% stage: put the previous stable image back on the template."""
        def ours(state: RolloutState) -> str | None:
            if run.revision and state.current_pod_hash != run.revision:
                return (f"{self.resource} runs pod hash `{state.current_pod_hash}`, not this run's "
                        f"`{run.revision}`: someone changed it meanwhile; nothing was changed.")
            return None

        self._set_image(back_to, only_if=ours)
        settled = self._follow(lambda s: s.complete and self._replica_set_image(s.stable_rs) == back_to)
        note = (f"{self.resource} is back on `{short_image(back_to)}` (pod hash `{settled.stable_rs}`)." if settled
                else f"{self.resource} is going back to `{short_image(back_to)}`; `/bizra canary status` or "
                     "`kubectl argo rollouts status` shows when it is done.")
        return EngineStep(applied=[f"Rollout/{self._name} image back to {short_image(back_to)}"],
                          source=self.resource, note=note)

    def observe(self, run: CanaryRun | None) -> EngineObservation:
        try:
            _, state = self._read()
            stops, problems = self._stops(state)
            where = position(state, stops)
            revision = self._revision(state) if state.current_pod_hash else None
            stable = Revision(image=self._replica_set_image(state.stable_rs) or "", pod_hash=state.stable_rs) \
                if state.stable_rs else None
            pods = self._pods(state.current_pod_hash)
        except ClusterError as exc:
            return EngineObservation(engine=self.kind, phase=EnginePhase.UNKNOWN, resource=self.resource,
                                     pods=PodCount(ready=0, desired=0, error=str(exc)), error=str(exc))
        conditions = [EngineCondition(type=str(c.get("type", "")), status=str(c.get("status", "")),
                                      reason=str(c.get("reason") or ""), message=str(c.get("message") or ""),
                                      last_transition=parse_time(c.get("lastTransitionTime")))
                      for c in state.conditions]
        moments = [c.last_transition for c in conditions if c.last_transition] + (
            [state.pause_started] if state.pause_started else [])
        message = state.message or "; ".join(problems)
        return EngineObservation(
            engine=self.kind, phase=_phase(state, run), weight=where.weight, stage_index=where.stage_index,
            paused=where.paused, revision=revision, stable_revision=stable, pods=pods, conditions=conditions,
            message=f"phase {state.phase or '?'}, step {state.current_step_index}/{state.step_count}"
                    + (f": {message}" if message else ""),
            last_transition=max(moments) if moments else None, resource=self.resource)


def _phase(state: RolloutState, run: CanaryRun | None) -> EnginePhase:
    if state.abort:
        return EnginePhase.ABORTED
    if state.phase == "Degraded":
        return EnginePhase.DEGRADED
    if state.complete:
        return EnginePhase.COMPLETED if run is not None and state.images else EnginePhase.IDLE
    if state.phase == "Paused" or state.holding_pause:
        return EnginePhase.PAUSED
    return EnginePhase.PROGRESSING
