"""The gate engine on real files: the shipped evidence, every threshold at and past its edge, bad files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from commands.artifacts import ArtifactError, ArtifactProblem, CircuitBreaker, read_artifact
from commands.gates import GatePolicy, Grade, Outcome, grade_for
from tests.gates.evidence import SHIPPED, Signer, copy_shipped, judge, outcomes, release_key, set_field


def test_shipped_artifacts_pass_all_nine_gates_with_a_plus() -> None:
    report = judge(SHIPPED, trusted=[release_key()])
    assert [gate.number for gate in report.gates] == list(range(1, 10))
    assert set(outcomes(report).values()) == {"PASS"}
    assert (report.passed, report.failed, report.tbd) == (9, 0, 0)
    assert report.all_passed and report.failing == []
    assert report.score == 1.0 and report.grade is Grade.A_PLUS
    measured = {gate.key: gate.measured_value for gate in report.gates}
    assert measured["cb_throughput"] == 523_793
    assert measured["cb_p99"] == 1.1
    assert measured["cache_l1_hit"] == 0.93
    assert measured["cache_p50"] == 1.3
    assert measured["planner_json_valid"] == 0.985
    assert measured["planner_tool_call"] == 0.961
    assert measured["wq_proof"] == 3
    assert {gate.evidence for gate in report.gates} == {
        "cb.json", "cache.json", "planner_eval.json", "wq_proof.json", "attestation.json",
    }
    assert all(report.digests[name] for name in report.digests)


# (artifact, field, value exactly at the default threshold, value just past it, gate key)
EDGES: list[tuple[str, str, Any, Any, str]] = [
    ("cb.json", "throughput_rps", 400_000, 399_999.99, "cb_throughput"),
    ("cb.json", "p99_ms", 1.5, 1.5001, "cb_p99"),
    ("cb.json", "error_rate", 0.01, 0.0101, "cb_error_rate"),
    ("cache.json", "l1_hit_ratio", 0.90, 0.8999, "cache_l1_hit"),
    ("cache.json", "p50_ms", 2.0, 2.0001, "cache_p50"),
    ("planner_eval.json", "json_valid_ratio", 0.98, 0.9799, "planner_json_valid"),
    ("planner_eval.json", "tool_call_accuracy_ratio", 0.95, 0.9499, "planner_tool_call"),
]


@pytest.mark.parametrize(("name", "field", "at_edge", "past_edge", "key"), EDGES, ids=[edge[4] for edge in EDGES])
def test_threshold_passes_at_its_edge_and_fails_just_past_it(
    tmp_path: Path, name: str, field: str, at_edge: Any, past_edge: Any, key: str
) -> None:
    signer = Signer.new()
    artifacts = copy_shipped(tmp_path / "artifacts")

    set_field(artifacts, name, field, at_edge)
    signer.sign(artifacts)
    at = judge(artifacts, trusted=[signer.trusted])
    assert at.all_passed, [gate.detail for gate in at.failing]

    set_field(artifacts, name, field, past_edge)
    signer.sign(artifacts)
    past = judge(artifacts, trusted=[signer.trusted])
    assert [gate.key for gate in past.failing] == [key]
    failed = past.failing[0]
    assert failed.outcome is Outcome.FAIL
    assert failed.measured_value == past_edge and failed.evidence == name
    assert failed.detail  # says what is wrong
    assert past.grade is Grade.A and past.score == round(8 / 9, 3)


def test_wq_proof_needs_three_validators(tmp_path: Path) -> None:
    signer = Signer.new()
    artifacts = copy_shipped(tmp_path / "artifacts")
    from tests.gates.evidence import read_json

    validators = read_json(artifacts / "wq_proof.json")["validators"]
    set_field(artifacts, "wq_proof.json", "validators", validators[:2])
    signer.sign(artifacts)
    report = judge(artifacts, trusted=[signer.trusted])
    assert [gate.key for gate in report.failing] == ["wq_proof"]
    assert "2 distinct validator(s), need ≥ 3" in report.failing[0].detail


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("validators", [{"id": "v1", "head": "B3"}, {"id": "v2", "head": "B3"}, {"id": "v3", "head": "B2"}],
         "disagree on the head: B3/B3/B2"),
        ("validators", [{"id": "v1", "head": "B3"}, {"id": "v1", "head": "B3"}, {"id": "v2", "head": "B3"}],
         "listed more than once: v1"),
        ("deterministic", False, "deterministic is false"),
        ("telemetry", None, "telemetry is missing"),
        ("telemetry", {"wq_weight": 0.67}, "telemetry.components is missing"),
        ("telemetry", {"components": ["c1"]}, "telemetry.wq_weight is missing"),
    ],
    ids=["heads-disagree", "duplicate-validator", "not-deterministic", "no-telemetry", "no-components", "no-weight"],
)
def test_wq_proof_fails_on_each_missing_property(tmp_path: Path, field: str, value: Any, expected: str) -> None:
    signer = Signer.new()
    artifacts = copy_shipped(tmp_path / "artifacts")
    set_field(artifacts, "wq_proof.json", field, value)
    signer.sign(artifacts)
    report = judge(artifacts, trusted=[signer.trusted])
    assert [gate.key for gate in report.failing] == ["wq_proof"]
    assert expected in report.failing[0].detail


def test_policy_override_is_applied_and_reported() -> None:
    report = judge(SHIPPED, trusted=[release_key()], policy=GatePolicy(cb_p99_max_ms=1.0))
    assert [gate.key for gate in report.failing] == ["cb_p99"]
    assert report.failing[0].threshold == "≤ 1 ms"
    assert report.policy_overrides == ["cb_p99_max_ms"]
    assert report.policy_version == "bizra-gates/1"


def test_missing_file_is_tbd_never_pass(tmp_path: Path) -> None:
    artifacts = copy_shipped(tmp_path / "artifacts")
    (artifacts / "cache.json").unlink()
    report = judge(artifacts, trusted=[release_key()])
    result = outcomes(report)
    assert result["cache_l1_hit"] == result["cache_p50"] == "TBD"
    for key in ("cache_l1_hit", "cache_p50"):
        gate = next(gate for gate in report.gates if gate.key == key)
        assert str(artifacts / "cache.json") in gate.detail and "missing" in gate.detail
        assert gate.measured_value is None
    # The attestation still covers cache.json, which is gone: that is a failed attestation.
    assert result["attestation"] == "FAIL"
    assert not report.all_passed and report.grade is not Grade.A_PLUS
    assert report.tbd == 2 and report.digests["cache.json"] is None


def test_missing_attestation_is_tbd(tmp_path: Path) -> None:
    artifacts = copy_shipped(tmp_path / "artifacts")
    (artifacts / "attestation.json").unlink()
    report = judge(artifacts, trusted=[release_key()])
    assert [(gate.key, gate.outcome.value) for gate in report.failing] == [("attestation", "TBD")]
    assert "attestation.json" in report.failing[0].detail


def test_malformed_json_names_the_file_and_the_place(tmp_path: Path) -> None:
    artifacts = copy_shipped(tmp_path / "artifacts")
    (artifacts / "planner_eval.json").write_text('{"json_valid_ratio": 0.985,', encoding="utf-8")
    report = judge(artifacts, trusted=[release_key()])
    planner = [gate for gate in report.gates if gate.evidence == "planner_eval.json"]
    assert {gate.outcome for gate in planner} == {Outcome.TBD}
    assert all(f"{artifacts / 'planner_eval.json'}: malformed JSON" in gate.detail for gate in planner)
    assert "line 1" in planner[0].detail

    with pytest.raises(ArtifactError) as raised:
        read_artifact(artifacts / "planner_eval.json", CircuitBreaker)
    assert raised.value.problem is ArtifactProblem.MALFORMED
    assert str(artifacts / "planner_eval.json") in str(raised.value)


def test_schema_mismatch_names_the_field(tmp_path: Path) -> None:
    artifacts = copy_shipped(tmp_path / "artifacts")
    set_field(artifacts, "cb.json", "p99_ms", "fast")
    report = judge(artifacts, trusted=[release_key()])
    gate = next(gate for gate in report.gates if gate.key == "cb_p99")
    assert gate.outcome is Outcome.TBD
    assert "schema mismatch" in gate.detail and "field p99_ms" in gate.detail and "cb.json" in gate.detail


def test_unknown_field_is_a_schema_mismatch_not_ignored(tmp_path: Path) -> None:
    artifacts = copy_shipped(tmp_path / "artifacts")
    set_field(artifacts, "cache.json", "p50", 1.3)  # a typo for p50_ms must not pass silently
    report = judge(artifacts, trusted=[release_key()])
    gate = next(gate for gate in report.gates if gate.key == "cache_l1_hit")
    assert gate.outcome is Outcome.TBD and "field p50" in gate.detail


def test_ratio_outside_zero_to_one_is_rejected(tmp_path: Path) -> None:
    artifacts = copy_shipped(tmp_path / "artifacts")
    set_field(artifacts, "cache.json", "l1_hit_ratio", 93)  # a percentage where a ratio belongs
    report = judge(artifacts, trusted=[release_key()])
    gate = next(gate for gate in report.gates if gate.key == "cache_l1_hit")
    assert gate.outcome is Outcome.TBD and "field l1_hit_ratio" in gate.detail


@pytest.mark.parametrize(
    ("passed", "grade"),
    [(9, Grade.A_PLUS), (8, Grade.A), (7, Grade.B), (5, Grade.C), (4, Grade.D), (3, Grade.F), (0, Grade.F)],
)
def test_grade_formula(passed: int, grade: Grade) -> None:
    score, got = grade_for(passed=passed, total=9)
    assert got is grade and score == passed / 9


def test_infinity_is_not_a_measurement(tmp_path: Path) -> None:
    artifacts = copy_shipped(tmp_path / "artifacts")
    cb = artifacts / "cb.json"
    cb.write_text(cb.read_text(encoding="utf-8").replace("523793", "Infinity"), encoding="utf-8")
    report = judge(artifacts, trusted=[release_key()])
    gate = next(gate for gate in report.gates if gate.key == "cb_throughput")
    assert gate.outcome is Outcome.TBD and "field throughput_rps" in gate.detail
