"""The canary run as one message edited in place, with its thread as the history (issue 11).

Driven as Slack drives the bot: signed `/bizra canary …` commands and signed block_actions clicks
on the run message's buttons; the recording Slack server keeps each message and applies every
`chat.update` to it, so the assertions read the message as the channel shows it.
"""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.assembly import build_runtime
from bot.core.audit import latest
from bot.core.config import Secrets
from bot.core.delivery import ConsolePoster
from bot.features.canary.store import load
from bot.surfaces.console import run_line
from tests.canary.conftest import (
    CANDIDATE,
    DEPLOYER,
    MANAGER,
    NS,
    RELEASE_CHANNEL,
    VIEWER,
    Driver,
    MakeDriver,
    ephemeral,
    make_config,
    now_clock,
    seed,
    text_of,
)
from tests.canary.test_canary_slo import P99, slo_config, tick_for, tick_until
from tests.support.bot import running_bot
from tests.support.kube_api import KubeApiServer
from tests.support.shared_prometheus import Slot
from tests.support.slack import Message, Recorded, SlackRecorder, block_action_body, permalink

SHORT = "ghcr.io/bizra/node0@sha256:" + "c" * 12 + "…"


def run_message(recorder: SlackRecorder) -> Message:
    """The one message the run left in the release channel (its thread holds the rest)."""
    top = recorder.top_level(RELEASE_CHANNEL)
    assert len(top) == 1, [m.shown for m in top]
    return top[0]


def click(driver: Driver, message: Message, *, action: str, user: str, name: str,
          shown: list[dict[str, Any]] | None = None) -> Recorded:
    """Press a button of the run message (or of `shown`, what a reader still had on screen) as Slack sends
    it, after its confirm dialog was accepted."""
    button = next(b for b in (message.buttons() if shown is None else shown) if b["action_id"] == action)
    recorder = driver.bot.recorder
    status, _ = driver.bot.send(block_action_body(
        action_id=action, value=button["value"], user_id=user, response_url=recorder.response_url(name),
        channel_id=message.channel, message_ts=message.ts))
    assert status == 200
    recorder.wait_for(lambda _: bool(recorder.responses(name)), timeout=20, what=f"the answer to {action}")
    return recorder.responses(name)[0]


def points_at(reply: Recorded, message: Message) -> bool:
    return permalink(message.channel, message.ts) in text_of(reply)


def test_a_whole_run_leaves_one_run_message_plus_its_thread(api: KubeApiServer, tmp_path: Path,
                                                           driver_factory: MakeDriver) -> None:
    seed(api)
    driver = driver_factory(make_config(api, tmp_path), now_clock())
    recorder = driver.bot.recorder

    started = driver.run(f"canary start {CANDIDATE}")
    message = run_message(recorder)
    assert ephemeral(started) and points_at(started, message)  # the step is in the thread, not said twice
    shown = message.shown
    assert "stage 1/3" in shown and "10% of traffic" in shown
    assert SHORT in shown and f"`{CANDIDATE}`" in shown  # short digest; the full one in the context line
    assert "Bake ░░░░░░░░░░ 0%" in shown and "1m left (until <!date^" in shown  # progress bar, date token
    assert "<@U_DEPLOY>" in shown
    assert [b["text"]["text"] for b in message.buttons()] == ["Promote to stage 2 (50%)", "Abort"]
    assert all(b.get("confirm") for b in message.buttons())  # Slack asks before either runs
    assert recorder.replies(RELEASE_CHANNEL, message.ts)[0].shown.startswith(":rocket: Canary started")

    replies = [driver.run('canary promote --force "drill"', user=MANAGER) for _ in range(2)]
    assert all(ephemeral(r) and points_at(r, message) for r in replies)
    assert "promoted to stage 2/3" in text_of(replies[0]) and "promoted to stage 3/3" in text_of(replies[1])
    assert "stage 3/3" in run_message(recorder).shown
    assert "Complete release" in [b["text"]["text"] for b in run_message(recorder).buttons()]
    pending = driver.run('canary promote --force "drill"', user=MANAGER)
    assert ephemeral(pending) and "rolling out" in text_of(pending)
    api.roll_out(NS, "node0")
    done = driver.run('canary promote --force "drill"', user=MANAGER)
    assert ephemeral(done) and "Release complete" in text_of(done) and points_at(done, message)

    final = run_message(recorder)  # still one message: every step edited it in place
    assert final.ts == message.ts and final.updates >= 4
    assert final.shown.startswith(f":white_check_mark: Canary `{load_id(final)}` complete: `{SHORT}` is the "
                                  "stable version.")
    assert "Ran all 3 stages" in final.shown and "completed <!date^" in final.shown and "by <@U_RELMGR>" in final.shown
    assert final.buttons() == []  # nothing left to press
    thread = [m.shown for m in recorder.replies(RELEASE_CHANNEL, message.ts)]
    heads = [t.splitlines()[0] for t in thread]
    assert [h.split(":")[1] for h in heads] == ["rocket", "arrow_forward", "arrow_forward", "hourglass_flowing_sand",
                                                "white_check_mark"], heads
    # Nothing of the run was said in the open anywhere else: every reply was ephemeral.
    visible = [r for r in recorder.calls(path_prefix="/response/") if not ephemeral(r)]
    assert visible == []


