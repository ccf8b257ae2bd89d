"""The Bolt app: `/bizra` and button clicks, acknowledged within Slack's 3 seconds.

Bolt verifies the request signature and timestamp before any listener runs. The ack answers at
once (usage errors and `help` are answered in the ack itself); everything slow is handed to the
runtime's bounded executors (`runtime.work`, bot/core/work.py) and answers through the request's
`response_url` afterwards. The ack listeners run on their own pool, which slow work never holds;
when the executors are full the ack says "busy, try again" instead of leaving the user in silence.

Authorization makes no Web API call (no `auth.test` per request): a slow or rate-limiting Slack
API cannot delay an ack. A request whose body was already seen in the last minutes (the store's
`slack_seen_requests`) is not run again: a Slack retry is answered 200, a replay is refused 409.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.error import URLError

from slack_bolt import Ack, App, BoltRequest, BoltResponse, Respond
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from bot.core.audit import AuditOutcome, record
from bot.core.invocation import ActionInvocation, Invocation, Reply, UsageError, parse
from bot.core.migrations import Migration, Schema
from bot.core.outbox import requested_by
from bot.core.rendering import Renderers
from bot.core.runtime import Runtime
from bot.core.telemetry import COMMANDS
from bot.core.work import Busy, Lane
from bot.surfaces.http import serve_runtime, watch_store

log = logging.getLogger(__name__)


ACK_WORKERS = 4  # Bolt's listener pool: only "busy" answers to clicks run here; slow work is in runtime.work
SECTION_LIMIT = 3000  # Slack refuses a section whose text is longer
TEXT_LIMIT = 39000  # and a message text over 40,000
REPLAY_WINDOW_SECONDS = 6 * 60  # Bolt accepts a signature for 5 minutes; remember bodies a little longer
BUSY = ":hourglass: The bot is busy with other work right now; `{what}` was not started. Try again in a minute."
_SEEN_DDL = """CREATE TABLE IF NOT EXISTS slack_seen_requests (
    digest TEXT PRIMARY KEY,   -- sha256 of the signed body (slash commands and clicks carry unique ids)
    signature TEXT NOT NULL,   -- X-Slack-Signature as first received
    seen_at REAL NOT NULL      -- unix time; rows older than the replay window are purged
)"""
SEEN_SCHEMA = Schema("slack_seen_requests", [Migration(1, _SEEN_DDL)])


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _within_limits(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Clip section and context texts to Slack's limits, so a reply repeating long user input still arrives."""
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict) and isinstance(text.get("text"), str):
            text["text"] = _clip(text["text"], SECTION_LIMIT)
        for field in block.get("fields") or []:
            if isinstance(field, dict) and isinstance(field.get("text"), str):
                field["text"] = _clip(field["text"], 2000)
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("type") in ("mrkdwn", "plain_text"):
                element["text"] = _clip(str(element.get("text", "")), SECTION_LIMIT)
    return blocks


def reply_payload(reply: Reply, renderers: Renderers) -> dict[str, Any]:
    return {
        "response_type": "ephemeral" if reply.ephemeral else "in_channel",
        # The fallback is plain text (the console's words) that Slack shows in notifications: no
        # broadcast (`<!channel>`, `<!here>`) can come from user text echoed in it.
        "text": _clip(renderers.fallback(reply.result).replace("<!", "&lt;!"), TEXT_LIMIT),
        "blocks": _within_limits(renderers.blocks(reply.result)),
    }


# A response_url post is tried again only when it never left: urllib raises URLError for a failure to
# connect or to send. Bolt's `respond()` also retries after RemoteDisconnected / ConnectionResetError,
# which come after the whole request was sent, when Slack may already show it: the answer appeared
# twice (tests/slack/test_reply_once.py). A response_url post has no idempotency key to make that safe.
_RETRY_IF_NOT_SENT = ConnectionErrorRetryHandler(max_retry_count=1, error_types=[URLError])


def answer_once(respond: Respond, **message: Any) -> None:
    """Post `message` on the request's response_url, at most once; raises when Slack did not take it."""
    if respond.response_url is None:
        raise ValueError("this request has no response_url to answer on")
    client = WebhookClient(url=respond.response_url, proxy=respond.proxy, ssl=respond.ssl,
                           retry_handlers=[_RETRY_IF_NOT_SENT])
    answer = client.send_dict({key: value for key, value in message.items() if value is not None})
    if answer.status_code != 200:
        raise RuntimeError(f"the response_url answered HTTP {answer.status_code}: {str(answer.body)[:200]}")


