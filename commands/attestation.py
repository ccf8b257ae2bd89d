"""Proof-of-Integrity attestation: an Ed25519 signature over the SHA-256 digests of the evidence.

What is signed is the *statement* of `attestation.json` — its type, when it was issued and one
`{name, sha256}` subject per attested artifact (`cb.json`, `cache.json`, `planner_eval.json`,
`wq_proof.json`) — serialised as canonical JSON: keys sorted, no whitespace (`,` and `:`
separators), UTF-8, no ASCII escaping. Digests are over each file's exact bytes, so changing any
byte of an artifact (a digit, a space) changes its digest and fails verification.

Keys:
- a key id is the first 16 hex digits of SHA-256 over the raw 32-byte Ed25519 public key; the
  signature records it so verification can say *which* key signed;
- trusted public keys are files holding either a PEM `PUBLIC KEY` (SubjectPublicKeyInfo, what
  `openssl pkey -pubout` and `bizra attest keygen` write) or one line of standard base64 of the raw
  32-byte key;
- private keys for signing are unencrypted PKCS#8 PEM (PEM type `PRIVATE KEY`). They belong
  in a secret store or CI secret, never in the repository.

`verify_attestation()` is purely computational: it takes the parsed attestation, the digests of
the files as they are on disk and the trusted keys, and returns a `Verification` naming the first
problem found — an untrusted key (with its id), a bad signature, a file the statement does not
cover, or the first file (in the order above) whose digest does not match.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel

from commands.artifacts import (
    ATTESTED,
    MODELS,
    ArtifactName,
    Attestation,
    Signature,
    Statement,
    Subject,
    parse_artifact,
    read_bytes,
    sha256_of,
)

STATEMENT_TYPE = "bizra.poi/1"


class KeyFileError(Exception):
    """A key file is missing or not an Ed25519 key; the message names the file."""


@dataclass(frozen=True)
class TrustedKey:
    key_id: str
    public_key: Ed25519PublicKey
    source: str  # where it came from (a file path), for messages


def key_id_of(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def canonical_bytes(statement: Statement) -> bytes:
    """The exact bytes that are signed and verified."""
    data = statement.model_dump(mode="json")
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# -- keys -------------------------------------------------------------------------------------------


def parse_public_key(data: bytes, *, source: str) -> TrustedKey:
    text = data.decode("utf-8", "replace").strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise KeyFileError(f"{source}: not a readable PEM public key ({exc})") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFileError(f"{source}: the PEM key is {type(key).__name__}, not Ed25519")
    else:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise KeyFileError(f"{source}: neither a PEM public key nor base64 of a raw Ed25519 key") from exc
        if len(raw) != 32:
            raise KeyFileError(f"{source}: a raw Ed25519 public key is 32 bytes, this one is {len(raw)}")
        key = Ed25519PublicKey.from_public_bytes(raw)
    return TrustedKey(key_id=key_id_of(key), public_key=key, source=source)


def load_public_key(path: Path) -> TrustedKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"trusted key file {path} cannot be read: {exc.strerror or exc}") from exc
    return parse_public_key(data, source=str(path))


def load_trusted_keys(paths: Iterable[Path]) -> list[TrustedKey]:
    return [load_public_key(Path(path)) for path in paths]


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"private key file {path} cannot be read: {exc.strerror or exc}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: the key is {type(key).__name__}, not Ed25519")
    return key


def new_keypair() -> tuple[bytes, bytes]:
    """A fresh Ed25519 key pair as (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM)."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


# -- signing ----------------------------------------------------------------------------------------


def sign_statement(statement: Statement, private_key: Ed25519PrivateKey) -> Attestation:
    signature = private_key.sign(canonical_bytes(statement))
    return Attestation(
        statement=statement,
        signature=Signature(key_id=key_id_of(private_key.public_key()), value=base64.b64encode(signature).decode()),
    )


