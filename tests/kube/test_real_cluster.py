"""Opt-in end to end against a real cluster (kind or k3d): `pytest -m cluster`.

Set `BIZRA_TEST_KUBECONFIG` to the kubeconfig of a disposable cluster (the test suite clears
`KUBECONFIG` so real credentials never reach an ordinary run). The test creates a namespace
`bizra-e2e-<random>`, a two-container Deployment on one image, rolls it back through the console
surface to another image by digest with the real deployment controller, and deletes the
namespace. Images default to two `registry.k8s.io/pause` digests; override them with
`BIZRA_TEST_IMAGE_GOOD` / `BIZRA_TEST_IMAGE_BAD` (both `<repo>@sha256:<64 hex>` from one repo).
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

import pytest

from bot.assembly import build_runtime
from bot.core.config import BizraConfig, Secrets
from bot.surfaces.console import run_line

pytestmark = pytest.mark.cluster

KUBECONFIG = os.environ.get("BIZRA_TEST_KUBECONFIG", "")
GOOD = os.environ.get("BIZRA_TEST_IMAGE_GOOD",
                      "registry.k8s.io/pause@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a")
BAD = os.environ.get("BIZRA_TEST_IMAGE_BAD",
                     "registry.k8s.io/pause@sha256:7031c1b283388d2c2e09b57badb803c05ebed362dc88d84b480cc47f72a21097")


@pytest.mark.skipif(not KUBECONFIG, reason="set BIZRA_TEST_KUBECONFIG to a disposable cluster's kubeconfig")
def test_rollback_on_a_real_cluster(tmp_path: Path) -> None:
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=KUBECONFIG)
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    namespace = f"bizra-e2e-{secrets.token_hex(3)}"
    repository = GOOD.split("@")[0]
    core.create_namespace({"metadata": {"name": namespace}})
    try:
        labels = {"app": "node0"}
        apps.create_namespaced_deployment(namespace, {
            "metadata": {"name": "node0", "labels": labels,
                         "annotations": {"flagger.app/last-stable-revision": GOOD}},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [
                    {"name": "node0", "image": BAD, "env": [{"name": "MODE", "value": "e2e"}]},
                    {"name": "proxy", "image": BAD, "ports": [{"containerPort": 15001}]},
                ]}}},
        })
        config_model = BizraConfig.model_validate({
            "store": {"path": str(tmp_path / "state.sqlite")},
            "release": {"namespace": namespace, "image_repository": repository, "flagger_primary": False,
                        "kube": {"mode": "kubeconfig", "kubeconfig": KUBECONFIG},
                        "rollback": {"incidents_dir": str(tmp_path / "incidents"), "poll_interval_seconds": 1,
                                     "rollout_deadline_seconds": 240}},
        })
        runtime = build_runtime(config=config_model, secrets=Secrets(), surface="console")
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:  # the first rollout must be done before the incident
            status = apps.read_namespaced_deployment(name="node0", namespace=namespace).status
            if status.available_replicas == 1:
                break
            time.sleep(1)  # polling a real cluster until the deadline
        shown = run_line("/bizra rollback e2e", runtime, user_id="console:e2e")
        match = re.search(r"/bizra rollback confirm (\w+)", shown)
        assert match, shown
        answer = run_line(f"/bizra rollback confirm {match.group(1)}", runtime, user_id="console:e2e")
        assert "Rollback complete: the rollout is healthy" in answer, answer
        spec = apps.read_namespaced_deployment(name="node0", namespace=namespace).spec.template.spec
        images = {c.name: c.image for c in spec.containers}
        assert images == {"node0": GOOD, "proxy": BAD}
        assert [e.name for e in spec.containers[0].env] == ["MODE"]
        assert list((tmp_path / "incidents").iterdir())
    finally:
        core.delete_namespace(namespace)
