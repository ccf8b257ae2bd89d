"""The evidence feature's words: what was archived, where it is kept, where it went."""

from __future__ import annotations

from pydantic import BaseModel


class EvidenceArchived(BaseModel):
    canary_id: str
    image: str
    trigger: str
    outcome: str
    path: str
    files: int
    key_id: str
    uploaded: str | None = None


def archived_line(result: EvidenceArchived) -> str:
    return (f"Evidence archive of canary {result.canary_id} (`{result.image}`, {result.outcome}; {result.trigger}): "
            f"{result.files} files, manifest signed by key {result.key_id}")


def archived_details(result: EvidenceArchived) -> str:
    where = f"kept at `{result.path}`"
    if result.uploaded:
        where += " and uploaded to the release thread"
    return where + f". Check it with `bizra evidence verify {result.path}`."


def archived_text(result: EvidenceArchived) -> str:
    return archived_line(result) + "\n" + archived_details(result)
