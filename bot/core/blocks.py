"""Block Kit helpers shared by the features' Slack renderers."""

from __future__ import annotations

from typing import Any

Blocks = list[dict[str, Any]]


def text_section(text: str) -> Blocks:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
