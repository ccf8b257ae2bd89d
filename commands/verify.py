"""`/bizra verify`: the cluster-readiness checklist of the seed's Phases 2 and 4, evaluated over ports.

What flows through: the cluster's objects (Kyverno policy, HPA, NetworkPolicy, PoI Job, NODE0 pods),
the answer to an admission dry run, Prometheus' scrape targets, the health endpoint's status, the
WQ proof on disk and the bot's record of the last canary come in through small ports; one
`VerifyReport` goes out, one `Check` per item, each PASS / FAIL / UNKNOWN with what was seen and,
for every FAIL, what to do.

Rules (the project's standard): a check that cannot be made (no permission, API or Prometheus
down) is UNKNOWN with the reason — never PASS; absent evidence (no target, no pods, no canary on
record) is FAIL, because "not there" is an answer. The evaluation is purely computational apart
from the port calls; each port call is isolated, so one broken source never hides the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from commands.cluster import AdmissionAnswer, ClusterError, ClusterErrorKind, KubeObject
from commands.gates import EvidenceDirError, GatePolicy, Outcome, judge_wq_proof, load_evidence


class CheckStatus(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"


class Check(BaseModel):
    key: str
    title: str
    status: CheckStatus
    detail: str = Field(description="What was seen (PASS/FAIL) or why it could not be checked (UNKNOWN).")
    fix: str | None = Field(default=None, description="What to do; set for every FAIL.")


class VerifyReport(BaseModel):
    namespace: str
    checked_at: datetime
    requested_by: str
    checks: list[Check]

    def count(self, status: CheckStatus) -> int:
        return sum(1 for check in self.checks if check.status is status)

    @property
    def ready(self) -> bool:
        """Ready only when every check passed: an UNKNOWN is not a pass."""
        return all(check.status is CheckStatus.PASS for check in self.checks)


class Unavailable(Exception):
    """A source could not be read (no permission, unreachable, bad answer); the message says why."""


# -- ports ------------------------------------------------------------------------------------------


class VerifyCluster(Protocol):
    """Read-only cluster access; a missing object is None, any other failure raises ClusterError."""

    def cluster_policy(self, *, name: str) -> KubeObject | None: ...

    def hpa(self, *, namespace: str, name: str) -> KubeObject | None: ...

    def network_policy(self, *, namespace: str, name: str) -> KubeObject | None: ...

    def job(self, *, namespace: str, name: str) -> KubeObject | None: ...

    def pods(self, *, namespace: str, selector: str) -> list[KubeObject]: ...

    def admission_dry_run(self, *, namespace: str, pod: KubeObject) -> AdmissionAnswer:
        """A server-side dry-run create (`dryRun=All`) of `pod`: nothing is stored, admission runs.

        Returns the API's answer (admitted, or refused with its status and message); raises
        ClusterError only when the API server could not be asked at all.
        """
        ...


class ScrapeTarget(BaseModel):
    instance: str
    health: str  # "up" | "down" | "unknown", as Prometheus reports it
    last_error: str = ""


class TargetSource(Protocol):
    """Prometheus' active scrape targets of one job; raises Unavailable when Prometheus cannot be asked."""

    @property
    def where(self) -> str: ...

    def targets(self, *, job: str) -> list[ScrapeTarget]: ...


class HealthProbe(Protocol):
    """GET the URL; returns the HTTP status. Raises Unavailable with the reason when nothing answered."""

    def status(self, url: str) -> int: ...


class CanaryRecord(BaseModel):
    """One entry of the bot's canary history (newest first when handed over)."""

    canary_id: str
    at: datetime
    actor: str
    event: str  # start | promote | complete | abort | auto_rollback
    outcome: str  # ok | failed
    image: str = ""
    detail: str = ""
    stage_before: int | None = None  # stage index (0-based) before the step; None for a start
    stage_after: int | None = None  # stage index after the step; None for a completion


class CanaryHistory(Protocol):
    """The bot's own canary record; raises Unavailable when it cannot be read."""

    def recent(self) -> list[CanaryRecord]: ...


