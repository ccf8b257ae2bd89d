"""The App Home tab, driven as Slack drives it: a signed `app_home_opened` event to the Bolt app, and the
`views.publish` the bot answers with, recorded and checked like Slack checks it (tests/support/slack.py).

The canary is put in the store with the canary feature's own transitions (claim, advance), the SLO state
comes from the real SLO watch job body (against a Prometheus that refuses connections: UNKNOWN), and the
refresh is the registered job body called with the test clock's time.
"""

from __future__ import annotations

import json
import socket
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.core.audit import latest
from bot.core.config import BizraConfig
from bot.core.runtime import Runtime
from bot.features.canary import store as canary_store
from bot.features.slo.watch import run_once
from commands.canary import CanaryRun
from commands.ports import FixedClock
from tests.support.bot import RunningBot, running_bot
from tests.support.polling import wait_until
from tests.support.slack import SlackRecorder, event_body

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
MANAGER = "U_RELMGR"
VIEWER = "U_VIEW"
IMAGE = "ghcr.io/bizra/node0@sha256:" + "c" * 64


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp_path: Path) -> BizraConfig:
    return BizraConfig.model_validate({
        "store": {"path": str(tmp_path / "state.sqlite")},
        "slack": {"release_channel": "C_REL", "messages_per_second": 50},
        "slo": {"prometheus": {"url": f"http://127.0.0.1:{_closed_port()}", "timeout_seconds": 1},
                "sustain": 1},
        "canary": {"stages": [
            {"name": "stage1-10pct", "manifest": "ops/canary/stage1-10pct.yaml", "weight": 10, "bake_minutes": 10},
            {"name": "stage2-50pct", "manifest": "ops/canary/stage2-50pct.yaml", "weight": 50, "bake_minutes": 10},
            {"name": "stage3-100pct", "manifest": "ops/canary/stage3-100pct.yaml", "weight": 100, "bake_minutes": 10},
        ]},
        "access": {"roles": {"release-manager": {"users": [MANAGER], "permissions": [
            "canary.status", "canary.start", "canary.promote", "canary.abort"]}}},
    })


@pytest.fixture
def bot(slack_recorder: SlackRecorder, tmp_path: Path) -> Iterator[RunningBot]:
    with running_bot(slack_recorder, config=_config(tmp_path), clock=FixedClock(T0)) as running:
        yield running


def _start_canary(runtime: Runtime) -> CanaryRun:
    run = CanaryRun(id="run1", image=IMAGE, stage=0, stage_started_at=T0, started_at=T0, started_by=MANAGER,
                    channel="C_REL")
    claim = canary_store.claim_start(runtime, run, now=T0, timeout=timedelta(minutes=5))
    assert claim.token is not None
    assert canary_store.advance(runtime, claim.token, stage=0, stage_started_at=T0, event="started")
    return run


def _promote(runtime: Runtime, *, at: datetime) -> None:
    claim = canary_store.claim(runtime, kind="promote", expected_stage=0, now=at, timeout=timedelta(minutes=5))
    assert claim.token is not None
    assert canary_store.advance(runtime, claim.token, stage=1, stage_started_at=at, event="promoted")


def _open_home(bot: RunningBot, user: str) -> dict[str, Any]:
    before = len([c for c in bot.recorder.calls("views.publish") if c.body.get("user_id") == user])
    status, _ = bot.send(event_body({"type": "app_home_opened", "user": user, "channel": "D0", "tab": "home"}))
    assert status == 200
    wait_until(lambda: len([c for c in bot.recorder.calls("views.publish")
                            if c.body.get("user_id") == user]) > before, what=f"the Home tab of {user}")
    return bot.recorder.home_views[user]


def _text(view: dict[str, Any]) -> str:
    parts: list[str] = []
    for block in view["blocks"]:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        parts += [str(e.get("text", "")) for e in block.get("elements", []) if isinstance(e.get("text"), str)]
    return "\n".join(parts)


def _action_ids(view: dict[str, Any]) -> set[str]:
    return {e["action_id"] for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]}


def test_opening_home_publishes_the_active_canary_and_the_slo_state(bot: RunningBot) -> None:
    _start_canary(bot.runtime)
    assert isinstance(bot.runtime.clock, FixedClock)
    bot.runtime.clock.set(T0 + timedelta(minutes=3))
    run_once(bot.runtime, at=T0 + timedelta(minutes=3))  # the SLO watch's tick: Prometheus unreachable

    view = _open_home(bot, MANAGER)

    assert view["type"] == "home"
    text = _text(view)
    assert "Canary stage 1/3 (stage1-10pct): 10% of traffic" in text
    assert "ghcr.io/bizra/node0@sha256:cccccccccccc…" in text
    assert "▓▓▓░░░░░░░ 30%" in text  # 3 of 10 minutes baked
    assert "SLOs UNKNOWN" in text
    assert "bizra-production/" in text  # the engine
    assert not bot.recorder.block_problems


