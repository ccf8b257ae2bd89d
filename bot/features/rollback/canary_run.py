"""A rollback confirmed while a canary run is active ends that run first (docs/rollback.md#a-canary-in-flight).

What flows through: planning asks `in_flight` for the active run (shown on the confirmation, and
its stable image is the default target); confirming calls `end_first` before the image patch. It
aborts the run through the canary's own abort (`bot.features.canary.flow.abort`: the canary's claim,
the engine putting all traffic back on stable, the canary's audit row, the run message ended with
the reason), so a rollback and `/bizra canary abort` end a run the same way. The rollback itself is
never blocked by it: a failed abort is said in the rollback's thread and audit, and the rollback
goes ahead (the emergency path).
"""

from __future__ import annotations

import logging

from pydantic import BaseModel

from bot.core.runtime import Runtime
from bot.features.canary import flow as canary_flow
from bot.features.canary import store as canary_store
from bot.features.canary.engines import engine_for
from bot.features.canary.inputs import stages
from commands.canary import CanaryAborted, CanaryRefused, CanaryRun
from commands.rollback import CanaryInFlight, RollbackPlan

log = logging.getLogger(__name__)


def in_flight(runtime: Runtime) -> CanaryInFlight | None:
    """The active canary run as the rollback shows it (None when none is active, or it cannot be read)."""
    try:
        active = canary_store.load(runtime)
        stage_list = stages(runtime)
    except Exception as exc:  # a canary problem never blocks a rollback; the confirmation just lacks the line
        log.warning("could not read the active canary for the rollback: %s", exc)
        return None
    if active is None:
        return None
    run = active.run
    stage = stage_list[min(run.stage, len(stage_list) - 1)] if stage_list else None
    return CanaryInFlight(id=run.id, image=run.image, stable_image=run.stable_image, stage=run.stage + 1,
                          stage_name=stage.name if stage else "?", weight=stage.weight if stage else None,
                          engine=run.engine or runtime.config.canary.engine, stable_from=_stable_from(runtime, run))


def _stable_from(runtime: Runtime, run: CanaryRun) -> str:
    """How the run's engine names what it read the stable image from ("the Rollout"), for the confirmation."""
    try:
        label = engine_for(runtime, run.engine or None).stable_label
    except Exception:  # only words on the confirmation
        return ""
    return label[:1].lower() + label[1:]


class CanaryEnded(BaseModel):
    """What ending the canary did, for the rollback's thread, audit row and summary."""

    run_id: str
    ok: bool
    line: str  # mrkdwn, for the thread and the summary

    @property
    def audit_note(self) -> str:
        return self.line.replace("*", "").replace(":leftwards_arrow_with_hook: ", "").replace(":warning: ", "")


def abort_reason(plan: RollbackPlan, *, user_id: str, link: str | None) -> str:
    where = f"<{link}|rollback confirmation `{plan.id}`>" if link else f"rollback confirmation `{plan.id}`"
    # The reason is user text: escaped, so a `<!channel>` in it pings nobody on the run message.
    said = plan.reason.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"rolled back by <@{user_id}>: {said} ({where})"


def end_first(runtime: Runtime, plan: RollbackPlan, *, user_id: str, link: str | None) -> CanaryEnded | None:
    """Abort the active canary run (any: the one shown, or one started since); None when none is active.

    Runs under the rollback's claim, so once per confirmation; the canary's own claim makes a
    concurrent `/bizra canary abort` or auto-rollback and this one end the run once between them.
    """
    active = canary_store.load(runtime)
    if active is None:
        if plan.canary is None:
            return None
        return CanaryEnded(run_id=plan.canary.id, ok=True,
                           line=f"Canary `{plan.canary.id}` had already ended before the rollback ran; nothing "
                                "to abort.")
    run = active.run
    stage = run.stage + 1
    reason = abort_reason(plan, user_id=user_id, link=link)
    try:
        result = canary_flow.abort(runtime, actor=user_id, channel=plan.channel, reason=reason)
    except Exception as exc:  # the emergency path goes on whatever the canary does
        log.exception("rollback %s: aborting canary %s failed", plan.id, run.id)
        return _failed(run.id, stage, f"{type(exc).__name__}: {exc}")
    if isinstance(result, CanaryAborted) and result.error is None:
        other = plan.canary is not None and plan.canary.id != run.id
        started = " (started after this confirmation was shown)" if other or plan.canary is None else ""
        return CanaryEnded(run_id=run.id, ok=True,
                           line=f":leftwards_arrow_with_hook: Canary `{run.id}`{started} at stage {stage} aborted "
                                f"first: all traffic is back on stable and `{run.image}` is scaled to zero "
                                f"({', '.join(result.applied) or 'nothing left to apply'}).")
    if isinstance(result, CanaryAborted):
        return _failed(run.id, stage, result.error or "unknown error")
    if isinstance(result, CanaryRefused) and canary_store.load(runtime) is None:
        return CanaryEnded(run_id=run.id, ok=True,  # ended by another abort at the same moment
                           line=f"Canary `{run.id}` was ended by someone else meanwhile; nothing to abort.")
    reasons = "; ".join(result.reasons) if isinstance(result, CanaryRefused) else str(result)
    return _failed(run.id, stage, reasons)


def _failed(run_id: str, stage: int, error: str) -> CanaryEnded:
    return CanaryEnded(run_id=run_id, ok=False,
                       line=f":warning: Canary `{run_id}` at stage {stage} could *not* be aborted: {error}. The "
                            "rollback goes ahead anyway; traffic may still reach the canary. Run "
                            "`/bizra canary abort` once it is done, or follow ops/runbooks/CANARY-ROLLBACK.md.")
