"""Evidence gates (`gates:` in bizra.yaml): where the artifacts are, which keys are trusted, the policy.

Relative paths are read from the bot's working directory (the repository root for `make run`,
`/app` in the container), like the canary manifests. The defaults work on the shipped
`artifacts/`, signed by the key whose public half is `ops/keys/attestation-release.pub`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from commands.gates import GatePolicy

DEFAULT_TRUSTED_KEY = Path("ops/keys/attestation-release.pub")


class GatesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    artifacts_dir: Path = Field(
        default=Path("artifacts"),
        description="Directory holding cb.json, cache.json, planner_eval.json, wq_proof.json, attestation.json.",
    )
    trusted_keys: list[Path] = Field(
        default_factory=lambda: [DEFAULT_TRUSTED_KEY],
        description="Ed25519 public key files (PEM, or one line of base64 of the raw 32-byte key) whose "
        "attestation signatures are trusted.",
    )
    policy: GatePolicy = Field(
        default_factory=GatePolicy,
        description="Gate thresholds; set only the fields to change, the rest keep issue 2's defaults.",
    )
