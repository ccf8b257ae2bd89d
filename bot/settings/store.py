"""Where the bot keeps its state (release history, breach state, audit log)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class StoreSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path = Field(default=Path(".bizra/state.sqlite"), description="SQLite file; created on first use.")
