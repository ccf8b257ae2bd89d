"""`/bizra history [N]`: the last releases (read-only, permission `history`)."""

from __future__ import annotations

from bot.core.invocation import Invocation, Reply, UsageError
from bot.core.runtime import Runtime
from bot.features.access.enforce import require
from bot.features.releases.blocks import MAX_ENTRIES
from bot.features.releases.history import history
from bot.features.releases.render import HISTORY_USAGE, ReleaseHistory

DEFAULT_ENTRIES = 10


def history_command(invocation: Invocation, runtime: Runtime) -> Reply:
    release = runtime.config.release
    refusal = require(runtime, user_id=invocation.user_id, user_groups=invocation.user_groups,
                      channel_id=invocation.channel_id, permission="history",
                      target=f"{release.namespace}/{release.deployment}")
    if refusal:
        return Reply(result=refusal, ephemeral=True)
    args = invocation.args
    if len(args) > 1 or (args and not (args[0].isdigit() and 1 <= int(args[0]) <= MAX_ENTRIES)):
        raise UsageError(f"Usage: `/bizra {HISTORY_USAGE}` with N from 1 to {MAX_ENTRIES} (default {DEFAULT_ENTRIES}).")
    n = int(args[0]) if args else DEFAULT_ENTRIES
    return Reply(result=ReleaseHistory(entries=history(runtime, n), namespace=release.namespace,
                                       deployment=release.deployment), ephemeral=True)
