"""Charts read at a glance (issue 11): real matplotlib renders, the pure helpers that decide the y-range,
the clamping and the shaded breach side, and the pruning of the console's chart folder."""

from __future__ import annotations

import io
import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.charts import Panel, breach_span, clamp, format_value, latest, render_png, y_range
from bot.core.delivery import ConsolePoster, prune_charts
from bot.core.rendering import Renderers
from commands.slo import Comparator, Series, SloDefinition, Unit

END = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)
START = END - timedelta(minutes=30)
TIMES = [START + timedelta(seconds=15 * i) for i in range(121)]


def _slo(comparator: str, objective: float, unit: str) -> SloDefinition:
    return SloDefinition(name="s", query="q", comparator=Comparator(comparator), objective=objective, unit=Unit(unit))


LATENCY = _slo("<=", 0.5, "seconds")
AVAILABILITY = _slo(">=", 0.999, "ratio")
ERRORS = _slo("<=", 0.01, "ratio")


def _decode(png: bytes) -> tuple[int, int]:
    import matplotlib.image

    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    return int(image.shape[0]), int(image.shape[1])


# -- renders ------------------------------------------------------------------------------------------


def test_a_render_decodes_at_the_expected_size() -> None:
    panels = [Panel(slo=LATENCY, series=[Series(labels={}, points=[(t, 0.1 + 0.7 * (i > 100))
                                                                    for i, t in enumerate(TIMES)])]),
              Panel(slo=AVAILABILITY, series=[Series(labels={}, points=[(t, 1.0000002) for t in TIMES])]),
              Panel(slo=ERRORS, series=[], error="no data: ConnectionError")]
    png = render_png(panels, title="t", start=START, end=END)
    assert png.startswith(b"\x89PNG")
    # figsize (8, 2.2 x 3 panels + 0.6) inches at 90 dpi
    assert _decode(png) == (round((2.2 * 3 + 0.6) * 90), 8 * 90)


def test_a_single_point_series_and_gaps_render() -> None:
    series = [Series(labels={"pod": "a"}, points=[(TIMES[0], math.nan), (TIMES[1], 0.2), (TIMES[2], math.inf)]),
              Series(labels={"pod": "b"}, points=[(START - timedelta(hours=1), 9.0)])]  # outside the window
    png = render_png([Panel(slo=LATENCY, series=series)], title="t", start=START, end=END)
    assert _decode(png) == (round((2.2 + 0.6) * 90), 8 * 90)


def test_ratios_are_clamped_to_0_100_percent_and_non_finite_values_are_gaps() -> None:
    out = clamp(AVAILABILITY, [1.0000001, -0.2, 0.5, math.nan, math.inf])
    assert out[:3] == [1.0, 0.0, 0.5] and math.isnan(out[3]) and math.isnan(out[4])
    assert clamp(LATENCY, [3.0, -1.0]) == [3.0, -1.0]  # only ratios have bounds


@pytest.mark.parametrize(("slo", "band"), [(LATENCY, 0.5), (AVAILABILITY, 0.005), (ERRORS, 0.01),
                                           (_slo(">=", 50, "number"), 50), (_slo("<=", 0.0, "number"), 1)])
@pytest.mark.parametrize("values", [[], [0.0] * 5, [1.0] * 5, [0.9995] * 5, [0.2, 0.3], [40.0, 70.0], [math.nan]])
def test_the_range_includes_the_objective_with_margin(slo: SloDefinition, band: float, values: list[float]) -> None:
    """A band either side of the objective (its size, or 0.5 pp for a 99.9 % ratio), cut only at 0 and 100 %."""
    low, high = y_range(slo, values)
    assert low <= max(slo.objective - band, 0.0) and high >= min(slo.objective + band, 1.0 if slo.unit is Unit.RATIO
                                                                 else math.inf)
    finite = [v for v in clamp(slo, values) if not math.isnan(v)]
    assert all(low <= v <= high for v in finite)
    if slo.unit is Unit.RATIO:
        assert 0.0 <= low < high <= 1.0


def test_a_flat_healthy_series_gets_the_same_range_wherever_it_sits_and_does_not_fill_the_panel() -> None:
    assert y_range(LATENCY, [0.1] * 50) == y_range(LATENCY, [0.3] * 50) == y_range(LATENCY, []) == (0.0, 1.0)
    assert y_range(AVAILABILITY, [0.9995] * 50) == y_range(AVAILABILITY, [1.0] * 50) == pytest.approx((0.994, 1.0))
    assert y_range(ERRORS, [0.002] * 50) == pytest.approx((0.0, 0.02))


