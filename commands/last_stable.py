"""Which image is the last stable one: the rollback target, and where that answer came from.

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


class HistoryRecord(BaseModel):
    image: str
    source: str
    at: datetime
    by: str


class StableHistory(Protocol):
    def last_stable(self) -> HistoryRecord | None: ...


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
    source: StableSource
    detail: str


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


def resolve_last_stable(
    *, history: StableHistory, cluster: Cluster, target: ReleaseTarget
) -> LastStable | LastStableRefused:
    """Walk the sources in order; reads only (history, the Deployment, the primary). Raises ClusterError."""
    record = history.last_stable()
    if record is not None:
        return _checked(record.image, StableSource.HISTORY,
                        f"recorded {record.at:%Y-%m-%d %H:%M UTC} by {record.by} ({record.source})", target)
    deployment = cluster.read_deployment(namespace=target.namespace, name=target.deployment)
    annotated = deployment.annotations.get(target.annotation)
    if annotated:
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
            return _checked(image, StableSource.FLAGGER_PRIMARY,
                            f"container `{target.container}` of {target.namespace}/{target.primary}", target)
        if target.flagger_primary is True:
            return LastStableRefused(
                reason=f"release.flagger_primary is on, but {target.namespace}/{target.primary} does not exist, and "
                "neither the bot's history nor the annotation names a stable image.",
                what_to_do=_WHAT_TO_DO.format(annotation=target.annotation, repository=target.repository,
                                              namespace=target.namespace, deployment=target.deployment),
            )
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


def _checked(image: str, source: StableSource, detail: str, target: ReleaseTarget) -> LastStable | LastStableRefused:
    problem = digest_problem(image, target.repository)
    if problem:
        return LastStableRefused(
            reason=f"The {source} gives {problem}; the bot only rolls back to a digest it can verify.",
            what_to_do=_WHAT_TO_DO.format(annotation=target.annotation, repository=target.repository,
                                          namespace=target.namespace, deployment=target.deployment),
        )
    return LastStable(image=image.strip(), source=source, detail=detail)
