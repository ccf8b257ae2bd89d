"""HTTP mode: Slack's requests at /slack/events, liveness at /healthz, the bot's metrics at /metrics,
Alertmanager's webhook at /webhooks/alertmanager (bot/features/slo/alertmanager.py; 404 unless enabled),
and the webhooks features register on the registry (`Registry.add_webhook`: Flagger's
/webhooks/flagger/<hook>, bot/features/canary/flagger/gate.py), each with its own body limit.

Served by waitress (a maintained production WSGI server) on the configured host (127.0.0.1 in
tests), never Bolt's own `App.start()`, which always binds 0.0.0.0. Waitress reads requests with
non-blocking I/O and hands only complete ones to its bounded thread pool, so a connection that
sends headers and no body holds no thread; it is closed after `idle_timeout`. Bodies over
`max_body` (Slack's are a few KB) are refused with 413 before they are read, and at most
`connection_limit` connections are open at once.

Before Bolt sees a request, `/slack/events` answers bad input itself: a timestamp that is not a
number is 401 (like any bad signature), a body that is not UTF-8 or whose interaction `payload` is
not a JSON object is 400 — a clear answer, never a traceback.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import logging
import sys
import threading
import urllib.parse
import weakref
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress import wasyncore  # type: ignore[import-untyped]
from waitress.server import create_server  # type: ignore[import-untyped]

from bot.core.runtime import Runtime
from bot.core.store import StoreHealth, StoreState
from bot.features.slo import alertmanager
from bot.features.status.report import status_report

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]

MAX_BODY_BYTES = 1024 * 1024  # Slack's bodies are small; a click's payload is tens of KB at most
MAX_HEADER_BYTES = 32 * 1024
CONNECTION_LIMIT = 1000
IDLE_TIMEOUT_SECONDS = 30
HTTP_THREADS = 16
# How long a thread may hold the interpreter lock while another waits for it (Python's default: 5 ms).
# Work that runs after the acks (bot/core/work.py) shares this process's lock with the threads answering
# Slack; with 1 ms an ack waiting behind a CPU-bound job gets the lock back five times sooner (measured:
# ack p99 of 50 concurrent commands while slow work runs, docs/benchmarks.md), for a little more switching.
SWITCH_INTERVAL_SECONDS = 0.001
_NESTED_OBJECTS = ("user", "team", "channel", "container", "message", "enterprise", "view", "state")


def _answer(start_response: StartResponse, status: str, text: str) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
    return [text.encode() + b"\n"]


def _bad_input(environ: dict[str, Any], raw: bytes) -> tuple[str, str] | None:
    """Why this /slack/events request cannot be handed to Bolt (status, text), or None when it can."""
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
    if timestamp is not None and not timestamp.strip().isdigit():
        return "401 Unauthorized", "invalid X-Slack-Request-Timestamp: not a number of seconds"
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "400 Bad Request", "the body is not UTF-8"
    if body.startswith("{"):
        try:
            parsed: Any = json.loads(body)
        except ValueError:
            return "400 Bad Request", "the JSON body could not be parsed"
        return None if isinstance(parsed, dict) else ("400 Bad Request", "the JSON body is not an object")
    if "payload" not in body:
        return None
    payloads = urllib.parse.parse_qs(body).get("payload")
    if not payloads:
        return None
    try:
        payload: Any = json.loads(payloads[0])
    except ValueError:
        return "400 Bad Request", "the interaction payload is not valid JSON"
    if not isinstance(payload, dict):
        return "400 Bad Request", "the interaction payload is not a JSON object"
    wrong = [key for key in _NESTED_OBJECTS if key in payload and not isinstance(payload[key], dict | None)]
    if wrong or ("actions" in payload and not isinstance(payload["actions"], list)):
        return "400 Bad Request", f"the interaction payload is malformed ({', '.join(wrong) or 'actions'})"
    return None


def _slack_events(slack: SlackRequestHandler) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    def handle(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _answer(start_response, "400 Bad Request", "invalid Content-Length")
        raw = environ["wsgi.input"].read(length) if length > 0 else b""
        problem = _bad_input(environ, raw)
        if problem is not None:
            return _answer(start_response, *problem)
        environ["wsgi.input"] = io.BytesIO(raw)
        environ["CONTENT_LENGTH"] = str(len(raw))
        return slack(environ, start_response)

    return handle


# -- /healthz and /readyz: liveness (the process serves) and readiness (its store is usable) ------------

StoreProbe = Callable[[], StoreHealth]
_STORE_PROBES: weakref.WeakKeyDictionary[App, StoreProbe] = weakref.WeakKeyDictionary()


def watch_store(app: App, probe: StoreProbe) -> None:
    """Let /healthz and /readyz of this app report the store `probe()` describes (`build_app` calls it)."""
    _STORE_PROBES[app] = probe


def _store_state(app: App) -> StoreHealth | None:
    probe = _STORE_PROBES.get(app)
    if probe is None:
        return None
    try:
        return probe()
    except Exception as exc:  # a probe must answer, never raise into the server
        return StoreHealth(StoreState.UNREADABLE, "?", f"{type(exc).__name__}: {exc}")


def _json(start_response: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
    start_response(status, [("Content-Type", "application/json"), ("Cache-Control", "no-store")])
    return [json.dumps(body, sort_keys=True).encode() + b"\n"]


def _healthz(app: App, start_response: StartResponse) -> list[bytes]:
    """Liveness: 200 while the process serves (restarting would not mend a store); names the store's state,
    the leader, the replicas seen recently and the store's backend and schema versions."""
    store = _store_state(app)
    body: dict[str, Any] = {"status": "ok", "store": store.as_dict() if store else None}
    runtime = _RUNTIMES.get(app)
    if runtime is not None:
        body.update(_deployment(runtime, read_store=store is None or store.usable))
    return _json(start_response, "200 OK", body)


