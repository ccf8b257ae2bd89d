"""Slack's Web API: the shared client, the channel poster, and user-group lookups.

What flows through: rendered messages out to `chat.postMessage` / `chat.update` / file uploads,
user-group members in from `usergroups.users.list`, the bot's own tagged posts in from
`conversations.history` / `conversations.replies`. The client retries on HTTP 429 after Retry-After,
and a connection error only when the request never left (slack_sdk's retry handlers, `build_web_client`);
the poster also keeps to about one message per second per channel, Slack's posting budget.

`SlackTransport` is the outbox's transport (`bot/core/outbox.py`): `send` delivers one persisted
row, a post tagged with message metadata naming the row, and sorts Slack's failures into transient
(HTTP 5xx, unreachable, rate limit exhausted: retried later), ambiguous (a timeout or a connection
lost after the request went out: Slack may have posted it, so the outbox looks before sending again)
and permanent (channel not found, not in channel, …: failed, audited, told); `find` is that look;
`notify` tells the requester through the command's `response_url`, else by DM.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.error import URLError

from bot.core.delivery import Postable
from bot.core.outbox import (
    AmbiguousDeliveryError,
    Outgoing,
    PermanentDeliveryError,
    Requester,
    TransientDeliveryError,
    is_tagged,
    tag,
)
from bot.core.rendering import Renderers

if TYPE_CHECKING:  # slack_sdk is imported where the client is built (build_web_client)
    from slack_sdk import WebClient

    from bot.core.config import Secrets

log = logging.getLogger(__name__)


def build_web_client(secrets: Secrets, *, timeout: int = 10) -> WebClient:
    """The Web API client for this process: answers within `timeout` seconds or raises; retries on HTTP 429
    after Retry-After, and once on a connection error only when the request never left.

    slack_sdk's default `ConnectionErrorRetryHandler` also re-sends after `ConnectionResetError` and
    `RemoteDisconnected`, which urllib raises while waiting for the answer — after the whole request was
    sent, when Slack may already have posted the message — so a post would appear twice behind the outbox's
    back. urllib wraps what goes wrong before the request is out (refused, DNS, connect timeout) in
    `URLError` and raises the rest bare: only `URLError` is retried here; the outbox decides about the rest."""
    from slack_sdk import WebClient  # lazy: slack_sdk costs ~100 ms; only a process that talks to Slack pays it
    from slack_sdk.http_retry.builtin_handlers import (  # lazy: part of slack_sdk, as above
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
    )

    token = secrets.slack_bot_token
    return WebClient(
        token=token.get_secret_value() if token else None,
        base_url=secrets.slack_api_url,
        timeout=timeout,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1, error_types=[URLError]),
                        RateLimitErrorRetryHandler(max_retry_count=3)],
    )


class _Pacer:
    """At most `rate` posts per second per channel; callers wait their turn (polling the clock)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, channel: str) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(channel, now))
            self._next[channel] = slot + self._interval
        delay = slot - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # rate limiting is the point here, not waiting for a condition


