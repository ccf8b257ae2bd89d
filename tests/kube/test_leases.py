"""The API emulator serves coordination.k8s.io/v1 Leases as the API server does for the official
client's typed calls: create (409 AlreadyExists twice), get (404 absent), replace conditioned on
resourceVersion (409 Conflict when stale), patch; and its faults can hit one client alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client

from tests.support.kube_api import KubeApiServer

NS = "bizra-bot"


@pytest.fixture
def api() -> Iterator[KubeApiServer]:
    with KubeApiServer() as server:
        yield server


def stored(api: KubeApiServer) -> dict[str, Any]:
    found = api.get("coordination.k8s.io", "leases", NS, "leader")
    assert found is not None
    return found


def coordination(api: KubeApiServer, *, user_agent: str | None = None) -> client.CoordinationV1Api:
    api_client = client.ApiClient(api.configuration())
    if user_agent:
        api_client.user_agent = user_agent
    return client.CoordinationV1Api(api_client)


def lease(holder: str) -> client.V1Lease:
    now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    return client.V1Lease(
        metadata=client.V1ObjectMeta(name="leader", namespace=NS),
        spec=client.V1LeaseSpec(holder_identity=holder, lease_duration_seconds=15, acquire_time=now,
                                renew_time=now, lease_transitions=0))


def test_create_get_and_a_second_create_conflicts(api: KubeApiServer) -> None:
    leases = coordination(api)
    with pytest.raises(client.ApiException) as absent:
        leases.read_namespaced_lease("leader", NS)
    assert absent.value.status == 404
    created = leases.create_namespaced_lease(NS, lease("alpha"))
    assert created.spec.holder_identity == "alpha" and created.metadata.resource_version
    read = leases.read_namespaced_lease("leader", NS)
    assert read.spec.renew_time == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert read.kind == "Lease" and read.api_version == "coordination.k8s.io/v1"
    with pytest.raises(client.ApiException) as again:
        leases.create_namespaced_lease(NS, lease("beta"))
    assert again.value.status == 409 and "AlreadyExists" in str(again.value.body)
    assert stored(api)["spec"]["holderIdentity"] == "alpha"


def test_replace_with_a_stale_resource_version_conflicts(api: KubeApiServer) -> None:
    leases = coordination(api)
    leases.create_namespaced_lease(NS, lease("alpha"))
    seen_by_alpha = leases.read_namespaced_lease("leader", NS)
    seen_by_beta = leases.read_namespaced_lease("leader", NS)
    seen_by_beta.spec.holder_identity = "beta"
    replaced = leases.replace_namespaced_lease("leader", NS, seen_by_beta)
    assert replaced.metadata.resource_version != seen_by_alpha.metadata.resource_version
    seen_by_alpha.spec.lease_transitions = 5
    with pytest.raises(client.ApiException) as stale:
        leases.replace_namespaced_lease("leader", NS, seen_by_alpha)
    assert stale.value.status == 409 and '"reason": "Conflict"' in str(stale.value.body)
    assert stored(api)["spec"]["holderIdentity"] == "beta" and stored(api)["spec"]["leaseTransitions"] == 0


def test_patch_merges_into_the_spec(api: KubeApiServer) -> None:
    leases = coordination(api)
    leases.create_namespaced_lease(NS, lease("alpha"))
    leases.patch_namespaced_lease("leader", NS, {"spec": {"leaseTransitions": 2}},
                                  _content_type="application/merge-patch+json")
    assert stored(api)["spec"]["leaseTransitions"] == 2 and stored(api)["spec"]["holderIdentity"] == "alpha"


def test_a_fault_for_one_client_leaves_the_others_served(api: KubeApiServer) -> None:
    api.fail("GET", "/leases/leader", status=503, times=5, client="bizra-bot/alpha")
    coordination(api).create_namespaced_lease(NS, lease("beta"))
    with pytest.raises(client.ApiException) as refused:
        coordination(api, user_agent="bizra-bot/alpha").read_namespaced_lease("leader", NS)
    assert refused.value.status == 503
    assert coordination(api, user_agent="bizra-bot/beta").read_namespaced_lease("leader", NS).spec.holder_identity \
        == "beta"
    assert [call.user_agent for call in api.calls("GET", "/leases/leader")] == ["bizra-bot/alpha", "bizra-bot/beta"]
