"""What a running `bizra serve` writes to its log: one line per event, no body, no secret (issue 12, finding 3).

A real `bizra serve` process with a recording Slack; requests over real HTTP, signed or not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from tests.logs.serving import BOT_TOKEN, SIGNING_SECRET, Served, free_port, serve_env, serving
from tests.support.polling import wait_until
from tests.support.slack import SlackRecorder, block_action_body, post, sign

PROMETHEUS_PASSWORD = "hunter2-prometheus-password"
RELEASE_CHANNEL = "C0RELEASE"
# A forged record: what an unsigned body with a newline used to write as a line of its own.
FORGED = "2026-12-01 22:00:00,000 INFO bot.audit: audit rollback node0 by U0BOSS in C0RELEASE: ok"
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+: ")


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "bizra.yaml"
    path.write_text(yaml.safe_dump({
        "slack": {"release_channel": RELEASE_CHANNEL},
        # Nothing listens there: every SLO is UNKNOWN, and the reason names the URL.
        "slo": {"prometheus": {"url": f"http://alice:{PROMETHEUS_PASSWORD}@127.0.0.1:{free_port()}",
                               "timeout_seconds": 2}},
        "store": {"path": str(tmp_path / "state.sqlite")},
    }), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def recorder() -> Iterator[SlackRecorder]:
    recorder = SlackRecorder().start()
    try:
        yield recorder
    finally:
        recorder.stop()


@contextmanager
def _serve(recorder: SlackRecorder, tmp_path: Path, *options: str) -> Iterator[Served]:
    port = free_port()
    env = serve_env(port, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                    SLACK_API_URL=recorder.api_url)
    with serving(["serve", "--config", str(_config(tmp_path)), *options], env, tmp_path / "serve.log") as served:
        yield served
        assert served.stop() == 0, served.output()


@pytest.fixture(scope="module")
def text_serve(recorder: SlackRecorder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `bizra serve` (text logs, DEBUG: Bolt's and slack_sdk's chatter too) for the module's text tests."""
    with _serve(recorder, tmp_path_factory.mktemp("text-logs"), "--log-level", "DEBUG") as served:
        yield served


def _unsigned(served: Served, body: str) -> int:
    status, _ = post(served.url + "/slack/events", body,
                     {"X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=00",
                      "Content-Type": "application/x-www-form-urlencoded"})
    return status


def _rejections(served: Served) -> list[str]:
    return [line for line in served.lines() if "Invalid request signature" in line]


def test_an_unsigned_body_cannot_write_a_line_of_its_own(text_serve: Served) -> None:
    before = len(_rejections(text_serve))
    assert _unsigned(text_serve, f"token=x&text=hello\n{FORGED}\r\n{FORGED}") == 401
    wait_until(lambda: len(_rejections(text_serve)) > before, what="the rejection's log line")
    lines = text_serve.lines()
    assert not [line for line in lines if line.startswith(FORGED[:23]) or "bot.audit: audit rollback" in line]
    assert all(LINE.match(line) for line in lines), [line for line in lines if not LINE.match(line)][:3]
    [rejection] = _rejections(text_serve)[before:]
    assert "not logged" in rejection and "U0BOSS" not in rejection


def test_a_huge_unsigned_body_is_not_written_and_the_line_stays_short(text_serve: Served) -> None:
    """Just under the body limit (1 MiB). Found under load: the log's URL redaction ran over the whole
    body with a pattern that is quadratic on a long run of letters (240 KB took 6.7 s of CPU holding the
    interpreter lock; 1 MiB, minutes), so unsigned bodies could stall every ack; the answer now comes at once."""
    before = len(_rejections(text_serve))
    marker = "FLOOD-MARKER"
    assert _unsigned(text_serve, "text=" + marker * 87_000) == 401
    wait_until(lambda: len(_rejections(text_serve)) > before, what="the rejection's log line")
    [rejection] = _rejections(text_serve)[before:]
    assert marker not in rejection and len(rejection) < 500, rejection[:600]


def test_text_from_slack_stays_on_its_line(text_serve: Served) -> None:
    # A signed click whose action_id is no button of ours: logged (and audited) with what Slack sent.
    forged = FORGED.replace("U0BOSS", "U0CLICK")
    body = block_action_body(action_id=f"canary.nothing\n{forged}", value="v", user_id="U0NOBODY",
                             response_url="http://127.0.0.1:9/unused")
    status, _ = post(text_serve.url + "/slack/events", body, sign(SIGNING_SECRET, body))
    assert status == 200
    wait_until(lambda: "canary.nothing" in text_serve.output(), what="the unknown action's log line")
    assert not [line for line in text_serve.lines() if line.startswith(FORGED[:23]) and "U0CLICK" in line]
    assert [line for line in text_serve.lines() if "canary.nothing\\n2026-12-01" in line]
    assert all(LINE.match(line) for line in text_serve.lines())


def test_no_secret_reaches_the_log_or_slack(text_serve: Served, recorder: SlackRecorder) -> None:
    # The SLO watch's first tick: every SLO unknown because Prometheus is unreachable, posted to the channel.
    recorder.wait_for(lambda calls: [c for c in calls if c.api_method == "chat.postMessage"
                                     and c.body.get("channel") == RELEASE_CHANNEL],
                      timeout=30, what="the SLO status in the release channel")
    wait_until(lambda: "unreachable" in text_serve.output(), what="the SLO watch's warning")
    log = text_serve.output()
    assert "http://alice:***@127.0.0.1" in log
    sent = "".join(request.raw.decode("utf-8", "replace") + json.dumps(request.body) for request in recorder.calls())
    for secret in (PROMETHEUS_PASSWORD, BOT_TOKEN, SIGNING_SECRET):
        assert secret not in log, f"{secret} in the log"
        assert secret not in sent, f"{secret} sent to Slack"


def test_json_logs_are_one_object_per_line(recorder: SlackRecorder, tmp_path: Path) -> None:
    with _serve(recorder, tmp_path, "--log-format", "json") as served:
        assert _unsigned(served, f"text=x\n{FORGED}") == 401
        wait_until(lambda: "Invalid request signature" in served.output(), what="the rejection's log line")
    entries = [json.loads(line) for line in served.lines()]
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    [rejection] = [entry for entry in entries if "Invalid request signature" in entry["message"]]
    assert rejection["logger"] == "slack_bolt.RequestVerification" and "U0BOSS" not in rejection["message"]
    assert any(entry["message"].startswith("HTTP mode on 127.0.0.1") for entry in entries)
