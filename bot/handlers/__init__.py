"""Every `/bizra` subcommand, one module per feature; importing this package registers them all."""

from bot.handlers import help as _help  # noqa: F401
