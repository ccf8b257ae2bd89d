"""`bizra dod [--json]`: the five Definition-of-Done gates for a pipeline or a terminal.

Same gates and wording as `/bizra dod`. Exit 0 only at 5/5 ✅; 1 when any gate failed or could not
be judged (missing evidence is never a pass); 2 on a config error.
"""

from __future__ import annotations

import argparse
import sys

from bot.surfaces.cli.common import add_verb, runtime_from

EXIT_DONE, EXIT_NOT_DONE = 0, 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_verb(
        subparsers, "dod", help="judge the five Definition-of-Done gates (exit 0 at 5/5 ✅, 1 otherwise, 2 config)"
    )
    parser.add_argument("--json", action="store_true", help="print the gates as JSON instead of text")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bot.core.terminal import terminal_text  # lazy: the DoD view's modules; `--help` skips them
    from bot.features.dod.handlers import dod_report  # lazy: as above

    runtime = runtime_from(args, surface="cli")
    report = dod_report(runtime, requested_by="bizra dod")
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(terminal_text(runtime.registry.renderers.text(report)))
    sys.stdout.flush()
    return EXIT_DONE if report.done else EXIT_NOT_DONE
