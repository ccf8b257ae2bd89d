"""What the bot can prove about checklist items: the gate report, the verify checks, the DoD view.

Each source is read once per view. Any failure to read becomes UNKNOWN with the reason (never a
pass). The verify checks are run one by one through `commands.verify` over the same read-only
adapters `/bizra verify` uses (this feature sits below canary, which needs the sign-off, so it
cannot import the verify feature, which reads the canary).

DoD gates 1 (unsigned image refused at admission) and 2 (HPA) are judged by the pure
`commands.dod`; gates 3-5 need the canary's record (the DoD feature sits above canary), so a
`dod.3`..`dod.5` item is UNKNOWN "DoD view not available to the sign-off for this gate".
"""

from __future__ import annotations

from collections.abc import Callable

from bot.adapters.verify_reads import PrometheusTargets
from bot.core.runtime import Runtime
from commands.attestation import KeyFileError
from commands.dod import DodOutcome, DodPorts, DodTargets, gate_admission, gate_hpa
from commands.gates import EvidenceDirError, GateReport, evaluate_release, release_inputs
from commands.signoff import Evidence, EvidenceStatus
from commands.verify import (
    CanaryRecord,
    Check,
    CheckStatus,
    Unavailable,
    VerifyTargets,
    check_default_deny,
    check_kyverno,
    check_prometheus_target,
)

_STATUS = {CheckStatus.PASS: EvidenceStatus.PASS, CheckStatus.FAIL: EvidenceStatus.FAIL,
           CheckStatus.UNKNOWN: EvidenceStatus.UNKNOWN}


def _targets(runtime: Runtime) -> VerifyTargets:
    """As `/bizra verify` looks: the `verify:` fields it shares, the release target, the artifacts."""
    verify, release = runtime.config.verify, runtime.config.release
    shared = {k: v for k, v in verify.model_dump().items() if k in VerifyTargets.model_fields}
    return VerifyTargets(**shared, namespace=release.namespace, label_selector=release.label_selector,
                         artifacts_dir=runtime.config.gates.artifacts_dir)


class _NotNeeded:
    """The DoD ports the sign-off's gates (1 admission, 2 HPA) never read."""

    def report(self, *, wq_min_validators: int) -> GateReport:
        raise Unavailable("the sign-off judges DoD gates 1 and 2 only")

    def recent(self) -> list[CanaryRecord]:
        raise Unavailable("the sign-off judges DoD gates 1 and 2 only")


_DOD_STATUS = {DodOutcome.PASS: EvidenceStatus.PASS, DodOutcome.FAIL: EvidenceStatus.FAIL,
               DodOutcome.UNKNOWN: EvidenceStatus.UNKNOWN}


def _dod_gate(runtime: Runtime, number: str) -> Evidence:
    """DoD gate 1 (unsigned image refused at admission) or 2 (HPA), through the pure commands.dod; the
    other gates need the canary's record, which this feature (below canary) cannot read."""
    link = _link(runtime, "dod", "/bizra dod")
    judge = {"1": gate_admission, "2": gate_hpa}.get(number)
    if judge is None:
        return Evidence(source=f"DoD gate {number}", status=EvidenceStatus.UNKNOWN,
                        detail="DoD view not available to the sign-off for this gate", link=link)
    try:
        ports = DodPorts(cluster=runtime.verify_reads.get(), gates=_NotNeeded(), canary=_NotNeeded())
        gate = judge(ports, DodTargets(verify=_targets(runtime)))
    except Exception as exc:  # no kubeconfig, an unreachable API server: unknown, never a pass
        return Evidence(source=f"DoD gate {number}", status=EvidenceStatus.UNKNOWN,
                        detail=f"could not check: {type(exc).__name__}: {exc}"[:300], link=link)
    return Evidence(source=f"DoD gate {gate.number}: {gate.title}", status=_DOD_STATUS[gate.outcome],
                    detail=gate.evidence, link=link)


def _link(runtime: Runtime, kind: str, fallback: str) -> str:
    return runtime.config.signoff.links.get(kind, fallback)


def gates_evidence(runtime: Runtime) -> Evidence:
    link = _link(runtime, "gates", "/bizra gates")
    try:
        report = evaluate_release(**release_inputs(runtime.config.gates))
    except (EvidenceDirError, KeyFileError) as exc:
        return Evidence(source="gate report", status=EvidenceStatus.UNKNOWN, detail=str(exc), link=link)
    total = len(report.gates)
    if report.all_passed:
        return Evidence(source="gate report", status=EvidenceStatus.PASS,
                        detail=f"{report.passed}/{total} PASS, grade {report.grade}", link=link)
    failing = ", ".join(f"{g.name} {g.outcome}" for g in report.gates if str(g.outcome) != "PASS")
    return Evidence(source="gate report", status=EvidenceStatus.FAIL,
                    detail=f"{report.passed}/{total} PASS ({failing})", link=link)


def _verify_check(runtime: Runtime, key: str) -> Evidence:
    link = _link(runtime, "verify", "/bizra verify")
    targets = _targets(runtime)
    checks: dict[str, Callable[[], Check]] = {
        "kyverno": lambda: check_kyverno(runtime.verify_reads.get(), targets),
        "network_policy": lambda: check_default_deny(runtime.verify_reads.get(), targets),
        "prometheus_target": lambda: check_prometheus_target(PrometheusTargets(runtime.config.slo.prometheus),
                                                             targets),
    }
    run = checks.get(key)
    if run is None:
        return Evidence(source=f"verify {key}", status=EvidenceStatus.UNKNOWN,
                        detail=f"the sign-off cannot run the verify check {key!r}", link=link)
    try:
        check = run()
    except Exception as exc:  # an unreachable cluster or Prometheus: unknown, never a pass
        return Evidence(source=f"verify {key}", status=EvidenceStatus.UNKNOWN,
                        detail=f"could not check: {type(exc).__name__}: {exc}"[:300], link=link)
    return Evidence(source=f"verify: {check.title}", status=_STATUS[check.status], detail=check.detail, link=link)


def gather(runtime: Runtime) -> dict[str, Evidence]:
    """Item key -> its evidence now, for every item `signoff.evidence` maps."""
    found: dict[str, Evidence] = {}
    by_source: dict[str, Evidence] = {}
    for item, source in runtime.config.signoff.evidence.items():
        if source not in by_source:
            if source == "gates":
                by_source[source] = gates_evidence(runtime)
            elif source.startswith("verify."):
                by_source[source] = _verify_check(runtime, source.removeprefix("verify."))
            else:
                by_source[source] = _dod_gate(runtime, source.removeprefix("dod."))
        found[item] = by_source[source]
    return found
