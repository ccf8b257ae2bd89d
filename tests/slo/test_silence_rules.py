"""Silences in the pure breach state machine: re-pages held back while a silence lasts, resumed by the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commands.breach import BLIND_KEY, BreachState, Silence, active_silences, silenced_until, step
from commands.slo import Comparator, SloResult, SloState, SloStatus, Unit

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SUSTAIN = timedelta(minutes=5)
REPAGE = timedelta(minutes=15)


def _status(at: datetime, state: SloState = SloState.BREACHING) -> SloStatus:
    return SloStatus(at=at, results=[SloResult(name="cb_latency_p99", state=state, value=0.003, objective=0.0015,
                                               comparator=Comparator.LE, unit=Unit.SECONDS)])


def _silence(slo: str, *, at: datetime, minutes: float) -> Silence:
    return Silence(id=f"{slo}.x", slo=slo, until=at + timedelta(minutes=minutes), reason="deploying", by="U1", at=at)


def _run(times: list[timedelta], silences: list[Silence]) -> list[str]:
    state, kinds = BreachState(), []
    for offset in times:
        stepped = step(state, _status(T0 + offset), sustain=SUSTAIN, repage=REPAGE, silences=silences)
        state = stepped.state
        kinds += [f"{e.kind}@{int(offset.total_seconds() // 60)}" for e in stepped.events]
    return kinds


def test_a_silence_holds_back_re_pages_until_it_ends() -> None:
    minutes = [timedelta(minutes=m) for m in (0, 5, 20, 35, 50, 65, 66, 80)]
    assert _run(minutes, []) == ["page@5", "repage@20", "repage@35", "repage@50", "repage@65", "repage@80"]
    silenced = [_silence("cb_latency_p99", at=T0 + timedelta(minutes=6), minutes=60)]  # until 66
    assert _run(minutes, silenced) == ["page@5", "repage@66"], "no re-page while silenced; one when it ends"
    assert _run(minutes, [_silence("all", at=T0 + timedelta(minutes=6), minutes=60)]) == ["page@5", "repage@66"]
    other = [_silence("cb_error_rate", at=T0 + timedelta(minutes=6), minutes=60)]
    assert _run(minutes, other) == _run(minutes, []), "a silence of another SLO changes nothing"


def test_silences_are_in_force_only_between_at_and_until() -> None:
    silence = _silence(BLIND_KEY, at=T0, minutes=10)
    assert silenced_until([silence], BLIND_KEY, T0 + timedelta(minutes=9)) == T0 + timedelta(minutes=10)
    assert silenced_until([silence], BLIND_KEY, T0 + timedelta(minutes=10)) is None
    assert silenced_until([silence], "cb_latency_p99", T0) is None
    assert active_silences([silence], T0 - timedelta(seconds=1)) == []
