"""Issue 12: acks never starve behind slow work, the HTTP server keeps its limits, replays do not run
again and bad input gets a clear 4xx, over real signed HTTP requests to the Bolt app on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.adapters.charts import Panel
from bot.core.audit import latest
from bot.core.config import BizraConfig
from bot.core.invocation import Invocation, Reply
from bot.core.runtime import Runtime, Subcommand
from bot.core.work import Work
from bot.surfaces.http import HttpServer
from bot.surfaces.slack_app import build_app
from tests.support.bot import SIGNING_SECRET, RunningBot, running_bot, stop_promptly
from tests.support.polling import wait_until
from tests.support.slack import Recorded, SlackRecorder, block_action_body, post, sign, slash_command_body


def _config(tmp_path: Path) -> BizraConfig:
    return BizraConfig.model_validate({"store": {"path": str(tmp_path / "state.sqlite")}, "slo": {"enabled": False}})


class _Stall:
    """A slow subcommand the test registers: it holds its worker until released (bounded by a deadline)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = 0
        self._lock = threading.Lock()

    def __call__(self, invocation: Invocation, runtime: Runtime) -> Reply:
        with self._lock:
            self.started += 1
        self.release.wait(timeout=30)
        return Reply(result="stalled work done")


@contextmanager
def _bot_with_stall(recorder: SlackRecorder, tmp_path: Path) -> Iterator[tuple[RunningBot, _Stall]]:
    stall = _Stall()
    with running_bot(recorder, config=_config(tmp_path)) as bot:
        bot.runtime.registry.add_subcommand(Subcommand(name="stall", usage="stall", summary="test", handler=stall))
        try:
            yield bot, stall
        finally:
            stall.release.set()


def test_acks_answer_while_slow_work_fills_more_than_the_default_pool(slack_recorder: SlackRecorder,
                                                                    tmp_path: Path) -> None:
    with _bot_with_stall(slack_recorder, tmp_path) as (bot, stall):
        for i in range(8):
            status, _ = bot.command("stall", name=f"s{i}")
            assert status == 200
        wait_until(lambda: stall.started >= 8, what="eight slow commands running")
        status, body = bot.command("help")
        assert status == 200
        assert "rollback" in json.dumps(json.loads(body)["blocks"])
        stall.release.set()
        slack_recorder.wait_for(lambda _: all(slack_recorder.responses(f"s{i}") for i in range(8)),
                                what="every slow answer")


def test_full_work_queue_answers_busy_in_the_ack(slack_recorder: SlackRecorder, tmp_path: Path) -> None:
    with _bot_with_stall(slack_recorder, tmp_path) as (bot, stall):
        bot.runtime.work.set(Work(slow_workers=1, slow_queue=1, long_workers=1, long_queue=0))
        assert bot.command("stall", name="a")[0] == 200
        wait_until(lambda: stall.started == 1, what="the first slow command running")
        assert bot.command("stall", name="b")[0] == 200  # queued
        status, body = bot.command("stall", name="c")
        assert status == 200
        reply = json.loads(body)
        assert reply["response_type"] == "ephemeral"
        assert "busy" in reply["text"] and "try again" in reply["text"].lower()
        stall.release.set()
        slack_recorder.wait_for(lambda _: slack_recorder.responses("a") and slack_recorder.responses("b"),
                                what="the two accepted answers")
        assert slack_recorder.responses("c") == []
        assert stall.started == 2
        bot.runtime.work.get().shutdown()


def test_a_rate_limiting_slow_web_api_does_not_delay_acks(slack_recorder: SlackRecorder, tmp_path: Path) -> None:
    hold = threading.Event()

    def slow_429(recorded: Recorded) -> tuple[int, dict[str, str], dict[str, Any]]:
        hold.wait(timeout=5)  # a Web API that takes 5 s, then rate-limits
        return 429, {"Retry-After": "30"}, {"ok": False, "error": "ratelimited"}

    for method in ("auth.test", "chat.postMessage", "files.getUploadURLExternal", "usergroups.users.list"):
        slack_recorder.overrides[method] = slow_429
    try:
        with running_bot(slack_recorder, config=_config(tmp_path)) as bot:
            status, body = bot.command("help")
            assert status == 200
            assert "rollback" in json.dumps(json.loads(body)["blocks"])
            assert slack_recorder.calls("auth.test") == []
    finally:
        hold.set()


def test_non_numeric_timestamp_is_401(slack_recorder: SlackRecorder) -> None:
    with running_bot(slack_recorder) as bot:
        body = slash_command_body("help", response_url=slack_recorder.response_url())
        headers = {**sign(SIGNING_SECRET, body), "X-Slack-Request-Timestamp": "yesterday"}
        status, text = post(bot.url + "/slack/events", body, headers)
    assert status == 401
    assert "Traceback" not in text


