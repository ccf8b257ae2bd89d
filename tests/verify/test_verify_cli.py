"""`bizra verify` as a pipeline step: exit 0 only when every item is ✅, 1 on any ❌ or ❔.

The ready cluster runs the real executable (a subprocess, end to end); the failures call the same CLI
in-process (`bizra_cli`, tests/support/cli.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.ops.support import ROOT
from tests.support.cli import RunCli
from tests.verify.conftest import World


def _config_file(world: World) -> Path:
    config = world.tmp / "bizra.yaml"
    config.write_text(yaml.safe_dump(world.runtime.config.model_dump(mode="json")), encoding="utf-8")
    return config


def _run(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    config = _config_file(world)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BIZRA_")) and k != "KUBECONFIG"}
    return subprocess.run([sys.executable, "-m", "bot", "--config", str(config), "verify", *args],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)


def test_a_ready_cluster_exits_0(world: World) -> None:
    result = _run(world)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("✅") == 10


def test_one_unready_pod_exits_1_with_the_fix(world: World, bizra_cli: RunCli) -> None:
    world.api.objects[("", "pods", "bizra-production", "node0-1")]["status"]["conditions"][0]["status"] = "False"
    result = bizra_cli("--config", _config_file(world), "verify", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    [failed] = [check for check in report["checks"] if check["status"] != "PASS"]
    assert failed["status"] == "FAIL" and "kubectl get pods" in failed["fix"]


def test_an_unreachable_api_server_is_not_ready(world: World, bizra_cli: RunCli) -> None:
    world.api.stop()
    result = bizra_cli("--config", _config_file(world), "verify")
    assert result.returncode == 1
    assert "❔" in result.stdout and "✅ Kyverno" not in result.stdout
