"""Finishing rollbacks whose executor was lost (a crash, `kill -9`, a node gone mid-rollout).

The job `rollback-recovery` (bot/features/rollback/feature.py; run by the scheduler at start-up
and every half heartbeat timeout) looks for `running` confirmations whose heartbeat is older than
`release.rollback.heartbeat_timeout_seconds`. Each is re-claimed atomically by one process
(`confirmations.take_over`), which says in the confirmation's thread that it resumed after the
original executor was lost, then:

- when the Deployment runs the rollback's target image (the patch landed, or was never needed: a
  gateway canary in the way), first ends the canary run the confirmation named if it is still
  active (docs/rollback.md#a-canary-in-flight), then follows the rollout to
  its end or to the original deadline (counted from the confirmation), writing the heartbeat as it
  goes, and concludes exactly as the executor would have: the incident bundle, the final audit row,
  the target recorded as last stable when the rollout recovered, and the summary in the thread;
- otherwise (the cluster cannot be reached, the patch never landed, someone else changed the
  Deployment), marks the confirmation `interrupted`, audits it and says why in the thread. Nothing
  is applied without a person confirming again.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from bot.core.audit import record
from bot.core.runtime import Runtime
from bot.features.rollback import confirmations
from bot.features.rollback.canary_run import end_first, in_flight
from bot.features.rollback.handlers import ProgressThread, _beating, _target_name, conclude
from bot.features.rollback.incidents import Snapshot
from bot.features.rollback.render import RollbackInterrupted, RollbackResumed
from bot.features.rollback.workload import workload_cluster
from commands.cluster import ClusterError
from commands.rollback import follow_rollout, resume_problem

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted"


def recover(runtime: Runtime, *, at: datetime) -> list[str]:
    """Take over and finish (or mark interrupted) every running rollback whose owner is lost; the ids handled."""
    timeout = runtime.config.release.rollback.heartbeat_timeout_seconds
    handled = []
    for plan_id in confirmations.stale(runtime, now=at, timeout_seconds=timeout):
        taken = confirmations.take_over(runtime, plan_id, now=runtime.clock.now(), timeout_seconds=timeout)
        if taken is None:
            continue  # another replica got it first, or its owner spoke up
        log.warning("rollback %s: executor %s lost; taken over by %s", plan_id, taken.lost_owner, taken.lease.owner)
        try:
            resume(runtime, taken)
        except confirmations.LostClaim:
            log.warning("rollback %s was taken over by another process while this one resumed it", plan_id)
        handled.append(plan_id)
    return handled


def resume(runtime: Runtime, taken: confirmations.Takeover) -> None:
    plan, lease = taken.plan, taken.lease
    me = lease.owner
    # A console confirmation has no Slack thread: its news goes to the release channel.
    channel = taken.channel if taken.surface == "slack" else None
    thread = ProgressThread(runtime, channel_id=channel, thread_ts=taken.thread_ts if channel else None)
    thread.post(RollbackResumed(plan=plan, confirmed_by=taken.confirmed_by, lost_owner=taken.lost_owner,
                                last_heartbeat=taken.last_heartbeat, resumed_by=me))
    note = f"resumed by {me} after the original executor {taken.lost_owner} was lost"
    try:
        cluster = workload_cluster(runtime)
        running = cluster.read_deployment(namespace=plan.namespace, name=plan.deployment).images.get(plan.container)
    except ClusterError as exc:
        _interrupt(runtime, taken, thread, f"The Deployment could not be read: {exc} Check it with kubectl "
                   "(`kubectl rollout status`) and run `/bizra rollback` again if it is not healthy.")
        return
    problem = resume_problem(plan, running)
    if problem:
        active = in_flight(runtime) if plan.canary else None
        if active is not None:  # the canary was to end first; nothing is applied without a person again
            problem += (f" Canary `{active.id}` is still active at stage {active.stage}: `/bizra canary abort` "
                        "ends it.")
        _interrupt(runtime, taken, thread, problem)
        return
    # The image change is in place, or was never needed (gateway engine): the confirmed abort of the canary
    # is finished too, if the lost executor had not done it (a no-op when the run is over).
    pending_abort = plan.canary is not None and in_flight(runtime) is not None
    ended = end_first(runtime, plan, user_id=taken.confirmed_by, link=None) if pending_abort else None
    if ended is not None:
        thread.post(ended.line)
    settings = runtime.config.release.rollback
    result = follow_rollout(cluster=cluster, clock=runtime.clock, plan=plan, confirmed_by=taken.confirmed_by,
                            confirmed_at=taken.confirmed_at, deadline_seconds=settings.rollout_deadline_seconds,
                            poll_seconds=settings.poll_interval_seconds, wait=_beating(runtime, lease),
                            on_progress=lambda point: thread.post(point))
    result.resumed_by = me
    if ended is not None:
        result.canary_note = ended.line
    confirmations.heartbeat(runtime, lease)  # still ours? (LostClaim when taken over again meanwhile)
    before = (Snapshot(json.loads(taken.before_snapshot)) if taken.before_snapshot
              else Snapshot({"unavailable": "the executor was lost before it read the Deployment"}))
    conclude(runtime, result, cluster=cluster, before=before, thread=thread, actor=taken.confirmed_by,
             channel_id=taken.channel, note=note)
    confirmations.finish(runtime, plan.id, outcome=str(result.outcome), lease=lease)


def _interrupt(runtime: Runtime, taken: confirmations.Takeover, thread: ProgressThread, reason: str) -> None:
    plan = taken.plan
    if not confirmations.finish(runtime, plan.id, outcome=INTERRUPTED, lease=taken.lease,
                                state=confirmations.ConfirmationState.INTERRUPTED):
        return  # taken over again meanwhile: the other process says what happened
    record(runtime, actor=taken.confirmed_by, channel=taken.channel, action="rollback", target=_target_name(runtime),
           before=plan.current_image, after="", outcome=INTERRUPTED,
           detail=f"confirmation {plan.id}; the executor {taken.lost_owner} was lost and {taken.lease.owner} could "
           f"not follow the rollout: {reason}")
    thread.post(RollbackInterrupted(plan=plan, lost_owner=taken.lost_owner, resumed_by=taken.lease.owner,
                                    reason=reason))
