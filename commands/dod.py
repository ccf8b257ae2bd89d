"""`/bizra dod`: the seed's five Definition-of-Done gates, judged over ports.

Entry point: `evaluate_dod(ports, targets, *, now) -> DodReport` (pure apart from the port calls;
the sign-off and the evidence archive call it too). What flows through:

1. admission — a server-side dry-run create of the checklist's unsigned probe pod (`nginx:latest`
   by default) in the release namespace must be refused for its signature (`commands.verify.check_admission`);
2. HPA — the HPA's status reports the custom metric `circuit_breaker_requests_per_second` with a
   current value against its target (`commands.verify.check_hpa`);
3. PoI — the validator Job completed AND `bizra gates` gate 9 (the attestation) passes;
4. WQ proof — `bizra gates` gate 8 judged with ≥ 3 validators on one head, deterministic, telemetry;
5. canary — the bot's own record of its latest canary: every stage run, completed, no rollback or
   abort, and no step forced past the SLO guard (a forced step is a breach nobody waited out).

Each gate is PASS, FAIL (with what to do) or UNKNOWN (with why): a source that cannot be read, or
evidence that is missing, is never a pass. `DodReport.done` only at 5/5 PASS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, Field

from commands.attestation import KeyFileError
from commands.cluster import ClusterError, ClusterErrorKind
from commands.gates import (
    EvidenceDirError,
    GatePolicy,
    GateReport,
    GateResult,
    GatesInputs,
    Outcome,
    evaluate_release,
    release_inputs,
)
from commands.verify import (
    ADMISSION_TITLE,
    CanaryHistory,
    CanaryRecord,
    Check,
    CheckStatus,
    Unavailable,
    VerifyCluster,
    VerifyTargets,
    check_admission,
    check_hpa,
    check_poi_job,
)

DOD_MIN_VALIDATORS = 3  # the seed's gate 4: "3+ validator test executed"


class DodOutcome(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"


class DodGate(BaseModel):
    number: int = Field(description="1..5, the seed's order.")
    key: str = Field(description="Stable identifier: admission, hpa, poi, wq_proof, canary.")
    title: str
    outcome: DodOutcome
    evidence: str = Field(description="What was seen (PASS/FAIL) or why it could not be judged (UNKNOWN).")
    fix: str | None = Field(default=None, description="What to do; set for every FAIL.")


class DodReport(BaseModel):
    namespace: str
    checked_at: datetime
    requested_by: str = ""
    gates: list[DodGate]

    def count(self, outcome: DodOutcome) -> int:
        return sum(1 for gate in self.gates if gate.outcome is outcome)

    @property
    def passed(self) -> int:
        return self.count(DodOutcome.PASS)

    @property
    def done(self) -> bool:
        """Done only when all five gates passed: an UNKNOWN is not a pass."""
        return len(self.gates) == 5 and all(gate.outcome is DodOutcome.PASS for gate in self.gates)


# -- ports ------------------------------------------------------------------------------------------


class ReleaseGates(Protocol):
    """`bizra gates` on the release's evidence; raises Unavailable when it cannot be run (keys, directory)."""

    def report(self, *, wq_min_validators: int) -> GateReport: ...


class EvidenceGates:
    """`ReleaseGates` over `commands.gates.evaluate_release` on a `gates:` config section (what `bizra gates` runs).

    The WQ threshold is raised to the DoD's if the gates policy asks for fewer validators. Lives here,
    not in a feature, so that any layer (the sign-off sits below canary) can build `DodPorts`.
    """

    def __init__(self, settings: GatesInputs) -> None:
        self._settings = settings

    def report(self, *, wq_min_validators: int) -> GateReport:
        try:
            inputs = release_inputs(self._settings)
        except KeyFileError as exc:
            raise Unavailable(f"a trusted key cannot be read ({exc}); fix gates.trusted_keys") from exc
        policy: GatePolicy = inputs["policy"]
        if policy.wq_min_validators < wq_min_validators:
            policy = policy.model_copy(update={"wq_min_validators": wq_min_validators})
        try:
            return evaluate_release(inputs["artifacts_dir"], policy, inputs["trusted_keys"])
        except EvidenceDirError as exc:
            raise Unavailable(f"{exc}; fix gates.artifacts_dir") from exc


@dataclass(frozen=True)
class DodPorts:
    cluster: VerifyCluster  # the verify reads: dry-run admission, HPA, PoI Job
    gates: ReleaseGates
    canary: CanaryHistory


