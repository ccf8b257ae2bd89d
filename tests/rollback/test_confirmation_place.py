"""Issue 12 #4: a rollback confirmation is decided only where it was posted.

A click from another channel, or `/bizra rollback confirm <id>` typed in Slack (a DM, say), is
refused and changes nothing; the confirmation's own button in the release channel still works, and
progress and the summary go to that message's thread.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from bot.assembly import build_runtime
from bot.core.audit import latest
from bot.core.config import Secrets
from bot.surfaces.console import run_line
from tests.rollback.conftest import (
    ANNOTATION,
    GOOD,
    RESPONDER,
    button_value,
    confirmation,
    container,
    controller,
    image_patches,
    make_config,
    posted_confirmation,
    seed,
)
from tests.rollback.test_rollback_slack import _click, _request_confirmation
from tests.support.bot import running_bot
from tests.support.kube_api import KubeApiServer
from tests.support.slack import SlackRecorder, block_action_body


def state_of(store: Path, plan_id: str) -> str | None:
    """The confirmation's state, read from the store file as an operator would (sqlite3)."""
    with sqlite3.connect(store) as connection:
        row = connection.execute("SELECT state FROM rollback_confirmation WHERE id = ?", (plan_id,)).fetchone()
    return str(row[0]) if row else None


def _posts_outside(recorder: SlackRecorder, channel: str) -> list[str]:
    return [json.dumps(r.body) for r in recorder.calls() if r.api_method in ("chat.postMessage", "chat.update")
            and r.body.get("channel") != channel]


def test_a_click_from_another_channel_is_refused_and_the_release_channel_keeps_the_rollback(
        api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot:
        plan_id = _request_confirmation(bot, slack_recorder)  # posted in C123, the release channel
        posted = confirmation(slack_recorder, plan_id)
        elsewhere = block_action_body(action_id="rollback.confirm", value=plan_id, user_id=RESPONDER,
                                      response_url=slack_recorder.response_url("elsewhere"), channel_id="C_OTHER",
                                      message_ts="1700000999.000200")
        assert bot.send(elsewhere)[0] == 200
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/elsewhere" for r in rs), timeout=20,
                                what="the answer to the click from another channel")
        [refusal] = slack_recorder.responses("elsewhere")
        assert refusal.body["response_type"] == "ephemeral"
        assert "<#C123>" in refusal.body["text"] and "Nothing was done" in refusal.body["text"]
        assert refusal.body.get("replace_original") is not True
        assert image_patches(api) == [], "a click from another channel changes nothing"
        assert state_of(tmp_path / "state.sqlite", plan_id) == "pending"
        refused = latest(bot.runtime, 1)[0]
        assert (refused.action, refused.outcome, refused.channel) == ("rollback.confirm", "refused", "C_OTHER")

        with controller(api) as ctl:  # the confirmation's own button still works
            _click(bot, slack_recorder, plan_id)
            ctl.join()
            slack_recorder.wait_for(lambda rs: any(r.path == "/response/click" for r in rs), timeout=20,
                                    what="the rollback result")
    assert "Rollback complete" in json.dumps(slack_recorder.responses("click")[0].body)
    assert _posts_outside(slack_recorder, "C123") == [], "nothing about the rollback went to another channel"
    thread = [r for r in slack_recorder.calls("chat.postMessage") if r.body.get("thread_ts") == posted.ts]
    assert any("Incident bundle" in json.dumps(r.body) for r in thread)


def test_a_click_on_another_message_in_the_same_channel_is_refused_from_the_first_click(
        api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    """The confirmation is bound to its message when it is posted, not by whoever clicks first: a forged
    click carrying its id from another message of the release channel is refused, even as the first."""
    seed(api, annotations={ANNOTATION: GOOD})
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot:
        plan_id = _request_confirmation(bot, slack_recorder)
        _click(bot, slack_recorder, plan_id, name="forged", message_ts="1700000999.000300")
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/forged" for r in rs), timeout=20,
                                what="the refusal of the click on another message")
        [refusal] = slack_recorder.responses("forged")
        assert refusal.body["response_type"] == "ephemeral"
        assert "use the buttons on that message" in refusal.body["text"]
        assert state_of(tmp_path / "state.sqlite", plan_id) == "pending"
        with controller(api) as ctl:  # its own message's button still decides it
            _click(bot, slack_recorder, plan_id)
            ctl.join()
            slack_recorder.wait_for(lambda rs: any(r.path == "/response/click" for r in rs), timeout=20,
                                    what="the rollback result")
    assert "Rollback complete" in json.dumps(slack_recorder.responses("click")[0].body)
    assert container(api, "node0")["image"] == GOOD


