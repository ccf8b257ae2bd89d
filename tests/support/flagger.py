"""Flagger played at the protocol level, for tests: its scheduler's webhook calls and its Canary status.

Flagger cannot run here, so `FlaggerDriver.tick()` does what one analysis interval of Flagger's
scheduler (pkg/controller/scheduler.go `advanceCanary`) does for a Canary with confirm-rollout,
confirm-traffic-increase, confirm-promotion, rollback and event webhooks pointing at the bot:

- a new revision (the target Deployment's pod template differs from `status.lastAppliedSpec`) in
  phase Initialized / Succeeded / Failed / Waiting: confirm-rollout (phase = the Canary's); a halt
  sets phase Waiting ("Halt … advancement waiting for approval"), retried next interval; 2xx scales
  the target up and syncs the status to Progressing (lastAppliedSpec = the new revision);
- a revision change during Progressing / WaitingPromotion: "New revision detected! Restarting
  analysis", weight back to 0, status reset to Progressing (no new confirm-rollout);
- Progressing / Waiting / WaitingPromotion: the rollback hook first (2xx: route all traffic to the
  primary, scale the target to 0, phase Failed, "Canary failed!");
- Promoting → Finalising (traffic back to the primary, which runs the new spec) → Succeeded (target
  scaled to 0, "Promotion completed!");
- failed checks at the threshold (`fail_analysis`): Flagger's own rollback;
- otherwise, below the last step weight: confirm-traffic-increase (phase Progressing), then the
  weight moves to the next of `stepWeights`; at the last step: confirm-traffic-increase, then
  confirm-promotion (a halt sets WaitingPromotion), then the primary takes the target's spec
  (phase Promoting).

Every event Flagger records goes to the event webhook too (metadata eventMessage / eventType /
timestamp merged over the webhook's metadata, the token included). The checksum of every payload
is computed like Flagger's `canaryChecksum` — a hash of the status' lastAppliedSpec and
trackedConfigs — so it changes with the revision. `legacy_checksum=True` plays Flagger releases
that sent the previous revision's checksum at confirm-rollout (status not synced first).

The Canary's status is written through the API server emulator's `/status` subresource (merge
patch over HTTP), as Flagger's UpdateStatus does; the target and primary Deployments are scaled and
given their status with the emulator's controller helpers.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from tests.support.kube_api import KubeApiServer, deployment_manifest

HOOKS = ("confirm-rollout", "confirm-traffic-increase", "confirm-promotion", "rollback", "event")


@dataclass
class Call:
    hook: str
    payload: dict[str, Any]
    status: int
    text: str

    @property
    def proceeds(self) -> bool:
        return 0 < self.status <= 202


def template_hash(deployment: dict[str, Any]) -> str:
    canonical = json.dumps(deployment["spec"]["template"], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def canary_manifest(*, namespace: str, name: str, target: str, step_weights: list[int], url: str,
                    token_key: str, token: str) -> dict[str, Any]:
    hook_meta = {token_key: token}
    webhooks = [{"name": f"bizra-{hook}", "type": hook, "url": f"{url}/webhooks/flagger/{hook}", "timeout": "10s",
                 "metadata": dict(hook_meta)} for hook in HOOKS]
    return {
        "apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                 "service": {"port": 8080},
                 "analysis": {"interval": "1m", "threshold": 5, "stepWeights": step_weights, "webhooks": webhooks}},
    }


@dataclass
class FlaggerDriver:
    api: KubeApiServer
    url: str  # the bot's base URL
    namespace: str
    image: str  # what the primary runs when Flagger initializes
    token: str
    name: str = "node0"
    target: str = "node0"
    token_key: str = "token"
    step_weights: list[int] = field(default_factory=lambda: [10, 50, 100])
    legacy_checksum: bool = False
    fail_analysis: bool = False
    calls: list[Call] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)

    # -- set-up: Flagger installed, the Canary initialized ----------------------------------------------
    def install(self) -> FlaggerDriver:
        """The target and primary Deployments running `image`, the Canary initialized (phase Initialized)."""
        target = deployment_manifest(namespace=self.namespace, name=self.target, image=self.image, replicas=0)
        self.api.put(target)
        # Flagger's primary: a copy of the target's pod template (same containers), selected as <target>-primary.
        primary = deployment_manifest(namespace=self.namespace, name=self.target, image=self.image)
        primary["metadata"]["name"] = f"{self.target}-primary"
        primary["spec"]["selector"] = {"matchLabels": {"app": f"{self.target}-primary"}}
        primary["spec"]["template"]["metadata"]["labels"] = {"app": f"{self.target}-primary"}
        self.api.put(primary)
        self.api.set_deployment_status(self.namespace, f"{self.target}-primary", ready=True)
        self.api.put(canary_manifest(namespace=self.namespace, name=self.name, target=self.target,
                                     step_weights=self.step_weights, url=self.url, token_key=self.token_key,
                                     token=self.token))
        self._status(phase="Initialized", canaryWeight=0, failedChecks=0, iterations=0,
                     lastAppliedSpec=self._spec_hash())
        return self

    # -- what the test does to the cluster -------------------------------------------------------------
    def set_image(self, image: str) -> None:
        """`kubectl set image deployment/node0 node0=<image>`: a new revision of the target."""
        deployment = self._get("apps", "deployments", self.target)
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            if container["name"] == self.target:
                container["image"] = image
        self.api.put(deployment)

    # -- reading ----------------------------------------------------------------------------------------
    def _get(self, group: str, plural: str, name: str) -> dict[str, Any]:
        found = self.api.get(group, plural, self.namespace, name)
        assert found is not None, f"{plural}/{name} missing in the emulator"
        return found

    def canary(self) -> dict[str, Any]:
        return self._get("flagger.app", "canaries", self.name)

    def status(self) -> dict[str, Any]:
        return dict(self.canary().get("status") or {})

    @property
    def phase(self) -> str:
        return str(self.status().get("phase", ""))

    @property
    def weight(self) -> int:
        return int(self.status().get("canaryWeight") or 0)

    def primary_image(self) -> str:
        primary = self._get("apps", "deployments", f"{self.target}-primary")
        return next(c["image"] for c in primary["spec"]["template"]["spec"]["containers"] if c["name"] == self.target)

    def _spec_hash(self) -> str:
        return template_hash(self._get("apps", "deployments", self.target))

    def checksum(self, status: dict[str, Any] | None = None) -> str:
        """Flagger's canaryChecksum: a hash of the status' lastAppliedSpec and trackedConfigs."""
        status = self.status() if status is None else status
        fields = json.dumps({"TrackedConfigs": status.get("trackedConfigs"),
                             "LastAppliedSpec": status.get("lastAppliedSpec", "")}, sort_keys=True)
        return hashlib.sha256(fields.encode()).hexdigest()[:10]

    # -- writing the status as Flagger does ---------------------------------------------------------------
    def _status(self, **fields: Any) -> None:
        fields.setdefault("lastTransitionTime", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        body = json.dumps({"status": fields}).encode()
        request = urllib.request.Request(
            f"{self.api.url}/apis/flagger.app/v1beta1/namespaces/{self.namespace}/canaries/{self.name}/status",
            data=body, method="PATCH", headers={"Content-Type": "application/merge-patch+json"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200

    def _scale_target(self, replicas: int) -> None:
        deployment = self._get("apps", "deployments", self.target)
        deployment["spec"]["replicas"] = replicas
        self.api.put(deployment)
        self.api.set_deployment_status(self.namespace, self.target, ready=True)

    def _promote_primary(self) -> None:
        """Copy the target's pod template to the primary (Flagger's `Promote`); the primary rolls out."""
        target = self._get("apps", "deployments", self.target)
        primary = self._get("apps", "deployments", f"{self.target}-primary")
        template = json.loads(json.dumps(target["spec"]["template"]))
        template["metadata"]["labels"] = {"app": f"{self.target}-primary"}
        primary["spec"]["template"] = template
        self.api.put(primary)
        self.api.set_deployment_status(self.namespace, f"{self.target}-primary", ready=True)

    # -- webhooks ---------------------------------------------------------------------------------------
    def call(self, hook: str, *, phase: str, checksum: str | None = None,
             metadata: dict[str, str] | None = None, body: bytes | None = None) -> Call:
        payload = {"name": self.name, "namespace": self.namespace, "phase": phase,
                   "checksum": self.checksum() if checksum is None else checksum,
                   "metadata": {self.token_key: self.token} if metadata is None else metadata}
        raw = json.dumps(payload).encode() if body is None else body
        request = urllib.request.Request(f"{self.url}/webhooks/flagger/{hook}", data=raw, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                status, text = answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        done = Call(hook=hook, payload=payload, status=status, text=text.strip())
        self.calls.append(done)
        return done

    def event(self, message: str, *, kind: str = "Normal") -> None:
        """Flagger's recordEvent*: also sent to the event webhook (its metadata merged under Flagger's own keys)."""
        self.events.append((kind, message))
        meta = {"eventMessage": message, "eventType": kind, "timestamp": str(int(time.time() * 1000)),
                self.token_key: self.token}
        self.call("event", phase=self.phase, metadata=meta)

    def hooks(self) -> list[str]:
        return [c.hook for c in self.calls]

    def last(self, hook: str) -> Call:
        return next(c for c in reversed(self.calls) if c.hook == hook)

    # -- one analysis interval ------------------------------------------------------------------------
    def _next_weight(self, weight: int) -> int:
        later = [w for w in self.step_weights if w > weight]
        return later[0] if later else weight

    def _rollback(self, why: str) -> None:
        self._scale_target(0)
        self._status(phase="Failed", canaryWeight=0)
        self.event(f"Canary failed! Scaling down {self.name}.{self.namespace} ({why})", kind="Warning")

    def tick(self) -> str:
        """One run of `advanceCanary`; returns what happened, in a word."""
        status = self.status()
        phase = str(status.get("phase", ""))
        weight = int(status.get("canaryWeight") or 0)
        changed = status.get("lastAppliedSpec") != self._spec_hash()
        if phase not in ("Progressing", "Waiting", "WaitingPromotion", "Promoting", "Finalising") and not changed:
            return "idle"
        if phase in ("Initialized", "Succeeded", "Failed", "Waiting", ""):
            synced = dict(status, lastAppliedSpec=self._spec_hash())
            checksum = self.checksum(status if self.legacy_checksum else synced)
            answer = self.call("confirm-rollout", phase=phase, checksum=checksum)
            if not answer.proceeds:
                if phase != "Waiting":
                    self._status(phase="Waiting")
                    self.event(f"Halt {self.name}.{self.namespace} advancement waiting for approval "
                               "bizra-confirm-rollout", kind="Warning")
                return "waiting-for-rollout"
            self.event(f"New revision detected! Scaling up {self.target}.{self.namespace}")
            self._scale_target(1)
            self._status(phase="Progressing", canaryWeight=0, failedChecks=0, iterations=0,
                         lastAppliedSpec=self._spec_hash())
            return "progressing"
        if phase in ("Progressing", "WaitingPromotion") and changed:
            self.event(f"New revision detected! Restarting analysis for {self.target}.{self.namespace}")
            self._status(phase="Progressing", canaryWeight=0, failedChecks=0, iterations=0,
                         lastAppliedSpec=self._spec_hash())
            return "restarted"
        if phase in ("Progressing", "Waiting", "WaitingPromotion") and self.call("rollback", phase=phase).proceeds:
            self.event(f"Rolling back {self.name}.{self.namespace} manual webhook invoked", kind="Warning")
            self._rollback("rollback webhook")
            return "rolled-back"
        if phase == "Promoting":
            self.event("Routing all traffic to primary")
            self._status(phase="Finalising", canaryWeight=0)
            return "finalising"
        if phase == "Finalising":
            self._scale_target(0)
            self._status(phase="Succeeded", canaryWeight=0)
            self.event(f"Promotion completed! Scaling down {self.target}.{self.namespace}")
            return "succeeded"
        failed = int(status.get("failedChecks") or 0)
        threshold = int(self.canary()["spec"]["analysis"].get("threshold") or 5)
        if failed >= threshold:
            self.event(f"Rolling back {self.name}.{self.namespace} failed checks threshold reached {failed}",
                       kind="Warning")
            self._rollback("failed checks")
            return "rolled-back"
        if self.fail_analysis and weight > 0:
            self._status(failedChecks=failed + 1)
            self.event(f"Halt advancement {self.name}.{self.namespace} metric check failed", kind="Warning")
            return "analysis-failed"
        if phase != "WaitingPromotion" and not self.call("confirm-traffic-increase", phase="Progressing").proceeds:
            self.event(f"Halt {self.name}.{self.namespace} advancement waiting for traffic increase approval "
                       "bizra-confirm-traffic-increase", kind="Warning")
            return "waiting-for-traffic"
        if weight < self.step_weights[-1]:
            new = self._next_weight(weight)
            self._status(canaryWeight=new)
            self.event(f"Advance {self.name}.{self.namespace} canary weight {new}")
            return f"weight-{new}"
        if not self.call("confirm-promotion", phase="Progressing").proceeds:
            if phase != "WaitingPromotion":
                self._status(phase="WaitingPromotion")
                self.event(f"Halt {self.name}.{self.namespace} advancement waiting for promotion approval "
                           "bizra-confirm-promotion", kind="Warning")
            return "waiting-for-promotion"
        self.event(f"Copying {self.target}.{self.namespace} template spec to {self.target}-primary.{self.namespace}")
        self._promote_primary()
        self._status(phase="Promoting")
        return "promoting"