def attest_directory(artifacts_dir: Path, private_key: Ed25519PrivateKey, *, issued_at: datetime) -> Attestation:
    """Sign the digests of the four artifacts in `artifacts_dir`.

    Each file must exist and match its schema: signing evidence that cannot be read would make a
    valid signature over nothing usable. Raises `ArtifactError` naming the first bad file.
    """
    subjects = []
    for name in ATTESTED:
        path = artifacts_dir / name.value
        data = read_bytes(path)
        parse_artifact(path, data, MODELS[name])
        subjects.append(Subject(name=name.value, sha256=sha256_of(data)))
    statement = Statement(type=STATEMENT_TYPE, issued_at=issued_at.isoformat(), subjects=subjects)
    return sign_statement(statement, private_key)


def write_attestation(path: Path, attestation: Attestation) -> None:
    """Write atomically (temp file + rename), so a reader never sees half a file."""
    text = json.dumps(attestation.model_dump(mode="json", exclude_none=True), indent=2, ensure_ascii=False) + "\n"
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".attestation.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


# -- verifying --------------------------------------------------------------------------------------


class Verification(BaseModel):
    """The verdict on one attestation. `problem` is None exactly when it is valid."""

    valid: bool
    key_id: str
    problem: str | None = None
    file: str | None = None  # the artifact the problem is about, when there is one
    checked: list[str] = []  # artifacts whose digest matched


def verify_attestation(
    attestation: Attestation, *, digests: Mapping[str, str | None], trusted_keys: Sequence[TrustedKey]
) -> Verification:
    """Check key, signature, coverage and digests, in that order; purely computational.

    `digests` maps artifact file names to the SHA-256 of the bytes on disk, or None when the file
    is missing or unreadable.
    """
    key_id = attestation.signature.key_id

    def fail(problem: str, file: str | None = None, checked: list[str] | None = None) -> Verification:
        return Verification(valid=False, key_id=key_id, problem=problem, file=file, checked=checked or [])

    if not trusted_keys:
        return fail("no trusted public keys are configured (gates.trusted_keys), so no signature can be trusted")
    trusted = {key.key_id: key for key in trusted_keys}
    key = trusted.get(key_id)
    if key is None:
        known = ", ".join(sorted(trusted))
        return fail(f"signed by untrusted key {key_id} (trusted: {known})")
    try:
        signature = base64.b64decode(attestation.signature.value, validate=True)
    except (binascii.Error, ValueError):
        return fail("the signature value is not base64")
    try:
        key.public_key.verify(signature, canonical_bytes(attestation.statement))
    except InvalidSignature:
        return fail(f"the signature does not verify with trusted key {key_id}: the statement was altered or "
                    "signed by a different key")
    if attestation.statement.type != STATEMENT_TYPE:
        return fail(f"statement type {attestation.statement.type!r} is not {STATEMENT_TYPE!r}")

    attested: dict[str, str] = {}
    for subject in attestation.statement.subjects:
        if subject.name in attested:
            return fail(f"the statement lists {subject.name} twice", subject.name)
        attested[subject.name] = subject.sha256
    expected = [name.value for name in ATTESTED]
    for name in attested:
        if name not in expected:
            return fail(f"the statement attests {name}, which is not release evidence", name)

    checked: list[str] = []
    for name in expected:
        if name not in attested:
            return fail(f"{name} is not covered by the attestation", name, checked)
        on_disk = digests.get(name)
        if on_disk is None:
            return fail(f"{name} is attested but missing or unreadable on disk", name, checked)
        if on_disk != attested[name]:
            return fail(
                f"{name} changed since it was signed: "
                f"SHA-256 on disk {on_disk[:12]}… ≠ attested {attested[name][:12]}…",
                name,
                checked,
            )
        checked.append(name)
    return Verification(valid=True, key_id=key_id, checked=checked)


def disk_digests(artifacts_dir: Path) -> dict[str, str | None]:
    """SHA-256 of each attested artifact as it is on disk (None when missing or unreadable)."""
    found: dict[str, str | None] = {}
    for name in ATTESTED:
        try:
            found[name.value] = sha256_of((artifacts_dir / name.value).read_bytes())
        except OSError:
            found[name.value] = None
    return found


__all__ = [
    "ArtifactName",
    "KeyFileError",
    "TrustedKey",
    "Verification",
    "attest_directory",
    "canonical_bytes",
    "disk_digests",
    "key_id_of",
    "load_private_key",
    "load_public_key",
    "load_trusted_keys",
    "new_keypair",
    "parse_public_key",
    "sign_statement",
    "verify_attestation",
    "write_attestation",
]
