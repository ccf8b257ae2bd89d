"""Config: a bad file stops start-up with one message naming the file, the field and the problem."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.config import BizraConfig, ConfigError, load_config, load_secrets

REPO = Path(__file__).resolve().parents[2]


def test_example_config_loads_and_documents_the_defaults() -> None:
    example = load_config(REPO / "bizra.example.yaml")
    assert example == BizraConfig(), "bizra.example.yaml must show every default exactly"


def test_unknown_field_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bizra.yaml"
    path.write_text("slack:\n  comand: /bizra\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert "slack.comand" in message
    assert "Extra inputs are not permitted" in message


def test_wrong_type_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bizra.yaml"
    path.write_text("slack:\n  messages_per_second: lots\n")
    with pytest.raises(ConfigError, match=r"slack\.messages_per_second"):
        load_config(path)


def test_missing_and_unparsable_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("slack: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)


def test_secrets_never_show_in_their_representation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret-value")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-very-secret")
    secrets = load_secrets()
    shown = repr(secrets) + str(secrets) + secrets.model_dump_json()
    assert "very-secret" not in shown
    assert secrets.slack_bot_token is not None
    assert secrets.slack_bot_token.get_secret_value() == "xoxb-very-secret-value"


def test_cli_exits_2_with_the_message_on_a_bad_config(tmp_path: Path) -> None:
    path = tmp_path / "bizra.yaml"
    path.write_text("store:\n  path: [1, 2]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env["SLACK_SIGNING_SECRET"] = "s3cr3t-signing-value"
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(path), "serve"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert str(path) in done.stderr and "store.path" in done.stderr
    assert "s3cr3t-signing-value" not in done.stdout + done.stderr


def test_serve_without_signing_secret_says_what_to_set() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and k != "BIZRA_CONFIG"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "serve"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "SLACK_SIGNING_SECRET" in done.stderr
