"""Run the real Bolt app over HTTP on 127.0.0.1 for a test, wired to a recording Slack server."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pydantic import SecretStr

from bot.assembly import build_runtime
from bot.core.config import BizraConfig, Secrets
from bot.core.runtime import Runtime
from bot.surfaces.http import HttpServer
from bot.surfaces.slack_app import build_app
from commands.ports import Clock, SystemClock
from tests.support.slack import SlackRecorder, post, sign, slash_command_body

SIGNING_SECRET = "test-signing-secret"  # made up for tests; never a real workspace's


@dataclass
class RunningBot:
    url: str
    runtime: Runtime
    recorder: SlackRecorder

    def command(self, text: str, *, user_id: str = "U123", channel_id: str = "C123", name: str = "cmd",
                timestamp: int | None = None, secret: str = SIGNING_SECRET) -> tuple[int, str]:
        """Send `/bizra <text>` exactly as Slack does: form-encoded, signed, with a response_url."""
        body = slash_command_body(
            text, response_url=self.recorder.response_url(name), user_id=user_id, channel_id=channel_id
        )
        return post(self.url + "/slack/events", body, sign(secret, body, timestamp=timestamp))

    def send(self, body: str, *, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> tuple[int, str]:
        return post(self.url + "/slack/events", body, sign(secret, body, timestamp=timestamp))


@contextmanager
def running_bot(recorder: SlackRecorder, *, config: BizraConfig | None = None,
                clock: Clock | None = None) -> Iterator[RunningBot]:
    secrets = Secrets(
        slack_bot_token=SecretStr("xoxb-test-token"),
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        slack_api_url=recorder.api_url,
        host="127.0.0.1",
        port=0,
    )
    runtime = build_runtime(config=config or BizraConfig(), secrets=secrets, clock=clock or SystemClock())
    server = HttpServer(build_app(runtime), host="127.0.0.1", port=0).start_background()
    try:
        yield RunningBot(url=f"http://127.0.0.1:{server.port}", runtime=runtime, recorder=recorder)
    finally:
        stop_promptly(server)
        runtime.work.get().shutdown(wait=False)  # no chart process outlives the test


def stop_promptly(server: HttpServer) -> None:
    """`server.stop()` without waiting out the serving loop's 0.5 s poll: while it stops, connecting
    wakes the loop, which then sees the request to stop (each test's bot would otherwise cost ~0.5 s)."""
    failed: list[BaseException] = []

    def stop() -> None:
        try:
            server.stop()
        except BaseException as exc:  # raised below, in the test's thread
            failed.append(exc)

    stopping = threading.Thread(target=stop, name="bizra-http-stop", daemon=True)
    stopping.start()
    while stopping.is_alive():
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=1):
            pass
        stopping.join(0.01)
    if failed:
        raise failed[0]
