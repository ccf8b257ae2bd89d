"""A cluster that passes `/bizra verify`, built from the shipped ops/ manifests on the Kubernetes test
server, the run's real Prometheus scraping a NODE0 exporter (job node0), a health endpoint on
127.0.0.1, a copy of the artifacts, a completed canary in the bot's store and an admission webhook that
refuses the checklist's unsigned probe for its signature. Each test breaks one thing.

Objects are created over HTTP as a client would (POST, then PUT of the status subresource, the
controller's part), so kinds the emulator has no table entry for (Job, ClusterPolicy) work too.
"""

from __future__ import annotations

import copy
import json
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.assembly import build_runtime
from bot.core.config import BizraConfig, Secrets
from bot.core.runtime import Runtime
from bot.features.canary import store as canary_store
from commands.canary import CanaryRun
from commands.ports import FixedClock
from tests.ops.support import OPS, ROOT, documents
from tests.support.kube_api import KubeApiServer
from tests.support.prometheus import PrometheusServer, free_port
from tests.support.shared_prometheus import SharedPrometheus

NS = "bizra-production"
NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
IMAGE = "ghcr.io/bizra/node0@sha256:" + "c" * 64


def manifest(path: str, kind: str, name: str) -> dict[str, Any]:
    """One object from the shipped ops/ manifests, so the tests check what is really applied."""
    for doc in documents(OPS / path):
        if doc.get("kind") == kind and doc["metadata"]["name"] == name:
            return copy.deepcopy(doc)
    raise AssertionError(f"{kind} {name} not in ops/{path}")


def _path(obj: dict[str, Any]) -> str:
    api_version = obj["apiVersion"]
    plural = {"ClusterPolicy": "clusterpolicies", "HorizontalPodAutoscaler": "horizontalpodautoscalers",
              "NetworkPolicy": "networkpolicies", "Job": "jobs", "Pod": "pods"}[obj["kind"]]
    base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    namespace = obj["metadata"].get("namespace")
    return base + (f"/namespaces/{namespace}" if namespace else "") + f"/{plural}"


def _send(url: str, method: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status in (200, 201), response.status


def create(api: KubeApiServer, obj: dict[str, Any]) -> None:
    """POST the object; then, like a controller, PUT its status."""
    status = obj.pop("status", None)
    collection = api.url + _path(obj)
    _send(collection, "POST", obj)
    if status is not None:
        _send(f"{collection}/{obj['metadata']['name']}/status", "PUT", {**obj, "status": status})


def pod(name: str, *, ready: bool) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": {"app": "node0"}},
            "spec": {"containers": [{"name": "node0", "image": IMAGE}]},
            "status": {"phase": "Running",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def healthy_objects() -> list[dict[str, Any]]:
    policy = manifest("hardening/01-kyverno-require-signed-images.yaml", "ClusterPolicy", "require-signed-images")
    policy["status"] = {"conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded"}]}
    hpa = manifest("hardening/02-hpa-custom-metrics.yaml", "HorizontalPodAutoscaler", "node0-hpa-circuit-breaker")
    hpa["status"] = {"currentReplicas": 3, "desiredReplicas": 3, "currentMetrics": [
        {"type": "Pods", "pods": {"metric": {"name": "circuit_breaker_requests_per_second"},
                                  "current": {"averageValue": "350k"}}}]}
    deny = manifest("hardening/03-network-policy-default-deny.yaml", "NetworkPolicy", "default-deny-all")
    job = manifest("hardening/04-poi-attestation-validator.yaml", "Job", "poi-attestation-validator")
    job["status"] = {"succeeded": 1, "completionTime": "2026-11-29T02:00:00Z"}
    return [policy, hpa, deny, job, *(pod(f"node0-{i}", ready=True) for i in range(3))]


class HealthEndpoint:
    """NODE0's /health on 127.0.0.1 answering `status` (200 unless a test changes it)."""

    def __init__(self) -> None:
        self.status = 200
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(endpoint.status)
                self.send_header("Content-Length", "3")
                self.end_headers()
                self.wfile.write(b"ok\n")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/health"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def prometheus(shared_prometheus: SharedPrometheus) -> PrometheusServer:
    """The run's real Prometheus: its job node0 scrapes a NODE0 exporter no test changes (read-only here)."""
    return shared_prometheus.prom


@pytest.fixture
def health() -> Iterator[HealthEndpoint]:
    endpoint = HealthEndpoint()
    try:
        yield endpoint
    finally:
        endpoint.close()


@pytest.fixture
def api() -> Iterator[KubeApiServer]:
    server = KubeApiServer().start()
    try:
        for obj in healthy_objects():
            create(server, obj)
        server.set_webhook("refuse")  # Kyverno enforcing: the checklist's unsigned probe is refused
        yield server
    finally:
        server.stop()


@dataclass
class World:
    api: KubeApiServer
    runtime: Runtime
    artifacts: Path
    tmp: Path
    health: HealthEndpoint


def make_config(*, api: KubeApiServer, tmp: Path, prometheus_url: str, health_url: str,
                artifacts: Path) -> BizraConfig:
    kubeconfig = api.write_kubeconfig(tmp / "kubeconfig")
    return BizraConfig.model_validate({
        "store": {"path": str(tmp / "state.sqlite")},
        "gates": {"artifacts_dir": str(artifacts),
                  "trusted_keys": [str(ROOT / "ops" / "keys" / "attestation-release.pub")]},
        "slo": {"prometheus": {"url": prometheus_url, "timeout_seconds": 3}},
        "release": {"kube": {"mode": "kubeconfig", "kubeconfig": str(kubeconfig), "timeout_seconds": 2}},
        "verify": {"health_url": health_url, "health_timeout_seconds": 2},
    })


def record_canary(runtime: Runtime, *, events: list[tuple[str, str, str]], canary_id: str = "c1") -> None:
    """Write canary history as the canary feature does: (event, outcome, detail) oldest first."""
    run = CanaryRun(id=canary_id, image=IMAGE, stage=2, stage_started_at=NOW - timedelta(hours=3),
                    started_at=NOW - timedelta(hours=6), started_by="U_DEPLOYER")
    for stage, (event, outcome, detail) in enumerate(events):
        canary_store.add_history(runtime, run=run, actor="U_DEPLOYER", event=event, stage_before=stage,
                                 stage_after=stage + 1, outcome=outcome, detail=detail)


COMPLETED = [("start", "ok", ""), ("promote", "ok", ""), ("promote", "ok", ""), ("complete", "ok", "")]


@pytest.fixture
def world(api: KubeApiServer, prometheus: PrometheusServer, health: HealthEndpoint, tmp_path: Path) -> World:
    artifacts = tmp_path / "artifacts"
    shutil.copytree(ROOT / "artifacts", artifacts)
    config = make_config(api=api, tmp=tmp_path, prometheus_url=prometheus.url, health_url=health.url,
                         artifacts=artifacts)
    runtime = build_runtime(config=config, secrets=Secrets(), clock=FixedClock(NOW), surface="console")
    record_canary(runtime, events=COMPLETED)
    return World(api=api, runtime=runtime, artifacts=artifacts, tmp=tmp_path, health=health)


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"
