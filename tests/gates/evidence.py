"""Evidence for tests: a copy of the shipped artifacts in tmp_path, and keys the tests make themselves.

The shipped `artifacts/` are signed by a key whose private half no longer exists; tests that
change values re-sign their copy with a throw-away key and trust that key instead.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from commands.attestation import TrustedKey, attest_directory, load_public_key, parse_public_key, write_attestation
from commands.gates import GatePolicy, GateReport, evaluate_release

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "artifacts"
RELEASE_KEY = REPO / "ops" / "keys" / "attestation-release.pub"
SIGNED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
# What people see, in gate order (issue 2's numbering).
GATE_NAMES = [
    "Circuit-breaker throughput", "Circuit-breaker p99 latency", "Circuit-breaker error rate", "Cache L1 hit ratio",
    "Cache p50 latency", "Planner JSON validity", "Planner tool-call accuracy", "WQ consensus proof", "PoI attestation",
]


def release_key() -> TrustedKey:
    return load_public_key(RELEASE_KEY)


def copy_shipped(target: Path) -> Path:
    shutil.copytree(SHIPPED, target)
    return target


@dataclass
class Signer:
    """A throw-away Ed25519 key: signs a directory, and is trusted by the tests that use it."""

    private: Ed25519PrivateKey

    @classmethod
    def new(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    @property
    def trusted(self) -> TrustedKey:
        from cryptography.hazmat.primitives import serialization

        pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return parse_public_key(pem, source="test key")

    def sign(self, artifacts_dir: Path) -> None:
        write_attestation(artifacts_dir / "attestation.json", attest_directory(artifacts_dir, self.private,
                                                                                  issued_at=SIGNED_AT))


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def set_field(artifacts_dir: Path, name: str, field: str, value: Any) -> None:
    data = read_json(artifacts_dir / name)
    data[field] = value
    (artifacts_dir / name).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def judge(artifacts_dir: Path, *, trusted: list[TrustedKey], policy: GatePolicy | None = None) -> GateReport:
    return evaluate_release(artifacts_dir=artifacts_dir, policy=policy or GatePolicy(), trusted_keys=trusted)


def outcomes(report: GateReport) -> dict[str, str]:
    return {gate.key: gate.outcome.value for gate in report.gates}
