"""Issue 11: rollback to the right version, `/bizra history`, and confirmation buttons that behave.

Driven as Slack drives the bot: signed commands and clicks (a select menu's choice too), the
recording Slack server, and the Kubernetes API emulator with its deployment controller. History
rows are written through the same calls the canary and the rollback make (`record_stable`,
`record_aborted`).
"""

from __future__ import annotations

import io
import json
import sqlite3
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.assembly import build_runtime
from bot.core.audit import latest
from bot.core.config import Secrets
from bot.core.delivery import ConsolePoster
from bot.features.releases.history import record_aborted, record_stable
from bot.surfaces.console import run_line
from commands.ports import FixedClock
from tests.rollback.conftest import (
    ANNOTATION,
    NS,
    RESPONDER,
    button_value,
    container,
    controller,
    image_patches,
    make_config,
    posted_confirmation,
    seed,
)
from tests.rollback.test_rollback_slack import _click
from tests.support.bot import RunningBot, running_bot
from tests.support.kube_api import KubeApiServer
from tests.support.slack import Message, Recorded, SlackRecorder

REPO = "ghcr.io/bizra/node0@sha256:"
PREVIOUS = REPO + "1" * 64   # release #1: the release before the one that misbehaves
RELEASED = REPO + "2" * 64   # release #2: completed a moment ago, runs now
OLDEST = REPO + "3" * 64


def _shown(shown: Recorded | Message) -> str:
    return json.dumps(shown.blocks if isinstance(shown, Message) else shown.body.get("blocks"), ensure_ascii=False)


def _ask(bot: RunningBot, recorder: SlackRecorder, text: str, *, name: str = "cmd") -> Recorded:
    status, _ = bot.command(text, user_id=RESPONDER, name=name)
    assert status == 200
    recorder.wait_for(lambda rs: any(r.path == f"/response/{name}" for r in rs), timeout=20, what=f"/{text}")
    return recorder.responses(name)[-1]


def _confirmation(bot: RunningBot, recorder: SlackRecorder, text: str, *, name: str = "cmd") -> Message:
    """`/bizra <text>` posts a confirmation in the channel; the answer (ephemeral) links to it."""
    return posted_confirmation(recorder, _ask(bot, recorder, text, name=name))


def _actions(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b.get("type") == "actions" for e in b.get("elements", [])]


def _choose(bot: RunningBot, recorder: SlackRecorder, value: str, *, message_ts: str,
            name: str = "choose") -> Recorded:
    """A pick in the select menu of the confirmation message `message_ts`, as Slack sends it (static_select)."""
    payload = {
        "type": "block_actions",
        "team": {"id": "T0", "domain": "bizra"},
        "user": {"id": RESPONDER, "username": RESPONDER.lower(), "name": RESPONDER.lower()},
        "api_app_id": "A0",
        "token": "unused",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": "C123"},
        "trigger_id": f"{time.time_ns()}.trigger",
        "channel": {"id": "C123", "name": "release"},
        "message": {"ts": message_ts, "type": "message", "text": ""},
        "response_url": recorder.response_url(name),
        "actions": [{"type": "static_select", "action_id": "rollback.target", "block_id": "b",
                     "selected_option": {"text": {"type": "plain_text", "text": "x"}, "value": value},
                     "action_ts": str(time.time())}],
    }
    status, _ = bot.send(urllib.parse.urlencode({"payload": json.dumps(payload)}))
    assert status == 200
    recorder.wait_for(lambda rs: any(r.path == f"/response/{name}" for r in rs), timeout=20, what="the re-plan")
    return recorder.responses(name)[-1]


def _released_twice(bot: RunningBot) -> None:
    record_stable(bot.runtime, image=PREVIOUS, source="canary c1", by="U_REL")
    record_stable(bot.runtime, image=RELEASED, source="canary c2", by="U_REL")  # as canary completion does


