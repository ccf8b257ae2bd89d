"""SLO catalog and the evaluation of one set of readings into a status.

What flows through: the catalog (config) gives each SLO a PromQL expression, or good/total
expressions for a ratio, with `$window` standing for the rate window; a `MetricsSource` port
(Prometheus in the bot) answers one query per SLO with a `Reading`; `evaluate()` turns the readings
into an `SloStatus` of per-SLO results. Pure apart from the port: no Prometheus import here.
`evaluate_readings()` judges readings the bot fetched beforehand (concurrently, under one deadline).

Missing evidence is never healthy: an error, a timeout, no series or a NaN make the SLO UNKNOWN
with the reason, never OK.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from commands.burn_rate import BurnRatePolicy, judge


class SloState(StrEnum):
    OK = "OK"
    BREACHING = "BREACHING"
    UNKNOWN = "UNKNOWN"


class Comparator(StrEnum):
    """How the value must relate to the objective to be OK."""

    LE = "<="
    GE = ">="

    def ok(self, value: float, objective: float) -> bool:
        return value <= objective if self is Comparator.LE else value >= objective

    def worst(self, values: Iterable[float]) -> float:
        """The value furthest on the bad side (several series answer one query)."""
        return max(values) if self is Comparator.LE else min(values)

    @property
    def symbol(self) -> str:
        """How people read it (≤, ≥); the config keeps the ASCII `<=` / `>=` one types."""
        return "≤" if self is Comparator.LE else "≥"


class Unit(StrEnum):
    SECONDS = "seconds"
    RATIO = "ratio"
    NUMBER = "number"


class Paging(StrEnum):
    """How a breach is decided: violated continuously for `sustain`, or by multiwindow burn rate."""

    SUSTAINED = "sustained"
    BURN_RATE = "burn_rate"


class SloDefinition(BaseModel):
    """One SLO of the catalog (validated config)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Short identifier, e.g. cb_latency_p99.")
    description: str = Field(default="", description="What it means, shown in status posts and pages.")
    query: str | None = Field(default=None, description="PromQL giving the value; `$window` is the rate window.")
    good: str | None = Field(default=None, description="PromQL of the good rate (a ratio SLO: good / total).")
    total: str | None = Field(default=None, description="PromQL of the total rate (a ratio SLO: good / total).")
    comparator: Comparator = Field(description="`<=` (value must stay at or below) or `>=` (at or above).")
    objective: float = Field(description="The threshold, in the SLO's unit (seconds, or a ratio 0..1).")
    unit: Unit = Field(default=Unit.NUMBER, description="seconds | ratio | number (formatting only).")
    paging: Paging = Field(default=Paging.SUSTAINED,
                           description="sustained (violated for slo.sustain) or burn_rate (ratio SLOs only).")

    @model_validator(mode="after")
    def _one_query(self) -> SloDefinition:
        ratio = self.good is not None or self.total is not None
        if self.query is not None and ratio:
            raise ValueError(f"SLO {self.name}: give either `query` or `good` and `total`, not both")
        if self.query is None and (self.good is None or self.total is None):
            raise ValueError(f"SLO {self.name}: give `query`, or both `good` and `total`")
        if self.paging is Paging.BURN_RATE and (self.unit is not Unit.RATIO or not 0 < self.objective < 1):
            raise ValueError(f"SLO {self.name}: burn_rate paging needs a ratio SLO with an objective between 0 and 1")
        return self

    def promql(self, window: str) -> str:
        """The one expression evaluated per SLO, with `$window` substituted."""
        expression = self.query if self.query is not None else f"({self.good}) / ({self.total})"
        return expression.replace("$window", window)

    def error_budget(self) -> float:
        """Share of events allowed to be bad (ratio SLOs): 1 - objective for >=, the objective for <=."""
        return 1.0 - self.objective if self.comparator is Comparator.GE else self.objective

    def bad_ratio_promql(self, window: str) -> str:
        """The share of bad events over `window` (burn-rate paging)."""
        expression = self.promql(window)
        return f"(1 - ({expression}))" if self.comparator is Comparator.GE else f"({expression})"


def default_catalog() -> list[SloDefinition]:
    """The seed's four SLOs over the metric names NODE0 exports (agreed across the team)."""
    return [
        SloDefinition(
            name="cb_latency_p99",
            description="Circuit-breaker p99 latency",
            query="histogram_quantile(0.99, sum by (le) (rate(node0_cb_request_duration_seconds_bucket[$window])))",
            comparator=Comparator.LE, objective=0.0015, unit=Unit.SECONDS,
        ),
        SloDefinition(
            name="cb_error_rate",
            description="Circuit-breaker error rate (5xx share)",
            query='sum(rate(node0_cb_requests_total{code=~"5.."}[$window])) / '
                  "sum(rate(node0_cb_requests_total[$window]))",
            comparator=Comparator.LE, objective=0.01, unit=Unit.RATIO,
        ),
        SloDefinition(
            name="cache_l1_hit_ratio",
            description="Cache L1 hit ratio",
            query="sum(rate(node0_cache_l1_hits_total[$window])) / (sum(rate(node0_cache_l1_hits_total[$window])) + "
                  "sum(rate(node0_cache_l1_misses_total[$window])))",
            comparator=Comparator.GE, objective=0.90, unit=Unit.RATIO,
        ),
        SloDefinition(
            name="planner_json_validity",
            description="Planner JSON validity",
            query="sum(rate(node0_planner_outputs_valid_total[$window])) / "
                  "sum(rate(node0_planner_outputs_total[$window]))",
            comparator=Comparator.GE, objective=0.98, unit=Unit.RATIO,
        ),
    ]


