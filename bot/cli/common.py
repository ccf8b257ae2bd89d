"""What every CLI entry point does first: load config and secrets into a Runtime."""

from __future__ import annotations

import argparse

from bot.config import config_path_from, load_config, load_secrets
from bot.runtime import Runtime


def runtime_from(args: argparse.Namespace, *, surface: str) -> Runtime:
    config = load_config(config_path_from(getattr(args, "config", None)))
    return Runtime(config=config, secrets=load_secrets(), surface=surface)
