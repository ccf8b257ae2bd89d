"""The release's nine evidence gates, a composite score and a grade.

API used by the rest of the bot (the `/bizra gates` handler, `bizra gates` in CI, the canary's
start check):

    report = evaluate_release(artifacts_dir=Path("artifacts"), policy=GatePolicy(),
                              trusted_keys=load_trusted_keys([Path("ops/keys/attestation-release.pub")]))
    report.all_passed        # True only when all nine gates are PASS
    report.failing           # the gates that are FAIL or TBD, in order
    report.grade, report.score

    evaluate_release(**release_inputs(config.gates))   # the same, from the `gates:` config section

`evaluate_release` raises `EvidenceDirError` when the artifacts directory itself does not exist
(a usage/config problem, not a verdict). Everything else — a missing file, malformed JSON, a
schema mismatch — becomes a TBD gate whose detail names the file: missing evidence is never a
pass.

Flow: `load_evidence()` reads each of the five files once (bytes → SHA-256 → model or
`ArtifactError`); `evaluate()` is purely computational (no I/O, no clock) and turns that evidence,
a `GatePolicy` and the trusted keys into a `GateReport`.

Score and grade (README, section "Evidence gates"): every gate weighs the same; PASS scores 1,
FAIL and TBD score 0; score = PASS count / 9. Grade: A+ only at 9/9 PASS, then A ≥ 0.85, B ≥ 0.70,
C ≥ 0.55, D ≥ 0.40, F below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, computed_field

from commands.artifacts import (
    MODELS,
    ArtifactError,
    ArtifactName,
    Attestation,
    WqProof,
    parse_artifact,
    read_bytes,
    sha256_of,
)
from commands.attestation import TrustedKey, load_trusted_keys, verify_attestation

POLICY_VERSION = "bizra-gates/1"


class Outcome(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    TBD = "TBD"  # evidence missing or unreadable: never a pass


class Grade(StrEnum):
    A_PLUS = "A+"
    A = "A"
    B = "B"
    C = "C"
    D = "D"
    F = "F"


class GatePolicy(BaseModel):
    """Thresholds of the nine gates. Defaults are issue 2's; `gates.policy` in bizra.yaml overrides them.

    The report carries `version` and the names of the fields that differ from the defaults, so a
    verdict always says which rules it was judged by.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(default=POLICY_VERSION, description="Policy version shown with every verdict.")
    cb_throughput_min_rps: float = Field(default=400_000, ge=0, description="Gate 1: minimum throughput, req/s.")
    cb_p99_max_ms: float = Field(default=1.5, ge=0, description="Gate 2: maximum p99 latency, milliseconds.")
    cb_error_rate_max: float = Field(default=0.01, ge=0, le=1, description="Gate 3: maximum error rate, 0..1.")
    cache_l1_hit_ratio_min: float = Field(default=0.90, ge=0, le=1, description="Gate 4: minimum L1 hit ratio, 0..1.")
    cache_p50_max_ms: float = Field(default=2.0, ge=0, description="Gate 5: maximum cache p50 latency, ms.")
    planner_json_valid_ratio_min: float = Field(
        default=0.98, ge=0, le=1, description="Gate 6: minimum JSON validity, 0..1."
    )
    planner_tool_call_accuracy_min: float = Field(
        default=0.95, ge=0, le=1, description="Gate 7: minimum tool-call accuracy, 0..1."
    )
    wq_min_validators: int = Field(default=3, ge=1, description="Gate 8: minimum distinct validators.")

    def overrides(self) -> list[str]:
        """Threshold fields that differ from the defaults."""
        defaults = GatePolicy()
        return [
            name for name in type(self).model_fields
            if name != "version" and getattr(self, name) != getattr(defaults, name)
        ]


class GateResult(BaseModel):
    number: int = Field(description="1..9, the order of issue 2.")
    key: str = Field(description="Stable identifier, e.g. cb_p99.")
    name: str = Field(description="Human name, e.g. 'Circuit-breaker p99 latency'.")
    outcome: Outcome
    measured: str = Field(description="The measured value with its unit, for people; '—' when unknown.")
    measured_value: float | None = Field(default=None, description="The measured number in threshold units.")
    threshold: str = Field(description="The rule, for people, e.g. '≤ 1.5 ms'.")
    threshold_value: float | None = Field(default=None, description="The threshold number, when there is one.")
    evidence: str = Field(description="The artifact file the gate reads.")
    detail: str = Field(default="", description="Why it is FAIL or TBD (names the file), else empty.")