class SlackPoster:
    def __init__(self, client: WebClient, renderers: Renderers, *, default_channel: str,
                 messages_per_second: float) -> None:
        self._client = client
        self._renderers = renderers
        self._default = default_channel
        self._pacer = _Pacer(messages_per_second)

    def _channel(self, channel: str | None) -> str:
        chosen = channel or self._default
        if not chosen:
            raise RuntimeError("No channel to post to: set slack.release_channel in the config.")
        return chosen

    def post(self, result: Postable, *, channel: str | None = None, thread_ts: str | None = None) -> str | None:
        return self.post_rendered(self._channel(channel), text=self._renderers.fallback(result),
                                  blocks=self._renderers.blocks(result), thread_ts=thread_ts)

    def post_rendered(self, channel: str, *, text: str, blocks: list[dict[str, Any]],
                      thread_ts: str | None = None, metadata: dict[str, Any] | None = None) -> str | None:
        self._pacer.wait(channel)
        response = self._client.chat_postMessage(channel=channel, text=text, blocks=blocks, thread_ts=thread_ts,
                                                 metadata=metadata)
        return response.get("ts")

    def update(self, ts: str, result: Postable, *, channel: str | None = None) -> None:
        self.update_rendered(self._channel(channel), ts, text=self._renderers.fallback(result),
                             blocks=self._renderers.blocks(result))

    def update_rendered(self, channel: str, ts: str, *, text: str, blocks: list[dict[str, Any]]) -> None:
        self._pacer.wait(channel)
        self._client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)

    def upload_png(self, png: bytes, *, filename: str, title: str, channel: str | None = None,
                   thread_ts: str | None = None) -> str | None:
        target = self._channel(channel)
        self._pacer.wait(target)
        response = self._client.files_upload_v2(
            content=png, filename=filename, title=title, channel=target, thread_ts=thread_ts
        )
        files = response.get("files") or [{}]
        return files[0].get("id")

    def upload_file(self, data: bytes, *, filename: str, title: str, channel: str | None = None,
                    thread_ts: str | None = None) -> str | None:
        """Any file (the evidence archive), through files.getUploadURLExternal / completeUploadExternal."""
        target = self._channel(channel)
        self._pacer.wait(target)
        response = self._client.files_upload_v2(
            content=data, filename=filename, title=title, channel=target, thread_ts=thread_ts
        )
        files = response.get("files") or [{}]
        return files[0].get("id")


# Slack errors worth another try later; every other `ok: false` is permanent for that message.
# (HTTP 504 is ambiguous, not merely transient: a gateway gave up waiting for Slack, which may have posted.)
# (`internal_error` is not here: Slack says the operation may have partly succeeded, so a blind retry
# could post twice; the row fails, is audited, and a caller that retries — the SLO watch — does.)
TRANSIENT_ERRORS = frozenset({"ratelimited", "service_unavailable", "request_timeout", "fatal_error"})


def classify(exc: Exception) -> Exception:
    """A Web API failure as the outbox sees it: `TransientDeliveryError` or `PermanentDeliveryError`."""
    from slack_sdk.errors import SlackApiError  # lazy: as build_web_client

    if isinstance(exc, SlackApiError):
        status = int(getattr(exc.response, "status_code", 0) or 0)
        data: Any = getattr(exc.response, "data", None)
        error = str(data.get("error") if isinstance(data, dict) else "") or f"HTTP {status}"
        answered = f"Slack answered {error}" + (f" (HTTP {status})" if status != 200 else "")
        if status == 504:
            return AmbiguousDeliveryError(answered)
        if status >= 500 or status == 429 or error in TRANSIENT_ERRORS:
            return TransientDeliveryError(answered)
        return PermanentDeliveryError(f"Slack answered {error}")
    if isinstance(exc, URLError):  # refused, DNS, connect timeout: the request never left
        return TransientDeliveryError(f"Slack was not reached: {exc.reason}")
    # A timeout waiting for the answer, the connection reset or closed after the request was sent, a
    # garbled answer: Slack may have taken it.
    return AmbiguousDeliveryError(f"Slack did not answer: {type(exc).__name__}: {exc}")


HISTORY_PAGE = 200  # messages per conversations.history / .replies page (Slack suggests at most 200)
MAX_HISTORY_PAGES = 10  # read at most this many pages back; more means "cannot tell" (transient)


