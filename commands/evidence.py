"""The evidence archive of a release: its files, a manifest of their SHA-256, an Ed25519 signature.

An archive is one zip file. `manifest.json` lists every other file (path, size, SHA-256) and the
release it belongs to; `manifest.sig.json` holds the Ed25519 signature over the manifest's canonical
JSON (keys sorted, no whitespace, UTF-8 — the same canonical form and key ids as `bizra attest`).
`verify_archive()` checks the signature against trusted keys and names every file that changed,
is missing or was added. The timeline is written in the readiness checklist's own form.

No I/O beyond reading and writing the archive file itself: no Slack, no Prometheus, no database.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, Field

from commands.attestation import KeyFileError, TrustedKey, key_id_of
from commands.slo import Series

FORMAT = "bizra-evidence/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig.json"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same content gives the same bytes


class Entry(BaseModel):
    path: str
    size: int
    sha256: str


class Manifest(BaseModel):
    format: str = FORMAT
    release: str
    trigger: str
    created_at: datetime
    files: list[Entry]


class ManifestSignature(BaseModel):
    algorithm: str = "ed25519"
    key_id: str
    signature: str  # base64


def canonical(manifest: Manifest) -> bytes:
    data = manifest.model_dump(mode="json")
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def build_manifest(files: dict[str, bytes], *, release: str, trigger: str, created_at: datetime) -> Manifest:
    entries = [Entry(path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest())
               for path, data in sorted(files.items())]
    return Manifest(release=release, trigger=trigger, created_at=created_at, files=entries)


def sign_manifest(manifest: Manifest, key: Ed25519PrivateKey) -> ManifestSignature:
    return ManifestSignature(key_id=key_id_of(key.public_key()),
                             signature=base64.b64encode(key.sign(canonical(manifest))).decode())


def private_key_from_pem(pem: bytes, *, source: str) -> Ed25519PrivateKey:
    """The signing key from PEM text (a file's content or an environment variable's value)."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{source}: not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{source}: the key is {type(key).__name__}, not Ed25519")
    return key


