"""The gates feature on the registry: its subcommands, buttons and renderers."""

from __future__ import annotations

from bot.core.runtime import Registry, Subcommand
from bot.features.gates.blocks import gates_blocks
from bot.features.gates.handlers import show_gates
from bot.features.gates.render import GateReport, GatesAnswer, answer_text, report_text


def register(registry: Registry) -> None:
    registry.add_subcommand(
        Subcommand(
            name="gates",
            handler=show_gates,
            usage="gates",
            summary="Evaluate the nine evidence gates: grade, score, each gate vs threshold.",
        )
    )
    registry.renderers.add(GatesAnswer, text=answer_text, blocks=gates_blocks)
    registry.renderers.add(GateReport, text=report_text)
