"""Every `/bizra` subcommand, one module per feature; importing this package registers them all."""

from bot.handlers import audit as _audit  # noqa: F401
from bot.handlers import canary as _canary  # noqa: F401
from bot.handlers import gates as _gates  # noqa: F401
from bot.handlers import help as _help  # noqa: F401
from bot.handlers import rollback as _rollback  # noqa: F401
from bot.handlers import slo as _slo  # noqa: F401
from bot.handlers import verify as _verify  # noqa: F401