class GateFrame(BaseModel):
    """What a gate is, before it is judged: a verdict is the frame plus its outcome and measurement."""

    number: int
    key: str
    name: str
    threshold: str
    threshold_value: float | None = None
    evidence: str

    def result(self, outcome: Outcome, *, measured: str, measured_value: float | None = None,
               detail: str = "") -> GateResult:
        return GateResult(**self.model_dump(), outcome=outcome, measured=measured, measured_value=measured_value,
                          detail=detail)


class GateReport(BaseModel):
    policy_version: str
    policy_overrides: list[str]
    artifacts_dir: str
    gates: list[GateResult]
    score: float = Field(description="PASS count / number of gates, 0..1.")
    grade: Grade
    digests: dict[str, str | None] = Field(description="SHA-256 of each artifact file as read (None if absent).")
    attestation_key_id: str | None = Field(default=None, description="Key id the attestation claims, if readable.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> int:
        return sum(gate.outcome is Outcome.PASS for gate in self.gates)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def failed(self) -> int:
        return sum(gate.outcome is Outcome.FAIL for gate in self.gates)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def tbd(self) -> int:
        return sum(gate.outcome is Outcome.TBD for gate in self.gates)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def all_passed(self) -> bool:
        return bool(self.gates) and self.passed == len(self.gates)

    @property
    def failing(self) -> list[GateResult]:
        """Gates that are FAIL or TBD, in gate order."""
        return [gate for gate in self.gates if gate.outcome is not Outcome.PASS]


class EvidenceDirError(Exception):
    """The artifacts directory does not exist or is not a directory."""


# -- evidence -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """One artifact as read: its digest when the bytes could be read, its model or the error."""

    name: ArtifactName
    sha256: str | None
    model: Any | None
    error: ArtifactError | None


@dataclass(frozen=True)
class Evidence:
    artifacts_dir: Path
    pieces: dict[ArtifactName, Piece]

    def digests(self) -> dict[str, str | None]:
        return {name.value: piece.sha256 for name, piece in self.pieces.items()}


def load_evidence(artifacts_dir: Path) -> Evidence:
    """Read the five artifacts (each exactly once). Raises `EvidenceDirError` if the directory is missing."""
    if not artifacts_dir.is_dir():
        raise EvidenceDirError(
            f"artifacts directory {artifacts_dir} does not exist or is not a directory "
            "(set gates.artifacts_dir, or pass --artifacts DIR)"
        )
    pieces: dict[ArtifactName, Piece] = {}
    for name in ArtifactName:
        path = artifacts_dir / name.value
        digest: str | None = None
        try:
            data = read_bytes(path)
            digest = sha256_of(data)
            pieces[name] = Piece(name, digest, parse_artifact(path, data, MODELS[name]), None)
        except ArtifactError as exc:
            pieces[name] = Piece(name, digest, None, exc)
    return Evidence(artifacts_dir=artifacts_dir, pieces=pieces)


# -- the nine gates -------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:.6g} ms"


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.6g} %"


def _rps(value: float) -> str:
    return f"{value:,.0f} req/s" if float(value).is_integer() else f"{value:,.2f} req/s"


@dataclass(frozen=True)
class _Threshold:
    """A numeric gate: one field of one artifact against one policy value."""

    number: int
    key: str
    name: str
    artifact: ArtifactName
    read: Callable[[Any], float]
    limit: Callable[[GatePolicy], float]
    at_least: bool  # True: measured ≥ limit passes; False: measured ≤ limit passes
    show: Callable[[float], str]

    def judge(self, evidence: Evidence, policy: GatePolicy) -> GateResult:
        limit = self.limit(policy)
        threshold = f"{'≥' if self.at_least else '≤'} {self.show(limit)}"
        base = GateFrame(number=self.number, key=self.key, name=self.name, threshold=threshold, threshold_value=limit,
                         evidence=self.artifact.value)
        piece = evidence.pieces[self.artifact]
        if piece.model is None:
            return base.result(Outcome.TBD, measured="—", detail=str(piece.error))
        value = float(self.read(piece.model))
        ok = value >= limit if self.at_least else value <= limit
        detail = "" if ok else f"{self.show(value)} is {'below' if self.at_least else 'above'} the limit {threshold}"
        return base.result(Outcome.PASS if ok else Outcome.FAIL, measured=self.show(value), measured_value=value,
                           detail=detail)


