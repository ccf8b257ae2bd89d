"""Slack's side of Socket Mode for tests: `apps.connections.open` plus a small WebSocket server.

What flows: the bot calls `apps.connections.open` (on the recording Web API server) with its app
token and gets a `ws://127.0.0.1:<port>/link/?ticket=…` URL; it connects, this server answers the
RFC 6455 handshake and sends Slack's `hello`; tests push envelopes (`slash_commands`,
`interactive`) and read the acks (`{"envelope_id": …, "payload": …}`) the bot sends back.

Standard library only, and only what Socket Mode uses: the handshake, text frames (client frames
must be masked, ours are not), ping → pong, close. Anything else the client does that Slack would
reject (an unmasked frame, an ack that is not JSON or names no pushed envelope) is kept in
`problems`, which the test fixture checks is empty.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import struct
import threading
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.support.polling import wait_until
from tests.support.slack import Recorded, SlackRecorder, block_action_body, slash_command_body

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
_TEXT, _CLOSE, _PING, _PONG, _CONTINUATION = 0x1, 0x8, 0x9, 0xA, 0x0


def _frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final frame (servers never mask)."""
    head = bytes([0x80 | opcode])
    if len(payload) < 126:
        head += bytes([len(payload)])
    elif len(payload) < 1 << 16:
        head += bytes([126]) + struct.pack("!H", len(payload))
    else:
        head += bytes([127]) + struct.pack("!Q", len(payload))
    return head + payload


