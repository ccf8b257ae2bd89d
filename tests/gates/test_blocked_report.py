"""When evidence changed after signing: gate 9 counts every digest, and the headline says the release is blocked."""

from __future__ import annotations

import json
from pathlib import Path

from bot.core.config import BizraConfig
from bot.features.gates.render import headline, report_text
from bot.features.gates.settings import GatesSettings
from commands.gates import Outcome, evaluate_release
from tests.gates.evidence import RELEASE_KEY, copy_shipped, release_key
from tests.support.bot import running_bot
from tests.support.slack import SlackRecorder


def _bump(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def test_one_changed_file_counts_three_of_four(tmp_path: Path) -> None:
    artifacts = copy_shipped(tmp_path / "artifacts")
    _bump(artifacts / "cb.json", "523793", "523794")
    report = evaluate_release(artifacts_dir=artifacts, trusted_keys=[release_key()])
    gate9 = report.gates[8]
    assert gate9.outcome is Outcome.FAIL
    assert gate9.measured == "key 5f3149e4837fa175, 3/4 digests match; cb.json changed since it was signed"
    assert headline(report).startswith("Release BLOCKED: 1 of 9 gates not passing (grade A · score 0.889)")
    assert "grade A" not in headline(report).split("(")[0]
    text = report_text(report)
    assert text.startswith("Release BLOCKED")
    assert "verdict: NOT ready" in text


def test_every_changed_and_missing_file_is_named(tmp_path: Path) -> None:
    artifacts = copy_shipped(tmp_path / "artifacts")
    _bump(artifacts / "cb.json", "523793", "523794")
    _bump(artifacts / "planner_eval.json", "0.985", "0.986")
    (artifacts / "cache.json").unlink()
    gate9 = evaluate_release(artifacts_dir=artifacts, trusted_keys=[release_key()]).gates[8]
    assert gate9.measured == (
        "key 5f3149e4837fa175, 1/4 digests match; cb.json, planner_eval.json changed since they were signed; "
        "cache.json missing on disk"
    )


def test_all_passing_keeps_the_grade_headline(tmp_path: Path) -> None:
    report = evaluate_release(artifacts_dir=copy_shipped(tmp_path / "artifacts"), trusted_keys=[release_key()])
    assert headline(report) == "Release gates: grade A+ · score 1.000"
    assert report.gates[8].measured == "key 5f3149e4837fa175, 4/4 digests match"


def test_untrusted_key_claims_no_digest_count(tmp_path: Path) -> None:
    gate9 = evaluate_release(artifacts_dir=copy_shipped(tmp_path / "artifacts"), trusted_keys=[]).gates[8]
    assert gate9.outcome is Outcome.FAIL
    assert gate9.measured == "key 5f3149e4837fa175, signature not verified"


def test_slack_headline_says_blocked(slack_recorder: SlackRecorder, tmp_path: Path) -> None:
    artifacts = copy_shipped(tmp_path / "artifacts")
    _bump(artifacts / "cb.json", "523793", "523794")
    config = BizraConfig(gates=GatesSettings(artifacts_dir=artifacts, trusted_keys=[RELEASE_KEY]))
    config.store.path = tmp_path / "state.sqlite"
    with running_bot(slack_recorder, config=config) as bot:
        status, _ = bot.command("gates")
        assert status == 200
        slack_recorder.wait_for(lambda _: bool(slack_recorder.responses("cmd")), what="the gates verdict")
        [answer] = slack_recorder.responses("cmd")
    blocks = answer.body["blocks"]
    assert blocks[0]["text"]["text"] == "Release BLOCKED: 1 of 9 gates not passing (grade A · score 0.889)"
    assert answer.body["text"].startswith("Release BLOCKED")
    assert "3/4 digests match; cb.json changed since it was signed" in json.dumps(blocks, ensure_ascii=False)
