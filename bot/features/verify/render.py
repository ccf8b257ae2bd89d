"""The `/bizra verify` checklist's words: plain text for the console, the lines the Block Kit renderer uses.

One line per check with ✅ / ❌ / ❔, what was seen, and for every ❌ what to do. All reply wording
of this feature lives here (the checks' own sentences come from commands/verify.py); the Block Kit
renderer is in `blocks.py`.
"""

from __future__ import annotations

from commands.verify import Check, CheckStatus, VerifyReport

EMOJI = {CheckStatus.PASS: "✅", CheckStatus.FAIL: "❌", CheckStatus.UNKNOWN: "❔"}


def headline(report: VerifyReport) -> str:
    passed, total = report.count(CheckStatus.PASS), len(report.checks)
    if report.ready:
        return f"Cluster verify: ready — {passed}/{total} checks pass"
    failed, unknown = report.count(CheckStatus.FAIL), report.count(CheckStatus.UNKNOWN)
    parts = [f"{failed} failed"] if failed else []
    parts += [f"{unknown} could not be checked"] if unknown else []
    return f"Cluster verify: NOT ready — {passed}/{total} pass, " + ", ".join(parts)


def check_line(check: Check, *, bold: bool) -> str:
    """One check; `bold` puts its title in mrkdwn bold (Slack)."""
    title = f"*{check.title}*" if bold else check.title
    line = f"{EMOJI[check.status]} {title} — {check.detail}"
    if check.status is CheckStatus.UNKNOWN:
        line = f"{EMOJI[check.status]} {title} — could not check: {check.detail}"
    if check.fix:
        line += f"\n      ↳ fix: {check.fix}"
    return line


def _when(report: VerifyReport) -> str:
    return report.checked_at.strftime("%Y-%m-%d %H:%M:%S UTC")


def footer(report: VerifyReport) -> str:
    return f"namespace {report.namespace} · checked {_when(report)} · asked by {report.requested_by}"


def slack_footer(report: VerifyReport) -> str:
    """The footer in mrkdwn: the namespace as code, a Slack user id as a mention."""
    who = f"<@{report.requested_by}>" if report.requested_by.startswith(("U", "W")) else report.requested_by
    return f"namespace `{report.namespace}` · checked {_when(report)} · asked by {who}"


def verify_text(report: VerifyReport) -> str:
    return "\n".join([headline(report), *(check_line(c, bold=False) for c in report.checks), footer(report)])
