"""PNG charts of SLOs over the last half hour, with the objective drawn in (matplotlib, Agg backend).

What flows through: per SLO, its definition and the series a range query returned; out come PNG
bytes that the poster uploads in the alert's thread (Slack) or writes to a file (console). An SLO
with no data gets an empty panel that says so, rather than a missing panel that looks fine.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from commands.slo import Series, SloDefinition, Unit


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


def render_png(panels: Sequence[Panel], *, title: str, start: datetime, end: datetime) -> bytes:
    """One row per SLO over [start, end] (UTC): its value over time and the objective as a dashed red line."""
    import matplotlib  # lazy: matplotlib and numpy cost ~600 ms; only a chart being drawn pays it

    matplotlib.use("Agg")  # no display in a server; must precede pyplot (a no-op once set)
    import matplotlib.dates as mdates  # lazy: part of matplotlib, as above
    import matplotlib.pyplot as plt  # lazy: part of matplotlib, as above

    short = (end - start).total_seconds() <= 600
    figure, axes = plt.subplots(len(panels), 1, figsize=(8, 2.2 * len(panels) + 0.6), squeeze=False)
    try:
        figure.suptitle(f"{title} (UTC)", fontsize=11)
        for ax, panel in zip(axes[:, 0], panels, strict=True):
            factor, unit = _scale(panel.slo.unit)
            plotted = False
            for series in panel.series:
                points = [(t, v * factor) for t, v in series.points if not math.isnan(v) and not math.isinf(v)]
                if points:
                    ax.plot([p[0] for p in points], [p[1] for p in points], linewidth=1.4)
                    plotted = True
            ax.axhline(panel.slo.objective * factor, color="red", linestyle="--", linewidth=1,
                       label=f"objective {panel.slo.comparator.value} {panel.slo.objective * factor:g}{unit}")
            if not plotted:
                # Above the objective line and boxed, so "no data" is never read as a flat, healthy series.
                ax.text(0.5, 0.72, panel.error or "no data", transform=ax.transAxes, ha="center", va="center",
                        color="dimgray", fontsize=9, bbox={"facecolor": "white", "edgecolor": "lightgray"})
            # The window is fixed, so an empty panel still shows the half hour it covers.
            ax.set_xlim(start, end)
            ax.set_title(f"{panel.slo.name} ({unit or 'value'})", fontsize=9, loc="left")
            ax.legend(loc="best", fontsize=7)
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
