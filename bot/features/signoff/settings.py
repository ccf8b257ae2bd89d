"""`signoff:` in bizra.yaml: who signs each section, which items evidence proves, and the canary rule."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from commands.signoff import DEFAULT_EVIDENCE, ITEMS, SECTION_KEYS, is_source


class Signers(BaseModel):
    """Members of a section's team: Slack user IDs, user-group IDs (`S…`) or roles of `access.roles`."""

    model_config = ConfigDict(extra="forbid")

    users: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)


def _default_sections() -> dict[str, Signers]:
    return {key: Signers() for key in SECTION_KEYS}


class SignoffSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    required_for_canary: bool = Field(
        default=True,
        description='`canary start` requires a complete sign-off; `--force "<reason>"` (canary.force) overrides, '
        "audited.",
    )
    sections: dict[str, Signers] = Field(
        default_factory=_default_sections,
        description="Section (infrastructure, security, sre, engineering) -> who may sign it; nobody by default.",
    )
    evidence: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_EVIDENCE),
        description="Item key -> the evidence that proves it (gates, verify.<check>, dod.<gate>); such an item is "
        "filled from it and cannot be ticked by hand while the evidence is not PASS.",
    )
    links: dict[str, str] = Field(
        default_factory=dict,
        description="Evidence source (gates, verify, dod) -> a URL shown as the link to that evidence (none: the "
        "command that shows it).",
    )

    @field_validator("sections")
    @classmethod
    def _known_sections(cls, value: dict[str, Signers]) -> dict[str, Signers]:
        unknown = sorted(set(value) - set(SECTION_KEYS))
        if unknown:
            raise ValueError(f"unknown section(s) {unknown}; the sections are {SECTION_KEYS}")
        return value

    @field_validator("evidence")
    @classmethod
    def _known_items(cls, value: dict[str, str]) -> dict[str, str]:
        for item, source in value.items():
            if item not in ITEMS:
                raise ValueError(f"{item!r} is not a checklist item (keys look like security.5)")
            if not is_source(source):
                raise ValueError(f"{item}: {source!r} is not an evidence source (gates, verify.<check>, dod.<1..5>)")
        return value
