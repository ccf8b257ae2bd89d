"""Shared fixtures. Real credentials never reach a test: SLACK_* and KUBECONFIG are cleared."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.kube_api import KubeApiServer
from tests.support.slack import SlackRecorder


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SLACK_") or name in ("KUBECONFIG", "BIZRA_CONFIG", "PORT", "HOST"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def slack_recorder() -> Iterator[SlackRecorder]:
    recorder = SlackRecorder().start()
    try:
        yield recorder
    finally:
        recorder.stop()
    assert not recorder.block_problems, f"Slack would refuse these messages: {recorder.block_problems}"


@pytest.fixture
def api() -> Iterator[KubeApiServer]:
    """An empty Kubernetes API server on 127.0.0.1, reached through the official client."""
    server = KubeApiServer().start()
    try:
        yield server
    finally:
        server.stop()
