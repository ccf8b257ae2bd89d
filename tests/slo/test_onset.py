"""A breach is dated from its data, not from the tick that first saw it (bot/features/slo/onset.py): the
sustain starts when Prometheus's values began to breach, so the page is not late by the tick's phase."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.config import BizraConfig
from bot.features.slo.onset import date_onsets, first_seen
from commands.breach import BreachState, Track, step
from commands.slo import Reading, Series, SloDefinition, SloState, evaluate_readings

SETTINGS = BizraConfig().slo
LATENCY = next(slo for slo in SETTINGS.catalog if slo.name == "cb_latency_p99")  # breaches above 0.0015
T0 = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
INTERVAL = timedelta(seconds=1)
SUSTAIN = timedelta(seconds=10)


class _Prometheus:
    """The watch's metrics port: the SLO's value over time (0.001 s until `breach_at`, 0.003 s after)."""

    def __init__(self, breach_at: datetime | None, *, fail: bool = False) -> None:
        self.breach_at, self.fail = breach_at, fail
        self.asked: list[tuple[datetime, datetime]] = []

    def value(self, moment: datetime) -> float:
        return 0.003 if self.breach_at is not None and moment >= self.breach_at else 0.001

    def read(self, slo: SloDefinition, *, window: str, at: datetime) -> Reading:
        return Reading(values=[self.value(at)])

    def range(self, slo: SloDefinition, *, window: str, start: datetime, end: datetime,
              points: int = 120, subsecond: bool = False) -> list[Series]:
        assert subsecond, "the watch asks for sub-second steps (whole seconds cannot date a breach within a tick)"
        self.asked.append((start, end))
        if self.fail:
            raise ConnectionError("Prometheus is unreachable")
        moments = [start + (end - start) * i / points for i in range(points + 1)]
        return [Series(labels={}, points=[(moment, self.value(moment)) for moment in moments])]


def _tick(source: _Prometheus, state: BreachState, at: datetime) -> BreachState:
    """One watch tick as run_once does it: read, first_seen before the transaction, step, date_onsets."""
    status = evaluate_readings([LATENCY], {LATENCY.name: source.read(LATENCY, window="3s", at=at)}, at=at)
    onsets: dict[str, Any] = first_seen(source, [LATENCY], status, state, window="3s", interval=INTERVAL)
    stepped = step(state, status, sustain=SUSTAIN, repage=timedelta(hours=1)).state
    date_onsets(stepped, onsets, at=at, after=state.last_evaluated_at)
    return stepped


def test_a_breach_that_began_between_two_ticks_is_dated_from_its_data() -> None:
    source = _Prometheus(breach_at=T0 + timedelta(seconds=0.3))
    state = _tick(source, BreachState(), T0)  # OK
    state = _tick(source, state, T0 + INTERVAL)  # first seen breaching
    since = state.tracks[LATENCY.name].since
    assert T0 + timedelta(seconds=0.3) <= since <= T0 + timedelta(seconds=0.35)
    assert source.asked == [(T0, T0 + INTERVAL)]  # only between the two evaluations
    # The sustain counts from there: still pending at T0 + 10.3 s - ε, paged at the tick that reaches it.
    at = T0 + INTERVAL
    while not state.alerts:
        at += INTERVAL
        state = _tick(source, state, at)
    assert state.alerts[0].since == since and at == T0 + timedelta(seconds=11)  # since + 10 s ≤ 11 s


def test_a_breach_after_a_blind_stretch_or_without_range_data_keeps_the_ticks_time() -> None:
    source = _Prometheus(breach_at=T0)
    blind = BreachState(tracks={LATENCY.name: Track(condition=SloState.UNKNOWN, since=T0)}, last_evaluated_at=T0)
    assert _tick(source, blind, T0 + INTERVAL).tracks[LATENCY.name].since == T0 + INTERVAL  # blind is not a breach

    unreachable = _Prometheus(breach_at=T0 + timedelta(seconds=0.5), fail=True)
    state = _tick(unreachable, BreachState(), T0)
    assert _tick(unreachable, state, T0 + INTERVAL).tracks[LATENCY.name].since == T0 + INTERVAL

    long_ago = _tick(source, BreachState(), T0 - timedelta(minutes=1))  # OK a minute ago, no evaluation since
    assert _tick(source, long_ago, T0 + INTERVAL).tracks[LATENCY.name].since == T0 + INTERVAL
