"""`/bizra help <subcommand>` and "did you mean" over signed Slack requests, as Slack sends them."""

from __future__ import annotations

import json

from tests.support.bot import running_bot
from tests.support.slack import SlackRecorder


def _text(reply: dict[str, object]) -> str:
    blocks = reply.get("blocks") or []
    assert isinstance(blocks, list)
    return "\n".join(block["text"]["text"] for block in blocks if "text" in block)


def test_help_for_one_subcommand_shows_its_forms_and_permissions(slack_recorder: SlackRecorder) -> None:
    with running_bot(slack_recorder) as bot:
        status, body = bot.command("help canary")
    assert status == 200
    reply = json.loads(body)
    assert reply["response_type"] == "ephemeral"
    text = _text(reply)
    assert text.splitlines()[0] == "/bizra canary"
    assert "`/bizra canary start <image@sha256:digest> [--force \"<reason>\"]`" in text
    assert "`/bizra canary status` needs `canary.status` (held by everyone, role viewer, role release-manager)" in text
    assert ("`/bizra canary start <image@sha256:digest>` needs `canary.start` "
            "(held by role deployer, role release-manager)") in text


def test_help_with_a_typo_suggests_the_subcommand(slack_recorder: SlackRecorder) -> None:
    with running_bot(slack_recorder) as bot:
        _, in_help = bot.command("help gatse")
        _, top_level = bot.command("gatse")
    for body in (in_help, top_level):
        reply = json.loads(body)
        assert reply["response_type"] == "ephemeral"
        assert "`gatse` is not a /bizra subcommand. Did you mean `gates`?" in reply["text"]


def test_no_suggestion_for_a_word_like_no_subcommand(slack_recorder: SlackRecorder) -> None:
    with running_bot(slack_recorder) as bot:
        _, body = bot.command("xyzzy")
    text = json.loads(body)["text"]
    assert "is not a /bizra subcommand" in text and "Did you mean" not in text


def test_help_listing_points_to_per_subcommand_help(slack_recorder: SlackRecorder) -> None:
    with running_bot(slack_recorder) as bot:
        _, body = bot.command("help")
    reply = json.loads(body)
    assert any(
        "`/bizra help <subcommand>`" in element["text"]
        for block in reply["blocks"] if block["type"] == "context" for element in block["elements"]
    )


def test_console_help_for_a_subcommand_is_plain_text() -> None:
    from bot.assembly import build_runtime
    from bot.core.config import BizraConfig, Secrets
    from bot.surfaces.console import run_line

    runtime = build_runtime(BizraConfig(), Secrets(), surface="console")
    text = run_line("/bizra help rollback", runtime, user_id="console:root")
    assert text.startswith("/bizra rollback — Roll NODE0 back")
    assert "  /bizra rollback confirm <id>" in text  # usages keep their <placeholders> on the terminal
    assert "needs rollback (held by role responder, role release-manager)" in text
    assert "`" not in text
