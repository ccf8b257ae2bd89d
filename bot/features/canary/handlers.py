"""`/bizra canary start|status|promote|abort`: parse, authorize, then run it (flow.py).

Permissions: `canary.status`, `canary.start`, `canary.promote` (plus `canary.force` for
`--force "<reason>"`), `canary.abort`; a refusal is ephemeral and audited by `bot.access.require`.
Refusals of the canary itself (gates failing, not baked, SLOs not OK) are ephemeral too. A step
that changed something is posted in the run's thread and edits the run message (flow.py); in
Slack whoever ran it gets an ephemeral answer with a permalink to the run message, so nothing is
said twice. The run message's Promote and Abort buttons (`canary.promote`, `canary.abort`, value
`<run id>:<stage index>`) run the same steps, with the same permission checks. On the console
(no run message) the reply is the step itself, as text.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel

from bot.core.invocation import ActionInvocation, Invocation, Reply, UsageError
from bot.core.outbox import PLACEHOLDER, OutboxPoster
from bot.core.runtime import Runtime
from bot.features.access.enforce import require
from bot.features.canary import flow as flow
from bot.features.canary import store as store
from bot.features.canary.render import ABORT_ACTION, ABORT_REASON, PROMOTE_ACTION
from commands.canary import CanaryAction, CanaryNotice, CanaryRefused, CanaryRun

log = logging.getLogger(__name__)

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
        return _status(runtime)
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
        return _reply(runtime, flow.start(runtime, image=rest[0].strip("`<>"), actor=who, channel=where,
                                          force_reason=forced))
    if action == "promote":
        reason = parse_force(rest)
        if reason is not None:
            refusal = _refusal(runtime, invocation, "canary.force")
            if refusal:
                return Reply(result=refusal, ephemeral=True)
        return _reply(runtime, flow.promote(runtime, actor=who, channel=where, force_reason=reason))
    reason = " ".join(rest).strip() or "no reason given"
    return _reply(runtime, flow.abort(runtime, actor=who, channel=where, reason=reason))


def _status(runtime: Runtime) -> Reply:
    """In Slack, an active run is answered with the run message as it is now (also edited in place) and
    a link to it, only to the asker; otherwise (no canary, the console) the status itself."""
    message = flow.refresh(runtime)  # None on the console, or with no canary active
    if message is not None and message.run is not None and message.run.thread_ts:
        return Reply(result=_notice(runtime, message, message.run), ephemeral=True)
    now = flow.status(runtime)
    view = now.engine
    if not now.active and view is not None and view.message_ts and runtime.surface != "console":
        # The controller waits for a start (Flagger at confirm-rollout): link the message with Approve / Deny.
        link = permalink(runtime, channel=view.message_channel, ts=view.message_ts)
        now = now.model_copy(update={"engine": view.model_copy(update={"permalink": link})})
    return Reply(result=now)


def _reply(runtime: Runtime, result: BaseModel) -> Reply:
    """A refusal is ephemeral. A step that went to the run's thread is answered, in Slack, only to whoever
    ran it, with a link to the run message; a step with no thread (the console) is the reply itself."""
    if isinstance(result, CanaryRefused):
        return Reply(result=result, ephemeral=True)
    run = getattr(result, "run", None)
    if runtime.surface == "console" or not isinstance(run, CanaryRun) or not run.thread_ts:
        return Reply(result=result)
    return Reply(result=_notice(runtime, result, run), ephemeral=True)


def _notice(runtime: Runtime, step: BaseModel, run: CanaryRun) -> CanaryNotice:
    channel = run.message_channel or runtime.config.slack.release_channel or run.channel
    return CanaryNotice(step=step, channel=channel or None, permalink=permalink(runtime, channel=channel,
                                                                                ts=run.thread_ts))


def permalink(runtime: Runtime, *, channel: str | None, ts: str | None) -> str | None:
    """Slack's link to the run message (`chat.getPermalink`); None when it has none (yet) or Slack fails."""
    if not channel or not ts:
        return None
    if ts.startswith(PLACEHOLDER):  # posted through the outbox, not yet delivered: its real ts if it is now
        poster = runtime.poster.get()
        ts = poster.outbox.resolve(ts) if isinstance(poster, OutboxPoster) else None
        if not ts or ts.startswith(PLACEHOLDER):
            return None
    try:
        answer = runtime.slack.get().chat_getPermalink(channel=channel, message_ts=ts)
        link = answer.get("permalink")
    except Exception as exc:
        log.warning("no permalink for the canary run message: %s", exc)
        return None
    return str(link) if link else None


def canary_button(invocation: ActionInvocation, runtime: Runtime) -> Reply | None:
    """Promote / Abort on the run message: everyone in the channel sees the buttons, so the click is
    authorized like the typed command (refused: ephemeral, audited, nothing changed); a button of a
    run that is over, or of a stage the run has left, is refused too."""
    kinds = {PROMOTE_ACTION: CanaryAction.PROMOTE, ABORT_ACTION: CanaryAction.ABORT}
    action = kinds.get(invocation.action_id)
    if action is None:
        log.warning("unknown canary action %s", invocation.action_id)
        return None
    refusal = require(runtime, user_id=invocation.user_id, user_groups=invocation.user_groups,
                      channel_id=invocation.channel_id, permission=f"canary.{action}",
                      target=flow.target_name(runtime))
    if refusal:
        return Reply(result=refusal, ephemeral=True)
    run_id, _, stage = invocation.value.partition(":")
    active = store.load(runtime)
    if active is None or active.run.id != run_id:
        return Reply(result=CanaryRefused(action=action, reasons=[
            f"Canary `{run_id}` is no longer active; this button belongs to a run that is over."],
            hint="`/bizra canary status` shows the current state."), ephemeral=True)
    if action is CanaryAction.PROMOTE and stage.isdigit() and int(stage) != active.run.stage:
        return Reply(result=CanaryRefused(action=action, reasons=[
            f"The canary already moved on: it is at stage {active.run.stage + 1} now, not stage {int(stage) + 1}. "
            "Nothing was applied."], hint="The run message shows where it stands."), ephemeral=True)
    who, where = invocation.user_id, invocation.channel_id
    if action is CanaryAction.PROMOTE:
        return _reply(runtime, flow.promote(runtime, actor=who, channel=where, force_reason=None))
    return _reply(runtime, flow.abort(runtime, actor=who, channel=where, reason=ABORT_REASON))
