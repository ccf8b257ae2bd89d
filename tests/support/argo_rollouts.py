"""Argo Rollouts' controller, played at the protocol level on the Kubernetes API emulator.

Argo Rollouts cannot run here, so this driver reacts to a `Rollout` the way its controller does,
as far as the bot can see it through the API: the pod template's hash (`currentPodHash`) and a
ReplicaSet labelled `rollouts-pod-template-hash=<hash>` per revision; for a new template the
canary steps from `currentStepIndex: 0`: `setWeight` scales the canary ReplicaSet and sets
`status.canary.weights`, `pause: {}` holds with `pauseConditions: [{reason: CanaryPauseStep}]`
(phase Paused, `controllerPause: true`) until someone clears them (`kubectl argo rollouts
promote`), then the next step; after the last step the new ReplicaSet becomes `stableRS` (phase
Healthy). `status.abort: true` sends everything back to the stable ReplicaSet (phase Degraded,
message `RolloutAborted: …`). A template equal to the stable ReplicaSet's, or to a revision within
`spec.rollbackWindow.revisions`, goes there at once without the steps (Argo's rollback).

Driven by explicit `reconcile()` calls, or (`install()`) by the emulator's `after_write` hook
after every write to the Rollout, inside the server's lock: the bot's PATCH returns first what it
wrote, its next read sees the controller's reaction. No threads, no sleeps.

    controller = ArgoRolloutsController(api, NS, "node0").seed(image=STABLE).install()
    controller.replace_template_before_next_promote(image=OTHER)  # a new revision between read and write
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import yaml

from tests.support.kube_api import KubeApiServer, now_iso

GROUP = "argoproj.io"
PLURAL = "rollouts"
HASH_LABEL = "rollouts-pod-template-hash"
ROLLOUT_MANIFEST = Path(__file__).resolve().parents[2] / "ops" / "canary" / "argo-rollouts" / "rollout.yaml"


def rollout_manifest(*, image: str, namespace: str = "bizra-production", replicas: int | None = None) -> dict[str, Any]:
    """The shipped Rollout (ops/canary/argo-rollouts/rollout.yaml) with the `node0` container on `image`."""
    (rollout,) = [doc for doc in yaml.safe_load_all(ROLLOUT_MANIFEST.read_text(encoding="utf-8"))
                  if doc and doc.get("kind") == "Rollout"]
    rollout["metadata"]["namespace"] = namespace
    for container in rollout["spec"]["template"]["spec"]["containers"]:
        if container["name"] == "node0":
            container["image"] = image
    if replicas is not None:
        rollout["spec"]["replicas"] = replicas
    return rollout


def pod_template_hash(template: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


class ArgoRolloutsController:
    def __init__(self, api: KubeApiServer, namespace: str, name: str) -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self.pods_ready = True  # False: the canary ReplicaSet's pods are not ready
        self.reconciles = 0

    # -- setting up -------------------------------------------------------------------------------
    def seed(self, *, image: str, replicas: int | None = None) -> ArgoRolloutsController:
        """The Rollout as first deployed: its only revision is the stable one."""
        self.api.put(rollout_manifest(image=image, namespace=self.namespace, replicas=replicas))
        self.reconcile()
        return self

    def install(self) -> ArgoRolloutsController:
        """React to every write of the Rollout (spec or status) as the controller's informer would."""
        self.api.after_write("*", f"/{PLURAL}/{self.name}", lambda _server: self.reconcile())
        return self

    def rollout(self) -> dict[str, Any]:
        found = self.api.get(GROUP, PLURAL, self.namespace, self.name)
        assert found is not None, f"no Rollout {self.namespace}/{self.name}"
        return found

    def status(self) -> dict[str, Any]:
        return dict(self.rollout().get("status") or {})

    def replica_set(self, pod_hash: str) -> dict[str, Any] | None:
        return self.api.get("apps", "replicasets", self.namespace, f"{self.name}-{pod_hash}")

    def image_of(self, pod_hash: str) -> str:
        rs = self.replica_set(pod_hash)
        assert rs is not None, f"no ReplicaSet for pod hash {pod_hash}"
        return next(c["image"] for c in rs["spec"]["template"]["spec"]["containers"] if c["name"] == "node0")

    # -- what other writers do --------------------------------------------------------------------
    def set_image(self, image: str) -> None:
        """A CD (or a person) changes the pod template's image; the controller reacts."""
        def change(obj: dict[str, Any]) -> None:
            for container in obj["spec"]["template"]["spec"]["containers"]:
                if container["name"] == "node0":
                    container["image"] = image
        self.api.update(GROUP, PLURAL, self.namespace, self.name, change)
        self.reconcile()

    def replace_template_before_next_promote(self, *, image: str) -> None:
        """Between the bot's read and its promote (the status PATCH), a new pod template lands."""
        self.api.before("PATCH", f"/{PLURAL}/{self.name}/status", lambda _server: self.set_image(image))

    # -- the controller ---------------------------------------------------------------------------
    def reconcile(self) -> None:
        self.reconciles += 1
        rollout = self.rollout()
        spec = rollout["spec"]
        template = spec["template"]
        pod_hash = pod_template_hash(template)
        self._ensure_replica_set(pod_hash, template, rollout)
        status = copy.deepcopy(rollout.get("status") or {})
        steps = ((spec.get("strategy") or {}).get("canary") or {}).get("steps") or []
        desired = int(spec.get("replicas", 1))
        stable = status.get("stableRS")
        if not stable or pod_hash == stable or self._within_window(pod_hash, spec, stable):
            if status.get("currentPodHash") != pod_hash or status.get("stableRS") != pod_hash or status.get("abort"):
                status = self._healthy(status, pod_hash, len(steps), desired)
            self._write_status(status, desired)
            return
        if status.get("currentPodHash") != pod_hash:  # a new revision: the steps start over
            status.update(currentPodHash=pod_hash, currentStepIndex=0, abort=False, pauseConditions=None,
                          controllerPause=False, phase="Progressing", message="more replicas need to be updated")
            status["canary"] = {"weights": {"canary": {"weight": 0, "podTemplateHash": pod_hash},
                                            "stable": {"weight": 100, "podTemplateHash": stable}}}
        if status.get("abort"):
            status.update(phase="Degraded", pauseConditions=None, controllerPause=False,
                          message=f"RolloutAborted: Rollout aborted update to revision {pod_hash}")
            status["canary"] = {"weights": {"canary": {"weight": 0, "podTemplateHash": pod_hash},
                                            "stable": {"weight": 100, "podTemplateHash": stable}}}
            self._scale(pod_hash, 0)
            self._scale(stable, desired)
            self._write_status(status, desired)
            return
        self._run_steps(status, steps, pod_hash, stable, desired)
        self._write_status(status, desired)

    def _run_steps(self, status: dict[str, Any], steps: list[dict[str, Any]], pod_hash: str, stable: str,
                   desired: int) -> None:
        while True:
            index = int(status.get("currentStepIndex") or 0)
            if index >= len(steps):
                self._healthy(status, pod_hash, len(steps), desired)
                self._scale(stable, 0)
                return
            step = steps[index]
            if "setWeight" in step:
                weight = int(step["setWeight"])
                status["canary"]["weights"]["canary"]["weight"] = weight
                status["canary"]["weights"]["stable"]["weight"] = 100 - weight
                self._scale(pod_hash, math.ceil(desired * weight / 100))
                status["currentStepIndex"] = index + 1
                continue
            if "pause" in step:
                if status.get("controllerPause") and not status.get("pauseConditions"):
                    status.update(controllerPause=False, currentStepIndex=index + 1, phase="Progressing")
                    continue  # promoted: the pause was cleared
                if not status.get("pauseConditions"):
                    status.update(pauseConditions=[{"reason": "CanaryPauseStep", "startTime": now_iso()}],
                                  controllerPause=True, phase="Paused", message="CanaryPauseStep")
                return
            status["currentStepIndex"] = index + 1  # steps the bot does not use are passed over

    def _healthy(self, status: dict[str, Any], pod_hash: str, steps: int, desired: int) -> dict[str, Any]:
        """The revision `pod_hash` takes all traffic and is the stable one (in place, returned)."""
        target = status
        target.update(currentPodHash=pod_hash, stableRS=pod_hash, currentStepIndex=steps, abort=False,
                      pauseConditions=None, controllerPause=False, phase="Healthy", message="")
        target["canary"] = {"weights": {"canary": {"weight": 0, "podTemplateHash": pod_hash},
                                        "stable": {"weight": 100, "podTemplateHash": pod_hash}}}
        for rs in self.api.list("apps", "replicasets", self.namespace):
            other = (rs["metadata"].get("labels") or {}).get(HASH_LABEL)
            if other and other != pod_hash and rs["metadata"]["name"].startswith(f"{self.name}-"):
                self._scale(other, 0)
        self._scale(pod_hash, desired)
        return target

    def _within_window(self, pod_hash: str, spec: dict[str, Any], stable: str) -> bool:
        """Argo's rollbackWindow: a template equal to one of the last N revisions skips the steps."""
        window = int(((spec.get("rollbackWindow") or {}).get("revisions")) or 0)
        if not window:
            return False
        revisions = sorted(
            ((int((rs["metadata"].get("annotations") or {}).get("rollout.argoproj.io/revision", "0")),
              (rs["metadata"].get("labels") or {}).get(HASH_LABEL)) for rs in self.api.list("apps", "replicasets",
                                                                                             self.namespace)
             if rs["metadata"]["name"].startswith(f"{self.name}-")), reverse=True)
        stable_revision = next((number for number, other in revisions if other == stable), 0)
        recent = [other for number, other in revisions if number < stable_revision][:window]
        return pod_hash in recent

    # -- objects ----------------------------------------------------------------------------------
    def _ensure_replica_set(self, pod_hash: str, template: dict[str, Any], rollout: dict[str, Any]) -> None:
        if self.replica_set(pod_hash) is not None:
            return
        existing = [rs for rs in self.api.list("apps", "replicasets", self.namespace)
                    if rs["metadata"]["name"].startswith(f"{self.name}-")]
        revision = 1 + max((int((rs["metadata"].get("annotations") or {}).get("rollout.argoproj.io/revision", "0"))
                            for rs in existing), default=0)
        labels = {**(template.get("metadata", {}).get("labels") or {}), HASH_LABEL: pod_hash}
        rs_template = copy.deepcopy(template)
        rs_template.setdefault("metadata", {})["labels"] = labels
        self.api.put({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{self.name}-{pod_hash}", "namespace": self.namespace, "labels": labels,
                         "annotations": {"rollout.argoproj.io/revision": str(revision)},
                         "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                              "name": self.name, "uid": rollout["metadata"].get("uid", "")}]},
            "spec": {"replicas": 0, "selector": {"matchLabels": labels}, "template": rs_template},
            "status": {"replicas": 0, "readyReplicas": 0, "availableReplicas": 0},
        })

    def _scale(self, pod_hash: str | None, replicas: int) -> None:
        if not pod_hash or self.replica_set(pod_hash) is None:
            return
        ready = replicas if self.pods_ready else 0

        def scale(obj: dict[str, Any]) -> None:
            obj["spec"]["replicas"] = replicas
            obj["status"] = {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready}
        self.api.update("apps", "replicasets", self.namespace, f"{self.name}-{pod_hash}", scale)

    def _write_status(self, status: dict[str, Any], desired: int) -> None:
        replica_sets = [rs for rs in self.api.list("apps", "replicasets", self.namespace)
                        if rs["metadata"]["name"].startswith(f"{self.name}-")]
        current = status.get("currentPodHash")
        status["replicas"] = sum(int(rs["spec"].get("replicas") or 0) for rs in replica_sets)
        status["readyReplicas"] = sum(int((rs.get("status") or {}).get("readyReplicas") or 0) for rs in replica_sets)
        status["availableReplicas"] = status["readyReplicas"]
        status["updatedReplicas"] = next((int(rs["spec"].get("replicas") or 0) for rs in replica_sets
                                          if (rs["metadata"].get("labels") or {}).get(HASH_LABEL) == current), 0)
        status["observedGeneration"] = str(self.rollout()["metadata"].get("generation", 1))
        healthy = status.get("phase") == "Healthy"
        status["conditions"] = [
            {"type": "Progressing", "status": "True",
             "reason": "NewReplicaSetAvailable" if healthy else ("RolloutPaused" if status.get("pauseConditions")
                                                                 else "ReplicaSetUpdated"),
             "lastTransitionTime": now_iso()},
            {"type": "Available", "status": "True" if status["availableReplicas"] >= desired else "False",
             "reason": "AvailableReason", "lastTransitionTime": now_iso()},
        ]
        clean = {k: v for k, v in status.items() if v is not None}

        def write(obj: dict[str, Any]) -> None:
            obj["status"] = clean
        if (self.rollout().get("status") or {}) != clean:
            self.api.update(GROUP, PLURAL, self.namespace, self.name, write)
