"""A real Prometheus (Debian's /usr/bin/prometheus) on 127.0.0.1 for tests and benchmarks.

    with prometheus_server([node0.target]) as prom:
        prom.url                        # http://127.0.0.1:<free port>
        prom.wait_for_value("up")       # polls until the first scrape landed
    # SIGTERM on exit; the TSDB lives in a temp dir that is removed

Scrapes every second (`scrape_interval`). `/-/ready` answers in ~0.1 s but the first scrape comes
~5 s after start, so `start` polls for readiness and then for the first sample of `up`.
`launch_prometheus` + `wait_until_ready` split the two, so that the start-up can run while other
work does (tests/support/shared_prometheus.py: one Prometheus for the whole test run).
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll(check: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.1) -> T:
    """Call `check` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as exc:  # not there yet (connection refused, …): keep polling
            last = exc
            result = None
        if result:
            return result
        time.sleep(interval)  # polling interval, not a wait for a condition
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last error: {last!r})")


@dataclass
class PrometheusServer:
    url: str
    process: subprocess.Popen[bytes]
    workdir: Path

    def query(self, promql: str) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{query}", timeout=5) as response:
            return json.loads(response.read())["data"]["result"]

    def value(self, promql: str) -> float | None:
        """The first series' value, or None (no series / NaN)."""
        result = self.query(promql)
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) else value

    def wait_for_value(self, promql: str, predicate: Callable[[float], bool] = lambda v: True, *,
                       timeout: float = 30.0, what: str | None = None) -> float:
        def check() -> float | None:
            value = self.value(promql)
            return value if value is not None and predicate(value) else None

        # A truthy wrapper, so that a legitimate 0.0 still ends the poll.
        found = poll(lambda: (v,) if (v := check()) is not None else None, timeout=timeout,
                     what=what or f"a value for {promql}")
        return found[0]

    def log(self) -> str:
        path = self.workdir / "prometheus.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _config(targets: list[str], *, scrape_interval: str, rule_files: list[Path], alertmanagers: list[str],
            jobs: list[dict[str, Any]], metrics_path: str) -> dict:
    config: dict[str, Any] = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval,
                   "scrape_timeout": scrape_interval},
        "scrape_configs": [
            {"job_name": "node0", "metrics_path": metrics_path, "static_configs": [{"targets": targets}]}, *jobs,
        ],
    }
    if rule_files:
        config["rule_files"] = [str(p) for p in rule_files]
    if alertmanagers:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": alertmanagers}]}]}
    return config


def launch_prometheus(targets: list[str], *, scrape_interval: str = "1s", rule_files: list[Path] | None = None,
                      alertmanagers: list[str] | None = None, jobs: list[dict[str, Any]] | None = None,
                      metrics_path: str = "/metrics") -> PrometheusServer:
    """Start the process and return at once; `wait_until_ready` waits for it (start-up runs meanwhile).

    `jobs`: further scrape configs (`{"job_name": ..., "static_configs": ...}`) next to the `node0` job,
    which scrapes `targets` at `metrics_path`.
    """
    workdir = Path(tempfile.mkdtemp(prefix="bizra-prometheus-"))
    config = workdir / "prometheus.yml"
    config.write_text(yaml.safe_dump(_config(targets, scrape_interval=scrape_interval, rule_files=rule_files or [],
                                             alertmanagers=alertmanagers or [], jobs=jobs or [],
                                             metrics_path=metrics_path)))
    port = free_port()
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    log.close()  # the child has its own copy of the descriptor
    return PrometheusServer(url=f"http://127.0.0.1:{port}", process=process, workdir=workdir)


def wait_until_ready(server: PrometheusServer, *, wait_for_scrape: bool = True) -> PrometheusServer:
    """Poll /-/ready, then (with `wait_for_scrape`) the first successful scrape of the `node0` job."""
    try:
        def ready() -> bool:
            if server.process.poll() is not None:
                raise AssertionError(f"prometheus exited with {server.process.returncode}:\n{server.log()}")
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as response:
                return response.status == 200

        poll(ready, timeout=30, what="Prometheus /-/ready")
        if wait_for_scrape:
            server.wait_for_value('up{job="node0"}', lambda v: v == 1, timeout=30, what="the first scrape of NODE0")
    except BaseException:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)
        raise
    return server


def start_prometheus(targets: list[str], *, scrape_interval: str = "1s", rule_files: list[Path] | None = None,
                     alertmanagers: list[str] | None = None, wait_for_scrape: bool = True,
                     jobs: list[dict[str, Any]] | None = None, metrics_path: str = "/metrics") -> PrometheusServer:
    server = launch_prometheus(targets, scrape_interval=scrape_interval, rule_files=rule_files,
                               alertmanagers=alertmanagers, jobs=jobs, metrics_path=metrics_path)
    return wait_until_ready(server, wait_for_scrape=wait_for_scrape and bool(targets))


@contextmanager
def prometheus_server(targets: list[str], **options: Any) -> Iterator[PrometheusServer]:
    server = start_prometheus(targets, **options)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)
