"""Issue 12.7: messages Slack refused are not lost.

Every message goes through the persisted outbox: HTTP 5xx and timeouts are retried with backoff,
in order per thread (a reply waits for its parent's ts), never sent twice (two replicas on one
store), and a permanent refusal is audited and told to whoever asked. Against the recording Slack
server with fault injection, through the composition root's poster, its registered `outbox` job and
(for the requester) the Bolt app over signed HTTP.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr
from slack_sdk import WebClient

from bot.adapters.slack import SlackPoster, SlackTransport
from bot.assembly import build_runtime
from bot.core.audit import latest
from bot.core.config import BizraConfig, Secrets
from bot.core.delivery import Poster
from bot.core.invocation import Invocation, Reply
from bot.core.outbox import (
    FAILED,
    MAX_ATTEMPTS,
    PLACEHOLDER,
    SENT,
    Outbox,
    OutboxPoster,
    PermanentDeliveryError,
    audit_failure,
    backoff,
)
from bot.core.runtime import Runtime, Subcommand
from tests.support.bot import running_bot
from tests.support.polling import wait_until
from tests.support.slack import Recorded, SlackRecorder

CHANNEL = "C777"


def _config(store_section: dict[str, str]) -> BizraConfig:
    """`store_section`: a SQLite file or a PostgreSQL database (tests/support/stores.py): every test runs on both."""
    return BizraConfig.model_validate({"store": store_section, "slo": {"enabled": False},
                                       "slack": {"release_channel": CHANNEL, "messages_per_second": 100}})


def _secrets(recorder: SlackRecorder) -> Secrets:
    return Secrets(slack_bot_token=SecretStr("xoxb-test"), slack_api_url=recorder.api_url)


def _runtime(recorder: SlackRecorder, store_section: dict[str, str]) -> Runtime:
    return build_runtime(_config(store_section), _secrets(recorder))


def _send_due(runtime: Runtime) -> None:
    """One run of the background sender `bizra serve` schedules."""
    [job] = [job for job in runtime.registry.jobs if job.name == "outbox"]
    job.body(runtime, runtime.clock.now())


def _sending_until(runtime: Runtime, done: Callable[[], object], *, what: str) -> None:
    """Run the sender until `done()` (poll with a deadline: the backoff runs on the wall clock)."""
    def step() -> object:
        _send_due(runtime)
        return done()

    wait_until(step, timeout=15, what=what)


def _posts(recorder: SlackRecorder, text: str | None = None) -> list[Recorded]:
    ok = [r for r in recorder.calls("chat.postMessage") if r in _answered_ok(recorder)]
    return [r for r in ok if text is None or r.body.get("text") == text]


def _answered_ok(recorder: SlackRecorder) -> list[Recorded]:
    """Requests the recorder answered with ok (fault injection marks the ones it failed)."""
    return [r for r in recorder.calls() if not r.faulted]


def _thread(recorder: SlackRecorder, ts: str) -> list[str]:
    return [str(r.body.get("text")) for r in _posts(recorder) if r.body.get("thread_ts") == ts]


def test_progress_replies_answered_http_500_are_retried_in_order_and_sent_once(
        slack_recorder: SlackRecorder, store_section: dict[str, str]) -> None:
    runtime = _runtime(slack_recorder, store_section)
    poster: Poster = runtime.poster.get()
    parent = poster.post("Rollback started", channel=CHANNEL)
    assert parent and not parent.startswith(PLACEHOLDER)

    slack_recorder.fail_next("chat.postMessage", 2, status=500)
    poster.post("step 1: patched", channel=CHANNEL, thread_ts=parent)  # was: SlackApiError, the caller dropped it
    poster.post("step 2: rolled out", channel=CHANNEL, thread_ts=parent)
    assert _thread(slack_recorder, parent) == [], "nothing overtakes the reply Slack refused"

    _sending_until(runtime, lambda: len(_thread(slack_recorder, parent)) == 2, what="both replies, after backoff")
    assert _thread(slack_recorder, parent) == ["step 1: patched", "step 2: rolled out"]
    for _ in range(3):
        _send_due(runtime)
    assert [len(_posts(slack_recorder, text)) for text in ("step 1: patched", "step 2: rolled out")] == [1, 1]
    attempts = [r for r in slack_recorder.calls("chat.postMessage") if r.body.get("text") == "step 1: patched"]
    assert len(attempts) == 3, "two HTTP 500s, then the delivery"


def test_a_timed_out_thread_parent_holds_its_replies_and_updates_until_it_has_a_ts(
        slack_recorder: SlackRecorder, store_section: dict[str, str]) -> None:
    runtime = _runtime(slack_recorder, store_section)
    client = WebClient(token="xoxb-test", base_url=slack_recorder.api_url, timeout=1)
    runtime.slack.set(client)  # a short timeout, so the hung calls time out quickly
    poster = runtime.poster.get()
    slack_recorder.fail_next("chat.postMessage", 2, hang=True)

    page = poster.post("Breach: p99 over objective")
    assert page is not None and page.startswith(PLACEHOLDER), "not delivered yet: a placeholder for the thread"
    assert poster.post("chart follows", thread_ts=page) is None
    poster.update(page, "Breach: acknowledged by U1")
    assert not [r for r in _answered_ok(slack_recorder) if r.api_method in ("chat.postMessage", "chat.update")]

    assert isinstance(poster, OutboxPoster)
    _sending_until(runtime, lambda: poster.outbox.resolve(page) != page, what="the parent delivered")
    _sending_until(runtime, lambda: slack_recorder.calls("chat.update"), what="the update")
    real = poster.outbox.resolve(page)
    delivered = [r for r in _answered_ok(slack_recorder) if r.api_method in ("chat.postMessage", "chat.update")]
    assert [(r.api_method, r.body.get("text")) for r in delivered] == [
        ("chat.postMessage", "Breach: p99 over objective"), ("chat.postMessage", "chart follows"),
        ("chat.update", "Breach: acknowledged by U1")]
    assert delivered[1].body["thread_ts"] == real and delivered[2].body["ts"] == real


def test_two_replicas_sending_at_once_deliver_each_message_once(
        slack_recorder: SlackRecorder, store_section: dict[str, str]) -> None:
    first, second = _runtime(slack_recorder, store_section), _runtime(slack_recorder, store_section)  # one store
    parent = first.poster.get().post("Canary started")
    assert parent
    slack_recorder.fail_next("chat.postMessage", 1, status=503)
    for n in range(5):
        first.poster.get().post(f"progress {n}", thread_ts=parent)
    first.store.get().connect().close()  # the first replica stops; what it owes stays in the store

    def both_send() -> bool:
        workers = [threading.Thread(target=_send_due, args=(replica,)) for replica in (first, second) for _ in (0, 1)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)
        return len(_thread(slack_recorder, parent)) == 5

    wait_until(both_send, timeout=15, what="all progress posted")
    both_send()
    assert _thread(slack_recorder, parent) == [f"progress {n}" for n in range(5)]


def test_a_reply_to_a_missing_channel_is_audited_and_told_to_the_requester(
        slack_recorder: SlackRecorder, store_section: dict[str, str]) -> None:
    refused: list[Exception] = []

    def progress(invocation: Invocation, runtime: Runtime) -> Reply:
        try:  # as the canary and rollback threads do: a Slack hiccup never stops the work
            runtime.poster.get().post("stage 2 applied", channel="CGONE", thread_ts="1700000000.000100")
        except Exception as exc:
            refused.append(exc)
        return Reply(result="progress done")

    slack_recorder.fail_next("chat.postMessage", 1, error="channel_not_found")
    with running_bot(slack_recorder, config=_config(store_section)) as bot:
        bot.runtime.registry.add_subcommand(Subcommand(name="progress", usage="progress", summary="t",
                                                       handler=progress))
        status, _ = bot.command("progress", user_id="U42")
        assert status == 200
        told = slack_recorder.wait_for(
            lambda _: [r for r in slack_recorder.responses() if "could not be delivered" in str(r.body.get("text"))],
            what="the requester told on response_url")
        [notice] = [r for r in told if "could not be delivered" in str(r.body.get("text"))]
        assert notice.body["response_type"] == "ephemeral" and "channel_not_found" in notice.body["text"]
        assert "stage 2 applied" in notice.body["text"]
        [entry] = latest(bot.runtime, 5, action_prefix="slack.delivery")
        assert (entry.actor, entry.channel, entry.outcome) == ("U42", "CGONE", "failed")
        assert "channel_not_found" in entry.detail and entry.after == "stage 2 applied"
    assert refused and isinstance(refused[0], PermanentDeliveryError), "the caller learns it, as before"
    assert len([r for r in slack_recorder.calls("chat.postMessage") if r.body.get("text") == "stage 2 applied"]) == 1


def test_without_a_response_url_the_requester_gets_a_dm(
        slack_recorder: SlackRecorder, store_section: dict[str, str]) -> None:
    from bot.core.outbox import requested_by

    runtime = _runtime(slack_recorder, store_section)
    slack_recorder.fail_next("chat.postMessage", 1, error="not_in_channel")
    with requested_by("U7", channel_id="C1"), pytest.raises(PermanentDeliveryError, match="not_in_channel"):
        runtime.poster.get().post("verify checklist", channel="CPRIVATE")
    [dm] = [r for r in slack_recorder.calls("chat.postMessage") if r.body.get("channel") == "U7"]
    assert "not_in_channel" in str(dm.body["text"])


class _WallClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_and_a_message_that_never_gets_through_fails_audited(
        slack_recorder: SlackRecorder, store_section: dict[str, str]) -> None:
    runtime = _runtime(slack_recorder, store_section)
    clock = _WallClock()
    client = runtime.slack.get()
    outbox = Outbox(runtime.store.get(), SlackTransport(SlackPoster(client, runtime.registry.renderers,
                                                                    default_channel=CHANNEL, messages_per_second=1000),
                                                        client), now=clock, on_failed=audit_failure(runtime))
    poster = OutboxPoster(outbox, runtime.registry.renderers, default_channel=CHANNEL)
    slack_recorder.fail_next("chat.postMessage", 1000, status=502)

    placeholder = poster.post("status")
    assert placeholder and placeholder.startswith(PLACEHOLDER)
    row_id = int(placeholder.removeprefix(PLACEHOLDER))
    delays = []
    while outbox.get(row_id).state != FAILED:
        row = outbox.get(row_id)
        delays.append(row.next_attempt_at - clock.now)
        outbox.pump()
        assert outbox.get(row_id).attempts == row.attempts, "nothing is sent before it is due"
        clock.now = row.next_attempt_at
        outbox.pump()
    assert delays == [backoff(n) for n in range(1, MAX_ATTEMPTS)]
    assert delays[:4] == [1.0, 2.0, 4.0, 8.0] and max(delays) <= 300
    assert len(slack_recorder.calls("chat.postMessage")) == MAX_ATTEMPTS
    [entry] = latest(runtime, 5, action_prefix="slack.delivery")
    assert entry.outcome == "failed" and "HTTP 502" in entry.detail and "gave up" in entry.detail


def test_the_same_key_is_one_message(slack_recorder: SlackRecorder, store_section: dict[str, str]) -> None:
    runtime = _runtime(slack_recorder, store_section)
    poster = runtime.poster.get()
    assert isinstance(poster, OutboxPoster)
    payload: dict[str, Any] = {"text": "once", "blocks": []}
    first = poster.outbox.enqueue(kind="post", channel=CHANNEL, payload=payload, key="release-42-started")
    again = poster.outbox.enqueue(kind="post", channel=CHANNEL, payload=payload, key="release-42-started")
    assert first == again
    poster.pump()
    poster.pump()
    assert poster.outbox.get(first).state == SENT
    assert len([r for r in slack_recorder.calls("chat.postMessage") if r.body.get("text") == "once"]) == 1


def test_the_scheduler_of_bizra_serve_sends_what_slack_refused(
        slack_recorder: SlackRecorder, store_section: dict[str, str]) -> None:
    from bot.surfaces.scheduler import start_scheduler

    runtime = _runtime(slack_recorder, store_section)
    parent = runtime.poster.get().post("Canary started")
    assert parent
    slack_recorder.fail_next("chat.postMessage", 1, status=500)
    runtime.poster.get().post("stage 1 applied", thread_ts=parent)
    scheduler = start_scheduler(runtime)  # as `bizra serve` does: the registered jobs, on their intervals
    assert scheduler is not None
    try:
        slack_recorder.wait_for(lambda _: _thread(slack_recorder, parent) == ["stage 1 applied"], timeout=15,
                                what="the refused reply, sent by the outbox job")
    finally:
        scheduler.stop(timeout=10)
