"""`bizra gates` and `bizra attest` as CI runs them: exit codes 0 / 1 / 2.

The shipped copy, the default config and the usage errors run the real executable as a subprocess
(`bizra`, end to end); the other checks call the same CLI in-process (`bizra_cli`, tests/support/cli.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gates.evidence import GATE_NAMES, REPO, copy_shipped
from tests.support.cli import RunCli


def bizra(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BIZRA_")) and k != "KUBECONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "bot", *map(str, args)], cwd=cwd, env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=60,
    )


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    return copy_shipped(tmp_path / "artifacts")


def test_shipped_copy_passes_with_exit_0(artifacts: Path) -> None:
    done = bizra("gates", "--artifacts", artifacts)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "grade A+ · score 1.000" in done.stdout
    lines = done.stdout.splitlines()
    for name in GATE_NAMES:
        row = next(line for line in lines if name in line)
        assert "  PASS  " in row, row


def test_one_digit_changed_in_cb_json_exits_1(artifacts: Path, bizra_cli: RunCli) -> None:
    cb = artifacts / "cb.json"
    text = cb.read_text(encoding="utf-8")
    assert "523793" in text
    cb.write_text(text.replace("523793", "523794"), encoding="utf-8")
    done = bizra_cli("gates", "--artifacts", artifacts)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cb.json changed since it was signed" in done.stdout
    assert "NOT ready" in done.stdout


def test_missing_file_exits_1_with_tbd(artifacts: Path, bizra_cli: RunCli) -> None:
    (artifacts / "planner_eval.json").unlink()
    done = bizra_cli("gates", "--artifacts", artifacts, "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["all_passed"] is False and report["tbd"] == 2
    tbd = [gate for gate in report["gates"] if gate["outcome"] == "TBD"]
    assert {gate["evidence"] for gate in tbd} == {"planner_eval.json"}
    assert all("planner_eval.json: missing" in gate["detail"] for gate in tbd)


def test_json_output_is_the_whole_report(artifacts: Path, bizra_cli: RunCli) -> None:
    done = bizra_cli("gates", "--artifacts", artifacts, "--json")
    assert done.returncode == 0
    report = json.loads(done.stdout)
    assert report["grade"] == "A+" and report["score"] == 1.0 and report["all_passed"] is True
    assert [gate["name"] for gate in report["gates"]] == GATE_NAMES
    assert set(report["digests"]) == {"cb.json", "cache.json", "planner_eval.json", "wq_proof.json", "attestation.json"}


def test_default_config_reads_the_shipped_artifacts_from_the_repository() -> None:
    done = bizra("gates")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [(["gates", "--artifacts", "/nonexistent/evidence"], "artifacts directory /nonexistent/evidence does not exist"),
     (["gates", "--bogus"], "unrecognized arguments: --bogus"),
     (["--config", "/nonexistent/bizra.yaml", "gates"], "/nonexistent/bizra.yaml does not exist")],
    ids=["no-such-dir", "bad-flag", "no-such-config"],
)
def test_usage_and_config_errors_exit_2(args: list[str], expected: str) -> None:
    done = bizra(*args)
    assert done.returncode == 2
    assert expected in done.stderr


def test_unreadable_trusted_key_in_config_exits_2(tmp_path: Path, artifacts: Path, bizra_cli: RunCli) -> None:
    config = tmp_path / "bizra.yaml"
    config.write_text(f"gates:\n  trusted_keys: [{tmp_path / 'missing.pub'}]\n", encoding="utf-8")
    done = bizra_cli("--config", config, "gates", "--artifacts", artifacts)
    assert done.returncode == 2
    assert f"{tmp_path / 'missing.pub'}" in done.stderr


def test_bad_policy_field_in_config_exits_2_naming_it(tmp_path: Path, bizra_cli: RunCli) -> None:
    config = tmp_path / "bizra.yaml"
    config.write_text("gates:\n  policy:\n    cb_p99_max: 1.0\n", encoding="utf-8")
    done = bizra_cli("--config", config, "gates")
    assert done.returncode == 2
    assert "gates.policy.cb_p99_max" in done.stderr


def test_policy_override_from_config_is_applied(tmp_path: Path, artifacts: Path, bizra_cli: RunCli) -> None:
    config = tmp_path / "bizra.yaml"
    config.write_text(f"gates:\n  trusted_keys: [{REPO / 'ops/keys/attestation-release.pub'}]\n"
                      "  policy:\n    cb_p99_max_ms: 1.0\n", encoding="utf-8")
    done = bizra_cli("--config", config, "gates", "--artifacts", artifacts, "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert [gate["key"] for gate in report["gates"] if gate["outcome"] != "PASS"] == ["cb_p99"]
    assert report["policy_overrides"] == ["cb_p99_max_ms"]


def test_attest_sign_then_verify_with_a_new_key(tmp_path: Path, artifacts: Path, bizra_cli: RunCli) -> None:
    private, public = tmp_path / "release.pem", tmp_path / "release.pub"
    made = bizra_cli("attest", "keygen", "--private", private, "--public", public)
    assert made.returncode == 0, made.stderr
    assert private.stat().st_mode & 0o077 == 0  # the private key is readable by its owner only

    signed = bizra_cli("attest", "sign", "--key", private, "--artifacts", artifacts)
    assert signed.returncode == 0, signed.stderr
    assert "not among gates.trusted_keys" in signed.stderr  # the default config does not trust it yet

    untrusted = bizra_cli("attest", "verify", "--artifacts", artifacts)
    assert untrusted.returncode == 1
    assert "untrusted key" in untrusted.stdout

    config = tmp_path / "bizra.yaml"
    config.write_text(f"gates:\n  trusted_keys: [{public}]\n", encoding="utf-8")
    verified = bizra_cli("--config", config, "attest", "verify", "--artifacts", artifacts)
    assert verified.returncode == 0, verified.stdout
    assert verified.stdout.startswith("VALID")
    assert bizra_cli("--config", config, "gates", "--artifacts", artifacts).returncode == 0

    (artifacts / "wq_proof.json").write_bytes((artifacts / "wq_proof.json").read_bytes().replace(b"B3", b"B4"))
    tampered = bizra_cli("--config", config, "attest", "verify", "--artifacts", artifacts)
    assert tampered.returncode == 1
    assert "wq_proof.json changed since it was signed" in tampered.stdout


def test_attest_sign_refuses_unreadable_evidence_and_bad_keys(tmp_path: Path, artifacts: Path,
                                                              bizra_cli: RunCli) -> None:
    missing_key = bizra_cli("attest", "sign", "--key", tmp_path / "nope.pem", "--artifacts", artifacts)
    assert missing_key.returncode == 2 and "nope.pem" in missing_key.stderr

    private = tmp_path / "release.pem"
    assert bizra_cli("attest", "keygen", "--private", private, "--public", tmp_path / "release.pub").returncode == 0
    before = (artifacts / "attestation.json").read_bytes()
    (artifacts / "cache.json").write_text("{", encoding="utf-8")
    refused = bizra_cli("attest", "sign", "--key", private, "--artifacts", artifacts)
    assert refused.returncode == 1
    assert "cache.json: malformed JSON" in refused.stderr
    assert (artifacts / "attestation.json").read_bytes() == before  # nothing half-written

    public_as_private = bizra_cli("attest", "sign", "--key", tmp_path / "release.pub", "--artifacts", artifacts)
    assert public_as_private.returncode == 2 and "release.pub" in public_as_private.stderr
