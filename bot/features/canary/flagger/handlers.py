"""Approve / Deny on the Flagger run's message: permission-checked, bound to the message's revision, audited.

Approve is `/bizra canary start <the image Flagger asks about>` (permission `canary.start`: the
evidence gates and the sign-off are checked by the same flow); Deny (permission `canary.abort`)
makes the rollback hook answer 200 for a run still waiting, or aborts the canary started for it.
The button's value is `<flagger run id>:<checksum>`: a click on the message of a revision Flagger
no longer rolls out (a newer checksum replaced it) is refused, says so, and changes nothing.
Refusals are ephemeral and audited; a repeated click (Slack retry, double click) decides once,
because every state change is a conditional update in the store.
"""

from __future__ import annotations

from bot.core.audit import AuditOutcome, record
from bot.core.invocation import ActionInvocation, Reply
from bot.core.runtime import Runtime
from bot.features.access.enforce import require
from bot.features.canary import flow
from bot.features.canary import store as canary_store
from bot.features.canary.flagger import store
from bot.features.canary.flagger.messages import post_in_thread, update_run_message
from bot.features.canary.flagger.ref import canary_name, canary_namespace, canary_ref
from bot.features.canary.flagger.render import (
    APPROVE_ACTION,
    DENY_ACTION,
    DENY_REASON,
    FlaggerNote,
    short_checksum,
    stale_refusal,
)
from bot.features.canary.flagger.store import FlaggerRun, RunState
from commands.canary import CanaryRefused


def _audit(runtime: Runtime, invocation: ActionInvocation, *, action: str, outcome: str, detail: str,
           before: object = "", after: object = "") -> None:
    record(runtime, actor=invocation.user_id, channel=invocation.channel_id, action=f"canary.flagger.{action}",
           target=canary_ref(runtime), before=before, after=after, outcome=outcome, detail=detail)


def flagger_button(invocation: ActionInvocation, runtime: Runtime) -> Reply | None:
    if invocation.action_id not in (APPROVE_ACTION, DENY_ACTION):
        return None
    approve = invocation.action_id == APPROVE_ACTION
    refusal = require(runtime, user_id=invocation.user_id, user_groups=invocation.user_groups,
                      channel_id=invocation.channel_id, permission="canary.start" if approve else "canary.abort",
                      target=canary_ref(runtime))
    if refusal:
        return Reply(result=refusal, ephemeral=True)
    run_id, _, checksum = invocation.value.partition(":")
    current = store.current(runtime, namespace=canary_namespace(runtime), name=canary_name(runtime))
    if current is None or current.id != run_id or current.checksum != checksum:
        text = stale_refusal(clicked=run_id, checksum=checksum, current=current, canary=canary_ref(runtime))
        _audit(runtime, invocation, action="approve" if approve else "deny", outcome=AuditOutcome.REFUSED,
               detail=f"stale button: run {run_id} checksum {checksum}; current "
                      f"{current.id + ' ' + current.checksum if current else 'none'}")
        return Reply(result=text, ephemeral=True)
    if approve:
        return _approve(runtime, invocation, current)
    return _deny(runtime, invocation, current)


def _approve(runtime: Runtime, invocation: ActionInvocation, run: FlaggerRun) -> Reply:
    result = flow.start(runtime, image=run.image, actor=invocation.user_id, channel=invocation.channel_id)
    return Reply(result=result, ephemeral=True)


def _deny(runtime: Runtime, invocation: ActionInvocation, run: FlaggerRun) -> Reply:
    now = runtime.clock.now()
    if store.decide(runtime, run.id, to=RunState.DENIED, frm=(RunState.WAITING,), by=invocation.user_id, at=now,
                    reason=DENY_REASON):
        _audit(runtime, invocation, action="deny", outcome=AuditOutcome.OK, before={"run": run.id, "state": run.state},
               after={"run": run.id, "state": RunState.DENIED},
               detail=f"checksum {run.checksum}, image {run.image}: the rollback hook answers 200")
        update_run_message(runtime, run.id)
        post_in_thread(runtime, run.id, FlaggerNote(
            text=f":no_entry: Denied by <@{invocation.user_id}>: Flagger rolls back checksum "
                 f"`{short_checksum(run.checksum)}` at its next check."))
        return Reply(result=f"Denied: Flagger rolls `{run.image}` back at its next check (the rollback hook answers "
                            "200 for this revision).", ephemeral=True)
    fresh = store.get(runtime, run.id) or run
    active = canary_store.load(runtime)
    if fresh.state is RunState.APPROVED and active is not None and active.run.id == fresh.canary_id:
        return Reply(result=flow.abort(runtime, actor=invocation.user_id, channel=invocation.channel_id,
                                       reason=DENY_REASON), ephemeral=True)
    _audit(runtime, invocation, action="deny", outcome=AuditOutcome.REFUSED, detail=f"run {run.id} is {fresh.state}")
    return Reply(result=CanaryRefused(action="abort", reasons=[
        f"Flagger's run `{run.id}` is {fresh.state} already; nothing was changed."]), ephemeral=True)
