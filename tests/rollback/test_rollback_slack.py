"""`/bizra rollback` driven as Slack drives it: signed command, confirmation, signed button clicks."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from bot.core.audit import latest
from bot.features.releases.history import last_stable
from tests.rollback.conftest import (
    ANNOTATION,
    BAD,
    GOOD,
    NS,
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
from tests.support.bot import RunningBot, running_bot
from tests.support.kube_api import KubeApiServer
from tests.support.slack import SlackRecorder, block_action_body

MESSAGE_TS = "1700000000.000100"  # a message the bot did not post (a confirmation of an earlier version, an alert)


def _request_confirmation(bot: RunningBot, recorder: SlackRecorder, *, user: str = RESPONDER) -> str:
    status, _ = bot.command("rollback p99 latency breach", user_id=user, name="cmd")
    assert status == 200
    recorder.wait_for(lambda rs: any(r.path == "/response/cmd" for r in rs), timeout=20, what="the confirmation")
    [response] = recorder.responses("cmd")
    # A channel message everyone in the release channel sees; whoever asked is answered with a link to it.
    return button_value(posted_confirmation(recorder, response), "rollback.confirm")


def _click(bot: RunningBot, recorder: SlackRecorder, plan_id: str, *, user: str = RESPONDER, name: str = "click",
           action_id: str = "rollback.confirm", message_ts: str | None = None) -> None:
    """A click on a button of confirmation `plan_id`'s channel message (or of the message `message_ts`)."""
    ts = message_ts or confirmation(recorder, plan_id).ts
    body = block_action_body(action_id=action_id, value=plan_id, user_id=user,
                             response_url=recorder.response_url(name), message_ts=ts)
    status, _ = bot.send(body)
    assert status == 200


