"""A synthetic NODE0 on 127.0.0.1: the agreed metric names, with behaviour each test sets.

Counters advance at scrape time from the configured rates (requests per second, error share,
latency, cache hit share, planner validity share) over the time since the previous scrape, so
Prometheus's `rate()` sees exactly the behaviour the test chose, and a change shows up as soon as
the rate window has moved past it. Every observation of the latency histogram lands at
`latency_seconds`, so p99 sits inside that bucket (for 3 ms: between 2 and 5 ms).

    with node0_exporter() as node0:
        node0.set(latency_seconds=0.003)   # breach the 1.5 ms p99 objective
        node0.target                        # "127.0.0.1:<port>" for the scrape config

    with node0_exporters(["node0", "slot-01"]) as (node0, slot):   # one HTTP server, one NODE0 per path
        slot.path                           # "/slot-01/metrics": the scrape config's metrics_path
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

BUCKETS = (0.0005, 0.001, 0.0015, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class Behaviour:
    requests_per_second: float = 200.0
    latency_seconds: float = 0.001  # p99 ≈ 0.995 ms: within 1.5 ms
    error_ratio: float = 0.001  # 0.1% 5xx: within 1%
    cache_hit_ratio: float = 0.95  # within >= 90%
    planner_valid_ratio: float = 0.995  # within >= 98%
    planner_per_second: float = 20.0
    serving: bool = True  # False: /metrics answers 503 (the target is down, no fresh samples)


@dataclass
class _Counts:
    ok: float = 0.0
    errors: float = 0.0
    buckets: list[float] = field(default_factory=lambda: [0.0] * (len(BUCKETS) + 1))
    duration_sum: float = 0.0
    hits: float = 0.0
    misses: float = 0.0
    planner: float = 0.0
    planner_valid: float = 0.0


class Node0Collector(Collector):
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self._counts = _Counts()
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def set(self, **changes: Any) -> None:
        with self._lock:
            self._advance()  # what happened so far happened under the old behaviour
            self.behaviour = replace(self.behaviour, **changes)

    def _advance(self) -> None:
        now = time.monotonic()
        elapsed, self._last = now - self._last, now
        b, c = self.behaviour, self._counts
        requests = b.requests_per_second * elapsed
        c.errors += requests * b.error_ratio
        c.ok += requests * (1 - b.error_ratio)
        for i, bound in enumerate((*BUCKETS, float("inf"))):
            if b.latency_seconds <= bound:
                c.buckets[i] += requests
        c.duration_sum += requests * b.latency_seconds
        c.hits += requests * b.cache_hit_ratio
        c.misses += requests * (1 - b.cache_hit_ratio)
        planned = b.planner_per_second * elapsed
        c.planner += planned
        c.planner_valid += planned * b.planner_valid_ratio

    def collect(self):  # type: ignore[no-untyped-def]
        with self._lock:
            self._advance()
            c, b = self._counts, self.behaviour
            requests = CounterMetricFamily("node0_cb_requests", "Circuit-breaker requests by status code.",
                                           labels=["code"])
            requests.add_metric(["200"], c.ok)
            requests.add_metric(["500"], c.errors)
            latency = HistogramMetricFamily("node0_cb_request_duration_seconds", "Circuit-breaker request latency.")
            latency.add_metric([], buckets=[(str(bound), count) for bound, count in
                                            zip((*BUCKETS, "+Inf"), c.buckets, strict=True)],
                               sum_value=c.duration_sum)
            hits = CounterMetricFamily("node0_cache_l1_hits", "Cache L1 hits.", value=c.hits)
            misses = CounterMetricFamily("node0_cache_l1_misses", "Cache L1 misses.", value=c.misses)
            outputs = CounterMetricFamily("node0_planner_outputs", "Planner outputs.", value=c.planner)
            valid = CounterMetricFamily("node0_planner_outputs_valid", "Planner outputs that are valid JSON.",
                                        value=c.planner_valid)
            rps = GaugeMetricFamily("circuit_breaker_requests_per_second", "Circuit-breaker request rate.",
                                    value=b.requests_per_second)
        yield from (requests, latency, hits, misses, outputs, valid, rps)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@dataclass
class Node0Exporter:
    collector: Node0Collector
    port: int
    path: str = "/metrics"  # the scrape config's metrics_path

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set(self, **changes: Any) -> None:
        """Change behaviour from now on, e.g. `set(latency_seconds=0.003)` or `set(error_ratio=0.05)`."""
        self.collector.set(**changes)

    def reset(self) -> None:
        self.collector.set(**{name: getattr(Behaviour(), name) for name in Behaviour.__dataclass_fields__})


@contextmanager
def node0_exporter(behaviour: Behaviour | None = None) -> Iterator[Node0Exporter]:
    collector = Node0Collector(behaviour or Behaviour())
    registry = CollectorRegistry()
    registry.register(collector)
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if not collector.behaviour.serving:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"down\n"]
        return metrics(environ, start_response)

    server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    # A short poll interval: shutdown() waits for the serving loop's next poll.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="node0-exporter",
                              daemon=True)
    thread.start()
    try:
        yield Node0Exporter(collector=collector, port=int(server.server_address[1]))
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def node0_exporters(names: Sequence[str], behaviour: Behaviour | None = None) -> Iterator[list[Node0Exporter]]:
    """Several independent NODE0s behind one HTTP server, each at `/<name>/metrics` with its own behaviour.

    Scraped as separate targets (one scrape job per name, `metrics_path` = `exporter.path`), each is
    its own series in Prometheus, so tests sharing one Prometheus are isolated by the `job` label.
    """
    apps: dict[str, Any] = {}
    for name in names:
        collector = Node0Collector(behaviour or Behaviour())
        registry = CollectorRegistry()
        registry.register(collector)
        apps[f"/{name}/metrics"] = (collector, make_wsgi_app(registry))

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        found = apps.get(environ.get("PATH_INFO", ""))
        if found is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no such NODE0\n"]
        collector, metrics = found
        if not collector.behaviour.serving:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"down\n"]
        return metrics(environ, start_response)

    server = make_server("127.0.0.1", 0, app, server_class=_ThreadingWSGIServer, handler_class=_Quiet)
    port = int(server.server_address[1])
    exporters = [Node0Exporter(collector=collector, port=port, path=path) for path, (collector, _) in apps.items()]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="node0-exporters",
                              daemon=True)
    thread.start()
    try:
        yield exporters
    finally:
        server.shutdown()
        server.server_close()
