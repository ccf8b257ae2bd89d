"""The release's evidence files, as typed models: what each JSON artifact must hold and in which units.

Five files live in the artifacts directory (default `artifacts/`):

| file                | model             | what it proves                                          |
| ------------------- | ----------------- | ------------------------------------------------------- |
| `cb.json`           | `CircuitBreaker`  | circuit-breaker load test: throughput, latency, errors  |
| `cache.json`        | `CacheEval`       | L1 cache hit ratio and lookup latency                    |
| `planner_eval.json` | `PlannerEval`     | planner output JSON validity and tool-call accuracy      |
| `wq_proof.json`     | `WqProof`         | weighted-quorum consensus proof across validators        |
| `attestation.json`  | `Attestation`     | Ed25519 signature over the SHA-256 of the other four     |

Units are part of every field name: `_ms` is milliseconds, `_rps` requests per second, `_ratio`
and `_rate` are fractions from 0 to 1 (0.93 means 93 %), `_total` is a count. Unknown fields are
refused (`extra="forbid"`), so a typo such as `p99` for `p99_ms` is a schema mismatch rather than a
silently missing value. Full field reference: docs/artifacts.md.

`read_artifact(path, Model)` reads one file once and returns the parsed model together with the
SHA-256 of the exact bytes parsed (the attestation gate compares that digest, so what was judged
is what was signed). Every failure is an `ArtifactError` whose message names the file and says
what is wrong: missing, unreadable, malformed JSON (with line and column), or a schema mismatch
(with the field).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION = 1


class _Artifact(BaseModel):
    # NaN and Infinity are valid to Python's json module but are never a measurement.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    schema_version: int = Field(
        default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION, description="Artifact schema version (currently 1)."
    )
    measured_at: str | None = Field(default=None, description="When the measurement ran (ISO 8601, UTC); informative.")
    source: str | None = Field(default=None, description="What produced the file (tool, job, commit); informative.")


# -- cb.json ----------------------------------------------------------------------------------------


class CircuitBreaker(_Artifact):
    """`cb.json`: one load test of the circuit breaker (gates 1–3)."""

    throughput_rps: float = Field(ge=0, description="Sustained throughput per replica, requests per second.")
    p50_ms: float | None = Field(default=None, ge=0, description="Median request latency, milliseconds.")
    p99_ms: float = Field(ge=0, description="99th-percentile request latency, milliseconds.")
    error_rate: float = Field(ge=0, le=1, description="Failed requests / all requests, 0..1 (0.01 = 1 %).")
    requests_total: int | None = Field(default=None, ge=0, description="Requests sent in the test (sample size).")
    duration_s: float | None = Field(default=None, gt=0, description="Length of the measured window, seconds.")


# -- cache.json -------------------------------------------------------------------------------------


class CacheEval(_Artifact):
    """`cache.json`: L1 cache behaviour under the same load (gates 4–5)."""

    l1_hit_ratio: float = Field(ge=0, le=1, description="L1 hits / L1 lookups, 0..1.")
    p50_ms: float = Field(ge=0, description="Median cache lookup latency, milliseconds.")
    p99_ms: float | None = Field(default=None, ge=0, description="99th-percentile lookup latency, milliseconds.")
    lookups_total: int | None = Field(default=None, ge=0, description="L1 lookups measured (sample size).")


# -- planner_eval.json ------------------------------------------------------------------------------


class PlannerEval(_Artifact):
    """`planner_eval.json`: the planner's offline evaluation (gates 6–7)."""

    json_valid_ratio: float = Field(ge=0, le=1, description="Outputs that parse as valid JSON / all outputs, 0..1.")
    tool_call_accuracy_ratio: float = Field(
        ge=0, le=1, description="Cases whose tool call matched the expected one / all cases, 0..1."
    )
    cases_total: int | None = Field(default=None, ge=0, description="Evaluation cases run (sample size).")


# -- wq_proof.json ----------------------------------------------------------------------------------


class Validator(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, description="Validator identity, unique within the proof.")
    head: str = Field(min_length=1, description="The head (block/state id) this validator finalized, e.g. B3.")


