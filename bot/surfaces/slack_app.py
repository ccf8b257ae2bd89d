"""The Bolt app: `/bizra` and button clicks, acknowledged within Slack's 3 seconds.

Bolt verifies the request signature and timestamp before any listener runs. The ack answers at
once (usage errors and `help` are answered in the ack itself); everything slow runs in a lazy
listener afterwards and answers through the request's `response_url`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.core.invocation import ActionInvocation, Invocation, Reply, UsageError, parse
from bot.core.rendering import Renderers
from bot.core.runtime import Runtime
from bot.core.telemetry import COMMANDS

log = logging.getLogger(__name__)


def reply_payload(reply: Reply, renderers: Renderers) -> dict[str, Any]:
    return {
        "response_type": "ephemeral" if reply.ephemeral else "in_channel",
        "text": renderers.fallback(reply.result),
        "blocks": renderers.blocks(reply.result),
    }


def _invocation(command: dict[str, Any]) -> Invocation:
    name, args = parse(command.get("text", ""))
    return Invocation(
        text=command.get("text", ""),
        subcommand=name,
        args=args,
        user_id=command.get("user_id", ""),
        user_name=command.get("user_name", ""),
        channel_id=command.get("channel_id", ""),
        team_id=command.get("team_id", ""),
        response_url=command.get("response_url"),
        trigger_id=command.get("trigger_id"),
    )


def build_app(runtime: Runtime, *, process_before_response: bool = False) -> App:
    registry = runtime.registry
    renderers = registry.renderers
    signing = runtime.secrets.slack_signing_secret
    if signing is None:
        raise RuntimeError("SLACK_SIGNING_SECRET is not set; Slack requests cannot be verified.")
    app = App(
        signing_secret=signing.get_secret_value(),
        client=runtime.slack.get(),
        process_before_response=process_before_response,
        # auth.test runs lazily on the first request instead of at import, so start-up works offline.
        token_verification_enabled=False,
    )

    def ack_command(ack: Ack, command: dict[str, Any]) -> None:
        try:
            invocation = _invocation(command)
            found = registry.lookup(invocation.subcommand)
        except UsageError as exc:
            COMMANDS.labels(command="unknown", outcome="usage").inc()
            ack(response_type="ephemeral", text=str(exc))
            return
        if found.slow:
            ack(response_type="ephemeral", text=f"Working on `{invocation.subcommand}`…")
            return
        reply = runtime.dispatch(invocation)
        COMMANDS.labels(command=invocation.subcommand, outcome="ok").inc()
        ack(**reply_payload(reply, renderers))

    def run_command(respond: Respond, command: dict[str, Any]) -> None:
        try:
            invocation = _invocation(command)
            if not registry.lookup(invocation.subcommand).slow:
                return  # answered in the ack already
        except UsageError:
            return
        try:
            reply = runtime.dispatch(invocation)
            outcome = "ok"
        except Exception:
            log.exception("subcommand %s failed", invocation.subcommand)
            reply = Reply(
                result=f":x: `{invocation.subcommand}` failed inside the bot. Nothing more was changed; "
                "the bot's log has the details.",
                ephemeral=True,
            )
            outcome = "error"
        COMMANDS.labels(command=invocation.subcommand, outcome=outcome).inc()
        respond(**reply_payload(reply, renderers), replace_original=False)
        for extra in reply.followups:
            respond(**reply_payload(Reply(result=extra, ephemeral=reply.ephemeral), renderers), replace_original=False)

    app.command(runtime.config.slack.command)(ack=ack_command, lazy=[run_command])

    def ack_action(ack: Ack) -> None:
        ack()

    def run_action(respond: Respond, body: dict[str, Any]) -> None:
        for clicked in body.get("actions", []):
            handler = registry.find_action(clicked.get("action_id", ""))
            if handler is None:
                log.warning("no handler for action %s", clicked.get("action_id"))
                continue
            container = body.get("container", {})
            message = body.get("message", {})
            invocation = ActionInvocation(
                action_id=clicked.get("action_id", ""),
                value=clicked.get("value", ""),
                user_id=body.get("user", {}).get("id", ""),
                user_name=body.get("user", {}).get("username") or body.get("user", {}).get("name", ""),
                channel_id=(body.get("channel") or {}).get("id", container.get("channel_id", "")),
                message_ts=message.get("ts") or container.get("message_ts"),
                thread_ts=message.get("thread_ts"),
                response_url=body.get("response_url"),
            )
            try:
                reply = handler(invocation, runtime)
                outcome = "ok"
            except Exception:
                log.exception("action %s failed", invocation.action_id)
                reply = Reply(result=":x: That button failed inside the bot; the log has details.", ephemeral=True)
                outcome = "error"
            COMMANDS.labels(command=f"action:{invocation.action_id.split(':')[0]}", outcome=outcome).inc()
            if reply is not None:
                payload = reply_payload(reply, renderers)
                respond(**payload, replace_original=reply.replace_original)

    app.action(re.compile(".*"))(ack=ack_action, lazy=[run_action])
    return app
