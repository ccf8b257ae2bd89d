"""The rollback procedure's limits (`release.rollback:` in bizra.yaml): confirmation, rollout, bundles."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class RollbackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirmation_minutes: float = Field(default=10.0, gt=0, description="A rollback confirmation expires after this.")
    rollout_deadline_seconds: float = Field(
        default=300.0, gt=0, description="Follow the rollout this long before calling it failed (the seed's MTTR)."
    )
    poll_interval_seconds: float = Field(default=2.0, gt=0, description="How often the rollout is re-read.")
    incidents_dir: Path = Field(
        default=Path("incidents"), description="Incident bundles go to <incidents_dir>/<UTC timestamp>/."
    )
    events_limit: int = Field(default=100, ge=1, description="Most recent namespace events kept in a bundle.")
    heartbeat_timeout_seconds: float = Field(
        default=60.0, gt=0, description="A running rollback whose executor has not written a heartbeat for this "
        "long is taken over (finished or marked interrupted) by the next replica or restart.",
    )