class VerifyTargets(BaseModel):
    """What the checklist looks for (from `verify:`, `release:` and `gates:` in bizra.yaml)."""

    namespace: str = "bizra-production"
    label_selector: str = "app=node0"
    expected_ready_pods: int = 3
    kyverno_policy: str = "require-signed-images"
    admission_probe_image: str = "nginx:latest"  # the checklist's own probe: `kubectl run test-unsigned --image=…`
    admission_probe_pod: str = "test-unsigned"
    hpa: str = "node0-hpa-circuit-breaker"
    hpa_metric: str = "circuit_breaker_requests_per_second"
    default_deny_policy: str = "default-deny-all"
    poi_job: str = "poi-attestation-validator"
    health_url: str = "https://api.bizra.ai/health"
    prometheus_job: str = "node0"
    min_validators: int = 3
    artifacts_dir: Path = Path("artifacts")


@dataclass(frozen=True)
class VerifyPorts:
    cluster: VerifyCluster
    prometheus: TargetSource
    health: HealthProbe
    canary: CanaryHistory


# -- checks -------------------------------------------------------------------------------------------

HARDENING = "ops/hardening"


def _unknown(key: str, title: str, exc: Exception) -> Check:
    reason = str(exc)
    if isinstance(exc, ClusterError) and exc.kind is ClusterErrorKind.FORBIDDEN:
        reason = f"no permission: {reason}"
    return Check(key=key, title=title, status=CheckStatus.UNKNOWN, detail=reason)


def _guard(key: str, title: str, check: Callable[[], Check]) -> Check:
    """Run one check; a source that cannot be read makes it UNKNOWN, never PASS and never a crash."""
    try:
        return check()
    except (ClusterError, Unavailable) as exc:
        return _unknown(key, title, exc)


def check_kyverno(cluster: VerifyCluster, t: VerifyTargets) -> Check:
    key, title = "kyverno", "Kyverno policy present and enforcing"
    policy = cluster.cluster_policy(name=t.kyverno_policy)
    if policy is None:
        return Check(key=key, title=title, status=CheckStatus.FAIL,
                     detail=f"ClusterPolicy {t.kyverno_policy} not found",
                     fix=f"kubectl apply -f {HARDENING}/01-kyverno-require-signed-images.yaml (after creating the "
                         "cosign-public-key Secret from ops/keys/cosign.pub)")
    spec = policy.get("spec") or {}
    action = str(spec.get("validationFailureAction") or "Audit")
    if action.lower() != "enforce":
        return Check(key=key, title=title, status=CheckStatus.FAIL,
                     detail=f"ClusterPolicy {t.kyverno_policy} is in {action} mode: unsigned images are only reported",
                     fix=f"set spec.validationFailureAction: Enforce (kubectl apply -f {HARDENING}/01-kyverno-"
                         "require-signed-images.yaml)")
    conditions = ((policy.get("status") or {}).get("conditions")) or []
    ready = [c for c in conditions if c.get("type") == "Ready"]
    if ready and str(ready[0].get("status")) != "True":
        message = ready[0].get("message") or ready[0].get("reason") or "not ready"
        return Check(key=key, title=title, status=CheckStatus.FAIL,
                     detail=f"ClusterPolicy {t.kyverno_policy} is not ready: {message}",
                     fix="check the Kyverno admission controller (kubectl -n kyverno get pods, logs) and the "
                         "cosign-public-key Secret")
    readiness = "ready" if ready else "readiness not reported by Kyverno"
    return Check(key=key, title=title, status=CheckStatus.PASS,
                 detail=f"ClusterPolicy {t.kyverno_policy}: Enforce, {readiness}")


# Words in an admission refusal that say it is about the image's signature (Kyverno's verifyImages
# and the registry rule of ops/hardening/01-*.yaml say "signature verification failed"; other
# verifiers say "cosign", "attestor", "unsigned" or "no matching signatures").
SIGNATURE_WORDS = ("signature", "cosign", "attestor", "unsigned", "not signed")
ADMISSION_TITLE = "Unsigned image refused at admission"


def probe_pod(t: VerifyTargets) -> KubeObject:
    """The checklist's `kubectl run test-unsigned --image=nginx:latest` as a Pod, for a dry-run create only.

    It is otherwise as harmless as a pod gets (restricted security context, tiny requests), so that
    a refusal comes from the image rule, not from Pod Security or a quota.
    """
    name = t.admission_probe_pod
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": t.namespace,
                     "labels": {"run": name, "app.kubernetes.io/managed-by": "bizra-bot",
                                "bizra.ai/probe": "admission"}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": name,
                "image": t.admission_probe_image,
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                              "limits": {"cpu": "10m", "memory": "16Mi"}},
            }],
        },
    }


