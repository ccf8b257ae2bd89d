"""Imports every renderer module (each registers itself on import)."""

from bot.render import help as _help  # noqa: F401
