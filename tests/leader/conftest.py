"""Electors on the Kubernetes API emulator, each through the real Lease adapter (kubeconfig over HTTP),
on one clock that only moves when a test says so."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.adapters.lease import KubeLease
from bot.core.leadership import LeaseElector
from bot.core.settings import KubeAccessSettings, LeaderElectionSettings
from commands.ports import FixedClock
from tests.slo.conftest import prom, watch  # noqa: F401 - the SLO watch's fixtures, for test_slo_handover.py
from tests.support.kube_api import KubeApiServer

NS = "bizra-bot"
LEASE = "bizra-bot-leader"
T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
SETTINGS = LeaderElectionSettings(enabled=True, lease_duration=15, renew_deadline=10, retry_period=2)

MakeElector = Callable[[str], LeaseElector]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def access(api: KubeApiServer, tmp_path: Path) -> KubeAccessSettings:
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    return KubeAccessSettings(mode="kubeconfig", kubeconfig=kubeconfig, context="emulator", timeout_seconds=5)


@pytest.fixture
def lease_for(access: KubeAccessSettings) -> Callable[..., KubeLease]:
    """The Lease adapter as replica `identity` builds it (its User-Agent names it, so a fault can hit it alone)."""
    return lambda identity="test": KubeLease.from_settings(access, namespace=NS, name=LEASE, timeout=5,
                                                           user_agent=f"bizra-bot/{identity}")


@pytest.fixture
def elector(lease_for: Callable[..., KubeLease], clock: FixedClock) -> MakeElector:
    """A new elector (its own adapter and connection pool, as another replica would have) named `identity`."""
    return lambda identity: LeaseElector(lease_for(identity), identity=identity, settings=SETTINGS, clock=clock)