def test_rollback_right_after_a_completed_release_targets_the_previous_image(
        api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    seed(api, image=RELEASED)
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot:
        _released_twice(bot)
        answer = _confirmation(bot, slack_recorder, "rollback p99 after the release")
        shown = _shown(answer)
        assert f"`{RELEASED}`" in shown and f"`{PREVIOUS}`" in shown  # full digests in a context line
        assert "`sha256:222222222222` (running now) → `sha256:111111111111`" in shown
        assert "release *#1*" in shown and "bot release history" in shown
        assert "<!date^" in shown and "<@U_REL>" in shown and "<@U_RESP>" in shown
        [confirm, cancel, select] = _actions(answer.blocks)
        assert confirm["confirm"]["title"]["text"] and cancel["confirm"]["title"]["text"]  # confirm dialogs
        assert select["type"] == "static_select" and select["action_id"] == "rollback.target"
        plan_id = button_value(answer, "rollback.confirm")

        with controller(api, image=PREVIOUS) as ctl:
            _click(bot, slack_recorder, plan_id)
            ctl.join()
            slack_recorder.wait_for(lambda rs: any(r.path == "/response/click" for r in rs), timeout=20,
                                    what="the rollback result")
        assert container(api, "node0")["image"] == PREVIOUS

        history = _ask(bot, slack_recorder, "history", name="history")
        listed = _shown(history)
        # #2 was rolled back; the restore is listed; nothing claims the rolled-back image is stable.
        assert "*#2* `sha256:222222222222`" in listed and "rolled back" in listed
        assert "*#3* `sha256:111111111111`" in listed and "restored by a rollback" in listed
        again = _ask(bot, slack_recorder, "rollback again", name="again")
    assert "already runs the last stable image" in _shown(again), "the rolled-back release is not a target"
    stored = api.get("apps", "deployments", NS, "node0") or {}
    assert stored["metadata"]["annotations"][ANNOTATION] == PREVIOUS


def test_to_a_release_number_or_a_short_digest_and_the_select_menu(
        api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    seed(api, image=RELEASED)
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot:
        record_stable(bot.runtime, image=OLDEST, source="canary c0", by="U_REL")        # 1
        record_stable(bot.runtime, image=PREVIOUS, source="canary c1", by="U_REL")      # 2
        record_aborted(bot.runtime, image=REPO + "4" * 64, source="canary c2", by="U_REL")  # 3
        record_stable(bot.runtime, image=RELEASED, source="canary c3", by="U_REL")      # 4

        by_number = _confirmation(bot, slack_recorder, "rollback --to #1 bad cache", name="n")
        assert "`sha256:222222222222` (running now) → `sha256:333333333333`" in _shown(by_number)
        assert "Target chosen by <@U_RESP> (`#1`)" in _shown(by_number)
        assert "bad cache" in _shown(by_number)

        by_digest = _confirmation(bot, slack_recorder, "rollback --to sha256:1111111", name="d")
        assert "→ `sha256:111111111111`" in _shown(by_digest) and "release *#2*" in _shown(by_digest)

        unknown = _ask(bot, slack_recorder, "rollback --to #99", name="u")
        assert unknown.body["response_type"] == "ephemeral" and "no release #99" in unknown.body["text"]

        default = _confirmation(bot, slack_recorder, "rollback", name="cmd")
        assert "→ `sha256:111111111111`" in _shown(default), "the default is the previous stable release"
        [_, _, select] = _actions(default.blocks)
        offered = [o["value"].split(":")[1] for o in select["options"]]
        assert offered == ["2", "1"], "stable releases other than the running one; the aborted one is not offered"
        assert select["initial_option"]["value"].endswith(":2")
        plan_id = button_value(default, "rollback.confirm")

        replanned = _choose(bot, slack_recorder, f"{plan_id}:1", message_ts=default.ts)
        assert replanned.body["replace_original"] is True
        assert "→ `sha256:333333333333`" in _shown(replanned)
        assert "Target chosen by <@U_RESP> (`#1`)" in _shown(replanned)
        assert button_value(replanned, "rollback.confirm") == plan_id, "the same confirmation, re-planned"
        assert image_patches(api) == []
        chosen = latest(bot.runtime, 1)[0]
        assert (chosen.action, chosen.outcome, chosen.before, chosen.after) == (
            "rollback.target", "ok", PREVIOUS, OLDEST)

        with controller(api, image=OLDEST) as ctl:
            _click(bot, slack_recorder, plan_id)
            ctl.join()
            slack_recorder.wait_for(lambda rs: any(r.path == "/response/click" for r in rs), timeout=20,
                                    what="the rollback result")
    assert container(api, "node0")["image"] == OLDEST, "the chosen release was restored"


def test_expired_confirmations_lose_their_buttons(api: KubeApiServer, tmp_path: Path,
                                                  slack_recorder: SlackRecorder) -> None:
    seed(api, image=RELEASED)
    clock = FixedClock(datetime.now(UTC))
    with running_bot(slack_recorder, config=make_config(api, tmp_path, confirmation_minutes=10), clock=clock) as bot:
        _released_twice(bot)
        posted = _confirmation(bot, slack_recorder, "rollback")
        plan_id = button_value(posted, "rollback.confirm")
        clock.advance(minutes=10, seconds=1)
        _click(bot, slack_recorder, plan_id)
        updates = slack_recorder.wait_for(
            lambda rs: [r for r in rs if r.api_method == "chat.update" and r.body.get("ts") == posted.ts],
            timeout=20, what="the confirmation updated")
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/click" for r in rs), what="the refusal")
        [refusal] = slack_recorder.responses("click")

        # A pick in the select menu of an expired confirmation changes nothing either.
        late = _choose(bot, slack_recorder, f"{plan_id}:1", message_ts=posted.ts, name="late")
    [update] = [r for r in updates if r.api_method == "chat.update" and r.body.get("ts") == posted.ts]
    assert update.body["channel"] == "C123"
    blocks = update.body["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    assert [b for b in blocks if b.get("type") == "actions"] == [], "the expired confirmation has no buttons"
    assert "Expired" in json.dumps(blocks) and "nothing was changed" in json.dumps(blocks)
    assert refusal.body["response_type"] == "ephemeral" and "expired" in refusal.body["text"]
    assert late.body["response_type"] == "ephemeral" and "expired" in late.body["text"]
    assert image_patches(api) == []


def test_history_on_a_store_written_before_outcomes_existed(api: KubeApiServer, tmp_path: Path,
                                                            slack_recorder: SlackRecorder) -> None:
    seed(api, image=RELEASED)
    store = tmp_path / "state.sqlite"
    with sqlite3.connect(store) as connection:  # the table as the previous version of the bot wrote it
        connection.execute("CREATE TABLE release_history (id INTEGER PRIMARY KEY AUTOINCREMENT, image TEXT NOT NULL, "
                           "source TEXT NOT NULL, at TEXT NOT NULL, by TEXT NOT NULL)")
        for image in (PREVIOUS, RELEASED):
            connection.execute("INSERT INTO release_history (image, source, at, by) VALUES (?, ?, ?, ?)",
                               (image, "canary c1", "2026-11-30T10:00:00+00:00", "U_REL"))
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot:
        listed = _shown(_ask(bot, slack_recorder, "history", name="history"))
        answer = _confirmation(bot, slack_recorder, "rollback")
    assert "*#1* `sha256:111111111111`" in listed and "completed" in listed
    assert "→ `sha256:111111111111`" in _shown(answer)


def test_console_history_and_to(api: KubeApiServer, tmp_path: Path) -> None:
    seed(api, image=RELEASED)
    runtime = build_runtime(config=make_config(api, tmp_path), secrets=Secrets(), surface="console")
    runtime.poster.set(ConsolePoster(runtime.registry.renderers, io.StringIO()))
    record_stable(runtime, image=OLDEST, source="canary c0", by="U_REL")
    record_stable(runtime, image=PREVIOUS, source="canary c1", by="U_REL")
    record_stable(runtime, image=RELEASED, source="canary c2", by="U_REL")
    listed = run_line("/bizra history 2", runtime, user_id="console:ops")
    assert "#3  sha256:222222222222" in listed and "#2  sha256:111111111111" in listed and "#1 " not in listed
    shown = run_line("/bizra rollback --to #1 cache regression", runtime, user_id="console:ops")
    assert f"→  {OLDEST}" in shown and "chosen by console:ops (#1)" in shown, shown
    assert "reason: cache regression" in shown
    assert "Usage" in run_line("/bizra rollback --to", runtime, user_id="console:ops")