def load_id(message: Message) -> str:
    """The run's id, as its context line names it."""
    return message.shown.split("canary `")[1].split("`")[0]


def test_buttons_promote_and_abort_with_permission_checks(api: KubeApiServer, tmp_path: Path,
                                                          driver_factory: MakeDriver) -> None:
    seed(api)
    driver = driver_factory(make_config(api, tmp_path), now_clock())
    recorder = driver.bot.recorder
    driver.run(f"canary start {CANDIDATE}")
    message = run_message(recorder)
    updates_before = message.updates
    on_screen = message.buttons()

    # Everyone in the channel sees the buttons; a viewer's click is refused to them alone, and changes nothing.
    refused = click(driver, message, action="canary.abort", user=VIEWER, name="viewer-abort")
    assert ephemeral(refused) and "not allowed" in text_of(refused) and "canary.abort" in text_of(refused)
    assert load(driver.bot.runtime) is not None and driver.route_weights() == {"node0": 90, "node0-canary": 10}
    assert run_message(recorder).updates == updates_before and run_message(recorder).buttons()
    denied = latest(driver.bot.runtime, 5, action_prefix="canary.abort")
    assert denied[0].actor == VIEWER and denied[0].outcome == "denied"

    # Promote with the policy in force: not baked, no SLO evidence → refused, nothing applied.
    early = click(driver, message, action="canary.promote", user=DEPLOYER, name="early-promote")
    assert ephemeral(early) and "has baked 0s of 1m" in text_of(early)
    assert driver.route_weights() == {"node0": 90, "node0-canary": 10}

    aborted = click(driver, message, action="canary.abort", user=DEPLOYER, name="abort")
    assert ephemeral(aborted) and "Canary aborted" in text_of(aborted) and points_at(aborted, message)
    assert driver.route_weights() == {"node0": 100, "node0-canary": 0} and load(driver.bot.runtime) is None
    final = run_message(recorder)
    assert final.shown.startswith(f":leftwards_arrow_with_hook: Canary `{load_id(final)}` aborted at stage 1/3 (10%)")
    assert "Reason: aborted with the button on the run message" in final.shown and "by <@U_DEPLOY>" in final.shown
    assert final.buttons() == []
    assert any("Canary aborted" in m.shown for m in recorder.replies(RELEASE_CHANNEL, message.ts))

    # A button of a run that is over (a second click, a stale copy) is refused and changes nothing.
    stale = click(driver, message, action="canary.abort", user=DEPLOYER, name="stale", shown=on_screen)
    assert ephemeral(stale) and "no longer active" in text_of(stale)
    assert run_message(recorder).updates == final.updates


