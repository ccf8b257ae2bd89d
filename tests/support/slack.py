"""Slack as the tests see it: a recording Web API server, and requests signed like Slack's.

The recorder listens on 127.0.0.1 (port 0) and answers every Web API method and every
`response_url` post, keeping what it received so tests can poll for it. Tests point the bot's
`SLACK_API_URL` at `recorder.api_url` and give commands `response_url=recorder.response_url(...)`.

It also keeps the messages as a channel would show them (`messages`, `message`, `top_level`,
`replies`): each accepted `chat.postMessage` by its `ts`, with `chat.update` applied to it, and
answers `chat.getPermalink` for a message it holds (`message_not_found` otherwise), as Slack does.
A message keeps the `metadata` it was posted with; `conversations.history` (a channel's top-level
messages, newest first) and `conversations.replies` (a thread, oldest first) serve them with `oldest`,
`latest`, `inclusive`, `limit` and cursors, and the metadata only with `include_all_metadata`, as Slack does.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.blockkit import problems


@dataclass
class Recorded:
    path: str
    method: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes = b""
    faulted: bool = False  # answered by an injected fault (`fail_next`)

    @property
    def api_method(self) -> str:
        return self.path.removeprefix("/api/").split("?")[0]


@dataclass
class Fault:
    """The next `times` calls of a Web API method fail: an `ok: false` error, an HTTP status, a hang
    (no answer until the recorder is stopped or `release()` is called: the client times out), or a drop
    (the connection is closed without an answer: the client sees `RemoteDisconnected`). With `stored`,
    Slack has taken the call first (a posted message is in the channel) and only its answer is lost."""

    method: str
    times: int
    status: int = 200
    error: str = "internal_error"
    hang: bool = False
    drop: bool = False
    stored: bool = False


@dataclass
class SharedFile:
    """One file as Slack keeps it: announced by files.getUploadURLExternal (name, length), its bytes POSTed
    to the upload URL, then shared by files.completeUploadExternal in a channel (and thread, if given)."""

    file_id: str
    filename: str
    length: int
    upload_path: str
    data: bytes | None = None
    title: str = ""
    channel_id: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    completed: bool = False


@dataclass
class Message:
    """A message as the channel shows it now: the last text and blocks it was posted or updated with."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    updates: int = 0
    metadata: dict[str, Any] | None = None  # `metadata` as posted: {"event_type": …, "event_payload": {…}}

    @property
    def shown(self) -> str:
        """Everything a reader sees: section texts and fields, context elements, button labels."""
        parts: list[str] = []
        for block in self.blocks:
            text = block.get("text")
            if isinstance(text, dict):
                parts.append(str(text.get("text", "")))
            parts += [str(f.get("text", "")) for f in block.get("fields") or [] if isinstance(f, dict)]
            for element in block.get("elements") or []:
                if not isinstance(element, dict):
                    continue
                label = element.get("text")
                parts.append(str(label.get("text", "")) if isinstance(label, dict) else str(label or ""))
        return "\n".join(part for part in parts if part) or self.text

    def buttons(self) -> list[dict[str, Any]]:
        return [element for block in self.blocks if block.get("type") == "actions"
                for element in block.get("elements") or [] if element.get("type") == "button"]


