"""`/bizra rollback` with `canary.engine: argo-rollouts`: the target comes from the Rollout's ReplicaSets and the
rollback sets the Rollout's pod template back, then follows the controller until it is Healthy there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.core.audit import latest
from bot.core.config import BizraConfig
from bot.features.canary.store import load
from bot.features.releases.history import last_stable, record_stable
from tests.canary.conftest import CANDIDATE, MANAGER, RELEASE_CHANNEL, STABLE, MakeDriver, now_clock
from tests.canary.engines.argo_support import OTHER, argo_config, argo_seed, rollout_status, template_image
from tests.rollback.conftest import button_value, posted_confirmations
from tests.support.bot import RunningBot
from tests.support.kube_api import KubeApiServer
from tests.support.slack import SlackRecorder, block_action_body

RESPONDER = "U_RESP"


def rollback_config(api: KubeApiServer, tmp_path: Path) -> BizraConfig:
    raw: dict[str, Any] = argo_config(api, tmp_path).model_dump(mode="json")
    raw["access"]["roles"]["responder"] = {"users": [RESPONDER], "permissions": ["rollback"]}
    raw["release"]["rollback"] = {**raw["release"]["rollback"], "incidents_dir": str(tmp_path / "incidents"),
                                  "poll_interval_seconds": 0.05, "rollout_deadline_seconds": 20}
    return BizraConfig.model_validate(raw)


def request_and_confirm(bot: RunningBot, recorder: SlackRecorder) -> tuple[str, str]:
    """`/bizra rollback …`, then Confirm on the posted confirmation; (the confirmation as shown, the result)."""
    status, _ = bot.command("rollback canary looks bad", user_id=RESPONDER, channel_id=RELEASE_CHANNEL, name="cmd")
    assert status == 200
    recorder.wait_for(lambda _: bool(recorder.responses("cmd")), timeout=20, what="the confirmation")
    [posted] = posted_confirmations(recorder, RELEASE_CHANNEL)
    plan_id = button_value(posted, "rollback.confirm")
    body = block_action_body(action_id="rollback.confirm", value=plan_id, user_id=RESPONDER,
                             response_url=recorder.response_url("click"), message_ts=posted.ts,
                             channel_id=RELEASE_CHANNEL)
    status, _ = bot.send(body)
    assert status == 200
    recorder.wait_for(lambda _: bool(recorder.responses("click")), timeout=20, what="the rollback result")
    [result] = recorder.responses("click")
    return json.dumps(posted.blocks, ensure_ascii=False), json.dumps(result.body, ensure_ascii=False)


def test_rollback_after_an_argo_release_goes_back_to_the_previous_replica_set(
        api: KubeApiServer, tmp_path: Path, driver_factory: MakeDriver, slack_recorder: SlackRecorder) -> None:
    controller = argo_seed(api)
    first_hash = rollout_status(api)["stableRS"]
    driver = driver_factory(rollback_config(api, tmp_path), now_clock())
    driver.run(f"canary start {CANDIDATE}")
    for _ in range(3):  # forced (no SLO evidence in this test): through 50%, 100%, and completion
        driver.run('canary promote --force "rollback drill"', user=MANAGER)
    assert rollout_status(api)["stableRS"] != first_hash and template_image(api) == CANDIDATE
    assert last_stable(driver.bot.runtime) is not None

    shown, result = request_and_confirm(driver.bot, slack_recorder)

    assert STABLE in shown and "Argo Rollout previous revision" in shown, shown
    assert "Rollback complete" in result, result
    status = rollout_status(api)
    assert template_image(api) == STABLE
    # Argo's rollbackWindow: the earlier revision's ReplicaSet comes back at once, without the canary steps.
    assert status["stableRS"] == first_hash and status["currentPodHash"] == first_hash and status["phase"] == "Healthy"
    assert controller.image_of(first_hash) == STABLE
    entry = latest(driver.bot.runtime, 5, action_prefix="rollback")[0]
    assert (entry.action, entry.before, entry.after, entry.outcome) == ("rollback", CANDIDATE, STABLE, "ok")
    assert not api.calls("PATCH", "/deployments/node0"), "there is no Deployment to patch: the Rollout is the release"


def test_rollback_during_an_argo_canary_aborts_it_and_goes_to_the_stable_replica_set(
        api: KubeApiServer, tmp_path: Path, driver_factory: MakeDriver, slack_recorder: SlackRecorder) -> None:
    argo_seed(api)
    stable_hash = rollout_status(api)["stableRS"]
    driver = driver_factory(rollback_config(api, tmp_path), now_clock())
    # A later history entry of another image: the history alone would name it; the run's stable image wins.
    record_stable(driver.bot.runtime, image=OTHER, source="imported", by="U_REL")
    driver.run(f"canary start {CANDIDATE}")
    assert rollout_status(api)["currentPodHash"] != stable_hash
    active = load(driver.bot.runtime)
    assert active is not None

    shown, result = request_and_confirm(driver.bot, slack_recorder)

    assert STABLE in shown and OTHER not in shown and "what the Rollout ran as stable" in shown, shown
    assert f"Canary `{active.run.id}` at stage 1 (10%) will be aborted first" in shown, shown
    assert "Rollback complete" in result and f"Canary `{active.run.id}` at stage 1 aborted first" in result, result
    status = rollout_status(api)
    assert status["currentPodHash"] == stable_hash and status["phase"] == "Healthy"
    assert template_image(api) == STABLE
    assert load(driver.bot.runtime) is None  # the run is over
    assert api.calls("PATCH", "/rollouts/node0/status"), "the abort went through the Rollout's status.abort"
    entries = latest(driver.bot.runtime, 30)
    assert [e.outcome for e in entries if e.action == "canary.abort"] == ["ok"]
    rollback = next(e for e in entries if e.action == "rollback")
    assert (rollback.before, rollback.after, rollback.outcome) == (CANDIDATE, STABLE, "ok")