def write_archive(path: Path, files: dict[str, bytes], manifest: Manifest, signature: ManifestSignature) -> None:
    """The zip, written to a temporary name and renamed, so a reader never sees half an archive."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        members = {**files, MANIFEST: manifest.model_dump_json(indent=2).encode(),
                   SIGNATURE: signature.model_dump_json(indent=2).encode()}
        for name, data in sorted(members.items()):
            archive.writestr(zipfile.ZipInfo(name, date_time=_ZIP_TIME), data)
    partial.replace(path)


class ArchiveVerification(BaseModel):
    archive: str
    ok: bool
    release: str = ""
    key_id: str = ""
    files: int = 0
    signature_problem: str = ""
    changed: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    added: list[str] = Field(default_factory=list)

    def problems(self) -> list[str]:
        return ([self.signature_problem] if self.signature_problem else []) + \
            [f"{name}: changed since it was signed" for name in self.changed] + \
            [f"{name}: missing (listed in the manifest)" for name in self.missing] + \
            [f"{name}: added (not in the manifest)" for name in self.added]


def verify_archive(path: Path, trusted: Sequence[TrustedKey]) -> ArchiveVerification:
    """The signature by a trusted key over the manifest, and every file against it."""
    shown = str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
    except (OSError, zipfile.BadZipFile) as exc:
        return ArchiveVerification(archive=shown, ok=False, signature_problem=f"{shown} is not a readable zip: {exc}")
    if MANIFEST not in members or SIGNATURE not in members:
        absent = [name for name in (MANIFEST, SIGNATURE) if name not in members]
        return ArchiveVerification(archive=shown, ok=False, missing=absent,
                                   signature_problem=f"no {' or '.join(absent)} in the archive")
    try:
        manifest = Manifest.model_validate_json(members.pop(MANIFEST))
        signature = ManifestSignature.model_validate_json(members.pop(SIGNATURE))
    except ValueError as exc:
        return ArchiveVerification(archive=shown, ok=False, signature_problem=f"unreadable manifest: {exc}")
    result = ArchiveVerification(archive=shown, ok=False, release=manifest.release, key_id=signature.key_id,
                                 files=len(manifest.files))
    key = next((k for k in trusted if k.key_id == signature.key_id), None)
    if key is None:
        result.signature_problem = f"manifest signed by untrusted key {signature.key_id}"
    else:
        try:
            key.public_key.verify(base64.b64decode(signature.signature), canonical(manifest))
        except (InvalidSignature, ValueError):
            result.signature_problem = f"the manifest's signature by key {signature.key_id} is not valid"
    listed = {entry.path: entry for entry in manifest.files}
    for name, entry in listed.items():
        data = members.get(name)
        if data is None:
            result.missing.append(name)
        elif hashlib.sha256(data).hexdigest() != entry.sha256 or len(data) != entry.size:
            result.changed.append(name)
    result.added = sorted(set(members) - set(listed))
    result.ok = not (result.signature_problem or result.changed or result.missing or result.added)
    return result


# -- what goes in ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageWindow:
    number: int  # 1-based
    name: str
    weight: int
    bake_minutes: float
    start: datetime
    end: datetime | None  # None: still running when archived
    promoted_by: str = ""
    forced: bool = False


def series_csv(slo: str, series: Sequence[Series]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["slo", "labels", "timestamp", "time", "value"])
    for line in series:
        labels = json.dumps(line.labels, sort_keys=True)
        for when, value in line.points:
            writer.writerow([slo, labels, f"{when.timestamp():.3f}", when.isoformat(), repr(value)])
    return out.getvalue().encode()


def series_json(series: Sequence[Series]) -> list[dict[str, object]]:
    return [{"labels": line.labels, "points": [[when.timestamp(), None if value != value else value]
                                               for when, value in line.points]} for line in series]


class TimelineRow(BaseModel):
    offset_minutes: float
    at: datetime
    line: str
    mark: str = ""  # "breach", "rollback", "abort"


def _offset(start: datetime, when: datetime) -> float:
    return round((when - start).total_seconds() / 60, 1)


def timeline(*, started_at: datetime, stages: Sequence[StageWindow], ended_at: datetime | None, outcome: str,
             breaches: Sequence[tuple[datetime, str]] = (), rollbacks: Sequence[tuple[datetime, str]] = ()
             ) -> list[TimelineRow]:
    """The checklist's form (T+0 stage 1, T+60 stage 2, T+180 stage 3, T+360 done), with the run's real times."""
    rows: list[TimelineRow] = []
    for stage in stages:
        if stage.number == 1:
            line = f"Stage {stage.number} deployed ({stage.weight}%)"
        else:
            how = "forced" if stage.forced else "All SLOs green"
            line = f"{how} → Stage {stage.number} promoted ({stage.weight}%)"
        rows.append(TimelineRow(offset_minutes=_offset(started_at, stage.start), at=stage.start, line=line))
    for when, what in breaches:
        rows.append(TimelineRow(offset_minutes=_offset(started_at, when), at=when, line=f"SLO breach: {what}",
                                mark="breach"))
    for when, what in rollbacks:
        rows.append(TimelineRow(offset_minutes=_offset(started_at, when), at=when, line=f"Rollback: {what}",
                                mark="rollback"))
    if ended_at is not None:
        final = {"completed": "Final validation complete → Deployment successful",
                 "aborted": "Canary aborted → all traffic to stable",
                 "rolled back": "Canary rolled back → all traffic to stable"}.get(outcome, outcome)
        rows.append(TimelineRow(offset_minutes=_offset(started_at, ended_at), at=ended_at, line=final,
                                mark="" if outcome == "completed" else "rollback"))
    return sorted(rows, key=lambda row: row.at)


def timeline_markdown(rows: Sequence[TimelineRow], *, breaches: int, rollbacks: int) -> str:
    lines = ["Timeline verification:"]
    for row in rows:
        mark = {"breach": "  ⚠ breach", "rollback": "  ↩ rollback"}.get(row.mark, "")
        lines.append(f"T+{row.offset_minutes:g}:".ljust(9) + f"{row.line}  ({row.at:%Y-%m-%d %H:%M:%S} UTC){mark}")
    lines.append("")
    lines.append("Zero rollbacks triggered." if rollbacks == 0 else f"{rollbacks} rollback(s) triggered.")
    lines.append("Zero SLO breaches (5+ min sustained)." if breaches == 0 else f"{breaches} SLO breach(es).")
    lines.append("Prometheus metrics archived for audit.")
    return "\n".join(lines) + "\n"
