"""Imports every renderer module (each registers itself on import)."""

from bot.render import audit as _audit  # noqa: F401
from bot.render import canary as _canary  # noqa: F401
from bot.render import gates as _gates  # noqa: F401
from bot.render import help as _help  # noqa: F401
from bot.render import rollback as _rollback  # noqa: F401
from bot.render import slo as _slo  # noqa: F401
from bot.render import verify as _verify  # noqa: F401
