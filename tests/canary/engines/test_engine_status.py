"""`/bizra canary status` with no canary run active, for the controller-driven engines.

With Flagger or Argo Rollouts the controller may be doing something the bot has no run for yet:
Flagger holding a new revision at confirm-rollout until someone starts it, a Rollout on its way or
paused. The status says what the engine observes instead of a bare "No canary is active", and for
Flagger points at the message where the rollout can be approved. Played at the protocol level by
tests/support/flagger.py and tests/support/argo_rollouts.py on the Kubernetes API emulator.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.canary.conftest import (
    CANDIDATE,
    NS,
    RELEASE_CHANNEL,
    STABLE,
    VIEWER,
    MakeDriver,
    make_config,
    now_clock,
    text_of,
)
from tests.canary.engines.argo_support import argo_config, argo_seed
from tests.support.flagger import FlaggerDriver
from tests.support.kube_api import KubeApiServer
from tests.support.polling import wait_until
from tests.support.slack import SlackRecorder, event_body, permalink

TOKEN = "flagger-test-token"  # made up for tests


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZRA_FLAGGER_TOKEN", TOKEN)


def test_status_shows_flagger_waiting_for_a_start_with_a_link_to_its_message(
        api: KubeApiServer, tmp_path: Path, driver_factory: MakeDriver, slack_recorder: SlackRecorder) -> None:
    bot = driver_factory(make_config(api, tmp_path, engine="flagger"), now_clock())
    flagger = FlaggerDriver(api, bot.bot.url, NS, image=STABLE, token=TOKEN).install()
    idle = text_of(bot.run("canary status", user=VIEWER))
    assert "Canary bizra-production/node0" in idle and "Initialized" in idle, idle

    flagger.set_image(CANDIDATE)
    assert flagger.tick() == "waiting-for-rollout"
    (message,) = [m for m in slack_recorder.top_level(RELEASE_CHANNEL) if "Flagger asks to roll out" in m.shown]
    shown = text_of(bot.run("canary status", user=VIEWER))
    assert "No canary is active" not in shown, shown
    checksum = flagger.last("confirm-rollout").payload["checksum"]
    assert "Flagger waits for approval" in shown and checksum[:12] in shown, shown
    assert f"/bizra canary start {CANDIDATE}" in shown
    assert permalink(message.channel, message.ts) in shown  # where Approve / Deny are
    assert "Waiting" in shown  # the Canary's phase, as Flagger reports it


def test_status_shows_the_rollout_when_no_run_is_active(api: KubeApiServer, tmp_path: Path,
                                                        driver_factory: MakeDriver) -> None:
    argo_seed(api)
    bot = driver_factory(argo_config(api, tmp_path), now_clock())
    shown = text_of(bot.run("canary status", user=VIEWER))
    assert "No canary run is active" in shown, shown
    assert "Rollout bizra-production/node0" in shown and "phase Healthy" in shown, shown
    assert "Stable revision (all traffic)" in shown and "Canary revision" not in shown, shown


def test_home_tab_says_flagger_waits_for_a_start(api: KubeApiServer, tmp_path: Path, driver_factory: MakeDriver,
                                                 slack_recorder: SlackRecorder) -> None:
    bot = driver_factory(make_config(api, tmp_path, engine="flagger"), now_clock())
    flagger = FlaggerDriver(api, bot.bot.url, NS, image=STABLE, token=TOKEN).install()
    flagger.set_image(CANDIDATE)
    assert flagger.tick() == "waiting-for-rollout"
    status, _ = bot.bot.send(event_body({"type": "app_home_opened", "user": VIEWER, "channel": "D0", "tab": "home"}))
    assert status == 200
    wait_until(lambda: VIEWER in slack_recorder.home_views, what="the viewer's Home tab")
    shown = json.dumps(slack_recorder.home_views[VIEWER])
    checksum = flagger.last("confirm-rollout").payload["checksum"]
    assert "No canary is active" not in shown, shown
    assert "Flagger waits for approval" in shown and checksum[:12] in shown and CANDIDATE[:40] in shown, shown
    assert f"<#{RELEASE_CHANNEL}>" in shown
    assert "Engine: flagger, Canary bizra-production/node0" in shown, shown  # not the gateway's Deployment
