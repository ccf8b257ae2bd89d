"""Argo Rollouts, read and written the way `kubectl argo rollouts` does: pure, over the `Cluster` port.

What flows through: a `Rollout` (argoproj.io/v1alpha1) as the API's JSON comes in and becomes a
`RolloutState` (spec: pod template images, canary steps, `spec.paused`; status: phase, message,
currentStepIndex, pauseConditions, currentPodHash, stableRS, abort, canary weights, replica
counts, conditions). Out go the merge patches `kubectl argo rollouts` sends, each carrying the
resourceVersion that was read (so a write after someone else's change is a 409, never a
promotion of what was not checked):

- promote: status `{"pauseConditions": null}` when the controller holds a pause (and spec
  `{"paused": false}` when someone paused the Rollout by hand) — kubectl's default promote;
- abort: status `{"abort": true}` (`kubectl argo rollouts abort`);
- set image: the pod template's container list with one image changed (what a CD does).

How the Rollout's steps map onto the seed's stages (`canary.stages`, weights 10/50/100): a stage
of weight W < 100 is the `pause: {}` step that follows `setWeight: W`; the controller holds there
with `pauseConditions: [{reason: CanaryPauseStep}]` until promoted. The stage of weight 100 is the
end of the steps: the controller sends all traffic to the new ReplicaSet and makes it the stable
one (`stableRS == currentPodHash`, phase Healthy); its bake runs on the new stable revision, and
`abort` there sets the pod template back to the previous stable image (`rollbackWindow` makes the
controller go back at once, without the steps).

`RolloutWorkload` presents the Rollout as a Deployment to the rollback (commands/rollback.py):
reading it gives a `DeploymentState` (images of the pod template, replica counts, "rolled out"
meaning Healthy with the stable ReplicaSet at the template's hash), setting an image patches the
pod template.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from commands.cluster import (
    AdmissionAnswer,
    Cluster,
    ClusterError,
    ClusterErrorKind,
    DeploymentState,
    KubeObject,
)

API_VERSION = "argoproj.io/v1alpha1"
KIND = "Rollout"
POD_HASH_LABEL = "rollouts-pod-template-hash"
PAUSE_REASON = "CanaryPauseStep"


@runtime_checkable
class RolloutCluster(Cluster, Protocol):
    """The `Cluster` port plus the one write Argo needs: a JSON merge patch of a custom resource."""

    def patch_object(self, *, api_version: str, kind: str, namespace: str, name: str, patch: KubeObject,
                     subresource: str | None = None) -> KubeObject:
        """Merge-patch (RFC 7386) the object or its subresource. A `metadata.resourceVersion` in the patch is a
        precondition: a stale one is a ClusterError of kind CONFLICT (409) and nothing changed; not retried."""
        ...


class RolloutState(BaseModel):
    namespace: str
    name: str
    resource_version: str = ""
    generation: int = 0
    paused: bool = False  # spec.paused (someone paused it by hand)
    images: dict[str, str] = Field(default_factory=dict)  # container -> image of the pod template
    steps: list[dict[str, Any]] = Field(default_factory=list)
    replicas_desired: int = 1
    phase: str = ""
    message: str = ""
    current_step_index: int | None = None
    pause_reasons: list[str] = Field(default_factory=list)
    pause_started: datetime | None = None
    current_pod_hash: str = ""
    stable_rs: str = ""
    abort: bool = False
    canary_weight: int | None = None
    observed_generation: str = ""
    replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    conditions: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def step_count(self) -> int:
        return len(self.steps)

    @property
    def holding_pause(self) -> bool:
        return PAUSE_REASON in self.pause_reasons

    @property
    def complete(self) -> bool:
        """The steps are done and the canary revision is the stable one."""
        return (bool(self.current_pod_hash) and self.current_pod_hash == self.stable_rs and not self.abort
                and (self.current_step_index is None or self.current_step_index >= self.step_count))


def parse_time(value: Any) -> datetime | None:
    """A Kubernetes timestamp (`2026-11-29T01:00:00Z`) as a datetime; None when absent or not a time."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def rollout_state(obj: KubeObject) -> RolloutState:
    """The decision-relevant fields of a Rollout's JSON."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    canary = (spec.get("strategy") or {}).get("canary") or {}
    weights = ((status.get("canary") or {}).get("weights") or {}).get("canary") or {}
    pauses = status.get("pauseConditions") or []
    index = status.get("currentStepIndex")
    desired = spec.get("replicas")
    return RolloutState(
        namespace=str(meta.get("namespace") or ""), name=str(meta.get("name") or ""),
        resource_version=str(meta.get("resourceVersion") or ""), generation=int(meta.get("generation") or 0),
        paused=bool(spec.get("paused")),
        images={str(c.get("name", "")): str(c.get("image", "")) for c in containers},
        steps=list(canary.get("steps") or []), replicas_desired=1 if desired is None else int(desired),
        phase=str(status.get("phase") or ""), message=str(status.get("message") or ""),
        current_step_index=None if index is None else int(index),
        pause_reasons=[str(p.get("reason") or "") for p in pauses],
        pause_started=parse_time(pauses[0].get("startTime")) if pauses else None,
        current_pod_hash=str(status.get("currentPodHash") or ""), stable_rs=str(status.get("stableRS") or ""),
        abort=bool(status.get("abort")),
        canary_weight=None if weights.get("weight") is None else int(weights["weight"]),
        observed_generation=str(status.get("observedGeneration") or ""),
        replicas=int(status.get("replicas") or 0), updated_replicas=int(status.get("updatedReplicas") or 0),
        ready_replicas=int(status.get("readyReplicas") or 0),
        available_replicas=int(status.get("availableReplicas") or 0),
        conditions=list(status.get("conditions") or []),
    )


# -- steps and stages -----------------------------------------------------------------------------


class StageStop(BaseModel):
    """Where the controller holds for one seed stage: a pause step (index), or the end of the steps."""

    stage_index: int
    weight: int
    step_index: int  # the pause step; == len(steps) for the final (100%) stage


def stage_stops(steps: list[dict[str, Any]], weights: list[int]) -> tuple[list[StageStop], list[str]]:
    """The stop of every seed stage (weights in order, the last 100), and what does not match (empty: all do)."""
    pauses: dict[int, int] = {}  # weight -> index of the pause after `setWeight: weight`
    weight: int | None = None
    for index, step in enumerate(steps):
        if "setWeight" in step:
            weight = int(step["setWeight"])
        elif "pause" in step:
            if (step.get("pause") or {}).get("duration") not in (None, ""):
                return [], [f"step {index} is a timed pause ({step['pause']}); the bot holds each stage itself, so "
                            "every pause must be `pause: {}` (indefinite)"]
            if weight is not None and weight not in pauses:
                pauses[weight] = index
    stops: list[StageStop] = []
    problems: list[str] = []
    for stage_index, stage_weight in enumerate(weights):
        if stage_weight == 100:
            stops.append(StageStop(stage_index=stage_index, weight=100, step_index=len(steps)))
        elif stage_weight in pauses:
            stops.append(StageStop(stage_index=stage_index, weight=stage_weight, step_index=pauses[stage_weight]))
        else:
            problems.append(f"no `setWeight: {stage_weight}` followed by `pause: {{}}` for stage {stage_index + 1}")
    return stops, problems


class RolloutPosition(BaseModel):
    stage_index: int | None  # the seed stage the controller is at or moving to
    paused: bool             # holding there
    weight: int | None


def position(state: RolloutState, stops: list[StageStop]) -> RolloutPosition:
    """Where the Rollout is among the seed's stages."""
    if state.complete and stops:
        last = stops[-1]
        return RolloutPosition(stage_index=last.stage_index, paused=True, weight=100)
    index = state.current_step_index if state.current_step_index is not None else 0
    for stop in stops:
        if index <= stop.step_index:
            holding = index == stop.step_index and state.holding_pause and stop.step_index < state.step_count
            return RolloutPosition(stage_index=stop.stage_index, paused=holding, weight=state.canary_weight)
    return RolloutPosition(stage_index=None, paused=False, weight=state.canary_weight)


