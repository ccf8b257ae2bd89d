"""The readiness checklist's sign-off: its four sections, who may tick what, and when it is complete.

Pure decisions, no I/O. The items are the seed's "SIGN-OFF CHECKLIST" (Infrastructure, Security,
SRE, Engineering); each has a key `<section>.<n>` (1-based, in the seed's order). Some items can
be proven by the bot (`evidence` in the config maps an item to a source: `gates`, `verify.<check>`
or `dod.<gate>`): such an item is filled from its evidence and may not be ticked by hand while the
evidence is anything but PASS (an UNKNOWN — evidence missing or unreadable — is never a pass).

`decide_tick()` answers None (go ahead) or the refusal; `view()` joins the ticks and the evidence
into what the living message shows; `SignoffView.complete` is what `canary start` requires.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class EvidenceStatus(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"


class Evidence(BaseModel):
    """What a source says about an item: its status, a sentence, where to look (text and optional URL)."""

    source: str
    status: EvidenceStatus
    detail: str
    link: str = ""


class Item(BaseModel):
    key: str
    section: str
    number: int
    text: str


class Section(BaseModel):
    key: str
    title: str
    items: list[Item]


_SEED: list[tuple[str, str, list[str]]] = [
    ("infrastructure", "Infrastructure Team", [
        "Kubernetes production cluster provisioned",
        "Namespaces created (bizra-production, flagger-system, monitoring)",
        "Cosign installed and keypair generated",
        "Container registry access configured",
        "Flagger installed and operational",
        "Prometheus + Grafana deployed",
        "Prometheus Adapter configured",
    ]),
    ("security", "Security Team", [
        "Cosign public key distributed to all clusters",
        "Kyverno admission controller deployed",
        "NetworkPolicy review completed",
        "Image scanning configured (Trivy/Snyk)",
        "Unsigned image rejection test verified",
    ]),
    ("sre", "SRE Team", [
        "Canary deployment strategy approved",
        "Rollback runbook reviewed",
        "On-call rotation briefed",
        "Monitoring dashboards validated",
        "PagerDuty escalation policies updated",
    ]),
    ("engineering", "Engineering Team", [
        "All quality gates verified (9 PASS)",
        "Evidence artifacts archived",
        "Release notes prepared",
        "Stakeholder notifications drafted",
        "Post-mortem template prepared",
    ]),
]

CHECKLIST: list[Section] = [
    Section(key=key, title=title,
            items=[Item(key=f"{key}.{n}", section=key, number=n, text=text) for n, text in enumerate(texts, 1)])
    for key, title, texts in _SEED
]
SECTION_KEYS = [section.key for section in CHECKLIST]
ITEMS: dict[str, Item] = {item.key: item for section in CHECKLIST for item in section.items}

# Items the bot can prove by default, and from where.
DEFAULT_EVIDENCE: dict[str, str] = {
    "infrastructure.6": "verify.prometheus_target",
    "security.2": "verify.kyverno",
    "security.5": "dod.1",
    "engineering.1": "gates",
}


def is_source(value: str) -> bool:
    """`gates`, `verify.<check key>` or `dod.<1..5>`."""
    if value == "gates":
        return True
    kind, _, rest = value.partition(".")
    if kind == "verify":
        return bool(rest)
    return kind == "dod" and rest in {"1", "2", "3", "4", "5"}


class Tick(BaseModel):
    """One recorded tick: an item signed by someone (alone, or as part of signing its section)."""

    item: str
    by: str
    at: datetime
    comment: str = ""
    whole_section: bool = False


class ItemState(StrEnum):
    DONE = "done"  # ticked by hand, or proven by evidence
    OPEN = "open"
    BLOCKED = "blocked"  # evidence-backed and the evidence is not PASS


class ItemView(BaseModel):
    item: Item
    state: ItemState
    tick: Tick | None = None
    evidence: Evidence | None = None


class SectionView(BaseModel):
    section: Section
    items: list[ItemView]

    @property
    def complete(self) -> bool:
        return all(view.state is ItemState.DONE for view in self.items)


class SignoffView(BaseModel):
    """The whole checklist now: what the living message shows and what `canary start` requires."""

    sections: list[SectionView]
    at: datetime
    signers: dict[str, list[str]] = Field(default_factory=dict)  # section -> configured users/groups (for display)

    @property
    def complete(self) -> bool:
        return all(section.complete for section in self.sections)

    @property
    def missing(self) -> list[ItemView]:
        return [view for section in self.sections for view in section.items if view.state is not ItemState.DONE]

    def count(self) -> tuple[int, int]:
        views = [view for section in self.sections for view in section.items]
        return sum(1 for v in views if v.state is ItemState.DONE), len(views)


def resolve_item(word: str) -> Item | None:
    """`security.5`, `Security.5` or `sec.5` (a unique section prefix) → the item."""
    section, _, number = word.lower().partition(".")
    matches = [key for key in SECTION_KEYS if key.startswith(section)] if section else []
    if len(matches) != 1 or not number.isdigit():
        return None
    return ITEMS.get(f"{matches[0]}.{int(number)}")


def resolve_section(word: str) -> Section | None:
    matches = [s for s in CHECKLIST if s.key.startswith(word.lower())] if word else []
    return matches[0] if len(matches) == 1 else None


def evidence_refusal(item: Item, evidence: Evidence | None) -> str | None:
    if evidence is None or evidence.status is EvidenceStatus.PASS:
        return None
    said = "fails" if evidence.status is EvidenceStatus.FAIL else "is unknown"
    return (f"`{item.key}` ({item.text}) is proven by evidence, and its evidence {said}: {evidence.detail} "
            f"({evidence.source}). It cannot be ticked by hand while the evidence says otherwise.")


def decide_tick(item: Item, *, member_of: set[str], evidence: Evidence | None) -> str | None:
    """None when the caller (a member of the sections in `member_of`) may tick `item` now."""
    if item.section not in member_of:
        section = next(s for s in CHECKLIST if s.key == item.section)
        return (f"`{item.key}` belongs to the {section.title}; only its members (`signoff.sections."
                f"{item.section}` in the bot's config) can sign it.")
    return evidence_refusal(item, evidence)


def decide_section(section: Section, *, member_of: set[str], evidence: dict[str, Evidence],
                   comment: str) -> list[str]:
    """Refusals for signing a whole section (empty: go ahead). A comment is required."""
    if section.key not in member_of:
        return [f"Only members of the {section.title} (`signoff.sections.{section.key}` in the bot's config) can "
                f"sign it."]
    refusals = [] if comment.strip() else [
        f"Signing the {section.title} as a whole needs a comment: `/bizra signoff sign {section.key} <comment>`."]
    for item in section.items:
        refusal = evidence_refusal(item, evidence.get(item.key))
        if refusal:
            refusals.append(refusal)
    return refusals


def view(*, ticks: list[Tick], evidence: dict[str, Evidence], at: datetime,
         signers: dict[str, list[str]] | None = None) -> SignoffView:
    """Each item: evidence-backed items are DONE exactly when the evidence passes (a tick does not
    outlive failing evidence); the others are DONE once ticked. The latest tick is shown."""
    latest: dict[str, Tick] = {}
    for tick in sorted(ticks, key=lambda t: t.at):
        latest[tick.item] = tick
    sections = []
    for section in CHECKLIST:
        items = []
        for item in section.items:
            proof = evidence.get(item.key)
            ticked = latest.get(item.key)
            if proof is not None:
                state = ItemState.DONE if proof.status is EvidenceStatus.PASS else ItemState.BLOCKED
            else:
                state = ItemState.DONE if ticked else ItemState.OPEN
            items.append(ItemView(item=item, state=state, tick=ticked, evidence=proof))
        sections.append(SectionView(section=section, items=items))
    return SignoffView(sections=sections, at=at, signers=signers or {})


def canary_refusal(signoff: SignoffView) -> str | None:
    """Why `canary start` must wait for the sign-off (None when it is complete)."""
    if signoff.complete:
        return None
    done, total = signoff.count()
    missing = ", ".join(f"`{v.item.key}`" + (" (evidence not PASS)" if v.state is ItemState.BLOCKED else "")
                        for v in signoff.missing[:8])
    more = f" and {len(signoff.missing) - 8} more" if len(signoff.missing) > 8 else ""
    return (f"The sign-off is not complete ({done}/{total}): {missing}{more} still open. See `/bizra signoff`; "
            'a holder of `canary.force` may start anyway with `--force "<reason>"` (audited).')
