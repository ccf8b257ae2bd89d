"""`/bizra evidence [canary-id]`: assemble the signed evidence archive of the latest (or a named) run now.

Authorizes `evidence`; the archive is built by assemble.py (kept in `evidence.directory`, uploaded
to the run's thread) and the answer says where it is. No signing key, or no run, is answered
ephemerally with what to do.
"""

from __future__ import annotations

from bot.core.invocation import Invocation, Reply, UsageError
from bot.core.runtime import Runtime
from bot.features.access.enforce import require
from bot.features.evidence.assemble import NoRun, build, latest_run
from bot.features.evidence.render import EvidenceArchived
from commands.attestation import KeyFileError

USAGE = "evidence [canary-id]"


def evidence_command(invocation: Invocation, runtime: Runtime) -> Reply:
    if len(invocation.args) > 1:
        raise UsageError("Usage: `/bizra evidence [canary-id]` (default: the latest canary run).")
    refusal = require(runtime, user_id=invocation.user_id, user_groups=invocation.user_groups,
                      channel_id=invocation.channel_id, permission="evidence", target="evidence archive")
    if refusal:
        return Reply(result=refusal, ephemeral=True)
    canary_id = invocation.args[0] if invocation.args else latest_run(runtime)
    if canary_id is None:
        return Reply(result="No canary run is on record yet; there is no release to archive.", ephemeral=True)
    try:
        archived = build(runtime, canary_id=canary_id, trigger="on demand", by=invocation.user_id)
    except NoRun as exc:
        return Reply(result=f"{exc}. `/bizra canary status` names the current run.", ephemeral=True)
    except (KeyFileError, OSError) as exc:
        return Reply(result=f":warning: The evidence archive was not built: {exc}. Fix the bot's `evidence:` "
                     "config.", ephemeral=True)
    return Reply(result=EvidenceArchived(
        canary_id=archived.canary_id, image=archived.image, trigger=archived.trigger, outcome=archived.outcome,
        path=str(archived.path), files=archived.files, key_id=archived.key_id, uploaded=archived.uploaded))
