"""Ack latency of `bizra serve` in HTTP mode: concurrent signed `/bizra gates` requests, send → HTTP 200.

Starts the real server as a subprocess on 127.0.0.1 (free port) with its Web API pointed at a
recording server (tests/support/slack.py), its Prometheus at a local fake and its cluster at the
Kubernetes API emulator (tests/support/kube_api.py), so nothing leaves the machine. Slack drops a
slash command whose HTTP 200 takes longer than 3,000 ms; this reports p50/p99/max beside that for
bursts of 50 and 200 concurrent commands,

- idle, and while 20 slow tasks run: `/bizra slo` commands whose Prometheus hangs on one SLO (until
  the bot's query timeout) and then answers the chart's range queries (so charts render), and one
  rollback following a rollout that the emulator holds (never becomes ready);
- with 300 idle connections held open (headers sent, no body): one signed command.

The loaded/idle ratio is measured in the same run, so it holds on any machine.

    .venv/bin/python bench/ack_latency.py [--slow-tasks 20] [--idle-connections 300]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.kube_api import KubeApiServer, deployment_manifest  # noqa: E402
from tests.support.slack import SlackRecorder, block_action_body, post, sign, slash_command_body  # noqa: E402

SECRET = "bench-signing-secret"  # made up; the server is local and only this script talks to it
SLACK_DEADLINE_MS = 3000.0
MAX_REQUESTS = 200  # bounded: this is a latency probe, not a load test
MAX_SLOW_TASKS = 40
MAX_IDLE_CONNECTIONS = 400
GOAL_P99_MS = 100.0
NS = "bizra-production"
GOOD = "ghcr.io/bizra/node0@sha256:" + "a" * 64
BAD = "ghcr.io/bizra/node0@sha256:" + "b" * 64
RESPONDER = "U_RESP"
COMMAND_CHANNEL = "C123"  # slash_command_body's channel


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Any, *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)  # polling interval of a benchmark driver; not a test
    raise SystemExit(f"timed out after {timeout:g}s waiting for {what}")


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class FakePrometheus:
    """Instant queries for the cache SLO hang (until released or 30 s); everything else answers at once,
    range queries with half an hour of points, so `/bizra slo` draws a full chart."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.hung = 0
        self.ranges = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                parsed = urllib.parse.urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode()) if length else {}
                params = {**urllib.parse.parse_qs(parsed.query), **form}
                query = (params.get("query") or [""])[0]
                if parsed.path.endswith("/query_range"):
                    fake.ranges += 1
                    start, end = float(params["start"][0]), float(params["end"][0])
                    points = [[start + i * (end - start) / 180, "0.001"] for i in range(181)]
                    result: Any = {"resultType": "matrix", "result": [{"metric": {}, "values": points}]}
                else:
                    if "cache_l1" in query:
                        fake.hung += 1
                        fake.release.wait(30)  # a Prometheus that does not answer
                    result = {"resultType": "vector", "result": [{"metric": {}, "value": [time.time(), "0.001"]}]}
                payload = json.dumps({"status": "success", "data": result}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the bot gave up on it (its query timeout)

            do_GET = _answer
            do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


BUSY_ANSWERS: list[int] = []


def burst(url: str, recorder: SlackRecorder, *, count: int, tag: str) -> tuple[list[float], int]:
    """`count` concurrent signed `/bizra gates`; latencies of the HTTP 200s and how many failed
    (an error status, no answer, or a "busy" ack: the command was not run)."""

    def send(index: int) -> float | None:
        body = slash_command_body("gates", response_url=recorder.response_url(f"{tag}{index}"))
        started = time.perf_counter()
        try:
            status, text = post(url + "/slack/events", body, sign(SECRET, body), timeout=10)
        except OSError:
            return None
        elapsed = (time.perf_counter() - started) * 1000
        if "busy" in text:
            BUSY_ANSWERS.append(index)
            return None
        return elapsed if status == 200 else None

    with ThreadPoolExecutor(max_workers=count) as pool:
        results = list(pool.map(send, range(count)))
    latencies = [r for r in results if r is not None]
    return latencies, count - len(latencies)


def settle(recorder: SlackRecorder, tag: str, count: int) -> None:
    """Until every command of burst `tag` has had its answer: the next burst then meets a server with no
    work of an earlier burst still running (otherwise "idle" would measure the last burst's answers)."""
    wait_until(lambda: all(recorder.responses(f"{tag}{index}") for index in range(count)), timeout=60,
               what=f"the answers to burst {tag!r}")


def start_slow_tasks(url: str, recorder: SlackRecorder, *, slo_tasks: int, rollback: bool) -> None:
    for index in range(slo_tasks):
        body = slash_command_body("slo", response_url=recorder.response_url(f"slow{index}"))
        status, _ = post(url + "/slack/events", body, sign(SECRET, body))
        if status != 200:
            raise SystemExit(f"slow task {index}: HTTP {status}")
    if not rollback:
        return
    body = slash_command_body("rollback bench", response_url=recorder.response_url("rb"), user_id=RESPONDER)
    post(url + "/slack/events", body, sign(SECRET, body))
    # The confirmation is posted in the channel the command came from; only its own buttons confirm it.
    posted = wait_until(lambda: _confirmation(recorder, COMMAND_CHANNEL), timeout=30, what="the rollback confirmation")
    ts, plan_id = posted
    body = block_action_body(action_id="rollback.confirm", value=plan_id, user_id=RESPONDER,
                             response_url=recorder.response_url("rbc"), channel_id=COMMAND_CHANNEL,
                             message_ts=ts)  # a click on its Confirm button
    post(url + "/slack/events", body, sign(SECRET, body))


def _confirmation(recorder: SlackRecorder, channel: str) -> tuple[str, str] | None:
    """(ts, plan id) of the rollback confirmation the bot posted in `channel`, once it is there."""
    for message in recorder.top_level(channel):
        for button in message.buttons():
            if button.get("action_id") == "rollback.confirm":
                return message.ts, str(button["value"])
    return None


def _first_words(recorder: SlackRecorder, name: str) -> str:
    answers = recorder.responses(name)
    return "still following its held rollout" if not answers else str(answers[0].body.get("text", ""))[:100]


def report(name: str, latencies: list[float], failures: int, *, idle_p99: float | None = None) -> float:
    if not latencies:
        print(f"  {name:<34}: every request failed ({failures})")
        return math.inf
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    ratio = f"   p99 {p99 / idle_p99:4.1f}x idle" if idle_p99 else ""
    print(f"  {name:<34}: p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  max {max(latencies):7.1f} ms  "
          f"failures {failures}{ratio}")
    return p99


def hold_idle_connections(port: int, count: int) -> list[socket.socket]:
    held = []
    for _ in range(count):
        connection = socket.create_connection(("127.0.0.1", port), timeout=5)
        connection.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bench\r\nContent-Length: 1000\r\n\r\n")
        held.append(connection)
    return held


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow-tasks", type=int, default=20)
    parser.add_argument("--idle-connections", type=int, default=300)
    parser.add_argument("--no-rollback", action="store_true", help="no held rollback among the slow tasks")
    args = parser.parse_args()
    slow_tasks = max(1, min(args.slow_tasks, MAX_SLOW_TASKS))
    idle_connections = max(0, min(args.idle_connections, MAX_IDLE_CONNECTIONS))

    recorder = SlackRecorder().start()
    prometheus = FakePrometheus()
    kube = KubeApiServer().start()
    kube.put(deployment_manifest(image=BAD, annotations={"flagger.app/last-stable-revision": GOOD}))
    kube.roll_out(NS, "node0")  # healthy on the bad image; nobody rolls out the rollback: it stays held
    workdir = Path(tempfile.mkdtemp(prefix="bizra-bench-"))
    config = workdir / "bizra.yaml"
    config.write_text(json.dumps({
        "store": {"path": str(workdir / "state.sqlite")},
        "slack": {"release_channel": "C1", "messages_per_second": 50},
        "slo": {"enabled": False, "prometheus": {"url": prometheus.url, "timeout_seconds": 3}},
        "release": {"kube": {"mode": "kubeconfig", "kubeconfig": str(kube.write_kubeconfig(workdir / "kubeconfig")),
                             "timeout_seconds": 3},
                    "rollback": {"incidents_dir": str(workdir / "incidents"), "poll_interval_seconds": 0.5,
                                 "rollout_deadline_seconds": 60}},
        "access": {"roles": {"responder": {"users": [RESPONDER], "permissions": ["rollback"]}}},
    }), encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and k != "KUBECONFIG"}
    env.update(SLACK_SIGNING_SECRET=SECRET, SLACK_BOT_TOKEN="xoxb-bench", SLACK_API_URL=recorder.api_url,
               HOST="127.0.0.1", PORT=str(port), BIZRA_CONFIG=str(config), PYTHONPATH=str(REPO))
    server = subprocess.Popen([sys.executable, "-m", "bot", "--log-level", "ERROR", "serve"], cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}"
    ok = True
    try:
        wait_until(lambda: healthy(url), timeout=30, what="bizra serve's /healthz")
        burst(url, recorder, count=50, tag="warm")  # warm-up (first code paths, the store's first pages); not reported
        print(f"bizra serve (HTTP, 127.0.0.1): signed '/bizra gates' bursts; "
              f"Slack's deadline {SLACK_DEADLINE_MS:,.0f} ms")
        previous = ("warm", 50)
        idle = []
        for index in range(3):  # as many as loaded: a p99 of 150 acks, not the maximum of 50
            settle(recorder, *previous)
            idle.append(burst(url, recorder, count=50, tag=f"i50-{index}-"))
            previous = (f"i50-{index}-", 50)
        idle50 = report("idle, 50 concurrent x3", [x for lat, _ in idle for x in lat], sum(f for _, f in idle))
        settle(recorder, *previous)
        idle200_lat, idle200_fail = burst(url, recorder, count=200, tag="i200-")
        report("idle, 200 concurrent", idle200_lat, idle200_fail)

        rollback = not args.no_rollback
        start_slow_tasks(url, recorder, slo_tasks=slow_tasks - int(rollback), rollback=rollback)
        wait_until(lambda: prometheus.ranges > 0, timeout=30, what="the first chart's range queries")
        loaded = [burst(url, recorder, count=50, tag=f"l50-{i}-") for i in range(3)]
        latencies = [x for lat, _ in loaded for x in lat]
        fails = sum(f for _, f in loaded)
        busy50 = report(f"{slow_tasks} slow tasks, 50 concurrent x3", latencies, fails, idle_p99=idle50)
        loaded200_lat, loaded200_fail = burst(url, recorder, count=200, tag="l200-")
        report(f"{slow_tasks} slow tasks, 200 concurrent", loaded200_lat, loaded200_fail,
               idle_p99=percentile(idle200_lat, 0.99) if idle200_lat else None)
        answered = sum(bool(recorder.responses(f"slow{i}")) for i in range(slow_tasks))
        print(f"  slow tasks meanwhile: {prometheus.hung} hung Prometheus queries, {prometheus.ranges} chart range "
              f"queries, {answered}/{slow_tasks - int(rollback)} /bizra slo answered by the end of the bursts, "
              f"rollback: {_first_words(recorder, 'rbc') if rollback else 'none'}; "
              f"busy answers so far: {len(BUSY_ANSWERS)}")

        held = hold_idle_connections(port, idle_connections)
        try:
            burst(url, recorder, count=1, tag="held-warm")  # the server has accepted them all by its answer
            probes = [burst(url, recorder, count=1, tag=f"held{i}-") for i in range(5)]
            report(f"{len(held)} idle connections held, 1 command x5", [x for lat, _ in probes for x in lat],
                   sum(f for _, f in probes))
        finally:
            for connection in held:
                connection.close()
        ok = busy50 < SLACK_DEADLINE_MS and idle200_fail == 0 and loaded200_fail == 0
        print(f"  goals: p99 < {GOAL_P99_MS:.0f} ms at 50 idle ({'met' if idle50 < GOAL_P99_MS else 'MISSED'}) and "
              f"loaded ({'met' if busy50 < GOAL_P99_MS else 'MISSED'}); 0 failures at 200 "
              f"({'met' if idle200_fail == loaded200_fail == 0 else 'MISSED'})")
    finally:
        server.terminate()
        try:
            server.wait(timeout=90)
        except subprocess.TimeoutExpired:
            server.kill()
        prometheus.stop()
        kube.stop()
        recorder.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
