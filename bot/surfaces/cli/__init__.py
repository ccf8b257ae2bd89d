"""`bizra` command line: serve, console, gates, attest, and the other entry points.

Each subcommand lives in its own module with `register(subparsers)`; exit codes follow one rule:
0 success, 1 a failed check (a gate, a verification), 2 a usage or configuration error.

Start-up is kept short: this package and the verb modules import only argparse and the standard
library; each verb imports what it needs (the config, the composition root, the Bolt app) inside
its `run`, so `bizra --help` loads none of it and `bizra gates` loads only the config and the gates engine.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from bot.surfaces.cli import attest, console, db, dod, evidence, gates, serve, verify
from bot.surfaces.cli.common import LOG_FORMATS, add_global_options

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

MODULES = (console, serve, gates, attest, verify, dod, evidence, db)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bizra", description="Release ChatOps for BIZRA NODE0.")
    add_global_options(parser)  # each verb takes them too (after the verb wins)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module in MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # The bot uses no pydantic plugins; looking for them reads every installed package's metadata at
    # the first model (~10 ms of every start). Setting the variable (even empty) re-enables them.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    parser = build_parser()
    args = parser.parse_args(argv)
    level = args.log_level or ("ERROR" if args.command == "console" else "INFO")
    kind = args.log_format or os.environ.get("BIZRA_LOG_FORMAT") or "text"
    if kind not in LOG_FORMATS:
        parser.error(f"BIZRA_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")
    from bot.core.logs import SECRETS, configure  # lazy: after parsing, so a usage error costs nothing more

    try:
        configure(level=level, kind="json" if kind == "json" else "text")
    except ValueError:  # an unknown level name
        parser.error(f"--log-level {level!r}: choose DEBUG, INFO, WARNING or ERROR")
    from bot.core.config_file import ConfigError  # lazy: keeps `--help` free of it

    try:
        return int(args.run(args))
    except ConfigError as exc:
        print(f"bizra: {SECRETS.redact(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