class DodTargets(BaseModel):
    """What the gates look for: the verify targets (namespace, HPA, Job, probe image) and the canary's stages."""

    verify: VerifyTargets = Field(default_factory=VerifyTargets)
    canary_stages: list[str] = Field(default_factory=lambda: ["10%", "50%", "100%"],
                                     description="Stage names in order, as `canary.stages` configures them.")


# -- gates --------------------------------------------------------------------------------------------

_OUTCOME = {CheckStatus.PASS: DodOutcome.PASS, CheckStatus.FAIL: DodOutcome.FAIL,
            CheckStatus.UNKNOWN: DodOutcome.UNKNOWN}


def _unknown(exc: Exception) -> str:
    forbidden = isinstance(exc, ClusterError) and exc.kind is ClusterErrorKind.FORBIDDEN
    return f"no permission: {exc}" if forbidden else str(exc)


def _check(number: int, key: str, title: str, run: Callable[[], Check]) -> DodGate:
    try:
        check = run()
    except (ClusterError, Unavailable) as exc:
        return DodGate(number=number, key=key, title=title, outcome=DodOutcome.UNKNOWN, evidence=_unknown(exc))
    return DodGate(number=number, key=key, title=title, outcome=_OUTCOME[check.status], evidence=check.detail,
                   fix=check.fix)


def _gate_result(report: GateReport | Exception, number: int) -> GateResult | Exception:
    if isinstance(report, Exception):
        return report
    found = [gate for gate in report.gates if gate.number == number]
    return found[0] if found else Unavailable(f"`bizra gates` has no gate {number}")


def gate_admission(ports: DodPorts, t: DodTargets) -> DodGate:
    return _check(1, "admission", ADMISSION_TITLE, lambda: check_admission(ports.cluster, t.verify))


def gate_hpa(ports: DodPorts, t: DodTargets) -> DodGate:
    return _check(2, "hpa", f"HPA reports {t.verify.hpa_metric}", lambda: check_hpa(ports.cluster, t.verify))


def gate_poi(ports: DodPorts, t: DodTargets, report: GateReport | Exception) -> DodGate:
    title = "PoI validator Job completed and gate 9 passes"
    job = _check(3, "poi", title, lambda: check_poi_job(ports.cluster, t.verify))
    attestation = _gate_result(report, 9)
    parts = [f"Job: could not check: {job.evidence}" if job.outcome is DodOutcome.UNKNOWN else f"Job {job.evidence}"]
    fixes = [job.fix] if job.fix else []
    outcomes = {job.outcome}
    if isinstance(attestation, Exception):
        outcomes.add(DodOutcome.UNKNOWN)
        parts.append(f"gate 9: could not run `bizra gates`: {attestation}")
    elif attestation.outcome is Outcome.PASS:
        outcomes.add(DodOutcome.PASS)
        parts.append(f"gate 9 PASS ({attestation.measured})")
    elif attestation.outcome is Outcome.TBD:
        outcomes.add(DodOutcome.UNKNOWN)
        parts.append(f"gate 9 TBD, its evidence is missing: {attestation.detail}")
    else:
        outcomes.add(DodOutcome.FAIL)
        parts.append(f"gate 9 FAIL: {attestation.detail} ({attestation.measured})")
        fixes.append("re-sign the evidence with the release key (`bizra attest sign`), check with "
                     "`bizra attest verify`, then `bizra gates`")
    outcome = (DodOutcome.FAIL if DodOutcome.FAIL in outcomes else
               DodOutcome.UNKNOWN if DodOutcome.UNKNOWN in outcomes else DodOutcome.PASS)
    return DodGate(number=3, key="poi", title=title, outcome=outcome, evidence="; ".join(parts),
                   fix="; then ".join(fixes) if outcome is DodOutcome.FAIL else None)


def gate_wq(report: GateReport | Exception, *, min_validators: int) -> DodGate:
    title = f"WQ proof: ≥ {min_validators} validators on one head"
    wq = _gate_result(report, 8)
    if isinstance(wq, Exception):
        return DodGate(number=4, key="wq_proof", title=title, outcome=DodOutcome.UNKNOWN,
                       evidence=f"could not run `bizra gates`: {wq}")
    if wq.outcome is Outcome.PASS:
        return DodGate(number=4, key="wq_proof", title=title, outcome=DodOutcome.PASS,
                       evidence=f"{wq.evidence}: {wq.measured}")
    if wq.outcome is Outcome.TBD:
        return DodGate(number=4, key="wq_proof", title=title, outcome=DodOutcome.UNKNOWN,
                       evidence=f"{wq.evidence} is missing or unreadable: {wq.detail}")
    return DodGate(number=4, key="wq_proof", title=title, outcome=DodOutcome.FAIL,
                   evidence=f"{wq.evidence}: {wq.detail} (seen: {wq.measured})",
                   fix=f"run the consensus test with ≥ {min_validators} validators, publish its wq_proof.json "
                       "(one head, deterministic: true, telemetry wq_weight + components), re-sign with "
                       "`bizra attest sign`, then `bizra gates`")


