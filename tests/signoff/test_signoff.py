"""`/bizra signoff` through signed Slack requests: teams, evidence-backed items, and `canary start` waiting for it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from bot.core.audit import latest
from bot.features.canary.store import load
from bot.features.signoff.store import message as message_of
from tests.canary.conftest import (
    CANDIDATE,
    MANAGER,
    RELEASE_CHANNEL,
    REPO_ROOT,
    Driver,
    MakeDriver,
    ephemeral,
    make_config,
    now_clock,
    seed,
    text_of,
)
from tests.support.kube_api import KubeApiServer
from tests.support.slack import SlackRecorder, block_action_body

SRE, SEC, ENG = "U_SRE", "U_SEC", "U_ENG"
TEAMS = {"infrastructure": {"users": [MANAGER]}, "security": {"users": [SEC, MANAGER]},
         "sre": {"users": [SRE, MANAGER]}, "engineering": {"users": [ENG, MANAGER]}}
UNREACHABLE = {"prometheus": {"url": "http://127.0.0.1:9", "timeout_seconds": 2}}


def _config(api: KubeApiServer, tmp_path: Path, **signoff: Any) -> Any:
    return make_config(api, tmp_path, slo=UNREACHABLE,
                       signoff={"sections": TEAMS, "required_for_canary": True, **signoff})


def _answer(recorder: SlackRecorder, name: str) -> Any:
    recorder.wait_for(lambda _: recorder.responses(name), what=f"the answer on response_url {name}")
    return recorder.responses(name)[0]


def _living(recorder: SlackRecorder) -> list[Any]:
    return [r for r in recorder.calls("chat.postMessage") + recorder.calls("chat.update")
            if "Release sign-off" in json.dumps(r.body)]


def test_ticks_by_the_right_team_pass_and_by_the_wrong_team_are_refused(
        api: KubeApiServer, tmp_path: Path, driver_factory: MakeDriver, slack_recorder: SlackRecorder) -> None:
    seed(api)
    driver: Driver = driver_factory(_config(api, tmp_path), now_clock())

    posted = driver.run("signoff", user=SRE)
    assert ephemeral(posted) and "posted" in text_of(posted)
    first = slack_recorder.wait_for(lambda _: _living(slack_recorder), what="the living message")
    message = next(r for r in first if r.api_method == "chat.postMessage" and "Release sign-off" in json.dumps(r.body))
    assert message.body["channel"] == RELEASE_CHANNEL
    blocks = json.dumps(message.body["blocks"])
    for title in ("Infrastructure Team", "Security Team", "SRE Team", "Engineering Team",
                  "Rollback runbook reviewed", "Unsigned image rejection test verified"):
        assert title in blocks
    assert "DoD gate 1" in blocks

    wrong = driver.run("signoff tick sre.2 looked at it", user=SEC)
    assert ephemeral(wrong) and "only its members" in text_of(wrong)

    right = driver.run("signoff tick sre.2 read it twice", user=SRE)
    assert "ticked by" in text_of(right)
    updates = slack_recorder.wait_for(lambda _: any("read it twice" in json.dumps(r.body)
                                                    for r in slack_recorder.calls("chat.update")), what="update")
    update = next(r for r in updates if r.api_method == "chat.update" and "read it twice" in json.dumps(r.body))
    assert (update.body["channel"], update.body["ts"]) == message_of(driver.bot.runtime)  # the same message, updated

    # The message's Tick button, clicked by the wrong and the right team.
    for user, expect in ((ENG, "only its members"), (SRE, "ticked by")):
        name = f"click-{user}"
        body = block_action_body(action_id="signoff.tick.sre.3", value="sre.3", user_id=user,
                                 response_url=slack_recorder.response_url(name), channel_id=RELEASE_CHANNEL)
        status, _ = driver.bot.send(body)
        assert status == 200
        assert expect in text_of(_answer(slack_recorder, name))

    rows = latest(driver.bot.runtime, 20, action_prefix="signoff.")
    assert [(r.actor, r.after, r.outcome) for r in reversed(rows)] == [
        (SEC, "sre.2", "refused"), (SRE, "sre.2", "ok"), (ENG, "sre.3", "refused"), (SRE, "sre.3", "ok")]


def test_an_item_backed_by_failing_evidence_cannot_be_ticked(
        api: KubeApiServer, tmp_path: Path, driver_factory: MakeDriver) -> None:
    seed(api)
    artifacts = tmp_path / "artifacts"
    shutil.copytree(REPO_ROOT / "artifacts", artifacts)
    cb = json.loads((artifacts / "cb.json").read_text())
    cb["p99_ms"] = 2.4  # gate 2 fails
    (artifacts / "cb.json").write_text(json.dumps(cb))
    config = make_config(api, tmp_path, slo=UNREACHABLE,
                         signoff={"sections": TEAMS, "evidence": {"engineering.1": "gates"}},
                         gates={"artifacts_dir": str(artifacts),
                                "trusted_keys": [str(REPO_ROOT / "ops/keys/attestation-release.pub")]})
    driver: Driver = driver_factory(config, now_clock())

    refused = driver.run("signoff tick engineering.1 I checked", user=ENG)
    text = text_of(refused)
    assert ephemeral(refused) and "its evidence fails" in text and "cannot be ticked by hand" in text
    assert "FAIL" in text or "PASS (" in text
    whole = driver.run("signoff sign engineering all done", user=ENG)
    assert ephemeral(whole) and "engineering.1" in text_of(whole) and "evidence fails" in text_of(whole)
    assert driver.run("signoff tick engineering.2 archived", user=ENG).body.get("text") is not None
    rows = latest(driver.bot.runtime, 10, action_prefix="signoff.")
    assert [(r.action, r.after, r.outcome) for r in reversed(rows)] == [
        ("signoff.tick", "engineering.1", "refused"), ("signoff.sign", "engineering", "refused"),
        ("signoff.tick", "engineering.2", "ok")]


def test_canary_start_is_refused_until_the_signoff_is_complete(
        api: KubeApiServer, tmp_path: Path, driver_factory: MakeDriver) -> None:
    seed(api)
    # The shipped artifacts pass the gates, so engineering.1 is proven; the other items are signed by hand.
    driver: Driver = driver_factory(_config(api, tmp_path, evidence={"engineering.1": "gates"}), now_clock())

    refused = driver.run(f"canary start {CANDIDATE}", user=MANAGER)
    assert ephemeral(refused) and "sign-off is not complete (1/22)" in text_of(refused)
    assert driver.applies() == [] and load(driver.bot.runtime) is None

    assert "needs a comment" in text_of(driver.run("signoff sign sre", user=MANAGER))
    for section in ("infrastructure", "security", "sre"):
        assert "signed by" in text_of(driver.run(f"signoff sign {section} reviewed in the go/no-go", user=MANAGER))
    still = driver.run(f"canary start {CANDIDATE}", user=MANAGER)
    assert "sign-off is not complete (18/22)" in text_of(still)

    assert "signed by" in text_of(driver.run("signoff sign engineering notes and templates ready", user=MANAGER))
    started = driver.run(f"canary start {CANDIDATE}", user=MANAGER)
    assert ephemeral(started) and "The run and its history" in text_of(started), text_of(started)
    assert load(driver.bot.runtime) is not None
    assert driver.route_weights() == {"node0": 90, "node0-canary": 10}
    starts = latest(driver.bot.runtime, 5, action_prefix="canary.start")
    assert starts[0].outcome == "ok" and "sign-off complete" in starts[0].detail
    assert [r.outcome for r in reversed(starts)] == ["refused", "refused", "ok"]


def test_a_forced_start_past_an_incomplete_signoff_is_audited(
        api: KubeApiServer, tmp_path: Path, driver_factory: MakeDriver) -> None:
    seed(api)
    driver: Driver = driver_factory(_config(api, tmp_path, evidence={"engineering.1": "gates"}), now_clock())
    started = driver.run(f'canary start {CANDIDATE} --force "hotfix, go/no-go by phone"', user=MANAGER)
    assert ephemeral(started) and "The run and its history" in text_of(started), text_of(started)
    row = latest(driver.bot.runtime, 1, action_prefix="canary.start")[0]
    assert row.outcome == "ok" and "forced past an incomplete sign-off: hotfix, go/no-go by phone" in row.detail
