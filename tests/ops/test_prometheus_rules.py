"""SLO monitoring in ops/monitoring: the same queries as the bot (5m window), promtool-checked and
unit-tested (each alert fires just past its objective after 5 minutes, never just inside it),
Flagger MetricTemplates for the four SLOs and a Grafana panel per SLO with its objective."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from commands.slo import Comparator, default_catalog
from tests.ops.support import OPS, find

MONITORING = OPS / "monitoring"
RULES = MONITORING / "node0-slo-rules.yaml"
RULE_TESTS = MONITORING / "node0-slo-rules.test.yaml"
CATALOG = {slo.name: slo for slo in default_catalog()}
RECORDED = {
    "cb_latency_p99": "node0:cb_latency_p99_seconds:5m",
    "cb_error_rate": "node0:cb_error_ratio:5m",
    "cache_l1_hit_ratio": "node0:cache_l1_hit_ratio:5m",
    "planner_json_validity": "node0:planner_json_validity_ratio:5m",
}


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.fail("promtool is not installed: run `bash scripts/install-system-deps.sh` (Debian package prometheus)",
                    pytrace=False)
    return found


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"] for rule in group["rules"]]


def test_promtool_check_rules() -> None:
    result = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    result = subprocess.run([promtool(), "test", "rules", RULE_TESTS.name], cwd=MONITORING, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("slo", "moved"), [("cb_latency_p99", "0.0016"), ("cache_l1_hit_ratio", "0.88")])
def test_unit_tests_catch_a_moved_threshold(tmp_path: Path, slo: str, moved: str) -> None:
    # The promtool tests pin the edge: a threshold moved past the "just past" values must fail them.
    text = RULES.read_text(encoding="utf-8")
    original = f"{CATALOG[slo].objective:.4f}".rstrip("0") if slo == "cb_latency_p99" else "0.90"
    edited, count = re.subn(rf"({re.escape(RECORDED[slo])} [<>] ){re.escape(original)}\n", rf"\g<1>{moved}\n", text)
    assert count == 1
    (tmp_path / RULES.name).write_text(edited, encoding="utf-8")
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    result = subprocess.run([promtool(), "test", "rules", RULE_TESTS.name], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


@pytest.mark.parametrize("slo", sorted(CATALOG))
def test_recording_rule_is_the_bots_query_with_a_5m_window(slo: str) -> None:
    (rule,) = [r for r in rules() if r.get("record") == RECORDED[slo]]
    assert rule["expr"] == CATALOG[slo].promql("5m")


@pytest.mark.parametrize("slo", sorted(CATALOG))
def test_alert_breaks_at_the_objective_after_5_minutes(slo: str) -> None:
    definition = CATALOG[slo]
    (alert,) = [r for r in rules() if r.get("alert") and r["labels"]["slo"] == slo and "absent" not in r["expr"]]
    op = ">" if definition.comparator is Comparator.LE else "<"
    match = re.fullmatch(rf"{re.escape(RECORDED[slo])} {op} ([0-9.]+)", alert["expr"])
    assert match, alert["expr"]
    assert float(match.group(1)) == definition.objective
    assert alert["for"] == "5m"
    assert alert["labels"]["severity"] == "page"


def test_missing_data_alerts_for_every_slo() -> None:
    blind = {r["labels"]["slo"]: r for r in rules() if r.get("alert") == "Node0SloNoData"}
    assert set(blind) == set(CATALOG)
    for slo, rule in blind.items():
        assert rule["expr"] == f"absent({RECORDED[slo]})" and rule["for"] == "5m"


SELECTOR = 'namespace="{{ namespace }}",pod=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"'


@pytest.mark.parametrize("slo", sorted(CATALOG))
def test_flagger_metric_template_is_the_bots_query_on_the_canary_pods(slo: str) -> None:
    name = "node0-" + slo.replace("_", "-")
    template = find("MetricTemplate", name)
    assert template["apiVersion"] == "flagger.app/v1beta1"
    spec = template["spec"]
    assert spec["provider"]["type"] == "prometheus" and spec["provider"]["address"].startswith("http")
    query = spec["query"]
    assert "{{ interval }}" in query
    # Remove Flagger's pod scoping and its interval variable: what is left is the bot's query.
    unscoped = query.replace(SELECTOR + ",", "").replace("{" + SELECTOR + "}", "").replace("{{ interval }}", "$window")
    bots_query = CATALOG[slo].query
    assert bots_query is not None and unscoped == bots_query
    assert query.count(SELECTOR) == bots_query.count("[$window]")


def test_grafana_dashboard_has_one_panel_per_slo_with_its_objective() -> None:
    dashboard = json.loads((MONITORING / "grafana-node0-slos.json").read_text(encoding="utf-8"))
    assert dashboard["uid"] == "node0-production-slos"  # the bot's slo.dashboard_url points here
    panels = dashboard["panels"]
    assert len(panels) == len(CATALOG)
    by_query = {panel["targets"][0]["expr"]: panel for panel in panels}
    for slo, definition in CATALOG.items():
        panel = by_query[definition.promql("5m")]
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert [s["value"] for s in steps] == [None, definition.objective]
        bad = steps[1]["color"] if definition.comparator is Comparator.LE else steps[0]["color"]
        assert bad == "red", f"{slo}: the breached side of the objective must be red"
