"""`/bizra verify` against the Kubernetes test server, a real Prometheus and a real health endpoint:
healthy, then each item broken (❌ with a fix), then sources that cannot be read (❔ with the reason)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bot.assembly import build_registry, build_runtime
from bot.core.invocation import Invocation, Reply
from commands.verify import CheckStatus, VerifyReport
from tests.support.shared_prometheus import DOWN_JOB, SharedPrometheus
from tests.verify.conftest import NS, World, closed_port_url, make_config, pod, record_canary

RENDERERS = build_registry().renderers
to_text, to_blocks = RENDERERS.text, RENDERERS.blocks

KEYS = ["kyverno", "admission", "hpa", "network_policy", "poi_job", "pods", "health", "prometheus_target", "wq_proof",
        "canary"]


def run_verify(world: World, *, user: str = "console") -> VerifyReport:
    reply: Reply = world.runtime.dispatch(Invocation(text="/bizra verify", subcommand="verify", args=[],
                                                     user_id=user))
    assert isinstance(reply.result, VerifyReport), reply.result
    return reply.result


def statuses(report: VerifyReport) -> dict[str, CheckStatus]:
    return {check.key: check.status for check in report.checks}


def only_broken(report: VerifyReport, key: str, status: CheckStatus = CheckStatus.FAIL) -> str:
    """Assert that exactly `key` has `status` (everything else passes); returns its detail and fix."""
    expected = {k: CheckStatus.PASS for k in KEYS} | {key: status}
    assert statuses(report) == expected, to_text(report)
    (check,) = [c for c in report.checks if c.key == key]
    if status is CheckStatus.FAIL:
        assert check.fix, f"{key}: every ❌ needs a fix"
    else:
        assert check.fix is None
    return f"{check.detail} || {check.fix}"


def test_healthy_cluster_passes_every_check(world: World) -> None:
    report = run_verify(world)
    assert [c.key for c in report.checks] == KEYS
    assert statuses(report) == {k: CheckStatus.PASS for k in KEYS}, to_text(report)
    assert report.ready
    text = to_text(report)
    assert text.count("✅") == 10 and "❌" not in text and "❔" not in text
    assert "350k/400000 per pod" in text  # HPA: the metric's current value against its target
    assert "3/3 ready" in text
    assert "1/1 succeeded" in text
    assert "3 validators B3/B3/B3" in text


def _put(world: World, group: str, plural: str, name: str, change: Callable[[dict[str, Any]], None],
         namespace: str = NS) -> None:
    """Change a stored object in place (the cluster's state), as an operator or controller would."""
    key = (group, plural, namespace, name)
    obj = world.api.objects[key]
    change(obj)


def _delete(world: World, group: str, plural: str, name: str, namespace: str = NS) -> None:
    del world.api.objects[(group, plural, namespace, name)]


BROKEN: dict[str, tuple[str, Callable[[World], None], str]] = {
    "kyverno missing": ("kyverno", lambda w: _delete(w, "kyverno.io", "clusterpolicies", "require-signed-images", ""),
                        "not found"),
    "kyverno audit only": ("kyverno", lambda w: _put(w, "kyverno.io", "clusterpolicies", "require-signed-images",
                                                     lambda o: o["spec"].update(validationFailureAction="Audit"),
                                                     namespace=""), "Audit mode"),
    "kyverno not ready": ("kyverno", lambda w: _put(w, "kyverno.io", "clusterpolicies", "require-signed-images",
                                                    lambda o: o["status"]["conditions"][0].update(status="False"),
                                                    namespace=""), "not ready"),
    "hpa missing": ("hpa", lambda w: _delete(w, "autoscaling", "horizontalpodautoscalers",
                                             "node0-hpa-circuit-breaker"), "not found"),
    "hpa without metric value": ("hpa", lambda w: _put(w, "autoscaling", "horizontalpodautoscalers",
                                                       "node0-hpa-circuit-breaker",
                                                       lambda o: o["status"].update(currentMetrics=[])),
                                 "Prometheus Adapter"),
    "hpa on cpu": ("hpa", lambda w: _put(w, "autoscaling", "horizontalpodautoscalers", "node0-hpa-circuit-breaker",
                                         lambda o: o["spec"].update(metrics=[{"type": "Resource", "resource": {
                                             "name": "cpu", "target": {"type": "Utilization",
                                                                       "averageUtilization": 80}}}])),
                   "does not scale on"),
    "default deny missing": ("network_policy", lambda w: _delete(w, "networking.k8s.io", "networkpolicies",
                                                                 "default-deny-all"), "not found"),
    "default deny allows egress": ("network_policy", lambda w: _put(
        w, "networking.k8s.io", "networkpolicies", "default-deny-all",
        lambda o: o["spec"].update(egress=[{}])), "allows traffic"),
    "poi job failed": ("poi_job", lambda w: _put(w, "batch", "jobs", "poi-attestation-validator",
                                                 lambda o: o.update(status={"failed": 1})), "0/1, failed"),
    "poi job missing": ("poi_job", lambda w: _delete(w, "batch", "jobs", "poi-attestation-validator"), "not found"),
    "poi job running": ("poi_job", lambda w: _put(w, "batch", "jobs", "poi-attestation-validator",
                                                  lambda o: o.update(status={"active": 1})), "running"),
    "a pod not ready": ("pods", lambda w: _put(w, "", "pods", "node0-2",
                                               lambda o: o.update(status=pod("x", ready=False)["status"])),
                        "2/3 ready"),
    "health 503": ("health", lambda w: setattr(w.health, "status", 503), "answered 503"),
    "wq proof with two validators": ("wq_proof", lambda w: _two_validators(w), "need ≥ 3"),
    "canary rolled back": ("canary", lambda w: record_canary(w.runtime, canary_id="c2", events=[
        ("start", "ok", ""), ("auto_rollback", "ok", "cb_latency_p99 breached for 5m")]), "rolled back"),
    "canary still running": ("canary", lambda w: record_canary(w.runtime, canary_id="c3", events=[
        ("start", "ok", ""), ("promote", "ok", "")]), "still running"),
    "canary forced": ("canary", lambda w: record_canary(w.runtime, canary_id="c4", events=[
        ("start", "ok", ""), ("promote", "ok", "forced: hotfix; bypassed: SLO breach"), ("complete", "ok", "")]),
        "forced"),
}


def _two_validators(world: World) -> None:
    path = world.artifacts / "wq_proof.json"
    proof = json.loads(path.read_text(encoding="utf-8"))
    proof["validators"] = proof["validators"][:2]
    path.write_text(json.dumps(proof), encoding="utf-8")


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_broken_item_fails_with_a_fix(world: World, case: str) -> None:
    key, breaks, expected = BROKEN[case]
    breaks(world)
    report = run_verify(world)
    said = only_broken(report, key)
    assert expected in said
    assert not report.ready
    text = to_text(report)
    assert "❌" in text and "fix:" in text and "NOT ready" in text


def test_no_canary_on_record_is_a_failure_not_a_pass(world: World) -> None:
    config = world.runtime.config.model_copy(deep=True)
    config.store.path = world.tmp / "empty.sqlite"  # a bot that never ran a canary
    world.runtime = build_runtime(config=config, secrets=world.runtime.secrets, clock=world.runtime.clock)
    assert "no canary on record" in only_broken(run_verify(world), "canary")


def test_prometheus_target_down_fails(world: World, shared_prometheus: SharedPrometheus) -> None:
    # The shared Prometheus's job node0-down has one target, a port that refuses connections: it scrapes,
    # and reports it down.
    prom = shared_prometheus.prom
    prom.wait_for_value(f'up{{job="{DOWN_JOB}"}}', lambda v: v == 0, timeout=30, what="the failed scrape")
    world.runtime.config.verify.prometheus_job = DOWN_JOB
    said = only_broken(run_verify(world), "prometheus_target")
    assert "0/1 up" in said and "down" in said


def test_no_node0_target_fails(world: World) -> None:
    world.runtime.config.verify.prometheus_job = "node0-prod"
    assert "no active target" in only_broken(run_verify(world), "prometheus_target")


# -- sources that cannot be read: ❔ with the reason, never ✅ -------------------------------------------
def test_prometheus_down_is_unknown_with_the_reason(world: World) -> None:
    world.runtime.config.slo.prometheus.url = closed_port_url()
    said = only_broken(run_verify(world), "prometheus_target", CheckStatus.UNKNOWN)
    assert "unreachable" in said


def test_health_endpoint_not_answering_is_a_failure(world: World) -> None:
    world.runtime.config.verify.health_url = closed_port_url() + "/health"
    assert "no answer" in only_broken(run_verify(world), "health")


def test_no_permission_is_unknown_with_the_reason(world: World) -> None:
    world.api.fail("GET", "/jobs/poi-attestation-validator", status=403, times=5,
                   message='jobs.batch "poi-attestation-validator" is forbidden')
    said = only_broken(run_verify(world), "poi_job", CheckStatus.UNKNOWN)
    assert "no permission" in said and "ops/bot/base/rbac.yaml" in said


def test_kubernetes_api_down_makes_every_cluster_check_unknown(world: World) -> None:
    world.api.stop()
    report = run_verify(world)
    cluster_keys = {"kyverno", "admission", "hpa", "network_policy", "poi_job", "pods"}
    assert statuses(report) == {k: CheckStatus.UNKNOWN if k in cluster_keys else CheckStatus.PASS for k in KEYS}
    for check in report.checks:
        if check.key in cluster_keys:
            assert "could not be reached" in check.detail and check.fix is None
    text = to_text(report)
    assert text.count("❔") == 6 and "✅" in text and "could not check" in text
    assert not report.ready


def test_no_kubeconfig_is_unknown_not_a_crash(world: World) -> None:
    world.runtime.config.release.kube.kubeconfig = world.tmp / "missing-kubeconfig"
    report = run_verify(world)
    assert {c.key for c in report.checks if c.status is CheckStatus.UNKNOWN} == {
        "kyverno", "admission", "hpa", "network_policy", "poi_job", "pods"}


def test_block_kit_has_one_section_per_check_with_emoji(world: World) -> None:
    _delete(world, "batch", "jobs", "poi-attestation-validator")
    world.runtime.config.slo.prometheus.url = closed_port_url()
    blocks = to_blocks(run_verify(world))
    assert blocks[0]["type"] == "header" and "NOT ready" in blocks[0]["text"]["text"]
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert len(sections) == 10
    assert sum(s.startswith("✅") for s in sections) == 8
    (failed,) = [s for s in sections if s.startswith("❌")]
    assert "PoI" in failed and "fix:" in failed
    (unknown,) = [s for s in sections if s.startswith("❔")]
    assert "could not check" in unknown and "fix:" not in unknown
    assert blocks[-1]["type"] == "context"


def test_arguments_are_a_usage_error(world: World) -> None:
    reply = world.runtime.dispatch(Invocation(text="/bizra verify now", subcommand="verify", args=["now"]))
    assert reply.ephemeral and "no arguments" in str(reply.result)


def test_config_example_documents_the_verify_section(tmp_path: Any) -> None:
    from bot.core.config import load_config
    from tests.ops.support import ROOT

    config = load_config(ROOT / "bizra.example.yaml")
    assert config.verify.model_dump() == type(config.verify)().model_dump()
    assert callable(make_config)  # the tests build their config through the same model
