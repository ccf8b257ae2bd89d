"""`canary.flagger:` in bizra.yaml — the Canary the `flagger` engine gates, and how its webhooks authenticate.

A leaf module (pydantic only), composed into `CanarySettings.flagger`. The defaults gate the
`node0` Canary of ops/canary/flagger/ in the release namespace, with the token in the webhook's
`metadata.token` and its value in the environment variable `BIZRA_FLAGGER_TOKEN`.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class FlaggerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    canary: str = Field(default="node0", description="The Canary (flagger.app/v1beta1) whose webhooks the bot answers.")
    namespace: str | None = Field(
        default=None, description="The Canary's namespace; empty means release.namespace.")
    token_key: str = Field(
        default="token", min_length=1,
        description="The key of the webhook's `metadata` that carries the shared token.")
    token_env: str = Field(
        default="BIZRA_FLAGGER_TOKEN",
        description="The environment variable holding the token; unset or empty refuses every webhook (403).")
    step_weights: list[int] | None = Field(
        default=None,
        description="The Canary's analysis.stepWeights, one per canary stage in order (stage N is held at "
                    "step_weights[N-1]); empty means the stages' own weights (10, 50, 100).")

    @field_validator("token_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError("must be an environment variable name (letters, digits, _)")
        return value

    @field_validator("step_weights")
    @classmethod
    def _weights(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        if not value or any(not 0 < weight <= 100 for weight in value):
            raise ValueError(f"step weights must be percentages in 1..100, got {value}")
        if value != sorted(set(value)):
            raise ValueError(f"step weights must increase, got {value}")
        return value