def _quote(message: str, limit: int = 400) -> str:
    message = " ".join(message.split())
    return f"“{message[:limit]}{'…' if len(message) > limit else ''}”"


def _signature_quote(message: str, t: VerifyTargets, limit: int = 220) -> str:
    """The webhook's refusal, cut to who refused and the clause about the signature (Kyverno's are long)."""
    flat = " ".join(message.split())
    masked = flat.lower()
    for own in (t.admission_probe_pod, t.admission_probe_image):  # the probe's own words say nothing
        masked = masked.replace(own.lower(), "#" * len(own))
    found = [i for i in (masked.find(word) for word in SIGNATURE_WORDS) if i >= 0]
    if not found:
        return _quote(flat)
    at = min(found)
    start = masked.rfind(": ", 0, at)
    if start >= 0 and at - start < 24:  # a short clause ("no matching signatures"): keep the one before it too
        start = masked.rfind(": ", 0, start)
    start = start + 2 if start >= 0 else 0
    denied = masked.find("denied the request")
    head = flat[:denied + len("denied the request")] + " … " if 0 <= denied < start else ""
    clause = flat[start:]
    return f"“{head}{clause[:limit]}{'…' if len(clause) > limit else ''}”"


def check_admission(cluster: VerifyCluster, t: VerifyTargets) -> Check:
    """DoD gate 1: a dry-run create of a pod with an unsigned image must be refused for its signature."""
    key, title = "admission", ADMISSION_TITLE
    probe = f"dry-run create of pod {t.admission_probe_pod} ({t.admission_probe_image}) in {t.namespace}"
    answer = cluster.admission_dry_run(namespace=t.namespace, pod=probe_pod(t))
    message = answer.message
    lowered = message.lower()
    if answer.admitted:
        return Check(key=key, title=title, status=CheckStatus.FAIL,
                     detail=f"THE CLUSTER ACCEPTS UNSIGNED IMAGES: the {probe} was admitted ({answer.status}); "
                            f"kubectl run test-unsigned --image={t.admission_probe_image} would start it",
                     fix=f"kubectl apply -f {HARDENING}/01-kyverno-require-signed-images.yaml (both rules, Enforce) "
                         "and check that Kyverno's webhooks are registered (kubectl get "
                         "validatingwebhookconfigurations,mutatingwebhookconfigurations | grep kyverno)")
    if "denied the request" not in lowered and any(word in lowered for word in ("dry run", "dryrun", "dry-run")):
        return Check(key=key, title=title, status=CheckStatus.UNKNOWN,
                     detail=f"the API server refused the dry run, so admission was not tested: {_quote(message)}")
    if "failed calling webhook" in lowered or "failed to call webhook" in lowered or (
            answer.status >= 500 and "denied the request" not in lowered):
        return Check(key=key, title=title, status=CheckStatus.UNKNOWN,
                     detail=f"the admission webhook could not be reached ({answer.status} {answer.reason}), "
                            f"so the {probe} proves nothing: {_quote(message)}")
    webhook_denied = "denied the request" in lowered or "admission webhook" in lowered
    # The probe's own name ("test-unsigned") is in most refusals: it says nothing about the reason.
    reasons = lowered.replace(t.admission_probe_pod.lower(), "").replace(t.admission_probe_image.lower(), "")
    if webhook_denied and any(word in reasons for word in SIGNATURE_WORDS):
        return Check(key=key, title=title, status=CheckStatus.PASS,
                     detail=f"refused at admission ({answer.status}): {_signature_quote(message, t)}")
    if answer.status in (401, 403) and not webhook_denied and "cannot create resource" in lowered:
        return Check(key=key, title=title, status=CheckStatus.UNKNOWN,
                     detail=f"no permission: Kubernetes refused the bot the dry-run create of pods ({answer.status}); "
                            f"the Role in ops/bot/base/rbac.yaml grants it: {_quote(message)}")
    if answer.status == 409:
        return Check(key=key, title=title, status=CheckStatus.UNKNOWN,
                     detail=f"a pod named {t.admission_probe_pod} already exists in {t.namespace}, so the dry run "
                            f"stopped before an answer about the image: {_quote(message)}")
    return Check(key=key, title=title, status=CheckStatus.UNKNOWN,
                 detail=f"the {probe} was refused ({answer.status} {answer.reason}), but not for the image's "
                        f"signature, so it does not show that unsigned images are refused: {_quote(message)}")


