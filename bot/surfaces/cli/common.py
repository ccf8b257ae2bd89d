"""What every CLI entry point does first: load config and secrets into a Runtime."""

from __future__ import annotations

import argparse

from bot.assembly import build_runtime
from bot.core.config import config_path_from, load_config, load_secrets
from bot.core.runtime import Runtime


def runtime_from(args: argparse.Namespace, *, surface: str) -> Runtime:
    config = load_config(config_path_from(getattr(args, "config", None)))
    return build_runtime(config, load_secrets(), surface=surface)
