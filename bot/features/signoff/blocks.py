"""The living sign-off message as Block Kit: a header, each section with its items, a Tick button per open item."""

from __future__ import annotations

from slack_sdk.models.blocks import ButtonElement, SectionBlock

from bot.core.blocks import Blocks, context, header, mrkdwn, section
from bot.features.signoff.render import (
    TICK_ACTION,
    TICK_LABEL,
    SignoffMessage,
    footer,
    headline,
    item_line,
    section_title,
)
from commands.signoff import ItemState


def signoff_blocks(message: SignoffMessage) -> Blocks:
    blocks: Blocks = [header(headline(message))]
    for part in message.view.sections:
        blocks.append(section(f"*{section_title(part)}*"))
        for view in part.items:
            line = item_line(view, slack=True)
            if view.state is ItemState.OPEN:
                blocks.append(SectionBlock(text=mrkdwn(line), accessory=ButtonElement(
                    text=TICK_LABEL, action_id=f"{TICK_ACTION}.{view.item.key}", value=view.item.key)))
            else:
                blocks.append(section(line))
    blocks.append(context(footer(message)))
    return blocks