def test_a_restart_keeps_editing_the_same_message(api: KubeApiServer, tmp_path: Path,
                                                  slack_recorder: SlackRecorder) -> None:
    seed(api)
    config = make_config(api, tmp_path)
    clock = now_clock()
    with running_bot(slack_recorder, config=config, clock=clock) as first:
        Driver(bot=first, api=api).run(f"canary start {CANDIDATE}")
    message = run_message(slack_recorder)
    clock.advance(seconds=20)
    with running_bot(slack_recorder, config=config, clock=clock) as second:  # a new process on the same store
        driver = Driver(bot=second, api=api, counter=100)
        status = driver.run("canary status", user=VIEWER)
        assert ephemeral(status) and points_at(status, message)
        assert "Baked 20s of 1m; 40s left" in text_of(status)
        promoted = driver.run('canary promote --force "after the restart"', user=MANAGER)
        assert points_at(promoted, message)
    edited = run_message(slack_recorder)  # no second run message
    assert edited.ts == message.ts and "stage 2/3" in edited.shown and "Baked" in edited.shown
    updates = [r for r in slack_recorder.calls("chat.update") if r.body.get("ts") == message.ts]
    assert len(updates) >= 2  # the status and the promote, both by the second process
    assert any("promoted to stage 2/3" in m.shown for m in slack_recorder.replies(RELEASE_CHANNEL, message.ts))


def test_without_a_permalink_the_answer_says_where_the_thread_is(api: KubeApiServer, tmp_path: Path,
                                                                driver_factory: MakeDriver) -> None:
    seed(api)
    driver = driver_factory(make_config(api, tmp_path), now_clock())
    driver.bot.recorder.fail_next("chat.getPermalink", error="internal_error")
    started = driver.run(f"canary start {CANDIDATE}")
    assert ephemeral(started) and "see the thread of the run message in <#C_RELEASE>" in text_of(started)
    assert "Canary started" in text_of(started)


def test_a_store_from_before_the_run_message_is_upgraded(api: KubeApiServer, tmp_path: Path,
                                                         driver_factory: MakeDriver) -> None:
    """An old `canary_active` (no message_channel) gets the column; its thread's root becomes the run message."""
    seed(api)
    config = make_config(api, tmp_path)
    driver = driver_factory(config, now_clock())
    driver.run(f"canary start {CANDIDATE}")
    root = run_message(driver.bot.recorder)
    path = Path(config.store.path)
    with sqlite3.connect(path) as db:  # make it look like a store written before the column existed
        db.execute("ALTER TABLE canary_active DROP COLUMN message_channel")
    with running_bot(driver.bot.recorder, config=config, clock=now_clock()) as later:
        active = load(later.runtime)
        assert active is not None and active.run.thread_ts == root.ts and active.run.message_channel == ""
        Driver(bot=later, api=api, counter=200).run('canary promote --force "old store"', user=MANAGER)
        assert load(later.runtime) is not None
    edited = run_message(driver.bot.recorder)
    assert edited.ts == root.ts and "stage 2/3" in edited.shown


@pytest.fixture
def slo_ready(node0_slot: Slot) -> Slot:
    """This test's NODE0 on the shared Prometheus, once every SLO can be computed (two scrapes)."""
    node0_slot.prom.wait_for_value(node0_slot.scoped(P99.format(w="15m")), what="a first p99")
    node0_slot.prom.wait_for_value(node0_slot.scoped("sum(rate(node0_planner_outputs_total[15m]))"),
                                   lambda v: v > 0, what="planner rate")
    return node0_slot


