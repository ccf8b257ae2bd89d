"""Release target and canary stages."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ReleaseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
