"""PNG charts of SLOs over the last half hour, with the objective drawn in (matplotlib, Agg backend).

What flows through: per SLO, its definition and the series a range query returned; out come PNG
bytes that the poster uploads in the alert's thread (Slack) or writes to a file (console). An SLO
with no data gets an empty panel that says so, rather than a missing panel that looks fine.

Read at a glance: the bad side of the objective is shaded light red (a breach is "in the red"), the
latest value is written next to the last point, ratios are clamped to 0–100 %, and the y-range is
anchored on the objective (`y_range`) so a flat healthy series does not fill the panel and a tiny
wiggle does not look like a cliff. The helpers below are pure (no matplotlib) and tested directly.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from commands.slo import Comparator, Series, SloDefinition, Unit

# Half-height of the band around the objective for a ratio SLO, at least 0.5 percentage points: with a
# 99.9 % objective the panel spans 99.4–100 %, so a 0.1 % wiggle is a sixth of it, not a cliff.
MIN_RATIO_BAND = 0.005
EDGE_MARGIN = 0.05  # of the span, beyond a value outside the band, so it does not sit on the frame
BREACH_COLOR = "#f8d0d0"  # light red: the bad side of the objective


@dataclass(frozen=True)
class Panel:
    slo: SloDefinition
    series: Sequence[Series]
    error: str = ""


def _scale(unit: Unit) -> tuple[float, str]:
    if unit is Unit.SECONDS:
        return 1000.0, "ms"
    if unit is Unit.RATIO:
        return 100.0, "%"
    return 1.0, ""


def clamp(slo: SloDefinition, values: Sequence[float]) -> list[float]:
    """The values as drawn, in the SLO's own unit: non-finite ones become NaN (a gap in the line) and a
    ratio is clamped to [0, 1] (0–100 %), so a rounding artefact like 1.0000001 never plots past 100 %."""
    out: list[float] = []
    for value in values:
        if not math.isfinite(value):
            out.append(math.nan)
        elif slo.unit is Unit.RATIO:
            out.append(min(max(value, 0.0), 1.0))
        else:
            out.append(value)
    return out


def _band(slo: SloDefinition) -> float:
    """How far either side of the objective the panel reaches when the data stays near it."""
    objective = slo.objective
    if slo.unit is Unit.RATIO:
        return max(min(objective, 1.0 - objective), MIN_RATIO_BAND)
    return abs(objective) or 1.0  # seconds and numbers: 0 .. 2 x objective


def y_range(slo: SloDefinition, values: Sequence[float]) -> tuple[float, float]:
    """The y-limits in the SLO's own unit (a ratio in 0..1): a band around the objective that depends only
    on the objective while the data stays inside it (so renders of a healthy SLO look alike and the
    objective sits mid-panel), widened to take in values outside it with a small margin. Never below 0
    for seconds, ratios or a non-negative number; never above 1 for a ratio."""
    objective = slo.objective
    band = _band(slo)
    finite = [v for v in clamp(slo, values) if not math.isnan(v)]
    low, high = objective - band, objective + band
    if finite:
        data_low, data_high = min(finite), max(finite)
        span = max(high, data_high) - min(low, data_low)
        if data_low < low:
            low = data_low - EDGE_MARGIN * span
        if data_high > high:
            high = data_high + EDGE_MARGIN * span
    non_negative = slo.unit in (Unit.SECONDS, Unit.RATIO) or (objective >= 0 and all(v >= 0 for v in finite))
    if non_negative:
        low = max(low, 0.0)
    if slo.unit is Unit.RATIO:
        high = min(high, 1.0)
    return low, high


def breach_span(slo: SloDefinition, limits: tuple[float, float]) -> tuple[float, float]:
    """The part of the y-range (`limits`, as `y_range` gives) on the bad side of the objective: above it
    for `<=`, below it for `>=`. Empty (low == high) when the objective is outside the range."""
    low, high = limits
    objective = min(max(slo.objective, low), high)
    return (objective, high) if slo.comparator is Comparator.LE else (low, objective)


def latest(slo: SloDefinition, series: Sequence[Series]) -> tuple[datetime, float] | None:
    """The point to label: the last finite point of each series, the most recent of those, and of
    several at that time (one per pod) the worst; clamped like the line. None when there is none."""
    lasts: list[tuple[datetime, float]] = []
    for one in series:
        points = [(t, v) for (t, _), v in zip(one.points, clamp(slo, [v for _, v in one.points]), strict=True)
                  if not math.isnan(v)]
        if points:
            lasts.append(points[-1])
    if not lasts:
        return None
    when = max(t for t, _ in lasts)
    return when, slo.comparator.worst(v for t, v in lasts if t == when)


def _lone(values: Sequence[float]) -> list[int]:
    """Indexes of finite values with no finite neighbour (a line through them has no length)."""
    finite = [not math.isnan(v) for v in values]
    return [i for i, here in enumerate(finite)
            if here and (i == 0 or not finite[i - 1]) and (i + 1 == len(finite) or not finite[i + 1])]


def format_value(value: float, unit: str) -> str:
    """A displayed value (ms, %, or a plain number) short enough for a label: 99.95%, 412ms, 1,250."""
    if unit == "%":
        return f"{value:.2f}%"
    magnitude = abs(value)
    if magnitude >= 100:
        text = f"{value:,.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    elif magnitude >= 1 or magnitude == 0:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text}{unit}" if unit == "ms" else f"{text} {unit}".rstrip()


def render_png(panels: Sequence[Panel], *, title: str, start: datetime, end: datetime) -> bytes:
    """One row per SLO over [start, end] (UTC): its value over time, the objective as a dashed red line,
    the bad side of it shaded and the latest value labelled."""
    import matplotlib  # lazy: matplotlib and numpy cost ~600 ms; only a chart being drawn pays it

    matplotlib.use("Agg")  # no display in a server; must precede pyplot (a no-op once set)
    import matplotlib.dates as mdates  # lazy: part of matplotlib, as above
    import matplotlib.pyplot as plt  # lazy: part of matplotlib, as above

    short = (end - start).total_seconds() <= 600
    figure, axes = plt.subplots(len(panels), 1, figsize=(8, 2.2 * len(panels) + 0.6), squeeze=False)
    try:
        figure.suptitle(f"{title} (UTC)", fontsize=11)
        for ax, panel in zip(axes[:, 0], panels, strict=True):
            slo = panel.slo
            factor, unit = _scale(slo.unit)
            objective = slo.objective * factor
            everything: list[float] = []
            plotted = False
            # Only what falls in the window: the x-range is fixed, and the label must be a point one can see.
            window = [Series(labels=s.labels, points=[(t, v) for t, v in s.points if start <= t <= end])
                      for s in panel.series]
            for series in window:
                values = clamp(slo, [v for _, v in series.points])
                everything.extend(values)
                if any(not math.isnan(v) for v in values):
                    times = [t for t, _ in series.points]
                    shown = [v * factor for v in values]  # NaN stays NaN: a gap in the line
                    # clip_on=False: a line at exactly 100 % or 0 is drawn over the frame, not hidden by it.
                    (line,) = ax.plot(times, shown, linewidth=1.4, clip_on=False, zorder=3)
                    lone = _lone(shown)
                    if lone:  # a point between gaps draws no line; a dot shows it
                        ax.plot([times[i] for i in lone], [shown[i] for i in lone], "o", markersize=3,
                                color=line.get_color(), clip_on=False, zorder=3)
                    plotted = True
            low, high = y_range(slo, everything)
            ax.set_ylim(low * factor, high * factor)
            bad_low, bad_high = breach_span(slo, (low, high))
            bad = ">" if slo.comparator is Comparator.LE else "<"
            ax.axhspan(bad_low * factor, bad_high * factor, color=BREACH_COLOR, alpha=0.8, linewidth=0, zorder=0,
                       label=f"breach ({bad} {format_value(objective, unit)})")
            ax.axhline(objective, color="red", linestyle="--", linewidth=1, zorder=2,
                       label=f"objective {slo.comparator.symbol} {format_value(objective, unit)}")
            point = latest(slo, window) if plotted else None
            if point is not None:
                when, value = point
                ok = slo.comparator.ok(value, slo.objective)
                colour = "darkgreen" if ok else "firebrick"
                shown_value = value * factor
                ax.plot([when], [shown_value], "o", markersize=4, color=colour, clip_on=False, zorder=4)
                upper = shown_value > (low + high) / 2 * factor  # the label goes toward the emptier half
                ax.annotate(f"now {format_value(shown_value, unit)}", xy=(when, shown_value),
                            xytext=(-8, -10 if upper else 10), textcoords="offset points", ha="right",
                            va="top" if upper else "bottom", fontsize=8, fontweight="bold", color=colour,
                            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": colour,
                                  "alpha": 0.9}, zorder=5)
            if not plotted:
                # Above the objective line and boxed, so "no data" is never read as a flat, healthy series.
                ax.text(0.5, 0.72, panel.error or "no data", transform=ax.transAxes, ha="center", va="center",
                        color="dimgray", fontsize=9, bbox={"facecolor": "white", "edgecolor": "lightgray"},
                        zorder=5)
            # The window is fixed, so an empty panel still shows the half hour it covers.
            ax.set_xlim(start, end)
            ax.set_title(f"{slo.name} ({unit or 'value'})", fontsize=9, loc="left")
            # Above the panel, right of its title: never over the line it explains.
            ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, fontsize=7, frameon=False,
                      borderaxespad=0.1)
            # Seconds matter on short windows (tests, a fresh breach); minutes are enough on a half hour.
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S" if short else "%H:%M", tz=UTC))
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=90)
        return buffer.getvalue()
    finally:
        plt.close(figure)
