"""Which image is the last stable one: the rollback target, and where that answer came from.

The default target is the newest stable image that *differs from what runs now* (right after a
release, that is the previous release, not the one just released). A person may choose another
(`/bizra rollback --to <digest|release #>`, or the confirmation's select menu): `chosen_target`.

The seed reads `flagger.app/last-stable-revision`, which Flagger never sets. The order here:
(1) the bot's own release history (the last image that completed stage 3, or that a rollback
restored); (2) the annotation the bot maintains on the Deployment (name in config); (3) when
Flagger manages the target, the image of the `<name>-primary` Deployment. The first source that
has a value decides: a value that is not `<repository>@sha256:<64 hex>` of the configured
repository is refused with what to do, never passed over for a later source (a bad value means
something is wrong, and guessing past it could roll back to the wrong version).
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol

from pydantic import BaseModel

from commands.cluster import Cluster

DIGEST_REFERENCE = re.compile(r"^(?P<repository>[a-z0-9][a-z0-9._:/-]*[a-z0-9])@sha256:(?P<digest>[0-9a-f]{64})$")


class StableSource(StrEnum):
    HISTORY = "bot release history"
    ANNOTATION = "deployment annotation"
    FLAGGER_PRIMARY = "Flagger primary deployment"


class ReleaseOutcome(StrEnum):
    """How a release in the bot's history ended (or, for `restored`, what a rollback put back)."""

    COMPLETED = "completed"
    ABORTED = "aborted"
    ROLLED_BACK = "rolled back"
    RESTORED = "restored"


# A rollback may return to these by default; aborted and rolled-back releases are not stable.
STABLE_OUTCOMES = frozenset({ReleaseOutcome.COMPLETED, ReleaseOutcome.RESTORED})


class HistoryRecord(BaseModel):
    image: str
    source: str
    at: datetime
    by: str
    id: int = 0  # the release number people type (`--to #12`)
    outcome: ReleaseOutcome = ReleaseOutcome.COMPLETED

    @property
    def digest(self) -> str:
        return self.image.rpartition("@sha256:")[2]


class StableHistory(Protocol):
    def stable(self, *, limit: int = 50) -> list[HistoryRecord]:
        """Stable entries (completed or restored), newest first."""
        ...

    def recent(self, *, limit: int = 50) -> list[HistoryRecord]:
        """All entries, newest first."""
        ...

    def entry(self, number: int) -> HistoryRecord | None: ...


def short_digest(image: str) -> str:
    """`sha256:` and the first 12 hex of a pinned reference (the whole value when it is not one)."""
    digest = image.rpartition("@sha256:")[2]
    return f"sha256:{digest[:12]}" if digest != image else image


class ReleaseTarget(BaseModel):
    """What is released where (from `release` in the config)."""

    namespace: str
    deployment: str
    container: str
    repository: str
    selector: str
    annotation: str
    flagger_primary: bool | Literal["auto"] = "auto"

    @property
    def primary(self) -> str:
        return f"{self.deployment}-primary"


class LastStable(BaseModel):
    image: str
    source: StableSource | str
    detail: str
    record: HistoryRecord | None = None  # set when the history gave the answer


class LastStableRefused(BaseModel):
    reason: str
    what_to_do: str


def digest_problem(image: str, repository: str) -> str | None:
    """Why `image` is not a pinned reference in `repository`, or None when it is; purely computational."""
    match = DIGEST_REFERENCE.match(image.strip())
    if not match:
        return f"`{image}` is not an image pinned by digest (`{repository}@sha256:<64 hex>`)"
    if match.group("repository") != repository:
        return f"`{image}` is not from the release repository `{repository}`"
    return None


def history_detail(record: HistoryRecord) -> str:
    return f"release #{record.id}, {record.outcome} {record.at:%Y-%m-%d %H:%M UTC} by {record.by} ({record.source})"


