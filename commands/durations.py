"""Durations in config and PromQL: `300`, `"5m"`, `"1h30m"` in, timedelta out; timedelta to `300s`.

Pure helpers shared by the SLO catalog and the burn-rate policy (a module of its own so neither
imports the other for them).
"""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(value: object) -> object:
    """`300`, `"5m"`, `"30s"`, `"1h30m"` → timedelta; anything else is left for pydantic to judge."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip()
        if text.upper().startswith("P"):
            return text  # ISO 8601 (how pydantic writes a timedelta back out): pydantic parses it
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            return timedelta(seconds=float(text))
        match = _DURATION.match(text)
        if text and match:
            hours, minutes, seconds = (float(part or 0) for part in match.groups())
            return timedelta(hours=hours, minutes=minutes, seconds=seconds)
        raise ValueError(f"{value!r} is not a duration: use seconds (300) or a string like 5m, 30s, 1h30m")
    return value


def promql_duration(delta: timedelta) -> str:
    """A PromQL range like `300s` (whole seconds, at least 1)."""
    return f"{max(1, round(delta.total_seconds()))}s"
