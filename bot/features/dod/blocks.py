"""The `/bizra dod` view as Block Kit: the verdict as header, one section per gate, a footer."""

from __future__ import annotations

from bot.core.blocks import Blocks, context, header, section
from bot.features.dod.render import DodReport, gate_line, headline, slack_footer


def dod_blocks(report: DodReport) -> Blocks:
    return [
        header(headline(report)),
        *(section(gate_line(gate, bold=True)) for gate in report.gates),
        context(slack_footer(report)),
    ]
