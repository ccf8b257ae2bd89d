"""Shared fixtures. Real credentials never reach a test: SLACK_* and KUBECONFIG are cleared.

The shared Prometheus (tests/support/shared_prometheus.py) is launched once collection is done, if a
selected test needs it, so that its ~5 s start-up runs while the first tests do; `shared_prometheus`
waits for it to be ready, `node0_slot` gives a test its own NODE0 on it, and `private_prometheus` a
Prometheus of the test's own (launched at the same time) for a test that stops it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import RunCli, run_cli
from tests.support.kube_api import KubeApiServer
from tests.support.postgres import postgres_database, postgres_env, postgres_server  # noqa: F401
from tests.support.shared_prometheus import PrivatePrometheus, SharedPrometheus, Slot
from tests.support.slack import SlackRecorder
from tests.support.stores import any_store, store_section  # noqa: F401

# Fixtures imported above for every folder: real PostgreSQL (tests/support/postgres.py: one server per
# session, a fresh database per test) and the store's behaviour on both backends (tests/support/stores.py:
# [sqlite] and [postgresql] variants).

REPO = Path(__file__).resolve().parents[1]
_SHARED = pytest.StashKey[SharedPrometheus]()
SPARE_SLOTS = 4  # for tests that ask for a slot without naming the fixture (request.getfixturevalue)


@pytest.hookimpl(trylast=True)  # after -k / -m deselection: only the tests that will run count
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    users = [item for item in items if "shared_prometheus" in getattr(item, "fixturenames", ())]
    if users and _SHARED not in config.stash:
        slots = sum("node0_slot" in getattr(item, "fixturenames", ()) for item in users)
        private = sum("private_prometheus" in getattr(item, "fixturenames", ()) for item in users)
        # Should it fail (no prometheus binary), the `shared_prometheus` fixture tries again and fails the tests.
        with contextlib.suppress(Exception):
            config.stash[_SHARED] = SharedPrometheus.launch(slots=slots + SPARE_SLOTS, private=private)


def pytest_sessionfinish(session: pytest.Session) -> None:
    shared = session.config.stash.get(_SHARED, None)
    if shared is not None:
        shared.close()


@pytest.fixture(scope="session")
def shared_prometheus(pytestconfig: pytest.Config) -> SharedPrometheus:
    """The run's one Prometheus (jobs `node0`, `node0-down`, and a slot per test), ready."""
    if _SHARED not in pytestconfig.stash:  # asked for outside collection (request.getfixturevalue)
        pytestconfig.stash[_SHARED] = SharedPrometheus.launch(slots=SPARE_SLOTS)
    return pytestconfig.stash[_SHARED].ready()


@pytest.fixture
def node0_slot(shared_prometheus: SharedPrometheus) -> Slot:
    """This test's own synthetic NODE0 on the shared Prometheus (job `node0-slot-NN`), scraped since the run began."""
    return shared_prometheus.claim()


@pytest.fixture
def private_prometheus(shared_prometheus: SharedPrometheus) -> PrivatePrometheus:
    """A real Prometheus of this test's own, which it may stop: it scrapes only its own NODE0, as job node0."""
    return shared_prometheus.claim_private()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        # KUBERNETES_SERVICE_HOST turns leader election on (`auto`); BIZRA_STORE_* would redirect every store.
        if name.startswith(("SLACK_", "BIZRA_STORE_")) or name in (
                "KUBECONFIG", "BIZRA_CONFIG", "PORT", "HOST", "KUBERNETES_SERVICE_HOST", "POD_NAME"):
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


@pytest.fixture
def bizra_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """Run `bizra <args>` in-process (tests/support/cli.py), from the repository root as CI does."""
    monkeypatch.chdir(REPO)
    return lambda *args: run_cli(capsys, *args)