def _fail(evidence: str, fix: str) -> tuple[DodOutcome, str, str | None]:
    return DodOutcome.FAIL, evidence, fix


def judge_canary(records: list[CanaryRecord], stages: list[str]) -> tuple[DodOutcome, str, str | None]:
    """Gate 5 on the bot's record (newest first): the latest canary ran every stage without a breach."""
    if not records:
        return _fail("no canary on record in the bot's store",
                     "run the release through `/bizra canary start <image>` and promote it through every stage")
    latest = records[0].canary_id
    run = [r for r in reversed(records) if r.canary_id == latest]  # oldest first
    last = run[-1]
    when = last.at.strftime("%Y-%m-%d %H:%M UTC")
    rolled_back = [r for r in run if r.event == "auto_rollback"]
    if rolled_back:
        return _fail(f"canary {latest} was rolled back on an SLO breach at "
                     f"{rolled_back[0].at:%Y-%m-%d %H:%M UTC}: {rolled_back[0].detail}",
                     "investigate the breach (/bizra slo, the incident bundle), fix it, and run a new canary")
    if last.event == "abort":
        return _fail(f"canary {latest} was aborted by {last.actor} at {when}: {last.detail}",
                     "start a new canary when the cause is fixed and run it through every stage")
    if last.event != "complete":
        return _fail(f"canary {latest} is still running (last step: {last.event} at {when})",
                     "let it bake and `/bizra canary promote` through the last stage, then `/bizra dod` again")
    if last.outcome != "ok":
        return _fail(f"completing canary {latest} failed at {when}: {last.detail}",
                     "see `/bizra canary status` and the audit log; complete or abort the canary")
    forced = [r for r in run if "forced" in r.detail]
    if forced:
        return _fail(f"canary {latest} completed at {when}, but its {forced[0].event} was forced past the SLO "
                     f"guard: {forced[0].detail}",
                     "a forced step may hide a sustained breach: run a new canary through every stage unforced")
    if last.stage_before is None:
        return (DodOutcome.UNKNOWN, f"canary {latest} completed at {when}, but the record does not say from which "
                "stage, so it cannot show that every stage ran", None)
    reached = {r.stage_after for r in run if r.event in ("start", "promote") and r.outcome == "ok"} | {
        last.stage_before}
    missing = [name for index, name in enumerate(stages) if index not in reached]
    if missing:
        return _fail(f"canary {latest} completed at {when} without running stage(s) {', '.join(missing)}",
                     "run a new canary through every stage (`/bizra canary promote` one stage at a time)")
    shown = " → ".join(stages)
    image = f" ({last.image})" if last.image else ""
    return (DodOutcome.PASS, f"canary {latest}{image} ran all {len(stages)} stages ({shown}) and completed at "
            f"{when}; no rollback, no step forced past the SLO guard", None)


def gate_canary(ports: DodPorts, t: DodTargets) -> DodGate:
    title = "Canary ran every stage without a breach"
    try:
        outcome, evidence, fix = judge_canary(ports.canary.recent(), t.canary_stages)
    except Unavailable as exc:
        outcome, evidence, fix = DodOutcome.UNKNOWN, str(exc), None
    return DodGate(number=5, key="canary", title=title, outcome=outcome, evidence=evidence, fix=fix)


def evaluate_dod(ports: DodPorts, targets: DodTargets, *, now: datetime, requested_by: str = "") -> DodReport:
    """The five gates in the seed's order; each source is asked once and isolated from the others."""
    min_validators = max(DOD_MIN_VALIDATORS, targets.verify.min_validators)
    report: GateReport | Exception
    try:
        report = ports.gates.report(wq_min_validators=min_validators)
    except Unavailable as exc:
        report = exc
    gates = [
        gate_admission(ports, targets),
        gate_hpa(ports, targets),
        gate_poi(ports, targets, report),
        gate_wq(report, min_validators=min_validators),
        gate_canary(ports, targets),
    ]
    return DodReport(namespace=targets.verify.namespace, checked_at=now, requested_by=requested_by, gates=gates)
