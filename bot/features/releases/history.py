"""The bot's release history: which image became stable, how (canary stage 3, rollback), when and by whom.

`record_stable(...)` is called when a release completes (canary stage 3 baked) or a rollback
restores an image: it appends to the `release_history` table and writes the last-stable
annotation (`release.last_stable_annotation`) on the Deployment, so responders following the
kubectl runbook find the same answer. `last_stable(runtime)` reads the newest entry; rollback's
target resolution starts here (commands/last_stable.py).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bot.core.runtime import Runtime
from commands.cluster import Cluster, ClusterError
from commands.last_stable import HistoryRecord, ReleaseTarget, digest_problem

log = logging.getLogger(__name__)

_DDL = """
CREATE TABLE IF NOT EXISTS release_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    image TEXT NOT NULL,
    source TEXT NOT NULL,
    at TEXT NOT NULL,
    by TEXT NOT NULL
);
"""


def release_target(runtime: Runtime) -> ReleaseTarget:
    release = runtime.config.release
    return ReleaseTarget(
        namespace=release.namespace,
        deployment=release.deployment,
        container=release.container,
        repository=release.image_repository,
        selector=release.label_selector,
        annotation=release.last_stable_annotation,
        flagger_primary=release.flagger_primary,
    )


def last_stable(runtime: Runtime) -> HistoryRecord | None:
    db = runtime.store.get()
    db.ensure_schema(_DDL)
    row = db.connect().execute("SELECT image, source, at, by FROM release_history ORDER BY id DESC LIMIT 1").fetchone()
    return HistoryRecord(**dict(row)) if row else None


def history(runtime: Runtime, n: int = 20) -> list[HistoryRecord]:
    db = runtime.store.get()
    db.ensure_schema(_DDL)
    rows = db.connect().execute("SELECT image, source, at, by FROM release_history ORDER BY id DESC LIMIT ?", (n,))
    return [HistoryRecord(**dict(row)) for row in rows.fetchall()]


class StoreHistory:
    """`commands.last_stable.StableHistory` over the store."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def last_stable(self) -> HistoryRecord | None:
        return last_stable(self._runtime)


def record_stable(runtime: Runtime, *, image: str, source: str, by: str, cluster: Cluster | None = None,
                  at: datetime | None = None) -> str | None:
    """Record `image` as the last stable version and annotate the Deployment with it.

    Refuses (ValueError) an image not pinned by digest in the release repository. Returns None, or
    a warning sentence when the annotation could not be written (the history entry still counts:
    it is the first source rollback reads).
    """
    target = release_target(runtime)
    problem = digest_problem(image, target.repository)
    if problem:
        raise ValueError(f"Not recorded as stable: {problem}.")
    db = runtime.store.get()
    db.ensure_schema(_DDL)
    when = (at or runtime.clock.now()).astimezone(UTC).isoformat()
    with db.transaction() as connection:
        connection.execute("INSERT INTO release_history (image, source, at, by) VALUES (?, ?, ?, ?)",
                           (image, source, when, by))
    if cluster is None:
        try:
            cluster = runtime.cluster.get()
        except ClusterError as exc:
            return f"The last-stable annotation was not written: {exc}"
    try:
        cluster.set_annotations(namespace=target.namespace, name=target.deployment,
                                annotations={target.annotation: image})
    except ClusterError as exc:
        log.warning("last-stable annotation not written: %s", exc)
        return f"The last-stable annotation `{target.annotation}` was not written: {exc}"
    return None
