"""`bizra serve` in HTTP mode as a real process: signed requests in, SIGTERM out without losing work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.gates.evidence import RELEASE_KEY, copy_shipped
from tests.slack.test_socket_mode import REPO, _free_port
from tests.support.polling import wait_until
from tests.support.slack import SlackRecorder, post, sign, slash_command_body

SIGNING_SECRET = "test-signing-secret"


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


# SIGTERM is Kubernetes stopping the pod; SIGINT is Ctrl-C on a terminal running serve: both stop in order.
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_work_acknowledged_before_the_stop_signal_still_reaches_slack(
    slack_recorder: SlackRecorder, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    config = tmp_path / "bizra.yaml"
    config.write_text(yaml.safe_dump({
        "gates": {"artifacts_dir": str(copy_shipped(tmp_path / "artifacts")), "trusted_keys": [str(RELEASE_KEY)]},
        "slo": {"enabled": False},
        "store": {"path": str(tmp_path / "state.sqlite")},
    }), encoding="utf-8")
    port = _free_port()
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_API_URL": slack_recorder.api_url, "HOST": "127.0.0.1", "PORT": str(port), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "serve"], cwd=REPO, env=env,
                                   stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _healthy(port), timeout=20, what="serve's /healthz")
        body = slash_command_body("gates", response_url=slack_recorder.response_url("term"))
        status, _ = post(f"http://127.0.0.1:{port}/slack/events", body, sign(SIGNING_SECRET, body))
        assert status == 200
        process.send_signal(stop_signal)  # right after the ack, while the verdict may still be in the making
        assert process.wait(timeout=20) == 0, log.read_text()
        [verdict] = slack_recorder.responses("term")
        assert "grade A+" in verdict.body["text"]
        assert f"{stop_signal.name}: stopping" in log.read_text()
        assert "Traceback" not in log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
