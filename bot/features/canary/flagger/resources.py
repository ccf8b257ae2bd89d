"""What the Flagger engine reads from the cluster: the Canary's status and the revision it rolls out.

What flows through: the `Canary` (flagger.app/v1beta1) and its target Deployment come in through
the `Cluster` port (`read_object`, `read_deployment_object`; RBAC `get` on both, declared by the
adapter); `CanaryState` (the Canary's status, as Flagger writes it) and `TargetRevision` (the
image and pod-template hash Flagger is rolling out) go out. Flagger's primary Deployment
(`<target>-primary`) serves all traffic outside a canary run: it is the stable one.

The pod-template hash is the SHA-256 of the target's `spec.template` (canonical JSON), so any change
of the pod template (the image, an env var, an annotation) is another revision, whatever the
ReplicaSet controller named it; it is computed here, from the object read, never taken from
the webhook.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from commands.cluster import Cluster, ClusterError, ClusterErrorKind, KubeObject

CANARY_API = "flagger.app/v1beta1"


class CanaryCondition(BaseModel):
    type: str
    status: str
    reason: str = ""
    message: str = ""
    last_transition: datetime | None = None


class CanaryState(BaseModel):
    """The Canary resource's status (phase, canaryWeight, iterations, failedChecks, conditions, lastTransitionTime)."""

    namespace: str
    name: str
    target: str
    phase: str = ""
    canary_weight: int = 0
    iterations: int = 0
    failed_checks: int = 0
    threshold: int | None = None
    step_weights: list[int] = Field(default_factory=list)
    interval: str = ""
    skip_analysis: bool = False
    last_transition: datetime | None = None
    conditions: list[CanaryCondition] = Field(default_factory=list)

    @property
    def primary(self) -> str:
        return f"{self.target}-primary"


class TargetRevision(BaseModel):
    """The revision Flagger rolls out: the target Deployment's image and pod-template hash."""

    deployment: str
    image: str
    template_hash: str
    ready: int = 0
    desired: int = 0

    def same(self, other: TargetRevision) -> bool:
        return self.image == other.image and self.template_hash == other.template_hash

    def describe(self) -> str:
        return f"{self.image} (pod template {self.template_hash})"


def _when(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def canary_state(obj: KubeObject) -> CanaryState:
    """The decision-relevant fields of a Canary's JSON."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    analysis = spec.get("analysis") or spec.get("canaryAnalysis") or {}
    conditions = [CanaryCondition(type=str(c.get("type", "")), status=str(c.get("status", "")),
                                  reason=str(c.get("reason", "")), message=str(c.get("message", "")),
                                  last_transition=_when(c.get("lastTransitionTime")))
                  for c in status.get("conditions") or [] if isinstance(c, dict)]
    threshold = analysis.get("threshold")
    return CanaryState(
        namespace=str(meta.get("namespace", "")), name=str(meta.get("name", "")),
        target=str((spec.get("targetRef") or {}).get("name", "")),
        phase=str(status.get("phase") or ""), canary_weight=int(status.get("canaryWeight") or 0),
        iterations=int(status.get("iterations") or 0), failed_checks=int(status.get("failedChecks") or 0),
        threshold=int(threshold) if isinstance(threshold, int) else None,
        step_weights=[int(w) for w in analysis.get("stepWeights") or [] if isinstance(w, int)],
        interval=str(analysis.get("interval") or ""), skip_analysis=bool(spec.get("skipAnalysis")),
        last_transition=_when(status.get("lastTransitionTime")),
        conditions=conditions,
    )


def read_canary(cluster: Cluster, *, namespace: str, name: str) -> CanaryState:
    """The Canary, or ClusterError (NOT_FOUND with what to do when it does not exist)."""
    obj = cluster.read_object(api_version=CANARY_API, kind="Canary", namespace=namespace, name=name)
    if obj is None:
        raise ClusterError(f"There is no Canary {namespace}/{name}: apply ops/canary/flagger/ (kubectl apply -k) or "
                           "set canary.flagger.canary / namespace.", kind=ClusterErrorKind.NOT_FOUND)
    state = canary_state(obj)
    if not state.target:
        raise ClusterError(f"The Canary {namespace}/{name} has no spec.targetRef.name.", kind=ClusterErrorKind.INVALID)
    return state


def template_hash(deployment: KubeObject) -> str:
    template = (deployment.get("spec") or {}).get("template") or {}
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def read_target(cluster: Cluster, *, namespace: str, deployment: str, container: str) -> TargetRevision:
    """The revision of the Canary's target Deployment now (ClusterError when unreadable)."""
    obj = cluster.read_deployment_object(namespace=namespace, name=deployment)
    containers = ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    images = {str(c.get("name", "")): str(c.get("image", "")) for c in containers if isinstance(c, dict)}
    if container not in images:
        raise ClusterError(f"Deployment {namespace}/{deployment} has no container `{container}` (it has "
                           f"{', '.join(images) or 'none'}); check release.container.",
                           kind=ClusterErrorKind.PRECONDITION)
    status = obj.get("status") or {}
    desired = (obj.get("spec") or {}).get("replicas")
    return TargetRevision(deployment=deployment, image=images[container], template_hash=template_hash(obj),
                          ready=int(status.get("readyReplicas") or 0),
                          desired=1 if desired is None else int(desired))


def primary_image(cluster: Cluster, *, namespace: str, primary: str, container: str) -> str:
    """The image the primary (stable) Deployment runs."""
    state = cluster.read_deployment(namespace=namespace, name=primary)
    return state.images.get(container, "")
