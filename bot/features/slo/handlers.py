"""`/bizra slo` (status now, with the chart), `/bizra slo silence`, and the alert's Acknowledge and Silence buttons.

What flows through: the command reads the catalog from Prometheus now (nothing is persisted; the
scheduled job owns breach state), uploads a chart of the last 30 minutes to the channel it was
typed in (the console writes it to a file and names it), and answers with the status. The
Acknowledge button (or `/bizra slo ack <id>` on the console) marks the alert acknowledged once,
audits it, and the thread says who acknowledged. `/bizra slo silence <slo|all> <duration> <reason>`
(permission `alert.silence`) and the page's Silence button (`alert.silence`, behind a confirm dialog,
for `slo.silence.default_duration`) hold back re-pages of that SLO until the silence ends by itself;
each is audited, told in the covered pages' threads and shown in the status message.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.core.audit import AuditOutcome, record
from bot.core.invocation import ActionInvocation, Invocation, Reply, UsageError
from bot.core.runtime import Runtime
from bot.features.access.enforce import require
from bot.features.slo.render import ACK_ACTION, SILENCE_ACTION
from bot.features.slo.watch import acknowledge_alert, chart_png, evaluate_now, find_alert, silence
from commands.breach import BLIND_KEY, SILENCE_ALL, AckOutcome
from commands.durations import parse_duration

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
    if args and args[0] == "silence":
        return _silence_command(invocation, runtime)
    if args:
        raise UsageError("`/bizra slo` takes no arguments (or `ack <alert id>`, or "
                         "`silence <slo|all> <duration> <reason>`). Try `/bizra slo`.")
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


SILENCE_USAGE = ("Usage: `/bizra slo silence <slo|all> <duration> <reason>`, e.g. "
                 "`/bizra slo silence cb_latency_p99 2h deploying the cache fix`.")


def _silence_command(invocation: Invocation, runtime: Runtime) -> Reply:
    if len(invocation.args) < 4:
        raise UsageError(SILENCE_USAGE)
    target, raw_duration = invocation.args[1], invocation.args[2]
    reason = " ".join(invocation.args[3:]).strip()
    names = [slo.name for slo in runtime.config.slo.catalog]
    if target.lower() == SILENCE_ALL:
        target = SILENCE_ALL
    elif target not in [*names, BLIND_KEY]:
        raise UsageError(f"There is no SLO `{target}`. Silence one of {', '.join(f'`{n}`' for n in names)}, "
                         f"`{BLIND_KEY}` or `all`. {SILENCE_USAGE}")
    try:
        duration = parse_duration(raw_duration)
    except ValueError:
        duration = None
    if not isinstance(duration, timedelta) or duration <= timedelta(0):
        raise UsageError(f"`{raw_duration}` is not a duration: use e.g. 30m, 2h or 1h30m. {SILENCE_USAGE}")
    longest = runtime.config.slo.silence.max_duration
    if duration > longest:
        raise UsageError(f"A silence lasts at most {_hours(longest)} (slo.silence.max_duration); "
                         f"`{raw_duration}` is longer.")
    return _silence(runtime, slo=target, duration=duration, reason=reason, user_id=invocation.user_id,
                    groups=invocation.user_groups, channel_id=invocation.channel_id)


def _hours(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes / 60:g} h" if minutes >= 60 else f"{minutes:g} min"


def _silence(runtime: Runtime, *, slo: str, duration: timedelta, reason: str, user_id: str,
             groups: frozenset[str], channel_id: str) -> Reply:
    refusal = require(runtime, user_id=user_id, user_groups=groups, channel_id=channel_id,
                      permission="alert.silence", target=slo)
    if refusal:
        return Reply(result=refusal, ephemeral=True)
    now = runtime.clock.now()
    done = silence(runtime, slo=slo, duration=duration, reason=reason, by=user_id, at=now)
    until = done.silence.until
    if done.new:  # a double click or a retry is the same silence: audited once
        record(runtime, actor=user_id, channel=channel_id, action="alert.silence", target=slo,
               before="paging", after=f"silenced until {until.isoformat()}: {reason}", outcome=AuditOutcome.OK,
               detail=f"silence {done.silence.id}")
    covered = f" ({len(done.alerts)} open alert(s) told in their threads)" if done.alerts else ""
    what = "all SLO alerts" if slo == SILENCE_ALL else f"`{slo}`"
    when = until.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Reply(result=f"🔕 Silenced {what} for {_hours(duration)}, until {when}: no re-pages until then{covered}. "
                        "It ends by itself.", ephemeral=True)


def _silence_button(invocation: ActionInvocation, runtime: Runtime) -> Reply:
    alert = find_alert(runtime, invocation.value)
    if alert is None:
        return Reply(result=f"There is no SLO alert `{invocation.value}`. Check the ID in the alert message.",
                     ephemeral=True)
    if not alert.is_open:
        return Reply(result=f"Alert `{alert.id}` is already resolved; nothing to silence.", ephemeral=True)
    return _silence(runtime, slo=alert.key, duration=runtime.config.slo.silence.default_duration,
                    reason=f"silenced from alert {alert.id}", user_id=invocation.user_id,
                    groups=invocation.user_groups, channel_id=invocation.channel_id)


def alert_button(invocation: ActionInvocation, runtime: Runtime) -> Reply | None:
    if invocation.action_id == SILENCE_ACTION:
        return _silence_button(invocation, runtime)
    if invocation.action_id != ACK_ACTION:
        return None  # "Open dashboard" is a URL button: Slack opens the link, nothing to do here
    return _ack(runtime, alert_id=invocation.value, user_id=invocation.user_id, groups=invocation.user_groups,
                channel_id=invocation.channel_id)
