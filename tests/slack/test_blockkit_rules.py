"""The recording server refuses what Slack refuses, so the other tests' posts are proven renderable."""

from __future__ import annotations

from tests.support.blockkit import problems


def test_valid_message_passes() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Release gates: A+"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*1.* ok"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "asked by <@U1>"}]},
        {"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Acknowledge"}, "action_id": "a.1", "value": "x"},
            {"type": "button", "text": {"type": "plain_text", "text": "Dashboard"}, "url": "https://g.example"},
        ]},
        {"type": "divider"},
    ]
    assert problems(blocks) == []


def test_each_broken_rule_is_named() -> None:
    assert problems([{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]) == [
        "blocks[0].text: must be plain_text"]
    assert "3001 characters, more than 3000" in problems(
        [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}])[0]
    assert "more than 50" in problems([{"type": "divider"}] * 51)[0]
    long_button = {"type": "button", "text": {"type": "plain_text", "text": "b" * 76}, "action_id": "a"}
    assert "more than 75" in problems([{"type": "actions", "elements": [long_button]}])[0]
    twice = {"type": "button", "text": {"type": "plain_text", "text": "b"}, "action_id": "same"}
    assert "not unique" in problems([{"type": "actions", "elements": [twice, dict(twice)]}])[0]
    assert "empty text" in problems([{"type": "section", "text": {"type": "mrkdwn", "text": ""}}])[0]
    assert "unknown block type" in problems([{"type": "tabel"}])[0]
