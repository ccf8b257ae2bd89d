"""What the canary decisions read from other features: the evidence gates, the SLO watch's history, pods.

Each function turns another feature's result into the small model `commands.canary` decides on,
and turns every failure into evidence that is *missing* (gates not passed, SLO state UNKNOWN, pods
not ready) rather than an exception or a pass.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from bot.core.runtime import Runtime
from bot.features.slo.watch import slo_history
from commands.canary import GateVerdict, ManifestError, PodCount, SloSample, Stage
from commands.cluster import Cluster, ClusterError, KubeObject
from commands.gates import evaluate_release, release_inputs
from commands.slo import SloState

log = logging.getLogger(__name__)

def stages(runtime: Runtime) -> list[Stage]:
    return [
        Stage(index=i, name=s.name, manifest=str(s.manifest), weight=s.weight, bake=timedelta(minutes=s.bake_minutes))
        for i, s in enumerate(runtime.config.canary.stages)
    ]


def load_documents(path: Path) -> list[KubeObject]:
    """The YAML documents of a manifest file (ManifestError with the file named when unusable)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"The manifest {path} cannot be read ({exc.strerror}); check canary.stages in the "
                            "config and the bot's working directory.") from exc
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc]
    except yaml.YAMLError as exc:
        raise ManifestError(f"The manifest {path} is not valid YAML: {exc}") from exc
    if not documents or not all(isinstance(doc, dict) for doc in documents):
        raise ManifestError(f"The manifest {path} holds no Kubernetes objects.")
    return documents


def gap_limit(runtime: Runtime) -> timedelta:
    """The longest tolerated UNKNOWN stretch: `canary.unknown_gap_minutes`, else the SLO breach window."""
    configured = runtime.config.canary.unknown_gap_minutes
    if configured is not None:
        return timedelta(minutes=configured)
    return runtime.config.slo.sustain


# -- evidence gates -------------------------------------------------------------------------------


def gate_verdict(runtime: Runtime) -> GateVerdict:
    """Evaluate the release gates now (commands/gates.py); any failure to evaluate is not a pass."""
    try:
        report = evaluate_release(**release_inputs(runtime.config.gates))
    except Exception as exc:  # a missing artifacts dir or key file must refuse the start, with the reason
        log.warning("gates could not be evaluated: %s", exc)
        return GateVerdict(passed=False, error=str(exc) or type(exc).__name__)
    failing = [f"{gate.key} {gate.outcome}" + (f" ({gate.detail})" if gate.detail else f" (measured {gate.measured}, "
               f"needs {gate.threshold})") for gate in report.failing]
    return GateVerdict(passed=report.all_passed, failing=failing)


# -- SLO watch ------------------------------------------------------------------------------------


def slo_samples(runtime: Runtime, *, start: datetime, end: datetime) -> list[SloSample]:
    """The SLO watch's evaluations in [start, end] as canary samples; none at all when unreadable.

    An evaluation is BREACH when any SLO was BREACHING at that tick (the seed: "all SLOs green for
    the whole stage"), UNKNOWN when any was UNKNOWN, else OK.
    """
    try:
        statuses = slo_history(runtime, start=start, end=end)
    except Exception as exc:  # no history is no evidence: the review reports UNKNOWN, never OK
        log.warning("SLO history unavailable: %s", exc)
        return []
    return [
        SloSample(at=status.at, state=status.state, detail=", ".join(
            f"{r.name} {r.state}" + (f" ({r.reason})" if r.reason else "")
            for r in status.results if r.state is not SloState.OK))
        for status in statuses
    ]


# -- pods -----------------------------------------------------------------------------------------


def canary_pods(runtime: Runtime, cluster: Cluster | None, *, error: str | None = None) -> PodCount:
    if cluster is None:
        return PodCount(ready=0, desired=0, error=error or "no cluster access")
    try:
        state = cluster.read_deployment(namespace=runtime.config.release.namespace,
                                        name=runtime.config.canary.canary_deployment)
    except ClusterError as exc:
        return PodCount(ready=0, desired=0, error=str(exc))
    return PodCount(ready=state.ready_replicas, desired=state.desired_replicas)
