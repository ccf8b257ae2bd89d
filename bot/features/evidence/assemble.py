"""Assembling one release's evidence archive: read everything the bot knows about the run, sign, keep, upload.

What goes in (layout in docs/evidence.md): the gate report and the artifacts' digests; per stage
its start, end, weight and bake, the SLO series over the stage from Prometheus (range queries, CSV
and JSON, with the query, start, end and step used) and a chart; the promotions and approvals; the
DoD view; the sign-off; the release's audit rows; the timeline in the checklist's form. The
manifest (every file's SHA-256) is signed with the Ed25519 key of `evidence.signing_key_file` or
`$evidence.signing_key_env`; the zip is kept in `evidence.directory` and uploaded to the run's
thread.

Triggers: the sweep (`sweep()`, a scheduler job) finds runs that completed, were aborted or
auto-rolled back, and rollbacks after a run, and archives each once (claimed in the store);
`/bizra evidence` archives on demand. Canary and rollback do not call this module, so the
dependency points one way: evidence reads them.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.adapters.charts import Panel, render_png
from bot.core.audit import AuditOutcome, latest, record
from bot.core.delivery import upload_file
from bot.core.runtime import Runtime
from bot.features.canary import store as canary_store
from bot.features.canary.inputs import slo_samples, stages
from bot.features.dod.handlers import dod_report
from bot.features.evidence import store
from bot.features.signoff.handlers import current as signoff_now
from commands.attestation import KeyFileError
from commands.evidence import (
    StageWindow,
    build_manifest,
    private_key_from_pem,
    series_csv,
    series_json,
    sign_manifest,
    timeline,
    timeline_markdown,
    write_archive,
)
from commands.gates import EvidenceDirError, evaluate_release, release_inputs
from commands.slo import Series, SloState

log = logging.getLogger(__name__)

ENDINGS = {"complete": "completed", "abort": "aborted", "auto_rollback": "rolled back"}
POINTS = 120  # points per SLO series over a stage (the adapter's default; the step is recorded)


class NoRun(Exception):
    """There is no canary run to archive (or not the one asked for)."""


@dataclass(frozen=True)
class Archived:
    canary_id: str
    image: str
    trigger: str
    outcome: str
    path: Path
    files: int
    key_id: str
    uploaded: str | None


def signing_key(runtime: Runtime) -> Ed25519PrivateKey:
    """The key of `evidence.signing_key_file`, else the PEM in `$evidence.signing_key_env`."""
    settings = runtime.config.evidence
    if settings.signing_key_file is not None:
        try:
            pem = settings.signing_key_file.read_bytes()
        except OSError as exc:
            raise KeyFileError(f"evidence signing key {settings.signing_key_file} cannot be read: "
                               f"{exc.strerror or exc}") from exc
        return private_key_from_pem(pem, source=str(settings.signing_key_file))
    value = os.environ.get(settings.signing_key_env)
    if not value:
        raise KeyFileError(f"no evidence signing key: set evidence.signing_key_file or ${settings.signing_key_env}")
    return private_key_from_pem(value.encode(), source=f"${settings.signing_key_env}")


def _entries(runtime: Runtime, canary_id: str) -> list[canary_store.HistoryEntry]:
    return [e for e in reversed(canary_store.history(runtime, 100_000)) if e.canary_id == canary_id]


def latest_run(runtime: Runtime) -> str | None:
    active = canary_store.load(runtime)
    if active is not None:
        return active.run.id
    entries = canary_store.history(runtime, 1)
    return entries[0].canary_id if entries else None


def _windows(runtime: Runtime, entries: list[canary_store.HistoryEntry], end: datetime | None) -> list[StageWindow]:
    configured = stages(runtime)
    moves = [e for e in entries if e.outcome == "ok" and e.event in ("start", "promote") and e.stage_after is not None]
    windows: list[StageWindow] = []
    for position, move in enumerate(moves):
        index = int(move.stage_after or 0)
        stage = configured[index] if index < len(configured) else None
        stop = moves[position + 1].at if position + 1 < len(moves) else end
        windows.append(StageWindow(
            number=index + 1, name=stage.name if stage else f"stage{index + 1}", weight=stage.weight if stage else 0,
            bake_minutes=stage.bake.total_seconds() / 60 if stage else 0.0, start=move.at, end=stop,
            promoted_by=move.actor, forced="forced" in move.detail))
    return windows


def _json(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode()


def _stage_files(runtime: Runtime, window: StageWindow, *, now: datetime) -> dict[str, bytes]:
    folder = f"stages/{window.number}-{window.name}"
    end = window.end or now
    step = max(1, int((end - window.start) / timedelta(seconds=1) / POINTS))
    files: dict[str, bytes] = {f"{folder}/stage.json": _json({
        "number": window.number, "name": window.name, "weight": window.weight,
        "bake_minutes": window.bake_minutes, "start": window.start.isoformat(),
        "end": window.end.isoformat() if window.end else None, "promoted_by": window.promoted_by,
        "forced": window.forced})}
    csv_parts: list[bytes] = []
    exported: dict[str, Any] = {}
    panels: list[Panel] = []
    slo = runtime.config.slo
    for definition in slo.catalog:
        query = definition.promql(slo.window)
        error = ""
        try:
            series: list[Series] = runtime.metrics.get().range(definition, window=slo.window, start=window.start,
                                                               end=end)
        except Exception as exc:  # Prometheus unreachable: the file says so, nothing is made up
            series, error = [], f"{type(exc).__name__}: {exc}"
        exported[definition.name] = {"query": query, "start": window.start.timestamp(), "end": end.timestamp(),
                                     "step_seconds": step, "objective": definition.objective,
                                     "comparator": str(definition.comparator), "error": error,
                                     "series": series_json(series)}
        text = series_csv(definition.name, series)
        csv_parts.append(text if not csv_parts else text.split(b"\n", 1)[1])
        panels.append(Panel(slo=definition, series=series, error=error))
    files[f"{folder}/slo.json"] = _json(exported)
    files[f"{folder}/slo.csv"] = b"".join(csv_parts)
    if panels:
        files[f"{folder}/chart.png"] = render_png(panels, title=f"Stage {window.number} ({window.weight}%) SLOs",
                                                  start=window.start, end=max(end, window.start + timedelta(seconds=1)))
    return files


def _breaches(runtime: Runtime, start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    found: list[tuple[datetime, str]] = []
    previous = SloState.OK
    for sample in slo_samples(runtime, start=start, end=end):
        if sample.state is SloState.BREACHING and previous is not SloState.BREACHING:
            found.append((sample.at, sample.detail or "an SLO breached"))
        previous = sample.state
    return found


def build(runtime: Runtime, *, canary_id: str, trigger: str, by: str,
          rolled_back_at: datetime | None = None, rollback_detail: str = "") -> Archived:
    """Assemble, sign, keep and upload the archive of one run (raises NoRun, KeyFileError, OSError)."""
    entries = _entries(runtime, canary_id)
    if not entries:
        raise NoRun(f"no canary run {canary_id} in the bot's record")
    key = signing_key(runtime)  # before any work: an unsigned archive is not an evidence archive
    now = runtime.clock.now()
    image = entries[0].image
    ending = next((e for e in reversed(entries) if e.event in ENDINGS and e.outcome == "ok"), None)
    outcome = ENDINGS[ending.event] if ending else "running"
    ended_at = ending.at if ending else None
    if rolled_back_at is not None:
        outcome, ended_at = "rolled back", ended_at or rolled_back_at
    started_at = entries[0].at
    windows = _windows(runtime, entries, ended_at)
    files: dict[str, bytes] = {}

    try:
        report = evaluate_release(**release_inputs(runtime.config.gates))
        files["gates/report.json"] = (report.model_dump_json(indent=2) + "\n").encode()
        digests: dict[str, Any] = dict(report.digests)
    except (EvidenceDirError, KeyFileError) as exc:
        files["gates/report.json"] = _json({"error": str(exc)})
        digests = {}
    files["gates/digests.json"] = _json({"artifacts": digests, "image": image,
                                         "image_digest": image.split("@", 1)[1] if "@" in image else None})
    for window in windows:
        files.update(_stage_files(runtime, window, now=now))

    ticks = signoff_now(runtime)
    files["signoff.json"] = (ticks.model_dump_json(indent=2) + "\n").encode()
    files["promotions.json"] = _json({
        "revision": image,
        "promotions": [{"event": e.event, "by": e.actor, "at": e.at.isoformat(), "stage_before": e.stage_before,
                        "stage_after": e.stage_after, "outcome": e.outcome, "forced": "forced" in e.detail,
                        "detail": e.detail, "revision": e.image} for e in entries],
        "approvals": [{"item": v.item.key, "by": v.tick.by, "at": v.tick.at.isoformat(), "comment": v.tick.comment,
                       "whole_section": v.tick.whole_section}
                      for s in ticks.sections for v in s.items if v.tick is not None],
    })
    try:
        files["dod.json"] = (dod_report(runtime, requested_by=by).model_dump_json(indent=2) + "\n").encode()
    except Exception as exc:  # the view could not be built: say so, never a pass
        files["dod.json"] = _json({"status": "UNKNOWN", "reason": f"DoD view not available: {exc}"[:500]})
    rows = [r for r in latest(runtime, 100_000, since=started_at) if ended_at is None or r.at <= max(ended_at, now)]
    files["audit.json"] = _json([r.model_dump(mode="json") for r in reversed(rows)])
    breaches = _breaches(runtime, started_at, ended_at or now)
    rollbacks = [(e.at, f"{e.event} by {e.actor}: {e.detail}") for e in entries
                 if e.event in ("abort", "auto_rollback") and e.outcome == "ok"]
    if rolled_back_at is not None:
        rollbacks.append((rolled_back_at, rollback_detail or "rollback"))
    rows_t = timeline(started_at=started_at, stages=windows, ended_at=ended_at if outcome == "completed" else None,
                      outcome=outcome, breaches=breaches, rollbacks=rollbacks)
    files["timeline.md"] = timeline_markdown(rows_t, breaches=len(breaches), rollbacks=len(rollbacks)).encode()
    files["timeline.json"] = _json([row.model_dump(mode="json") for row in rows_t])

    manifest = build_manifest(files, release=f"{canary_id} {image}", trigger=trigger, created_at=now)
    signature = sign_manifest(manifest, key)
    name = f"evidence-{canary_id}-{trigger.replace(' ', '-')}-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}.zip"
    path = runtime.config.evidence.directory / name
    write_archive(path, files, manifest, signature)
    uploaded = _upload(runtime, path, canary_id=canary_id, outcome=outcome)
    record(runtime, actor=by, channel="", action="evidence.archive", target=f"canary {canary_id}", before="",
           after=str(path), outcome=AuditOutcome.OK,
           detail=f"{trigger}; run {outcome}; {len(files)} files; manifest signed by {signature.key_id}"
           + (f"; uploaded {uploaded}" if uploaded else ""))
    return Archived(canary_id=canary_id, image=image, trigger=trigger, outcome=outcome, path=path, files=len(files),
                    key_id=signature.key_id, uploaded=uploaded)


def _upload(runtime: Runtime, path: Path, *, canary_id: str, outcome: str) -> str | None:
    if not runtime.config.evidence.upload or runtime.surface == "console":
        return None
    where = store.thread_of(runtime, canary_id)
    channel = where[0] if where else (runtime.config.slack.release_channel or None)
    try:
        return upload_file(runtime.poster.get(), path.read_bytes(), filename=path.name,
                           title=f"Evidence archive of canary {canary_id} ({outcome})", channel=channel,
                           thread_ts=where[1] if where else None)
    except Exception as exc:  # kept on disk either way; Slack can be retried by hand (`/bizra evidence`)
        log.warning("could not upload %s: %s", path, exc)
        return None


def _remember_active(runtime: Runtime) -> None:
    active = canary_store.load(runtime)
    if active is not None and active.run.thread_ts:
        channel = runtime.config.slack.release_channel or active.run.channel
        store.remember_thread(runtime, active.run.id, channel=channel, thread_ts=active.run.thread_ts)


def sweep(runtime: Runtime, *, at: datetime) -> list[Archived]:
    """Archive every ended run (and every rollback after a run) that has no archive yet; each once."""
    _remember_active(runtime)
    made: list[Archived] = []
    history = list(reversed(canary_store.history(runtime, 500)))
    for entry in history:
        if entry.event in ENDINGS and entry.outcome == "ok":
            made += _once(runtime, f"{entry.canary_id}:{entry.event}", canary_id=entry.canary_id,
                          trigger=ENDINGS[entry.event], at=at)
    for row in latest(runtime, 200, action_prefix="rollback"):
        if row.action != "rollback" or row.outcome != AuditOutcome.OK:
            continue
        before = [e for e in history if e.event == "start" and e.at <= row.at]
        if before:
            made += _once(runtime, f"rollback:{row.id}", canary_id=before[-1].canary_id, trigger="rolled back",
                          at=at, rolled_back_at=row.at, rollback_detail=f"by {row.actor}: {row.detail}"[:300])
    return made


def _once(runtime: Runtime, key: str, *, canary_id: str, trigger: str, at: datetime, **extra: Any) -> list[Archived]:
    if not store.claim(runtime, key, canary_id=canary_id, trigger=trigger, at=at):
        return []
    try:
        archived = build(runtime, canary_id=canary_id, trigger=trigger, by="bizra-bot (evidence)", **extra)
    except (NoRun, KeyFileError, OSError) as exc:
        store.forget(runtime, key)
        log.warning("evidence archive of %s not built: %s", key, exc)
        return []
    store.done(runtime, key, path=str(archived.path))
    return [archived]
