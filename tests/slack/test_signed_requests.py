"""Slack drives the bot over signed HTTP; unsigned or stale requests run nothing."""

from __future__ import annotations

import json
import time

from tests.support.bot import running_bot
from tests.support.slack import SlackRecorder


def test_help_lists_every_subcommand_in_the_ack(slack_recorder: SlackRecorder) -> None:
    with running_bot(slack_recorder) as bot:
        status, body = bot.command("help")
        registered = bot.runtime.registry.subcommands
    assert status == 200
    reply = json.loads(body)
    assert reply["response_type"] == "ephemeral"
    text = "\n".join(block["text"]["text"] for block in reply["blocks"] if "text" in block)
    assert registered
    for name in registered:
        assert f"/bizra {registered[name].usage}" in text


def test_unknown_subcommand_gets_ephemeral_usage(slack_recorder: SlackRecorder) -> None:
    with running_bot(slack_recorder) as bot:
        status, body = bot.command("deploy-everything now")
    assert status == 200
    reply = json.loads(body)
    assert reply["response_type"] == "ephemeral"
    assert "`deploy-everything` is not a /bizra subcommand" in reply["text"]
    assert "help" in reply["text"]


def test_bad_signature_is_rejected_and_runs_nothing(slack_recorder: SlackRecorder) -> None:
    with running_bot(slack_recorder) as bot:
        status, _ = bot.command("help", secret="not-the-secret")
    assert status == 401
    assert slack_recorder.calls() == []


def test_stale_timestamp_is_rejected_and_runs_nothing(slack_recorder: SlackRecorder) -> None:
    with running_bot(slack_recorder) as bot:
        status, _ = bot.command("help", timestamp=int(time.time()) - 6 * 60)
    assert status == 401
    assert slack_recorder.calls() == []


def test_healthz_answers(slack_recorder: SlackRecorder) -> None:
    import urllib.request

    with running_bot(slack_recorder) as bot, urllib.request.urlopen(bot.url + "/healthz", timeout=5) as response:
        assert response.status == 200
