"""The dod feature on the registry: its subcommand and renderers."""

from __future__ import annotations

from bot.core.runtime import Registry, Subcommand
from bot.features.dod.blocks import dod_blocks
from bot.features.dod.handlers import dod
from bot.features.dod.render import DodReport, dod_text


def register(registry: Registry) -> None:
    registry.add_subcommand(
        Subcommand(
            name="dod",
            handler=dod,
            usage="dod",
            summary="The five Definition-of-Done gates: admission, HPA metric, PoI, WQ proof, canary.",
        )
    )
    registry.renderers.add(DodReport, text=dod_text, blocks=dod_blocks)