# -- patches --------------------------------------------------------------------------------------


def promote_patches(state: RolloutState) -> tuple[KubeObject | None, KubeObject | None]:
    """(status patch, spec patch) of `kubectl argo rollouts promote` (no flags), each conditioned on what was read."""
    condition = {"resourceVersion": state.resource_version}
    status: KubeObject | None = {"metadata": condition, "status": {"pauseConditions": None}} \
        if state.pause_reasons else None
    spec: KubeObject | None = {"metadata": condition, "spec": {"paused": False}} if state.paused else None
    return status, spec


def abort_patch(state: RolloutState) -> KubeObject:
    """`kubectl argo rollouts abort`: the controller sends all traffic back to the stable ReplicaSet."""
    return {"metadata": {"resourceVersion": state.resource_version}, "status": {"abort": True}}


def image_patch(obj: KubeObject, *, container: str, image: str) -> KubeObject:
    """The pod template's containers with `container`'s image set (merge patch replaces lists whole, so the
    list is sent complete), conditioned on the resourceVersion read."""
    containers = copy.deepcopy((((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")
                               or [])
    found = False
    for entry in containers:
        if entry.get("name") == container:
            entry["image"] = image
            found = True
    if not found:
        raise ClusterError(f"Rollout {(obj.get('metadata') or {}).get('name')} has no container `{container}`. Nothing "
                           "was changed; check release.container.", kind=ClusterErrorKind.PRECONDITION)
    return {"metadata": {"resourceVersion": str((obj.get("metadata") or {}).get("resourceVersion") or "")},
            "spec": {"template": {"spec": {"containers": containers}}}}


def replica_set_image(replica_sets: list[KubeObject], *, pod_hash: str, container: str) -> str | None:
    """The image of `container` in the ReplicaSet labelled with that pod-template hash (None: no such RS)."""
    for rs in replica_sets:
        labels = (rs.get("metadata") or {}).get("labels") or {}
        if labels.get(POD_HASH_LABEL) != pod_hash:
            continue
        containers = (((rs.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
        return next((str(c.get("image", "")) for c in containers if c.get("name") == container), "")
    return None


def replica_set_pods(replica_sets: list[KubeObject], *, pod_hash: str) -> tuple[int, int] | None:
    """(ready, desired) of the ReplicaSet with that pod-template hash; None when there is none."""
    for rs in replica_sets:
        if ((rs.get("metadata") or {}).get("labels") or {}).get(POD_HASH_LABEL) == pod_hash:
            desired = (rs.get("spec") or {}).get("replicas")
            return int((rs.get("status") or {}).get("readyReplicas") or 0), 1 if desired is None else int(desired)
    return None


# -- the Rollout as the rollback's Deployment -----------------------------------------------------


def deployment_view(state: RolloutState) -> DeploymentState:
    """The Rollout as a `DeploymentState`: rolled out once it is Healthy at a stable ReplicaSet of its template."""
    settled = state.phase == "Healthy" and state.complete
    desired = state.replicas_desired
    return DeploymentState(
        namespace=state.namespace, name=state.name, generation=state.generation,
        observed_generation=state.generation if settled else max(0, state.generation - 1),
        desired_replicas=desired, replicas=state.replicas, updated_replicas=state.updated_replicas,
        ready_replicas=state.ready_replicas, available_replicas=state.available_replicas,
        unavailable_replicas=max(0, desired - state.available_replicas), images=dict(state.images),
        resource_version=state.resource_version, conditions=state.conditions,
        progress_deadline_exceeded=state.phase == "Degraded" and not state.abort,
    )


class RolloutWorkload:
    """A `Cluster` in which the release's "Deployment" is the Rollout of the same name (rollback on Argo).

    Everything else goes to the cluster underneath. `set_container_image` patches the Rollout's pod
    template conditioned on the resourceVersion it read (and on `expect_image`); the controller then
    goes back to the stable ReplicaSet at once when the image is the stable one, or, within the
    Rollout's `rollbackWindow`, to a recent revision without the steps.
    """

    def __init__(self, cluster: RolloutCluster, *, deployment: str, rollout: str) -> None:
        self._cluster = cluster
        self._deployment = deployment  # the name the release commands ask for (release.deployment)
        self._rollout = rollout

    def _is_rollout(self, name: str) -> bool:
        return name in (self._deployment, self._rollout)

    def read_rollout(self, *, namespace: str) -> KubeObject:
        obj = self._cluster.read_object(api_version=API_VERSION, kind=KIND, namespace=namespace, name=self._rollout)
        if obj is None:
            raise ClusterError(f"Rollout {namespace}/{self._rollout} does not exist. Check "
                               "canary.argo_rollouts.rollout and release.namespace, or apply "
                               "ops/canary/argo-rollouts/.",
                               kind=ClusterErrorKind.NOT_FOUND, status=404)
        return obj

    def read_deployment(self, *, namespace: str, name: str) -> DeploymentState:
        if not self._is_rollout(name):
            return self._cluster.read_deployment(namespace=namespace, name=name)
        return deployment_view(rollout_state(self.read_rollout(namespace=namespace)))

    def read_deployment_object(self, *, namespace: str, name: str) -> KubeObject:
        if not self._is_rollout(name):
            return self._cluster.read_deployment_object(namespace=namespace, name=name)
        return self.read_rollout(namespace=namespace)

    def set_container_image(self, *, namespace: str, name: str, container: str, image: str,
                            expect_image: str | None = None) -> DeploymentState:
        if not self._is_rollout(name):
            return self._cluster.set_container_image(namespace=namespace, name=name, container=container, image=image,
                                                     expect_image=expect_image)
        obj = self.read_rollout(namespace=namespace)
        state = rollout_state(obj)
        running = state.images.get(container)
        if running is None:
            raise ClusterError(f"Rollout {namespace}/{name} has no container `{container}` (it has "
                               f"{', '.join(state.images) or 'none'}). Nothing was changed; check release.container.",
                               kind=ClusterErrorKind.PRECONDITION)
        if expect_image is not None and running != expect_image:
            raise ClusterError(f"Rollout {namespace}/{name} changed since this was confirmed: container `{container}` "
                               f"now runs {running}, not {expect_image}. Nothing was changed; start again to see the "
                               "current state.", kind=ClusterErrorKind.PRECONDITION)
        if running == image:
            return deployment_view(state)
        updated = self._cluster.patch_object(api_version=API_VERSION, kind=KIND, namespace=namespace,
                                             name=self._rollout,
                                             patch=image_patch(obj, container=container, image=image))
        return deployment_view(rollout_state(updated))

    def set_annotations(self, *, namespace: str, name: str, annotations: dict[str, str | None]) -> DeploymentState:
        if not self._is_rollout(name):
            return self._cluster.set_annotations(namespace=namespace, name=name, annotations=annotations)
        obj = self.read_rollout(namespace=namespace)
        updated = self._cluster.patch_object(
            api_version=API_VERSION, kind=KIND, namespace=namespace, name=self._rollout,
            patch={"metadata": {"resourceVersion": str((obj.get("metadata") or {}).get("resourceVersion") or ""),
                                "annotations": annotations}})
        return deployment_view(rollout_state(updated))

    def list_replica_sets(self, *, namespace: str, selector: str) -> list[KubeObject]:
        return self._cluster.list_replica_sets(namespace=namespace, selector=selector)

    def list_pods(self, *, namespace: str, selector: str) -> list[KubeObject]:
        return self._cluster.list_pods(namespace=namespace, selector=selector)

    def list_events(self, *, namespace: str, limit: int = 100) -> list[KubeObject]:
        return self._cluster.list_events(namespace=namespace, limit=limit)

    def apply(self, manifest: KubeObject, *, namespace: str | None = None) -> KubeObject:
        return self._cluster.apply(manifest, namespace=namespace)

    def read_object(self, *, api_version: str, kind: str, namespace: str, name: str) -> KubeObject | None:
        return self._cluster.read_object(api_version=api_version, kind=kind, namespace=namespace, name=name)

    def dry_run_pod(self, *, namespace: str, pod: KubeObject) -> AdmissionAnswer:
        return self._cluster.dry_run_pod(namespace=namespace, pod=pod)

    def patch_object(self, *, api_version: str, kind: str, namespace: str, name: str, patch: KubeObject,
                     subresource: str | None = None) -> KubeObject:
        return self._cluster.patch_object(api_version=api_version, kind=kind, namespace=namespace, name=name,
                                          patch=patch, subresource=subresource)
