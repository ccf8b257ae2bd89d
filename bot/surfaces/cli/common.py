"""What every CLI entry point shares: the options a user may type after the verb, and the config/runtime loaders.

`--config` and `--log-level` are accepted both before the verb (`bizra --config bizra.yaml serve`) and
after it (`bizra serve --config bizra.yaml`); after the verb wins. The sub-parsers' copies default to
`argparse.SUPPRESS`, so leaving them out keeps the top-level value instead of resetting it.

Nothing heavy is imported at module level: `bizra --help` loads only argparse and the verb modules.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.core.config import BizraConfig
    from bot.core.runtime import Runtime

CONFIG_HELP = "bizra.yaml to use (default: $BIZRA_CONFIG, else built-in defaults)"
LOG_LEVEL_HELP = "DEBUG, INFO, WARNING or ERROR (default INFO; ERROR for the console)"


def add_global_options(parser: argparse.ArgumentParser, *, default: Any = None) -> None:
    """`--config` and `--log-level`; `default=argparse.SUPPRESS` on a sub-parser keeps the top-level value."""
    parser.add_argument("--config", default=default, metavar="FILE", help=CONFIG_HELP)
    parser.add_argument("--log-level", default=default, metavar="LEVEL", help=LOG_LEVEL_HELP)


def _verb_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    add_global_options(options, default=argparse.SUPPRESS)
    return options


def add_verb(subparsers: argparse._SubParsersAction, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A verb's (or an action's) parser that also takes `--config` and `--log-level` where the user types them."""
    return subparsers.add_parser(name, parents=[_verb_options()], **kwargs)


def config_from(args: argparse.Namespace) -> BizraConfig:
    """The validated config alone: for verbs that need neither secrets nor services (`bizra gates`)."""
    from bot.core.config import config_path_from, load_config  # lazy: pydantic and every section's models

    return load_config(config_path_from(getattr(args, "config", None)))


def runtime_from(args: argparse.Namespace, *, surface: str) -> Runtime:
    """Config, secrets and the composition root's runtime: for verbs that run handlers or services."""
    from bot.assembly import build_runtime  # lazy: imports every feature and adapter; only these verbs pay it
    from bot.core.config import load_secrets  # lazy: pydantic-settings; only verbs that need secrets pay it

    return build_runtime(config_from(args), load_secrets(), surface=surface)
