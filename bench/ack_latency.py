"""Ack latency of `bizra serve` in HTTP mode: N concurrent signed `/bizra gates` requests, send → HTTP 200.

Starts the real server as a subprocess on 127.0.0.1 (free port) with its Web API pointed at a
recording server (tests/support/slack.py), so nothing leaves the machine. Slack drops a slash
command whose HTTP 200 takes longer than 3,000 ms; this reports p50/p99/max beside that, and also
how long until every verdict had arrived on its response_url.

    .venv/bin/python bench/ack_latency.py [--requests 50] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.slack import SlackRecorder, post, sign, slash_command_body  # noqa: E402

SECRET = "bench-signing-secret"  # made up; the server is local and only this script talks to it
SLACK_DEADLINE_MS = 3000.0
MAX_REQUESTS = 200  # bounded: this is a latency probe, not a load test


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(url: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)  # polling a starting process; not a test
    raise SystemExit(f"bizra serve did not answer {url}/healthz within {timeout}s")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    count = max(1, min(args.requests, MAX_REQUESTS))

    recorder = SlackRecorder().start()
    workdir = Path(tempfile.mkdtemp(prefix="bizra-bench-"))
    config = workdir / "bizra.yaml"
    config.write_text(f"store:\n  path: {workdir / 'state.sqlite'}\n", encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and k != "KUBECONFIG"}
    env.update(SLACK_SIGNING_SECRET=SECRET, SLACK_BOT_TOKEN="xoxb-bench", SLACK_API_URL=recorder.api_url,
               HOST="127.0.0.1", PORT=str(port), BIZRA_CONFIG=str(config), PYTHONPATH=str(REPO))
    server = subprocess.Popen([sys.executable, "-m", "bot", "--log-level", "WARNING", "serve"], cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout=30)

        def send(index: int) -> float:
            body = slash_command_body("gates", response_url=recorder.response_url(f"r{index}"))
            started = time.perf_counter()
            status, _ = post(url + "/slack/events", body, sign(SECRET, body))
            elapsed = (time.perf_counter() - started) * 1000
            if status != 200:
                raise RuntimeError(f"request {index}: HTTP {status}")
            return elapsed

        first = send(-1)  # warm-up (Bolt may make its lazy auth.test call here); reported apart
        recorder.wait_for(lambda _: bool(recorder.responses("r-1")), timeout=30, what="the warm-up verdict")

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(1, min(args.concurrency, count))) as pool:
            latencies = list(pool.map(send, range(count)))
        recorder.wait_for(
            lambda _: all(recorder.responses(f"r{i}") for i in range(count)), timeout=120,
            what="every verdict on its response_url",
        )
        all_answered_ms = (time.perf_counter() - started) * 1000
        wrong = [i for i in range(count) if "grade A+" not in str(recorder.responses(f"r{i}")[0].body.get("blocks"))]
    finally:
        server.terminate()
        server.wait(timeout=10)
        recorder.stop()

    p50, p99, worst = percentile(latencies, 0.50), percentile(latencies, 0.99), max(latencies)
    print(f"bizra serve (HTTP, 127.0.0.1): {count} concurrent signed '/bizra gates', "
          f"concurrency {min(args.concurrency, count)}")
    print(f"  first request (warm-up)           : {first:8.1f} ms")
    print(f"  ack p50  : {p50:8.1f} ms   ({p50 / SLACK_DEADLINE_MS:6.1%} of Slack's {SLACK_DEADLINE_MS:,.0f} ms)")
    print(f"  ack p99  : {p99:8.1f} ms   ({p99 / SLACK_DEADLINE_MS:6.1%} of Slack's {SLACK_DEADLINE_MS:,.0f} ms)")
    print(f"  ack max  : {worst:8.1f} ms")
    print(f"  all {count} verdicts on response_url after {all_answered_ms:,.0f} ms; not A+: {len(wrong)}")
    return 0 if p99 < SLACK_DEADLINE_MS and not wrong else 1


if __name__ == "__main__":
    sys.exit(main())
