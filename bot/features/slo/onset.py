"""When a breach began, as the data shows it, rather than when the watch's tick first saw it.

A tick evaluates the catalog once per `slo.interval`; a breach that Prometheus scraped just after
one tick is first seen at the next, up to an interval later. Dated by that tick, the sustain
(`slo.sustain`) would start late by the tick's phase: on average half an interval, at worst a whole
one, which a Prometheus rule with the same `for:` loses too (its `activeAt` is its evaluation time)
and an Alertmanager adds its `group_wait` to.

So when an SLO that was OK at the previous evaluation is BREACHING now, the watch asks Prometheus
for the SLO's value between the two evaluations (a range query at sub-second steps, only on such a
transition) and dates the breach from the earliest point after which every point breaches. The
breach held continuously from then on, as far as the data can tell: the page still goes out only
after `sustain` of it. Anything less certain keeps the tick's time — no data, an error, an SLO that
was UNKNOWN before (a blind stretch is not a breach), a burn-rate SLO (paged without a sustain), a
previous evaluation more than two intervals ago.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from commands.breach import BreachState
from commands.slo import Paging, Reading, Series, SloDefinition, SloState, SloStatus, evaluate_one

log = logging.getLogger(__name__)

STEPS = 100  # points between the two evaluations: a 1 s interval is dated to 10 ms, 5 min to 3 s


def first_seen(source: object, catalog: Sequence[SloDefinition], status: SloStatus, previous: BreachState, *,
               window: str, interval: timedelta) -> dict[str, datetime]:
    """For each SLO breaching now that was OK at the previous evaluation: when its data began to breach.
    `source` is the watch's metrics reader (one that cannot read ranges dates nothing)."""
    last, at = previous.last_evaluated_at, status.at
    read_range: Callable[..., list[Series]] | None = getattr(source, "range", None)
    if last is None or not last < at <= last + 2 * interval or read_range is None:
        return {}
    by_name = {slo.name: slo for slo in catalog}
    onsets: dict[str, datetime] = {}
    for result in status.results:
        slo = by_name.get(result.name)
        before = previous.tracks.get(result.name)
        if (slo is None or slo.paging is not Paging.SUSTAINED or result.state is not SloState.BREACHING
                or before is None or before.condition is not SloState.OK):
            continue
        try:
            onset = _onset(read_range, slo, window=window, start=last, end=at)
        except Exception as exc:  # the tick's own time stands
            log.info("SLO %s: could not date the breach's start from Prometheus (%s); dated by this evaluation",
                     slo.name, exc)
            continue
        if onset is not None and last < onset < at:
            onsets[slo.name] = onset
    return onsets


def _onset(read_range: Callable[..., list[Series]], slo: SloDefinition, *, window: str, start: datetime,
           end: datetime) -> datetime | None:
    """The earliest point in (start, end] from which the SLO breaches at every point up to `end`."""
    series = read_range(slo, window=window, start=start, end=end, points=STEPS, subsecond=True)
    values: dict[datetime, list[float]] = {}
    for line in series:
        for moment, value in line.points:
            values.setdefault(moment, []).append(value)
    onset: datetime | None = None
    for moment in sorted(values, reverse=True):  # walk back from `end` while it breaches
        if moment <= start or evaluate_one(slo, Reading(values=values[moment])).state is not SloState.BREACHING:
            break
        onset = moment
    return onset


def date_onsets(state: BreachState, onsets: dict[str, datetime], *, at: datetime, after: datetime | None) -> None:
    """Move the start of each breach first seen at `at` (and not yet paged) to the data's onset, when that
    lies after `after`, the evaluation before this one as the store has it (another replica's, maybe)."""
    for name, onset in onsets.items():
        track = state.tracks.get(name)
        if (track is not None and track.condition is SloState.BREACHING and track.since == at
                and state.open_alert(name) is None and after is not None and after < onset):
            track.since = onset