def _deployment(runtime: Runtime, *, read_store: bool) -> dict[str, Any]:
    """The /bizra status report as JSON fields (a probe must answer: a failure is reported, not raised)."""
    try:
        report = status_report(runtime, read_store=read_store)
    except Exception as exc:
        return {"leadership": {"problem": f"{type(exc).__name__}: {exc}"}}
    return {
        "leader": report.leader,  # as this replica last read the Lease (None: nobody holds a valid one)
        "leadership": {"replica": report.this_replica, "leader": report.leader, "is_leader": report.this_is_leader,
                       "election": f"lease {report.lease}" if report.elected else "off"},
        "replicas_seen": [replica.identity for replica in report.replicas if replica.recent],
        "store_backend": {"backend": report.store.backend, "location": report.store.location,
                          "schema_versions": report.store.schema_versions, "problem": report.store.problem},
    }


def _readyz(app: App, start_response: StartResponse) -> list[bytes]:
    """Readiness: 503 while the store is unusable (empty, truncated, corrupt, gone), so no traffic comes."""
    store = _store_state(app)
    ready = store is None or store.usable
    return _json(start_response, "200 OK" if ready else "503 Service Unavailable",
                 {"ready": ready, "store": store.as_dict() if store else None})


# -- /webhooks/alertmanager: Alertmanager's notifications become pages ------------------------------

_RUNTIMES: weakref.WeakKeyDictionary[App, Runtime] = weakref.WeakKeyDictionary()
_STATUS_LINES = {200: "200 OK", 400: "400 Bad Request", 401: "401 Unauthorized", 404: "404 Not Found"}


def serve_runtime(app: App, runtime: Runtime) -> None:
    """Let this app's webhook routes reach `runtime` (`build_app` calls it)."""
    _RUNTIMES[app] = runtime


