"""A Kubernetes API server on 127.0.0.1 with the NODE0 Deployment, and the adapter pointed at it by kubeconfig."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.kubernetes import KubernetesCluster
from bot.core.settings import KubeAccessSettings
from tests.support.kube_api import KubeApiServer, deployment_manifest

NS = "bizra-production"
GOOD = "ghcr.io/bizra/node0@sha256:" + "a" * 64
NEW = "ghcr.io/bizra/node0@sha256:" + "b" * 64


@pytest.fixture
def api() -> Iterator[KubeApiServer]:
    server = KubeApiServer().start()
    server.put(deployment_manifest(image=GOOD))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cluster(api: KubeApiServer, tmp_path: Path) -> KubernetesCluster:
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    return KubernetesCluster.from_settings(
        KubeAccessSettings(mode="kubeconfig", kubeconfig=kubeconfig, context="emulator", timeout_seconds=2)
    )
