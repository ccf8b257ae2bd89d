"""`/bizra status`: the leader, the replicas seen recently, the store backend and its schema versions.

Read-only and open to everyone, like `/healthz` (it names pods and the store's address, never a secret).
"""

from __future__ import annotations

from bot.core.invocation import Invocation, Reply, UsageError
from bot.core.runtime import Runtime
from bot.features.status.report import status_report


def show_status(invocation: Invocation, runtime: Runtime) -> Reply:
    if invocation.args:
        raise UsageError("Usage: `/bizra status` (no arguments): the leader, the replicas and the store.")
    return Reply(result=status_report(runtime), ephemeral=True)
