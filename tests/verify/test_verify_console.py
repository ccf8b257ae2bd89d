"""`/bizra verify` in the console (`bizra console` as a subprocess, stdin/stdout): the same checklist
as Slack, rendered as text, against the same Kubernetes test server and Prometheus."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

from tests.ops.support import ROOT
from tests.verify.conftest import World


def test_console_prints_the_checklist(world: World) -> None:
    world.api.objects[("", "pods", "bizra-production", "node0-1")]["status"]["conditions"][0]["status"] = "False"
    config = world.tmp / "bizra.yaml"
    config.write_text(yaml.safe_dump(world.runtime.config.model_dump(mode="json")), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BIZRA_")) and k != "KUBECONFIG"}
    result = subprocess.run([sys.executable, "-m", "bot", "--config", str(config), "console"],
                            input="/bizra verify\n", capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Cluster verify: NOT ready — 9/10 pass, 1 failed" in out
    assert out.count("✅") == 9
    assert "❌ NODE0 pods ready — 2/3 ready" in out
    assert "↳ fix: kubectl get pods -n bizra-production -l app=node0" in out