@dataclass
class SlackRecorder:
    requests: list[Recorded] = field(default_factory=list)
    # Per Web API method: a function returning (status, headers, body) to override the default "ok".
    overrides: dict[str, Callable[[Recorded], tuple[int, dict[str, str], dict[str, Any]]]] = field(
        default_factory=dict
    )
    # Block Kit rule breaks Slack would have refused (`invalid_blocks`); the fixture fails the test on any.
    block_problems: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _released: threading.Event = field(default_factory=threading.Event)
    _ts: int = 0
    # The messages the channels hold, by (channel, ts): posted, then updated in place.
    messages: dict[tuple[str, str], Message] = field(default_factory=dict)
    # Uploads as Slack tracks them, by file id (see `SharedFile`, `files_in_thread`).
    uploads: dict[str, SharedFile] = field(default_factory=dict)
    # Home tabs as Slack holds them, by user id: the latest view `views.publish` accepted.
    home_views: dict[str, dict[str, Any]] = field(default_factory=dict)

    def fail_next(self, method: str, times: int = 1, *, error: str | None = None, status: int | None = None,
                  hang: bool = False, drop: bool = False, stored: bool = False) -> Fault:
        """Fault injection: `fail_next("chat.postMessage", 2, status=500)`, `…, error="channel_not_found")`,
        `…, hang=True)`, `…, drop=True)`; `…, hang=True, stored=True)`: Slack posted it, the answer never
        came. Faults of one method apply in the order they were added."""
        fault = Fault(method=method, times=times, status=status or 200, error=error or "internal_error", hang=hang,
                      drop=drop, stored=stored)
        with self._lock:
            self.faults.append(fault)
        return fault

    def release(self) -> None:
        """Let hung calls answer (HTTP 504)."""
        self._released.set()

    def _fault_for(self, method: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.method == method and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def start(self) -> SlackRecorder:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                # slack_sdk sends a read method's arguments (conversations.history) in the query string.
                query = dict(urllib.parse.parse_qsl(self.path.partition("?")[2]))
                recorded = Recorded(path=self.path, method="POST", headers=dict(self.headers),
                                    body={**query, **_decode(raw, self.headers)}, raw=raw)
                status, headers, body = recorder._answer(recorded)
                if body is DROPPED:  # no answer at all: the client sees the connection closed
                    self.close_connection = True
                    return
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_PUT = do_POST

            def do_GET(self) -> None:  # slack_sdk sends some read methods (chat.getPermalink) as GET
                path, _, query = self.path.partition("?")
                recorded = Recorded(path=path, method="GET", headers=dict(self.headers),
                                    body=dict(urllib.parse.parse_qsl(query)))
                status, headers, body = recorder._answer(recorded)
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval: shutdown() waits for the serving loop's next poll.
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._released.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base(self) -> str:
        assert self._server
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return self.base + "/api/"

    def response_url(self, name: str = "cmd") -> str:
        return f"{self.base}/response/{name}"

    def _answer(self, recorded: Recorded) -> tuple[int, dict[str, str], Any]:
        broken = _block_problems(recorded)
        with self._lock:
            self.requests.append(recorded)
            self._ts += 1
            ts = f"{int(time.time())}.{self._ts:06d}"
            if recorded.api_method == "views.publish" and not broken:
                # Set with the request's record, so a test that saw the call also sees the view (a
                # fault injected on views.publish would still show the view: no test injects one).
                self.home_views[str(recorded.body.get("user_id"))] = _view_of(recorded)
        if broken:
            with self._lock:
                self.block_problems.extend(f"{recorded.path}: {problem}" for problem in broken)
            if recorded.path.startswith("/response/"):
                return 400, {"Content-Type": "text/plain"}, b"invalid_blocks"
            return 200, {"Content-Type": "application/json"}, {"ok": False, "error": "invalid_blocks", "errors": broken}
        if recorded.path.startswith("/response/"):
            return 200, {"Content-Type": "text/plain"}, b"ok"
        fault = self._fault_for(recorded.api_method)
        if fault is not None:
            recorded.faulted = True
            if fault.stored:  # Slack took it; only the answer goes wrong
                self._keep(recorded, ts)
            if fault.drop:
                return 200, {}, DROPPED
            if fault.hang:
                self._released.wait(60)  # held until released: the client's timeout fires first
                return 504, {"Content-Type": "text/plain"}, b"gateway timeout"
            if fault.status >= 500:
                return fault.status, {"Content-Type": "text/html"}, b"<html>server error</html>"
            return fault.status, {"Content-Type": "application/json"}, {"ok": False, "error": fault.error}
        override = self.overrides.get(recorded.api_method)
        if override:
            return override(recorded)
        if recorded.api_method == "chat.getPermalink":
            return 200, {"Content-Type": "application/json"}, self._permalink(recorded)
        if recorded.api_method in ("conversations.history", "conversations.replies"):
            return 200, {"Content-Type": "application/json"}, self._conversation(recorded)
        body: dict[str, Any] = {"ok": True, "ts": ts, "channel": recorded.body.get("channel", "C0")}
        self._keep(recorded, ts)
        if recorded.api_method == "auth.test":
            body.update(user_id="UBOT", bot_id="BBOT", team_id="T0", user="bizra", team="test")
        if recorded.api_method == "files.getUploadURLExternal":
            problem = self._issue_upload(recorded, number=int(ts.split(".")[1]))
            if problem:
                return 200, {"Content-Type": "application/json"}, {"ok": False, "error": problem}
            body.update(upload_url=f"{self.base}/upload/{int(ts.split('.')[1])}",
                        file_id=f"F{int(ts.split('.')[1])}")
        if recorded.path.startswith("/upload/"):
            self._receive_upload(recorded)
        if recorded.api_method == "files.completeUploadExternal":
            problem = self._complete_uploads(recorded)
            if problem:
                return 200, {"Content-Type": "application/json"}, {"ok": False, "error": problem}
            body.update(files=_completed_files(recorded))
        return 200, {"Content-Type": "application/json"}, body

    # files.getUploadURLExternal → POST the bytes → files.completeUploadExternal, checked as Slack checks them.
    def _issue_upload(self, recorded: Recorded, *, number: int) -> str | None:
        filename = str(recorded.body.get("filename") or "")
        try:
            length = int(recorded.body.get("length") or 0)
        except ValueError:
            return "invalid_arguments"
        if not filename or length <= 0:
            return "invalid_arguments"
        with self._lock:
            self.uploads[f"F{number}"] = SharedFile(file_id=f"F{number}", filename=filename, length=length,
                                                    upload_path=f"/upload/{number}")
        return None

    def _receive_upload(self, recorded: Recorded) -> None:
        with self._lock:
            for shared in self.uploads.values():
                if shared.upload_path == recorded.path.split("?")[0]:
                    shared.data = recorded.raw

    def _complete_uploads(self, recorded: Recorded) -> str | None:
        """Unknown ids, or bytes never uploaded (or not the announced length), are refused: file_not_found;
        a thread_ts without a channel_id cannot place the file: invalid_arguments."""
        given = recorded.body.get("files")
        if isinstance(given, str):
            with contextlib.suppress(json.JSONDecodeError):
                given = json.loads(given)
        if not isinstance(given, list) or not given:
            return None  # answered as before (`_completed_files`' default)
        channel_id = recorded.body.get("channel_id") or None
        thread_ts = recorded.body.get("thread_ts") or None
        if thread_ts and not channel_id:
            return "invalid_arguments"
        with self._lock:
            pairs = [(item, self.uploads.get(str(item.get("id")))) for item in given if isinstance(item, dict)]
            if any(f is None or f.data is None or len(f.data) != f.length for _, f in pairs):
                return "file_not_found"
            for item, shared in pairs:
                assert shared is not None
                shared.title = str(item.get("title") or shared.filename)
                shared.channel_id, shared.thread_ts = channel_id, thread_ts
                shared.initial_comment = recorded.body.get("initial_comment")
                shared.completed = True
        return None

    def files_in_thread(self, channel_id: str, thread_ts: str) -> list[SharedFile]:
        """Files completed into that thread, in upload order (what the thread shows under the messages)."""
        with self._lock:
            return [f for f in self.uploads.values()
                    if f.completed and f.channel_id == channel_id and f.thread_ts == thread_ts]

    def _keep(self, recorded: Recorded, ts: str) -> None:
        """Hold a posted message, or apply an update to the one it names (as the channel would show it)."""
        body = recorded.body
        channel = str(body.get("channel", "C0"))
        blocks = body.get("blocks")
        if isinstance(blocks, str):
            with contextlib.suppress(json.JSONDecodeError):
                blocks = json.loads(blocks)
        shown = blocks if isinstance(blocks, list) else []
        with self._lock:
            if recorded.api_method == "chat.postMessage":
                thread = body.get("thread_ts")
                self.messages[(channel, ts)] = Message(channel=channel, ts=ts, text=str(body.get("text", "")),
                                                       blocks=shown, thread_ts=str(thread) if thread else None,
                                                       metadata=_metadata_of(body))
            elif recorded.api_method == "chat.update":
                held = self.messages.get((channel, str(body.get("ts", ""))))
                if held is not None:
                    held.text = str(body.get("text", held.text))
                    held.blocks = shown if blocks is not None else held.blocks
                    held.updates += 1

    def _permalink(self, recorded: Recorded) -> dict[str, Any]:
        channel, ts = str(recorded.body.get("channel", "")), str(recorded.body.get("message_ts", ""))
        with self._lock:
            held = (channel, ts) in self.messages
        if not held:
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": channel, "permalink": permalink(channel, ts)}

    def _conversation(self, recorded: Recorded) -> dict[str, Any]:
        """conversations.history / conversations.replies as Slack answers them (one page, a cursor for the next)."""
        args = recorded.body
        channel = str(args.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        with self._lock:
            held = [m for m in self.messages.values() if m.channel == channel]
        if recorded.api_method == "conversations.history":  # the channel's own messages, newest first
            found = sorted((m for m in held if not m.thread_ts), key=lambda m: _ts_key(m.ts), reverse=True)
        else:  # the thread: its parent, then the replies, oldest first
            parent = str(args.get("ts") or "")
            if not any(m.ts == parent and not m.thread_ts for m in held):
                return {"ok": False, "error": "thread_not_found"}
            found = sorted((m for m in held if m.ts == parent or m.thread_ts == parent), key=lambda m: _ts_key(m.ts))
        inclusive = _flag(args.get("inclusive"))
        if args.get("oldest"):
            oldest = _ts_key(str(args["oldest"]))
            found = [m for m in found if _ts_key(m.ts) > oldest or (inclusive and _ts_key(m.ts) == oldest)]
        if args.get("latest"):
            latest = _ts_key(str(args["latest"]))
            found = [m for m in found if _ts_key(m.ts) < latest or (inclusive and _ts_key(m.ts) == latest)]
        limit = min(max(int(args.get("limit") or 100), 1), 999)
        start = int(str(args.get("cursor") or "offset:0").removeprefix("offset:") or 0)
        page, more = found[start:start + limit], start + limit < len(found)
        with_metadata = _flag(args.get("include_all_metadata"))
        return {"ok": True, "messages": [_as_slack_shows(m, with_metadata) for m in page], "has_more": more,
                "response_metadata": {"next_cursor": f"offset:{start + limit}" if more else ""}}

    def message(self, channel: str, ts: str) -> Message:
        with self._lock:
            return self.messages[(channel, ts)]

    def top_level(self, channel: str) -> list[Message]:
        """The channel's own messages (not replies in a thread), oldest first."""
        with self._lock:
            return [m for m in self.messages.values() if m.channel == channel and not m.thread_ts]

    def replies(self, channel: str, ts: str) -> list[Message]:
        """The thread under message `ts`, oldest first."""
        with self._lock:
            return [m for m in self.messages.values() if m.channel == channel and m.thread_ts == ts]

    # What the tests read.
    def calls(self, method: str | None = None, *, path_prefix: str | None = None) -> list[Recorded]:
        with self._lock:
            found = list(self.requests)
        if method is not None:
            found = [r for r in found if r.api_method == method]
        if path_prefix is not None:
            found = [r for r in found if r.path.startswith(path_prefix)]
        return found

    def responses(self, name: str = "cmd") -> list[Recorded]:
        return self.calls(path_prefix=f"/response/{name}")

    def wait_for(
        self, predicate: Callable[[list[Recorded]], object], *, timeout: float = 10.0, what: str = "a request"
    ) -> list[Recorded]:
        """Poll until `predicate(all requests)` is truthy; fail with what was received instead."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snapshot = self.calls()
            if predicate(snapshot):
                return snapshot
            time.sleep(0.02)  # polling interval until the deadline
        raise AssertionError(f"timed out waiting for {what}; received: {[r.path for r in self.calls()]}")


DROPPED = b"<connection dropped>"  # `_answer`'s body for a fault that closes the connection unanswered


def _ts_key(ts: str) -> tuple[int, int]:
    """A Slack ts as a sortable pair (seconds, the six digits after the dot): exact, unlike a float."""
    seconds, _, fraction = ts.partition(".")
    return int(seconds or 0), int((fraction + "000000")[:6])


def _flag(value: Any) -> bool:
    return str(value).lower() in ("1", "true")


def _metadata_of(body: dict[str, Any]) -> dict[str, Any] | None:
    metadata = body.get("metadata")
    if isinstance(metadata, str):  # form-encoded bodies carry it as a JSON string
        with contextlib.suppress(json.JSONDecodeError):
            metadata = json.loads(metadata)
    return metadata if isinstance(metadata, dict) else None


def _as_slack_shows(message: Message, with_metadata: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {"type": "message", "ts": message.ts, "text": message.text, "bot_id": "BBOT",
                             "user": "UBOT", "blocks": message.blocks}
    if message.thread_ts:
        shown["thread_ts"] = message.thread_ts
    if with_metadata and message.metadata:
        shown["metadata"] = message.metadata
    return shown


def permalink(channel: str, ts: str) -> str:
    """The link Slack gives a message: the workspace, the channel, `p` and the ts without its dot."""
    return f"https://bizra.slack.com/archives/{channel}/p{ts.replace('.', '')}"


def _completed_files(recorded: Recorded) -> list[dict[str, Any]]:
    """What Slack answers to files.completeUploadExternal: the files it was given (id, title), shared."""
    given = recorded.body.get("files")
    if isinstance(given, str):
        with contextlib.suppress(json.JSONDecodeError):
            given = json.loads(given)
    if not isinstance(given, list) or not given:
        return [{"id": "F1", "title": "chart"}]
    return [{"id": str(item.get("id", "F1")), "title": str(item.get("title", "")),
             "channels": [recorded.body.get("channel_id")] if recorded.body.get("channel_id") else []}
            for item in given if isinstance(item, dict)]


_CHECKED_METHODS = {"chat.postMessage", "chat.update", "chat.postEphemeral"}


MAX_VIEW_BLOCKS = 100  # a Home tab or modal holds up to 100 blocks (a message 50)


def _view_of(recorded: Recorded) -> dict[str, Any]:
    view = recorded.body.get("view")
    if isinstance(view, str):  # form-encoded bodies carry the view as a JSON string
        with contextlib.suppress(json.JSONDecodeError):
            view = json.loads(view)
    return view if isinstance(view, dict) else {}


def _view_problems(recorded: Recorded) -> list[str]:
    """`views.publish` as Slack checks it: a user, a `home` view of 1 to 100 blocks, each block valid."""
    found: list[str] = [] if recorded.body.get("user_id") else ["views.publish without user_id"]
    view = _view_of(recorded)
    if view.get("type") != "home":
        found.append(f"view type {view.get('type')!r}, not 'home'")
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= MAX_VIEW_BLOCKS:
        count = len(blocks) if isinstance(blocks, list) else blocks
        return [*found, f"a view needs 1 to {MAX_VIEW_BLOCKS} blocks, has {count}"]
    # Each block checked as in a message; only the count limit is the view's own.
    return found + [p for p in problems(blocks) if not p.startswith(f"{len(blocks)} blocks, more than")]


def _block_problems(recorded: Recorded) -> list[str]:
    if recorded.api_method == "views.publish":
        return _view_problems(recorded)
    if not (recorded.path.startswith("/response/") or recorded.api_method in _CHECKED_METHODS):
        return []
    blocks = recorded.body.get("blocks")
    if blocks is None:
        return []
    if isinstance(blocks, str):  # form-encoded bodies carry blocks as a JSON string
        try:
            blocks = json.loads(blocks)
        except json.JSONDecodeError:
            return ["blocks is not valid JSON"]
    return problems(blocks)


def _decode(raw: bytes, headers: Any) -> dict[str, Any]:
    kind = headers.get("Content-Type", "")
    text = raw.decode("utf-8", "replace")
    if "json" in kind:
        try:
            return json.loads(text or "{}")
        except json.JSONDecodeError:
            return {"_raw": text}
    if "form" in kind:
        parsed = dict(urllib.parse.parse_qsl(text))
        for key in ("blocks", "attachments"):
            if key in parsed:
                with contextlib.suppress(json.JSONDecodeError):
                    parsed[key] = json.loads(parsed[key])
        return parsed
    return {"_raw": text}


def sign(secret: str, body: str, *, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack would send: v0 HMAC-SHA256 over `v0:{timestamp}:{body}`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def _trigger_id() -> str:
    return f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(8)}"


def slash_command_body(text: str, *, response_url: str, user_id: str = "U123", channel_id: str = "C123",
                       command: str = "/bizra", user_name: str = "alice") -> str:
    return urllib.parse.urlencode(
        {
            "token": "unused",
            "team_id": "T0",
            "team_domain": "bizra",
            "channel_id": channel_id,
            "channel_name": "release",
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": "A0",
            "response_url": response_url,
            "trigger_id": _trigger_id(),  # unique per delivery, as Slack's are
        }
    )


def block_action_body(*, action_id: str, value: str, user_id: str, response_url: str, channel_id: str = "C123",
                      message_ts: str = "1700000000.000100", thread_ts: str | None = None) -> str:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": "T0", "domain": "bizra"},
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower()},
        "api_app_id": "A0",
        "token": "unused",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id},
        "trigger_id": _trigger_id(),
        "channel": {"id": channel_id, "name": "release"},
        "message": {"ts": message_ts, "type": "message", "text": "", **({"thread_ts": thread_ts} if thread_ts else {})},
        "response_url": response_url,
        "actions": [
            {"type": "button", "action_id": action_id, "block_id": "b", "value": value, "action_ts": str(time.time())}
        ],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def event_body(event: dict[str, Any], *, team_id: str = "T0", event_id: str | None = None) -> str:
    """An Events API `event_callback` as Slack POSTs it (JSON); each delivery has its own event_id."""
    return json.dumps({
        "token": "unused",
        "team_id": team_id,
        "api_app_id": "A0",
        "event": {"event_ts": f"{time.time():.6f}", **event},
        "type": "event_callback",
        "event_id": event_id or f"Ev{secrets.token_hex(6).upper()}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": team_id, "user_id": "UBOT", "is_bot": True}],
    })


def post(url: str, body: str, headers: dict[str, str], *, timeout: float = 10.0) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
