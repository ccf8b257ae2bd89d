"""Roles (who may run what) and channel limits."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AccessSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
