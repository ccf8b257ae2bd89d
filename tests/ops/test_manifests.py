"""ops/ manifests: every YAML parses, core objects validate against the Kubernetes schemas (offline,
kubernetes-validate), CRD objects carry the fields their controllers require, and the bot's own
deployment has the properties the issue promises (replicas, non-root, read-only root, probes)."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from bot.core.config import load_config
from tests.ops.support import OPS, ROOT, documents, find, objects, yaml_files

K8S_VERSION = "1.30.0"
CORE_GROUPS = {"", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io"}
ALL_OBJECTS = objects(OPS)


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_file_parses(path: Path) -> None:
    assert documents(path), f"{path} holds no YAML document"


def test_grafana_dashboard_is_json() -> None:
    json.loads((OPS / "monitoring" / "grafana-node0-slos.json").read_text(encoding="utf-8"))


CORE = [(p, d) for p, d in ALL_OBJECTS if group_of(d["apiVersion"]) in CORE_GROUPS]


@pytest.mark.parametrize(
    ("path", "obj"), CORE, ids=[f"{p.relative_to(OPS)}:{d['kind']}/{d['metadata']['name']}" for p, d in CORE]
)
def test_core_objects_validate_against_kubernetes_schema(path: Path, obj: dict) -> None:
    # strict: unknown fields (typos such as `readOnlyRootFileSystem`) fail too.
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_schema_validation_rejects_a_broken_object() -> None:
    broken = find("Deployment", "bizra-bot")
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_manifests_cover_the_issue() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for _, d in ALL_OBJECTS}
    for expected in [
        ("ClusterPolicy", "require-signed-images"),
        ("HorizontalPodAutoscaler", "node0-hpa-circuit-breaker"),
        ("NetworkPolicy", "default-deny-all"),
        ("Job", "poi-attestation-validator"),
        ("Deployment", "bizra-bot"),
        ("Service", "bizra-bot"),
        ("ServiceAccount", "bizra-bot"),
        ("Role", "bizra-bot"),
        ("RoleBinding", "bizra-bot"),
        ("NetworkPolicy", "bizra-bot"),
        ("PodDisruptionBudget", "bizra-bot"),
        ("ConfigMap", "bizra-bot-config"),
    ]:
        assert expected in kinds, f"missing {expected}"


# -- Kyverno -----------------------------------------------------------------------------------------
def test_kyverno_policy_enforces_cosign_signatures_from_the_one_key_file() -> None:
    policy = find("ClusterPolicy", "require-signed-images")
    assert policy["apiVersion"] == "kyverno.io/v1"
    spec = policy["spec"]
    assert spec["validationFailureAction"] == "Enforce"
    assert spec["rules"], "a ClusterPolicy needs rules"
    rule = spec["rules"][0]
    assert rule["name"] and rule["match"]["any"][0]["resources"]["kinds"] == ["Pod"]
    assert rule["match"]["any"][0]["resources"]["namespaces"] == ["bizra-production"]
    verify = rule["verifyImages"][0]
    assert verify["imageReferences"] == ["ghcr.io/bizra/*"]
    entries = verify["attestors"][0]["entries"]
    assert entries[0]["keys"]["publicKeys"] == "k8s://kyverno/cosign-public-key"
    text = (OPS / "hardening" / "01-kyverno-require-signed-images.yaml").read_text(encoding="utf-8")
    assert "BEGIN PUBLIC KEY" not in text, "the key must come from ops/keys/cosign.pub, not be pasted in"
    assert "--from-file=cosign.pub=ops/keys/cosign.pub" in text


def _files(root: Path, skipped: tuple[str, ...]) -> Iterator[Path]:
    """Every file under `root`, not descending into directories named in `skipped` (nor yielding such files)."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skipped]
        for name in files:
            path = Path(folder) / name
            if name not in skipped and path.is_file():
                yield path


def test_cosign_public_key_is_ecdsa_p256_and_no_private_key_is_committed() -> None:
    key = load_pem_public_key((OPS / "keys" / "cosign.pub").read_bytes())
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    skipped = (".git", ".venv", ".venv-tools", "node_modules")
    for path in _files(ROOT, skipped):
        if path.suffix in (".py",) or path.stat().st_size > 1_000_000:
            continue  # test code may spell the marker; big files are not keys
        assert b"PRIVATE KEY-----" not in path.read_bytes(), f"{path} holds a private key"


# -- HPA and Prometheus Adapter --------------------------------------------------------------------
def test_hpa_scales_on_the_custom_metric_at_400k_per_replica() -> None:
    hpa = find("HorizontalPodAutoscaler", "node0-hpa-circuit-breaker")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "node0"}
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods"
    assert metric["pods"]["metric"]["name"] == "circuit_breaker_requests_per_second"
    target = float(metric["pods"]["target"]["averageValue"])
    assert target == 400_000
    # The HPA's rule: desired = ceil(replicas * observed / target). The seed: one replica at 500K -> 2.
    assert math.ceil(1 * 500_000 / target) == 2
    assert math.ceil(1 * 399_000 / target) == 1


