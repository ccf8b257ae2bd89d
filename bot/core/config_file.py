"""Where the config file is, and the error that says what is wrong with it.

Kept apart from `bot/core/config.py` (the models of every section) so that the CLI can find the
file and report a problem without building a single model: `bizra --help` and `bizra gates` on the
built-in defaults never pay for the sections they do not read.
"""

from __future__ import annotations

import os
from pathlib import Path


class ConfigError(Exception):
    """A config problem, worded for the person who has to fix the file."""


def config_path_from(argument: str | None) -> Path | None:
    """`--config` wins over `BIZRA_CONFIG`; neither means built-in defaults."""
    chosen = argument or os.environ.get("BIZRA_CONFIG")
    return Path(chosen) if chosen else None
