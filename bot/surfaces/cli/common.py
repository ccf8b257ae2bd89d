"""What every CLI entry point shares: the options a user may type after the verb, and the config/runtime loaders.

`--config`, `--log-level` and `--log-format` are accepted both before the verb (`bizra --config bizra.yaml serve`) and
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
    from bot.features.gates.settings import GatesSettings

CONFIG_HELP = "bizra.yaml to use (default: $BIZRA_CONFIG, else built-in defaults)"
LOG_LEVEL_HELP = "DEBUG, INFO, WARNING or ERROR (default INFO; ERROR for the console)"
LOG_FORMAT_HELP = "text or json: one line per event either way (default: $BIZRA_LOG_FORMAT, else text)"
LOG_FORMATS = ("text", "json")  # bot.core.logs.FORMATS; not imported here, so that `bizra --help` stays light


def add_global_options(parser: argparse.ArgumentParser, *, default: Any = None) -> None:
    """The global options; `default=argparse.SUPPRESS` on a sub-parser keeps the top-level value."""
    parser.add_argument("--config", default=default, metavar="FILE", help=CONFIG_HELP)
    parser.add_argument("--log-level", default=default, metavar="LEVEL", help=LOG_LEVEL_HELP)
    parser.add_argument("--log-format", default=default, choices=LOG_FORMATS, help=LOG_FORMAT_HELP)


def _verb_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    add_global_options(options, default=argparse.SUPPRESS)
    return options


def add_verb(subparsers: argparse._SubParsersAction, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A verb's (or an action's) parser that also takes the global options where the user types them."""
    return subparsers.add_parser(name, parents=[_verb_options()], **kwargs)


def config_from(args: argparse.Namespace) -> BizraConfig:
    """The validated config alone: for verbs that need neither secrets nor services (`bizra gates`)."""
    from bot.core.config import load_config  # lazy: pydantic and every section's models
    from bot.core.config_file import config_path_from  # lazy: as above
    from bot.core.logs import SECRETS  # lazy: as above

    config = load_config(config_path_from(getattr(args, "config", None)))
    # The environment variables the config names hold secrets too: no log line may show their values.
    prometheus = config.slo.prometheus
    SECRETS.add_env([prometheus.bearer_token_env, prometheus.basic_auth_password_env,
                     config.slo.pagerduty.routing_key_env,
                     "BIZRA_STORE_PASSWORD", "PGPASSWORD"])  # the PostgreSQL store's password (docs/store.md)
    return config


def gates_settings_from(args: argparse.Namespace) -> GatesSettings:
    """The `gates:` section: from the config file when there is one (the whole file is validated, so a
    mistake anywhere in it still exits 2), else the defaults alone, without building every section."""
    from bot.core.config_file import config_path_from  # lazy: as above
    from bot.features.gates.settings import GatesSettings  # lazy: pydantic and the gates' models

    if config_path_from(getattr(args, "config", None)) is None:
        return GatesSettings()
    return config_from(args).gates


def runtime_from(args: argparse.Namespace, *, surface: str) -> Runtime:
    """Config, secrets and the composition root's runtime: for verbs that run handlers or services."""
    from bot.assembly import build_runtime  # lazy: imports every feature and adapter; only these verbs pay it
    from bot.core.config import load_secrets  # lazy: pydantic-settings; only verbs that need secrets pay it

    return build_runtime(config_from(args), load_secrets(), surface=surface)
