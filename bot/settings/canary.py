"""Canary stages and promotion policy."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class CanarySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