def _alertmanager(app: App, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    runtime = _RUNTIMES.get(app)
    if runtime is None:
        return _answer(start_response, "404 Not Found", "not found")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _answer(start_response, "400 Bad Request", "invalid Content-Length")
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    done = alertmanager.receive(runtime, authorization=environ.get("HTTP_AUTHORIZATION"), body=raw)
    return _answer(start_response, _STATUS_LINES.get(done.status, f"{done.status} Error"), done.text)


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Error"


def _feature_webhook(app: App, path: str, environ: dict[str, Any], start_response: StartResponse) -> list[bytes] | None:
    """A webhook a feature registered (`Registry.add_webhook`, e.g. Flagger's); None when no route matches."""
    runtime = _RUNTIMES.get(app)
    route = runtime.registry.find_webhook(path) if runtime is not None else None
    if runtime is None or route is None:
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _answer(start_response, "400 Bad Request", "invalid Content-Length")
    if length > route.max_body:  # refused before reading: the body is never buffered
        return _answer(start_response, "413 Content Too Large", f"the body is over {route.max_body} bytes")
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    try:
        done = route.handler(runtime, path[len(route.prefix):], raw)
    except Exception:  # a clear answer, never a traceback; the log has the details
        log.exception("webhook %s failed", path)
        return _answer(start_response, "500 Internal Server Error", "the bot failed to answer; see its log")
    return _answer(start_response, _status_line(done.status), done.text)


def _answering(app: App, answer: Callable[[], Iterable[bytes]]) -> Iterable[bytes]:
    """Answer a Slack request as foreground work: the work lanes start no new job meanwhile (bot/core/work.py),
    so a burst of commands is acked before the work it queued competes with it for the interpreter."""
    runtime = _RUNTIMES.get(app)
    if runtime is None:
        return answer()
    with runtime.work.get().foreground.serving():
        return list(answer())  # Bolt builds its answer whole: the request ends here, before waitress writes it


def wsgi_app(app: App) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    slack = _slack_events(SlackRequestHandler(app))

    def route(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz" and method in ("GET", "HEAD"):
            return _healthz(app, start_response)
        if path == "/readyz" and method in ("GET", "HEAD"):
            return _readyz(app, start_response)
        if path == "/metrics" and method == "GET":
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [generate_latest()]
        if path == "/slack/events" and method == "POST":
            return _answering(app, lambda: slack(environ, start_response))
        if path == "/webhooks/alertmanager" and method == "POST":
            return _alertmanager(app, environ, start_response)
        if path.startswith("/webhooks/") and method == "POST":
            answered = _feature_webhook(app, path, environ, start_response)
            if answered is not None:
                return answered
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return route


def tune_for_serving() -> None:
    """Process-wide interpreter settings for `bizra serve` (not for tests or the CLI): answer first.

    - A 1 ms switch interval (`SWITCH_INTERVAL_SECONDS`).
    - `gc.freeze()` once start-up is done: everything alive then (modules, models, the app, the runtime)
      lives as long as the process, yet each full collection scanned all of it — 60–110 ms with every
      thread stopped, measured in the middle of a burst of acks. Frozen, a full collection scans only
      what was made since (cyclic garbage among the frozen objects is never freed: there is none to
      speak of, they are the process's own fixtures)."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    gc.collect()
    gc.freeze()


class HttpServer:
    """A running server; `port` is the bound port (useful with port 0)."""

    def __init__(self, app: App, *, host: str, port: int, idle_timeout: int = IDLE_TIMEOUT_SECONDS,
                 max_body: int = MAX_BODY_BYTES, connection_limit: int = CONNECTION_LIMIT,
                 threads: int = HTTP_THREADS) -> None:
        self._server = create_server(
            wsgi_app(app), host=host, port=port, threads=threads, connection_limit=connection_limit,
            channel_timeout=idle_timeout, cleanup_interval=max(1, idle_timeout // 2),
            max_request_body_size=max_body, max_request_header_size=MAX_HEADER_BYTES,
            asyncore_use_poll=True,  # select() cannot watch more than 1024 descriptors
            asyncore_loop_timeout=1, backlog=1024, ident="bizra", expose_tracebacks=False,
            clear_untrusted_proxy_headers=True,
        )
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()
        self._stopped = False

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def serve_forever(self) -> None:
        self._serving.set()
        try:
            self._server.run()
        finally:
            self._serving.clear()

    def start_background(self) -> HttpServer:
        self._thread = threading.Thread(target=self.serve_forever, name="bizra-http", daemon=True)
        self._thread.start()
        self._serving.wait(5)
        return self

    def _close_all(self) -> None:
        for channel in list(self._server._map.values()):
            with contextlib.suppress(OSError):
                channel.close()

    def _in_loop(self, thunk: Callable[[], object]) -> None:
        """Run `thunk` inside the serving loop's thread (the trigger runs thunks there), or here when
        the loop is gone."""
        if self._serving.is_set():
            try:
                self._server.trigger.pull_trigger(thunk)
                return
            except OSError:  # the trigger was closed: the loop has ended
                pass
        with contextlib.suppress(OSError):
            thunk()

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop taking connections, let requests being answered finish (within `timeout`), close the rest."""
        if self._stopped:
            return
        self._stopped = True
        self._in_loop(lambda: wasyncore.dispatcher.close(self._server))  # accept no more
        self._server.task_dispatcher.shutdown(cancel_pending=False, timeout=timeout)
        self._in_loop(self._close_all)
        if self._thread is not None:
            self._thread.join(timeout)