def test_prometheus_adapter_rule_exposes_the_metric() -> None:
    adapter = find("ConfigMap", "prometheus-adapter")
    config = yaml.safe_load(adapter["data"]["config.yaml"])
    rules = config["rules"]
    exposed = [r for r in rules if r["name"]["as"] == "circuit_breaker_requests_per_second"]
    assert len(exposed) == 1
    rule = exposed[0]
    for required in ("seriesQuery", "resources", "name", "metricsQuery"):
        assert rule.get(required), f"adapter rule lacks {required}"
    assert "node0_cb_requests_total" in rule["seriesQuery"]
    assert re.match(rule["name"]["matches"], "node0_cb_requests_total")
    assert set(rule["resources"]["overrides"]) == {"namespace", "pod"}
    assert "<<.Series>>" in rule["metricsQuery"] and "<<.LabelMatchers>>" in rule["metricsQuery"]
    assert "rate(" in rule["metricsQuery"]


# -- NetworkPolicy ---------------------------------------------------------------------------------
def test_default_deny_blocks_everything_and_allow_rules_are_narrow() -> None:
    deny = find("NetworkPolicy", "default-deny-all")
    assert deny["metadata"]["namespace"] == "bizra-production"
    assert deny["spec"]["podSelector"] == {}
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    dns = find("NetworkPolicy", "allow-dns-egress")
    ports = {(p["protocol"], p["port"]) for rule in dns["spec"]["egress"] for p in rule["ports"]}
    assert ports == {("UDP", 53), ("TCP", 53)}


def test_bot_egress_is_only_dns_api_server_prometheus_and_https() -> None:
    policy = find("NetworkPolicy", "bizra-bot")
    egress = policy["spec"]["egress"]
    egress_ports = sorted(sorted((p["protocol"], p["port"]) for p in rule["ports"]) for rule in egress)
    assert egress_ports == sorted([
        [("TCP", 53), ("UDP", 53)],          # DNS
        [("TCP", 443), ("TCP", 6443)],       # API server
        [("TCP", 9090)],                     # Prometheus
        [("TCP", 443)],                      # Slack (public HTTPS)
    ])
    slack = next(r for r in egress if r["ports"] == [{"protocol": "TCP", "port": 443}])
    assert set(slack["to"][0]["ipBlock"]["except"]) == {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}


# -- PoI validator ---------------------------------------------------------------------------------
def test_poi_validator_runs_bizra_attest_verify_once() -> None:
    job = find("Job", "poi-attestation-validator")
    spec = job["spec"]
    assert spec["backoffLimit"] == 0 and spec["completions"] == 1
    (container,) = spec["template"]["spec"]["containers"]
    assert container["command"] == ["bizra"]
    assert container["args"][:2] == ["attest", "verify"]
    assert re.fullmatch(r"ghcr\.io/bizra/bizra-bot@sha256:[0-9a-f]{64}", container["image"])


# -- the bot's own deployment: a base and two variants (ops/bot/base, ops/bot/sqlite, ops/bot/postgresql) ------
def test_bot_deployment_is_hardened() -> None:
    deployment = find("Deployment", "bizra-bot")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] >= 10000
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["requests"] and container["resources"]["limits"]
    # Liveness: the process serves; readiness: the store is usable too (a broken store takes the pod
    # out of the Service without restarting it in a loop).
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert volumes[mounts["/etc/bizra"]]["configMap"]["name"] == "bizra-bot-config"
    # The leader election's identity and the Lease's namespace come from the pod itself.
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    # Secrets by reference only: no Secret object with data is committed.
    assert container["envFrom"] == [{"secretRef": {"name": "bizra-bot-slack"}}]
    assert not [d for _, d in ALL_OBJECTS if d["kind"] == "Secret"]


def test_bot_configmap_is_a_valid_bizra_yaml(tmp_path: Path) -> None:
    config_map = find("ConfigMap", "bizra-bot-config")
    path = tmp_path / "bizra.yaml"
    path.write_text(config_map["data"]["bizra.yaml"], encoding="utf-8")
    config = load_config(path)
    assert str(config.store.path).startswith("/var/lib/bizra/")  # on the writable volume
    assert str(config.release.rollback.incidents_dir).startswith("/var/lib/bizra/")
    assert config.release.kube.mode == "in-cluster"


def test_pdb_and_service_select_the_bot_pods() -> None:
    labels = find("Deployment", "bizra-bot")["spec"]["template"]["metadata"]["labels"]
    pdb = find("PodDisruptionBudget", "bizra-bot")
    assert pdb["spec"]["minAvailable"] == 2  # of the PostgreSQL variant's three (the SQLite variant has none)
    for selector in (pdb["spec"]["selector"]["matchLabels"], find("Service", "bizra-bot")["spec"]["selector"]):
        assert selector.items() <= labels.items()


