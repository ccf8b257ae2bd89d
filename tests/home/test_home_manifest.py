"""The Slack app manifest subscribes to exactly the events the code listens to, and enables the Home tab."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.assembly import build_registry
from bot.core.config import BizraConfig, load_config

REPO = Path(__file__).resolve().parents[2]


def test_the_manifest_subscribes_to_the_registered_events_and_enables_home() -> None:
    manifest = yaml.safe_load((REPO / "ops" / "slack" / "manifest.yaml").read_text(encoding="utf-8"))
    events = manifest["settings"]["event_subscriptions"]
    assert set(events["bot_events"]) == set(build_registry().events) == {"app_home_opened"}
    assert events["request_url"] == manifest["settings"]["interactivity"]["request_url"]
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    # The answer to a Home click (no channel, no response_url) is a DM: the Messages tab must show it.
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True


def test_the_home_section_defaults() -> None:
    assert BizraConfig().home.refresh_seconds == 60.0
    assert load_config(REPO / "bizra.example.yaml").home == BizraConfig().home
