"""The gates verdict as Block Kit: grade and score, the tally, one section per gate, digests and who asked."""

from __future__ import annotations

from bot.core.blocks import Blocks, context, header, section
from bot.features.gates.render import GatesAnswer, answer_footer, gate_line, headline, summary_line


def gates_blocks(answer: GatesAnswer) -> Blocks:
    report = answer.report
    return [
        header(headline(report)),
        section(summary_line(report)),
        *(section(gate_line(gate)) for gate in report.gates),
        context(answer_footer(answer)),
    ]
