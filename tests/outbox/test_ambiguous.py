"""Issue 12.7, "never sent twice": a post whose outcome the bot could not see is looked for before it is sent again.

A `chat.postMessage` that timed out, or whose connection was dropped after the request went out, may
have been posted by Slack all the same. Every outbox post carries Slack message metadata naming its
row (`event_type: bizra_outbox`); before such a row is sent again the outbox reads the channel
(`conversations.history`) or the thread (`conversations.replies`) since just before its first attempt
and adopts the message it finds instead of posting a second one. Against the recording Slack server,
whose faults post the message and then lose the answer, through the composition root's poster and the
Web API client `bizra serve` builds (its own retry handlers included), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import SecretStr
from slack_sdk import WebClient

from bot.adapters.slack import SlackPoster, SlackTransport, build_web_client
from bot.assembly import build_runtime
from bot.core.config import BizraConfig, Secrets
from bot.core.outbox import LEASE_SECONDS, PLACEHOLDER, SENT, Outbox, OutboxPoster, Outgoing, Requester
from bot.core.runtime import Runtime
from tests.support.polling import wait_until
from tests.support.slack import Message, Recorded, SlackRecorder

CHANNEL = "C777"


def _runtime(recorder: SlackRecorder, store_section: dict[str, str], *, timeout: int = 10) -> Runtime:
    """`bizra serve`'s runtime; `timeout`: the Web API client's, short so a held answer times out quickly."""
    config = BizraConfig.model_validate({"store": store_section, "slo": {"enabled": False},
                                         "slack": {"release_channel": CHANNEL, "messages_per_second": 100}})
    secrets = Secrets(slack_bot_token=SecretStr("xoxb-test"), slack_api_url=recorder.api_url)
    runtime = build_runtime(config, secrets)
    runtime.slack.set(build_web_client(secrets, timeout=timeout))  # the client `bizra serve` builds, faster
    return runtime


def _poster(runtime: Runtime) -> OutboxPoster:
    poster = runtime.poster.get()
    assert isinstance(poster, OutboxPoster)
    return poster


def _send_due(runtime: Runtime) -> None:
    """One run of the background sender `bizra serve` schedules."""
    [job] = [job for job in runtime.registry.jobs if job.name == "outbox"]
    job.body(runtime, runtime.clock.now())


def _sending_until(runtime: Runtime, done: Callable[[], object], *, what: str) -> None:
    def step() -> object:
        _send_due(runtime)
        return done()

    wait_until(step, timeout=20, what=what)


def _shown(messages: list[Message], text: str) -> list[Message]:
    return [m for m in messages if m.text == text]


def _lookups(recorder: SlackRecorder, method: str) -> list[Recorded]:
    return [r for r in recorder.calls(method) if not r.faulted]


def test_a_post_whose_answer_timed_out_after_slack_posted_it_is_in_the_channel_once(
        slack_recorder: SlackRecorder, store_section: dict[str, str]) -> None:
    runtime = _runtime(slack_recorder, store_section, timeout=1)
    poster = _poster(runtime)
    slack_recorder.fail_next("chat.postMessage", 1, hang=True, stored=True)  # posted; the answer never comes

    page = poster.post("Breach: p99 over objective")
    assert page is not None and page.startswith(PLACEHOLDER), "the bot does not know it was posted"
    assert len(_shown(slack_recorder.top_level(CHANNEL), "Breach: p99 over objective")) == 1, "but Slack has it"

    _sending_until(runtime, lambda: poster.outbox.resolve(page) != page, what="the post settled")
    for _ in range(3):
        _send_due(runtime)
    [shown] = _shown(slack_recorder.top_level(CHANNEL), "Breach: p99 over objective")
    assert poster.outbox.resolve(page) == shown.ts, "the message Slack holds is adopted, not posted again"
    assert len(slack_recorder.calls("chat.postMessage")) == 1
    row = poster.outbox.get(int(page.removeprefix(PLACEHOLDER)))
    assert shown.metadata == {"event_type": "bizra_outbox", "event_payload": {"outbox_id": row.id,
                                                                              "outbox_key": row.key}}
    [lookup] = _lookups(slack_recorder, "conversations.history")
    assert lookup.body["channel"] == CHANNEL and lookup.body["include_all_metadata"] in ("1", "true", True)
    assert float(lookup.body["oldest"]) < float(shown.ts), "read from just before the first attempt"


def test_a_thread_reply_whose_answer_timed_out_is_in_the_thread_once_and_the_next_reply_follows_it(
        slack_recorder: SlackRecorder, store_section: dict[str, str]) -> None:
    runtime = _runtime(slack_recorder, store_section, timeout=1)
    poster = _poster(runtime)
    parent = poster.post("Rollback started", channel=CHANNEL)
    assert parent and not parent.startswith(PLACEHOLDER)
    slack_recorder.fail_next("chat.postMessage", 1, hang=True, stored=True)

    assert poster.post("step 1: patched", channel=CHANNEL, thread_ts=parent) is None
    assert poster.post("step 2: rolled out", channel=CHANNEL, thread_ts=parent) is None, "waits behind step 1"
    assert [m.text for m in slack_recorder.replies(CHANNEL, parent)] == ["step 1: patched"]

    _sending_until(runtime, lambda: len(slack_recorder.replies(CHANNEL, parent)) >= 2, what="step 2 posted")
    for _ in range(3):
        _send_due(runtime)
    assert [m.text for m in slack_recorder.replies(CHANNEL, parent)] == ["step 1: patched", "step 2: rolled out"]
    assert all(row.state == SENT for row in poster.outbox.rows())
    [lookup] = _lookups(slack_recorder, "conversations.replies")
    assert (lookup.body["channel"], lookup.body["ts"]) == (CHANNEL, parent)
    assert not _lookups(slack_recorder, "conversations.history"), "a reply is looked for in its thread"


def test_a_connection_dropped_after_slack_posted_is_not_posted_again_by_the_client_or_the_outbox(
        slack_recorder: SlackRecorder, store_section: dict[str, str]) -> None:
    # slack_sdk's default ConnectionErrorRetryHandler re-sent such a request at once, behind the outbox's back.
    runtime = _runtime(slack_recorder, store_section)
    poster = _poster(runtime)
    slack_recorder.fail_next("chat.postMessage", 1, drop=True, stored=True)

    page = poster.post("Canary started")
    assert page is not None and page.startswith(PLACEHOLDER), "not re-sent at once by slack_sdk"
    _sending_until(runtime, lambda: poster.outbox.resolve(page) != page, what="the post settled")
    [shown] = _shown(slack_recorder.top_level(CHANNEL), "Canary started")
    assert poster.outbox.resolve(page) == shown.ts
    assert len(slack_recorder.calls("chat.postMessage")) == 1


def test_a_post_that_failed_before_slack_stored_it_is_sent_again_once(
        slack_recorder: SlackRecorder, store_section: dict[str, str]) -> None:
    runtime = _runtime(slack_recorder, store_section, timeout=1)
    poster = _poster(runtime)
    slack_recorder.fail_next("chat.postMessage", 1, hang=True)  # timed out, and Slack did not post it
    slack_recorder.fail_next("chat.postMessage", 1, drop=True)  # dropped, and Slack did not post it

    page = poster.post("Status: all gates green")
    assert page is not None and page.startswith(PLACEHOLDER)
    assert not slack_recorder.top_level(CHANNEL)
    _sending_until(runtime, lambda: poster.outbox.resolve(page) != page, what="the post delivered")
    for _ in range(3):
        _send_due(runtime)
    [shown] = _shown(slack_recorder.top_level(CHANNEL), "Status: all gates green")
    assert poster.outbox.resolve(page) == shown.ts
    assert len(slack_recorder.calls("chat.postMessage")) == 3, "timed out, dropped, then delivered"
    assert len(_lookups(slack_recorder, "conversations.history")) == 2, "looked for before each re-send"


def test_a_clean_refusal_is_sent_again_without_a_lookup(
        slack_recorder: SlackRecorder, store_section: dict[str, str]) -> None:
    runtime = _runtime(slack_recorder, store_section)
    poster = _poster(runtime)
    slack_recorder.fail_next("chat.postMessage", 1, status=500)  # Slack answered: it did not post

    page = poster.post("Release 42 completed")
    assert page is not None
    _sending_until(runtime, lambda: poster.outbox.resolve(page) != page, what="the post delivered")
    assert len(_shown(slack_recorder.top_level(CHANNEL), "Release 42 completed")) == 1
    assert not slack_recorder.calls("conversations.history") and not slack_recorder.calls("conversations.replies")


def test_when_the_lookup_is_not_allowed_the_message_is_sent_again_rather_than_lost(
        slack_recorder: SlackRecorder, store_section: dict[str, str]) -> None:
    # An app installed before the history scopes were added: Slack answers missing_scope.
    runtime = _runtime(slack_recorder, store_section, timeout=1)
    poster = _poster(runtime)
    slack_recorder.fail_next("chat.postMessage", 1, hang=True)
    slack_recorder.fail_next("conversations.history", 1, error="missing_scope")

    page = poster.post("Rollback finished")
    assert page is not None
    _sending_until(runtime, lambda: poster.outbox.resolve(page) != page, what="the post delivered")
    assert len(_shown(slack_recorder.top_level(CHANNEL), "Rollback finished")) == 1
    assert "missing_scope" not in poster.outbox.get(int(page.removeprefix(PLACEHOLDER))).last_error


def test_a_lookup_that_fails_for_a_while_is_tried_again_before_anything_is_re_sent(
        slack_recorder: SlackRecorder, store_section: dict[str, str]) -> None:
    runtime = _runtime(slack_recorder, store_section, timeout=1)
    poster = _poster(runtime)
    slack_recorder.fail_next("chat.postMessage", 1, hang=True, stored=True)
    slack_recorder.fail_next("conversations.history", 1, status=503)  # Slack hiccups while the bot looks

    page = poster.post("Canary promoted to 50%")
    assert page is not None
    _sending_until(runtime, lambda: poster.outbox.resolve(page) != page, what="the post settled")
    assert len(_shown(slack_recorder.top_level(CHANNEL), "Canary promoted to 50%")) == 1
    assert len(slack_recorder.calls("chat.postMessage")) == 1, "held while the lookup failed, then found"
    assert len(slack_recorder.calls("conversations.history")) == 2


def test_many_pages_of_history_are_read_to_find_the_post(
        slack_recorder: SlackRecorder, store_section: dict[str, str]) -> None:
    runtime = _runtime(slack_recorder, store_section, timeout=1)
    poster = _poster(runtime)
    slack_recorder.fail_next("chat.postMessage", 1, hang=True, stored=True)
    page = poster.post("Breach: error rate")
    assert page is not None
    others = WebClient(token="xoxb-someone-else", base_url=slack_recorder.api_url)
    for n in range(450):  # people talk meanwhile (not through the bot): the post is three pages back
        others.chat_postMessage(channel=CHANNEL, text=f"chatter {n}")

    _sending_until(runtime, lambda: poster.outbox.resolve(page) != page, what="the post settled")
    assert len(_shown(slack_recorder.top_level(CHANNEL), "Breach: error rate")) == 1
    assert len(_lookups(slack_recorder, "conversations.history")) >= 3, "followed the cursor"



class _DiesAfterSlackTookIt:
    """A sender whose process dies after Slack took its post and before the answer was recorded
    (`SystemExit` goes through the outbox's handlers as a kill would: the row stays claimed)."""

    def __init__(self, transport: SlackTransport) -> None:
        self._transport = transport

    def send(self, message: Outgoing) -> str | None:
        self._transport.send(message)
        raise SystemExit("killed")

    def notify(self, requester: Requester, text: str) -> bool:
        return False


def test_a_post_whose_sender_died_mid_send_is_adopted_by_the_next_sender_not_posted_again(
        slack_recorder: SlackRecorder, store_section: dict[str, str]) -> None:
    runtime = _runtime(slack_recorder, store_section)
    client = runtime.slack.get()
    transport = SlackTransport(SlackPoster(client, runtime.registry.renderers, default_channel=CHANNEL,
                                           messages_per_second=1000), client)
    clock = [1_000_000.0]
    dying = Outbox(runtime.store.get(), _DiesAfterSlackTookIt(transport), now=lambda: clock[0])
    row_id = dying.enqueue(kind="post", channel=CHANNEL, payload={"text": "Rollback started", "blocks": []})
    with pytest.raises(SystemExit):
        dying.drain_thread(dying.get(row_id).thread)
    assert len(_shown(slack_recorder.top_level(CHANNEL), "Rollback started")) == 1

    clock[0] += LEASE_SECONDS + 1  # the lease runs out: the next sender (a restart, another replica) takes it
    Outbox(runtime.store.get(), transport, now=lambda: clock[0]).pump()
    [shown] = _shown(slack_recorder.top_level(CHANNEL), "Rollback started")
    assert (dying.get(row_id).state, dying.get(row_id).ts) == (SENT, shown.ts)
    assert len(slack_recorder.calls("chat.postMessage")) == 1


def test_a_gateway_timeout_after_slack_posted_is_looked_for_not_posted_again(
        slack_recorder: SlackRecorder, store_section: dict[str, str]) -> None:
    runtime = _runtime(slack_recorder, store_section)
    poster = _poster(runtime)
    slack_recorder.fail_next("chat.postMessage", 1, status=504, stored=True)  # a gateway gave up on Slack

    page = poster.post("Sign-off complete")
    assert page is not None and page.startswith(PLACEHOLDER)
    _sending_until(runtime, lambda: poster.outbox.resolve(page) != page, what="the post settled")
    assert len(_shown(slack_recorder.top_level(CHANNEL), "Sign-off complete")) == 1
    assert len(slack_recorder.calls("chat.postMessage")) == 1
