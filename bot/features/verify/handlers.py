"""`/bizra verify`: is the cluster ready, and did the release land? (seed Phases 2 and 4)

Parses nothing (the checklist takes no arguments), authorizes `verify`, builds the read-only ports
(bot/adapters/verify_reads.py) and lets `commands.verify.evaluate` decide; the answer is posted in
the channel so everyone sees the same checklist.
"""

from __future__ import annotations

from bot.core.invocation import Invocation, Reply, UsageError
from bot.core.runtime import Runtime
from bot.features.access.enforce import require
from bot.features.verify.ports import verify_ports
from commands.verify import VerifyTargets, evaluate


def targets_from(runtime: Runtime) -> VerifyTargets:
    """What to look for, from the config's `verify:`, `release:` and `gates:` sections."""
    verify, release = runtime.config.verify, runtime.config.release
    return VerifyTargets(
        namespace=release.namespace,
        label_selector=release.label_selector,
        expected_ready_pods=verify.expected_ready_pods,
        kyverno_policy=verify.kyverno_policy,
        admission_probe_image=verify.admission_probe_image,
        admission_probe_pod=verify.admission_probe_pod,
        hpa=verify.hpa,
        hpa_metric=verify.hpa_metric,
        default_deny_policy=verify.default_deny_policy,
        poi_job=verify.poi_job,
        health_url=verify.health_url,
        prometheus_job=verify.prometheus_job,
        min_validators=verify.min_validators,
        artifacts_dir=runtime.config.gates.artifacts_dir,
    )


def verify(invocation: Invocation, runtime: Runtime) -> Reply:
    if invocation.args:
        raise UsageError("Usage: `/bizra verify` (no arguments): it checks the whole readiness checklist.")
    refusal = require(runtime, user_id=invocation.user_id, user_groups=invocation.user_groups,
                      channel_id=invocation.channel_id, permission="verify", target="cluster readiness")
    if refusal:
        return Reply(result=refusal, ephemeral=True)
    report = evaluate(verify_ports(runtime), targets_from(runtime), now=runtime.clock.now(),
                      requested_by=invocation.user_id)
    return Reply(result=report)
