"""The `/bizra verify` checklist as Block Kit: the verdict as header, one section per check, a footer."""

from __future__ import annotations

from bot.core.blocks import Blocks, context, header, section
from bot.features.verify.render import VerifyReport, check_line, headline, slack_footer


def verify_blocks(report: VerifyReport) -> Blocks:
    return [
        header(headline(report)),
        *(section(check_line(check, bold=True)) for check in report.checks),
        context(slack_footer(report)),
    ]
