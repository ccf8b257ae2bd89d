"""The canary engines behind `commands.canary_engine.CanaryEngine`, and which one a runtime uses.

`canary.engine` in bizra.yaml picks one; `engine_for(runtime)` builds it (engines are cheap: they
hold the runtime and reach the cluster through `runtime.cluster`). A run keeps the engine it
started with (`CanaryRun.engine`), so changing the config mid-run does not hand the run to another
engine: `engine_for(runtime, run.engine)`.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.core.runtime import Runtime
from bot.features.canary.engines.argo_rollouts import ArgoRolloutsEngine
from bot.features.canary.engines.gateway import GatewayEngine
from bot.features.canary.flagger.engine import FlaggerEngine
from bot.features.canary.flagger.ref import canary_ref
from commands.canary_engine import CanaryEngine, EngineKind

EngineFactory = Callable[[Runtime], CanaryEngine]

# One line per engine. The Flagger engine (bot/features/canary/flagger/) adds itself here.
FACTORIES: dict[EngineKind, EngineFactory] = {
    EngineKind.GATEWAY: GatewayEngine,
    EngineKind.ARGO_ROLLOUTS: ArgoRolloutsEngine,
    EngineKind.FLAGGER: FlaggerEngine,
}


class EngineUnavailable(Exception):
    """The configured engine is not built into this bot."""


def engine_for(runtime: Runtime, kind: str | None = None) -> CanaryEngine:
    """The engine `kind` (default: `canary.engine`) for this runtime."""
    chosen = EngineKind(kind or runtime.config.canary.engine)
    factory = FACTORIES.get(chosen)
    if factory is None:
        raise EngineUnavailable(f"The canary engine `{chosen}` is not available in this bot; set canary.engine to one "
                                f"of {', '.join(sorted(k.value for k in FACTORIES))}.")
    return factory(runtime)


def engine_label(runtime: Runtime) -> str:
    """What drives the canary, in words, from the config alone (the Home tab opens without a cluster read)."""
    canary = runtime.config.canary
    namespace = runtime.config.release.namespace
    kind = EngineKind(canary.engine)
    if kind is EngineKind.FLAGGER:
        return f"flagger, Canary {canary_ref(runtime)}"
    if kind is EngineKind.ARGO_ROLLOUTS:
        return f"argo-rollouts, Rollout {namespace}/{canary.argo_rollouts.rollout}"
    return f"gateway, HTTPRoute stages for {namespace}/{canary.canary_deployment}"
