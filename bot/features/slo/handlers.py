"""`/bizra slo` (status now, with the chart) and the alert's Acknowledge button (`alert.ack`).

What flows through: the command reads the catalog from Prometheus now (nothing is persisted; the
scheduled job owns breach state), uploads a chart of the last 30 minutes to the channel it was
typed in (the console writes it to a file and names it), and answers with the status. The
Acknowledge button (or `/bizra slo ack <id>` on the console) marks the alert acknowledged once,
audits it, and the thread says who acknowledged.
"""

from __future__ import annotations

import logging

from bot.core.audit import AuditOutcome, record
from bot.core.invocation import ActionInvocation, Invocation, Reply, UsageError
from bot.core.runtime import Runtime
from bot.features.access.enforce import require
from bot.features.slo.render import ACK_ACTION
from bot.features.slo.watch import acknowledge_alert, chart_png, evaluate_now
from commands.breach import AckOutcome

log = logging.getLogger(__name__)

ACK_ANSWERS = {
    AckOutcome.ACKNOWLEDGED: "👀 Acknowledged: no more re-pages for alert `{id}`.",
    AckOutcome.ALREADY_ACKNOWLEDGED: "Alert `{id}` was already acknowledged by <@{by}>; nothing changed.",
    AckOutcome.ALREADY_RESOLVED: "Alert `{id}` is already resolved; nothing to acknowledge.",
    AckOutcome.NOT_FOUND: "There is no SLO alert `{id}`. Check the ID in the alert message.",
}


def slo_command(invocation: Invocation, runtime: Runtime) -> Reply:
    args = [a.lower() for a in invocation.args]
    if args and args[0] == "ack":
        if len(args) != 2:
            raise UsageError("Usage: `/bizra slo ack <alert id>` with the ID shown in the alert message.")
        return _ack(runtime, alert_id=invocation.args[1], user_id=invocation.user_id,
                    groups=invocation.user_groups, channel_id=invocation.channel_id)
    if args:
        raise UsageError("`/bizra slo` takes no arguments (or `ack <alert id>`). Try `/bizra slo`.")
    refusal = require(runtime, user_id=invocation.user_id, user_groups=invocation.user_groups,
                      channel_id=invocation.channel_id, permission="slo")
    if refusal:
        return Reply(result=refusal, ephemeral=True)
    now = runtime.clock.now()
    status = evaluate_now(runtime, at=now)
    try:
        png = chart_png(runtime, list(runtime.config.slo.catalog), end=now,
                        title=f"NODE0 SLOs, last {runtime.config.slo.chart_minutes:g} min")
        channel = invocation.channel_id if runtime.surface != "console" else None
        status.chart = runtime.poster.get().upload_png(png, filename=f"slo-{now.strftime('%Y%m%dT%H%M%S')}.png",
                                                  title="NODE0 SLOs — last 30 minutes", channel=channel)
    except Exception:  # the status without a chart is still worth answering
        log.exception("SLO chart failed")
    return Reply(result=status)


def _ack(runtime: Runtime, *, alert_id: str, user_id: str, groups: frozenset[str], channel_id: str) -> Reply:
    refusal = require(runtime, user_id=user_id, user_groups=groups, channel_id=channel_id, permission="alert.ack",
                      target=alert_id)
    if refusal:
        return Reply(result=refusal, ephemeral=True)
    result = acknowledge_alert(runtime, alert_id, user_id=user_id, at=runtime.clock.now())
    by = result.alert.acknowledged_by if result.alert else ""
    if result.outcome is AckOutcome.ACKNOWLEDGED:
        record(runtime, actor=user_id, channel=channel_id, action="alert.ack", target=alert_id,
               before="unacknowledged", after=f"acknowledged by {user_id}", outcome=AuditOutcome.OK)
    return Reply(result=ACK_ANSWERS[result.outcome].format(id=alert_id, by=by), ephemeral=True)


def alert_button(invocation: ActionInvocation, runtime: Runtime) -> Reply | None:
    if invocation.action_id != ACK_ACTION:
        return None  # "Open dashboard" is a URL button: Slack opens the link, nothing to do here
    return _ack(runtime, alert_id=invocation.value, user_id=invocation.user_id, groups=invocation.user_groups,
                channel_id=invocation.channel_id)
