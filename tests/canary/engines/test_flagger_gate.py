"""The Flagger engine's gate, with Flagger played at the protocol level (tests/support/flagger.py).

A real bot (`bizra serve`'s WSGI app on 127.0.0.1) answers the webhook calls Flagger's scheduler
makes, in Flagger's order and with its payloads; the Canary's status lives on the Kubernetes API
emulator. These cases need no SLO history: authentication and bad bodies, the approval at
confirm-rollout (message, Approve / Deny, `/bizra canary start`), approvals bound to the checksum and
the target revision (stale buttons, a new revision mid-run, Flagger releases that sent the previous
checksum at confirm-rollout), abort through the rollback hook, and two bot instances on one store
answering alike. The release through every stage and the auto-rollback, which need the SLO watch's
history, are in test_flagger_release.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.audit import latest
from bot.core.config import BizraConfig
from bot.core.settings import StoreSettings
from bot.features.canary.flagger import store as flagger_store
from bot.features.canary.store import load
from tests.canary.conftest import (
    CANDIDATE,
    DEPLOYER,
    NS,
    RELEASE_CHANNEL,
    STABLE,
    VIEWER,
    Driver,
    MakeDriver,
    ephemeral,
    make_config,
    now_clock,
    text_of,
)
from tests.rollback.conftest import button_value, controller, posted_confirmations
from tests.support.bot import running_bot
from tests.support.flagger import FlaggerDriver
from tests.support.kube_api import KubeApiServer
from tests.support.polling import wait_until
from tests.support.slack import Message, Recorded, SlackRecorder, block_action_body

TOKEN = "flagger-test-token"  # made up for tests
RESPONDER = "U_RESP"
NEWER = "ghcr.io/bizra/node0@sha256:" + "d" * 64


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZRA_FLAGGER_TOKEN", TOKEN)


def flagger_config(api: KubeApiServer, tmp_path: Path, **extra: Any) -> Any:
    raw: dict[str, Any] = make_config(api, tmp_path, engine="flagger", **extra).model_dump(mode="json")
    raw["access"]["roles"]["responder"] = {"users": [RESPONDER], "permissions": ["rollback"]}  # /bizra rollback
    raw["release"]["rollback"] = {**raw["release"]["rollback"], "incidents_dir": str(tmp_path / "incidents"),
                                  "poll_interval_seconds": 0.05, "rollout_deadline_seconds": 20}
    return BizraConfig.model_validate(raw)


@pytest.fixture
def gate(api: KubeApiServer, tmp_path: Path, driver_factory: MakeDriver) -> Iterator[tuple[Driver, FlaggerDriver]]:
    bot = driver_factory(flagger_config(api, tmp_path), now_clock())
    yield bot, FlaggerDriver(api, bot.bot.url, NS, image=STABLE, token=TOKEN).install()


def flagger_messages(recorder: SlackRecorder) -> list[Message]:
    return [m for m in recorder.top_level(RELEASE_CHANNEL) if "Flagger asks to roll out" in m.shown]


def click(bot: Driver, message: Message, *, action: str, user: str, name: str,
          shown: list[dict[str, Any]] | None = None) -> Recorded:
    """Press a button of the message (or of `shown`: what a reader still had on screen), as Slack sends it."""
    button = next(b for b in (message.buttons() if shown is None else shown) if b["action_id"] == action)
    recorder = bot.bot.recorder
    status, _ = bot.bot.send(block_action_body(action_id=action, value=button["value"], user_id=user,
                                               response_url=recorder.response_url(name), channel_id=message.channel,
                                               message_ts=message.ts))
    assert status == 200
    recorder.wait_for(lambda _: bool(recorder.responses(name)), timeout=20, what=f"the answer to {action}")
    return recorder.responses(name)[0]


def answer_text(response: Recorded) -> str:
    return text_of(response)


# -- the protocol: authentication, bad bodies, the wrong Canary ---------------------------------------------
def test_webhooks_without_the_token_are_403_and_bad_bodies_400(gate: tuple[Driver, FlaggerDriver],
                                                               slack_recorder: SlackRecorder) -> None:
    bot, flagger = gate
    flagger.set_image(CANDIDATE)
    for metadata in ({}, {"token": "wrong"}, {"token": TOKEN[:-1]}, {"other": TOKEN}):
        refused = flagger.call("confirm-rollout", phase="Initialized", metadata=metadata)
        assert refused.status == 403 and "token" in refused.text and TOKEN not in refused.text
    assert flagger.call("rollback", phase="Progressing", metadata={}).status == 403
    assert flagger.call("event", phase="Progressing", metadata={"eventMessage": "x"}).status == 403
    assert flagger_messages(slack_recorder) == []  # nothing was opened, nothing posted
    connection = flagger_store.db(bot.bot.runtime).connect()
    assert connection.execute("SELECT COUNT(*) AS n FROM flagger_runs").fetchone()["n"] == 0

    for body, reason in ((b"not json", "not JSON"), (b"[1, 2]", "not a JSON object"),
                         (b'{"namespace": "bizra-production"}', "name")):
        malformed = flagger.call("confirm-rollout", phase="", body=body)
        assert malformed.status == 400 and reason in malformed.text, malformed
    oversized = flagger.call("confirm-rollout", phase="", body=b"{" + b" " * (70 * 1024) + b"}")
    assert oversized.status == 413
    other = flagger.call("confirm-rollout", phase="Initialized", metadata={"token": TOKEN})
    assert other.status == 409  # the right Canary: halted, waiting for a start
    flagger.name = "someone-else"
    elsewhere = flagger.call("confirm-rollout", phase="Initialized", checksum="abc")
    assert elsewhere.status == 404 and "gates the Canary bizra-production/node0" in elsewhere.text
    assert flagger.call("no-such-hook", phase="", checksum="abc").status == 404
    denied = [e for e in latest(bot.bot.runtime, 50) if e.action.startswith("canary.flagger")]
    assert not any(TOKEN in (e.detail + str(e.before) + str(e.after)) for e in denied)


def test_a_canary_whose_steps_are_not_the_stages_is_held(api: KubeApiServer, tmp_path: Path,
                                                         driver_factory: MakeDriver) -> None:
    bot = driver_factory(flagger_config(api, tmp_path), now_clock())
    flagger = FlaggerDriver(api, bot.bot.url, NS, image=STABLE, token=TOKEN, step_weights=[10, 50]).install()
    flagger.set_image(CANDIDATE)
    assert flagger.tick() == "waiting-for-rollout"
    halted = flagger.last("confirm-rollout")
    assert halted.status == 409
    assert "stepWeights [10, 50] are not bizra-bot's stage weights [10, 50, 100]" in halted.text
    refused = bot.run(f"canary start {CANDIDATE}")
    assert ephemeral(refused) and "stepWeights" in text_of(refused)


def test_the_gate_answers_404_unless_the_engine_is_flagger(api: KubeApiServer, tmp_path: Path,
                                                           driver_factory: MakeDriver) -> None:
    bot = driver_factory(make_config(api, tmp_path), now_clock())  # canary.engine: gateway
    flagger = FlaggerDriver(api, bot.bot.url, NS, image=STABLE, token=TOKEN).install()
    flagger.set_image(CANDIDATE)
    answer = flagger.call("confirm-rollout", phase="Initialized")
    assert answer.status == 404 and "not flagger" in answer.text


# -- confirm-rollout: a message, Approve / Deny, `/bizra canary start` ------------------------------------
def test_confirm_rollout_halts_until_the_canary_is_started(gate: tuple[Driver, FlaggerDriver],
                                                           slack_recorder: SlackRecorder) -> None:
    bot, flagger = gate
    assert flagger.tick() == "idle"  # nothing new: Flagger asks nothing
    flagger.set_image(CANDIDATE)
    for _ in range(3):  # Flagger retries every interval while halted
        assert flagger.tick() == "waiting-for-rollout"
    halts = [c for c in flagger.calls if c.hook == "confirm-rollout"]
    assert len(halts) == 3 and all(c.status == 409 for c in halts)
    assert "waiting for /bizra canary start" in halts[-1].text and "\n" not in halts[-1].text
    assert flagger.phase == "Waiting" and flagger.weight == 0
    (message,) = flagger_messages(slack_recorder)  # posted once, on the first call
    assert CANDIDATE[:40] in message.shown and {b["action_id"] for b in message.buttons()} == {
        "flagger.approve", "flagger.deny"}
    assert all("confirm" in b for b in message.buttons())  # Slack asks before the click counts

    viewer = click(bot, message, action="flagger.approve", user=VIEWER, name="v1")
    assert ephemeral(viewer) and "not allowed" in answer_text(viewer)
    assert flagger.tick() == "waiting-for-rollout"

    wrong = bot.run("canary start " + NEWER)
    assert ephemeral(wrong) and f"asks to roll out `{CANDIDATE}`" in text_of(wrong)
    on_screen = message.buttons()
    started = click(bot, message, action="flagger.approve", user=DEPLOYER, name="a1")
    assert "stage 1/3" in text_of(started), text_of(started)
    active = load(bot.bot.runtime)
    assert active is not None and active.run.engine == "flagger" and active.run.image == CANDIDATE
    again = click(bot, message, action="flagger.approve", user=DEPLOYER, name="a2", shown=on_screen)  # twice
    assert ephemeral(again) and "already" in text_of(again)

    assert flagger.tick() == "progressing"
    assert flagger.last("confirm-rollout").status == 200
    assert flagger.tick() == "weight-10"  # stage 1 may begin
    assert flagger.tick() == "waiting-for-traffic"  # stage 2 needs a promote
    assert flagger.weight == 10
    wait_until(lambda: "Approved by" in slack_recorder.message(message.channel, message.ts).shown,
               what="the Flagger message showing the approval")
    assert slack_recorder.message(message.channel, message.ts).buttons() == []
    runs = [r for r in latest(bot.bot.runtime, 50) if r.action == "canary.start" and r.outcome == "ok"]
    assert len(runs) == 1 and runs[0].actor == DEPLOYER


def test_deny_makes_the_rollback_hook_roll_back_that_revision(gate: tuple[Driver, FlaggerDriver],
                                                              slack_recorder: SlackRecorder) -> None:
    bot, flagger = gate
    flagger.set_image(CANDIDATE)
    flagger.tick()
    (message,) = flagger_messages(slack_recorder)
    checksum = flagger.last("confirm-rollout").payload["checksum"]
    denied = click(bot, message, action="flagger.deny", user=DEPLOYER, name="d1")
    assert ephemeral(denied) and "Denied" in answer_text(denied)
    assert flagger.tick() == "waiting-for-rollout"
    assert "denied" in flagger.last("confirm-rollout").text
    rollback = flagger.call("rollback", phase="Waiting", checksum=checksum)
    assert rollback.status == 200 and "denied" in rollback.text
    started = bot.run(f"canary start {CANDIDATE}")
    assert ephemeral(started) and "denied" in text_of(started)
    assert load(bot.bot.runtime) is None
    entry = next(e for e in latest(bot.bot.runtime, 20) if e.action == "canary.flagger.deny")
    assert entry.actor == DEPLOYER and entry.outcome == "ok" and checksum in entry.detail
    wait_until(lambda: "Denied by" in slack_recorder.message(message.channel, message.ts).shown,
               what="the message showing the denial")


# -- approvals bound to the checksum and the revision ------------------------------------------------------
def test_a_button_of_an_older_revision_is_refused(gate: tuple[Driver, FlaggerDriver],
                                                  slack_recorder: SlackRecorder) -> None:
    bot, flagger = gate
    flagger.set_image(CANDIDATE)
    flagger.tick()
    (old,) = flagger_messages(slack_recorder)
    on_screen = old.buttons()  # what a reader still has on screen when the message is edited
    flagger.set_image(NEWER)  # a new revision before anyone approved the first
    flagger.tick()
    new = next(m for m in flagger_messages(slack_recorder) if m.ts != old.ts)
    assert NEWER[:40] in new.shown
    stale = click(bot, old, action="flagger.approve", user=DEPLOYER, name="s1", shown=on_screen)
    assert ephemeral(stale) and "older revision" in answer_text(stale) and "Nothing was approved" in answer_text(stale)
    assert load(bot.bot.runtime) is None
    assert flagger.tick() == "waiting-for-rollout"
    refused = next(e for e in latest(bot.bot.runtime, 20) if e.action == "canary.flagger.approve")
    assert refused.outcome == "refused" and "stale" in refused.detail
    wait_until(lambda: "replaced it" in slack_recorder.message(old.channel, old.ts).shown,
               what="the old message saying it was superseded")
    click(bot, new, action="flagger.approve", user=DEPLOYER, name="s2")
    active = load(bot.bot.runtime)
    assert active is not None and active.run.image == NEWER
    assert flagger.tick() == "progressing"


def test_a_new_revision_mid_run_voids_every_approval(gate: tuple[Driver, FlaggerDriver],
                                                     slack_recorder: SlackRecorder) -> None:
    bot, flagger = gate
    flagger.set_image(CANDIDATE)
    flagger.tick()
    bot.run(f"canary start {CANDIDATE}")
    assert [flagger.tick() for _ in range(3)] == ["progressing", "weight-10", "waiting-for-traffic"]
    first = load(bot.bot.runtime)
    assert first is not None
    old_checksum = flagger.last("confirm-traffic-increase").payload["checksum"]

    flagger.set_image(NEWER)
    assert flagger.tick() == "restarted"  # Flagger: weight back to 0, analysis restarts, no confirm-rollout
    assert flagger.tick() == "waiting-for-traffic"
    halted = flagger.last("confirm-traffic-increase")
    assert halted.payload["checksum"] != old_checksum and halted.status == 409
    assert "waiting for /bizra canary start" in halted.text
    assert load(bot.bot.runtime) is None  # the old run ended: its approval does not carry over
    aborted = next(e for e in latest(bot.bot.runtime, 30) if e.action == "canary.abort" and e.outcome == "ok")
    assert "new revision" in aborted.detail and first.run.id in aborted.before
    # A late call with the old checksum is answered from the old run and changes nothing.
    late = flagger.call("confirm-traffic-increase", phase="Progressing", checksum=old_checksum)
    assert late.status == 409 and "superseded" in late.text
    assert flagger.call("rollback", phase="Progressing").status == 409
    assert "waiting for /bizra canary start" in flagger.call("confirm-traffic-increase", phase="Progressing").text
    newest = flagger_messages(slack_recorder)[-1]
    assert NEWER[:40] in newest.shown and newest.buttons()
    assert flagger.weight == 0


def test_older_flagger_checksum_at_confirm_rollout_is_adopted_for_the_same_revision(
        api: KubeApiServer, tmp_path: Path, driver_factory: MakeDriver, slack_recorder: SlackRecorder) -> None:
    bot = driver_factory(flagger_config(api, tmp_path), now_clock())
    flagger = FlaggerDriver(api, bot.bot.url, NS, image=STABLE, token=TOKEN, legacy_checksum=True).install()
    flagger.set_image(CANDIDATE)
    flagger.tick()
    rollout_checksum = flagger.last("confirm-rollout").payload["checksum"]
    bot.run(f"canary start {CANDIDATE}")
    assert flagger.tick() == "progressing"
    assert flagger.tick() == "weight-10"  # the first call with the new checksum still proceeds
    increase = flagger.last("confirm-traffic-increase")
    assert increase.payload["checksum"] != rollout_checksum and increase.status == 200
    adopted = next(e for e in latest(bot.bot.runtime, 30) if e.action == "canary.flagger.checksum")
    assert adopted.before == rollout_checksum and adopted.after == increase.payload["checksum"]
    # …but only once, and only with the same pod template: a second change is a new run.
    flagger.set_image(NEWER)
    assert flagger.tick() == "restarted"
    assert flagger.tick() == "waiting-for-traffic"
    assert load(bot.bot.runtime) is None


# -- abort and auto-rollback through the rollback hook ----------------------------------------------------
def _running(bot: Driver, flagger: FlaggerDriver) -> None:
    flagger.set_image(CANDIDATE)
    flagger.tick()
    bot.run(f"canary start {CANDIDATE}")
    assert [flagger.tick() for _ in range(3)] == ["progressing", "weight-10", "waiting-for-traffic"]


def test_abort_makes_flagger_roll_back(gate: tuple[Driver, FlaggerDriver]) -> None:
    bot, flagger = gate
    _running(bot, flagger)
    aborted = bot.run("canary abort the cache is cold")
    assert "aborted" in text_of(aborted).lower()
    assert load(bot.bot.runtime) is None
    assert flagger.tick() == "rolled-back"
    assert flagger.phase == "Failed" and flagger.weight == 0 and flagger.primary_image() == STABLE
    assert "roll back" in flagger.last("rollback").text
    assert flagger.tick() == "idle"
    # Putting the target back on what the primary serves is no new version: Flagger is not held for a start.
    flagger.set_image(STABLE)
    assert flagger.tick() == "progressing"
    assert "no new version" in flagger.last("confirm-rollout").text
    assert flagger.tick() == "weight-10" and load(bot.bot.runtime) is None
    returned = next(e for e in latest(bot.bot.runtime, 30) if e.action == "canary.flagger.return")
    assert returned.outcome == "ok" and STABLE in returned.detail


# -- replicas -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_bots_on_one_store_answer_flagger_the_same(api: KubeApiServer, tmp_path: Path, backend: str,
                                                       slack_recorder: SlackRecorder,
                                                       request: pytest.FixtureRequest) -> None:
    config = flagger_config(api, tmp_path)
    if backend == "postgresql":  # the replicas' store (tests/support/postgres.py: a real server, a fresh database)
        database = request.getfixturevalue("postgres_env")
        config = config.model_copy(update={"store": StoreSettings(url=database.url)})
    with running_bot(slack_recorder, config=config, clock=now_clock()) as first, \
            running_bot(slack_recorder, config=config, clock=now_clock()) as second:
        assert backend in first.runtime.store.get().location
        one = FlaggerDriver(api, first.url, NS, image=STABLE, token=TOKEN).install()
        two = FlaggerDriver(api, second.url, NS, image=STABLE, token=TOKEN)
        one.set_image(CANDIDATE)
        checksum = one.checksum({**one.status(), "lastAppliedSpec": one._spec_hash()})
        answers = [d.call("confirm-rollout", phase="Initialized", checksum=checksum) for d in (one, two, two, one)]
        assert {(a.status, a.text) for a in answers} == {(answers[0].status, answers[0].text)}
        assert answers[0].status == 409
        assert len(flagger_messages(slack_recorder)) == 1  # posted by one of them, once
        driver = Driver(bot=first, api=api)
        driver.run(f"canary start {CANDIDATE}")
        after = [d.call("confirm-rollout", phase="Waiting", checksum=checksum) for d in (two, one)]
        assert [a.status for a in after] == [200, 200] and after[0].text == after[1].text
        assert flagger_store.current(second.runtime, namespace=NS, name="node0") == flagger_store.current(
            first.runtime, namespace=NS, name="node0")


# -- /bizra rollback during a Flagger canary ------------------------------------------------------------
def test_rollback_during_a_flagger_canary_aborts_it_through_the_rollback_hook(
        gate: tuple[Driver, FlaggerDriver], api: KubeApiServer) -> None:
    bot, flagger = gate
    _running(bot, flagger)
    active = load(bot.bot.runtime)
    assert active is not None and flagger.weight == 10
    recorder = bot.bot.recorder
    status, _ = bot.bot.command("rollback flagger canary is bad", user_id=RESPONDER, channel_id=RELEASE_CHANNEL,
                                name="cmd")
    assert status == 200
    recorder.wait_for(lambda _: bool(recorder.responses("cmd")), timeout=20, what="the confirmation")
    [posted] = posted_confirmations(recorder, RELEASE_CHANNEL)
    shown = json.dumps(posted.blocks, ensure_ascii=False)
    assert f"Canary `{active.run.id}` at stage 1 (10%) will be aborted first" in shown, shown
    assert STABLE in shown and "what flagger's primary Deployment ran as stable" in shown, shown

    with controller(api, image=STABLE):  # the target Deployment rolls out what the rollback sets
        status, _ = bot.bot.send(block_action_body(
            action_id="rollback.confirm", value=button_value(posted, "rollback.confirm"), user_id=RESPONDER,
            response_url=recorder.response_url("click"), message_ts=posted.ts, channel_id=RELEASE_CHANNEL))
        assert status == 200
        recorder.wait_for(lambda _: bool(recorder.responses("click")), timeout=30, what="the rollback result")
    result = json.dumps(recorder.responses("click")[0].body, ensure_ascii=False)

    assert "Rollback complete" in result and f"Canary `{active.run.id}` at stage 1 aborted first" in result, result
    assert load(bot.bot.runtime) is None
    bound = flagger_store.by_canary(bot.bot.runtime, active.run.id)
    assert bound is not None and bound.state == flagger_store.RunState.ABORTED
    # Flagger's next interval: the target is back on the primary's image, all traffic on the primary.
    flagger.tick()
    assert flagger.weight == 0 and flagger.primary_image() == STABLE
    aborts = [e for e in latest(bot.bot.runtime, 40) if e.action == "canary.abort"]
    assert [(e.actor, e.outcome) for e in aborts] == [(RESPONDER, "ok")]