def _pods_metric(metrics: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    for metric in metrics:
        pods = metric.get("pods") or {}
        if metric.get("type") == "Pods" and (pods.get("metric") or {}).get("name") == name:
            return pods
    return None


def check_hpa(cluster: VerifyCluster, t: VerifyTargets) -> Check:
    key, title = "hpa", "HPA on the custom metric"
    hpa = cluster.hpa(namespace=t.namespace, name=t.hpa)
    fix_apply = f"kubectl apply -f {HARDENING}/02-hpa-custom-metrics.yaml"
    if hpa is None:
        return Check(key=key, title=title, status=CheckStatus.FAIL, detail=f"HPA {t.namespace}/{t.hpa} not found",
                     fix=fix_apply)
    spec_metric = _pods_metric((hpa.get("spec") or {}).get("metrics") or [], t.hpa_metric)
    if spec_metric is None:
        return Check(key=key, title=title, status=CheckStatus.FAIL,
                     detail=f"HPA {t.hpa} does not scale on the Pods metric {t.hpa_metric}", fix=fix_apply)
    target = (spec_metric.get("target") or {}).get("averageValue", "?")
    status = hpa.get("status") or {}
    current_metric = _pods_metric(status.get("currentMetrics") or [], t.hpa_metric)
    current = ((current_metric or {}).get("current") or {}).get("averageValue")
    replicas = f"{status.get('currentReplicas', '?')} replica(s)"
    if current is None:
        return Check(key=key, title=title, status=CheckStatus.FAIL,
                     detail=f"HPA {t.hpa} has no current value for {t.hpa_metric} (target {target}/pod, {replicas})",
                     fix=f"the Prometheus Adapter does not serve {t.hpa_metric}: check its rule "
                         f"({HARDENING}/02-hpa-custom-metrics.yaml) and `kubectl get --raw "
                         f"/apis/custom.metrics.k8s.io/v1beta1/namespaces/{t.namespace}/pods/*/{t.hpa_metric}`")
    return Check(key=key, title=title, status=CheckStatus.PASS,
                 detail=f"{t.hpa_metric}: {current}/{target} per pod, {replicas}")


def check_default_deny(cluster: VerifyCluster, t: VerifyTargets) -> Check:
    key, title = "network_policy", "Default-deny NetworkPolicy"
    fix = f"kubectl apply -f {HARDENING}/03-network-policy-default-deny.yaml"
    policy = cluster.network_policy(namespace=t.namespace, name=t.default_deny_policy)
    if policy is None:
        return Check(key=key, title=title, status=CheckStatus.FAIL,
                     detail=f"NetworkPolicy {t.namespace}/{t.default_deny_policy} not found", fix=fix)
    spec = policy.get("spec") or {}
    problems = []
    if (spec.get("podSelector") or {}) != {}:
        problems.append("it selects only some pods (podSelector must be {})")
    types = set(spec.get("policyTypes") or [])
    for kind in ("Ingress", "Egress"):
        if kind not in types:
            problems.append(f"it does not cover {kind}")
    if spec.get("ingress") or spec.get("egress"):
        problems.append("it allows traffic itself (a default deny has no rules)")
    if problems:
        return Check(key=key, title=title, status=CheckStatus.FAIL,
                     detail=f"{t.default_deny_policy} is not a default deny: " + "; ".join(problems), fix=fix)
    return Check(key=key, title=title, status=CheckStatus.PASS,
                 detail=f"{t.default_deny_policy}: all pods, Ingress and Egress denied by default")


def check_poi_job(cluster: VerifyCluster, t: VerifyTargets) -> Check:
    key, title = "poi_job", "PoI attestation validator Job"
    rerun = (f"kubectl delete job {t.poi_job} -n {t.namespace} --ignore-not-found && "
             f"kubectl apply -f {HARDENING}/04-poi-attestation-validator.yaml")
    job = cluster.job(namespace=t.namespace, name=t.poi_job)
    if job is None:
        return Check(key=key, title=title, status=CheckStatus.FAIL, detail=f"Job {t.namespace}/{t.poi_job} not found",
                     fix=f"kubectl apply -f {HARDENING}/04-poi-attestation-validator.yaml")
    completions = int((job.get("spec") or {}).get("completions") or 1)
    status = job.get("status") or {}
    succeeded, failed, active = (int(status.get(k) or 0) for k in ("succeeded", "failed", "active"))
    shown = f"{succeeded}/{completions}"
    if succeeded >= completions:
        return Check(key=key, title=title, status=CheckStatus.PASS, detail=f"{t.poi_job}: {shown} succeeded")
    if failed:
        return Check(key=key, title=title, status=CheckStatus.FAIL,
                     detail=f"{t.poi_job}: {shown}, failed — the attestation is missing or invalid",
                     fix=f"read `kubectl logs job/{t.poi_job} -n {t.namespace}`, fix the evidence "
                         f"(`bizra attest verify`), then {rerun}")
    state = "running" if active else "not started"
    return Check(key=key, title=title, status=CheckStatus.FAIL, detail=f"{t.poi_job}: {shown}, {state}",
                 fix=f"wait for it to finish and run /bizra verify again; if it is stuck: {rerun}")


def _ready(pod: KubeObject) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False  # terminating pods are leaving, whatever their condition says
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and str(c.get("status")) == "True" for c in conditions)


