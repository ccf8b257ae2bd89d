"""The cluster adapter over the official client: exact patches, retried conflicts, clear errors, timeouts."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest

from bot.adapters.kubernetes import PERMISSIONS, KubernetesCluster, load_configuration, required_permissions
from bot.adapters.lease import KubeLease
from bot.core.settings import KubeAccessSettings
from commands.cluster import ClusterError, ClusterErrorKind
from tests.kube.conftest import GOOD, NEW, NS
from tests.support.kube_api import KubeApiServer


def _stored(api: KubeApiServer) -> dict:
    found = api.get("apps", "deployments", NS, "node0")
    assert found is not None
    return found


def test_kubeconfig_context_reaches_the_server_and_reads_the_deployment(cluster: KubernetesCluster,
                                                                        api: KubeApiServer) -> None:
    state = cluster.read_deployment(namespace=NS, name="node0")
    assert state.images == {"node0": GOOD, "proxy": "ghcr.io/bizra/envoy:1.30"}
    assert state.desired_replicas == 3 and state.generation == 1
    assert api.calls("GET")[0].path == "/apis/apps/v1/namespaces/bizra-production/deployments/node0"


def test_unknown_context_is_a_clear_configuration_error(api: KubeApiServer, tmp_path: Path) -> None:
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    with pytest.raises(ClusterError, match="could not load kubeconfig") as caught:
        load_configuration(KubeAccessSettings(mode="kubeconfig", kubeconfig=kubeconfig, context="production"))
    assert caught.value.kind is ClusterErrorKind.UNREACHABLE


def test_in_cluster_mode_without_a_service_account_says_so() -> None:
    with pytest.raises(ClusterError, match="service account"):
        load_configuration(KubeAccessSettings(mode="in-cluster"))


def test_image_patch_changes_only_that_containers_image(cluster: KubernetesCluster, api: KubeApiServer) -> None:
    before = _stored(api)
    state = cluster.set_container_image(namespace=NS, name="node0", container="node0", image=NEW, expect_image=GOOD)
    after = _stored(api)
    assert state.images["node0"] == NEW
    expected = copy.deepcopy(before["spec"])
    expected["template"]["spec"]["containers"][0]["image"] = NEW
    assert after["spec"] == expected, "ports, env and the sidecar must be exactly as they were"
    assert after["metadata"]["generation"] == 2
    patch = api.calls("PATCH")[-1]
    assert patch.content_type == "application/strategic-merge-patch+json"
    assert patch.body["spec"] == {"template": {"spec": {"containers": [{"name": "node0", "image": NEW}]}}}


def test_conflict_is_retried_from_a_fresh_read(cluster: KubernetesCluster, api: KubeApiServer) -> None:
    api.fail("PATCH", "/deployments/node0", status=409, times=2)
    cluster.set_container_image(namespace=NS, name="node0", container="node0", image=NEW)
    sequence = [(r.method, r.status) for r in api.calls(path_contains="/deployments/node0")]
    assert sequence == [("GET", 200), ("PATCH", 409), ("GET", 200), ("PATCH", 409), ("GET", 200), ("PATCH", 200)]
    assert _stored(api)["spec"]["template"]["spec"]["containers"][0]["image"] == NEW


def test_a_real_concurrent_change_makes_the_stale_patch_conflict(cluster: KubernetesCluster,
                                                                 api: KubeApiServer) -> None:
    # Someone else scales the Deployment between our read and our patch: the resourceVersion in the
    # patch no longer matches, the server answers 409, the adapter re-reads and patches again.
    state = cluster.read_deployment(namespace=NS, name="node0")
    from kubernetes import client

    apps = client.AppsV1Api(client.ApiClient(api.configuration()))
    apps.patch_namespaced_deployment("node0", NS, {"spec": {"replicas": 5}})
    with pytest.raises(client.ApiException) as caught:
        apps.patch_namespaced_deployment(
            "node0", NS, {"metadata": {"resourceVersion": state.resource_version}, "spec": {"replicas": 1}}
        )
    assert caught.value.status == 409
    cluster.set_container_image(namespace=NS, name="node0", container="node0", image=NEW)
    stored = _stored(api)
    assert stored["spec"]["replicas"] == 5
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == NEW


def test_persistent_conflict_is_reported_and_nothing_changes(cluster: KubernetesCluster, api: KubeApiServer) -> None:
    api.fail("PATCH", "/deployments/node0", status=409, times=10)
    with pytest.raises(ClusterError, match="409 Conflict") as caught:
        cluster.set_container_image(namespace=NS, name="node0", container="node0", image=NEW)
    assert caught.value.kind is ClusterErrorKind.CONFLICT
    assert "Nothing was changed" in str(caught.value)
    assert _stored(api)["spec"]["template"]["spec"]["containers"][0]["image"] == GOOD


def test_a_changed_image_since_confirmation_is_refused_without_a_patch(cluster: KubernetesCluster,
                                                                        api: KubeApiServer) -> None:
    with pytest.raises(ClusterError, match="changed since this was confirmed") as caught:
        cluster.set_container_image(namespace=NS, name="node0", container="node0", image=NEW,
                                    expect_image="ghcr.io/bizra/node0@sha256:" + "c" * 64)
    assert caught.value.kind is ClusterErrorKind.PRECONDITION
    assert api.calls("PATCH") == []


def test_a_missing_container_is_named(cluster: KubernetesCluster, api: KubeApiServer) -> None:
    with pytest.raises(ClusterError, match=r"no container `app` \(it has node0, proxy\)"):
        cluster.set_container_image(namespace=NS, name="node0", container="app", image=NEW)
    assert api.calls("PATCH") == []


@pytest.mark.parametrize(
    ("status", "kind", "words"),
    [
        (403, ClusterErrorKind.FORBIDDEN, "403 Forbidden"),
        (404, ClusterErrorKind.NOT_FOUND, "not found (404)"),
        (500, ClusterErrorKind.SERVER, "500 InternalError"),
        (503, ClusterErrorKind.SERVER, "503 ServiceUnavailable"),
    ],
)
def test_api_errors_become_one_clear_error(cluster: KubernetesCluster, api: KubeApiServer, status: int,
                                           kind: ClusterErrorKind, words: str) -> None:
    api.fail("PATCH", "/deployments/node0", status=status, message="told by the test")
    with pytest.raises(ClusterError) as caught:
        cluster.set_container_image(namespace=NS, name="node0", container="node0", image=NEW)
    assert caught.value.kind is kind and caught.value.status == status
    assert words in str(caught.value) and "told by the test" in str(caught.value)
    assert "Nothing was changed" in str(caught.value)
    assert _stored(api)["spec"]["template"]["spec"]["containers"][0]["image"] == GOOD


def test_unreachable_server_is_reported(cluster: KubernetesCluster, api: KubeApiServer) -> None:
    api.stop()
    with pytest.raises(ClusterError, match="could not be reached") as caught:
        cluster.read_deployment(namespace=NS, name="node0")
    assert caught.value.kind is ClusterErrorKind.UNREACHABLE


def test_every_call_has_a_timeout(api: KubeApiServer) -> None:
    impatient = KubernetesCluster(api.configuration(), timeout=0.3)
    api.slow("GET", "/deployments/node0", seconds=3, times=5)
    started = time.monotonic()
    with pytest.raises(ClusterError) as caught:
        impatient.read_deployment(namespace=NS, name="node0")
    assert caught.value.kind is ClusterErrorKind.UNREACHABLE
    assert time.monotonic() - started < 2.5  # one retry of a read at most: 2 x 0.3 s plus overhead


def test_label_selectors_pick_the_targets_pods(cluster: KubernetesCluster, api: KubeApiServer) -> None:
    api.roll_out(NS, "node0")
    api.put({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "other", "namespace": NS,
                                                             "labels": {"app": "other"}}})
    pods = cluster.list_pods(namespace=NS, selector="app=node0")
    assert len(pods) == 3 and all(p["metadata"]["labels"]["app"] == "node0" for p in pods)
    assert {p["metadata"]["name"] for p in cluster.list_pods(namespace=NS, selector="app notin (node0)")} == {"other"}
    replica_sets = cluster.list_replica_sets(namespace=NS, selector="app=node0")
    assert [rs["kind"] for rs in replica_sets] == ["ReplicaSet"]
    assert cluster.read_deployment(namespace=NS, name="node0").rolled_out


def test_server_side_apply_creates_then_merges_a_custom_resource(cluster: KubernetesCluster,
                                                                 api: KubeApiServer) -> None:
    manifest = {"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "metadata": {"name": "node0-canary"},
                "spec": {"targetRef": {"kind": "Deployment", "name": "node0"}, "analysis": {"stepWeight": 10}}}
    created = cluster.apply(manifest, namespace=NS)
    assert created["metadata"]["managedFields"][0]["manager"] == "bizra-bot"
    assert created["metadata"]["namespace"] == NS
    updated = cluster.apply({**manifest, "spec": {"analysis": {"maxWeight": 50}}}, namespace=NS)
    assert updated["spec"]["analysis"] == {"stepWeight": 10, "maxWeight": 50}
    assert updated["metadata"]["generation"] == 2
    call = api.calls("PATCH")[-1]
    assert call.content_type == "application/apply-patch+yaml"
    assert call.query == {"fieldManager": "bizra-bot", "force": "true"}
    assert cluster.read_object(api_version="flagger.app/v1beta1", kind="Canary", namespace=NS,
                               name="node0-canary") is not None
    assert cluster.read_object(api_version="flagger.app/v1beta1", kind="Canary", namespace=NS, name="gone") is None


def test_apply_refuses_kinds_outside_the_table(cluster: KubernetesCluster, api: KubeApiServer) -> None:
    with pytest.raises(ClusterError, match="does not know the kind `Secret`"):
        cluster.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}, namespace=NS)
    assert api.calls("PATCH") == []


def test_annotations_are_set_and_removed(cluster: KubernetesCluster, api: KubeApiServer) -> None:
    cluster.set_annotations(namespace=NS, name="node0", annotations={"flagger.app/last-stable-revision": GOOD})
    assert _stored(api)["metadata"]["annotations"] == {"flagger.app/last-stable-revision": GOOD}
    cluster.set_annotations(namespace=NS, name="node0", annotations={"flagger.app/last-stable-revision": None})
    assert _stored(api)["metadata"]["annotations"] == {}


def test_declared_permissions_cover_every_public_method() -> None:
    public = {name for name in dir(KubernetesCluster) if not name.startswith("_")} - {"from_settings", "close"}
    # The Lease adapter (bot/adapters/lease.py) declares its methods in the same registry.
    lease_methods = {name for name in dir(KubeLease) if name in PERMISSIONS}
    assert lease_methods == {"read_lease", "create_lease", "replace_lease"}
    assert public == set(PERMISSIONS) - lease_methods
    assert ("apps", "deployments", "patch") in required_permissions()
    assert ("", "events", "list") in required_permissions()
    assert all(verb in {"get", "list", "patch", "create"} for _, resource, verb in required_permissions()
               if resource != "leases")  # the leader Lease is renewed by `update` (a conditioned replace)
