"""checkov on ops/ and the Dockerfile (no failed check unless skipped inline with a reason) and
hadolint on the Dockerfile. The tools come from `.venv-tools` (see tests/ops/support.py)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.ops.support import OPS, ROOT, tool

DOCKERFILE = ROOT / "Dockerfile"
OPS_FOLDERS = sorted(p for p in OPS.iterdir() if p.is_dir())


def checkov(*target: str) -> list[dict[str, Any]]:
    """checkov's JSON reports (one per framework), parsed from its concatenated output."""
    result = subprocess.run([tool("checkov"), *target, "-o", "json", "--quiet", "--compact"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    text = result.stdout.strip()
    reports: list[dict[str, Any]] = []
    decoder = json.JSONDecoder()
    index = 0
    while index < len(text):
        parsed, index = decoder.raw_decode(text, index)
        reports.extend(parsed if isinstance(parsed, list) else [parsed])
        while index < len(text) and text[index].isspace():
            index += 1
    assert reports or result.returncode == 0, result.stderr[-2000:]
    for report in reports:
        # checkov prints a bare summary dict when a folder has nothing it can scan
        assert report.get("summary", {}).get("parsing_errors", 0) == 0, report
    return reports


def failures(reports: list[dict[str, Any]]) -> list[str]:
    return [
        f"{f['check_id']} {f['file_path']} {f['resource']}: {f['check_name']}"
        for report in reports
        for f in report.get("results", {}).get("failed_checks", [])
    ]


@pytest.fixture(scope="module")
def ops_scan() -> list[dict[str, Any]]:
    # One scan of the whole tree: graph checks (a pod needs a NetworkPolicy) see every folder's objects.
    return checkov("-d", "ops")


@pytest.mark.parametrize("folder", OPS_FOLDERS, ids=lambda p: f"ops/{p.name}")
def test_checkov_passes_on_ops(ops_scan: list[dict[str, Any]], folder: Path) -> None:
    prefix = f"/ops/{folder.name}/"
    found = [f for f in failures(ops_scan) if f.split(" ")[1].startswith(prefix)]
    assert not found, "checkov failed checks (fix, or skip inline with a reason):\n" + "\n".join(found)


def test_checkov_scanned_every_folder(ops_scan: list[dict[str, Any]]) -> None:
    assert sum(r["summary"]["passed"] for r in ops_scan if "summary" in r) > 100


def test_checkov_passes_on_the_dockerfile() -> None:
    reports = checkov("-f", "Dockerfile")
    assert not failures(reports)
    assert sum(r["summary"]["passed"] for r in reports if "summary" in r) > 0, "checkov scanned nothing"


def test_checkov_skips_are_inline_with_a_reason() -> None:
    for path in OPS.rglob("*.yaml"):
        for line in path.read_text(encoding="utf-8").splitlines():
            skip = re.search(r"checkov(?:\.io/skip\d+:|:skip=)\s*(\S+)", line)
            if skip:
                check = skip.group(1).partition("=")[0]
                assert re.fullmatch(r"CKV2?_[A-Z0-9]+_\d+", check), line
                assert len(line.split("=", 1)[-1].strip()) > 20, f"{path}: skip without a reason: {line}"


def test_checkov_fails_on_a_bad_manifest(tmp_path: Path) -> None:
    # The scan is live: a privileged, root, unpinned pod is reported.
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: bad, namespace: x}\n"
        "spec:\n  containers:\n    - name: c\n      image: nginx:latest\n      securityContext: {privileged: true}\n",
        encoding="utf-8",
    )
    assert any("CKV_K8S_16" in f for f in failures(checkov("-d", str(tmp_path))))


def test_hadolint_passes_on_the_dockerfile() -> None:
    result = subprocess.run([tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_reports_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\n", encoding="utf-8")
    result = subprocess.run([tool("hadolint"), str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "DL3007" in result.stdout


def test_dockerfile_has_what_the_issue_asks() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    base = re.search(r"^FROM (\S+)", text, re.M)
    assert base and re.fullmatch(r"python:\d+\.\d+\.\d+-slim(-\w+)?", base.group(1)), "slim base pinned by version"
    # dependencies are installed before the source is copied (their own layer)
    assert text.index("pip install --no-cache-dir -r") < text.index("COPY bot/")
    assert re.search(r"^USER 10001", text, re.M)
    assert "HEALTHCHECK" in text and "/healthz" in text and "urllib.request" in text
    assert 'ENTRYPOINT ["bizra"]' in text and 'CMD ["serve"]' in text
