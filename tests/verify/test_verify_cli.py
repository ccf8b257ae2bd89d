"""`bizra verify` as a pipeline step: exit 0 only when every item is ✅, 1 on any ❌ or ❔."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from tests.ops.support import ROOT
from tests.verify.conftest import World


def _run(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    config = world.tmp / "bizra.yaml"
    config.write_text(yaml.safe_dump(world.runtime.config.model_dump(mode="json")), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BIZRA_")) and k != "KUBECONFIG"}
    return subprocess.run([sys.executable, "-m", "bot", "--config", str(config), "verify", *args],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)


def test_a_ready_cluster_exits_0(world: World) -> None:
    result = _run(world)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("✅") == 9


def test_one_unready_pod_exits_1_with_the_fix(world: World) -> None:
    world.api.objects[("", "pods", "bizra-production", "node0-1")]["status"]["conditions"][0]["status"] = "False"
    result = _run(world, "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    [failed] = [check for check in report["checks"] if check["status"] != "PASS"]
    assert failed["status"] == "FAIL" and "kubectl get pods" in failed["fix"]


def test_an_unreachable_api_server_is_not_ready(world: World) -> None:
    world.api.stop()
    result = _run(world)
    assert result.returncode == 1
    assert "❔" in result.stdout and "✅ Kyverno" not in result.stdout
