"""Gate 9 and the attestation: any changed byte fails naming the file; only trusted keys count."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from commands.attestation import KeyFileError, load_public_key, load_trusted_keys
from commands.gates import GateReport, GateResult, Outcome
from tests.gates.evidence import RELEASE_KEY, Signer, copy_shipped, judge, read_json, release_key

ATTESTED = ["cb.json", "cache.json", "planner_eval.json", "wq_proof.json"]


def _attestation_gate(report: GateReport) -> GateResult:
    return next(gate for gate in report.gates if gate.key == "attestation")


def _change_one_digit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    # The last digit in the file: a value, never a key, so every other gate still reads it.
    index = max(i for i, byte in enumerate(data) if chr(byte).isdigit())
    data[index] = ord("1") if data[index] != ord("1") else ord("2")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", ATTESTED)
def test_one_changed_byte_fails_gate_9_naming_the_file(tmp_path: Path, name: str) -> None:
    artifacts = copy_shipped(tmp_path / "artifacts")
    _change_one_digit(artifacts / name)
    report = judge(artifacts, trusted=[release_key()])
    gate = _attestation_gate(report)
    assert gate.outcome is Outcome.FAIL
    assert gate.detail.startswith(f"{name} changed since it was signed")
    assert not report.all_passed


def test_a_changed_space_counts_too(tmp_path: Path) -> None:
    artifacts = copy_shipped(tmp_path / "artifacts")
    path = artifacts / "cache.json"
    path.write_bytes(path.read_bytes() + b"\n")
    gate = _attestation_gate(judge(artifacts, trusted=[release_key()]))
    assert gate.outcome is Outcome.FAIL and gate.detail.startswith("cache.json changed")


def test_signature_by_an_untrusted_key_fails_naming_the_key(tmp_path: Path) -> None:
    artifacts = copy_shipped(tmp_path / "artifacts")
    stranger = Signer.new()
    stranger.sign(artifacts)
    report = judge(artifacts, trusted=[release_key()])
    gate = _attestation_gate(report)
    assert gate.outcome is Outcome.FAIL
    assert f"untrusted key {stranger.trusted.key_id}" in gate.detail
    assert release_key().key_id in gate.detail  # says which keys would have been trusted
    # The same files, once that key is trusted, pass: the failure was the key alone.
    assert judge(artifacts, trusted=[release_key(), stranger.trusted]).all_passed


def test_claiming_a_trusted_key_id_does_not_help_a_forger(tmp_path: Path) -> None:
    artifacts = copy_shipped(tmp_path / "artifacts")
    Signer.new().sign(artifacts)
    attestation = read_json(artifacts / "attestation.json")
    attestation["signature"]["key_id"] = release_key().key_id
    (artifacts / "attestation.json").write_text(json.dumps(attestation), encoding="utf-8")
    gate = _attestation_gate(judge(artifacts, trusted=[release_key()]))
    assert gate.outcome is Outcome.FAIL and "does not verify" in gate.detail


def test_editing_an_attested_digest_breaks_the_signature(tmp_path: Path) -> None:
    artifacts = copy_shipped(tmp_path / "artifacts")
    _change_one_digit(artifacts / "cb.json")
    attestation = read_json(artifacts / "attestation.json")
    from commands.artifacts import sha256_of

    attestation["statement"]["subjects"][0]["sha256"] = sha256_of((artifacts / "cb.json").read_bytes())
    (artifacts / "attestation.json").write_text(json.dumps(attestation), encoding="utf-8")
    gate = _attestation_gate(judge(artifacts, trusted=[release_key()]))
    assert gate.outcome is Outcome.FAIL and "does not verify" in gate.detail


def test_statement_missing_an_artifact_fails_naming_it(tmp_path: Path) -> None:
    artifacts = copy_shipped(tmp_path / "artifacts")
    signer = Signer.new()
    signer.sign(artifacts)
    from commands.artifacts import Attestation
    from commands.attestation import sign_statement, write_attestation

    attestation = Attestation.model_validate(read_json(artifacts / "attestation.json"))
    partial = attestation.statement.model_copy(update={"subjects": attestation.statement.subjects[:3]})
    write_attestation(artifacts / "attestation.json", sign_statement(partial, signer.private))
    gate = _attestation_gate(judge(artifacts, trusted=[signer.trusted]))
    assert gate.outcome is Outcome.FAIL and gate.detail == "wq_proof.json is not covered by the attestation"


def test_no_trusted_keys_is_a_failure_not_a_pass() -> None:
    from tests.gates.evidence import SHIPPED

    gate = _attestation_gate(judge(SHIPPED, trusted=[]))
    assert gate.outcome is Outcome.FAIL and "no trusted public keys" in gate.detail


def test_trusted_key_as_pem_or_raw_base64_is_the_same_key(tmp_path: Path) -> None:
    pem = load_public_key(RELEASE_KEY)
    raw = pem.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    (tmp_path / "release.b64").write_text(base64.b64encode(raw).decode() + "\n", encoding="ascii")
    assert load_public_key(tmp_path / "release.b64").key_id == pem.key_id


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "cannot be read"), (b"not a key at all", "neither a PEM public key"),
     (base64.b64encode(b"short"), "32 bytes"),
     (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "PEM")],
    ids=["missing", "garbage", "wrong-length", "bad-pem"],
)
def test_bad_trusted_key_file_is_named(tmp_path: Path, content: bytes | None, expected: str) -> None:
    path = tmp_path / "key.pub"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(KeyFileError) as raised:
        load_trusted_keys([path])
    assert str(path) in str(raised.value) and expected in str(raised.value)
