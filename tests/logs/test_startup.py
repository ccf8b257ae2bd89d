"""Start-up mistakes end in one line and exit 2, not a traceback or a broken bot (issue 12, finding 10).

`bizra serve` as a real process; config-file mistakes through the CLI (`bizra gates --config …`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.logs.serving import BOT_TOKEN, REPO, SIGNING_SECRET, free_port, healthy, serve_env
from tests.support.cli import RunCli
from tests.support.polling import wait_until

TOKEN_IN_FILE = "xoxb-1234-pasted-into-the-file"


def _serve_exit(tmp_path: Path, config: dict[str, object], **env: str) -> subprocess.CompletedProcess[str]:
    """Run `bizra serve --config FILE`; it must exit by itself (a bot that starts healthy fails the test)."""
    path = tmp_path / "bizra.yaml"
    path.write_text(yaml.safe_dump({"store": {"path": str(tmp_path / "state.sqlite")}, **config}), encoding="utf-8")
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--config", str(path)], cwd=REPO,
                               env=serve_env(port, **env), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: process.poll() is not None or healthy(port), timeout=30, what="serve to exit or start")
        assert process.poll() is not None, "bizra serve started although it cannot work"
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("bizra: ")
    return line


def test_serve_without_the_bot_token_names_it_and_how_to_set_it(tmp_path: Path) -> None:
    line = _one_line(_serve_exit(tmp_path, {"slack": {"release_channel": "C0RELEASE"}},
                                 SLACK_SIGNING_SECRET=SIGNING_SECRET))
    assert "SLACK_BOT_TOKEN is not set" in line and "export SLACK_BOT_TOKEN=" in line
    assert SIGNING_SECRET not in line


def test_serve_without_a_release_channel_while_the_slo_watch_is_on(tmp_path: Path) -> None:
    line = _one_line(_serve_exit(tmp_path, {}, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET))
    assert "slack.release_channel is empty" in line and "slo.enabled: false" in line
    assert BOT_TOKEN not in line


def test_everything_missing_is_named_in_the_one_line(tmp_path: Path) -> None:
    line = _one_line(_serve_exit(tmp_path, {}))
    assert "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are not set" in line and "slack.release_channel" in line


def test_a_yaml_syntax_error_names_file_line_and_column_but_not_the_line(bizra_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "bizra.yaml"
    path.write_text(f"slack:\n  command: /bizra\n token: {TOKEN_IN_FILE}: [\n", encoding="utf-8")
    done = bizra_cli("gates", "--config", path)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith(f"bizra: Config file {path} is not valid YAML at line 3, column 2: "), line
    assert TOKEN_IN_FILE not in done.stdout + done.stderr


def test_a_bad_value_names_its_line_but_not_the_value(bizra_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "bizra.yaml"
    path.write_text(f"slack:\n  release_channel: C1\nslo:\n  prometheus:\n    url: {TOKEN_IN_FILE}\n", encoding="utf-8")
    done = bizra_cli("gates", "--config", path)
    assert done.returncode == 2
    assert "slo.prometheus.url (line 5, column 5): " in done.stderr, done.stderr
    assert TOKEN_IN_FILE not in done.stdout + done.stderr


def test_a_character_yaml_refuses_is_named_by_position_not_shown_with_its_line(bizra_cli: RunCli,
                                                                               tmp_path: Path) -> None:
    path = tmp_path / "bizra.yaml"
    path.write_text(f"slack:\n  command: {TOKEN_IN_FILE}\x01\n", encoding="utf-8")
    done = bizra_cli("gates", "--config", path)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert "is not valid YAML at character " in line and "#x0001" in line
    assert TOKEN_IN_FILE not in done.stdout + done.stderr