# -- every non-core object has a required-field check ------------------------------------------------
def _kyverno_policy(obj: dict) -> list[str]:
    spec = obj.get("spec") or {}
    missing = [] if spec.get("rules") else ["spec.rules"]
    for index, rule in enumerate(spec.get("rules") or []):
        missing += [f"spec.rules[{index}].{k}" for k in ("name", "match") if not rule.get(k)]
        for verify in rule.get("verifyImages") or []:
            missing += [f"spec.rules[{index}].verifyImages.{k}" for k in ("imageReferences", "attestors")
                        if not verify.get(k)]
    return missing


def _metric_template(obj: dict) -> list[str]:
    spec = obj.get("spec") or {}
    provider = spec.get("provider") or {}
    missing = [f"spec.{k}" for k in ("provider", "query") if not spec.get(k)]
    missing += ["spec.provider.type"] if not provider.get("type") else []
    if provider.get("type") == "prometheus" and not provider.get("address"):
        missing.append("spec.provider.address")
    return missing


def _flagger_canary(obj: dict) -> list[str]:
    spec = obj.get("spec") or {}
    missing = [f"spec.{k}" for k in ("targetRef", "service", "analysis") if not spec.get(k)]
    analysis = spec.get("analysis") or {}
    missing += [f"spec.analysis.{k}" for k in ("interval", "threshold") if not analysis.get(k)]
    if not (analysis.get("iterations") or analysis.get("stepWeight") or analysis.get("stepWeights")):
        missing.append("spec.analysis.stepWeight|stepWeights|iterations")
    return missing


def _http_route(obj: dict) -> list[str]:
    spec = obj.get("spec") or {}
    missing = [f"spec.{k}" for k in ("parentRefs", "rules") if not spec.get(k)]
    for index, rule in enumerate(spec.get("rules") or []):
        for ref in rule.get("backendRefs") or []:
            missing += [f"spec.rules[{index}].backendRefs.{k}" for k in ("name", "port") if ref.get(k) in (None, "")]
    return missing


def _argo_rollout(obj: dict) -> list[str]:
    spec = obj.get("spec") or {}
    missing = [f"spec.{k}" for k in ("selector", "template", "strategy") if not spec.get(k)]
    canary = (spec.get("strategy") or {}).get("canary") or {}
    if not canary:
        missing.append("spec.strategy.canary")
    missing += [f"spec.strategy.canary.{k}" for k in ("stableService", "canaryService", "steps") if canary and
                not canary.get(k)]
    if not (((spec.get("template") or {}).get("spec") or {}).get("containers")):
        missing.append("spec.template.spec.containers")
    # The bot holds each stage itself: every pause must be indefinite (`pause: {}`), never timed.
    for index, step in enumerate(canary.get("steps") or []):
        if "pause" in step and (step["pause"] or {}).get("duration"):
            missing.append(f"spec.strategy.canary.steps[{index}].pause without duration")
    return missing


REQUIRED_FIELDS = {
    ("argoproj.io", "Rollout"): _argo_rollout,
    ("kyverno.io", "ClusterPolicy"): _kyverno_policy,
    ("flagger.app", "MetricTemplate"): _metric_template,
    ("flagger.app", "Canary"): _flagger_canary,
    ("gateway.networking.k8s.io", "HTTPRoute"): _http_route,
}
CUSTOM = [(p, d) for p, d in ALL_OBJECTS if group_of(d["apiVersion"]) not in CORE_GROUPS]


@pytest.mark.parametrize(
    ("path", "obj"), CUSTOM, ids=[f"{p.relative_to(OPS)}:{d['kind']}/{d['metadata']['name']}" for p, d in CUSTOM]
)
def test_custom_resources_have_their_required_fields(path: Path, obj: dict) -> None:
    checker = REQUIRED_FIELDS.get((group_of(obj["apiVersion"]), obj["kind"]))
    assert checker is not None, f"{obj['kind']} ({obj['apiVersion']}) has no required-field check: add one here"
    assert obj["metadata"].get("name")
    assert not checker(obj), f"{path}: {obj['kind']} {obj['metadata']['name']} lacks {checker(obj)}"


def test_required_field_checks_catch_omissions() -> None:
    assert _kyverno_policy({"spec": {"rules": [{"name": "r"}]}}) == ["spec.rules[0].match"]
    assert _metric_template({"spec": {"provider": {"type": "prometheus"}, "query": "up"}}) == ["spec.provider.address"]
    assert "spec.analysis" in _flagger_canary({"spec": {"targetRef": {}, "service": {"port": 80}}})
    assert _http_route({"spec": {"parentRefs": [{}], "rules": [{"backendRefs": [{"name": "x"}]}]}}) == [
        "spec.rules[0].backendRefs.port"]
    assert _argo_rollout({"spec": {"selector": {}, "template": {"spec": {"containers": [{}]}}, "strategy": {
        "canary": {"stableService": "s", "canaryService": "c", "steps": [{"pause": {"duration": "1h"}}]}}}}) == [
        "spec.selector", "spec.strategy.canary.steps[0].pause without duration"]