THRESHOLD_GATES: tuple[_Threshold, ...] = (
    _Threshold(1, "cb_throughput", "Circuit-breaker throughput", ArtifactName.CB,
               lambda m: m.throughput_rps, lambda p: p.cb_throughput_min_rps, True, _rps),
    _Threshold(2, "cb_p99", "Circuit-breaker p99 latency", ArtifactName.CB,
               lambda m: m.p99_ms, lambda p: p.cb_p99_max_ms, False, _ms),
    _Threshold(3, "cb_error_rate", "Circuit-breaker error rate", ArtifactName.CB,
               lambda m: m.error_rate, lambda p: p.cb_error_rate_max, False, _pct),
    _Threshold(4, "cache_l1_hit", "Cache L1 hit ratio", ArtifactName.CACHE,
               lambda m: m.l1_hit_ratio, lambda p: p.cache_l1_hit_ratio_min, True, _pct),
    _Threshold(5, "cache_p50", "Cache p50 latency", ArtifactName.CACHE,
               lambda m: m.p50_ms, lambda p: p.cache_p50_max_ms, False, _ms),
    _Threshold(6, "planner_json_valid", "Planner JSON validity", ArtifactName.PLANNER,
               lambda m: m.json_valid_ratio, lambda p: p.planner_json_valid_ratio_min, True, _pct),
    _Threshold(7, "planner_tool_call", "Planner tool-call accuracy", ArtifactName.PLANNER,
               lambda m: m.tool_call_accuracy_ratio, lambda p: p.planner_tool_call_accuracy_min, True, _pct),
)


def judge_wq_proof(evidence: Evidence, policy: GatePolicy) -> GateResult:
    """Gate 8: ≥ N distinct validators, all on one head, deterministic, telemetry with wq_weight and components."""
    base = GateFrame(
        number=8, key="wq_proof", name="WQ consensus proof", evidence=ArtifactName.WQ_PROOF.value,
        threshold=f"≥ {policy.wq_min_validators} validators, one head, deterministic, telemetry",
        threshold_value=float(policy.wq_min_validators),
    )
    piece = evidence.pieces[ArtifactName.WQ_PROOF]
    if piece.model is None:
        return base.result(Outcome.TBD, measured="—", detail=str(piece.error))
    proof: WqProof = piece.model
    ids = [validator.id for validator in proof.validators]
    distinct = len(set(ids))
    heads = sorted({validator.head for validator in proof.validators})
    problems: list[str] = []
    duplicates = sorted({vid for vid in ids if ids.count(vid) > 1})
    if duplicates:
        problems.append(f"validator id listed more than once: {', '.join(duplicates)}")
    if distinct < policy.wq_min_validators:
        problems.append(f"{distinct} distinct validator(s), need ≥ {policy.wq_min_validators}")
    if len(heads) > 1:
        problems.append(f"validators disagree on the head: {'/'.join(v.head for v in proof.validators)}")
    if not proof.deterministic:
        problems.append("deterministic is false")
    telemetry = proof.telemetry
    if telemetry is None:
        problems.append("telemetry is missing (needs wq_weight and components)")
    else:
        if telemetry.wq_weight is None:
            problems.append("telemetry.wq_weight is missing")
        if not telemetry.components:
            problems.append("telemetry.components is missing or empty")
    head_text = "/".join(v.head for v in proof.validators) or "no heads"
    parts = [f"{distinct} validators {head_text}", "deterministic" if proof.deterministic else "non-deterministic"]
    if telemetry is not None and telemetry.wq_weight is not None:
        parts.append(f"wq_weight {telemetry.wq_weight:g}")
    if telemetry is not None and telemetry.components:
        parts.append(",".join(telemetry.components))
    return base.result(Outcome.FAIL if problems else Outcome.PASS, measured=", ".join(parts),
                       measured_value=float(distinct), detail="; ".join(problems))


def judge_attestation(evidence: Evidence, trusted_keys: Sequence[TrustedKey]) -> GateResult:
    """Gate 9: a valid Ed25519 signature by a trusted key whose digests match the files as read."""
    base = GateFrame(number=9, key="attestation", name="PoI attestation", evidence=ArtifactName.ATTESTATION.value,
                     threshold="trusted Ed25519 signature, 4 digests match")
    piece = evidence.pieces[ArtifactName.ATTESTATION]
    if piece.model is None:
        return base.result(Outcome.TBD, measured="—", detail=str(piece.error))
    attestation: Attestation = piece.model
    verdict = verify_attestation(attestation, digests=evidence.digests(), trusted_keys=trusted_keys)
    total = len(ArtifactName) - 1
    if verdict.valid:
        return base.result(Outcome.PASS, measured=f"key {verdict.key_id}, {total}/{total} digests match")
    if verdict.file is None:  # the key or the signature failed, so no digest can be trusted
        return base.result(Outcome.FAIL, measured=f"key {verdict.key_id}, signature not verified",
                           detail=verdict.problem or "invalid")
    measured = f"key {verdict.key_id}, {digest_tally(attestation, evidence.digests())}"
    return base.result(Outcome.FAIL, measured=measured, detail=verdict.problem or "invalid")