def test_a_cancel_click_from_another_channel_is_refused(api: KubeApiServer, tmp_path: Path,
                                                        slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot:
        plan_id = _request_confirmation(bot, slack_recorder)
        body = block_action_body(action_id="rollback.cancel", value=plan_id, user_id=RESPONDER,
                                 response_url=slack_recorder.response_url("elsewhere"), channel_id="C_OTHER")
        bot.send(body)
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/elsewhere" for r in rs), timeout=20,
                                what="the refusal")
        assert "<#C123>" in slack_recorder.responses("elsewhere")[0].body["text"]
        assert state_of(tmp_path / "state.sqlite", plan_id) == "pending"


def test_confirm_typed_in_a_dm_is_refused_and_nothing_runs(api: KubeApiServer, tmp_path: Path,
                                                           slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot:
        plan_id = _request_confirmation(bot, slack_recorder)
        with controller(api):
            bot.command(f"rollback confirm {plan_id}", user_id=RESPONDER, channel_id="D_RESPONDER", name="dm")
            slack_recorder.wait_for(lambda rs: any(r.path == "/response/dm" for r in rs), timeout=20,
                                    what="the answer in the DM")
        [answer] = slack_recorder.responses("dm")
        assert answer.body["response_type"] == "ephemeral"
        assert "works only on the console" in answer.body["text"] and "Confirm rollback" in answer.body["text"]
        assert image_patches(api) == []
        assert _posts_outside(slack_recorder, "C123") == [], "no progress or summary in the DM"
        assert state_of(tmp_path / "state.sqlite", plan_id) == "pending"
        entry = latest(bot.runtime, 1)[0]
        assert (entry.action, entry.outcome, entry.channel) == ("rollback.confirm", "refused", "D_RESPONDER")

        bot.command(f"rollback cancel {plan_id}", user_id=RESPONDER, channel_id="D_RESPONDER", name="dmcancel")
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/dmcancel" for r in rs), timeout=20,
                                what="the answer to the typed cancel")
        assert "works only on the console" in slack_recorder.responses("dmcancel")[0].body["text"]
        assert state_of(tmp_path / "state.sqlite", plan_id) == "pending"
    assert container(api, "node0")["image"] != GOOD


def test_the_console_cannot_decide_a_confirmation_posted_in_slack(api: KubeApiServer, tmp_path: Path,
                                                                  slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    config = make_config(api, tmp_path)  # the console shares the bot's store file
    with running_bot(slack_recorder, config=config) as bot:
        plan_id = _request_confirmation(bot, slack_recorder)
        console = build_runtime(config=config, secrets=Secrets(), surface="console")
        answer = run_line(f"/bizra rollback confirm {plan_id}", console, user_id="console:ops")
        assert "posted in Slack" in answer and "Nothing was done" in answer
        assert image_patches(api) == []
        assert state_of(tmp_path / "state.sqlite", plan_id) == "pending"


def test_a_confirmation_the_bot_cannot_post_where_asked_goes_to_the_release_channel(
        api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    """`/bizra rollback` typed where the bot may not post (a DM with someone else, a channel it was not
    invited to): the confirmation is posted in the release channel, bound there, and the answer says so."""
    seed(api, annotations={ANNOTATION: GOOD})
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot:
        slack_recorder.fail_next("chat.postMessage", error="channel_not_found")
        bot.command("rollback p99", user_id=RESPONDER, channel_id="D_ELSEWHERE")
        slack_recorder.wait_for(lambda rs: any("posted in" in json.dumps(r.body) for r in rs
                                               if r.path == "/response/cmd"), timeout=20, what="the answer")
        [answer] = [r for r in slack_recorder.responses("cmd") if "posted in" in json.dumps(r.body)]
        posted = posted_confirmation(slack_recorder, answer)  # in C123, the release channel
        assert "cannot post in <#D_ELSEWHERE>" in json.dumps(answer.body)
        plan_id = button_value(posted, "rollback.cancel")
        _click(bot, slack_recorder, plan_id, action_id="rollback.cancel", name="cancel")
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/cancel" for r in rs), what="the cancel")
    assert "cancelled by" in json.dumps(slack_recorder.responses("cancel")[0].body), "decided where it was posted"
    assert image_patches(api) == []
