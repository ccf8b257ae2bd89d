"""Which Canary the Flagger engine gates and how its weights map onto the canary stages (from the config).

Stage N (1-based) of `canary.stages` is Flagger holding at `step_weights[N-1]` of traffic; weight 0
is before stage 1, and the promotion follows the last stage. With the defaults the Canary's
`analysis.stepWeights: [10, 50, 100]` are the seed's 10 / 50 / 100 stages.
"""

from __future__ import annotations

from bot.core.runtime import Runtime

# Canary phases in which Flagger holds at its current weight until a webhook lets it go on.
HOLDING_PHASES = ("Progressing", "Waiting", "WaitingPromotion")


def canary_namespace(runtime: Runtime) -> str:
    return runtime.config.canary.flagger.namespace or runtime.config.release.namespace


def canary_name(runtime: Runtime) -> str:
    return runtime.config.canary.flagger.canary


def canary_ref(runtime: Runtime) -> str:
    return f"{canary_namespace(runtime)}/{canary_name(runtime)}"


def step_weights(runtime: Runtime) -> list[int]:
    """Flagger's canaryWeight at each stage, in stage order (config, else the stages' own weights)."""
    configured = runtime.config.canary.flagger.step_weights
    return list(configured) if configured else [stage.weight for stage in runtime.config.canary.stages]


def weights_problem(runtime: Runtime) -> str | None:
    weights, count = step_weights(runtime), len(runtime.config.canary.stages)
    if len(weights) != count:
        return (f"canary.flagger.step_weights {weights} has {len(weights)} weights for {count} canary stages; give one "
                "per stage (the Canary's analysis.stepWeights)")
    return None


def stage_of_weight(runtime: Runtime, weight: int) -> int | None:
    """The 0-based stage Flagger holds at `weight`, or None (weight 0, or not a configured step)."""
    weights = step_weights(runtime)
    return weights.index(weight) if weight in weights else None


def promotion_step(runtime: Runtime) -> int:
    """The grant step of the promotion: one past the last stage."""
    return len(step_weights(runtime)) + 1


def steps_mismatch(runtime: Runtime, canary_steps: list[int]) -> str | None:
    """The Canary's own analysis.stepWeights against the bot's stage weights (None: they agree, or it has none)."""
    ours = step_weights(runtime)
    if canary_steps and canary_steps != ours:
        return (f"the Canary's analysis.stepWeights {canary_steps} are not bizra-bot's stage weights {ours}; make "
                "them equal (canary.flagger.step_weights or canary.stages)")
    return None
