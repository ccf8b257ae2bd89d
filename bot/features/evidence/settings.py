"""`evidence:` in bizra.yaml: where archives are kept, the signing key, the keys trusted to verify them."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class EvidenceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    directory: Path = Field(default=Path(".bizra/evidence"), description="Where archives are kept (created on use).")
    signing_key_file: Path | None = Field(
        default=None, description="Ed25519 private key (PKCS#8 PEM) that signs the manifest; none: signing_key_env."
    )
    signing_key_env: str = Field(
        default="BIZRA_EVIDENCE_SIGNING_KEY",
        description="Environment variable holding the PEM private key when signing_key_file is not set.",
    )
    trusted_keys: list[Path] = Field(
        default_factory=list,
        description="Public keys (PEM or base64 raw) `bizra evidence verify` trusts; empty: gates.trusted_keys.",
    )
    interval_seconds: float = Field(
        default=60.0, gt=0, description="How often `bizra serve` looks for ended runs that have no archive yet."
    )
    upload: bool = Field(default=True, description="Upload each archive to the release's thread in Slack.")