def _lane_for_command(invocation: Invocation) -> Lane:
    # Confirming a rollback follows the rollout for up to minutes: it gets the long lane.
    if invocation.subcommand == "rollback" and invocation.args[:1] and invocation.args[0].lower() == "confirm":
        return "long"
    return "slow"


def _lane_for_action(action_id: str) -> Lane:
    return "long" if action_id.startswith("rollback.confirm") else "slow"


def _header(req: BoltRequest, name: str) -> str:
    values = req.headers.get(name.lower()) or []
    return str(values[0]) if values else ""


@dataclass
class _Pending:
    """One signed body waiting for its row in `slack_seen_requests`; filled in by whoever commits its batch."""

    digest: str
    signature: str
    at: float
    done: bool = False
    seen: bool = False
    error: Exception | None = None


def _remember(runtime: Runtime, batch: list[_Pending]) -> None:
    """Insert the batch's rows in one transaction (one commit, one fsync) and mark each body seen or new.

    The primary key decides, in this process and across replicas: `ON CONFLICT DO NOTHING RETURNING`
    names exactly the rows this statement inserted, whoever else inserts the same digest at the same
    moment. Rows go in digest order, so two replicas' batches that share digests cannot deadlock on
    PostgreSQL, and no store-wide write lock is needed (`serialize=False`)."""
    first_of_each = {p.digest: p for p in reversed(batch)}
    rows = [first_of_each[digest] for digest in sorted(first_of_each)]
    values = ", ".join(["(?, ?, ?)"] * len(rows))
    parameters = [value for p in rows for value in (p.digest, p.signature, p.at)]
    db = runtime.store.get()
    db.ensure(SEEN_SCHEMA)
    with db.transaction(serialize=False) as connection:
        inserted = {str(row[0]) for row in connection.execute(
            f"INSERT INTO slack_seen_requests (digest, signature, seen_at) VALUES {values} "
            "ON CONFLICT (digest) DO NOTHING RETURNING digest", parameters).fetchall()}
    for pending in batch:  # within the batch, only the first of a digest is new
        pending.seen = pending.digest not in inserted
        inserted.discard(pending.digest)
        pending.done = True


def _forget_old(runtime: Runtime, *, now: float) -> None:
    db = runtime.store.get()
    db.ensure(SEEN_SCHEMA)
    with db.transaction(serialize=False) as connection:
        connection.execute("DELETE FROM slack_seen_requests WHERE seen_at < ?", (now - REPLAY_WINDOW_SECONDS,))


class ReplayGuard:
    """Remembers every signed body for the replay window; `seen()` is True when it was already seen.

    Group commit: each request waits until its own row is committed (as durable as any store write: a
    replay after a crash or a power loss is still refused), but the requests that arrive while one
    commit is under way share the next one. A commit costs a WAL fsync and a few interpreter-lock
    handoffs; one per request, taken one after another, made 50 concurrent acks wait ~100 ms for each
    other (docs/benchmarks.md)."""

    MAX_BATCH = 200  # rows per statement: 600 parameters, far below either backend's limit
    PURGE_EVERY_SECONDS = 10.0  # expired rows go in a statement of their own, at most this often

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._queue_lock = threading.Lock()  # guards `_queued`; held for microseconds
        self._commit_lock = threading.Lock()  # one batch commits at a time in this process
        self._queued: list[_Pending] = []
        self._purged_at = 0.0

    def seen(self, *, body: str, signature: str, now: float | None = None) -> bool:
        """Remember `body`; True when it was already seen within the replay window. Raises when the store fails."""
        pending = _Pending(hashlib.sha256(body.encode()).hexdigest(), signature, time.time() if now is None else now)
        with self._queue_lock:
            self._queued.append(pending)
        with self._commit_lock:
            while not pending.done:  # no commit took it yet: commit what is queued (FIFO, so it comes soon)
                with self._queue_lock:
                    batch, self._queued = self._queued[:self.MAX_BATCH], self._queued[self.MAX_BATCH:]
                self._commit(batch)
        if pending.error is not None:
            raise pending.error
        return pending.seen

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            newest = max(p.at for p in batch)
            if newest - self._purged_at >= self.PURGE_EVERY_SECONDS:
                _forget_old(self._runtime, now=newest)
                self._purged_at = newest
            _remember(self._runtime, batch)
        except Exception as exc:  # every request of the batch learns of it (`_replay_guard` decides)
            for pending in batch:
                pending.error, pending.done = exc, True


