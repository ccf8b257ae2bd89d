"""The `slo:` section: defaults, durations in seconds or `5m`, and clear errors for bad catalogs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from bot.core.config import BizraConfig, ConfigError, load_config
from bot.features.slo.settings import SloSettings

REPO_ROOT = Path(__file__).resolve().parents[2]


def _load(tmp_path: Path, slo: dict) -> BizraConfig:
    path = tmp_path / "bizra.yaml"
    path.write_text(yaml.safe_dump({"slo": slo}))
    return load_config(path)


def test_defaults_are_the_seed_slos_and_agreed_intervals() -> None:
    settings = SloSettings()
    assert settings.prometheus.url == "http://prometheus.monitoring:9090" and settings.prometheus.verify_tls
    assert (settings.window, settings.interval, settings.sustain, settings.repage) == (
        "5m", timedelta(minutes=5), timedelta(minutes=5), timedelta(minutes=15))
    catalog = {s.name: (s.comparator.value, s.objective) for s in settings.catalog}
    assert catalog == {"cb_latency_p99": ("<=", 0.0015), "cb_error_rate": ("<=", 0.01),
                       "cache_l1_hit_ratio": (">=", 0.90), "planner_json_validity": (">=", 0.98)}
    assert "node0_cb_request_duration_seconds_bucket[5m]" in settings.catalog[0].promql("5m")
    assert settings.sustain_seconds == 300


def test_the_example_file_documents_the_defaults() -> None:
    example = load_config(REPO_ROOT / "bizra.example.yaml")
    assert example.slo == SloSettings()


@pytest.mark.parametrize(("raw", "expected"), [(30, 30), ("30s", 30), ("5m", 300), ("1h30m", 5400), ("2.5", 2.5)])
def test_durations_accept_seconds_or_strings(tmp_path: Path, raw: object, expected: float) -> None:
    assert _load(tmp_path, {"sustain": raw}).slo.sustain == timedelta(seconds=expected)


@pytest.mark.parametrize(("slo", "field", "message"), [
    ({"sustain": "5 minutes"}, "slo.sustain", "not a duration"),
    ({"repage": 0}, "slo.repage", "longer than zero"),
    ({"window": "five"}, "slo.window", "PromQL range"),
    ({"prometheus": {"url": "prometheus:9090"}}, "slo.prometheus.url", "http://"),
    ({"prometheus": {"basic_auth_user": "bot"}}, "slo.prometheus", "basic_auth_password_env"),
    ({"catalog": [{"name": "x", "query": "up", "good": "a", "total": "b", "comparator": "<=", "objective": 1}]},
     "slo.catalog.0", "not both"),
    ({"catalog": [{"name": "x", "comparator": "<=", "objective": 1}]}, "slo.catalog.0", "give `query`"),
    ({"catalog": [{"name": "x", "query": "up", "comparator": "==", "objective": 1}]}, "slo.catalog.0.comparator",
     "'<='"),
    ({"catalog": [{"name": "lat", "query": "up", "comparator": "<=", "objective": 0.1, "unit": "seconds",
                   "paging": "burn_rate"}]}, "slo.catalog.0", "burn_rate paging needs a ratio SLO"),
    ({"catalog": [{"name": "a", "query": "up", "comparator": "<=", "objective": 1}] * 2}, "slo.catalog",
     "repeated: a"),
    ({"catalog": []}, "slo.catalog", "at least 1"),
    ({"oncall": {"users": ["U1"]}}, "slo.oncall", "Extra inputs"),
])
def test_bad_settings_name_the_field_and_the_fix(tmp_path: Path, slo: dict, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, slo)
    assert field in str(caught.value) and message in str(caught.value)


def test_ratio_slos_from_good_and_total(tmp_path: Path) -> None:
    config = _load(tmp_path, {"catalog": [{"name": "avail", "good": "sum(rate(ok[$window]))",
                                           "total": "sum(rate(all[$window]))", "comparator": ">=",
                                           "objective": 0.999, "unit": "ratio", "paging": "burn_rate"}]})
    slo = config.slo.catalog[0]
    assert slo.promql("30s") == "(sum(rate(ok[30s]))) / (sum(rate(all[30s])))"
    assert slo.error_budget() == pytest.approx(0.001)


def test_on_call_mentions_users_and_groups() -> None:
    from bot.features.slo.settings import OnCallSettings

    assert OnCallSettings(users=["U1"], groups=["S2", "@sre"]).mentions() == "<@U1> <!subteam^S2> @sre"
    assert OnCallSettings().mentions() == "<!here>"
