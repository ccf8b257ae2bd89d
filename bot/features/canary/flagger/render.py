"""The Flagger gate's words (console text and Slack fallback); `blocks.py` builds Block Kit from the same lines.

Two messages: the run's message in the release channel (the revision Flagger asks to roll out,
its state, Approve / Deny while it waits), and a Flagger event in that message's thread.
"""

from __future__ import annotations

from pydantic import BaseModel

from bot.features.canary.flagger.store import FlaggerRun, RunState
from commands.canary import short_image

APPROVE_ACTION = "flagger.approve"
DENY_ACTION = "flagger.deny"
APPROVE_CONFIRM = ("Approve this rollout?", "Approve", "Cancel")
DENY_CONFIRM = ("Deny this rollout?", "Deny", "Keep waiting")
DENY_REASON = "denied with the Deny button"


class FlaggerRunMessage(BaseModel):
    """The run's message: what Flagger asks to roll out, and where the run stands."""

    run: FlaggerRun
    canary: str  # namespace/name
    stages: list[int]  # the step weights, in stage order
    buttons: bool = True


class FlaggerEvent(BaseModel):
    """One Flagger event (its `event` webhook), posted in the run's thread."""

    run_id: str
    canary: str
    event_type: str
    message: str
    phase: str = ""


class FlaggerNote(BaseModel):
    """A step of the gate itself in the run's thread (a checksum adopted, a stage reached, a new revision)."""

    text: str


def short_checksum(checksum: str) -> str:
    return checksum[:12] if checksum else "(none)"


_STATE_LINE = {
    RunState.WAITING: ":double_vertical_bar: Flagger is holding the rollout until it is started: Approve (or "
                      "`/bizra canary start`) checks the evidence gates and the sign-off first; Deny makes Flagger "
                      "roll it back.",
    RunState.APPROVED: ":white_check_mark: Approved by {who}: Flagger may roll out; each stage moves on only after "
                       "`/bizra canary promote` (bake and SLOs as for every canary).",
    RunState.DENIED: ":no_entry: Denied by {who}: {reason}. Flagger's rollback hook rolls it back.",
    RunState.ABORTED: ":leftwards_arrow_with_hook: Aborted by {who}: {reason}. Flagger's rollback hook rolls it back.",
    RunState.COMPLETED: ":white_check_mark: Flagger promoted it: the primary runs this revision.",
    RunState.FAILED: ":x: Flagger rolled it back: {reason}.",
    RunState.SUPERSEDED: ":fast_forward: A new revision replaced it ({reason}); every approval of this one is void. "
                         "See the newest message.",
}


def run_lines(message: FlaggerRunMessage) -> list[str]:
    run = message.run
    weights = " → ".join(f"{w}%" for w in message.stages)
    who = f"<@{run.decided_by}>" if run.decided_by.startswith(("U", "W")) else (run.decided_by or "someone")
    state = _STATE_LINE[run.state].format(who=who, reason=run.reason or "no reason given")
    return [
        f":bird: Flagger asks to roll out `{short_image(run.image)}` on Canary {message.canary}",
        state,
        f"Revision: checksum `{short_checksum(run.checksum)}`, pod template `{run.template_hash}`, "
        f"image `{run.image}`. Stages {weights}, then promotion.",
        f"Flagger run `{run.id}` · approvals are bound to this checksum and pod template only",
    ]


def run_text(message: FlaggerRunMessage) -> str:
    return "\n".join(run_lines(message))


def approve_question(message: FlaggerRunMessage) -> str:
    return (f"Start the canary of `{short_image(message.run.image)}` (checksum "
            f"{short_checksum(message.run.checksum)})? The evidence gates and the sign-off are checked first.")


DENY_QUESTION = "Flagger will roll this revision back and the primary keeps serving all traffic."


def button_value(run: FlaggerRun) -> str:
    return f"{run.id}:{run.checksum}"


def event_line(event: FlaggerEvent) -> str:
    icon = ":warning:" if event.event_type.lower() in ("warning", "error") else ":information_source:"
    phase = f" ({event.phase})" if event.phase else ""
    return f"{icon} Flagger{phase}: {event.message}"


def event_text(event: FlaggerEvent) -> str:
    return event_line(event)


def note_text(note: FlaggerNote) -> str:
    return note.text


def stale_refusal(*, clicked: str, checksum: str, current: FlaggerRun | None, canary: str) -> str:
    """The answer to a click on the message of a revision Flagger no longer rolls out."""
    now = (f"Flagger now rolls out `{short_image(current.image)}` (checksum `{short_checksum(current.checksum)}`, run "
           f"`{current.id}`)") if current else "Flagger asks about no revision now"
    return (f":no_entry: This message is for an older revision of Canary {canary} (run `{clicked}`, checksum "
            f"`{short_checksum(checksum)}`). {now}. Nothing was approved or denied; use the newest message.")
