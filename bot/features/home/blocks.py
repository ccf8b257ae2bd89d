"""The Home tab as a Block Kit `home` view, from the lines in `render.py`.

The Promote and Abort buttons are the run message's own (`canary.promote`, `canary.abort`, value
`<run id>:<stage index>`), so the canary feature's handler runs them with its usual checks; they are
shown only to a viewer who holds the permission. *Roll back…* (`home.rollback`) is the tab's own:
shown to a viewer holding `rollback`, it posts a rollback confirmation in the release channel.
"""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ConfirmObject, DividerBlock, MarkdownTextObject
from slack_sdk.models.views import View

from bot.core.blocks import Blocks, context, header, packed_sections
from bot.features.canary.render import (
    ABORT_ACTION,
    ABORT_CONFIRM,
    ABORT_LABEL,
    ABORT_QUESTION,
    PROMOTE_ACTION,
    PROMOTE_CONFIRM,
)
from bot.features.home.render import (
    HEADER,
    ROLLBACK_ACTION,
    ROLLBACK_DIALOG,
    ROLLBACK_LABEL,
    HomeView,
    alert_lines,
    canary_lines,
    engine_line,
    footer,
    release_lines,
    rollback_lines,
    rollback_question,
    slo_lines,
)

MAX_VIEW_BLOCKS = 100  # Slack's limit for a Home view


def _confirm(words: tuple[str, str, str], question: str) -> ConfirmObject:
    title, yes, no = words
    return ConfirmObject(title=title, text=MarkdownTextObject(text=question), confirm=yes, deny=no)


def _buttons(view: HomeView) -> Blocks:
    canary = view.canary
    if canary is None or canary.stage_number is None or canary.pending:
        return []
    value = f"{canary.run_id}:{canary.stage_index}"
    elements = []
    if view.can_promote:
        elements.append(ButtonElement(
            text=canary.next_label, action_id=PROMOTE_ACTION, value=value, style="primary",
            confirm=_confirm(PROMOTE_CONFIRM, "The promotion policy checks the bake and the SLOs first; refused, "
                                              "nothing changes. The step is posted in the run's thread.")))
    if view.can_abort:
        elements.append(ButtonElement(text=ABORT_LABEL, action_id=ABORT_ACTION, value=value, style="danger",
                                      confirm=_confirm(ABORT_CONFIRM, ABORT_QUESTION)))
    return [ActionsBlock(block_id=f"home-canary-{canary.run_id}", elements=elements)] if elements else []


def _rollback_button(view: HomeView) -> Blocks:
    if not view.can_rollback:
        return []
    button = ButtonElement(text=ROLLBACK_LABEL, action_id=ROLLBACK_ACTION, value="default", style="danger",
                           confirm=_confirm(ROLLBACK_DIALOG, rollback_question(view)))
    return [ActionsBlock(block_id="home-rollback", elements=[button])]


def home_blocks(view: HomeView) -> Blocks:
    blocks: Blocks = [header(HEADER), context(engine_line(view))]
    blocks += packed_sections(canary_lines(view))
    blocks += _buttons(view)
    blocks.append(DividerBlock())
    blocks += packed_sections([*slo_lines(view), *alert_lines(view)])
    blocks += packed_sections(rollback_lines(view))
    blocks += _rollback_button(view)
    blocks.append(DividerBlock())
    blocks += packed_sections(release_lines(view))
    body = blocks[: MAX_VIEW_BLOCKS - 1]
    return [*body, context(footer(view))]


def home_view(view: HomeView) -> View:
    return View(type="home", blocks=home_blocks(view))