def _read_exactly(conn: socket.socket, count: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < count:
        chunk = conn.recv(count - len(chunks))
        if not chunk:
            raise ConnectionError("client closed the connection")
        chunks += chunk
    return bytes(chunks)


@dataclass
class _Connection:
    sock: socket.socket
    path: str
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    open: bool = True

    def send(self, opcode: int, payload: bytes) -> None:
        with self.send_lock:
            self.sock.sendall(_frame(opcode, payload))


@dataclass
class SocketModeServer:
    """Slack's Socket Mode endpoint on 127.0.0.1; wires itself into `recorder`'s `apps.connections.open`."""

    recorder: SlackRecorder
    app_id: str = "A0"
    acks: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    connections: list[_Connection] = field(default_factory=list)
    pushed: set[str] = field(default_factory=set)
    # While set, upgrade requests wait here before their 101 (the client sits inside its connect);
    # `handshakes_waiting` counts those that arrived. Tests use it to land a signal mid-connect.
    hold_handshakes: threading.Event = field(default_factory=threading.Event)
    handshakes_waiting: int = 0
    _release: threading.Event = field(default_factory=threading.Event)
    _listener: socket.socket | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closing: bool = False

    def start(self) -> SocketModeServer:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.recorder.overrides["apps.connections.open"] = self._connections_open
        threading.Thread(target=self._accept_loop, name="socket-mode-accept", daemon=True).start()
        return self

    def stop(self) -> None:
        self._closing = True
        self._release.set()
        for conn in self._live():
            with contextlib.suppress(OSError):  # the bot may have hung up already
                conn.send(_CLOSE, struct.pack("!H", 1001) + b"server stopping")
            conn.sock.close()
        if self._listener is not None:
            self._listener.close()

    @property
    def url(self) -> str:
        assert self._listener is not None
        return f"ws://127.0.0.1:{self._listener.getsockname()[1]}/link/?ticket=test-ticket&app_id={self.app_id}"

    # The Web API half: Slack hands out the WebSocket URL to a caller holding an app-level token.
    def _connections_open(self, recorded: Recorded) -> tuple[int, dict[str, str], dict[str, Any]]:
        token = recorded.headers.get("Authorization", "").removeprefix("Bearer ")
        if not token.startswith("xapp-"):
            # What Slack answers a bot token here; the bot must use its app-level token.
            return 200, {"Content-Type": "application/json"}, {"ok": False, "error": "not_allowed_token_type"}
        return 200, {"Content-Type": "application/json"}, {"ok": True, "url": self.url}

    # The WebSocket half.
    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._closing:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), name="socket-mode-conn", daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            conn = self._handshake(sock)
            if conn is None:
                return
            with self._lock:
                self.connections.append(conn)
            hello = {
                "type": "hello",
                "num_connections": len(self._live()),
                "debug_info": {"host": "applink-test", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }
            conn.send(_TEXT, json.dumps(hello).encode())
            self._read_frames(conn)
        except (ConnectionError, OSError):
            pass
        finally:
            sock.close()
            with self._lock:
                for conn in self.connections:
                    if conn.sock is sock:
                        conn.open = False

    def _handshake(self, sock: socket.socket) -> _Connection | None:
        request = bytearray()
        while b"\r\n\r\n" not in request:
            chunk = sock.recv(1024)
            if not chunk:
                return None
            request += chunk
        lines = request.decode("latin-1").split("\r\n")
        method, path, *_ = [*lines[0].split(" "), "", ""]
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:] if ":" in line)
        }
        key = headers.get("sec-websocket-key")
        if method != "GET" or headers.get("upgrade", "").lower() != "websocket" or not key:
            self._problem(f"not a WebSocket upgrade: {lines[0]!r}")
            sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return None
        if urllib.parse.parse_qs(urllib.parse.urlsplit(path).query).get("ticket") != ["test-ticket"]:
            self._problem(f"connected to a URL apps.connections.open did not hand out: {path}")
        if self.hold_handshakes.is_set():
            with self._lock:
                self.handshakes_waiting += 1
            self._release.wait(timeout=30)
        accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        sock.sendall(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        return _Connection(sock=sock, path=path)

    def _read_frames(self, conn: _Connection) -> None:
        message = bytearray()
        while True:
            first, second = _read_exactly(conn.sock, 2)
            fin, opcode = bool(first & 0x80), first & 0x0F
            masked, length = bool(second & 0x80), second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", _read_exactly(conn.sock, 2))
            elif length == 127:
                (length,) = struct.unpack("!Q", _read_exactly(conn.sock, 8))
            mask = _read_exactly(conn.sock, 4) if masked else b""
            payload = _read_exactly(conn.sock, length)
            if not masked:
                self._problem("the client sent an unmasked frame (RFC 6455 §5.1 requires masking)")
            else:
                payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
            if opcode == _PING:
                conn.send(_PONG, payload)
            elif opcode == _PONG:
                continue
            elif opcode == _CLOSE:
                conn.send(_CLOSE, payload[:2])
                return
            elif opcode in (_TEXT, _CONTINUATION):
                message += payload
                if fin:
                    self._received(bytes(message))
                    message.clear()
            else:
                self._problem(f"unexpected frame opcode {opcode:#x}")

    def _received(self, raw: bytes) -> None:
        try:
            ack = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._problem(f"a text frame that is not JSON: {raw[:200]!r}")
            return
        if not isinstance(ack, dict) or ack.get("envelope_id") not in self.pushed:
            self._problem(f"an ack for no envelope this server sent: {ack!r}")
            return
        with self._lock:
            self.acks.append(ack)

    def _problem(self, text: str) -> None:
        with self._lock:
            self.problems.append(text)

    def _live(self) -> list[_Connection]:
        with self._lock:
            return [conn for conn in self.connections if conn.open]

    # What tests use.
    def wait_connected(self, *, timeout: float = 15.0) -> None:
        wait_until(self._live, timeout=timeout, what="the bot to open a Socket Mode connection")

    def wait_handshake_held(self, *, timeout: float = 15.0) -> None:
        """With `hold_handshakes` set: until a client is waiting, inside its connect, for our 101."""
        wait_until(lambda: self.handshakes_waiting > 0, timeout=timeout, what="the bot to ask for a WebSocket upgrade")

    def release_handshakes(self) -> None:
        self.hold_handshakes.clear()
        self._release.set()

    def push(self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = True) -> str:
        """Send one envelope on the newest live connection, as Slack does; returns its envelope_id."""
        live = self._live()
        assert live, "no Socket Mode connection to push to"
        envelope_id = str(uuid.uuid4())
        with self._lock:
            self.pushed.add(envelope_id)
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
            "payload": payload,
        }
        live[-1].send(_TEXT, json.dumps(envelope).encode())
        return envelope_id

    def push_slash_command(self, text: str, *, response_url: str, user_id: str = "U123",
                           channel_id: str = "C123") -> str:
        # The same fields an HTTP slash command carries, as a JSON object instead of a form.
        fields = dict(urllib.parse.parse_qsl(
            slash_command_body(text, response_url=response_url, user_id=user_id, channel_id=channel_id)
        ))
        return self.push("slash_commands", fields)

    def push_button_click(self, *, action_id: str, value: str, user_id: str, response_url: str) -> str:
        form = dict(urllib.parse.parse_qsl(
            block_action_body(action_id=action_id, value=value, user_id=user_id, response_url=response_url)
        ))
        return self.push("interactive", json.loads(form["payload"]), accepts_response_payload=False)

    def ack_for(self, envelope_id: str, *, timeout: float = 10.0) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            with self._lock:
                return next((ack for ack in self.acks if ack["envelope_id"] == envelope_id), None)

        return wait_until(found, timeout=timeout, what=f"the ack of envelope {envelope_id}")
