"""Multiwindow, multi-burn-rate paging for ratio SLOs (Google SRE workbook, "Alerting on SLOs").

What flows through: the bad-event ratio of one SLO over each window the policy names (read by the
metrics source in the same single query as the SLO's value) and the SLO's error budget; out comes
whether a tier fires. A tier fires when the burn rate (bad ratio / budget) exceeds its factor over
BOTH its long and its short window: the long window proves it is significant, the short one that
it is still happening (so the page resolves soon after recovery).

Defaults are the workbook's paging tiers: 14.4x over 1 h and 5 min (2% of a 30-day budget in an
hour), 6x over 6 h and 30 min (5% in six hours). Where the budget is so large that a factor can
never be reached (a 90% hit-ratio objective has a 10% budget, so the burn rate cannot exceed 10x
and 14.4x never fires), the factor is capped at `cap` x the largest possible burn rate, so the
tier still pages when, with the default cap of 0.5, half of all events are bad. Purely computational.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from commands.durations import parse_duration, promql_duration

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class BurnTier(BaseModel):
    model_config = ConfigDict(extra="forbid")

    long: Duration = Field(description="Long window (significance), e.g. 1h.")
    short: Duration = Field(description="Short window (still happening), e.g. 5m.")
    factor: float = Field(gt=0, description="Burn-rate factor that pages over both windows, e.g. 14.4.")

    @model_validator(mode="after")
    def _short_is_shorter(self) -> BurnTier:
        if self.short >= self.long:
            raise ValueError("a burn-rate tier's short window must be shorter than its long window")
        return self


def _default_tiers() -> list[BurnTier]:
    return [
        BurnTier(long=timedelta(hours=1), short=timedelta(minutes=5), factor=14.4),
        BurnTier(long=timedelta(hours=6), short=timedelta(minutes=30), factor=6.0),
    ]


class BurnRatePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tiers: list[BurnTier] = Field(default_factory=_default_tiers, min_length=1,
                                  description="Paging tiers; any one firing pages.")
    cap: float = Field(default=0.5, gt=0, le=1,
                       description="Where a factor is impossible for the budget, use cap x the largest possible burn "
                                   "rate (1 / budget) instead.")

    def windows(self) -> list[str]:
        """Every window the policy reads, as PromQL ranges (the labels of `bad_ratios`)."""
        found: list[str] = []
        for tier in self.tiers:
            for window in (promql_duration(tier.long), promql_duration(tier.short)):
                if window not in found:
                    found.append(window)
        return found


class EffectiveTier(BaseModel):
    long: str
    short: str
    factor: float
    configured_factor: float
    capped: bool
    note: str = ""


class BurnVerdict(BaseModel):
    firing: bool
    # The tier that fired (or, when none, the closest one), e.g. "14.4x over 3600s and 300s".
    detail: str = ""
    missing: list[str] = Field(default_factory=list)
    tiers: list[EffectiveTier] = Field(default_factory=list)


def effective_tiers(policy: BurnRatePolicy, *, budget: float) -> list[EffectiveTier]:
    """The tiers with each factor capped where the budget makes it impossible."""
    if not 0 < budget < 1:
        raise ValueError(f"an error budget must be between 0 and 1, not {budget}")
    largest = 1.0 / budget
    tiers = []
    for tier in policy.tiers:
        capped = tier.factor >= largest
        factor = min(tier.factor, policy.cap * largest) if capped else tier.factor
        note = (f"{tier.factor:g}x can never fire with a {budget:.0%} budget (burn rate at most {largest:.3g}x); "
                f"using {factor:.3g}x") if capped else ""
        tiers.append(EffectiveTier(long=promql_duration(tier.long), short=promql_duration(tier.short),
                                   factor=factor, configured_factor=tier.factor, capped=capped, note=note))
    return tiers


def judge(policy: BurnRatePolicy, *, budget: float, bad_ratios: dict[str, float]) -> BurnVerdict:
    """Does any tier fire? A window with no data cannot fire (and is named in `missing`)."""
    tiers = effective_tiers(policy, budget=budget)
    missing = [w for w in policy.windows() if w not in bad_ratios]
    for tier in tiers:
        if tier.long not in bad_ratios or tier.short not in bad_ratios:
            continue
        long_burn = bad_ratios[tier.long] / budget
        short_burn = bad_ratios[tier.short] / budget
        if long_burn > tier.factor and short_burn > tier.factor:
            return BurnVerdict(firing=True, missing=missing, tiers=tiers,
                               detail=f"burn rate {long_burn:.3g}x over {tier.long} and {short_burn:.3g}x over "
                                      f"{tier.short} (pages above {tier.factor:.3g}x)")
    return BurnVerdict(firing=False, missing=missing, tiers=tiers)
