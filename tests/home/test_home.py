"""The App Home tab, driven as Slack drives it: a signed `app_home_opened` event to the Bolt app, and the
`views.publish` the bot answers with, recorded and checked like Slack checks it (tests/support/slack.py).

The canary is put in the store with the canary feature's own transitions (claim, advance), the SLO state
comes from the real SLO watch job body (against a Prometheus that refuses connections: UNKNOWN), and the
refresh is the registered job body called with the test clock's time.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import AbstractContextManager
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
from tests.rollback.conftest import ANNOTATION, GOOD, button_value, image_patches, seed
from tests.support.bot import RunningBot, running_bot
from tests.support.kube_api import KubeApiServer
from tests.support.polling import wait_until
from tests.support.slack import Message, SlackRecorder, block_action_body, event_body, permalink

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
    # The handler remembers the viewer (and the digest shown) right after views.publish returns; a refresh
    # run before that would not know the viewer yet (seen under CPU load).
    wait_until(bot.runtime.work.get().idle, what="the Home handler to remember the viewer")
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
        "container": {"type": "view", "view_id": "V_HOME"},
        "trigger_id": f"{T0.timestamp()}.{time.time_ns()}.{user}",  # unique per click, as Slack's are
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


RESPONDER = "U_RESP"


def _rollback_bot(recorder: SlackRecorder, api: KubeApiServer, tmp_path: Path) -> AbstractContextManager[RunningBot]:
    """A bot whose Home tab may roll back: NODE0 on the API emulator with a last stable image to go back to,
    and a responder holding `rollback`."""
    seed(api, annotations={ANNOTATION: GOOD})
    raw = _config(tmp_path).model_dump(mode="json", exclude_unset=True)
    raw["release"] = {"kube": {"mode": "kubeconfig", "kubeconfig": str(api.write_kubeconfig(tmp_path / "kubeconfig")),
                               "timeout_seconds": 3},
                      "rollback": {"incidents_dir": str(tmp_path / "incidents")}}
    raw["access"]["roles"]["responder"] = {"users": [RESPONDER], "permissions": ["rollback"]}
    return running_bot(recorder, config=BizraConfig.model_validate(raw), clock=FixedClock(T0))


def _confirmations_in(recorder: SlackRecorder, channel: str) -> list[Message]:
    return [m for m in recorder.top_level(channel) if any(b["action_id"] == "rollback.confirm" for b in m.buttons())]


def _dms(recorder: SlackRecorder, user: str) -> list[Message]:
    return recorder.top_level(user)  # chat.postMessage to a user ID: the app's Messages tab with that user


def test_roll_back_on_home_posts_the_confirmation_in_the_release_channel_and_dms_the_link(
        slack_recorder: SlackRecorder, api: KubeApiServer, tmp_path: Path) -> None:
    with _rollback_bot(slack_recorder, api, tmp_path) as bot:
        view = _open_home(bot, RESPONDER)
        assert _action_ids(view) == {"home.rollback"}, "no canary: only Roll back…"
        [button] = [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert button["text"]["text"] == "Roll back…" and button["confirm"]["title"]["text"]  # a confirm dialog
        assert "<#C_REL>" in button["confirm"]["text"]["text"]
        assert "home.rollback" not in _action_ids(_open_home(bot, VIEWER)), "not for a viewer without `rollback`"

        _home_click(bot, user=RESPONDER, action_id="home.rollback", value="default")
        wait_until(lambda: _dms(slack_recorder, RESPONDER), what="the DM pointing at the confirmation")
        [posted] = _confirmations_in(slack_recorder, "C_REL")
        assert "<@U_RESP>" in posted.shown and "requested from the Home tab" in posted.shown
        assert "Target (the newest stable image that differs from what runs)" in posted.shown
        assert f"`sha256:{'a' * 12}`" in posted.shown and "Expires <!date^" in posted.shown
        [dm] = _dms(slack_recorder, RESPONDER)
        assert permalink("C_REL", posted.ts) in dm.shown and "<#C_REL>" in dm.shown
        wait_until(lambda: "awaits confirmation in <#C_REL>" in _text(slack_recorder.home_views[RESPONDER]),
                   what="the Home tab listing the pending confirmation")
        requested = latest(bot.runtime, 1, action_prefix="rollback.request")[0]
        assert (requested.actor, requested.outcome) == (RESPONDER, "requested")

        _home_click(bot, user=RESPONDER, action_id="home.rollback", value="default")  # a second click
        wait_until(lambda: len(_dms(slack_recorder, RESPONDER)) == 2, what="the answer to the second click")
        assert len(_confirmations_in(slack_recorder, "C_REL")) == 1, "the pending one is pointed at, not repeated"
        assert permalink("C_REL", posted.ts) in _dms(slack_recorder, RESPONDER)[-1].shown

        plan_id = button_value(posted, "rollback.cancel")  # decided in the release channel, on its message
        bot.send(block_action_body(action_id="rollback.cancel", value=plan_id, user_id=RESPONDER,
                                   response_url=slack_recorder.response_url("cancel"), channel_id="C_REL",
                                   message_ts=posted.ts))
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/cancel" for r in rs), what="the cancel")
    assert "cancelled by <@U_RESP>" in json.dumps(slack_recorder.responses("cancel")[0].body)
    assert image_patches(api) == []


def test_a_forged_roll_back_click_on_home_is_refused_audited_and_posts_nothing(
        slack_recorder: SlackRecorder, api: KubeApiServer, tmp_path: Path) -> None:
    with _rollback_bot(slack_recorder, api, tmp_path) as bot:
        _open_home(bot, VIEWER)
        _home_click(bot, user=VIEWER, action_id="home.rollback", value="default")  # a button VIEWER was not shown
        refused = wait_until(lambda: [e for e in latest(bot.runtime, 5, action_prefix="rollback")
                                      if e.actor == VIEWER], what="the refused click in the audit log")
        wait_until(lambda: _dms(slack_recorder, VIEWER), what="the refusal told to the clicker")
    assert (refused[0].action, refused[0].outcome, refused[0].channel) == ("rollback", "denied", "C_REL")
    [dm] = _dms(slack_recorder, VIEWER)
    assert "not allowed to run `rollback`" in dm.shown and "Nothing was posted" in dm.shown
    assert _confirmations_in(slack_recorder, "C_REL") == []
    assert image_patches(api) == [] and api.calls("GET", "/deployments/node0") == [], "not even planned"
