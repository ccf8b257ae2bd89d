"""One SLO evaluation at 4 / 40 / 200 SLOs behind 50 ms of Prometheus latency: sequential vs concurrent.

A synthetic NODE0, a real Prometheus (1 s scrape) and, in front of it, a forwarding proxy on
127.0.0.1 that adds `--latency` (default 50 ms) to every request, as a remote Prometheus would.
The bot's own evaluation (`bot.features.slo.watch.evaluate_now`, through the real Prometheus
adapter) runs with `slo.max_concurrent_queries: 1` (the old one-after-another behaviour) and with
the configured bound (default the shipped default), in the same run, so the ratios compare like
with like. Catalogs are the four shipped SLOs repeated under distinct names.

Goal: wall time grows far less than linearly in the number of SLOs; 200 SLOs in under 1 s.

    .venv/bin/python bench/slo_tick_scale.py [--latency 0.05] [--repeat 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.assembly import build_runtime  # noqa: E402
from bot.core.config import BizraConfig, Secrets  # noqa: E402
from bot.features.slo.settings import SloSettings  # noqa: E402
from bot.features.slo.watch import evaluate_now  # noqa: E402
from commands.slo import SloState, default_catalog  # noqa: E402
from tests.support.node0_exporter import node0_exporter  # noqa: E402
from tests.support.prometheus import poll, prometheus_server  # noqa: E402

SIZES = (4, 40, 200)
WINDOW = "3s"


class LatencyProxy:
    """Forwards GETs to Prometheus after `latency` seconds (the network and queueing of a remote Prometheus)."""

    def __init__(self, upstream: str, latency: float) -> None:
        outer = self
        self.upstream, self.latency = upstream.rstrip("/"), latency

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real Prometheus: the bot's pool reuses connections
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                time.sleep(outer.latency)  # the injected latency itself
                with urllib.request.urlopen(outer.upstream + self.path, timeout=30) as response:
                    body, status = response.read(), response.status
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def catalog(size: int) -> list[dict[str, Any]]:
    base = default_catalog()
    return [base[n % len(base)].model_copy(update={"name": f"{base[n % len(base)].name}_{n:03d}"}).model_dump(
        mode="json") for n in range(size)]


def measure(url: str, workdir: Path, *, size: int, concurrency: int, repeat: int) -> tuple[float, int]:
    """Median wall time of one evaluation, and how many SLOs were not OK in the last one."""
    config = BizraConfig.model_validate({
        "store": {"path": str(workdir / f"state-{size}-{concurrency}.sqlite")},
        "slo": {"prometheus": {"url": url, "timeout_seconds": 10}, "window": WINDOW, "catalog": catalog(size),
                "max_concurrent_queries": concurrency, "tick_deadline": 60},
    })
    runtime = build_runtime(config=config, secrets=Secrets())
    evaluate_now(runtime, at=datetime.now(UTC))  # warm: the client's import and first connections
    times, bad = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        status = evaluate_now(runtime, at=datetime.now(UTC))
        times.append(time.perf_counter() - started)
        bad = sum(1 for r in status.results if r.state is not SloState.OK)
    return statistics.median(times), bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every query")
    parser.add_argument("--repeat", type=int, default=3, help="evaluations per size (median); at most 10")
    parser.add_argument("--concurrency", type=int, default=SloSettings().max_concurrent_queries)
    args = parser.parse_args()
    repeat = max(1, min(args.repeat, 10))
    workdir = Path(tempfile.mkdtemp(prefix="bizra-bench-scale-"))
    with node0_exporter() as node0, prometheus_server([node0.target]) as prom:
        base = default_catalog()
        poll(lambda: all(prom.value(slo.promql(WINDOW)) is not None for slo in base), timeout=60,
             what="NODE0 data in Prometheus")
        proxy = LatencyProxy(prom.url, args.latency)
        rows = []
        for size in SIZES:
            sequential, bad_seq = measure(proxy.url, workdir, size=size, concurrency=1,
                                          repeat=1 if size > 40 else repeat)
            concurrent, bad_con = measure(proxy.url, workdir, size=size, concurrency=args.concurrency, repeat=repeat)
            rows.append((size, sequential, concurrent, bad_seq + bad_con))
            print(f"  {size:3d} SLOs: sequential {sequential:6.2f}s  concurrent({args.concurrency}) "
                  f"{concurrent:6.3f}s  speed-up {sequential / concurrent:5.1f}x  not OK: {bad_seq + bad_con}",
                  flush=True)
        proxy.server.shutdown()
    print(f"\none evaluation, {args.latency * 1000:g} ms per query, max_concurrent_queries={args.concurrency}")
    first = rows[0]
    for size, sequential, concurrent, _ in rows:
        print(f"  {size:3d} SLOs ({size / first[0]:4.0f}x the SLOs): concurrent {concurrent:6.3f}s = "
              f"{concurrent / first[2]:5.1f}x the 4-SLO time; sequential {sequential:6.2f}s = "
              f"{sequential / first[1]:5.1f}x")
    largest = rows[-1]
    ok = largest[2] < 1.0 and all(bad == 0 for *_, bad in rows)
    print(f"  goal (200 SLOs < 1 s, every SLO read): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
