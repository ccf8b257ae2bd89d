"""Enforcing roles: `require(...)` answers None (go ahead) or the refusal text, and audits refusals.

Every handler that changes state (or reads something restricted) calls

    refusal = require(runtime, user_id=…, user_groups=…, channel_id=…, permission="rollback")
    if refusal: return Reply(result=refusal, ephemeral=True)

Group membership: roles may name Slack user-group IDs (`S…`); `runtime.groups` (the Slack
adapter's directory) looks each one up and caches it for `access.group_cache_seconds`. A failed
lookup counts as "not a member" (refuse rather than guess). Groups passed in
`user_groups` by the caller are honoured as well. The console surface is the operator at their
own terminal: it holds `access.console_roles` and has no channel limits.
"""

from __future__ import annotations

import logging

from bot.core.audit import AuditOutcome, record
from bot.core.runtime import Runtime
from commands.access import Caller, Decision, Permission, Policy, decide

log = logging.getLogger(__name__)


def policy(runtime: Runtime) -> Policy:
    settings = runtime.config.access
    return Policy(
        everyone=settings.everyone,
        roles=settings.roles,
        console_roles=settings.console_roles,
        channels=settings.channels,
    )


def _groups_of(runtime: Runtime, user_id: str, given: frozenset[str]) -> frozenset[str]:
    settings = runtime.config.access
    if runtime.surface == "console" or not settings.resolve_groups or runtime.secrets.slack_bot_token is None:
        return given
    directory = runtime.groups.get()
    named = {group for role in settings.roles.values() for group in role.groups}
    found = {group for group in named - given if user_id in directory.members(group)}
    return given | found


def check(runtime: Runtime, *, user_id: str, user_groups: frozenset[str] | set[str] | None, channel_id: str,
          permission: Permission | str) -> Decision:
    """The decision alone, without auditing (for showing what a user could do)."""
    wanted = Permission(permission)
    given = frozenset(user_groups or ())
    console = runtime.surface == "console"
    caller = Caller(
        user_id=user_id,
        groups=given if console else _groups_of(runtime, user_id, given),
        channel_id=channel_id,
        console=console,
    )
    return decide(caller, wanted, policy(runtime))


def require(runtime: Runtime, *, user_id: str, user_groups: frozenset[str] | set[str] | None, channel_id: str,
            permission: Permission | str, target: str = "") -> str | None:
    """None when allowed; otherwise the refusal to show the user (ephemeral). Refusals are audited."""
    decision = check(runtime, user_id=user_id, user_groups=user_groups, channel_id=channel_id, permission=permission)
    if decision.allowed:
        return None
    record(
        runtime,
        actor=user_id,
        channel=channel_id,
        action=f"{decision.permission}",
        target=target,
        before="",
        after="",
        outcome=AuditOutcome.DENIED,
        detail=decision.refusal or "",
    )
    return f":no_entry: {decision.refusal}"
