"""`bot.core.logs`: every record on one line, cut, with known secrets redacted (issue 12, finding 3).

A real logger writing through the formatter `bizra` installs, into a string.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.core.logs import MAX_MESSAGE, MAX_VALUE, SECRETS, JsonFormatter, SafeFormatter
from bot.surfaces.cli.common import config_from


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter())
    logger = logging.getLogger("bot.tests.logs")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield logger, stream, handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        SECRETS.clear()


def _lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().split("\n")[:-1]


def test_control_characters_in_message_and_arguments_stay_on_the_line(logged: tuple) -> None:
    logger, stream, _ = logged
    logger.info("audit %s by %s\nsecond", "rollback\r\nnode0\u2028x", "U1\x1b[2J")
    [line] = _lines(stream)
    assert line.endswith(r"bot.tests.logs: audit rollback\r\nnode0\u2028x by U1\x1b[2J\nsecond")


def test_long_values_and_messages_are_cut_saying_how_much(logged: tuple) -> None:
    logger, stream, _ = logged
    logger.warning("value %s", "v" * 10_000)
    logger.warning("x" * 50_000)
    first, second = _lines(stream)
    assert f"{'v' * MAX_VALUE}…[{10_000 - MAX_VALUE} more characters]" in first
    assert len(second) < MAX_MESSAGE + 100 and "more characters]" in second


def test_a_traceback_is_part_of_the_line(logged: tuple) -> None:
    logger, stream, _ = logged
    try:
        raise RuntimeError("boom\nINFO forged")
    except RuntimeError:
        logger.exception("job failed")
    [line] = _lines(stream)
    assert "job failed | Traceback (most recent call last):\\n" in line and "RuntimeError: boom\\nINFO forged" in line


def test_url_passwords_and_registered_secrets_are_redacted(logged: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    logger, stream, _ = logged
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "R0UTINGKEY0123456789")
    SECRETS.add_env(["PAGERDUTY_ROUTING_KEY", "NOT_SET_ANYWHERE"])
    logger.info("Prometheus at %s; key %s", "https://bot:s3cret-pw@prom.example:9090/x", "R0UTINGKEY0123456789")
    [line] = _lines(stream)
    assert "https://bot:***@prom.example:9090/x" in line and "key ***" in line
    assert "s3cret-pw" not in line and "R0UTINGKEY" not in line


def test_a_response_url_s_token_is_redacted(logged: tuple) -> None:
    logger, stream, _ = logged
    logger.info("Going to retry the same request: POST %s", "https://hooks.slack.com/commands/T0/1234/S3cr3tT0ken")
    [line] = _lines(stream)
    assert line.endswith("POST https://hooks.slack.com/commands/***") and "S3cr3tT0ken" not in line


def test_a_secret_is_redacted_before_it_is_cut(logged: tuple) -> None:
    logger, stream, _ = logged
    secret = "xoxb-" + "9" * 40
    SECRETS.add(secret)
    logger.info("%s", "a" * (MAX_VALUE - 10) + secret)
    [line] = _lines(stream)
    assert "xoxb-99" not in line and "99999" not in line


def test_the_variables_the_config_names_are_redacted(logged: tuple, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    logger, stream, _ = logged
    monkeypatch.setenv("PROM_PASSWORD", "prom-basic-auth-password")
    monkeypatch.setenv("PD_KEY", "pagerduty-routing-key-value")
    path = tmp_path / "bizra.yaml"
    path.write_text(yaml.safe_dump({"slo": {
        "prometheus": {"basic_auth_user": "bot", "basic_auth_password_env": "PROM_PASSWORD"},
        "pagerduty": {"routing_key_env": "PD_KEY"},
    }}), encoding="utf-8")
    config_from(argparse.Namespace(config=str(path)))
    logger.error("request failed: auth=('bot', 'prom-basic-auth-password') json={'routing_key': "
                 "'pagerduty-routing-key-value'}")
    [line] = _lines(stream)
    assert "prom-basic-auth-password" not in line and "pagerduty-routing-key-value" not in line


def test_bolt_s_rejected_bodies_are_not_written(logged: tuple) -> None:
    _, stream, handler = logged
    bolt = logging.getLogger("slack_bolt.RequestVerification")
    bolt.addHandler(handler)
    try:
        bolt.warning("Invalid request signature detected (signature: v0=1, timestamp: 2, body: %s)", "a=b" * 1000)
        bolt.warning("Unhandled request ({'type': 'block_actions', 'user': {'id': 'U1'}})\n---\n[Suggestion] …")
    finally:
        bolt.removeHandler(handler)
    first, second = [line.split(": ", 1)[1] for line in _lines(stream)]
    assert first == ("Invalid request signature detected (signature: v0=1, timestamp: 2, "
                     "body: <3001 characters not logged>")
    assert second.startswith("Unhandled request (body of ") and "U1" not in second


def test_json_lines_carry_the_same_safe_message(logged: tuple) -> None:
    logger, stream, handler = logged
    handler.setFormatter(JsonFormatter())
    try:
        raise ValueError("bad")
    except ValueError:
        logger.exception("first\nline %s", "https://u:pw12345@h/")
    [line] = _lines(stream)
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "bot.tests.logs"
    assert entry["message"] == "first\\nline https://u:***@h/"
    assert entry["error"].startswith("Traceback") and "\n" not in entry["error"]
