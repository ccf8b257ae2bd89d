"""checkov on ops/ and the Dockerfile (no failed check unless skipped inline with a reason) and
hadolint on the Dockerfile. The tools come from `.venv-tools` (see tests/ops/support.py)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.ops.support import EARLY_SCANS, OPS, ROOT, checkov_reports, start_checkov_scans, tool

DOCKERFILE = ROOT / "Dockerfile"
OPS_FOLDERS = sorted(p for p in OPS.iterdir() if p.is_dir())


def failures(reports: list[dict[str, Any]]) -> list[str]:
    return [
        f"{f['check_id']} {f['file_path']} {f['resource']}: {f['check_name']}"
        for report in reports
        for f in report.get("results", {}).get("failed_checks", [])
    ]


@pytest.fixture(scope="module")
def checkov_scans(pytestconfig: pytest.Config,
                  tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """checkov's reports: `ops` (the whole ops/ tree) and `files` (the Dockerfile and a bad manifest).
    The scans run side by side, started at the end of collection when possible (tests/ops/conftest.py)."""
    started = pytestconfig.stash.get(EARLY_SCANS, None) or start_checkov_scans(tmp_path_factory.mktemp("checkov"))
    return {name: checkov_reports(process) for name, process in started.items()}


@pytest.fixture(scope="module")
def ops_scan(checkov_scans: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return checkov_scans["ops"]


@pytest.mark.parametrize("folder", OPS_FOLDERS, ids=lambda p: f"ops/{p.name}")
def test_checkov_passes_on_ops(ops_scan: list[dict[str, Any]], folder: Path) -> None:
    prefix = f"/ops/{folder.name}/"
    found = [f for f in failures(ops_scan) if f.split(" ")[1].startswith(prefix)]
    assert not found, "checkov failed checks (fix, or skip inline with a reason):\n" + "\n".join(found)


def test_checkov_scanned_every_folder(ops_scan: list[dict[str, Any]]) -> None:
    assert sum(r["summary"]["passed"] for r in ops_scan if "summary" in r) > 100


def test_checkov_passes_on_the_dockerfile(checkov_scans: dict[str, list[dict[str, Any]]]) -> None:
    reports = [r for r in checkov_scans["files"] if r.get("check_type") == "dockerfile"]
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


def test_checkov_fails_on_a_bad_manifest(checkov_scans: dict[str, list[dict[str, Any]]]) -> None:
    # The scan is live: a privileged, root, unpinned pod is reported.
    found = [f for f in failures(checkov_scans["files"]) if f.split(" ")[1].endswith("/bad.yaml")]
    assert any("CKV_K8S_16" in f for f in found)


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
