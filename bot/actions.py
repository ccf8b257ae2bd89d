"""Registry of interactive actions (button clicks), parallel to the subcommand registry.

A feature registers `@action("prefix")`; a Block Kit button whose `action_id` starts with that
prefix is routed to it. Slack may deliver a click twice (a retry, a double click): handlers that
change state must be idempotent on the button's `value`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.runtime import Runtime
from bot.subcommands import Reply


@dataclass(frozen=True)
class ActionInvocation:
    action_id: str
    value: str
    user_id: str
    user_name: str = ""
    channel_id: str = ""
    message_ts: str | None = None
    thread_ts: str | None = None
    response_url: str | None = None
    user_groups: frozenset[str] = frozenset()


ActionHandler = Callable[[ActionInvocation, Runtime], Reply | None]

ACTIONS: dict[str, ActionHandler] = {}


def action(prefix: str) -> Callable[[ActionHandler], ActionHandler]:
    def register(handler: ActionHandler) -> ActionHandler:
        if prefix in ACTIONS:
            raise RuntimeError(f"action prefix {prefix!r} registered twice")
        ACTIONS[prefix] = handler
        return handler

    return register


def find_action(action_id: str) -> ActionHandler | None:
    from bot import handlers  # noqa: F401  (registers every action with its subcommands)

    for prefix, handler in ACTIONS.items():
        if action_id.startswith(prefix):
            return handler
    return None
