"""Which image is the last stable one: the rollback target, and where that answer came from.

The default target is the newest stable image that *differs from what runs now* (right after a
release, that is the previous release, not the one just released). A person may choose another
(`/bizra rollback --to <digest|release #>`, or the confirmation's select menu): `chosen_target`.

The seed reads `flagger.app/last-stable-revision`, which Flagger never sets. The order here:
(1) the bot's own release history (the last image that completed stage 3, or that a rollback
restored); (2) with the argo-rollouts engine, the Rollout's own record: the image of its stable
ReplicaSet (`status.stableRS`) when the template runs another one (a canary in flight or
aborted), else the ReplicaSet of the revision before it (what `kubectl argo rollouts undo` goes
back to); (3) the annotation the bot maintains on the Deployment (name in config); (4) when
Flagger manages the target, the image of the `<name>-primary` Deployment. With the flagger
engine the primary is asked first, before the history: it is what Flagger serves as stable (a
primary equal to what runs, right after a promotion, is passed over). The first source that
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

from commands.cluster import Cluster, KubeObject

DIGEST_REFERENCE = re.compile(r"^(?P<repository>[a-z0-9][a-z0-9._:/-]*[a-z0-9])@sha256:(?P<digest>[0-9a-f]{64})$")


class StableSource(StrEnum):
    HISTORY = "bot release history"
    ANNOTATION = "deployment annotation"
    FLAGGER_PRIMARY = "Flagger primary deployment"
    ARGO_STABLE_RS = "Argo Rollout stable ReplicaSet"
    ARGO_PREVIOUS_RS = "Argo Rollout previous revision"


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
    # The canary engine (`canary.engine`): with argo-rollouts the release is the Rollout named `rollout`.
    engine: str = "gateway"
    rollout: str | None = None

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
    if target.engine == "flagger" and target.flagger_primary is not False:
        served = _primary_image(cluster, target)
        if isinstance(served, LastStableRefused):
            return served
        if served and served != running:
            return _checked(served, StableSource.FLAGGER_PRIMARY,
                            f"container `{target.container}` of {target.namespace}/{target.primary}", target)
        if served:
            same = (served, StableSource.FLAGGER_PRIMARY)
    for record in history.stable():
        if running is not None and record.image == running:
            same = same or (record.image, StableSource.HISTORY)
            continue
        return _checked(record.image, StableSource.HISTORY, history_detail(record), target, record=record)
    if target.rollout:
        found = _rollout_stable(cluster, target, running=running)
        if found is not None:
            image, source, detail = found
            if running is not None and image == running:
                same = same or (image, source)
            else:
                return _checked(image, source, detail, target)
    deployment = cluster.read_deployment(namespace=target.namespace, name=target.deployment)
    annotated = deployment.annotations.get(target.annotation)
    if annotated and running is not None and annotated.strip() == running:
        same = same or (running, StableSource.ANNOTATION)
    elif annotated:
        return _checked(annotated, StableSource.ANNOTATION,
                        f"annotation `{target.annotation}` on {target.namespace}/{target.deployment}", target)
    if target.flagger_primary is not False:
        primary = _primary_image(cluster, target)
        if isinstance(primary, LastStableRefused):
            return primary
        if primary is not None:
            if running is not None and primary == running:
                same = same or (running, StableSource.FLAGGER_PRIMARY)
                return _nothing_older(same, target)
            return _checked(primary, StableSource.FLAGGER_PRIMARY,
                            f"container `{target.container}` of {target.namespace}/{target.primary}", target)
        if target.flagger_primary is True and same is None:
            return LastStableRefused(
                reason=f"release.flagger_primary is on, but {target.namespace}/{target.primary} does not exist, and "
                "neither the bot's history nor the annotation names a stable image.",
                what_to_do=_what_to_do(target),
            )
    if same is not None:
        return _nothing_older(same, target)
    return LastStableRefused(
        reason="No last stable image is known: the bot's release history is empty, the Deployment has no "
        f"`{target.annotation}` annotation" + (", and there is no Flagger primary." if target.flagger_primary
                                                else "."),
        what_to_do=_what_to_do(target),
    )


def _what_to_do(target: ReleaseTarget) -> str:
    return _WHAT_TO_DO.format(annotation=target.annotation, repository=target.repository,
                              namespace=target.namespace, deployment=target.deployment)


def _primary_image(cluster: Cluster, target: ReleaseTarget) -> str | LastStableRefused | None:
    """The image of the Flagger primary's container; None when there is no primary."""
    primary = cluster.read_object(api_version="apps/v1", kind="Deployment", namespace=target.namespace,
                                  name=target.primary)
    if primary is None:
        return None
    containers = (((primary.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    image = next((c.get("image", "") for c in containers if c.get("name") == target.container), "")
    if not image:
        return LastStableRefused(
            reason=f"{target.namespace}/{target.primary} has no container `{target.container}`.",
            what_to_do=_what_to_do(target))
    return str(image)


ARGO_REVISION = "rollout.argoproj.io/revision"
ARGO_HASH = "rollouts-pod-template-hash"


def _rs_image(rs: KubeObject, container: str) -> str:
    containers = (((rs.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    return str(next((c.get("image", "") for c in containers if c.get("name") == container), ""))


def _rs_labels(rs: KubeObject) -> dict[str, str]:
    return dict((rs.get("metadata") or {}).get("labels") or {})


def _rs_revision(rs: KubeObject) -> int:
    value = str(((rs.get("metadata") or {}).get("annotations") or {}).get(ARGO_REVISION) or "")
    return int(value) if value.isdigit() else 0


def _rollout_stable(cluster: Cluster, target: ReleaseTarget, *,
                    running: str | None) -> tuple[str, StableSource, str] | None:
    """The Rollout's stable ReplicaSet image when the template runs another one, else the previous revision's."""
    rollout = cluster.read_object(api_version="argoproj.io/v1alpha1", kind="Rollout", namespace=target.namespace,
                                  name=target.rollout or "")
    if rollout is None:
        return None
    stable_hash = str((rollout.get("status") or {}).get("stableRS") or "")
    replica_sets = [rs for rs in cluster.list_replica_sets(namespace=target.namespace, selector=ARGO_HASH)
                    if any(ref.get("kind") == "Rollout" and ref.get("name") == target.rollout
                           for ref in (rs.get("metadata") or {}).get("ownerReferences") or [])]

    stable = next((rs for rs in replica_sets if _rs_labels(rs).get(ARGO_HASH) == stable_hash), None)
    where = f"Rollout {target.namespace}/{target.rollout}"
    if stable is not None:
        image = _rs_image(stable, target.container)
        if image and image != running:
            return (image, StableSource.ARGO_STABLE_RS,
                    f"{where}, stableRS {stable_hash} (revision {_rs_revision(stable)})")
    older = sorted((rs for rs in replica_sets if stable is None or _rs_revision(rs) < _rs_revision(stable)),
                   key=_rs_revision, reverse=True)
    for rs in older:
        image = _rs_image(rs, target.container)
        if image and image != running:
            return image, StableSource.ARGO_PREVIOUS_RS, (
                f"{where}, ReplicaSet {_rs_labels(rs).get(ARGO_HASH)} (revision {_rs_revision(rs)}, before the "
                "stable one)")
    if stable is not None:
        image = _rs_image(stable, target.container)
        if image:
            return image, StableSource.ARGO_STABLE_RS, f"{where}, stableRS {stable_hash}"
    return None


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
            what_to_do=_what_to_do(target),
        )
    return LastStable(image=image.strip(), source=source, detail=detail, record=record)
