"""`/bizra dod` on real parts: all five gates green, then each gate broken (❌ with the fix) or
unjudgeable (❔ with why); the admission test never creates anything."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bot.assembly import build_registry
from bot.core.invocation import Invocation, Reply
from commands.dod import DodOutcome, DodReport
from tests.dod.conftest import DodWorld, record_run
from tests.verify.conftest import NS

RENDERERS = build_registry().renderers
to_text, to_blocks = RENDERERS.text, RENDERERS.blocks
KEYS = ["admission", "hpa", "poi", "wq_proof", "canary"]
P, F, U = DodOutcome.PASS, DodOutcome.FAIL, DodOutcome.UNKNOWN


def run_dod(world: DodWorld, *, user: str = "console") -> DodReport:
    reply: Reply = world.runtime.dispatch(Invocation(text="/bizra dod", subcommand="dod", args=[], user_id=user))
    assert isinstance(reply.result, DodReport), reply.result
    return reply.result


def outcomes(report: DodReport) -> dict[str, DodOutcome]:
    return {gate.key: gate.outcome for gate in report.gates}


def nothing_created(world: DodWorld) -> None:
    probes = [r for r in world.api.calls("POST", f"/namespaces/{NS}/pods")
              if not r.body["metadata"]["name"].startswith("node0-")]
    assert all(r.query.get("dryRun") == "All" for r in probes)
    assert sorted(k[3] for k in world.api.objects if k[1] == "pods") == ["node0-0", "node0-1", "node0-2"]


def test_all_five_gates_green(world: DodWorld) -> None:
    report = run_dod(world)
    assert [g.key for g in report.gates] == KEYS and [g.number for g in report.gates] == [1, 2, 3, 4, 5]
    assert outcomes(report) == dict.fromkeys(KEYS, P), to_text(report)
    assert report.done and report.passed == 5
    text = to_text(report)
    assert text.startswith("Definition of Done: done — 5/5 gates pass")
    assert text.count("✅") == 5 and "❌" not in text and "❔" not in text
    assert "Image signature verification failed" in text  # the webhook's words, quoted
    assert "circuit_breaker_requests_per_second: 350k/400000 per pod" in text  # current/target from the HPA status
    assert "poi-attestation-validator: 1/1 succeeded" in text and "gate 9 PASS" in text
    assert "3 validators B3/B3/B3" in text
    assert "ran all 3 stages (stage1-10pct → stage2-50pct → stage3-100pct)" in text
    nothing_created(world)


def _put(world: DodWorld, key: tuple[str, str, str, str], change: Callable[[dict[str, Any]], None]) -> None:
    change(world.api.objects[key])


HPA = ("autoscaling", "horizontalpodautoscalers", NS, "node0-hpa-circuit-breaker")
JOB = ("batch", "jobs", NS, "poi-attestation-validator")


def _resign_breaking(world: DodWorld, name: str) -> None:
    path = world.artifacts / name
    path.write_text(json.dumps(json.loads(path.read_text(encoding="utf-8")), indent=4), encoding="utf-8")


def _two_validators(world: DodWorld) -> None:
    path = world.artifacts / "wq_proof.json"
    proof = json.loads(path.read_text(encoding="utf-8"))
    proof["validators"] = proof["validators"][:2]
    path.write_text(json.dumps(proof), encoding="utf-8")


# case -> (how to break it, expected outcome per broken gate, words that must be said)
BROKEN: dict[str, tuple[Callable[[DodWorld], object], dict[str, DodOutcome], str]] = {
    "admission admits unsigned": (lambda w: w.api.set_webhook("admit"), {"admission": F},
                                  "THE CLUSTER ACCEPTS UNSIGNED IMAGES"),
    "admission webhook unreachable": (lambda w: w.api.set_webhook("unreachable"), {"admission": U},
                                      "failed calling webhook"),
    "admission dry run refused": (lambda w: w.api.set_webhook("no-dry-run"), {"admission": U},
                                  "refused the dry run"),
    "hpa without current value": (lambda w: _put(w, HPA, lambda o: o["status"].update(currentMetrics=[])),
                                  {"hpa": F}, "Prometheus Adapter"),
    "hpa missing": (lambda w: w.api.objects.pop(HPA), {"hpa": F}, "not found"),
    "poi job failed": (lambda w: _put(w, JOB, lambda o: o.update(status={"failed": 1})), {"poi": F},
                       "kubectl logs job/poi-attestation-validator"),
    "poi attestation invalid": (lambda w: _resign_breaking(w, "cb.json"), {"poi": F},
                                "changed since it was signed"),
    "poi attestation missing": (lambda w: (w.artifacts / "attestation.json").unlink(), {"poi": U}, "gate 9 TBD"),
    "wq proof with two validators": (_two_validators, {"wq_proof": F, "poi": F}, "need ≥ 3"),
    "wq proof missing": (lambda w: (w.artifacts / "wq_proof.json").unlink(), {"wq_proof": U, "poi": F},
                         "missing or unreadable"),
    "canary rolled back": (lambda w: record_run(w.runtime, [("start", None, 0, "ok", ""), (
        "auto_rollback", 0, None, "ok", "cb_latency_p99 breached for 5m")], canary_id="c2"), {"canary": F},
        "rolled back on an SLO breach"),
    "canary still running": (lambda w: record_run(w.runtime, [("start", None, 0, "ok", ""), (
        "promote", 0, 1, "ok", "")], canary_id="c3"), {"canary": F}, "still running"),
    "canary forced": (lambda w: record_run(w.runtime, [
        ("start", None, 0, "ok", ""), ("promote", 0, 1, "ok", "forced: hotfix; bypassed: SLO breach"),
        ("promote", 1, 2, "ok", ""), ("complete", 2, None, "ok", "")], canary_id="c4"), {"canary": F},
        "forced past the SLO guard"),
    "canary aborted": (lambda w: record_run(w.runtime, [("start", None, 0, "ok", ""), (
        "abort", 0, None, "ok", "wrong image")], canary_id="c5"), {"canary": F}, "aborted"),
    "canary skipped a stage": (lambda w: record_run(w.runtime, [("start", None, 0, "ok", ""), (
        "complete", 2, None, "ok", "")], canary_id="c6"), {"canary": F}, "without running stage(s) stage2-50pct"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_gate_broken(world: DodWorld, case: str) -> None:
    breaks, broken, words = BROKEN[case]
    breaks(world)
    report = run_dod(world)
    assert outcomes(report) == dict.fromkeys(KEYS, P) | broken, to_text(report)
    assert not report.done
    for gate in report.gates:
        if gate.outcome is F:
            assert gate.fix, f"{gate.key}: every ❌ needs a fix"
        else:
            assert gate.fix is None, gate
    said = " || ".join(f"{g.evidence} {g.fix or ''}" for g in report.gates if g.key in broken)
    assert words in said, said
    text = to_text(report)
    assert "NOT done" in text and f"{report.passed}/5 gates pass" in text
    nothing_created(world)


def test_a_stricter_wq_threshold_breaks_gate_4_alone(world: DodWorld) -> None:
    world.runtime.config.verify.min_validators = 4
    report = run_dod(world)
    assert outcomes(report) == dict.fromkeys(KEYS, P) | {"wq_proof": F}
    (wq,) = [g for g in report.gates if g.key == "wq_proof"]
    assert "need ≥ 4" in wq.evidence and wq.title.startswith("WQ proof: ≥ 4")


def test_a_lower_gates_policy_does_not_lower_the_dod(world: DodWorld) -> None:
    gates = world.runtime.config.gates
    gates.policy = gates.policy.model_copy(update={"wq_min_validators": 2})
    world.runtime.config.verify.min_validators = 2
    _two_validators(world)
    (wq,) = [g for g in run_dod(world).gates if g.key == "wq_proof"]
    assert wq.outcome is F and "need ≥ 3" in wq.evidence


def test_no_canary_on_record_fails(world: DodWorld) -> None:
    from bot.assembly import build_runtime

    config = world.runtime.config.model_copy(deep=True)
    config.store.path = world.tmp / "empty.sqlite"
    world.runtime = build_runtime(config=config, secrets=world.runtime.secrets, clock=world.runtime.clock)
    (canary,) = [g for g in run_dod(world).gates if g.key == "canary"]
    assert canary.outcome is F and "no canary on record" in canary.evidence


def test_missing_artifacts_dir_makes_gates_3_and_4_unknown(world: DodWorld) -> None:
    world.runtime.config.gates.artifacts_dir = world.tmp / "nowhere"
    report = run_dod(world)
    assert outcomes(report) == dict.fromkeys(KEYS, P) | {"poi": U, "wq_proof": U}
    assert all("could not run `bizra gates`" in g.evidence for g in report.gates if g.outcome is U)


def test_kubernetes_down_makes_the_cluster_gates_unknown(world: DodWorld) -> None:
    world.api.stop()
    report = run_dod(world)
    assert outcomes(report) == {"admission": U, "hpa": U, "poi": U, "wq_proof": P, "canary": P}
    assert all("could not be reached" in g.evidence for g in report.gates if g.outcome is U)
    assert "❔" in to_text(report) and "could not judge" in to_text(report)


def test_block_kit_has_one_section_per_gate(world: DodWorld) -> None:
    world.api.set_webhook("admit")
    blocks = to_blocks(run_dod(world, user="U_SRE"))
    assert blocks[0]["type"] == "header" and "NOT done — 4/5" in blocks[0]["text"]["text"]
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert len(sections) == 5 and sum(s.startswith("✅") for s in sections) == 4
    (failed,) = [s for s in sections if s.startswith("❌")]
    assert failed.startswith("❌ *1 Unsigned image refused at admission*") and "fix:" in failed
    assert "<@U_SRE>" in blocks[-1]["elements"][0]["text"]


def test_arguments_are_a_usage_error(world: DodWorld) -> None:
    reply = world.runtime.dispatch(Invocation(text="/bizra dod now", subcommand="dod", args=["now"]))
    assert reply.ephemeral and "no arguments" in str(reply.result)


def test_dod_is_a_read_only_permission_everyone_has_by_default() -> None:
    from bot.features.access.settings import AccessSettings
    from commands.access import Permission

    settings = AccessSettings()
    assert Permission.DOD in settings.everyone
    assert Permission.DOD in settings.roles["viewer"].permissions
    assert Permission.DOD in settings.roles["release-manager"].permissions


def test_an_unreadable_trusted_key_makes_gates_3_and_4_unknown(world: DodWorld) -> None:
    world.runtime.config.gates.trusted_keys = [world.tmp / "missing.pub"]
    report = run_dod(world)
    assert outcomes(report) == dict.fromkeys(KEYS, P) | {"poi": U, "wq_proof": U}
    assert all("trusted key cannot be read" in g.evidence for g in report.gates if g.outcome is U)
