"""`bizra gates [--artifacts DIR] [--json]`: the release verdict for people and for CI.

Same engine as `/bizra gates` (commands/gates.py), same text rendering as the console. Exit codes:
0 when all nine gates PASS, 1 when any gate is FAIL or TBD, 2 on a usage or configuration error
(no such artifacts directory, an unreadable trusted key, a bad config file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.core.config import ConfigError
from bot.surfaces.cli.common import runtime_from
from commands.attestation import KeyFileError
from commands.gates import EvidenceDirError, evaluate_release, release_inputs

EXIT_OK, EXIT_FAILED = 0, 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gates", help="evaluate the nine evidence gates (exit 0 all PASS, 1 any FAIL/TBD, 2 usage/config)"
    )
    parser.add_argument(
        "--artifacts", metavar="DIR", type=Path, help="artifacts directory (default: gates.artifacts_dir)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    runtime = runtime_from(args, surface="cli")
    try:
        report = evaluate_release(**release_inputs(runtime.config.gates, artifacts_dir=args.artifacts))
    except (EvidenceDirError, KeyFileError) as exc:
        raise ConfigError(str(exc)) from exc
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(runtime.registry.renderers.text(report))
    sys.stdout.flush()
    return EXIT_OK if report.all_passed else EXIT_FAILED
