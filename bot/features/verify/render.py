"""The `/bizra verify` checklist for people: Block Kit for Slack, plain text for the console.

One line per check with ✅ / ❌ / ❔, what was seen, and for every ❌ what to do. All reply wording
of this feature lives here (the checks' own sentences come from commands/verify.py).
"""

from __future__ import annotations

from bot.core.blocks import Blocks
from commands.verify import Check, CheckStatus, VerifyReport

EMOJI = {CheckStatus.PASS: "✅", CheckStatus.FAIL: "❌", CheckStatus.UNKNOWN: "❔"}
_SECTION_LIMIT = 2900  # Slack caps a section's text at 3000 characters


def headline(report: VerifyReport) -> str:
    passed, total = report.count(CheckStatus.PASS), len(report.checks)
    if report.ready:
        return f"Cluster verify: ready — {passed}/{total} checks pass"
    failed, unknown = report.count(CheckStatus.FAIL), report.count(CheckStatus.UNKNOWN)
    parts = [f"{failed} failed"] if failed else []
    parts += [f"{unknown} could not be checked"] if unknown else []
    return f"Cluster verify: NOT ready — {passed}/{total} pass, " + ", ".join(parts)


def _line(check: Check, *, bold: bool) -> str:
    title = f"*{check.title}*" if bold else check.title
    line = f"{EMOJI[check.status]} {title} — {check.detail}"
    if check.status is CheckStatus.UNKNOWN:
        line = f"{EMOJI[check.status]} {title} — could not check: {check.detail}"
    if check.fix:
        line += f"\n      ↳ fix: {check.fix}"
    return line


def footer(report: VerifyReport) -> str:
    when = report.checked_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"namespace {report.namespace} · checked {when} · asked by {report.requested_by}"


def verify_text(report: VerifyReport) -> str:
    return "\n".join([headline(report), *(_line(c, bold=False) for c in report.checks), footer(report)])


def verify_blocks(report: VerifyReport) -> Blocks:
    blocks: Blocks = [{"type": "header", "text": {"type": "plain_text", "text": headline(report)[:150]}}]
    for check in report.checks:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _line(check, bold=True)[:_SECTION_LIMIT]}})
    who = f"<@{report.requested_by}>" if report.requested_by.startswith(("U", "W")) else report.requested_by
    when = report.checked_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    blocks.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": f"namespace `{report.namespace}` · checked {when} · asked by {who}"}]})
    return blocks
