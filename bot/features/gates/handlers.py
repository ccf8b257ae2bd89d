"""`/bizra gates`: the nine evidence gates on the configured artifacts, posted in the channel.

Reads `gates:` from the config (artifacts dir, trusted keys, policy), evaluates with
commands/gates.py and answers a `GatesAnswer` (rendered by render.py and blocks.py beside it). Slow, so Slack
gets the ack first and the verdict through `response_url`. A broken configuration (artifacts
directory missing, a trusted key unreadable) is answered ephemerally with what to fix.
"""

from __future__ import annotations

from bot.core.invocation import Invocation, Reply, UsageError
from bot.core.runtime import Runtime
from bot.features.access.enforce import require
from bot.features.gates.render import GatesAnswer
from commands.attestation import KeyFileError
from commands.gates import EvidenceDirError, evaluate_release, release_inputs


def show_gates(invocation: Invocation, runtime: Runtime) -> Reply:
    if invocation.args:
        raise UsageError("Usage: `/bizra gates` (no arguments; the artifacts come from the bot's gates config).")
    refusal = require(
        runtime, user_id=invocation.user_id, user_groups=invocation.user_groups, channel_id=invocation.channel_id,
        permission="gates", target="evidence gates",
    )
    if refusal:
        return Reply(result=refusal, ephemeral=True)
    try:
        report = evaluate_release(**release_inputs(runtime.config.gates))
    except (EvidenceDirError, KeyFileError) as exc:
        return Reply(
            result=f":warning: The gates cannot be evaluated: {exc}. Fix the bot's `gates:` config; "
            "nothing counts as passed meanwhile.",
            ephemeral=True,
        )
    return Reply(result=GatesAnswer(report=report, user_id=invocation.user_id, user_name=invocation.user_name))
