"""A command's answer on its `response_url` is posted at most once.

Bolt's `respond()` builds a `WebhookClient` whose default retry handler posts again after
`RemoteDisconnected` / `ConnectionResetError`, which happen after the whole request was sent: Slack
may have shown it already, and the retry shows it twice. The answer is retried only when the request
never left (the connection could not be made). Here the response_url's server reads each post and
closes the connection without answering, as a proxy dropping Slack's answer would.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.core.config import BizraConfig
from bot.core.invocation import Invocation, Reply
from bot.core.runtime import Runtime, Subcommand
from tests.support.bot import SIGNING_SECRET, running_bot
from tests.support.polling import wait_until
from tests.support.slack import SlackRecorder, post, sign, slash_command_body


@contextmanager
def dropping_server() -> Iterator[tuple[str, list[bytes]]]:
    """An HTTP endpoint on 127.0.0.1 that reads each request in full and hangs up without an answer."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.05)  # accept() wakes up to see `stop`: closing a socket does not interrupt it
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with connection:
                connection.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(body) < length:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                received.append(body)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/response/dropped", received
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_an_answer_whose_connection_drops_after_sending_is_not_posted_twice(
        slack_recorder: SlackRecorder, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = BizraConfig.model_validate({"store": {"path": str(tmp_path / "state.sqlite")}, "slo": {"enabled": False}})

    def echo(invocation: Invocation, runtime: Runtime) -> Reply:
        return Reply(result="echo done")

    with dropping_server() as (url, received), running_bot(slack_recorder, config=config) as bot, \
            caplog.at_level(logging.ERROR, logger="bot.surfaces.slack_app"):
        bot.runtime.registry.add_subcommand(Subcommand(name="echo", usage="echo", summary="test", handler=echo))
        body = slash_command_body("echo", response_url=url)
        assert post(bot.url + "/slack/events", body, sign(SIGNING_SECRET, body))[0] == 200
        wait_until(lambda: any("could not answer echo" in r.getMessage() for r in caplog.records),
                   what="the bot giving up on the dropped answer")
    assert len(received) == 1, "the answer Slack may already show was not posted again"
    assert b"echo done" in received[0]
