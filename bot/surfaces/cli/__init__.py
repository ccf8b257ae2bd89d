"""`bizra` command line: serve, console, gates, attest, and the other entry points.

Each subcommand lives in its own module with `register(subparsers)`; exit codes follow one rule:
0 success, 1 a failed check (a gate, a verification), 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from bot.core.config import ConfigError
from bot.surfaces.cli import attest, console, gates, serve, verify

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

MODULES = (console, serve, gates, attest, verify)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bizra", description="Release ChatOps for BIZRA NODE0.")
    parser.add_argument("--config", help="bizra.yaml to use (default: $BIZRA_CONFIG, else built-in defaults)")
    parser.add_argument("--log-level", default=None,
                        help="DEBUG, INFO, WARNING or ERROR (default INFO; ERROR for the console)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module in MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = args.log_level or ("ERROR" if args.command == "console" else "INFO")
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args))
    except ConfigError as exc:
        print(f"bizra: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
