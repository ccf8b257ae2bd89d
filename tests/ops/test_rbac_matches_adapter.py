"""The bot's Role grants exactly what its code calls: no missing and no extra permission.

The (api group, resource, verb) set comes from the code itself: `required_permissions()` of the
cluster adapter (bot/adapters/kubernetes.py, each public method declares its triples with
`@needs`) plus `PERMISSIONS` of the verify reads (bot/adapters/verify_reads.py). `ast` checks keep
those tables honest: every public method of the adapter is declared, only the adapters import the
Kubernetes client, and the verify reads use no adapter method beyond the ones they list.
"""

from __future__ import annotations

import ast
from pathlib import Path

from bot.adapters import kubernetes as kube_adapter
from bot.adapters import lease as lease_adapter  # its methods declare their triples with the same @needs
from bot.adapters import verify_reads
from tests.ops.support import OPS, ROOT, objects

Triple = tuple[str, str, str]
BOT_SA = {"kind": "ServiceAccount", "name": "bizra-bot", "namespace": "bizra-bot"}


def code_permissions() -> set[Triple]:
    return set(kube_adapter.required_permissions()) | set(verify_reads.PERMISSIONS)


def granted() -> dict[str, set[Triple]]:
    """Triples granted to the bot's ServiceAccount, by where they apply (a namespace or 'cluster')."""
    docs = [d for _, d in objects(OPS / "bot")]
    roles = {(d["kind"], d["metadata"]["name"]): d for d in docs if d["kind"] in ("Role", "ClusterRole")}
    grants: dict[str, set[Triple]] = {}
    for binding in (d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        if BOT_SA not in binding["subjects"]:
            continue
        role = roles[(binding["roleRef"]["kind"], binding["roleRef"]["name"])]
        scope = binding["metadata"].get("namespace", "cluster") if binding["kind"] == "RoleBinding" else "cluster"
        for rule in role["rules"]:
            assert "resourceNames" not in rule or rule["resourceNames"], rule
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        assert "*" not in (group, resource, verb), f"wildcard in {role['metadata']['name']}: {rule}"
                        grants.setdefault(scope, set()).add((group, resource, verb))
    return grants


CLUSTER_SCOPED = {("kyverno.io", "clusterpolicies")}


def test_role_grants_exactly_what_the_code_calls() -> None:
    needed = code_permissions()
    grants = granted()
    everything = set().union(*grants.values())
    missing = sorted(needed - everything)
    extra = sorted(everything - needed)
    assert not missing, f"the code calls these but ops/bot/base/rbac.yaml does not grant them: {missing}"
    assert not extra, f"ops/bot/base/rbac.yaml grants these but no code calls them: {extra}"


LEASE_GRANTS = {("coordination.k8s.io", "leases", verb) for verb in ("get", "create", "update")}


def test_namespaced_grants_are_in_the_release_namespace_and_cluster_grants_are_cluster_scoped() -> None:
    grants = granted()
    assert set(grants) == {"bizra-production", "bizra-bot", "cluster"}
    # The bot's own namespace holds exactly its leader Lease; nothing of the release is granted there.
    assert grants["bizra-bot"] == LEASE_GRANTS
    assert not {(g, r) for g, r, _ in grants["bizra-production"]} & {("coordination.k8s.io", "leases")}
    assert {(g, r) for g, r, _ in grants["cluster"]} == CLUSTER_SCOPED
    assert not {(g, r) for g, r, _ in grants["bizra-production"]} & CLUSTER_SCOPED


def test_the_set_is_not_empty_and_covers_rollback_canary_and_verify() -> None:
    needed = code_permissions()
    assert ("apps", "deployments", "patch") in needed  # rollback
    assert ("gateway.networking.k8s.io", "httproutes", "patch") in needed  # canary stages
    assert ("batch", "jobs", "get") in needed and ("kyverno.io", "clusterpolicies", "get") in needed  # verify


def _public_methods(tree: ast.Module, class_name: str) -> dict[str, ast.FunctionDef]:
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name]
    return {f.name: f for f in cls.body if isinstance(f, ast.FunctionDef) and not f.name.startswith("_")}


def _makes_calls(func: ast.FunctionDef, names: set[str]) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr in names for n in ast.walk(func))


def test_every_adapter_method_that_calls_the_api_declares_its_permissions() -> None:
    for module, class_name, private_calls in ((kube_adapter, "KubernetesCluster", {"_call", "_list"}),
                                              (lease_adapter, "KubeLease", {"_request"})):
        tree = ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8"))
        methods = _public_methods(tree, class_name)
        calling = {name for name, f in methods.items() if _makes_calls(f, private_calls | set(methods) - {name})}
        undeclared = sorted(name for name in calling if name not in kube_adapter.PERMISSIONS)
        assert not undeclared, f"{class_name} methods without @needs(...): {undeclared}"
        assert calling, f"the ast scan found no API-calling method of {class_name}: it no longer recognizes it"


def test_the_lease_adapter_needs_exactly_get_create_and_update_on_leases() -> None:
    declared = {triple for name in ("read_lease", "create_lease", "replace_lease")
                for triple in kube_adapter.PERMISSIONS[name]}
    assert declared == LEASE_GRANTS


def test_verify_reads_use_only_declared_adapter_methods_and_client_calls() -> None:
    tree = ast.parse(Path(verify_reads.__file__).read_text(encoding="utf-8"))
    adapter_methods = set(_public_methods(ast.parse(Path(kube_adapter.__file__).read_text(encoding="utf-8")),
                                          "KubernetesCluster"))
    # calls of the form self._cluster_factory().<method>(...)
    used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Call)
            and isinstance(n.value.func, ast.Attribute) and n.value.func.attr == "_cluster_factory"}
    assert used == set(verify_reads.CLUSTER_ADAPTER_CALLS), used
    assert used <= adapter_methods
    assert set(verify_reads.CLUSTER_ADAPTER_CALLS) <= set(kube_adapter.PERMISSIONS)
    # The official client calls it makes itself, mapped to the triples it declares.
    client_calls = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                    and n.attr.startswith(("get_", "read_", "list_", "create_", "patch_", "delete_", "replace_"))}
    assert client_calls == {"get_cluster_custom_object", "read_namespaced_job", "read_object", "list_pods"}
    assert {verify_reads.KYVERNO_POLICY, verify_reads.JOB} == verify_reads.PERMISSIONS


def test_only_the_adapters_import_the_kubernetes_client() -> None:
    importers = set()
    for path in list((ROOT / "bot").rglob("*.py")) + list((ROOT / "commands").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name == "kubernetes" or name.startswith("kubernetes.") for name in names):
                importers.add(path.relative_to(ROOT).as_posix())
    assert importers == {"bot/adapters/kubernetes.py", "bot/adapters/verify_reads.py", "bot/adapters/lease.py"}