def test_confirmed_rollback_restores_the_digest_and_reports_recovery(api: KubeApiServer, tmp_path: Path,
                                                                     slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    proxy_before = container(api, "proxy")
    app_before = container(api, "node0")
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot:
        plan_id = _request_confirmation(bot, slack_recorder)
        posted = confirmation(slack_recorder, plan_id)
        shown = json.dumps(posted.blocks)
        assert f"{NS}/node0" in shown and BAD in shown and GOOD in shown and "deployment annotation" in shown
        assert image_patches(api) == [], "the confirmation alone changes nothing"

        with controller(api) as ctl:
            _click(bot, slack_recorder, plan_id)
            ctl.join()
            slack_recorder.wait_for(lambda rs: any(r.path == "/response/click" for r in rs), timeout=20,
                                    what="the rollback result")
        runtime = bot.runtime

    app_after, proxy_after = container(api, "node0"), container(api, "proxy")
    assert app_after == {**app_before, "image": GOOD}, "only the image of the app container changes"
    assert proxy_after == proxy_before, "the sidecar is untouched"
    [patch] = image_patches(api)
    assert patch.content_type == "application/strategic-merge-patch+json"

    [result] = slack_recorder.responses("click")
    assert result.body["replace_original"] is True
    text = json.dumps(result.body["blocks"], ensure_ascii=False)
    assert "Rollback complete: the rollout is healthy" in text
    assert "Time to recovery (command → healthy):" in text

    thread = [r for r in slack_recorder.calls("chat.postMessage") if r.body.get("thread_ts") == posted.ts]
    texts = [json.dumps(r.body.get("blocks"), ensure_ascii=False) for r in thread]
    assert "Rollback confirmed by" in texts[0]
    assert any("3/3 available" in t for t in texts), "rollout progress is posted in the thread"
    assert "Incident bundle:" in texts[-1] and "Time to recovery" in texts[-1]
    assert all(r.body.get("channel") == "C123" for r in thread)

    [bundle] = list((tmp_path / "incidents").iterdir())
    names = {p.name for p in bundle.iterdir()}
    assert names >= {"deployment-before.json", "deployment-after.json", "replicasets-before.json",
                     "replicasets-after.json", "pods.json", "events.json", "slo-snapshot.json", "audit.json",
                     "summary.md"}
    before = json.loads((bundle / "deployment-before.json").read_text())
    after = json.loads((bundle / "deployment-after.json").read_text())
    assert before["spec"]["template"]["spec"]["containers"][0]["image"] == BAD
    assert after["spec"]["template"]["spec"]["containers"][0]["image"] == GOOD
    assert len(json.loads((bundle / "pods.json").read_text())) == 3
    assert "Time to recovery" in (bundle / "summary.md").read_text()
    audited = json.loads((bundle / "audit.json").read_text())
    assert [e["action"] for e in audited][:2] == ["rollback", "rollback.request"]

    entry = latest(runtime, 1)[0]
    assert (entry.actor, entry.action, entry.before, entry.after, entry.outcome) == (
        RESPONDER, "rollback", BAD, GOOD, "ok")
    stable = last_stable(runtime)
    assert stable is not None and stable.image == GOOD and stable.source.startswith("rollback")
    stored = api.get("apps", "deployments", NS, "node0") or {}
    assert stored["metadata"]["annotations"][ANNOTATION] == GOOD


def test_unauthorized_click_is_refused_audited_and_changes_nothing(api: KubeApiServer, tmp_path: Path,
                                                                   slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot:
        plan_id = _request_confirmation(bot, slack_recorder)
        _click(bot, slack_recorder, plan_id, user="U_MALLORY", name="mallory")
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/mallory" for r in rs), what="the refusal")
        [refusal] = slack_recorder.responses("mallory")
        entries = latest(bot.runtime, 5)
    assert refusal.body["response_type"] == "ephemeral"
    assert "not allowed to run `rollback`" in refusal.body["text"]
    assert image_patches(api) == []
    assert container(api, "node0")["image"] == BAD
    denied = entries[0]
    assert (denied.actor, denied.action, denied.outcome) == ("U_MALLORY", "rollback", "denied")
    assert denied.target == f"{NS}/node0"


def test_unauthorized_user_cannot_even_request(api: KubeApiServer, tmp_path: Path,
                                               slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot:
        bot.command("rollback", user_id="U_MALLORY")
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/cmd" for r in rs), what="the refusal")
        [refusal] = slack_recorder.responses("cmd")
        assert refusal.body["response_type"] == "ephemeral"
        assert latest(bot.runtime, 1)[0].outcome == "denied"


def test_the_same_confirmation_delivered_twice_at_once_runs_once(api: KubeApiServer, tmp_path: Path,
                                                                  slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot:
        plan_id = _request_confirmation(bot, slack_recorder)
        posted = confirmation(slack_recorder, plan_id)
        with controller(api) as ctl:
            start = threading.Barrier(2)

            def deliver() -> None:
                # Two clicks on the same button (a double click, a second replica): a byte-identical
                # body would be refused as a replay before any handler ran (tests/slack/test_robustness.py).
                body = block_action_body(action_id="rollback.confirm", value=plan_id, user_id=RESPONDER,
                                         response_url=slack_recorder.response_url("click"), message_ts=posted.ts)
                start.wait()
                bot.send(body)

            senders = [threading.Thread(target=deliver) for _ in range(2)]
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join()
            ctl.join()
            slack_recorder.wait_for(lambda rs: len([r for r in rs if r.path == "/response/click"]) == 2,
                                    timeout=20, what="both answers")
        entries = latest(bot.runtime, 10)
    assert len(image_patches(api)) == 1, "exactly one rollback ran"
    answers = slack_recorder.responses("click")
    duplicate = [a for a in answers if a.body.get("response_type") == "ephemeral"]
    assert len(duplicate) == 1 and "Nothing more was done" in duplicate[0].body["text"]
    assert [e.action for e in entries].count("rollback") == 1


def test_expired_confirmation_is_refused(api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    from datetime import UTC, datetime

    from commands.ports import FixedClock

    seed(api, annotations={ANNOTATION: GOOD})
    clock = FixedClock(datetime.now(UTC))
    with running_bot(slack_recorder, config=make_config(api, tmp_path, confirmation_minutes=10), clock=clock) as bot:
        plan_id = _request_confirmation(bot, slack_recorder)
        clock.advance(minutes=10, seconds=1)
        _click(bot, slack_recorder, plan_id)
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/click" for r in rs), what="the refusal")
        [refusal] = slack_recorder.responses("click")
        entry = latest(bot.runtime, 1)[0]
    assert refusal.body["response_type"] == "ephemeral"
    assert "expired" in refusal.body["text"] and "nothing was changed" in refusal.body["text"]
    assert image_patches(api) == []
    assert (entry.action, entry.outcome) == ("rollback.confirm", "expired")


def test_cancel_spends_the_confirmation(api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot:
        plan_id = _request_confirmation(bot, slack_recorder)
        _click(bot, slack_recorder, plan_id, action_id="rollback.cancel", name="cancel")
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/cancel" for r in rs), what="the cancel")
        _click(bot, slack_recorder, plan_id, name="late")
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/late" for r in rs), what="the late click")
    assert "cancelled by" in json.dumps(slack_recorder.responses("cancel")[0].body)
    assert "was cancelled" in slack_recorder.responses("late")[0].body["text"]
    assert image_patches(api) == []


def test_the_alerts_roll_back_button_posts_the_same_confirmation(api: KubeApiServer, tmp_path: Path,
                                                                 slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot:
        _click(bot, slack_recorder, "alert:cb_latency_p99-42", action_id="rollback.request", name="alert",
               message_ts=MESSAGE_TS)  # the alert's message
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/alert" for r in rs), what="the confirmation")
    [answer] = slack_recorder.responses("alert")
    assert answer.body.get("replace_original") is False, "the alert keeps its message"
    posted = posted_confirmation(slack_recorder, answer)  # in the alert's channel, for everyone there
    assert button_value(posted, "rollback.confirm")
    assert "SLO alert cb_latency_p99-42" in json.dumps(posted.blocks)
    assert image_patches(api) == []


def test_two_replicas_receiving_the_same_click_run_it_once(api: KubeApiServer, tmp_path: Path,
                                                           slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    config = make_config(api, tmp_path)  # one store file shared by both replicas, as on a shared volume
    with running_bot(slack_recorder, config=config) as first, running_bot(slack_recorder, config=config) as second:
        plan_id = _request_confirmation(first, slack_recorder)
        posted = confirmation(slack_recorder, plan_id)
        # One click each (a byte-identical body would be refused as a replay by the shared store).
        bodies = [block_action_body(action_id="rollback.confirm", value=plan_id, user_id=RESPONDER,
                                    response_url=slack_recorder.response_url("click"), message_ts=posted.ts)
                  for _ in range(2)]
        with controller(api) as ctl:
            senders = [threading.Thread(target=replica.send, args=(body,))
                       for replica, body in zip((first, second), bodies, strict=True)]
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join()
            ctl.join()
            slack_recorder.wait_for(lambda rs: len([r for r in rs if r.path == "/response/click"]) == 2,
                                    timeout=20, what="both answers")
    assert len(image_patches(api)) == 1
    assert sum(a.body.get("response_type") == "ephemeral" for a in slack_recorder.responses("click")) == 1