def check_pods(cluster: VerifyCluster, t: VerifyTargets) -> Check:
    key, title = "pods", "NODE0 pods ready"
    pods = cluster.pods(namespace=t.namespace, selector=t.label_selector)
    ready = sum(1 for pod in pods if _ready(pod))
    shown = f"{ready}/{t.expected_ready_pods} ready ({len(pods)} pod(s) match {t.label_selector})"
    if ready >= t.expected_ready_pods:
        return Check(key=key, title=title, status=CheckStatus.PASS, detail=shown)
    return Check(key=key, title=title, status=CheckStatus.FAIL, detail=shown,
                 fix=f"kubectl get pods -n {t.namespace} -l {t.label_selector} and kubectl describe the ones not "
                     "ready (image pull, probes, scheduling); /bizra rollback if the release caused it")


def check_health(health: HealthProbe, t: VerifyTargets) -> Check:
    key, title = "health", "NODE0 health endpoint"
    try:
        code = health.status(t.health_url)
    except Unavailable as exc:
        # Nothing answered: that IS the finding for a health endpoint (the check was made).
        return Check(key=key, title=title, status=CheckStatus.FAIL, detail=f"{t.health_url}: {exc}",
                     fix="check NODE0's pods, Service and ingress; if NODE0 is up, check that the bot may reach "
                         "the URL (its NetworkPolicy, DNS) and verify.health_url in the config")
    if code == 200:
        return Check(key=key, title=title, status=CheckStatus.PASS, detail=f"{t.health_url} answered 200")
    return Check(key=key, title=title, status=CheckStatus.FAIL, detail=f"{t.health_url} answered {code}, not 200",
                 fix="read NODE0's logs (kubectl logs -n bizra-production -l app=node0) for why it reports unhealthy")


def check_prometheus_target(prometheus: TargetSource, t: VerifyTargets) -> Check:
    key, title = "prometheus_target", "Prometheus target for NODE0 up"
    targets = prometheus.targets(job=t.prometheus_job)
    if not targets:
        return Check(key=key, title=title, status=CheckStatus.FAIL,
                     detail=f"Prometheus at {prometheus.where} has no active target with job=\"{t.prometheus_job}\"",
                     fix="add NODE0 to Prometheus' scrape config (or its ServiceMonitor) with job "
                         f"{t.prometheus_job}; check the scrape NetworkPolicy in {HARDENING}/03-*.yaml")
    down = [target for target in targets if target.health != "up"]
    if down:
        listed = "; ".join(f"{d.instance} {d.health}" + (f" ({d.last_error[:120]})" if d.last_error else "")
                           for d in down)
        return Check(key=key, title=title, status=CheckStatus.FAIL,
                     detail=f"{len(targets) - len(down)}/{len(targets)} up: {listed}",
                     fix="the SLOs are blind while a target is down: check NODE0's /metrics and the "
                         f"Prometheus scrape NetworkPolicy ({HARDENING}/03-network-policy-default-deny.yaml)")
    return Check(key=key, title=title, status=CheckStatus.PASS,
                 detail=f"{len(targets)}/{len(targets)} target(s) of job {t.prometheus_job} up")