def test_malformed_interaction_payloads_are_400(slack_recorder: SlackRecorder) -> None:
    with running_bot(slack_recorder) as bot:
        for body in ("payload=%7Bnot+json", "payload=%5B1%2C2%5D", "payload=%22just+a+string%22"):
            status, text = bot.send(body)
            assert status == 400, body
            assert "payload" in text
    assert slack_recorder.calls() == []


def test_oversized_body_is_refused_unread(slack_recorder: SlackRecorder) -> None:
    with running_bot(slack_recorder) as bot, socket.create_connection(("127.0.0.1", int(bot.url.rsplit(":", 1)[1])),
                                                                      timeout=10) as connection:
        # 20 MB announced, none of it sent: the answer comes from the headers alone.
        connection.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
                           b"\r\nContent-Length: 20971520\r\n\r\n")
        answer = connection.recv(1024)
    assert answer.startswith(b"HTTP/1.1 413"), answer


def test_a_connection_that_never_sends_its_body_is_closed(slack_recorder: SlackRecorder, tmp_path: Path) -> None:
    with running_bot(slack_recorder, config=_config(tmp_path)) as bot:
        server = HttpServer(build_app(bot.runtime), host="127.0.0.1", port=0, idle_timeout=1).start_background()
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as held:
                held.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n")
                started = time.monotonic()
                assert held.recv(1024) == b"", "the server closes the idle connection"
                assert time.monotonic() - started < 9
        finally:
            stop_promptly(server)


def test_replayed_command_is_refused_and_a_retry_is_not_run_again(slack_recorder: SlackRecorder,
                                                                   tmp_path: Path) -> None:
    runs: list[str] = []

    def count(invocation: Invocation, runtime: Runtime) -> Reply:
        runs.append(invocation.text)
        return Reply(result="counted")

    with running_bot(slack_recorder, config=_config(tmp_path)) as bot:
        bot.runtime.registry.add_subcommand(Subcommand(name="count", usage="count", summary="test", handler=count))
        body = slash_command_body("count", response_url=slack_recorder.response_url("once"))
        headers = sign(SIGNING_SECRET, body)
        assert post(bot.url + "/slack/events", body, headers)[0] == 200
        slack_recorder.wait_for(lambda _: slack_recorder.responses("once"), what="the first answer")
        retry = {**sign(SIGNING_SECRET, body), "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        assert post(bot.url + "/slack/events", body, retry)[0] == 200
        assert post(bot.url + "/slack/events", body, {**headers, "X-Slack-Retry-Num": "2"})[0] == 200
        status, text = post(bot.url + "/slack/events", body, headers)  # a verbatim replay
        assert status == 409
        assert "replay" in text
        work = bot.runtime.work.get()
        wait_until(lambda: work.idle(), what="no work left")
    assert runs == ["count"]
    assert len(slack_recorder.responses("once")) == 1


def test_unknown_action_is_audited(slack_recorder: SlackRecorder, tmp_path: Path) -> None:
    with running_bot(slack_recorder, config=_config(tmp_path)) as bot:
        body = block_action_body(action_id="nobody.handles.this", value="v", user_id="U9",
                                 response_url=slack_recorder.response_url("click"))
        assert bot.send(body)[0] == 200
        entry = wait_until(lambda: latest(bot.runtime, 1, action_prefix="action.unknown"), what="the audit row")[0]
    assert entry.actor == "U9"
    assert "nobody.handles.this" in entry.target


def test_a_reply_repeating_a_long_id_stays_within_slacks_section_limit(slack_recorder: SlackRecorder,
                                                                         tmp_path: Path) -> None:
    with running_bot(slack_recorder, config=_config(tmp_path)) as bot:
        assert bot.command("slo ack " + "x" * 3900, name="long")[0] == 200
        slack_recorder.wait_for(lambda _: slack_recorder.responses("long"), what="the answer")
        [answer] = slack_recorder.responses("long")
    assert answer.body["blocks"], "the user gets an answer"
    for block in json.loads(answer.body["blocks"]) if isinstance(answer.body["blocks"], str) else answer.body["blocks"]:
        assert len(block.get("text", {}).get("text", "")) <= 3000


def test_charts_are_drawn_outside_the_acking_process(slack_recorder: SlackRecorder, tmp_path: Path) -> None:
    import os

    from bot.adapters.charts import render_png
    from bot.core.config import BizraConfig as Config
    from commands.slo import Series

    with running_bot(slack_recorder, config=_config(tmp_path)) as bot:
        work = bot.runtime.work.get()
        assert work.cpu(os.getpid) != os.getpid(), "CPU work runs in a spawned process, off the server's GIL"
        slo = Config().slo.catalog[0]
        now = datetime.now(UTC)
        png = work.cpu(render_png, [Panel(slo=slo, series=[Series(labels={}, points=[(now, 0.001)])])],
                       title="t", start=now - timedelta(minutes=5), end=now)
    assert png.startswith(b"\x89PNG")
    assert Work().cpu(os.getpid) == os.getpid()  # the console and the CLI draw inline
