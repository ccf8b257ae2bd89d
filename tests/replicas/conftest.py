"""Three `bizra serve` processes on one store, the Kubernetes API emulator (NODE0 Deployment, leader
Lease), the recording Slack server and a NODE0 on the shared Prometheus: the parts of
tests/support/replicas.py, one set per test.

Every test runs on PostgreSQL (the store several replicas need) and, where it is cheap, on one SQLite
file too (`store` is parametrised; a module narrows it with `pytest.mark.parametrize("store", […],
indirect=True)`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.kube_api import KubeApiServer
from tests.support.replicas import ReplicaSet, SharedStore, postgres_store, replica_set, seed_node0, sqlite_store
from tests.support.shared_prometheus import Slot
from tests.support.slack import SlackRecorder

NAMES = ["bizra-0", "bizra-1", "bizra-2"]
BACKENDS = ["postgresql", "sqlite"]

MakeReplicas = Callable[..., ReplicaSet]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> SharedStore:
    """The store the replicas share: a fresh PostgreSQL database, or one SQLite file."""
    if request.param == "postgresql":
        return postgres_store(request.getfixturevalue("postgres_database"))
    return sqlite_store(tmp_path)


@pytest.fixture
def make_replicas(store: SharedStore, slack_recorder: SlackRecorder, api: KubeApiServer,
                  tmp_path: Path) -> Iterator[MakeReplicas]:
    """`make_replicas(slot=…, socket_mode=…, **config overrides)`: a ReplicaSet (not started yet) on this
    test's store, Slack and API server, with NODE0 seeded (bad image running, last stable annotated)."""
    seed_node0(api)
    opened: list[Any] = []

    def make(**options: Any) -> ReplicaSet:
        context = replica_set(recorder=slack_recorder, api=api, store=store, workdir=tmp_path, **options)
        opened.append(context)
        return context.__enter__()

    yield make
    for context in reversed(opened):
        context.__exit__(None, None, None)


@pytest.fixture
def paging_replicas(make_replicas: MakeReplicas, node0_slot: Slot) -> ReplicaSet:
    """Replicas whose SLO watch reads this test's own NODE0 (healthy until the test breaches it)."""
    return make_replicas(slot=node0_slot)