def test_a_tiny_wiggle_does_not_change_the_range_or_look_like_a_cliff() -> None:
    flat = y_range(AVAILABILITY, [0.9995] * 50)
    wiggle = [0.9995 + (0.0005 if i % 2 else -0.0005) for i in range(50)]  # a 0.1 % wiggle
    assert y_range(AVAILABILITY, wiggle) == flat
    low, high = flat
    assert 0.001 / (high - low) < 0.2  # a fifth of the panel at most


def test_a_value_far_outside_the_band_widens_the_range_with_margin() -> None:
    low, high = y_range(LATENCY, [0.1, 4.0])
    assert low == 0.0 and 4.0 < high < 4.5
    low, high = y_range(AVAILABILITY, [0.5, 1.0])
    assert 0.45 < low < 0.5 and high == 1.0


# -- breach shading -----------------------------------------------------------------------------------


def test_the_shaded_span_is_above_the_objective_for_le_and_below_for_ge() -> None:
    limits = y_range(LATENCY, [0.2])
    assert breach_span(LATENCY, limits) == (0.5, limits[1])
    limits = y_range(AVAILABILITY, [0.9995])
    assert breach_span(AVAILABILITY, limits) == (limits[0], 0.999)
    # the shaded span holds exactly the breaching values
    for slo, values in ((LATENCY, [0.2, 0.7]), (AVAILABILITY, [0.995, 0.9999])):
        low, high = breach_span(slo, y_range(slo, values))
        for value in values:
            assert (low < value < high) == (not slo.comparator.ok(value, slo.objective))


def test_the_label_is_the_latest_finite_point_and_the_worst_of_several() -> None:
    series = [Series(labels={}, points=[(TIMES[0], 0.2), (TIMES[1], 0.3), (TIMES[2], math.nan)]),
              Series(labels={}, points=[(TIMES[0], 0.1), (TIMES[1], 0.6)])]
    assert latest(LATENCY, series) == (TIMES[1], 0.6)
    assert latest(AVAILABILITY, [Series(labels={}, points=[(TIMES[0], 1.3)])]) == (TIMES[0], 1.0)
    assert latest(LATENCY, [Series(labels={}, points=[(TIMES[0], math.nan)])]) is None
    assert [format_value(v, u) for v, u in ((99.951, "%"), (412.3, "ms"), (1250.0, ""))] == ["99.95%", "412ms", "1,250"]


# -- pruning ------------------------------------------------------------------------------------------


def _files(directory: Path, count: int) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = directory / f"slo-{i:03d}.png"
        path.write_bytes(b"\x89PNG old")
        os.utime(path, ns=(1_700_000_000_000_000_000 + i * 10**9,) * 2)  # i seconds apart: 0 oldest
        paths.append(path)
    return paths


def test_pruning_keeps_the_newest_files_and_deletes_older_ones(tmp_path: Path) -> None:
    paths = _files(tmp_path, 8)
    archive = tmp_path / "evidence.zip"
    archive.write_bytes(b"PK")
    deleted = prune_charts(tmp_path, keep=3)
    assert sorted(deleted) == paths[:5]
    assert sorted(tmp_path.iterdir()) == [archive, *paths[5:]]  # not a chart: left alone


def test_the_chart_just_written_is_kept_whatever_its_timestamp(tmp_path: Path) -> None:
    paths = _files(tmp_path, 5)
    prune_charts(tmp_path, keep=2, protect=paths[0])  # the oldest mtime (a clock set back)
    assert sorted(tmp_path.iterdir()) == [paths[0], paths[4]]


def test_the_console_poster_prunes_as_it_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.core.delivery as delivery

    monkeypatch.setattr(delivery, "KEEP_CHARTS", 3)
    charts = tmp_path / "charts"
    old = _files(charts, 4)
    poster = ConsolePoster(Renderers(), io.StringIO(), charts_dir=charts)
    where = poster.upload_png(b"\x89PNG new", filename="slo-new.png", title="t")
    assert where == str(charts / "slo-new.png")
    assert sorted(charts.iterdir()) == sorted([charts / "slo-new.png", *old[2:]])
