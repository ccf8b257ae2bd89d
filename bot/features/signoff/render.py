"""The sign-off's words: the living checklist (text for the console), answers to ticks."""

from __future__ import annotations

from pydantic import BaseModel

from commands.signoff import ItemState, ItemView, SectionView, SignoffView

TICK_ACTION = "signoff.tick"
TICK_LABEL = "Tick"
MARK = {ItemState.DONE: "✅", ItemState.OPEN: "⬜", ItemState.BLOCKED: "⛔"}


class SignoffMessage(BaseModel):
    """The living message: the whole checklist as it stands."""

    view: SignoffView
    required_for_canary: bool = True


def headline(message: SignoffMessage) -> str:
    done, total = message.view.count()
    state = "complete" if message.view.complete else "open"
    return f"Release sign-off: {state} — {done}/{total} items"


def section_title(section: SectionView) -> str:
    done = sum(1 for v in section.items if v.state is ItemState.DONE)
    return f"{section.section.title} ({done}/{len(section.items)})" + (" — signed" if section.complete else "")


def _link(text: str, link: str, *, slack: bool) -> str:
    if slack and link.startswith(("http://", "https://")):
        return f"<{link}|{text}>"
    return f"{text} ({link})" if link else text


def item_line(view: ItemView, *, slack: bool) -> str:
    def who(user: str) -> str:
        return f"<@{user}>" if slack and user[:1] in "UW" else user

    line = f"{MARK[view.state]} `{view.item.key}` {view.item.text}"
    if view.evidence is not None:
        proof = view.evidence
        line += f" — {proof.status} from {_link(proof.source, proof.link, slack=slack)}: {proof.detail}"
    if view.tick is not None:
        how = "signed the section" if view.tick.whole_section else "ticked"
        line += f" — {how} by {who(view.tick.by)} at {view.tick.at:%Y-%m-%d %H:%M} UTC"
        if view.tick.comment:
            line += f": “{view.tick.comment}”"
    return line


def footer(message: SignoffMessage) -> str:
    rule = ("`canary start` waits for a complete sign-off" if message.required_for_canary
            else "`canary start` does not require the sign-off")
    return (f"updated {message.view.at:%Y-%m-%d %H:%M:%S} UTC · {rule} · tick: `/bizra signoff tick <item> [comment]` "
            "· a section: `/bizra signoff sign <section> <comment>`")


def signoff_text(message: SignoffMessage) -> str:
    lines = [headline(message)]
    for section in message.view.sections:
        lines.append(section_title(section))
        lines += ["  " + item_line(v, slack=False) for v in section.items]
    lines.append(footer(message))
    return "\n".join(lines)
