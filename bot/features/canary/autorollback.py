"""Auto-rollback: a sustained SLO breach while a canary stage is active aborts the canary.

What flows through: the SLO watch calls `on_breach(runtime, event)` once when a sustained breach
starts (registered on the runtime's registry by `bot/features/canary/feature.py`). If
`canary.auto_rollback` is on and a canary is active, it runs the same abort as `/bizra canary
abort` (claimed in the store, so it never races a promote and never runs twice), posts what was
done in the release channel mentioning on-call (the page) and in the canary's thread, and audits
it as `canary.auto_rollback` by `bizra-bot (auto-rollback)`. With auto-rollback off it only says,
in the thread, that nothing was rolled back. A breach with no canary active is the SLO watch's
business alone (its own page).
"""

from __future__ import annotations

import logging

from bot.core.runtime import Runtime
from bot.features.canary import flow as flow
from bot.features.canary import store as store
from bot.features.canary.flow import AUTO_ACTOR, Thread
from commands.breach import AlertKind, BreachEvent
from commands.canary import CanaryAborted

log = logging.getLogger(__name__)


def describe_breach(event: BreachEvent) -> str:
    """A sentence naming the breached SLO, its value against the objective, and since when."""
    parts = [f"sustained SLO breach of {event.slo}" if event.slo else "sustained SLO breach"]
    if event.value is not None and event.objective is not None:
        comparator = f" {event.comparator.symbol} " if event.comparator else " vs "
        parts.append(f"value {event.value:g} (objective{comparator}{event.objective:g})")
    parts.append(f"since {event.since:%H:%M:%S} UTC")
    return ", ".join(parts)


def handle_breach(runtime: Runtime, event: BreachEvent) -> CanaryAborted | None:
    """Abort the active canary (when auto-rollback is on) and page on-call; None when nothing was aborted."""
    if event.alert_kind is not AlertKind.BREACH:
        return None  # "monitoring blind" is not a breach of the canary's SLOs; the promotion policy refuses it
    active = store.load(runtime)
    if active is None:
        return None
    reason = describe_breach(event)
    channel = runtime.config.slack.release_channel or active.run.channel
    thread = Thread.of(runtime, active.run, channel=channel)
    if not runtime.config.canary.auto_rollback:
        thread.post(f":warning: {reason} during canary stage {active.run.stage + 1} of `{active.run.image}`. "
                    "Auto-rollback is off (canary.auto_rollback): nothing was changed. Decide now: "
                    "`/bizra canary abort` or `/bizra rollback`.", is_reply=False)
        return None
    result = flow.abort(runtime, actor=AUTO_ACTOR, channel=channel, reason=reason, automatic=True)
    if not isinstance(result, CanaryAborted):  # another abort finished it first: nothing left to do
        log.info("auto-rollback found nothing to abort: %s", result)
        return None
    result.paged = runtime.config.slo.on_call.mentions()
    # In the channel (the page, with the mentions) and in the canary's thread (the record).
    Thread(runtime, channel=channel, thread_ts=None).post(result, is_reply=False)
    if active.run.thread_ts:
        thread.post(result, is_reply=False)
    return result


def on_breach(runtime: Runtime, event: BreachEvent) -> None:
    """The breach listener; never raises into the SLO watch."""
    try:
        handle_breach(runtime, event)
    except Exception:
        log.exception("canary auto-rollback failed")