def resolve_last_stable(
    *, history: StableHistory, cluster: Cluster, target: ReleaseTarget, running: str | None = None
) -> LastStable | LastStableRefused:
    """Walk the sources in order; reads only (history, the Deployment, the primary). Raises ClusterError.

    A value equal to `running` (what the Deployment runs now) is passed over: rolling back to it would
    change nothing. When every value found equals it, the answer is a refusal saying so.
    """
    same: tuple[str, StableSource] | None = None
    for record in history.stable():
        if running is not None and record.image == running:
            same = same or (record.image, StableSource.HISTORY)
            continue
        return _checked(record.image, StableSource.HISTORY, history_detail(record), target, record=record)
    deployment = cluster.read_deployment(namespace=target.namespace, name=target.deployment)
    annotated = deployment.annotations.get(target.annotation)
    if annotated and running is not None and annotated.strip() == running:
        same = same or (running, StableSource.ANNOTATION)
    elif annotated:
        return _checked(annotated, StableSource.ANNOTATION,
                        f"annotation `{target.annotation}` on {target.namespace}/{target.deployment}", target)
    if target.flagger_primary is not False:
        primary = cluster.read_object(api_version="apps/v1", kind="Deployment", namespace=target.namespace,
                                      name=target.primary)
        if primary is not None:
            containers = (((primary.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
            image = next((c.get("image", "") for c in containers if c.get("name") == target.container), "")
            if not image:
                return LastStableRefused(
                    reason=f"{target.namespace}/{target.primary} has no container `{target.container}`.",
                    what_to_do=_WHAT_TO_DO.format(annotation=target.annotation, repository=target.repository,
                                                  namespace=target.namespace, deployment=target.deployment),
                )
            if running is not None and image == running:
                same = same or (running, StableSource.FLAGGER_PRIMARY)
                return _nothing_older(same, target)
            return _checked(image, StableSource.FLAGGER_PRIMARY,
                            f"container `{target.container}` of {target.namespace}/{target.primary}", target)
        if target.flagger_primary is True and same is None:
            return LastStableRefused(
                reason=f"release.flagger_primary is on, but {target.namespace}/{target.primary} does not exist, and "
                "neither the bot's history nor the annotation names a stable image.",
                what_to_do=_WHAT_TO_DO.format(annotation=target.annotation, repository=target.repository,
                                              namespace=target.namespace, deployment=target.deployment),
            )
    if same is not None:
        return _nothing_older(same, target)
    return LastStableRefused(
        reason="No last stable image is known: the bot's release history is empty, the Deployment has no "
        f"`{target.annotation}` annotation" + (", and there is no Flagger primary." if target.flagger_primary
                                                else "."),
        what_to_do=_WHAT_TO_DO.format(annotation=target.annotation, repository=target.repository,
                                      namespace=target.namespace, deployment=target.deployment),
    )


_WHAT_TO_DO = (
    "Find the last good digest (the previous release's notes or `kubectl rollout history`), then set it with "
    "`kubectl annotate deployment/{deployment} -n {namespace} --overwrite {annotation}={repository}@sha256:<digest>` "
    "and run the rollback again, or follow ops/runbooks/CANARY-ROLLBACK.md by hand."
)


def _nothing_older(same: tuple[str, StableSource], target: ReleaseTarget) -> LastStableRefused:
    image, source = same
    return LastStableRefused(
        reason=f"{target.namespace}/{target.deployment} already runs the last stable image {image} (from the "
        f"{source}), and no other stable image is known.",
        what_to_do="A rollback to it would change nothing. `/bizra history` lists earlier releases; choose one with "
        "`/bizra rollback --to <digest|release #>`. Look at the SLO alert and the pods; `/bizra canary abort` if a "
        "canary is taking traffic.",
    )


def chosen_target(choice: str, *, history: StableHistory, target: ReleaseTarget) -> LastStable | LastStableRefused:
    """A target a person chose: `#12` / `12` (a release number), or a digest (full reference,
    `sha256:<hex>`, or at least 7 leading hex digits of one the history knows)."""
    raw = choice.strip()
    number = raw.removeprefix("#")
    if number.isdigit() and (raw.startswith("#") or len(number) < 7):
        record = history.entry(int(number))
        if record is None:
            return LastStableRefused(reason=f"There is no release #{number} in the bot's history.",
                                     what_to_do="`/bizra history` lists the releases and their numbers.")
        return _checked(record.image, StableSource.HISTORY, history_detail(record), target, record=record)
    hexpart = raw.rpartition("@")[2].removeprefix("sha256:").lower()
    if not re.fullmatch(r"[0-9a-f]{7,64}", hexpart):
        return LastStableRefused(
            reason=f"`{raw}` is neither a release number (`#12`) nor a digest (`sha256:<hex>`, 7 hex or more).",
            what_to_do="`/bizra history` lists the releases with their numbers and short digests.")
    matches = {r.image: r for r in reversed(history.recent(limit=500)) if r.digest.startswith(hexpart)}
    if len(matches) > 1:
        return LastStableRefused(reason=f"`{raw}` matches {len(matches)} images in the bot's history.",
                                 what_to_do="Type more of the digest, or the release number (`--to #12`).")
    if matches:
        record = next(iter(matches.values()))
        return _checked(record.image, StableSource.HISTORY, history_detail(record), target, record=record)
    if len(hexpart) == 64:
        image = raw if "@" in raw else f"{target.repository}@sha256:{hexpart}"
        return _checked(image, "digest typed with --to", "not in the bot's release history", target)
    return LastStableRefused(reason=f"No release in the bot's history has a digest starting with `{hexpart}`.",
                             what_to_do="Give the whole digest (`sha256:<64 hex>`), or a release number from "
                             "`/bizra history`.")


def _checked(image: str, source: StableSource | str, detail: str, target: ReleaseTarget,
             record: HistoryRecord | None = None) -> LastStable | LastStableRefused:
    problem = digest_problem(image, target.repository)
    if problem:
        return LastStableRefused(
            reason=f"The {source} gives {problem}; the bot only rolls back to a digest it can verify.",
            what_to_do=_WHAT_TO_DO.format(annotation=target.annotation, repository=target.repository,
                                          namespace=target.namespace, deployment=target.deployment),
        )
    return LastStable(image=image.strip(), source=source, detail=detail, record=record)
