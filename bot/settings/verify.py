"""Cluster readiness checks for /bizra verify."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class VerifySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
