"""The App Home tab (`home:` in bizra.yaml): how often opened Home tabs are checked for a change."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class HomeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Publish the Home tab when a user opens it.")
    refresh_seconds: float = Field(
        default=60.0, gt=0,
        description="How often bizra serve re-renders opened Home tabs; republished only when the view changed.",
    )
    releases: int = Field(default=5, ge=0, le=20, description="How many of the last releases the Home tab lists.")
