"""Evidence gates: artifacts directory, trusted attestation keys, gate policy."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class GatesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
