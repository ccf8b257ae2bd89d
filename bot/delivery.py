"""Posting to the release channel outside a slash command: scheduled status, alerts, progress threads.

`poster(runtime)` gives the Slack poster in `bizra serve` and a text poster in the console, so
commands that post (an alert, a rollback's progress thread) behave the same on both surfaces.
The Slack poster keeps to about one message per second per channel and retries on HTTP 429
after Retry-After (slack_sdk's retry handler on the shared WebClient).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Protocol, TextIO

from pydantic import BaseModel

from bot.render import fallback_text, load_renderers, to_blocks, to_text
from bot.render.terminal import terminal_text
from bot.runtime import Runtime

Postable = BaseModel | str


class Poster(Protocol):
    def post(self, result: Postable, *, channel: str | None = None, thread_ts: str | None = None) -> str | None:
        """Post a message; returns its `ts` (the thread to reply in), or None where there is none."""
        ...

    def update(self, ts: str, result: Postable, *, channel: str | None = None) -> None: ...

    def upload_png(self, png: bytes, *, filename: str, title: str, channel: str | None = None,
                   thread_ts: str | None = None) -> str | None:
        """Share a chart; returns where it went (a file ID, or a path on the console)."""
        ...


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
    def __init__(self, runtime: Runtime) -> None:
        from bot.slack_app import web_client

        self._client = web_client(runtime)
        self._default = runtime.config.slack.release_channel
        self._pacer = _Pacer(runtime.config.slack.messages_per_second)

    def _channel(self, channel: str | None) -> str:
        chosen = channel or self._default
        if not chosen:
            raise RuntimeError("No channel to post to: set slack.release_channel in the config.")
        return chosen

    def post(self, result: Postable, *, channel: str | None = None, thread_ts: str | None = None) -> str | None:
        target = self._channel(channel)
        self._pacer.wait(target)
        response = self._client.chat_postMessage(
            channel=target, text=fallback_text(result), blocks=to_blocks(result), thread_ts=thread_ts
        )
        return response.get("ts")

    def update(self, ts: str, result: Postable, *, channel: str | None = None) -> None:
        target = self._channel(channel)
        self._pacer.wait(target)
        self._client.chat_update(channel=target, ts=ts, text=fallback_text(result), blocks=to_blocks(result))

    def upload_png(self, png: bytes, *, filename: str, title: str, channel: str | None = None,
                   thread_ts: str | None = None) -> str | None:
        target = self._channel(channel)
        self._pacer.wait(target)
        response = self._client.files_upload_v2(
            content=png, filename=filename, title=title, channel=target, thread_ts=thread_ts
        )
        files = response.get("files") or [{}]
        return files[0].get("id")


class ConsolePoster:
    """Writes what the channel would show to the terminal; charts go to files it names."""

    def __init__(self, stream: TextIO | None = None, *, charts_dir: Path = Path(".bizra/charts")) -> None:
        self._stream = stream or sys.stdout
        self._charts = charts_dir
        self._count = 0
        self._lock = threading.Lock()

    def _next_ts(self) -> str:
        with self._lock:
            self._count += 1
            return f"console.{self._count:06d}"

    def post(self, result: Postable, *, channel: str | None = None, thread_ts: str | None = None) -> str | None:
        prefix = "  ↳ " if thread_ts else ""
        body = terminal_text(to_text(result))
        print("\n".join(prefix + line for line in body.splitlines()), file=self._stream, flush=True)
        return self._next_ts()

    def update(self, ts: str, result: Postable, *, channel: str | None = None) -> None:
        print(f"(updated {ts})\n{terminal_text(to_text(result))}", file=self._stream, flush=True)

    def upload_png(self, png: bytes, *, filename: str, title: str, channel: str | None = None,
                   thread_ts: str | None = None) -> str | None:
        self._charts.mkdir(parents=True, exist_ok=True)
        path = self._charts / filename
        path.write_bytes(png)
        print(f"{title}: chart written to {path}", file=self._stream, flush=True)
        return str(path)


def poster(runtime: Runtime) -> Poster:
    load_renderers()
    if runtime.surface == "console":
        return runtime.service("poster", ConsolePoster)
    return runtime.service("poster", lambda: SlackPoster(runtime))