class SlackTransport:
    """The outbox's way out: one persisted row to the Web API, failures classified; and its way to find a
    post an earlier attempt left without an answer (`find`: needs `channels:history` / `groups:history`)."""

    def __init__(self, poster: SlackPoster, client: WebClient) -> None:
        self._poster = poster
        self._client = client

    def send(self, message: Outgoing) -> str | None:
        payload = message.payload
        try:
            if message.kind == "post":
                return self._poster.post_rendered(message.channel, text=payload["text"], blocks=payload["blocks"],
                                                  thread_ts=message.thread_ts, metadata=tag(message))
            if message.kind == "update":
                self._poster.update_rendered(message.channel, str(message.ts), text=payload["text"],
                                             blocks=payload["blocks"])
                return message.ts
            if message.kind == "upload":
                return self._poster.upload_png(base64.b64decode(payload["png"]), filename=payload["filename"],
                                               title=payload["title"], channel=message.channel,
                                               thread_ts=message.thread_ts)
        except Exception as exc:
            raise classify(exc) from exc
        raise PermanentDeliveryError(f"unknown outbox message kind {message.kind!r}")

    def find(self, message: Outgoing, *, oldest: float) -> str | None:
        """The ts of the post tagged as `message` since `oldest`: in its thread (conversations.replies) or
        among the channel's own messages (conversations.history), page by page. Raises `DeliveryError`."""
        cursor: str | None = None
        try:
            for _ in range(MAX_HISTORY_PAGES):
                arguments: dict[str, Any] = {"channel": message.channel, "oldest": f"{oldest:.6f}",
                                             "include_all_metadata": True, "limit": HISTORY_PAGE, "cursor": cursor}
                if message.thread_ts:
                    page = self._client.conversations_replies(ts=message.thread_ts, **arguments)
                else:
                    page = self._client.conversations_history(**arguments)
                for shown in page.get("messages") or []:
                    if is_tagged(shown.get("metadata"), message):
                        return str(shown["ts"])
                cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
                if not page.get("has_more") or not cursor:
                    return None
        except Exception as exc:
            raised = classify(exc)
            # A lookup changes nothing in Slack, so any lookup failure that is not permanent is merely transient.
            raise (raised if isinstance(raised, PermanentDeliveryError) else
                   TransientDeliveryError(str(raised))) from exc
        raise TransientDeliveryError(f"more than {MAX_HISTORY_PAGES * HISTORY_PAGE} messages since the first attempt")

    def notify(self, requester: Requester, text: str) -> bool:
        if requester.response_url:
            from slack_sdk.webhook import WebhookClient  # lazy: as build_web_client

            try:
                answer = WebhookClient(requester.response_url, timeout=10).send(
                    text=text, response_type="ephemeral", replace_original=False)
                if answer.status_code == 200:
                    return True
                log.warning("response_url answered HTTP %s; trying a DM", answer.status_code)
            except Exception as exc:
                log.warning("could not answer on response_url (%s); trying a DM", exc)
        if requester.user_id:
            try:
                self._client.chat_postMessage(channel=requester.user_id, text=text)
                return True
            except Exception as exc:
                log.warning("could not DM %s: %s", requester.user_id, exc)
        return False


class SlackGroupDirectory:
    """Members of Slack user groups, looked up on demand and cached (monotonic time, not the test clock).

    Slack does not send a user's groups with a command or a click, so access checks ask
    `usergroups.users.list` (the `usergroups:read` scope). A failed lookup counts as "no members"
    (refuse rather than guess) and is logged; it is not cached, so the next check asks again.
    """

    def __init__(self, client: WebClient, *, cache_seconds: float) -> None:
        self._client = client
        self._ttl = cache_seconds
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def members(self, group_id: str) -> frozenset[str]:
        with self._lock:
            cached = self._cache.get(group_id)
            if cached and time.monotonic() - cached[0] < self._ttl:
                return cached[1]
        found = self._lookup(group_id)
        if found is None:
            return frozenset()
        with self._lock:
            self._cache[group_id] = (time.monotonic(), found)
        return found

    def _lookup(self, group_id: str) -> frozenset[str] | None:
        try:
            response = self._client.usergroups_users_list(usergroup=group_id)
            return frozenset(response.get("users") or [])
        except Exception as exc:  # a Slack error must refuse, never crash or grant
            log.warning("could not list members of user group %s: %s", group_id, exc)
            return None