def _replay_guard(runtime: Runtime) -> Callable[..., BoltResponse]:
    """Bolt middleware, after the signature check: a body seen before does not run again."""

    replay_guard = ReplayGuard(runtime)

    def guard(req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:
        if req.mode != "http":
            return next()
        signature = _header(req, "X-Slack-Signature")
        try:
            seen = replay_guard.seen(body=req.raw_body, signature=signature)
        except Exception:  # the store is down: run the request rather than refuse every one
            log.exception("could not check the request against the seen-requests table")
            return next()
        if not seen:
            return next()
        if _header(req, "X-Slack-Retry-Num"):
            log.info("Slack retry %s of a request already handled; not run again",
                     _header(req, "X-Slack-Retry-Num"))
            return BoltResponse(status=200, body="")
        log.warning("replayed Slack request refused (signature %s…)", signature[:12])
        return BoltResponse(status=409, body="replayed request refused: this exact request was already handled")

    return guard


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


def build_app(runtime: Runtime, *, process_before_response: bool = True,
              listener_executor: ThreadPoolExecutor | None = None) -> App:
    """The Bolt app. The ack listeners only parse, answer fast commands and hand slow work to
    `runtime.work`, so they run in the request's own thread before the response
    (`process_before_response`): no hop to Bolt's listener pool and no 10 ms ack polling."""
    registry = runtime.registry
    renderers = registry.renderers
    signing = runtime.secrets.slack_signing_secret
    if signing is None:
        raise RuntimeError("SLACK_SIGNING_SECRET is not set; Slack requests cannot be verified.")
    client = runtime.slack.get()
    token = client.token

    def authorize(enterprise_id: str | None, team_id: str | None, user_id: str | None) -> AuthorizeResult:
        # One workspace, one bot token: no auth.test per request, so a slow Web API never delays an ack.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, bot_token=token)

    # Bolt's own client (a copy per request gets the token from `authorize`): the runtime's, without the token.
    bolt_client = WebClient(base_url=client.base_url, timeout=client.timeout, ssl=client.ssl, proxy=client.proxy,
                            headers=dict(client.headers), retry_handlers=list(client.retry_handlers))

    side = listener_executor or ThreadPoolExecutor(max_workers=ACK_WORKERS, thread_name_prefix="bizra-ack")
    app = App(
        signing_secret=signing.get_secret_value(),
        client=bolt_client,
        authorize=authorize,
        process_before_response=process_before_response,
        # auth.test never runs at start-up either, so start-up works offline.
        token_verification_enabled=False,
        listener_executor=side,
        before_authorize=_replay_guard(runtime),
    )
    watch_store(app, lambda: runtime.store.get().health())  # /healthz and /readyz report the store
    serve_runtime(app, runtime)  # /webhooks/alertmanager reaches the runtime

    def run_command(respond: Respond, invocation: Invocation) -> None:
        try:
            with requested_by(invocation.user_id, channel_id=invocation.channel_id,
                              response_url=invocation.response_url):  # told if Slack refuses a message of it
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
        try:
            answer_once(respond, **reply_payload(reply, renderers), replace_original=False)
            for extra in reply.followups:
                answer_once(respond, **reply_payload(Reply(result=extra, ephemeral=reply.ephemeral), renderers),
                            replace_original=False)
        except Exception:
            log.exception("could not answer %s on its response_url", invocation.subcommand)

    def ack_command(ack: Ack, respond: Respond, command: dict[str, Any]) -> None:
        try:
            invocation = _invocation(command)
            found = registry.lookup(invocation.subcommand)
        except UsageError as exc:
            COMMANDS.labels(command="unknown", outcome="usage").inc()
            ack(response_type="ephemeral", text=_clip(str(exc), SECTION_LIMIT))
            return
        if found.slow:
            try:
                runtime.work.get().submit(lambda: run_command(respond, invocation),
                                          lane=_lane_for_command(invocation))
            except Busy:
                COMMANDS.labels(command=invocation.subcommand, outcome="busy").inc()
                ack(response_type="ephemeral", text=BUSY.format(what=invocation.subcommand))
                return
            ack(response_type="ephemeral", text=f"Working on `{invocation.subcommand}`…")
            return
        reply = runtime.dispatch(invocation)
        COMMANDS.labels(command=invocation.subcommand, outcome="ok").inc()
        ack(**reply_payload(reply, renderers))

    app.command(runtime.config.slack.command)(ack_command)

    def run_click(respond: Respond, body: dict[str, Any], clicked: dict[str, Any]) -> None:
        action_id = str(clicked.get("action_id", ""))
        handler = registry.find_action(action_id)
        user = body.get("user") or {}
        container = body.get("container") or {}
        message = body.get("message") or {}
        channel_id = (body.get("channel") or {}).get("id", container.get("channel_id", ""))
        if handler is None:
            log.warning("no handler for action %s", action_id)
            record(runtime, actor=str(user.get("id", "")), channel=str(channel_id), action="action.unknown",
                   target=_clip(action_id, 200), before="", after="", outcome=AuditOutcome.REFUSED,
                   detail="no handler for this action_id; nothing was run")
            return
        invocation = ActionInvocation(
            action_id=action_id,
            # A button's value, or a select menu's chosen option.
            value=str(clicked.get("value") or (clicked.get("selected_option") or {}).get("value", "")),
            user_id=str(user.get("id", "")),
            user_name=user.get("username") or user.get("name", ""),
            channel_id=str(channel_id),
            message_ts=message.get("ts") or container.get("message_ts"),
            thread_ts=message.get("thread_ts"),
            response_url=body.get("response_url"),
        )
        try:
            with requested_by(invocation.user_id, channel_id=invocation.channel_id,
                              response_url=invocation.response_url):  # told if Slack refuses a message of it
                reply = handler(invocation, runtime)
            outcome = "ok"
        except Exception:
            log.exception("action %s failed", invocation.action_id)
            reply = Reply(result=":x: That button failed inside the bot; the log has details.", ephemeral=True)
            outcome = "error"
        COMMANDS.labels(command=f"action:{invocation.action_id.split(':')[0]}", outcome=outcome).inc()
        if reply is not None:
            try:
                answer_once(respond, **reply_payload(reply, renderers), replace_original=reply.replace_original)
            except Exception:
                log.exception("could not answer action %s on its response_url", invocation.action_id)

    def ack_action(ack: Ack, respond: Respond, body: dict[str, Any]) -> None:
        actions = body.get("actions")
        clicks = [a for a in actions if isinstance(a, dict)] if isinstance(actions, list) else []
        busy = False
        for clicked in clicks:
            action_id = str(clicked.get("action_id", ""))

            def job(clicked: dict[str, Any] = clicked) -> None:
                run_click(respond, body, clicked)

            try:
                runtime.work.get().submit(job, lane=_lane_for_action(action_id))
            except Busy:
                COMMANDS.labels(command=f"action:{action_id.split(':')[0]}", outcome="busy").inc()
                busy = True
        ack()  # Slack ignores an ack's body for clicks: the busy answer goes to the response_url
        if busy:
            def tell_busy() -> None:
                try:
                    answer_once(respond, response_type="ephemeral", replace_original=False,
                                text=BUSY.format(what="that button"))
                except Exception:
                    log.exception("could not tell the user the bot is busy")

            side.submit(tell_busy)

    app.action(re.compile(".*"))(ack_action)

    def listen(name: str) -> None:
        """Events API events (`app_home_opened`): acked at once, the feature's handler runs on `runtime.work`."""
        handler = registry.events[name]

        def ack_event(ack: Ack, event: dict[str, Any]) -> None:
            ack()

            def run() -> None:
                try:
                    handler(event, runtime)
                except Exception:
                    log.exception("event %s failed", name)

            try:
                runtime.work.get().submit(run, lane="slow")
            except Busy:
                log.warning("busy: event %s dropped", name)

        app.event(name)(ack_event)

    for name in registry.events:
        listen(name)
    return app
