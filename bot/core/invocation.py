"""What a user asked for (a typed `/bizra` command or a button click) and what a handler answers.

Slack, the console and tests all build an `Invocation` with `parse()` and dispatch it through the
runtime's registry, so every surface parses and authorizes the same way.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from pydantic import BaseModel


@dataclass(frozen=True)
class Invocation:
    """Who typed what, where. `args` are the words after the subcommand, shell-quoted."""

    text: str
    subcommand: str
    args: list[str]
    user_id: str = "console"
    user_name: str = "console"
    channel_id: str = "console"
    team_id: str = ""
    user_groups: frozenset[str] = frozenset()
    response_url: str | None = None
    trigger_id: str | None = None


@dataclass
class Reply:
    """What a handler answers: a result model (rendered per surface) or plain text.

    `ephemeral` replies go only to the person who asked (usage errors, refusals); others are
    posted in the channel for everyone to see.
    """

    result: BaseModel | str
    ephemeral: bool = False
    # For button clicks: replace the message that held the button (a confirmation, say).
    replace_original: bool = False
    followups: list[BaseModel | str] = field(default_factory=list)


@dataclass(frozen=True)
class ActionInvocation:
    """A button click. Slack may deliver one twice (a retry, a double click): handlers that change
    state must be idempotent on the button's `value`."""

    action_id: str
    value: str
    user_id: str
    user_name: str = ""
    channel_id: str = ""
    message_ts: str | None = None
    thread_ts: str | None = None
    response_url: str | None = None
    user_groups: frozenset[str] = frozenset()


class UsageError(Exception):
    """The user typed something we cannot run; the message says what to type instead."""


def parse(text: str) -> tuple[str, list[str]]:
    """Split `gates --json` into ("gates", ["--json"]); an empty text means help."""
    stripped = text.strip()
    if stripped.startswith("/bizra"):
        stripped = stripped[len("/bizra") :].strip()
    try:
        words = shlex.split(stripped)
    except ValueError as exc:
        raise UsageError(f"I could not read that: {exc}. Check your quotes.") from exc
    if not words:
        return "help", []
    return words[0].lower(), words[1:]
