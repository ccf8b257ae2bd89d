"""The `/bizra` subcommand registry and the parsing of what the user typed.

Each feature module in `bot/handlers/` registers its subcommands with `@subcommand`; Slack, the
console and tests all dispatch through `dispatch()`, so every surface parses and authorizes the
same way.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel

from bot.runtime import Runtime


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


Handler = Callable[[Invocation, Runtime], Reply]


@dataclass(frozen=True)
class Subcommand:
    name: str
    usage: str
    summary: str
    handler: Handler
    # Long work (cluster calls, Prometheus queries) runs after Slack's 3-second ack.
    slow: bool = True


REGISTRY: dict[str, Subcommand] = {}


def subcommand(name: str, *, usage: str, summary: str, slow: bool = True) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if name in REGISTRY:
            raise RuntimeError(f"subcommand {name!r} registered twice")
        REGISTRY[name] = Subcommand(name=name, usage=usage, summary=summary, handler=handler, slow=slow)
        return handler

    return register


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


def lookup(name: str) -> Subcommand:
    from bot import handlers  # noqa: F401  (registers every subcommand)

    found = REGISTRY.get(name)
    if found is None:
        known = ", ".join(sorted(REGISTRY))
        raise UsageError(f"`{name}` is not a /bizra subcommand. Try one of: {known} (or `/bizra help`).")
    return found


def dispatch(invocation: Invocation, runtime: Runtime) -> Reply:
    """Run a parsed invocation; usage problems become an ephemeral answer, never an exception."""
    try:
        command = lookup(invocation.subcommand)
        return command.handler(invocation, runtime)
    except UsageError as exc:
        return Reply(result=str(exc), ephemeral=True)
