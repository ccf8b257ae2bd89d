"""Channels as Slack would show them: the recording server's chat.postMessage and chat.update answered
by a store of messages (each with its ts), updates applied to what is stored, updates of an unknown
ts refused (`message_not_found`) as Slack does."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.support.slack import Recorded, SlackRecorder


@dataclass
class Message:
    ts: str
    channel: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    edits: int = 0

    @property
    def shown(self) -> str:
        """What a reader sees: the blocks' text (or the fallback text without blocks)."""
        return json.dumps(self.blocks, ensure_ascii=False) if self.blocks else self.text


def _blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    raw = body.get("blocks") or []
    return json.loads(raw) if isinstance(raw, str) else list(raw)


@dataclass
class Channels:
    messages: list[Message] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _count: int = 0

    def install(self, recorder: SlackRecorder) -> Channels:
        recorder.overrides["chat.postMessage"] = self._post
        recorder.overrides["chat.update"] = self._update
        return self

    def _post(self, recorded: Recorded) -> tuple[int, dict[str, str], dict[str, Any]]:
        body = recorded.body
        with self._lock:
            self._count += 1
            ts = f"1800000000.{self._count:06d}"
            channel = str(body.get("channel") or "")
            self.messages.append(Message(ts=ts, channel=channel, text=str(body.get("text") or ""),
                                         blocks=_blocks(body), thread_ts=body.get("thread_ts") or None))
        return 200, {"Content-Type": "application/json"}, {"ok": True, "ts": ts, "channel": channel}

    def _update(self, recorded: Recorded) -> tuple[int, dict[str, str], dict[str, Any]]:
        body = recorded.body
        with self._lock:
            found = next((m for m in self.messages if m.ts == body.get("ts") and m.channel == body.get("channel")),
                         None)
            if found is None:
                return 200, {"Content-Type": "application/json"}, {"ok": False, "error": "message_not_found"}
            found.text, found.blocks, found.edits = str(body.get("text") or ""), _blocks(body), found.edits + 1
        return 200, {"Content-Type": "application/json"}, {"ok": True, "ts": found.ts, "channel": found.channel}

    def top_level(self, channel: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.channel == channel and m.thread_ts is None]

    def statuses(self, channel: str) -> list[Message]:
        """Top-level messages that are the SLO status (not pages, not digests)."""
        return [m for m in self.top_level(channel) if "NODE0 SLOs" in m.shown and "alert.ack" not in m.shown]

    def thread(self, channel: str, ts: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.channel == channel and m.thread_ts == ts]
