"""`bizra gates [--artifacts DIR] [--json]`: the release verdict for people and for CI.

Same engine as `/bizra gates` (commands/gates.py), same text rendering as the console
(`bot.features.gates.render.report_text`, which the gates feature registers for `GateReport`). Exit
codes: 0 when all nine gates PASS, 1 when any gate is FAIL or TBD, 2 on a usage or configuration
error (no such artifacts directory, an unreadable trusted key, a bad config file).

A CI step pays for what it uses: the config, the engine and the renderer; no secrets, no
composition root, no Slack, Kubernetes or Prometheus client.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.surfaces.cli.common import add_verb, gates_settings_from

EXIT_OK, EXIT_FAILED = 0, 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_verb(
        subparsers, "gates", help="evaluate the nine evidence gates (exit 0 all PASS, 1 any FAIL/TBD, 2 usage/config)"
    )
    parser.add_argument(
        "--artifacts", metavar="DIR", type=Path, help="artifacts directory (default: gates.artifacts_dir)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bot.core.config_file import ConfigError  # lazy: keeps `--help` free of it
    from bot.features.gates.render import report_text  # lazy: as above (the report models)
    from commands.attestation import KeyFileError  # lazy: cryptography, as above
    from commands.gates import EvidenceDirError, evaluate_release, release_inputs  # lazy: as above

    settings = gates_settings_from(args)
    try:
        report = evaluate_release(**release_inputs(settings, artifacts_dir=args.artifacts))
    except (EvidenceDirError, KeyFileError) as exc:
        raise ConfigError(str(exc)) from exc
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(report_text(report))
    sys.stdout.flush()
    return EXIT_OK if report.all_passed else EXIT_FAILED
