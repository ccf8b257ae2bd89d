"""`bizra serve` in Socket Mode: the real process, connected to a Socket Mode server on 127.0.0.1.

With `SLACK_APP_TOKEN` set, serve asks `apps.connections.open` (on the recording Web API server)
for a WebSocket URL, connects, and answers envelopes with acks on the socket; slow work still
answers through `response_url`, and `/healthz` stays on HTTP for the container's health check.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.gates.evidence import GATE_NAMES, RELEASE_KEY, copy_shipped
from tests.support.slack import SlackRecorder
from tests.support.socket_mode import SocketModeServer

REPO = Path(__file__).resolve().parents[2]
APP_TOKEN = "xapp-1-A0-test-app-token"  # made up; never a real workspace's
BOT_TOKEN = "xoxb-test-bot-token"
SIGNING_SECRET = "test-signing-secret"


@dataclass
class ServeProcess:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _serving(tmp_path: Path, *, hold_handshake: bool = False) -> Iterator[tuple[SlackRecorder, SocketModeServer,
                                                                                ServeProcess]]:
    """A recording Slack, its Socket Mode server, and `bizra serve` connected to it (stopped on exit).

    hold_handshake: yield while serve is still inside its connect, its upgrade request unanswered."""
    recorder = SlackRecorder().start()
    socket_mode = SocketModeServer(recorder).start()
    if hold_handshake:
        socket_mode.hold_handshakes.set()
    try:
        config = tmp_path / "bizra.yaml"
        config.write_text(yaml.safe_dump({
            "gates": {"artifacts_dir": str(copy_shipped(tmp_path / "artifacts")), "trusted_keys": [str(RELEASE_KEY)]},
            "slo": {"enabled": False},
            "store": {"path": str(tmp_path / "state.sqlite")},
        }), encoding="utf-8")
        port = _free_port()
        # What the conftest's cleanup removes (module-scoped, this runs before that autouse fixture does).
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("SLACK_") and k not in ("KUBECONFIG", "BIZRA_CONFIG", "PORT", "HOST")}
        env.update({
            "SLACK_APP_TOKEN": APP_TOKEN,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": recorder.api_url,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "PYTHONUNBUFFERED": "1",
        })
        log = tmp_path / "serve.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot", "--config", str(config), "serve"],
                cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
            )
        running = ServeProcess(process=process, port=port, log=log)
        try:
            try:
                if hold_handshake:
                    socket_mode.wait_handshake_held(timeout=15)
                else:
                    socket_mode.wait_connected(timeout=15)
            except AssertionError as exc:
                raise AssertionError(f"{exc}; exit code {process.poll()}; serve's log:\n{running.output()}") from exc
            yield recorder, socket_mode, running
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
    finally:
        socket_mode.stop()
        recorder.stop()
    assert not socket_mode.problems, f"Slack's Socket Mode server would reject: {socket_mode.problems}"
    assert not recorder.block_problems, f"Slack would refuse these messages: {recorder.block_problems}"


@pytest.fixture(scope="module")
def _shared_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SlackRecorder, SocketModeServer,
                                                                               ServeProcess]]:
    """One `bizra serve` for the module's tests (starting and stopping one costs seconds); each test uses
    its own response_url names, so what one test reads is what it caused."""
    with _serving(tmp_path_factory.mktemp("socket-mode")) as shared:
        yield shared


@pytest.fixture
def slack_recorder(_shared_serve: tuple[SlackRecorder, SocketModeServer, ServeProcess]) -> Iterator[SlackRecorder]:
    recorder = _shared_serve[0]
    yield recorder
    assert not recorder.block_problems, f"Slack would refuse these messages: {recorder.block_problems}"


@pytest.fixture
def socket_mode(_shared_serve: tuple[SlackRecorder, SocketModeServer, ServeProcess]) -> Iterator[SocketModeServer]:
    server = _shared_serve[1]
    yield server
    assert not server.problems, f"Slack's Socket Mode server would reject: {server.problems}"


@pytest.fixture
def serve(_shared_serve: tuple[SlackRecorder, SocketModeServer, ServeProcess]) -> ServeProcess:
    running = _shared_serve[2]
    assert running.process.poll() is None, f"serve exited with {running.process.returncode}:\n{running.output()}"
    return running


def test_serve_connects_with_the_app_token(serve: ServeProcess, slack_recorder: SlackRecorder) -> None:
    [opened] = slack_recorder.calls("apps.connections.open")
    assert opened.headers["Authorization"] == f"Bearer {APP_TOKEN}"
    assert serve.process.poll() is None


def test_gates_over_socket_mode_acks_then_posts_the_verdict(
    serve: ServeProcess, socket_mode: SocketModeServer, slack_recorder: SlackRecorder
) -> None:
    envelope = socket_mode.push_slash_command(
        "gates", response_url=slack_recorder.response_url("sm-gates"), user_id="U777"
    )
    ack = socket_mode.ack_for(envelope)
    assert ack["payload"]["response_type"] == "ephemeral"
    assert "gates" in ack["payload"]["text"]

    slack_recorder.wait_for(lambda _: bool(slack_recorder.responses("sm-gates")), what="the verdict on response_url")
    [answer] = slack_recorder.responses("sm-gates")
    verdict = answer.body
    assert verdict["response_type"] == "in_channel"
    assert verdict["blocks"][0]["text"]["text"] == "Release gates: grade A+ · score 1.000"
    gate_lines = [block["text"]["text"] for block in verdict["blocks"] if block["type"] == "section"][1:]
    assert len(gate_lines) == 9
    for number, (line, name) in enumerate(zip(gate_lines, GATE_NAMES, strict=True), start=1):
        assert line.startswith(f":white_check_mark: *{number}. {name}*")
    assert "asked by <@U777>" in verdict["blocks"][-1]["elements"][0]["text"]


def test_unknown_subcommand_is_answered_in_the_ack(
    serve: ServeProcess, socket_mode: SocketModeServer, slack_recorder: SlackRecorder
) -> None:
    envelope = socket_mode.push_slash_command("bogus", response_url=slack_recorder.response_url("sm-bogus"))
    ack = socket_mode.ack_for(envelope)
    assert ack["payload"]["response_type"] == "ephemeral"
    assert "`bogus` is not a /bizra subcommand" in ack["payload"]["text"]
    assert "/bizra help" in ack["payload"]["text"]
    assert not slack_recorder.responses("sm-bogus")  # nothing else runs for a usage error


def test_button_click_envelope_is_acked(
    serve: ServeProcess, socket_mode: SocketModeServer, slack_recorder: SlackRecorder
) -> None:
    envelope = socket_mode.push_button_click(
        action_id="nobody-handles-this", value="x", user_id="U123", response_url=slack_recorder.response_url("sm-btn")
    )
    assert socket_mode.ack_for(envelope) == {"envelope_id": envelope}


def test_healthz_answers_on_http_in_socket_mode(serve: ServeProcess) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{serve.port}/healthz", timeout=5) as response:
        assert response.status == 200
        assert json.loads(response.read())["status"] == "ok"


def test_secrets_stay_out_of_the_log(
    serve: ServeProcess, socket_mode: SocketModeServer, slack_recorder: SlackRecorder
) -> None:
    envelope = socket_mode.push_slash_command("gates", response_url=slack_recorder.response_url("sm-log"))
    socket_mode.ack_for(envelope)
    slack_recorder.wait_for(lambda _: bool(slack_recorder.responses("sm-log")), what="the verdict on response_url")
    output = serve.output()
    assert "Socket Mode" in output  # the log was written, so its absence of secrets means something
    for secret in (APP_TOKEN, BOT_TOKEN, SIGNING_SECRET):
        assert secret not in output


def test_sigterm_closes_the_socket_and_exits_cleanly(tmp_path: Path) -> None:
    with _serving(tmp_path) as (_, _, serve):  # a process of its own: this test stops it
        serve.process.terminate()  # what Kubernetes sends when it stops the pod
        assert serve.process.wait(timeout=15) == 0, serve.output()
        assert "SIGTERM: stopping" in serve.output()


def test_sigterm_during_the_socket_mode_connect_still_stops_serve(tmp_path: Path) -> None:
    """Found in CI: a SIGTERM landing while serve was inside the WebSocket connect was swallowed by
    slack_sdk's reconnect (it catches every Exception there), and the pod ran on until SIGKILL."""
    with _serving(tmp_path, hold_handshake=True) as (_, socket_mode, serve):
        serve.process.terminate()  # serve is waiting for the 101 to its upgrade request
        socket_mode.release_handshakes()
        try:
            code = serve.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            code = None
        assert code == 0, f"exit code {code}; serve's log:\n{serve.output()}"
        assert "SIGTERM: stopping" in serve.output()
