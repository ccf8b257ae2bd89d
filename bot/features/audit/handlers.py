"""`/bizra audit [N]`: the newest N audit entries (default 20, at most 200), for those holding `audit`."""

from __future__ import annotations

from bot.core.audit import AuditListing, latest
from bot.core.invocation import Invocation, Reply, UsageError
from bot.core.runtime import Runtime
from bot.features.access.enforce import require

DEFAULT_COUNT = 20
MAX_COUNT = 200


def show_audit(invocation: Invocation, runtime: Runtime) -> Reply:
    refusal = require(
        runtime, user_id=invocation.user_id, user_groups=invocation.user_groups, channel_id=invocation.channel_id,
        permission="audit", target="audit log",
    )
    if refusal:
        return Reply(result=refusal, ephemeral=True)
    count = _count(invocation.args)
    return Reply(result=AuditListing(requested=count, entries=latest(runtime, count)), ephemeral=True)


def _count(args: list[str]) -> int:
    if not args:
        return DEFAULT_COUNT
    if len(args) > 1 or not args[0].isdigit() or not 1 <= int(args[0]) <= MAX_COUNT:
        raise UsageError(
            f"Usage: `/bizra audit [N]` with N a whole number from 1 to {MAX_COUNT} (default {DEFAULT_COUNT})."
        )
    return int(args[0])