def test_the_promote_button_promotes_a_baked_stage_and_a_stale_one_is_refused(
        slo_ready: Slot, api: KubeApiServer, tmp_path: Path, driver_factory: MakeDriver) -> None:
    seed(api)
    clock = now_clock()
    config = make_config(api, tmp_path, slo=slo_config(slo_ready.prom.url, window="15m", sustain="10s",
                                                       slot=slo_ready))
    driver = driver_factory(config, clock)
    driver.run(f"canary start {CANDIDATE}")
    api.roll_out(NS, "node0-canary")
    message = run_message(driver.bot.recorder)
    stage_one_buttons = message.buttons()
    tick_for(driver, clock, seconds=60)
    status = driver.run("canary status", user=VIEWER)  # also edits the run message to "now"
    assert "Promotable now" in text_of(status) and "Promotable now" in message.shown
    assert "Bake ▓▓▓▓▓▓▓▓▓▓ 100%" in message.shown and "now OK" in message.shown
    assert "Canary pods ready: 1/1" in message.shown

    promoted = click(driver, message, action="canary.promote", user=DEPLOYER, name="promote")
    assert ephemeral(promoted) and "promoted to stage 2/3" in text_of(promoted) and points_at(promoted, message)
    assert driver.route_weights() == {"node0": 50, "node0-canary": 50}
    assert "stage 2/3" in message.shown and "last: promoted to stage 2 by <@U_DEPLOY>" in message.shown
    assert [b["text"]["text"] for b in message.buttons()] == ["Promote to stage 3 (100%)", "Abort"]
    promote_entry = latest(driver.bot.runtime, 1, action_prefix="canary.promote")[0]
    assert promote_entry.actor == DEPLOYER and promote_entry.outcome == "ok"

    # A copy of the message still showing stage 1's button: the stage moved on, nothing is applied.
    applies = len(driver.applies())
    stale = click(driver, message, action="canary.promote", user=DEPLOYER, name="stale", shown=stage_one_buttons)
    assert ephemeral(stale) and "already moved on" in text_of(stale)
    assert len(driver.applies()) == applies


def test_the_console_answers_in_text_and_posts_nothing(api: KubeApiServer, tmp_path: Path) -> None:
    seed(api)
    runtime = build_runtime(config=make_config(api, tmp_path), secrets=Secrets(), surface="console")
    screen = io.StringIO()
    runtime.poster.set(ConsolePoster(runtime.registry.renderers, screen))

    started = run_line(f"/bizra canary start {CANDIDATE}", runtime, user_id="console:ops")
    assert "Canary started: stage 1/3" in started and CANDIDATE in started
    aborted = run_line("/bizra canary abort drill over", runtime, user_id="console:ops")
    assert "Canary aborted" in aborted and "drill over" in aborted
    assert screen.getvalue() == ""  # each step was the reply itself: nothing printed twice


def test_an_auto_rollback_ends_the_run_message(slo_ready: Slot, api: KubeApiServer, tmp_path: Path,
                                               driver_factory: MakeDriver) -> None:
    seed(api)
    clock = now_clock()
    config = make_config(api, tmp_path, slo=slo_config(slo_ready.prom.url, window="3s", sustain="2s",
                                                       slot=slo_ready, interval="1s"))
    driver = driver_factory(config, clock)
    driver.run(f"canary start {CANDIDATE}")
    message = run_message(driver.bot.recorder)

    slo_ready.exporter.set(latency_seconds=0.003)
    slo_ready.prom.wait_for_value(slo_ready.scoped(P99.format(w="3s")), lambda v: v > 0.0015, what="p99 over 1.5 ms")
    tick_until(driver, clock, lambda: load(driver.bot.runtime) is None, what="the auto-rollback")

    assert message.shown.startswith(f":leftwards_arrow_with_hook: Canary `{load_id(message)}` rolled back at stage "
                                    "1/3 (10%)")
    assert "Reason: sustained SLO breach of cb_latency_p99" in message.shown and "by auto-rollback" in message.shown
    assert message.buttons() == []
    assert any("Auto-rollback" in m.shown for m in driver.bot.recorder.replies(RELEASE_CHANNEL, message.ts))
