"""`/bizra dod`: is the release done by the seed's Definition of Done? Five gates with their evidence.

Parses nothing (the view takes no arguments), authorizes `dod`, builds the ports (`ports.py`) and
lets `commands.dod.evaluate_dod` decide; the answer is posted in the channel, like `/bizra verify`.
"""

from __future__ import annotations

from bot.core.invocation import Invocation, Reply, UsageError
from bot.core.runtime import Runtime
from bot.features.access.enforce import require
from bot.features.dod.ports import dod_ports, dod_targets
from commands.dod import DodReport, evaluate_dod


def dod_report(runtime: Runtime, *, requested_by: str) -> DodReport:
    """The DoD view for this runtime (also what `bizra dod` prints)."""
    return evaluate_dod(dod_ports(runtime), dod_targets(runtime), now=runtime.clock.now(), requested_by=requested_by)


def dod(invocation: Invocation, runtime: Runtime) -> Reply:
    if invocation.args:
        raise UsageError("Usage: `/bizra dod` (no arguments): it judges the five Definition-of-Done gates.")
    refusal = require(runtime, user_id=invocation.user_id, user_groups=invocation.user_groups,
                      channel_id=invocation.channel_id, permission="dod", target="definition of done")
    if refusal:
        return Reply(result=refusal, ephemeral=True)
    return Reply(result=dod_report(runtime, requested_by=invocation.user_id))
