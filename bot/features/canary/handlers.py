"""`/bizra canary start|status|promote|abort`: parse, authorize, then run it (flow.py).

Permissions: `canary.status`, `canary.start`, `canary.promote` (plus `canary.force` for
`--force "<reason>"`), `canary.abort`; a refusal is ephemeral and audited by `bot.access.require`.
Refusals of the canary itself (gates failing, not baked, SLOs not OK) are ephemeral too; changes
are answered in the channel and posted in the canary's progress thread.
"""

from __future__ import annotations

from bot.core.invocation import Invocation, Reply, UsageError
from bot.core.runtime import Runtime
from bot.features.access.enforce import require
from bot.features.canary import flow as flow
from commands.canary import CanaryRefused

USAGE = ('canary status | canary start <image@sha256:digest> [--force "<reason>"] '
         '| canary promote [--force "<reason>"] | canary abort [reason]')
ACTIONS = ("status", "start", "promote", "abort")


def _refusal(runtime: Runtime, invocation: Invocation, permission: str) -> str | None:
    return require(runtime, user_id=invocation.user_id, user_groups=invocation.user_groups,
                   channel_id=invocation.channel_id, permission=permission, target=flow.target_name(runtime))


def parse_force(args: list[str]) -> str | None:
    """The reason after `--force` (None without it); a force without a reason is a usage error."""
    if not args:
        return None
    if args[0] not in ("--force", "-f") and not args[0].startswith("--force="):
        raise UsageError(f'`{" ".join(args)}` is not understood. Usage: `/bizra canary promote [--force "<reason>"]`.')
    first = args[0].split("=", 1)[1] if "=" in args[0] else ""
    reason = " ".join([first, *args[1:]]).strip()
    if not reason:
        raise UsageError('`--force` needs a reason, which is audited: `/bizra canary promote --force "<reason>"`.')
    return reason


def canary_command(invocation: Invocation, runtime: Runtime) -> Reply:
    args = invocation.args
    action = args[0].lower() if args else "status"
    rest = args[1:]
    if action not in ACTIONS:
        raise UsageError(f"`canary {action}` is not a canary command. Usage: `/bizra {USAGE}`.")
    permission = f"canary.{action}"
    refusal = _refusal(runtime, invocation, permission)
    if refusal:
        return Reply(result=refusal, ephemeral=True)
    who, where = invocation.user_id, invocation.channel_id
    if action == "status":
        if rest:
            raise UsageError("Usage: `/bizra canary status` (no arguments).")
        return Reply(result=flow.status(runtime))
    if action == "start":
        if not rest:
            raise UsageError(f"Usage: `/bizra canary start <image@sha256:digest> [--force \"<reason>\"]`, e.g. "
                             f"`{runtime.config.release.image_repository}@sha256:<64 hex>`.")
        # `--force "<reason>"` starts past an incomplete sign-off (never past the gates); canary.force, audited.
        forced = parse_force(rest[1:])
        if forced is not None:
            refusal = _refusal(runtime, invocation, "canary.force")
            if refusal:
                return Reply(result=refusal, ephemeral=True)
        return _reply(flow.start(runtime, image=rest[0].strip("`<>"), actor=who, channel=where, force_reason=forced))
    if action == "promote":
        reason = parse_force(rest)
        if reason is not None:
            refusal = _refusal(runtime, invocation, "canary.force")
            if refusal:
                return Reply(result=refusal, ephemeral=True)
        return _reply(flow.promote(runtime, actor=who, channel=where, force_reason=reason))
    reason = " ".join(rest).strip() or "no reason given"
    return _reply(flow.abort(runtime, actor=who, channel=where, reason=reason))


def _reply(result: object) -> Reply:
    return Reply(result=result, ephemeral=isinstance(result, CanaryRefused))  # type: ignore[arg-type]