def test_only_a_viewer_holding_the_permissions_sees_promote_and_abort(bot: RunningBot) -> None:
    _start_canary(bot.runtime)

    manager = _open_home(bot, MANAGER)
    viewer = _open_home(bot, VIEWER)

    assert _action_ids(manager) == {"canary.promote", "canary.abort"}
    [buttons] = [b for b in manager["blocks"] if b["type"] == "actions"]
    assert {e["value"] for e in buttons["elements"]} == {"run1:0"}  # what the canary's button handler expects
    assert _action_ids(viewer) == set()
    assert "Canary stage 1/3" in _text(viewer)  # the viewer still sees the release


def test_no_canary_means_no_buttons_even_for_a_release_manager(bot: RunningBot) -> None:
    view = _open_home(bot, MANAGER)

    assert ":zzz: No canary is active." in _text(view)
    assert _action_ids(view) == set()


def test_a_canary_step_changes_the_view_on_the_next_refresh(bot: RunningBot) -> None:
    runtime = bot.runtime
    _start_canary(runtime)
    _open_home(bot, MANAGER)
    [job] = [j for j in runtime.registry.jobs if j.name == "home-refresh"]
    assert job.interval(runtime.config) == 60.0

    job.body(runtime, T0 + timedelta(seconds=30))  # nothing a reader would notice changed
    assert len(bot.recorder.calls("views.publish")) == 1

    _promote(runtime, at=T0 + timedelta(minutes=1))
    job.body(runtime, T0 + timedelta(minutes=1, seconds=10))

    published = bot.recorder.calls("views.publish")
    assert len(published) == 2 and published[-1].body["user_id"] == MANAGER
    text = _text(bot.recorder.home_views[MANAGER])
    assert "Canary stage 2/3 (stage2-50pct): 50% of traffic" in text
    [buttons] = [b for b in bot.recorder.home_views[MANAGER]["blocks"] if b["type"] == "actions"]
    assert {e["value"] for e in buttons["elements"]} == {"run1:1"}

    job.body(runtime, T0 + timedelta(minutes=1, seconds=50))  # unchanged again: not republished
    assert len(bot.recorder.calls("views.publish")) == 2

    job.body(runtime, T0 + timedelta(minutes=2))  # the bake's next tenth (1 of 10 minutes): republished
    assert len(bot.recorder.calls("views.publish")) == 3
    assert "▓░░░░░░░░░ 10%" in _text(bot.recorder.home_views[MANAGER])


def test_the_messages_tab_is_not_given_the_home_view(bot: RunningBot) -> None:
    status, _ = bot.send(event_body({"type": "app_home_opened", "user": VIEWER, "channel": "D0", "tab": "messages"}))
    assert status == 200
    _open_home(bot, MANAGER)  # handled after the first, on the same lane: the first was dropped by then
    assert {c.body.get("user_id") for c in bot.recorder.calls("views.publish")} == {MANAGER}


def test_an_alert_opening_changes_the_view_on_the_next_refresh(bot: RunningBot) -> None:
    runtime = bot.runtime
    run_once(runtime, at=T0)
    view = _open_home(bot, VIEWER)
    assert ":white_check_mark: No open alerts." in _text(view)
    [job] = [j for j in runtime.registry.jobs if j.name == "home-refresh"]

    # Prometheus stays unreachable past `slo.sustain`: the watch opens a monitoring-blind alert.
    for seconds in (5, 10, 20):
        run_once(runtime, at=T0 + timedelta(seconds=seconds))
    job.body(runtime, T0 + timedelta(seconds=21))

    assert len([c for c in bot.recorder.calls("views.publish") if c.body.get("user_id") == VIEWER]) == 2
    assert "Open alerts (1)" in _text(bot.recorder.home_views[VIEWER])


def _home_click(bot: RunningBot, *, user: str, action_id: str, value: str) -> None:
    """A button click on the Home tab as Slack sends it: a view container, no channel, no response_url."""
    payload = {
        "type": "block_actions", "team": {"id": "T0", "domain": "bizra"}, "api_app_id": "A0", "token": "unused",
        "user": {"id": user, "username": user.lower(), "name": user.lower()},
        "container": {"type": "view", "view_id": "V_HOME"}, "trigger_id": f"{T0.timestamp()}.1.{user}",
        "view": {"id": "V_HOME", "type": "home", "blocks": []},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "home-canary-run1", "value": value,
                     "action_ts": "1767607200.000001"}],
    }
    status, _ = bot.send(urllib.parse.urlencode({"payload": json.dumps(payload)}))
    assert status == 200


def test_a_home_click_runs_the_canary_buttons_own_handler_with_its_checks(bot: RunningBot) -> None:
    _start_canary(bot.runtime)
    _open_home(bot, VIEWER)

    _home_click(bot, user=VIEWER, action_id="canary.promote", value="run1:0")  # a button the viewer was not shown

    refused = wait_until(lambda: [e for e in latest(bot.runtime, 5, action_prefix="canary.promote")
                                  if e.actor == VIEWER], what="the refused click in the audit log")
    assert refused[0].outcome == "denied"
    active = canary_store.load(bot.runtime)
    assert active is not None and active.run.stage == 0
