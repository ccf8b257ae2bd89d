"""`bizra console`: the terminal adapter."""

from __future__ import annotations

import argparse

from bot.surfaces.cli.common import runtime_from
from bot.surfaces.console import run_console


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("console", help="type /bizra commands in the terminal; no Slack needed")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return run_console(runtime_from(args, surface="console"))
