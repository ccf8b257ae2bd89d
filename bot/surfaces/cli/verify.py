"""`bizra verify [--json]`: the readiness checklist for a pipeline or a terminal (seed Phases 2 and 4).

Same checks and wording as `/bizra verify`. Exit 0 only when every item is ✅; 1 when any item
failed or could not be checked (a check that cannot be made is never a pass); 2 on a config error.
"""

from __future__ import annotations

import argparse
import sys

from bot.surfaces.cli.common import add_verb, runtime_from

EXIT_OK, EXIT_NOT_READY = 0, 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_verb(
        subparsers, "verify", help="check cluster readiness and the release (exit 0 all ✅, 1 any ❌ or ❔, 2 config)"
    )
    parser.add_argument("--json", action="store_true", help="print the checklist as JSON instead of text")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bot.core.terminal import terminal_text  # lazy: the checklist's modules; `--help` skips them
    from bot.features.verify.handlers import targets_from  # lazy: as above
    from bot.features.verify.ports import verify_ports  # lazy: as above
    from commands.verify import evaluate  # lazy: as above

    runtime = runtime_from(args, surface="cli")
    report = evaluate(verify_ports(runtime), targets_from(runtime), now=runtime.clock.now(),
                      requested_by="bizra verify")
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(terminal_text(runtime.registry.renderers.text(report)))
    sys.stdout.flush()
    return EXIT_OK if report.ready else EXIT_NOT_READY
