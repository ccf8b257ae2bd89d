"""`bizra evidence verify ARCHIVE [--key FILE ...]`: check a release's signed evidence archive.

The manifest's Ed25519 signature must be by a trusted key (`--key`, else `evidence.trusted_keys`,
else `gates.trusted_keys`) and every file must match it. Every changed, missing or added file is
named. Exit 0 valid, 1 invalid, 2 a usage or configuration error (a trusted key unreadable).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.surfaces.cli.common import add_verb, config_from

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_verb(subparsers, "evidence", help="verify a release's signed evidence archive")
    actions = parser.add_subparsers(dest="evidence_command", metavar="ACTION")
    actions.required = True
    verify = add_verb(actions, "verify", help="check the archive's signature and every file (exit 0 valid, 1 not)")
    verify.add_argument("archive", type=Path, metavar="ARCHIVE", help="the evidence-….zip")
    verify.add_argument("--key", action="append", type=Path, metavar="FILE",
                        help="a trusted public key (repeatable; default: evidence.trusted_keys, else "
                             "gates.trusted_keys)")
    verify.set_defaults(run=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    from commands.attestation import KeyFileError, load_trusted_keys  # lazy: cryptography; `--help` skips it
    from commands.evidence import verify_archive  # lazy: as above

    if args.key:
        paths = list(args.key)
    else:
        config = config_from(args)
        paths = list(config.evidence.trusted_keys or config.gates.trusted_keys)
    try:
        trusted = load_trusted_keys(paths)
    except KeyFileError as exc:
        print(f"bizra evidence verify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    result = verify_archive(args.archive, trusted)
    if result.ok:
        print(f"{args.archive}: valid — {result.files} files match the manifest of {result.release}, "
              f"signed by trusted key {result.key_id}")
        return EXIT_OK
    print(f"{args.archive}: INVALID")
    for problem in result.problems():
        print(f"  {problem}")
    return EXIT_INVALID
