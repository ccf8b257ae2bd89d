"""Issue 11: a rollback confirmation nobody decides loses its buttons when it expires, not at a later click.

The confirmation is a channel message the bot posted (its ts is stored with it); the registered
`rollback-expiry` job, called with the injected clock's time, edits it (`chat.update`) once it has
expired. The recording Slack server applies the edit, so the test reads the message as the channel
shows it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from bot.core.audit import latest
from bot.core.runtime import Job, Runtime
from commands.ports import FixedClock
from tests.rollback.conftest import (
    ANNOTATION,
    GOOD,
    RELEASE_CHANNEL,
    RESPONDER,
    button_value,
    confirmation,
    image_patches,
    make_config,
    posted_confirmation,
    seed,
)
from tests.rollback.test_rollback_slack import _click
from tests.support.bot import running_bot
from tests.support.kube_api import KubeApiServer
from tests.support.slack import SlackRecorder, permalink


def _expiry_job(runtime: Runtime) -> Job:
    [job] = [j for j in runtime.registry.jobs if j.name == "rollback-expiry"]
    return job


def test_a_confirmation_nobody_clicks_shows_no_buttons_once_the_expiry_job_ran(
        api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    clock = FixedClock(datetime.now(UTC))
    with running_bot(slack_recorder, config=make_config(api, tmp_path, confirmation_minutes=10), clock=clock) as bot:
        bot.command("rollback p99 breach", user_id=RESPONDER)
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/cmd" for r in rs), timeout=20,
                                what="the answer to the command")
        [answer] = slack_recorder.responses("cmd")
        posted = posted_confirmation(slack_recorder, answer)
        plan_id = button_value(posted, "rollback.confirm")
        assert [b["action_id"] for b in posted.buttons()] == ["rollback.confirm", "rollback.cancel"]
        assert permalink(RELEASE_CHANNEL, posted.ts) in json.dumps(answer.body), "the answer links to it"

        job = _expiry_job(bot.runtime)
        clock.advance(minutes=9, seconds=59)
        job.body(bot.runtime, clock.now())  # not expired yet: untouched
        assert slack_recorder.message(RELEASE_CHANNEL, posted.ts).buttons()
        assert slack_recorder.message(RELEASE_CHANNEL, posted.ts).updates == 0

        clock.advance(seconds=2)
        job.body(bot.runtime, clock.now())  # nobody clicked: the job removes the buttons
        shown = slack_recorder.message(RELEASE_CHANNEL, posted.ts)
        assert shown.buttons() == [] and [b for b in shown.blocks if b.get("type") == "actions"] == []
        assert "Expired at" in shown.shown and "Run `/bizra rollback` again" in shown.shown
        assert "<!date^" in shown.shown, "the expiry time as a Slack date token"

        job.body(bot.runtime, clock.now())  # later runs leave it alone
        assert slack_recorder.message(RELEASE_CHANNEL, posted.ts).updates == 1

        _click(bot, slack_recorder, plan_id, name="late", message_ts=posted.ts)  # a stale client's click
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/late" for r in rs), what="the refusal")
        [refusal] = slack_recorder.responses("late")
        entry = latest(bot.runtime, 1)[0]
    assert refusal.body["response_type"] == "ephemeral" and "expired" in refusal.body["text"]
    assert "nothing was changed" in refusal.body["text"] and "/bizra rollback" in refusal.body["text"]
    assert (entry.action, entry.outcome) == ("rollback.confirm", "expired")
    assert image_patches(api) == []


def test_a_decided_confirmation_is_not_touched_by_the_expiry_job(
        api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    clock = FixedClock(datetime.now(UTC))
    with running_bot(slack_recorder, config=make_config(api, tmp_path, confirmation_minutes=10), clock=clock) as bot:
        bot.command("rollback p99 breach", user_id=RESPONDER)
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/cmd" for r in rs), timeout=20,
                                what="the answer to the command")
        posted = posted_confirmation(slack_recorder, slack_recorder.responses("cmd")[0])
        plan_id = button_value(posted, "rollback.cancel")
        _click(bot, slack_recorder, plan_id, action_id="rollback.cancel", name="cancel")
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/cancel" for r in rs), what="the cancel")
        clock.advance(minutes=11)
        _expiry_job(bot.runtime).body(bot.runtime, clock.now())
    assert slack_recorder.calls("chat.update") == [], "a cancelled confirmation was replaced by its cancel"
    assert confirmation(slack_recorder, plan_id).ts == posted.ts
