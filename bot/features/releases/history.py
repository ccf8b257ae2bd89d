"""The bot's release history: which image was released or restored, how it ended, when and by whom.

Each row of `release_history` is one release (a canary run that completed or was aborted) or one
restore (a rollback that recovered): image, source, at, by and `outcome`:
`completed` (canary stage 3 baked: stable), `aborted` (the canary was aborted or auto-rolled back:
never stable), `rolled back` (a completed release that a rollback later took away: no longer
stable) and `restored` (the image a recovered rollback put back: stable).

`record_stable(...)` is called when a release completes or a rollback restores an image: it
appends a row and writes the last-stable annotation (`release.last_stable_annotation`) on the
Deployment, so responders following the kubectl runbook find the same answer. `record_aborted(...)`
appends an aborted release. `StoreHistory` is what rollback's target choice reads
(commands/last_stable.py): the newest stable image that differs from what runs now.

Schema changes are additive: a store written before `outcome` existed gets the column with
ALTER TABLE (its rows were all stable records: `completed`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bot.core.migrations import Migration, Schema
from bot.core.runtime import Runtime
from bot.core.store import Database
from commands.cluster import Cluster, ClusterError
from commands.last_stable import STABLE_OUTCOMES, HistoryRecord, ReleaseOutcome, ReleaseTarget, digest_problem

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

# Version 1 adopts any store written before versioned migrations: the table, and the column added after
# its first release when a store lacks it.
SCHEMA = Schema("releases", [
    Migration(1, _DDL, columns={"release_history": {"outcome": "TEXT NOT NULL DEFAULT 'completed'"}}),
])

_SELECT = "SELECT id, image, source, at, by, outcome FROM release_history"

def _db(runtime: Runtime) -> Database:
    db = runtime.store.get()
    db.ensure(SCHEMA)
    return db


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


def _stable_clause() -> tuple[str, tuple[str, ...]]:
    return f"outcome IN ({', '.join('?' for _ in STABLE_OUTCOMES)})", tuple(str(o) for o in STABLE_OUTCOMES)


def last_stable(runtime: Runtime) -> HistoryRecord | None:
    """The newest stable entry (completed or restored), whatever runs now."""
    where, params = _stable_clause()
    row = _db(runtime).connect().execute(f"{_SELECT} WHERE {where} ORDER BY id DESC LIMIT 1", params).fetchone()
    return HistoryRecord(**dict(row)) if row else None


def history(runtime: Runtime, n: int = 20) -> list[HistoryRecord]:
    """The newest `n` entries, newest first, whatever their outcome."""
    rows = _db(runtime).connect().execute(f"{_SELECT} ORDER BY id DESC LIMIT ?", (n,))
    return [HistoryRecord(**dict(row)) for row in rows.fetchall()]


def entry(runtime: Runtime, number: int) -> HistoryRecord | None:
    row = _db(runtime).connect().execute(f"{_SELECT} WHERE id = ?", (number,)).fetchone()
    return HistoryRecord(**dict(row)) if row else None


class StoreHistory:
    """`commands.last_stable.StableHistory` over the store."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def last_stable(self) -> HistoryRecord | None:
        return last_stable(self._runtime)

    def stable(self, *, limit: int = 50) -> list[HistoryRecord]:
        where, params = _stable_clause()
        rows = _db(self._runtime).connect().execute(f"{_SELECT} WHERE {where} ORDER BY id DESC LIMIT ?",
                                                    (*params, limit))
        return [HistoryRecord(**dict(row)) for row in rows.fetchall()]

    def recent(self, *, limit: int = 50) -> list[HistoryRecord]:
        return history(self._runtime, limit)

    def entry(self, number: int) -> HistoryRecord | None:
        return entry(self._runtime, number)


def _insert(runtime: Runtime, *, image: str, source: str, by: str, outcome: ReleaseOutcome,
            at: datetime | None) -> None:
    when = (at or runtime.clock.now()).astimezone(UTC).isoformat()
    with _db(runtime).transaction() as connection:
        connection.execute("INSERT INTO release_history (image, source, at, by, outcome) VALUES (?, ?, ?, ?, ?)",
                           (image, source, when, by, str(outcome)))


def record_stable(runtime: Runtime, *, image: str, source: str, by: str, cluster: Cluster | None = None,
                  at: datetime | None = None, outcome: ReleaseOutcome = ReleaseOutcome.COMPLETED,
                  replaced: str | None = None) -> str | None:
    """Record `image` as the last stable version and annotate the Deployment with it.

    `outcome` is `completed` (a release) or `restored` (a rollback); for a restore, `replaced` is
    the image rolled back from: its newest completed release is marked `rolled back` (no longer
    stable, so a later rollback does not go back to it). Refuses (ValueError) an image not pinned by
    digest in the release repository. Returns None, or a warning sentence when the annotation could
    not be written (the history entry still counts: it is the first source rollback reads).
    """
    target = release_target(runtime)
    problem = digest_problem(image, target.repository)
    if problem:
        raise ValueError(f"Not recorded as stable: {problem}.")
    if replaced:
        with _db(runtime).transaction() as connection:
            connection.execute(
                "UPDATE release_history SET outcome = ? WHERE id = (SELECT id FROM release_history WHERE image = ? "
                "AND outcome = ? ORDER BY id DESC LIMIT 1)",
                (str(ReleaseOutcome.ROLLED_BACK), replaced, str(ReleaseOutcome.COMPLETED)))
    _insert(runtime, image=image, source=source, by=by, outcome=outcome, at=at)
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


def record_aborted(runtime: Runtime, *, image: str, source: str, by: str, at: datetime | None = None) -> None:
    """Record a release that ended aborted (by hand or by the auto-rollback); never a rollback target by default."""
    _insert(runtime, image=image, source=source, by=by, outcome=ReleaseOutcome.ABORTED, at=at)