def check_wq_proof(t: VerifyTargets) -> Check:
    key, title = "wq_proof", f"WQ proof with ≥ {t.min_validators} validators"
    try:
        evidence = load_evidence(t.artifacts_dir)
    except EvidenceDirError as exc:
        return Check(key=key, title=title, status=CheckStatus.FAIL, detail=str(exc),
                     fix="set gates.artifacts_dir to the release's evidence")
    verdict = judge_wq_proof(evidence, GatePolicy(wq_min_validators=t.min_validators))
    if verdict.outcome is Outcome.PASS:
        return Check(key=key, title=title, status=CheckStatus.PASS, detail=verdict.measured)
    return Check(key=key, title=title, status=CheckStatus.FAIL, detail=verdict.detail or verdict.measured,
                 fix=f"publish a wq_proof.json from a run with ≥ {t.min_validators} validators on one head "
                     "(deterministic, with telemetry), re-sign with `bizra attest sign`, then `/bizra gates`")


def check_last_canary(canary: CanaryHistory) -> Check:
    key, title = "canary", "Last canary completed without a breach"
    records = canary.recent()
    if not records:
        return Check(key=key, title=title, status=CheckStatus.FAIL, detail="no canary on record in the bot's store",
                     fix="run the release through `/bizra canary start <image>` and its stages")
    latest = records[0].canary_id
    run = [r for r in records if r.canary_id == latest]  # newest first
    last = run[0]
    when = last.at.strftime("%Y-%m-%d %H:%M UTC")
    if last.event == "auto_rollback":
        return Check(key=key, title=title, status=CheckStatus.FAIL,
                     detail=f"canary {latest} was rolled back on an SLO breach at {when}: {last.detail}",
                     fix="investigate the breach (/bizra slo, the incident bundle), fix, and start a new canary")
    if last.event == "abort":
        return Check(key=key, title=title, status=CheckStatus.FAIL,
                     detail=f"canary {latest} was aborted by {last.actor} at {when}: {last.detail}",
                     fix="start a new canary when the cause is fixed")
    if last.event != "complete":
        return Check(key=key, title=title, status=CheckStatus.FAIL,
                     detail=f"canary {latest} is still running (last step: {last.event} at {when})",
                     fix="let it bake and `/bizra canary promote` through the last stage, then verify again")
    if last.outcome != "ok":
        return Check(key=key, title=title, status=CheckStatus.FAIL,
                     detail=f"completing canary {latest} failed at {when}: {last.detail}",
                     fix="see `/bizra canary status` and the audit log; complete or abort the canary")
    # Promotion is refused on any breach during a stage unless forced: a forced step may have hidden one.
    forced = [r for r in run if "forced" in r.detail]
    if forced:
        return Check(key=key, title=title, status=CheckStatus.FAIL,
                     detail=f"canary {latest} completed at {when}, but {forced[-1].event} was forced: "
                            f"{forced[-1].detail}",
                     fix="confirm on the dashboard that no SLO breached during the forced stage, or run a new canary")
    return Check(key=key, title=title, status=CheckStatus.PASS,
                 detail=f"canary {latest} ({last.image}) completed at {when}; every stage promoted within its SLOs")


def evaluate(ports: VerifyPorts, targets: VerifyTargets, *, now: datetime, requested_by: str) -> VerifyReport:
    """The whole checklist, in the seed's order (Phase 2 hardening, then Phase 4 verification)."""
    c, t = ports.cluster, targets
    checks = [
        _guard("kyverno", "Kyverno policy present and enforcing", lambda: check_kyverno(c, t)),
        _guard("admission", ADMISSION_TITLE, lambda: check_admission(c, t)),
        _guard("hpa", "HPA on the custom metric", lambda: check_hpa(c, t)),
        _guard("network_policy", "Default-deny NetworkPolicy", lambda: check_default_deny(c, t)),
        _guard("poi_job", "PoI attestation validator Job", lambda: check_poi_job(c, t)),
        _guard("pods", "NODE0 pods ready", lambda: check_pods(c, t)),
        _guard("health", "NODE0 health endpoint", lambda: check_health(ports.health, t)),
        _guard("prometheus_target", "Prometheus target for NODE0 up",
               lambda: check_prometheus_target(ports.prometheus, t)),
        _guard("wq_proof", f"WQ proof with ≥ {t.min_validators} validators", lambda: check_wq_proof(t)),
        _guard("canary", "Last canary completed without a breach", lambda: check_last_canary(ports.canary)),
    ]
    return VerifyReport(namespace=t.namespace, checked_at=now, requested_by=requested_by, checks=checks)
