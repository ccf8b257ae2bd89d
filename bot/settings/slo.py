"""SLO watch: Prometheus connection, SLO catalog, intervals, on-call, paging."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SloSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
