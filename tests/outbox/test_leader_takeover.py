"""Issue 9 on the outbox: a leader killed mid-send does not hold up its thread for the send lease, and a post
made again under its key is the same message.

A row is claimed by one process (`Sender`): a new elected leader takes over a live lease that a former leader
took (the row is unsure, so a post is looked for before it is sent again), never a follower's lease or one
taken without an election. Against the recording Slack server through the real Web API transport.
"""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from bot.adapters.slack import SlackPoster, SlackTransport, build_web_client
from bot.assembly import build_runtime
from bot.core.config import BizraConfig, Secrets
from bot.core.outbox import SENDING, SENT, Outbox, OutboxPoster, Outgoing, Requester, Sender, message_key
from bot.core.runtime import Runtime
from tests.support.slack import Message, SlackRecorder

CHANNEL = "C909"


def _runtime(recorder: SlackRecorder, store_section: dict[str, str]) -> Runtime:
    config = BizraConfig.model_validate({"store": store_section, "slo": {"enabled": False},
                                         "slack": {"release_channel": CHANNEL, "messages_per_second": 100}})
    secrets = Secrets(slack_bot_token=SecretStr("xoxb-test"), slack_api_url=recorder.api_url)
    runtime = build_runtime(config, secrets)
    runtime.slack.set(build_web_client(secrets, timeout=10))
    return runtime


def _transport(runtime: Runtime) -> SlackTransport:
    client = runtime.slack.get()
    return SlackTransport(SlackPoster(client, runtime.registry.renderers, default_channel=CHANNEL,
                                      messages_per_second=1000), client)


class _DiesAfterSlackTookIt:
    """A sender killed after Slack took its post, before the answer was recorded (the row stays claimed)."""

    def __init__(self, transport: SlackTransport) -> None:
        self._transport = transport

    def send(self, message: Outgoing) -> str | None:
        self._transport.send(message)
        raise SystemExit("killed")

    def notify(self, requester: Requester, text: str) -> bool:
        return False


def _shown(messages: list[Message], text: str) -> list[Message]:
    return [m for m in messages if m.text == text]


def _dead_sender_row(runtime: Runtime, *, leader: bool) -> tuple[int, Outbox]:
    """A page posted by a sender that died mid-send; returns its row and a live sender (another process,
    the elected leader now) on the same store and clock, with the dead sender's lease still running."""
    clock = [1_000_000.0]
    dying = Outbox(runtime.store.get(), _DiesAfterSlackTookIt(_transport(runtime)), now=lambda: clock[0],
                   sender=lambda: Sender(name="bizra-0/101-a", leader=leader))
    row_id = dying.enqueue(kind="post", channel=CHANNEL, payload={"text": "Breach: p99", "blocks": []})
    with pytest.raises(SystemExit):
        dying.drain_thread(dying.get(row_id).thread)
    clock[0] += 5  # well within the lease
    alive = Outbox(runtime.store.get(), _transport(runtime), now=lambda: clock[0],
                   sender=lambda: Sender(name="bizra-1/202-b", leader=True))
    return row_id, alive


def test_a_new_leader_takes_over_a_dead_leaders_send_at_once_and_adopts_what_slack_took(
        slack_recorder: SlackRecorder, store_section: dict[str, str]) -> None:
    runtime = _runtime(slack_recorder, store_section)
    row_id, alive = _dead_sender_row(runtime, leader=True)
    reply = alive.enqueue(kind="post", channel=CHANNEL, payload={"text": "Still unacknowledged", "blocks": []},
                          parent=f"outbox:{row_id}")
    alive.drain_thread(alive.get(row_id).thread)

    [page] = _shown(slack_recorder.top_level(CHANNEL), "Breach: p99")
    assert (alive.get(row_id).state, alive.get(row_id).ts) == (SENT, page.ts), "adopted, not posted again"
    assert len(slack_recorder.calls("chat.postMessage")) == 2, "the page once, then the reply"
    assert alive.get(reply).state == SENT
    assert _shown(slack_recorder.replies(CHANNEL, page.ts), "Still unacknowledged")


def test_a_lease_taken_by_a_follower_is_not_taken_over_by_the_leader(
        slack_recorder: SlackRecorder, store_section: dict[str, str]) -> None:
    runtime = _runtime(slack_recorder, store_section)
    row_id, alive = _dead_sender_row(runtime, leader=False)  # a follower's command answer: it may be alive
    alive.pump()
    assert alive.get(row_id).state == SENDING, "held until its lease runs out"
    assert len(slack_recorder.calls("chat.postMessage")) == 1


def test_a_post_made_again_under_its_key_is_the_same_message(
        slack_recorder: SlackRecorder, store_section: dict[str, str]) -> None:
    runtime = _runtime(slack_recorder, store_section)
    poster = runtime.poster.get()
    assert isinstance(poster, OutboxPoster)
    with message_key("slo.page:cb_latency_p99.1"):
        first = poster.post("Breach: error rate")
    with message_key("slo.page:cb_latency_p99.1"):  # the process died before it recorded `first`
        again = poster.post("Breach: error rate")
    assert first is not None and first == again
    assert len(_shown(slack_recorder.top_level(CHANNEL), "Breach: error rate")) == 1
    third = poster.post("Breach: error rate")  # no key: a message of its own
    assert third != first
    assert len(_shown(slack_recorder.top_level(CHANNEL), "Breach: error rate")) == 2
