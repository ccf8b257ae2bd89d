"""The ports `/bizra dod` judges through, built for one runtime.

The cluster reads (dry-run admission, HPA, PoI Job) and the canary's record are the verify
feature's (the same reads `/bizra verify` makes; the layers contract lets dod use verify); the
evidence gates are `bizra gates` itself (`commands.dod.EvidenceGates` on `gates:`).
"""

from __future__ import annotations

from bot.core.runtime import Runtime
from bot.features.verify.handlers import targets_from
from bot.features.verify.ports import StoreCanaryHistory
from commands.dod import DodPorts, DodTargets, EvidenceGates


def dod_ports(runtime: Runtime) -> DodPorts:
    """The ports for this runtime (a test may install its own reads with `runtime.verify_reads.set(...)`)."""
    return DodPorts(cluster=runtime.verify_reads.get(), gates=EvidenceGates(runtime.config.gates),
                    canary=StoreCanaryHistory(runtime))


def dod_targets(runtime: Runtime) -> DodTargets:
    """What the gates look for: `verify:`/`release:`/`gates:` (as `/bizra verify`) and `canary.stages`."""
    return DodTargets(verify=targets_from(runtime), canary_stages=[s.name for s in runtime.config.canary.stages])