def digest_tally(attestation: Attestation, on_disk: Mapping[str, str | None]) -> str:
    """Every attested artifact compared (not only up to the first mismatch): "3/4 digests match; cb.json changed …"."""
    attested = {subject.name: subject.sha256 for subject in attestation.statement.subjects}
    expected = [name.value for name in ArtifactName if name is not ArtifactName.ATTESTATION]
    changed: list[str] = []
    missing: list[str] = []
    uncovered: list[str] = []
    for name in expected:
        if name not in attested:
            uncovered.append(name)
        elif on_disk.get(name) is None:
            missing.append(name)
        elif on_disk[name] != attested[name]:
            changed.append(name)
    matching = len(expected) - len(changed) - len(missing) - len(uncovered)
    parts = [f"{matching}/{len(expected)} digests match"]
    if changed:
        parts.append(f"{', '.join(changed)} changed since {'it was' if len(changed) == 1 else 'they were'} signed")
    if missing:
        parts.append(f"{', '.join(missing)} missing on disk")
    if uncovered:
        parts.append(f"{', '.join(uncovered)} not attested")
    return "; ".join(parts)


# -- score and grade ------------------------------------------------------------------------------

GRADE_FLOORS: tuple[tuple[float, Grade], ...] = ((0.85, Grade.A), (0.70, Grade.B), (0.55, Grade.C), (0.40, Grade.D))


def grade_for(*, passed: int, total: int) -> tuple[float, Grade]:
    """Score = passed / total; A+ only when every gate passed."""
    score = passed / total if total else 0.0
    if total and passed == total:
        return score, Grade.A_PLUS
    for floor, grade in GRADE_FLOORS:
        if score >= floor:
            return score, grade
    return score, Grade.F


def evaluate(evidence: Evidence, *, policy: GatePolicy, trusted_keys: Sequence[TrustedKey]) -> GateReport:
    """Judge loaded evidence; purely computational (no I/O, no clock, no side effects)."""
    gates = [gate.judge(evidence, policy) for gate in THRESHOLD_GATES]
    gates.append(judge_wq_proof(evidence, policy))
    gates.append(judge_attestation(evidence, trusted_keys))
    passed = sum(gate.outcome is Outcome.PASS for gate in gates)
    score, grade = grade_for(passed=passed, total=len(gates))
    attestation = evidence.pieces[ArtifactName.ATTESTATION].model
    return GateReport(
        policy_version=policy.version,
        policy_overrides=policy.overrides(),
        artifacts_dir=str(evidence.artifacts_dir),
        gates=gates,
        score=round(score, 3),
        grade=grade,
        digests=evidence.digests(),
        attestation_key_id=attestation.signature.key_id if attestation is not None else None,
    )


def evaluate_release(
    artifacts_dir: Path, policy: GatePolicy | None = None, trusted_keys: Sequence[TrustedKey] = ()
) -> GateReport:
    """Read the artifacts in `artifacts_dir` and judge them (see the module docstring)."""
    return evaluate(load_evidence(Path(artifacts_dir)), policy=policy or GatePolicy(), trusted_keys=trusted_keys)


class GatesInputs(Protocol):
    """What `release_inputs` needs from the `gates:` config section."""

    @property
    def artifacts_dir(self) -> Path: ...

    @property
    def trusted_keys(self) -> Sequence[Path]: ...

    @property
    def policy(self) -> GatePolicy: ...


def release_inputs(settings: GatesInputs, *, artifacts_dir: Path | None = None) -> dict[str, Any]:
    """Keyword arguments for `evaluate_release` from config; reads the trusted key files.

    Raises `commands.attestation.KeyFileError` naming a key file that is missing or not Ed25519.
    """
    return {
        "artifacts_dir": Path(artifacts_dir or settings.artifacts_dir),
        "policy": settings.policy,
        "trusted_keys": load_trusted_keys(settings.trusted_keys),
    }
