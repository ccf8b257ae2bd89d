"""Canary stages and promotion policy (`canary:` in bizra.yaml).

The defaults are the seed's three stages (10% for 60 min, 50% for 120 min, 100% for 180 min),
each a manifest under ops/canary/ whose canary image placeholder the bot fills in at apply time.
Relative manifest paths are read from the bot's working directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.features.canary.flagger.settings import FlaggerSettings


class StageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Short name shown in Slack, e.g. stage1-10pct.")
    manifest: Path = Field(description="Multi-document YAML applied (server-side) when the stage starts.")
    weight: int = Field(ge=0, le=100, description="Share of traffic (percent) the manifest routes to the canary.")
    bake_minutes: float = Field(gt=0, description="How long the stage must run with SLOs OK before promotion.")


def _default_stages() -> list[StageSettings]:
    return [
        StageSettings(name="stage1-10pct", manifest=Path("ops/canary/stage1-10pct.yaml"), weight=10, bake_minutes=60),
        StageSettings(name="stage2-50pct", manifest=Path("ops/canary/stage2-50pct.yaml"), weight=50, bake_minutes=120),
        StageSettings(name="stage3-100pct", manifest=Path("ops/canary/stage3-100pct.yaml"), weight=100,
                      bake_minutes=180),
    ]


class ArgoRolloutsSettings(BaseModel):
    """`canary.argo_rollouts`: the Rollout the `argo-rollouts` engine drives (docs/canary.md, Engines)."""

    model_config = ConfigDict(extra="forbid")

    rollout: str = Field(default="node0", description="The Rollout (argoproj.io/v1alpha1) in release.namespace.")
    follow_seconds: float = Field(
        default=120.0, ge=0,
        description="How long start/promote/abort follow the controller to the next pause (or the end) before "
                    "answering; the stage's bake starts when the controller holds there.")
    poll_seconds: float = Field(default=0.2, gt=0, description="Pause between reads while following the controller.")


class CanarySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    engine: Literal["gateway", "flagger", "argo-rollouts"] = Field(
        default="gateway",
        description="What moves the traffic: gateway (the bot applies the HTTPRoute stage manifests), flagger "
                    "(Flagger runs the canary and asks the bot through its webhooks), argo-rollouts (the bot promotes "
                    "an Argo Rollout's pauses).")
    argo_rollouts: ArgoRolloutsSettings = Field(default_factory=ArgoRolloutsSettings)
    flagger: FlaggerSettings = Field(default_factory=FlaggerSettings)

    stages: list[StageSettings] = Field(
        default_factory=_default_stages,
        description="The stages in order; weights may not decrease and the last one must be 100.",
    )
    stable_manifest: Path = Field(
        default=Path("ops/canary/stable.yaml"),
        description="Applied by abort, auto-rollback and at completion: all traffic to stable, canary scaled to 0.",
    )
    image_placeholder: str = Field(
        default="${CANARY_IMAGE}",
        description="Container image value in the manifests that the bot replaces with the canary image.",
    )
    canary_deployment: str = Field(
        default="node0-canary", description="The canary Deployment the manifests create (pods ready/desired)."
    )
    auto_rollback: bool = Field(
        default=True, description="Abort the canary when the SLO watch reports a sustained breach during a stage."
    )
    unknown_gap_minutes: float | None = Field(
        default=None, gt=0,
        description="Longest tolerated stretch of UNKNOWN SLO state in a stage; empty means the SLO breach window.",
    )
    require_ready: bool = Field(
        default=True, description="Promote only while every canary pod is ready (ready == desired)."
    )
    transition_timeout_seconds: float = Field(
        default=300.0, gt=0,
        description="A start/promote/abort in progress longer than this is treated as abandoned (a crashed replica).",
    )
    abort_wait_seconds: float = Field(
        default=30.0, ge=0, description="How long an abort waits for a promote in flight to finish before giving up."
    )

    @field_validator("stages")
    @classmethod
    def _stages(cls, stages: list[StageSettings]) -> list[StageSettings]:
        if not stages:
            raise ValueError("at least one stage is needed")
        names = [stage.name for stage in stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique, got {names}")
        weights = [stage.weight for stage in stages]
        if weights != sorted(weights):
            raise ValueError(f"stage weights may not decrease, got {weights}")
        if weights[-1] != 100:
            raise ValueError("the last stage must send 100% of traffic to the canary")
        return stages

    @model_validator(mode="after")
    def _placeholder(self) -> CanarySettings:
        if not self.image_placeholder.strip():
            raise ValueError("image_placeholder must not be empty")
        # A transition holds the store's claim while it follows the controller: a claim older than
        # transition_timeout_seconds counts as abandoned, so following must end well before that.
        if self.argo_rollouts.follow_seconds * 2 >= self.transition_timeout_seconds:
            raise ValueError(f"argo_rollouts.follow_seconds ({self.argo_rollouts.follow_seconds:g}) must be less than "
                             f"half of transition_timeout_seconds ({self.transition_timeout_seconds:g}), or another "
                             "replica could take over a promotion that is still following the controller")
        return self