class WqTelemetry(BaseModel):
    """Telemetry is optional in the schema so that a proof without it is judged (gate 8 FAIL), not unreadable."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    wq_weight: float | None = Field(default=None, ge=0, le=1, description="Weighted-quorum weight reached, 0..1.")
    components: list[str] | None = Field(default=None, description="Components that contributed to the quorum.")


class WqProof(_Artifact):
    """`wq_proof.json`: the consensus proof (gate 8). Shape as in the seed's acceptance criteria."""

    validators: list[Validator] = Field(description="Every validator that took part, with the head it reached.")
    deterministic: bool = Field(description="True when replaying the run gave the same heads.")
    telemetry: WqTelemetry | None = Field(default=None, description="wq_weight and components, wired from the node.")


# -- attestation.json -------------------------------------------------------------------------------


class Subject(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Artifact file name inside the artifacts directory, e.g. cb.json.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file's exact bytes, lowercase hex.")


class Statement(BaseModel):
    """What is signed: the canonical JSON of this object (see `commands.attestation.canonical_bytes`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(default="bizra.poi/1", description="Statement type; only bizra.poi/1 exists.")
    issued_at: str = Field(description="When it was signed (ISO 8601, UTC).")
    subjects: list[Subject] = Field(description="One entry per attested artifact.")


class Signature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    alg: str = Field(default="Ed25519", pattern="^Ed25519$", description="Always Ed25519.")
    key_id: str = Field(description="Id of the signing key: first 16 hex digits of SHA-256 of the raw public key.")
    value: str = Field(description="The 64-byte Ed25519 signature, standard base64.")


class Attestation(_Artifact):
    """`attestation.json`: the Proof-of-Integrity attestation (gate 9)."""

    statement: Statement
    signature: Signature


# -- reading ----------------------------------------------------------------------------------------


class ArtifactName(StrEnum):
    CB = "cb.json"
    CACHE = "cache.json"
    PLANNER = "planner_eval.json"
    WQ_PROOF = "wq_proof.json"
    ATTESTATION = "attestation.json"


MODELS: dict[ArtifactName, type[_Artifact]] = {
    ArtifactName.CB: CircuitBreaker,
    ArtifactName.CACHE: CacheEval,
    ArtifactName.PLANNER: PlannerEval,
    ArtifactName.WQ_PROOF: WqProof,
    ArtifactName.ATTESTATION: Attestation,
}

# The attestation covers these, in this order (the order a mismatch is looked for and reported in).
ATTESTED: tuple[ArtifactName, ...] = (ArtifactName.CB, ArtifactName.CACHE, ArtifactName.PLANNER, ArtifactName.WQ_PROOF)


class ArtifactProblem(StrEnum):
    MISSING = "missing"
    UNREADABLE = "unreadable"
    MALFORMED = "malformed JSON"
    SCHEMA = "schema mismatch"


class ArtifactError(Exception):
    """One evidence file could not be used; `str()` names the file and what is wrong."""

    def __init__(self, path: Path, problem: ArtifactProblem, detail: str) -> None:
        self.path = path
        self.problem = problem
        self.detail = detail
        super().__init__(f"{path}: {problem.value}: {detail}")


M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Loaded(Generic[M]):
    """A parsed artifact and the SHA-256 (hex) of the bytes it was parsed from."""

    path: Path
    model: M
    sha256: str


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ArtifactError(path, ArtifactProblem.MISSING, "the file does not exist; produce it or fix the path") \
            from exc
    except IsADirectoryError as exc:
        raise ArtifactError(path, ArtifactProblem.UNREADABLE, "this is a directory, not a file") from exc
    except OSError as exc:
        raise ArtifactError(path, ArtifactProblem.UNREADABLE, exc.strerror or str(exc)) from exc


def parse_artifact(path: Path, data: bytes, model: type[M]) -> M:
    """Parse bytes already read from `path` (named in errors) into `model`."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ArtifactError(
            path, ArtifactProblem.MALFORMED, f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ArtifactError(
            path, ArtifactProblem.MALFORMED, f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ArtifactError(path, ArtifactProblem.SCHEMA, _describe(exc)) from exc


def read_artifact(path: Path, model: type[M]) -> Loaded[M]:
    """Read `path` once and parse it; raises `ArtifactError` naming the file."""
    data = read_bytes(path)
    return Loaded(path=path, model=parse_artifact(path, data, model), sha256=sha256_of(data))


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        parts.append(f"field {where}: {item['msg']}")
    more = error.error_count() - len(parts)
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)
