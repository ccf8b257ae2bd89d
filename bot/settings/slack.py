"""Slack-facing settings that are not secrets (secrets come only from the environment)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SlackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: str = Field(default="/bizra", description="The slash command the app answers.")
    release_channel: str = Field(
        default="",
        description="Channel ID where scheduled status, alerts and progress threads are posted.",
    )
    messages_per_second: float = Field(
        default=1.0, gt=0, description="Posting budget per channel (Slack allows about one per second)."
    )
