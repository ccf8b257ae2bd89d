"""The `/bizra dod` view's words: plain text for the console and the CLI, the lines Block Kit uses.

One line per gate with ✅ / ❌ / ❔, its number, title and evidence; every ❌ says what to do, every ❔
why it could not be judged. All reply wording of this feature lives here (the gates' own sentences
come from commands/dod.py and commands/verify.py); the Block Kit renderer is in `blocks.py`.
"""

from __future__ import annotations

from commands.dod import DodGate, DodOutcome, DodReport

EMOJI = {DodOutcome.PASS: "✅", DodOutcome.FAIL: "❌", DodOutcome.UNKNOWN: "❔"}


def headline(report: DodReport) -> str:
    total = len(report.gates)
    if report.done:
        return f"Definition of Done: done — {report.passed}/{total} gates pass"
    failed, unknown = report.count(DodOutcome.FAIL), report.count(DodOutcome.UNKNOWN)
    parts = [f"{failed} failed"] if failed else []
    parts += [f"{unknown} could not be judged"] if unknown else []
    return f"Definition of Done: NOT done — {report.passed}/{total} gates pass, " + ", ".join(parts)


def gate_line(gate: DodGate, *, bold: bool) -> str:
    """One gate; `bold` puts its title in mrkdwn bold (Slack)."""
    title = f"*{gate.number} {gate.title}*" if bold else f"{gate.number} {gate.title}"
    said = f"could not judge: {gate.evidence}" if gate.outcome is DodOutcome.UNKNOWN else gate.evidence
    line = f"{EMOJI[gate.outcome]} {title} — {said}"
    if gate.fix:
        line += f"\n      ↳ fix: {gate.fix}"
    return line


def _when(report: DodReport) -> str:
    return report.checked_at.strftime("%Y-%m-%d %H:%M:%S UTC")


def footer(report: DodReport) -> str:
    who = f" · asked by {report.requested_by}" if report.requested_by else ""
    return f"namespace {report.namespace} · checked {_when(report)}{who}"


def slack_footer(report: DodReport) -> str:
    """The footer in mrkdwn: the namespace as code, a Slack user id as a mention."""
    who = report.requested_by
    if who.startswith(("U", "W")):
        who = f"<@{who}>"
    return f"namespace `{report.namespace}` · checked {_when(report)}" + (f" · asked by {who}" if who else "")


def dod_text(report: DodReport) -> str:
    return "\n".join([headline(report), *(gate_line(g, bold=False) for g in report.gates), footer(report)])
