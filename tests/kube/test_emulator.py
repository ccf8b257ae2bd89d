"""The test API server behaves as the Kubernetes API does for the official client's typed calls."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.kube.conftest import GOOD, NEW, NS
from tests.support.kube_api import KubeApiServer, selector_matches


@pytest.fixture
def apps(api: KubeApiServer) -> client.AppsV1Api:
    return client.AppsV1Api(client.ApiClient(api.configuration()))


@pytest.fixture
def core(api: KubeApiServer) -> client.CoreV1Api:
    return client.CoreV1Api(client.ApiClient(api.configuration()))


def test_replace_with_a_stale_resource_version_conflicts(apps: client.AppsV1Api) -> None:
    stale = apps.read_namespaced_deployment("node0", NS)
    apps.patch_namespaced_deployment("node0", NS, {"metadata": {"labels": {"tier": "web"}}})
    stale.spec.replicas = 1
    with pytest.raises(client.ApiException) as caught:
        apps.replace_namespaced_deployment("node0", NS, stale)
    assert caught.value.status == 409
    assert '"reason":"Conflict"' in caught.value.body.replace(" ", "")


def test_generation_moves_with_the_spec_not_with_metadata(apps: client.AppsV1Api) -> None:
    apps.patch_namespaced_deployment("node0", NS, {"metadata": {"annotations": {"a": "b"}}})
    assert apps.read_namespaced_deployment("node0", NS).metadata.generation == 1
    apps.patch_namespaced_deployment("node0", NS, {"spec": {"replicas": 4}})
    assert apps.read_namespaced_deployment("node0", NS).metadata.generation == 2


def test_json_patch_and_merge_patch(apps: client.AppsV1Api, api: KubeApiServer) -> None:
    apps.patch_namespaced_deployment(
        "node0", NS, [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": NEW}]
    )
    apps.patch_namespaced_deployment("node0", NS, {"spec": {"replicas": 2}},
                                     _content_type="application/merge-patch+json")
    stored = api.get("apps", "deployments", NS, "node0") or {}
    assert stored["spec"]["replicas"] == 2
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == NEW
    assert stored["spec"]["template"]["spec"]["containers"][1]["image"] != NEW


def test_a_merge_patch_replaces_lists_but_a_strategic_one_merges_them(api: KubeApiServer,
                                                                     apps: client.AppsV1Api) -> None:
    only = {"spec": {"template": {"spec": {"containers": [{"name": "node0", "image": NEW}]}}}}
    apps.patch_namespaced_deployment("node0", NS, only)  # strategic merge by default
    assert len((api.get("apps", "deployments", NS, "node0") or {})["spec"]["template"]["spec"]["containers"]) == 2
    apps.patch_namespaced_deployment("node0", NS, only, _content_type="application/merge-patch+json")
    assert len((api.get("apps", "deployments", NS, "node0") or {})["spec"]["template"]["spec"]["containers"]) == 1


def test_status_subresource_is_separate(apps: client.AppsV1Api, api: KubeApiServer) -> None:
    apps.patch_namespaced_deployment("node0", NS, {"status": {"readyReplicas": 9}})
    assert "status" not in (api.get("apps", "deployments", NS, "node0") or {})
    apps.patch_namespaced_deployment_status("node0", NS, {"status": {"readyReplicas": 3}})
    assert (api.get("apps", "deployments", NS, "node0") or {})["status"] == {"readyReplicas": 3}


def test_create_get_list_delete_and_not_found(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map(NS, {"metadata": {"name": "c1", "labels": {"app": "node0"}}, "data": {"k": "v"}})
    with pytest.raises(client.ApiException) as exists:
        core.create_namespaced_config_map(NS, {"metadata": {"name": "c1"}})
    assert exists.value.status == 409
    assert core.read_namespaced_config_map("c1", NS).data == {"k": "v"}
    assert [c.metadata.name for c in core.list_namespaced_config_map(NS, label_selector="app=node0").items] == ["c1"]
    core.delete_namespaced_config_map("c1", NS)
    with pytest.raises(client.ApiException) as gone:
        core.read_namespaced_config_map("c1", NS)
    assert gone.value.status == 404


def test_faults_and_images(apps: client.AppsV1Api, api: KubeApiServer) -> None:
    api.fail("GET", "/deployments/node0", status=503)
    with pytest.raises(client.ApiException) as caught:
        apps.read_namespaced_deployment("node0", NS)
    assert caught.value.status == 503
    assert apps.read_namespaced_deployment("node0", NS).spec.template.spec.containers[0].image == GOOD


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ("app=node0", {"app": "node0"}, True),
        ("app==node0,tier!=db", {"app": "node0", "tier": "web"}, True),
        ("app in (node0, node1)", {"app": "node1"}, True),
        ("app notin (node0)", {"app": "node0"}, False),
        ("canary", {"canary": "x"}, True),
        ("!canary", {"canary": "x"}, False),
    ],
)
def test_label_selectors(selector: str, labels: dict[str, str], matches: bool) -> None:
    assert selector_matches(selector, labels) is matches
