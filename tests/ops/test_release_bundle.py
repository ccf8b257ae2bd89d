"""ops/release/release-bundle.sh --dry-run: runs `bizra gates` for real, prints the other phases,
and refuses to go on when a gate fails (a tmp copy of the artifacts with one failing value)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.ops.support import ROOT

SCRIPT = ROOT / "ops" / "release" / "release-bundle.sh"
PHASES = ["phase 1: validate", "phase 2: build", "phase 3: sign", "phase 4: pin", "phase 5: release"]


def bundle(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BIZRA_", "COSIGN"))}
    environment["BIZRA_BIN"] = str(Path(sys.executable).parent / "bizra")
    if not Path(environment["BIZRA_BIN"]).exists():
        del environment["BIZRA_BIN"]  # the script falls back to .venv/bin/python -m bot
    environment.update(env or {})
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=environment)


PINNED = [ROOT / "ops" / "bot" / "base" / "deployment.yaml",
          ROOT / "ops" / "hardening" / "04-poi-attestation-validator.yaml"]


def test_dry_run_passes_on_the_shipped_artifacts_and_prints_every_phase() -> None:
    before = [p.read_bytes() for p in PINNED]
    result = bundle("--dry-run", "--version", "v2.1.0")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for phase in PHASES:
        assert phase in out
    assert "gates passed" in out
    assert "[dry-run] docker build" in out
    assert "[dry-run] cyclonedx-py requirements" in out
    assert "[dry-run] cosign sign" in out and "[dry-run] cosign attest" in out
    assert "[dry-run] git tag -a v2.1.0" in out
    assert "[dry-run] gh release create v2.1.0" in out
    # nothing really happened: no build output, no pinned manifest
    assert not (ROOT / "build" / "release" / "v2.1.0").exists()
    assert [p.read_bytes() for p in PINNED] == before
    for path in PINNED:
        assert "sed -i -E" in out and str(path.relative_to(ROOT)) in out  # the pin step is shown, not run


def test_dry_run_stops_on_a_failing_gate(tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    shutil.copytree(ROOT / "artifacts", artifacts)
    cb = json.loads((artifacts / "cb.json").read_text(encoding="utf-8"))
    cb["throughput_rps"] = 399_999  # just under the 400,000 req/s gate
    (artifacts / "cb.json").write_text(json.dumps(cb, indent=2), encoding="utf-8")
    result = bundle("--dry-run", "--artifacts", str(artifacts))
    assert result.returncode == 1
    assert "REFUSED" in result.stderr
    assert "phase 1: validate" in result.stdout
    for phase in PHASES[1:]:
        assert phase not in result.stdout
    assert "[dry-run]" not in result.stdout


def test_artifacts_dir_also_comes_from_the_environment(tmp_path: Path) -> None:
    artifacts = tmp_path / "evidence"
    shutil.copytree(ROOT / "artifacts", artifacts)
    (artifacts / "wq_proof.json").unlink()  # missing evidence is TBD, never a pass
    result = bundle("--dry-run", env={"BIZRA_ARTIFACTS_DIR": str(artifacts)})
    assert result.returncode == 1 and "REFUSED" in result.stderr


def test_bad_arguments_are_usage_errors() -> None:
    assert bundle("--frobnicate").returncode == 2
    missing = bundle("--dry-run", "--artifacts", "/nonexistent/dir")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert bundle("--dry-run", "--version", "2.1").returncode == 2


def test_real_run_needs_the_release_tools_and_key() -> None:
    # Without --dry-run the script checks its tools and COSIGN_KEY before any side effect.
    result = bundle(env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"})
    assert result.returncode == 1
    assert "is needed for a real release" in result.stderr or "COSIGN_KEY is not set" in result.stderr
