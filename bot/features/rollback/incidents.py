"""Incident bundles: what responders and the post-mortem need, written next to the bot.

`write_bundle(...)` makes `<release.rollback.incidents_dir>/<UTC timestamp>/` with the
Deployment and its ReplicaSets before and after the change, the pods and recent events after it,
the SLO snapshot (when the SLO watch offers one; otherwise a note saying why there is none), the
audit entries since the command, and `summary.md` (the same text the thread shows). Collecting is
best effort: a failed read is written into the bundle as that error, never silently skipped.

`share_bundle(...)` then packs the folder as `incident-<stamp>.tar.gz` (inside it, so the folder
stays the one place to look) and uploads that archive into the rollback's thread, beside the summary.
"""

from __future__ import annotations

import json
import logging
import tarfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from bot.core.audit import latest
from bot.core.runtime import Runtime
from bot.features.slo.watch import latest_evaluation
from commands.cluster import Cluster, ClusterError
from commands.last_stable import ReleaseTarget

log = logging.getLogger(__name__)


@dataclass
class Snapshot:
    """Objects read at one moment; failed reads are kept as their error message."""

    parts: dict[str, Any] = field(default_factory=dict)


def _read(call: Any) -> Any:
    try:
        return call()
    except ClusterError as exc:
        return {"error": str(exc)}


def snapshot(cluster: Cluster, target: ReleaseTarget, *, with_pods_and_events: bool = False,
             events_limit: int = 100) -> Snapshot:
    parts: dict[str, Any] = {
        "deployment": _read(lambda: cluster.read_deployment_object(namespace=target.namespace, name=target.deployment)),
        "replicasets": _read(lambda: cluster.list_replica_sets(namespace=target.namespace, selector=target.selector)),
    }
    if with_pods_and_events:
        parts["pods"] = _read(lambda: cluster.list_pods(namespace=target.namespace, selector=target.selector))
        parts["events"] = _read(lambda: cluster.list_events(namespace=target.namespace, limit=events_limit))
    return Snapshot(parts)


def slo_snapshot(runtime: Runtime) -> tuple[Any, str]:
    """(data, note): the SLO watch's latest recorded evaluation, or a note saying why there is none."""
    try:
        data = latest_evaluation(runtime)
    except Exception as exc:  # evidence collection must not stop the bundle
        return None, f"The SLO watch failed to give a snapshot: {exc}"
    if data is None:
        return None, "The SLO watch has no evaluation yet; no SLO snapshot."
    return data, ""


def _json(value: Any) -> str:
    if isinstance(value, BaseModel):
        return value.model_dump_json(indent=2)
    if isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
        return json.dumps([v.model_dump(mode="json") for v in value], indent=2)
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def bundle_dir(root: Path, at: datetime, *, suffix: str) -> Path:
    stamp = at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = root / stamp
    if path.exists():  # two incidents in the same second stay apart
        path = root / f"{stamp}-{suffix}"
    path.mkdir(parents=True, exist_ok=False)
    return path


def write_bundle(runtime: Runtime, *, at: datetime, suffix: str, before: Snapshot, after: Snapshot,
                 since: datetime, summary: str) -> Path:
    root = runtime.config.release.rollback.incidents_dir
    path = bundle_dir(root, at, suffix=suffix)
    files: dict[str, Any] = {}
    for name, value in before.parts.items():
        files[f"{name}-before.json"] = value
    for name, value in after.parts.items():
        files[f"{name}-after.json" if name in ("deployment", "replicasets") else f"{name}.json"] = value
    slo, note = slo_snapshot(runtime)
    files["slo-snapshot.json"] = slo if slo is not None else {"unavailable": note}
    files["audit.json"] = latest(runtime, 200, since=since - timedelta(seconds=1))
    for name, value in files.items():
        (path / name).write_text(_json(value) + "\n", encoding="utf-8")
    (path / "summary.md").write_text(summary.rstrip() + "\n", encoding="utf-8")
    log.info("incident bundle written to %s", path)
    return path


class ThreadUploader(Protocol):
    """Where the archive goes: the rollback's progress thread (`handlers.ProgressThread`)."""

    def upload(self, data: bytes, *, filename: str, title: str) -> None: ...


def pack_bundle(path: Path) -> Path:
    """`path/incident-<stamp>.tar.gz` holding every file of the bundle (summary.md too) under `incident-<stamp>/`."""
    top = f"incident-{path.name}"
    archive = path / f"{top}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for item in sorted(path.iterdir()):
            if item != archive:
                tar.add(item, arcname=f"{top}/{item.name}")
    return archive


def share_bundle(path: Path, thread: ThreadUploader | None) -> Path | None:
    """Pack the bundle and upload it into `thread` (None: the console, where the folder is the answer).

    Best effort like the rest of the bundle: a failure is logged and the rollback's result stands.
    """
    try:
        archive = pack_bundle(path)
    except OSError as exc:
        log.warning("could not pack the incident bundle %s: %s", path, exc)
        return None
    if thread is not None:
        thread.upload(archive.read_bytes(), filename=archive.name, title=f"Incident bundle {path.name}")
    return archive
