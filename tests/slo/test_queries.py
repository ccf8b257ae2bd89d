"""Against the real Prometheus: one query per SLO per evaluation, and burn-rate paging from that same query."""

from __future__ import annotations

from pathlib import Path

from bot.assembly import build_runtime
from bot.core.config import BizraConfig
from bot.features.slo.watch import evaluate_now, run_once
from commands.slo import Paging
from tests.slo.conftest import Watch
from tests.support.prometheus import PrometheusServer, poll
from tests.support.shared_prometheus import Slot


def test_one_instant_query_per_slo_per_evaluation(watch: Watch, prom: PrometheusServer) -> None:
    # Prometheus counts the queries it served; read from its /metrics so that counting adds no query.
    before = _own_counter(prom)
    watch.run(0)
    after = _own_counter(prom)
    assert after - before == len(watch.runtime.config.slo.catalog)


def _own_counter(prom: PrometheusServer) -> float:
    import urllib.request

    with urllib.request.urlopen(f"{prom.url}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith('prometheus_http_requests_total{code="200",handler="/api/v1/query"}'):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_burn_rate_paging_fires_from_the_single_query(prom: PrometheusServer, watch: Watch, node0_slot: Slot,
                                                      tmp_path: Path) -> None:
    catalog = [s.model_copy(update={"paging": Paging.BURN_RATE}) if s.name == "cache_l1_hit_ratio" else s
               for s in node0_slot.catalog()]
    raw = watch.runtime.config.model_dump(mode="json")
    raw["slo"]["catalog"] = [s.model_dump(mode="json") for s in catalog]
    # 14.4x is impossible with the 10% budget of a 90% hit ratio: capped to 5x (a 50% miss ratio).
    # Windows shortened through config: 6 s (six scrapes) and 3 s.
    raw["slo"]["burn_rate"] = {"tiers": [{"long": "6s", "short": "3s", "factor": 14.4}]}
    runtime = build_runtime(config=BizraConfig.model_validate(raw), secrets=watch.runtime.secrets, clock=watch.clock)
    before = _own_counter(prom)
    status = evaluate_now(runtime, at=watch.clock.now())
    assert _own_counter(prom) - before == 4, "burn-rate windows ride on the SLO's one query"
    cache = next(r for r in status.results if r.name == "cache_l1_hit_ratio")
    assert not cache.burn_firing

    watch.node0.set(cache_hit_ratio=0.2)
    poll(lambda: next(r for r in evaluate_now(runtime, at=watch.clock.now()).results
                      if r.name == "cache_l1_hit_ratio").burn_firing, timeout=25, what="the burn-rate tier to fire")
    run = run_once(runtime, at=watch.clock.now())
    assert [(e.kind, e.slo) for e in run.events] == [("page", "cache_l1_hit_ratio")], \
        "a firing tier pages at once, without waiting for the sustain window"
    page = watch.pages()[-1]
    assert "burn rate" in str(page.body["blocks"])
