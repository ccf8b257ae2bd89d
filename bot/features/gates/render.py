"""The gates verdict for people: the words for Slack, and a text table for the console and `bizra gates`.

`GateReport` (from commands/gates.py) renders as the table alone (the CLI); `GatesAnswer` is the
report plus who asked, which is what `/bizra gates` posts in the channel. All reply wording for
this feature lives here; the Block Kit renderer (`blocks.py`) builds on these lines. This module
imports no slack_sdk: `bizra gates` renders through it and should not pay for that import.
"""

from __future__ import annotations

from pydantic import BaseModel

from commands.gates import GateReport, GateResult, Outcome

EMOJI = {Outcome.PASS: ":white_check_mark:", Outcome.FAIL: ":x:", Outcome.TBD: ":grey_question:"}
DIGEST_CHARS = 12  # enough to tell builds apart at a glance; the full digests are in `bizra gates --json`


class GatesAnswer(BaseModel):
    """What `/bizra gates` answers: the verdict and who asked for it."""

    report: GateReport
    user_id: str
    user_name: str


def headline(report: GateReport) -> str:
    """All PASS: the grade leads. Any FAIL or TBD: the release is blocked, and the grade comes second."""
    grade = f"grade {report.grade.value} · score {report.score:.3f}"
    if report.all_passed:
        return f"Release gates: {grade}"
    blocking = report.failed + report.tbd
    return f"Release BLOCKED: {blocking} of {len(report.gates)} gates not passing ({grade})"


def tally(report: GateReport) -> str:
    return f"{report.passed} PASS · {report.failed} FAIL · {report.tbd} TBD of {len(report.gates)}"


def policy_line(report: GateReport) -> str:
    text = f"policy {report.policy_version}"
    if report.policy_overrides:
        text += f" (overridden: {', '.join(report.policy_overrides)})"
    return text


def verdict(report: GateReport) -> str:
    return "ready to release" if report.all_passed else "NOT ready: every gate must PASS"


def short_digest(digest: str | None) -> str:
    return digest[:DIGEST_CHARS] if digest else "missing"


def escape(text: str) -> str:
    # Slack mrkdwn treats &, < and > as control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- Slack's lines (mrkdwn) -----------------------------------------------------------------------
def summary_line(report: GateReport) -> str:
    return f"*{tally(report)}* — {verdict(report)}"


def gate_line(gate: GateResult) -> str:
    line = (
        f"{EMOJI[gate.outcome]} *{gate.number}. {gate.name}* — {escape(gate.measured)} "
        f"(need {escape(gate.threshold)}) · `{gate.evidence}`"
    )
    if gate.detail:
        line += f"\n      _{escape(gate.detail)}_"
    return line


def answer_footer(answer: GatesAnswer) -> str:
    report = answer.report
    digests = " · ".join(f"{name} `{short_digest(digest)}`" for name, digest in report.digests.items())
    asker = f"<@{answer.user_id}>" if answer.user_id else escape(answer.user_name)
    return f"{digests} · {policy_line(report)} · asked by {asker}"


# -- the console and the CLI (text) ---------------------------------------------------------------
def _table(report: GateReport) -> list[str]:
    rows = [("#", "gate", "outcome", "measured", "threshold", "evidence")]
    rows += [(str(g.number), g.name, g.outcome.value, g.measured, g.threshold, g.evidence) for g in report.gates]
    widths = [max(len(row[col]) for row in rows) for col in range(5)]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[col].ljust(widths[col]) for col in range(5)] + [row[5]]
        lines.append("  ".join(cells).rstrip())
        gate = report.gates[index - 1] if index else None
        if gate is not None and gate.detail:
            lines.append(f"{'':>{widths[0]}}  ↳ {gate.detail}")
    return lines


def report_text(report: GateReport) -> str:
    lines = [f"{headline(report)} ({tally(report)})", f"{policy_line(report)} · artifacts {report.artifacts_dir}", ""]
    lines += _table(report)
    lines.append("")
    lines.append("sha256: " + " · ".join(f"{name} {short_digest(digest)}" for name, digest in report.digests.items()))
    if report.attestation_key_id:
        lines.append(f"attestation key: {report.attestation_key_id}")
    lines.append(f"verdict: {verdict(report)}")
    return "\n".join(lines)


def answer_text(answer: GatesAnswer) -> str:
    return f"{report_text(answer.report)}\nasked by {answer.user_name or answer.user_id}"
