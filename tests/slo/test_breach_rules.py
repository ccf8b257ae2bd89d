"""The pure rules: sustained breach, spikes, blind, re-page, acknowledge; burn-rate tiers and their caps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from commands.breach import AckOutcome, AlertKind, BreachState, EventKind, acknowledge, step
from commands.burn_rate import BurnRatePolicy, BurnTier, effective_tiers, judge
from commands.slo import Comparator, Paging, SloResult, SloState, SloStatus, Unit

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SUSTAIN = timedelta(minutes=5)
REPAGE = timedelta(minutes=15)


def _status(minutes: float, state: SloState, *, burn: bool = False, paging: Paging = Paging.SUSTAINED) -> SloStatus:
    return SloStatus(at=T0 + timedelta(minutes=minutes), results=[SloResult(
        name="cb_error_rate", state=state, value=0.05 if state is SloState.BREACHING else 0.001, objective=0.01,
        comparator=Comparator.LE, unit=Unit.RATIO, reason="unreachable" if state is SloState.UNKNOWN else "",
        paging=paging, burn_firing=burn)])


def _run(states: list[tuple[float, SloState]], **kw: object) -> tuple[BreachState, list[list[EventKind]]]:
    state, kinds = BreachState(), []
    for minutes, slo_state in states:
        result = step(state, _status(minutes, slo_state, **kw), sustain=SUSTAIN, repage=REPAGE)  # type: ignore[arg-type]
        state = result.state
        kinds.append([e.kind for e in result.events])
    return state, kinds


def test_five_minutes_sustained_pages_once_then_repages_every_fifteen() -> None:
    B = SloState.BREACHING
    _, kinds = _run([(0, B), (4, B), (5, B), (10, B), (19, B), (20, B), (35, B)])
    assert kinds == [[], [], ["page"], [], [], ["repage"], ["repage"]]


def test_a_spike_and_an_interrupted_breach_page_nobody() -> None:
    B, G = SloState.BREACHING, SloState.OK
    _, kinds = _run([(0, B), (4, B), (4.5, G), (5, B), (9, B)])
    assert all(k == [] for k in kinds)


def test_unknown_is_not_recovery_and_long_unknown_is_blind() -> None:
    B, U, G = SloState.BREACHING, SloState.UNKNOWN, SloState.OK
    state, kinds = _run([(0, B), (5, B), (6, U), (11, U), (12, G)])
    assert kinds == [[], ["page"], [], ["page"], ["resolve", "resolve"]]
    assert sorted(a.kind for a in state.alerts) == [AlertKind.BLIND, AlertKind.BREACH]
    assert all(not a.is_open for a in state.alerts)


def test_acknowledged_alerts_stop_repaging_and_ack_is_idempotent() -> None:
    B = SloState.BREACHING
    state, _ = _run([(0, B), (5, B)])
    alert_id = state.alerts[0].id
    state, outcome = acknowledge(state, alert_id, by="U1", at=T0 + timedelta(minutes=6))
    assert outcome is AckOutcome.ACKNOWLEDGED
    state, again = acknowledge(state, alert_id, by="U2", at=T0 + timedelta(minutes=7))
    assert again is AckOutcome.ALREADY_ACKNOWLEDGED and state.alerts[0].acknowledged_by == "U1"
    result = step(state, _status(40, B), sustain=SUSTAIN, repage=REPAGE)
    assert result.events == []
    assert acknowledge(state, "nope", by="U1", at=T0)[1] is AckOutcome.NOT_FOUND


def test_burn_rate_slos_page_as_soon_as_a_tier_fires() -> None:
    state = BreachState()
    result = step(state, _status(0, SloState.OK, burn=True, paging=Paging.BURN_RATE), sustain=SUSTAIN, repage=REPAGE)
    assert [e.kind for e in result.events] == ["page"], "a firing tier pages without waiting for the sustain window"
    result = step(result.state, _status(1, SloState.BREACHING, burn=False, paging=Paging.BURN_RATE),
                  sustain=SUSTAIN, repage=REPAGE)
    assert [e.kind for e in result.events] == ["resolve"], "a burn-rate page resolves when no tier fires"


def test_default_tiers_are_the_workbook_and_capped_where_the_budget_cannot_reach_them() -> None:
    policy = BurnRatePolicy()
    tight = effective_tiers(policy, budget=0.02)  # 98% objective: burn at most 50x, both defaults reachable
    assert [(t.long, t.short, t.factor, t.capped) for t in tight] == [
        ("3600s", "300s", 14.4, False), ("21600s", "1800s", 6.0, False)]
    loose = effective_tiers(policy, budget=0.10)  # 90% hit ratio: burn at most 10x, so 14.4x can never fire
    assert loose[0].capped and loose[0].factor == pytest.approx(5.0) and "can never fire" in loose[0].note
    assert not loose[1].capped and loose[1].factor == 6.0


def test_a_tier_fires_only_when_both_windows_burn() -> None:
    policy = BurnRatePolicy(tiers=[BurnTier(long="60s", short="5s", factor=14.4)])
    assert judge(policy, budget=0.01, bad_ratios={"60s": 0.2, "5s": 0.2}).firing
    assert not judge(policy, budget=0.01, bad_ratios={"60s": 0.2, "5s": 0.1}).firing  # recovered recently
    assert not judge(policy, budget=0.01, bad_ratios={"60s": 0.1, "5s": 0.9}).firing  # a blip
    missing = judge(policy, budget=0.01, bad_ratios={"5s": 0.9})
    assert not missing.firing and missing.missing == ["60s"]
    # With a 10% budget the capped 5x tier fires on a 60% miss ratio that 14.4x never could.
    assert judge(policy, budget=0.10, bad_ratios={"60s": 0.6, "5s": 0.6}).firing