class Reading(BaseModel):
    """What the metrics source answered for one query: the values of every series, or why there are none."""

    values: list[float] = Field(default_factory=list)
    error: str | None = None
    # Burn-rate SLOs: bad-event ratio per window label ("1h", "5m", …), from the same single query.
    windows: dict[str, float] = Field(default_factory=dict)


class MetricsSource(Protocol):
    """One instant query per SLO per evaluation (the Prometheus adapter in the bot)."""

    def read(self, slo: SloDefinition, *, window: str, at: datetime) -> Reading: ...


@dataclass(frozen=True)
class Series:
    """One line of a chart: (time, value) points; NaN points are gaps."""

    labels: dict[str, str]
    points: list[tuple[datetime, float]]


class SeriesSource(Protocol):
    """An SLO's value over a time range (charts)."""

    def range(self, slo: SloDefinition, *, window: str, start: datetime, end: datetime) -> list[Series]: ...


class MetricsReader(MetricsSource, SeriesSource, Protocol):
    """What the SLO feature reads from Prometheus: instant readings and ranges."""


class SloResult(BaseModel):
    name: str
    description: str = ""
    state: SloState
    value: float | None = None
    objective: float
    comparator: Comparator
    unit: Unit
    reason: str = ""
    paging: Paging = Paging.SUSTAINED
    # Burn-rate SLOs only: whether a burn-rate tier fires now, and which.
    burn_firing: bool = False
    burn_detail: str = ""


class SloStatus(BaseModel):
    """One evaluation of the whole catalog at one moment."""

    at: datetime
    results: list[SloResult]
    # Set when the status is shown with a chart (a Slack file ID or a console path).
    chart: str | None = None

    @property
    def state(self) -> SloState:
        """Worst of the results: any BREACHING, else any UNKNOWN, else OK (an empty catalog is UNKNOWN)."""
        states = {r.state for r in self.results}
        if SloState.BREACHING in states:
            return SloState.BREACHING
        if SloState.UNKNOWN in states or not states:
            return SloState.UNKNOWN
        return SloState.OK


def evaluate_one(slo: SloDefinition, reading: Reading) -> SloResult:
    """Purely computational: one reading against its objective."""
    if reading.error:
        return _result(slo, state=SloState.UNKNOWN, reason=reading.error)
    if not reading.values:
        return _result(slo, state=SloState.UNKNOWN, reason="no data: the query returned no series")
    finite_or_inf = [v for v in reading.values if not math.isnan(v)]
    if not finite_or_inf:
        return _result(slo, state=SloState.UNKNOWN, reason="no data: the value is NaN (no traffic in the window)")
    value = slo.comparator.worst(finite_or_inf)
    state = SloState.OK if slo.comparator.ok(value, slo.objective) else SloState.BREACHING
    return _result(slo, state=state, value=value)


def _result(slo: SloDefinition, *, state: SloState, reason: str = "", value: float | None = None) -> SloResult:
    return SloResult(name=slo.name, description=slo.description, objective=slo.objective, comparator=slo.comparator,
                     unit=slo.unit, paging=slo.paging, state=state, reason=reason, value=value)


def evaluate(catalog: Sequence[SloDefinition], source: MetricsSource, *, window: str, at: datetime,
             burn_policy: BurnRatePolicy | None = None) -> SloStatus:
    """Read every SLO once, one after another, and judge it; an exception from the source is UNKNOWN, never OK.

    The bot reads concurrently under one deadline (`bot.features.slo.watch.read_catalog`) and judges
    the readings with `evaluate_readings`; this sequential form stays for callers with a fast source."""
    readings: dict[str, Reading] = {}
    for slo in catalog:
        try:
            readings[slo.name] = source.read(slo, window=window, at=at)
        except Exception as exc:  # a broken adapter must leave the SLO UNKNOWN, not stop the watch
            readings[slo.name] = Reading(error=f"{type(exc).__name__}: {exc}")
    return evaluate_readings(catalog, readings, at=at, burn_policy=burn_policy)


def evaluate_readings(catalog: Sequence[SloDefinition], readings: Mapping[str, Reading], *, at: datetime,
                      burn_policy: BurnRatePolicy | None = None) -> SloStatus:
    """Judge readings fetched beforehand (by SLO name). Purely computational; a missing reading is UNKNOWN."""
    policy = burn_policy or BurnRatePolicy()
    results = []
    for slo in catalog:
        reading = readings.get(slo.name) or Reading(error="no reading was taken")
        result = evaluate_one(slo, reading)
        if slo.paging is Paging.BURN_RATE and result.state is not SloState.UNKNOWN:
            verdict = judge(policy, budget=slo.error_budget(), bad_ratios=reading.windows)
            result.burn_firing = verdict.firing
            result.burn_detail = verdict.detail or (f"no data for {', '.join(verdict.missing)}" if verdict.missing
                                                    else "")
        results.append(result)
    return SloStatus(at=at, results=results)


class SloHistory(Protocol):
    """Past evaluations (the bot's `slo_samples` table), for commands that judge a stretch of time."""

    def slo_history(self, *, start: datetime, end: datetime) -> list[SloStatus]: ...
