"""The gates verdict for people: Block Kit for Slack, a text table for the console and `bizra gates`.

`GateReport` (from commands/gates.py) renders as the table alone (the CLI); `GatesAnswer` is the
report plus who asked, which is what `/bizra gates` posts in the channel. All reply wording for
this feature lives here.
"""

from __future__ import annotations

from pydantic import BaseModel

from bot.core.blocks import Blocks
from commands.gates import GateReport, GateResult, Outcome

EMOJI = {Outcome.PASS: ":white_check_mark:", Outcome.FAIL: ":x:", Outcome.TBD: ":grey_question:"}
DIGEST_CHARS = 12  # enough to tell builds apart at a glance; the full digests are in `bizra gates --json`


class GatesAnswer(BaseModel):
    """What `/bizra gates` answers: the verdict and who asked for it."""

    report: GateReport
    user_id: str
    user_name: str


def headline(report: GateReport) -> str:
    return f"Release gates: grade {report.grade.value} · score {report.score:.3f}"


def tally(report: GateReport) -> str:
    return f"{report.passed} PASS · {report.failed} FAIL · {report.tbd} TBD of {len(report.gates)}"


def policy_line(report: GateReport) -> str:
    text = f"policy {report.policy_version}"
    if report.policy_overrides:
        text += f" (overridden: {', '.join(report.policy_overrides)})"
    return text


def _short(digest: str | None) -> str:
    return digest[:DIGEST_CHARS] if digest else "missing"


def _escape(text: str) -> str:
    # Slack mrkdwn treats &, < and > as control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _gate_line(gate: GateResult) -> str:
    line = (
        f"{EMOJI[gate.outcome]} *{gate.number}. {gate.name}* — {_escape(gate.measured)} "
        f"(need {_escape(gate.threshold)}) · `{gate.evidence}`"
    )
    if gate.detail:
        line += f"\n      _{_escape(gate.detail)}_"
    return line


def gates_blocks(answer: GatesAnswer) -> Blocks:
    report = answer.report
    verdict = "ready to release" if report.all_passed else "NOT ready: every gate must PASS"
    digests = " · ".join(f"{name} `{_short(digest)}`" for name, digest in report.digests.items())
    asker = f"<@{answer.user_id}>" if answer.user_id else _escape(answer.user_name)
    return [
        {"type": "header", "text": {"type": "plain_text", "text": headline(report)[:150], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{tally(report)}* — {verdict}"}},
        *({"type": "section", "text": {"type": "mrkdwn", "text": _gate_line(gate)[:3000]}} for gate in report.gates),
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"{digests} · {policy_line(report)} · asked by {asker}"[:3000]}],
        },
    ]


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
    lines.append("sha256: " + " · ".join(f"{name} {_short(digest)}" for name, digest in report.digests.items()))
    if report.attestation_key_id:
        lines.append(f"attestation key: {report.attestation_key_id}")
    lines.append("verdict: " + ("ready to release" if report.all_passed else "NOT ready: every gate must PASS"))
    return "\n".join(lines)


def answer_text(answer: GatesAnswer) -> str:
    return f"{report_text(answer.report)}\nasked by {answer.user_name or answer.user_id}"
