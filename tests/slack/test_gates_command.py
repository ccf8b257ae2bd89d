"""`/bizra gates` as Slack drives it: signed request → quick ephemeral ack → verdict via response_url."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.core.config import BizraConfig
from bot.features.gates.settings import GatesSettings
from tests.gates.evidence import GATE_NAMES, RELEASE_KEY, copy_shipped
from tests.support.bot import running_bot
from tests.support.slack import SlackRecorder


def _config(artifacts: Path, tmp_path: Path) -> BizraConfig:
    config = BizraConfig(gates=GatesSettings(artifacts_dir=artifacts, trusted_keys=[RELEASE_KEY]))
    config.store.path = tmp_path / "state.sqlite"
    return config


def _verdict(recorder: SlackRecorder) -> dict[str, Any]:
    recorder.wait_for(lambda _: bool(recorder.responses("cmd")), what="the gates verdict on response_url")
    [answer] = recorder.responses("cmd")
    return answer.body


def test_gates_posts_grade_and_all_nine_gates_in_channel(slack_recorder: SlackRecorder, tmp_path: Path) -> None:
    artifacts = copy_shipped(tmp_path / "artifacts")
    with running_bot(slack_recorder, config=_config(artifacts, tmp_path)) as bot:
        status, body = bot.command("gates", user_id="U777")
        assert status == 200
        ack = json.loads(body)
        assert ack["response_type"] == "ephemeral" and "gates" in ack["text"]
        answer = _verdict(slack_recorder)

    assert answer["response_type"] == "in_channel"
    blocks = answer["blocks"]
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"] == "Release gates: grade A+ · score 1.000"
    gate_lines = [block["text"]["text"] for block in blocks if block["type"] == "section"][1:]
    assert len(gate_lines) == 9
    for number, (line, name) in enumerate(zip(gate_lines, GATE_NAMES, strict=True), start=1):
        assert line.startswith(f":white_check_mark: *{number}. {name}*")
    assert "523,793 req/s (need ≥ 400,000 req/s)" in gate_lines[0]
    assert "1.1 ms (need ≤ 1.5 ms)" in gate_lines[1]
    context = blocks[-1]
    assert context["type"] == "context"
    context_text = context["elements"][0]["text"]
    assert "asked by <@U777>" in context_text
    digest = (artifacts / "cb.json").read_bytes()
    from commands.artifacts import sha256_of

    assert f"cb.json `{sha256_of(digest)[:12]}`" in context_text
    assert answer["text"].startswith("Release gates: grade A+")  # notification fallback


def test_gates_shows_which_gate_fails_when_evidence_changed(slack_recorder: SlackRecorder, tmp_path: Path) -> None:
    artifacts = copy_shipped(tmp_path / "artifacts")
    (artifacts / "cache.json").unlink()
    cb = artifacts / "cb.json"
    cb.write_text(cb.read_text(encoding="utf-8").replace("523793", "523794"), encoding="utf-8")
    with running_bot(slack_recorder, config=_config(artifacts, tmp_path)) as bot:
        status, _ = bot.command("gates")
        assert status == 200
        answer = _verdict(slack_recorder)

    assert answer["response_type"] == "in_channel"
    # A failing release says so first (issue 11), the grade second.
    assert answer["blocks"][0]["text"]["text"] == "Release BLOCKED: 3 of 9 gates not passing (grade C · score 0.667)"
    text = json.dumps(answer["blocks"], ensure_ascii=False)
    assert ":grey_question: *4. Cache L1 hit ratio*" in text
    assert ":x: *9. PoI attestation*" in text
    assert "cb.json changed since it was signed" in text
    assert "cache.json `missing`" in text


def test_gates_with_arguments_gets_ephemeral_usage(slack_recorder: SlackRecorder, tmp_path: Path) -> None:
    artifacts = copy_shipped(tmp_path / "artifacts")
    with running_bot(slack_recorder, config=_config(artifacts, tmp_path)) as bot:
        bot.command("gates --now")
        answer = _verdict(slack_recorder)
    assert answer["response_type"] == "ephemeral"
    assert "Usage: `/bizra gates`" in answer["text"]


def test_gates_with_missing_artifacts_dir_says_what_to_fix(slack_recorder: SlackRecorder, tmp_path: Path) -> None:
    with running_bot(slack_recorder, config=_config(tmp_path / "nowhere", tmp_path)) as bot:
        bot.command("gates")
        answer = _verdict(slack_recorder)
    assert answer["response_type"] == "ephemeral"
    assert "cannot be evaluated" in answer["text"] and "nowhere" in answer["text"]
