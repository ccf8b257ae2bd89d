"""The read-only ports `/bizra verify` checks through, built for one runtime.

The cluster reads and the Prometheus/health probes are adapters (`bot/adapters/verify_reads.py`);
the canary's record is the canary feature's own store, read here because the checklist's last
item ("canary pipeline tested") is about what the bot itself did (the layers contract allows
verify to read the canary feature).
"""

from __future__ import annotations

from bot.adapters.verify_reads import HttpHealth, PrometheusTargets
from bot.core.runtime import Runtime
from bot.features.canary import store as canary_store
from commands.verify import CanaryRecord, Unavailable, VerifyPorts


class StoreCanaryHistory:
    """`commands.verify.CanaryHistory` over the canary feature's own store."""

    def __init__(self, runtime: Runtime, *, limit: int = 200) -> None:
        self._runtime = runtime
        self._limit = limit

    def recent(self) -> list[CanaryRecord]:
        try:
            entries = canary_store.history(self._runtime, self._limit)
        except Exception as exc:  # sqlite errors, a locked or unreadable file
            raise Unavailable(f"the bot's canary record could not be read ({type(exc).__name__}: {exc})") from exc
        return [CanaryRecord(canary_id=e.canary_id, at=e.at, actor=e.actor, event=e.event, outcome=e.outcome,
                             image=e.image, detail=e.detail, stage_before=e.stage_before, stage_after=e.stage_after)
                for e in entries]


def verify_ports(runtime: Runtime) -> VerifyPorts:
    """The ports for this runtime (a test may install its own reads with `runtime.verify_reads.set(...)`)."""
    return VerifyPorts(
        cluster=runtime.verify_reads.get(),
        prometheus=PrometheusTargets(runtime.config.slo.prometheus),
        health=HttpHealth(timeout=runtime.config.verify.health_timeout_seconds),
        canary=StoreCanaryHistory(runtime),
    )
