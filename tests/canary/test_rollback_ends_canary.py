"""`/bizra rollback` confirmed while a canary run is active ends the run first (gateway engine).

Driven as Slack drives the bot: signed `/bizra canary …` and `/bizra rollback` commands and signed
clicks on the confirmation; the HTTPRoute is read back from the Kubernetes API emulator.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

from bot.assembly import build_runtime
from bot.core.audit import latest
from bot.core.config import BizraConfig, Secrets
from bot.core.delivery import ConsolePoster
from bot.features.canary.store import load
from bot.features.releases.history import record_stable
from bot.features.rollback import confirmations
from bot.features.rollback.recovery import recover
from bot.surfaces.console import run_line
from tests.canary.conftest import (
    CANDIDATE,
    DEPLOYER,
    MANAGER,
    NS,
    RELEASE_CHANNEL,
    STABLE,
    Driver,
    MakeDriver,
    make_config,
    now_clock,
    seed,
)
from tests.rollback.conftest import button_value, posted_confirmations
from tests.support.kube_api import KubeApiServer
from tests.support.slack import Message, Recorded, SlackRecorder, block_action_body, permalink

RESPONDER = "U_RESP"
OLDER = "ghcr.io/bizra/node0@sha256:" + "9" * 64


def rollback_config(api: KubeApiServer, tmp_path: Path, **canary: Any) -> BizraConfig:
    raw: dict[str, Any] = make_config(api, tmp_path, **canary).model_dump(mode="json")
    raw["access"]["roles"]["responder"] = {"users": [RESPONDER], "permissions": ["rollback"]}
    raw["release"]["rollback"] = {**raw["release"]["rollback"], "incidents_dir": str(tmp_path / "incidents"),
                                  "poll_interval_seconds": 0.05, "rollout_deadline_seconds": 20}
    return BizraConfig.model_validate(raw)


def request(driver: Driver, recorder: SlackRecorder) -> Message:
    """`/bizra rollback …` in the release channel; the confirmation as the channel shows it."""
    status, _ = driver.bot.command("rollback canary looks bad", user_id=RESPONDER, channel_id=RELEASE_CHANNEL,
                                   name="cmd")
    assert status == 200
    recorder.wait_for(lambda _: bool(recorder.responses("cmd")), timeout=20, what="the confirmation")
    [posted] = posted_confirmations(recorder, RELEASE_CHANNEL)
    return posted


def click_confirm(driver: Driver, recorder: SlackRecorder, posted: Message, *, name: str) -> None:
    body = block_action_body(action_id="rollback.confirm", value=button_value(posted, "rollback.confirm"),
                             user_id=RESPONDER, response_url=recorder.response_url(name), message_ts=posted.ts,
                             channel_id=RELEASE_CHANNEL)
    status, _ = driver.bot.send(body)
    assert status == 200


def answer(recorder: SlackRecorder, name: str) -> Recorded:
    recorder.wait_for(lambda _: bool(recorder.responses(name)), timeout=30, what=f"the answer {name}")
    return recorder.responses(name)[0]


def run_message(recorder: SlackRecorder, run_id: str) -> Message:
    found = [m for m in recorder.top_level(RELEASE_CHANNEL) if f"canary `{run_id}`" in m.shown]
    assert found, [m.shown for m in recorder.top_level(RELEASE_CHANNEL)]
    return found[0]


def test_rollback_during_a_gateway_canary_aborts_it_first_and_keeps_the_stable_image(
        api: KubeApiServer, tmp_path: Path, driver_factory: MakeDriver, slack_recorder: SlackRecorder) -> None:
    seed(api)
    driver = driver_factory(rollback_config(api, tmp_path), now_clock())
    # A later history entry of another image: the history alone would roll the stable Deployment back to it.
    record_stable(driver.bot.runtime, image=OLDER, source="imported", by="U_REL")
    driver.run(f"canary start {CANDIDATE}")
    driver.run('canary promote --force "drill"', user=MANAGER)
    assert driver.route_weights() == {"node0": 50, "node0-canary": 50}
    active = load(driver.bot.runtime)
    assert active is not None
    run_id = active.run.id

    posted = request(driver, slack_recorder)
    shown = json.dumps(posted.blocks, ensure_ascii=False)
    assert f"Canary `{run_id}` at stage 2 (50%) will be aborted first" in shown, shown
    assert "no image change" in shown and OLDER not in json.dumps(posted.blocks), shown
    dialog = json.dumps([b.get("confirm") for b in posted.buttons()])
    assert f"Aborts canary `{run_id}`" in dialog, dialog

    click_confirm(driver, slack_recorder, posted, name="click")
    click_confirm(driver, slack_recorder, posted, name="again")  # a double click
    result = json.dumps(answer(slack_recorder, "click").body, ensure_ascii=False)
    again = json.dumps(answer(slack_recorder, "again").body, ensure_ascii=False)

    assert "Rollback complete" in result and f"Canary `{run_id}` at stage 2 aborted first" in result, result
    assert "Nothing more was done" in again or "Rollback complete" not in again, again
    # All traffic back on stable, the canary over, the stable Deployment untouched on the image before it.
    assert driver.route_weights() == {"node0": 100, "node0-canary": 0}
    assert load(driver.bot.runtime) is None
    stable = api.get("apps", "deployments", NS, "node0") or {}
    assert stable["spec"]["template"]["spec"]["containers"][0]["image"] == STABLE
    # The run message says how it ended, why, and links the confirmation; its thread has the abort.
    ended = run_message(slack_recorder, run_id)
    assert "aborted at stage 2/3" in ended.shown and "rolled back by <@U_RESP>: canary looks bad" in ended.shown
    assert permalink(RELEASE_CHANNEL, posted.ts) in ended.shown, ended.shown
    assert not ended.buttons()
    thread = slack_recorder.replies(RELEASE_CHANNEL, ended.ts)
    assert any("Canary aborted by <@U_RESP>" in m.shown for m in thread), [m.shown for m in thread]
    # Audited once each, even under the double click.
    entries = latest(driver.bot.runtime, 50)
    aborts = [e for e in entries if e.action == "canary.abort"]
    assert [(e.actor, e.outcome) for e in aborts] == [(RESPONDER, "ok")], aborts
    assert "rolled back by" in aborts[0].detail
    rollbacks = [e for e in entries if e.action == "rollback"]
    assert len(rollbacks) == 1 and rollbacks[0].outcome == "ok" and f"Canary `{run_id}`" in rollbacks[0].detail
    assert (rollbacks[0].before, rollbacks[0].after) == (STABLE, STABLE)


def test_a_failed_canary_abort_is_said_and_the_rollback_still_runs(
        api: KubeApiServer, tmp_path: Path, driver_factory: MakeDriver, slack_recorder: SlackRecorder) -> None:
    seed(api)
    driver = driver_factory(rollback_config(api, tmp_path), now_clock())
    driver.run(f"canary start {CANDIDATE}")
    run = load(driver.bot.runtime)
    assert run is not None
    posted = request(driver, slack_recorder)
    # The API server refuses the HTTPRoute between the confirmation and the click: the abort cannot apply.
    api.fail("PATCH", "/httproutes/node0", status=500, times=10)

    click_confirm(driver, slack_recorder, posted, name="click")
    result = json.dumps(answer(slack_recorder, "click").body, ensure_ascii=False)

    assert "Rollback complete" in result, result
    assert f"Canary `{run.run.id}` at stage 1 could *not* be aborted" in result, result
    assert load(driver.bot.runtime) is not None  # still recorded as active: `/bizra canary abort` again
    rollback = next(e for e in latest(driver.bot.runtime, 20) if e.action == "rollback")
    assert "canary NOT aborted" in rollback.detail, rollback.detail


def test_a_rollback_whose_executor_was_lost_before_the_abort_is_finished_by_recovery(
        api: KubeApiServer, tmp_path: Path, driver_factory: MakeDriver, slack_recorder: SlackRecorder) -> None:
    seed(api)
    clock = now_clock()
    driver = driver_factory(rollback_config(api, tmp_path), clock)
    driver.run(f"canary start {CANDIDATE}")
    active = load(driver.bot.runtime)
    assert active is not None
    posted = request(driver, slack_recorder)
    plan_id = button_value(posted, "rollback.confirm")
    # The executor claimed the confirmation (the click) and was lost before it aborted anything.
    place = confirmations.Place(surface="slack", channel=RELEASE_CHANNEL, message_ts=posted.ts)
    claim = confirmations.decide(driver.bot.runtime, plan_id, user=RESPONDER,
                                 to=confirmations.ConfirmationState.RUNNING, at=place)
    assert claim.refusal is None
    assert driver.route_weights() == {"node0": 90, "node0-canary": 10}
    timeout = driver.bot.runtime.config.release.rollback.heartbeat_timeout_seconds
    at = clock.advance(seconds=timeout + 1)

    assert recover(driver.bot.runtime, at=at) == [plan_id]

    assert driver.route_weights() == {"node0": 100, "node0-canary": 0}
    assert load(driver.bot.runtime) is None
    thread = [m.shown for m in slack_recorder.replies(RELEASE_CHANNEL, posted.ts)]
    assert any(f"Canary `{active.run.id}` at stage 1 aborted first" in shown for shown in thread), thread
    assert any("Rollback complete" in shown for shown in thread), thread
    assert [e.outcome for e in latest(driver.bot.runtime, 30) if e.action == "canary.abort"] == ["ok"]


def test_on_the_console_the_typed_confirm_aborts_the_canary_first(api: KubeApiServer, tmp_path: Path) -> None:
    seed(api)
    runtime = build_runtime(config=rollback_config(api, tmp_path), secrets=Secrets(), surface="console")
    screen = io.StringIO()
    runtime.poster.set(ConsolePoster(runtime.registry.renderers, screen))
    run_line(f"/bizra canary start {CANDIDATE}", runtime, user_id=DEPLOYER)
    active = load(runtime)
    assert active is not None

    shown = run_line("/bizra rollback canary looks bad", runtime, user_id=RESPONDER)
    match = re.search(r"/bizra rollback confirm (\w+)", shown)
    assert match, shown
    assert f"Canary {active.run.id} at stage 1 (10%) will be aborted first" in shown, shown
    answer = run_line(f"/bizra rollback confirm {match.group(1)}", runtime, user_id=RESPONDER)

    assert "Rollback complete" in answer and f"Canary `{active.run.id}` at stage 1 aborted first" in answer, answer
    assert load(runtime) is None
    route = api.get("gateway.networking.k8s.io", "httproutes", NS, "node0") or {}
    weights = {ref["name"]: ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]}
    assert weights == {"node0": 100, "node0-canary": 0}
