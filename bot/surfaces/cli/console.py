"""`bizra console`: the terminal adapter."""

from __future__ import annotations

import argparse

from bot.surfaces.cli.common import add_verb, runtime_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_verb(subparsers, "console", help="type /bizra commands in the terminal; no Slack needed")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bot.surfaces.console import run_console  # lazy: the runtime and its handlers; `--help` skips them

    return run_console(runtime_from(args, surface="console"))
