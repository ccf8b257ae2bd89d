"""`bizra dod [--json]` as a pipeline step: exit 0 only at 5/5 ✅, 1 on any ❌ or ❔.

The done release runs the real executable (a subprocess, end to end); the failures call the same CLI
in-process (`bizra_cli`, tests/support/cli.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.dod.conftest import DodWorld
from tests.ops.support import ROOT
from tests.support.cli import RunCli


def _config_file(world: DodWorld) -> Path:
    config = world.tmp / "bizra.yaml"
    config.write_text(yaml.safe_dump(world.runtime.config.model_dump(mode="json")), encoding="utf-8")
    return config


def test_a_done_release_exits_0(world: DodWorld) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BIZRA_")) and k != "KUBECONFIG"}
    result = subprocess.run([sys.executable, "-m", "bot", "--config", str(_config_file(world)), "dod"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("✅") == 5 and "Definition of Done: done — 5/5" in result.stdout


def test_an_admitted_unsigned_image_exits_1_with_json(world: DodWorld, bizra_cli: RunCli) -> None:
    world.api.set_webhook("admit")
    result = bizra_cli("--config", _config_file(world), "dod", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert [g["outcome"] for g in report["gates"]] == ["FAIL", "PASS", "PASS", "PASS", "PASS"]
    assert "ACCEPTS UNSIGNED IMAGES" in report["gates"][0]["evidence"] and report["gates"][0]["fix"]


def test_an_unknown_gate_is_not_done(world: DodWorld, bizra_cli: RunCli) -> None:
    world.api.set_webhook("unreachable")
    result = bizra_cli("--config", _config_file(world), "dod")
    assert result.returncode == 1
    assert "❔ 1 Unsigned image refused at admission — could not judge" in result.stdout
