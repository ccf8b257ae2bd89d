"""`bizra attest sign|verify|keygen`: the Ed25519 attestation over the release's evidence.

- `sign --key FILE [--artifacts DIR]` writes `attestation.json` over the SHA-256 of the four other
  artifacts, with the PEM private key in FILE (keep it in a secret store; never commit it).
- `verify [--artifacts DIR]` checks it against the configured trusted keys (`gates.trusted_keys`).
- `keygen --private FILE --public FILE` makes a new key pair (the private file is created mode 0600).

Exit codes: 0 done/valid, 1 a failed check (invalid attestation, evidence that cannot be signed),
2 a usage or configuration error (missing key file, no such directory).

`keygen` needs no config; `sign` and `verify` read only the `gates:` section (no secrets, no
composition root). cryptography and the artifact models are imported in each `run_*`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bot.surfaces.cli.common import add_verb, config_from
from commands.ports import SystemClock

EXIT_OK, EXIT_FAILED = 0, 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_verb(subparsers, "attest", help="sign or verify the evidence attestation (Ed25519)")
    actions = parser.add_subparsers(dest="attest_command", metavar="ACTION")
    actions.required = True

    sign = add_verb(actions, "sign", help="write attestation.json over the four artifacts' SHA-256")
    sign.add_argument("--key", required=True, type=Path, metavar="FILE", help="Ed25519 private key (PKCS#8 PEM)")
    sign.add_argument(
        "--artifacts", type=Path, metavar="DIR", help="artifacts directory (default: gates.artifacts_dir)",
    )
    sign.set_defaults(run=run_sign)

    verify = add_verb(actions, "verify", help="verify attestation.json with the trusted keys")
    verify.add_argument(
        "--artifacts", type=Path, metavar="DIR", help="artifacts directory (default: gates.artifacts_dir)",
    )
    verify.set_defaults(run=run_verify)

    keygen = add_verb(actions, "keygen", help="create an Ed25519 key pair (PEM)")
    keygen.add_argument("--private", required=True, type=Path, metavar="FILE", help="where to write the private key")
    keygen.add_argument("--public", required=True, type=Path, metavar="FILE", help="where to write the public key")
    keygen.set_defaults(run=run_keygen)


def _artifacts_dir(args: argparse.Namespace, configured: Path) -> Path:
    from bot.core.config_file import ConfigError  # lazy: keeps `--help` free of it

    chosen = Path(args.artifacts or configured)
    if not chosen.is_dir():
        raise ConfigError(
            f"artifacts directory {chosen} does not exist (pass --artifacts DIR or set gates.artifacts_dir)"
        )
    return chosen


def run_sign(args: argparse.Namespace) -> int:
    from bot.core.config_file import ConfigError  # lazy: keeps `--help` free of it
    from commands.artifacts import ArtifactError, ArtifactName  # lazy: the artifact models, as above
    from commands.attestation import (  # lazy: cryptography, as above
        KeyFileError,
        attest_directory,
        key_id_of,
        load_private_key,
        load_trusted_keys,
        write_attestation,
    )

    config = config_from(args)
    artifacts_dir = _artifacts_dir(args, config.gates.artifacts_dir)
    try:
        private_key = load_private_key(args.key)
    except KeyFileError as exc:
        raise ConfigError(str(exc)) from exc
    try:
        attestation = attest_directory(artifacts_dir, private_key, issued_at=SystemClock().now())
    except ArtifactError as exc:
        print(f"bizra attest sign: not signed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    target = artifacts_dir / ArtifactName.ATTESTATION.value
    write_attestation(target, attestation)
    key_id = key_id_of(private_key.public_key())
    print(f"signed {target} with key {key_id}")
    for subject in attestation.statement.subjects:
        print(f"  {subject.name:<18} sha256 {subject.sha256}")
    try:
        trusted = {key.key_id for key in load_trusted_keys(config.gates.trusted_keys)}
    except KeyFileError:
        trusted = set()
    if key_id not in trusted:
        print(f"note: key {key_id} is not among gates.trusted_keys; gate 9 will FAIL until its public key is trusted",
              file=sys.stderr)
    return EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    from bot.core.config_file import ConfigError  # lazy: keeps `--help` free of it
    from commands.artifacts import ArtifactError, ArtifactName, Attestation, read_artifact  # lazy: as above
    from commands.attestation import (  # lazy: cryptography, as above
        KeyFileError,
        disk_digests,
        load_trusted_keys,
        verify_attestation,
    )

    config = config_from(args)
    artifacts_dir = _artifacts_dir(args, config.gates.artifacts_dir)
    try:
        trusted = load_trusted_keys(config.gates.trusted_keys)
    except KeyFileError as exc:
        raise ConfigError(str(exc)) from exc
    try:
        attestation = read_artifact(artifacts_dir / ArtifactName.ATTESTATION.value, Attestation).model
    except ArtifactError as exc:
        print(f"INVALID: {exc}")
        return EXIT_FAILED
    verdict = verify_attestation(attestation, digests=disk_digests(artifacts_dir), trusted_keys=trusted)
    if verdict.valid:
        print(f"VALID: signed by trusted key {verdict.key_id}; {', '.join(verdict.checked)} match their digests")
        return EXIT_OK
    print(f"INVALID: {verdict.problem}")
    return EXIT_FAILED


def run_keygen(args: argparse.Namespace) -> int:
    from bot.core.config_file import ConfigError  # lazy: keeps `--help` free of it
    from commands.attestation import new_keypair, parse_public_key  # lazy: cryptography, as above

    for path in (args.private, args.public):
        if path.exists():
            raise ConfigError(f"{path} already exists; refusing to overwrite a key")
    private_pem, public_pem = new_keypair()
    descriptor = os.open(args.private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(private_pem)
    args.public.write_bytes(public_pem)
    key_id = parse_public_key(public_pem, source=str(args.public)).key_id
    print(f"key {key_id}: private {args.private} (keep secret), public {args.public} (add to gates.trusted_keys)")
    return EXIT_OK
