"""What the Prometheus adapter makes of errors, timeouts, missing data and authentication: UNKNOWN, never OK."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bot.adapters.prometheus import PrometheusSource
from bot.assembly import build_runtime
from bot.features.slo.settings import PrometheusSettings
from commands.slo import Comparator, SloDefinition, SloResult, SloState, Unit, evaluate
from tests.slo.conftest import WINDOW
from tests.support.prometheus import PrometheusServer, poll
from tests.support.shared_prometheus import Slot

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _slo(query: str, *, name: str = "probe") -> SloDefinition:
    return SloDefinition(name=name, query=query, comparator=Comparator.LE, objective=1.0, unit=Unit.NUMBER)


def test_a_promql_error_is_unknown_with_the_reason(prom: PrometheusServer) -> None:
    source = PrometheusSource(PrometheusSettings(url=prom.url, timeout_seconds=3))
    status = evaluate([_slo("sum(rate(node0_cb_requests_total[$window])")], source, window=WINDOW, at=NOW)
    result = status.results[0]
    assert result.state is SloState.UNKNOWN and "answered with an error" in result.reason and "400" in result.reason


def test_no_series_is_unknown_not_ok(prom: PrometheusServer) -> None:
    source = PrometheusSource(PrometheusSettings(url=prom.url, timeout_seconds=3))
    status = evaluate([_slo("sum(rate(node0_missing_metric_total[$window]))")], source, window=WINDOW, at=NOW)
    assert status.results[0].state is SloState.UNKNOWN and "no data" in status.results[0].reason
    assert status.state is SloState.UNKNOWN


def test_no_traffic_makes_ratios_unknown(prom: PrometheusServer, node0_slot: Slot) -> None:
    source = PrometheusSource(PrometheusSettings(url=prom.url, timeout_seconds=3))
    catalog = [s for s in node0_slot.catalog() if s.name == "cb_error_rate"]
    node0_slot.exporter.set(requests_per_second=0.0)
    result = poll(lambda: (r := evaluate(catalog, source, window=WINDOW, at=NOW).results[0]).state
                  is SloState.UNKNOWN and r, timeout=20, what="0/0 to show as no data")
    assert isinstance(result, SloResult) and result.reason.startswith("no data")


def _default() -> list[SloDefinition]:
    from commands.slo import default_catalog

    return default_catalog()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers (a hung Prometheus)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        listener.close()


def test_a_timeout_is_unknown_with_the_reason(silent_server: str) -> None:
    source = PrometheusSource(PrometheusSettings(url=silent_server, timeout_seconds=0.5))
    status = evaluate(_default()[:1], source, window=WINDOW, at=NOW)
    assert status.results[0].state is SloState.UNKNOWN
    assert "did not answer within 0.5s" in status.results[0].reason


class _AuthCheckingPrometheus:
    """Answers /api/v1/query like Prometheus, but only with the expected Authorization header."""

    def __init__(self, expected: str) -> None:
        self.seen: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                header = self.headers.get("Authorization")
                outer.seen.append(header)
                if header != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"status": "success", "data": {"resultType": "vector",
                                                                 "result": [{"metric": {}, "value": [0, "0.5"]}]}})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def test_bearer_token_and_basic_auth_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_PROM_TOKEN", "t0ken")  # made up for the test
    monkeypatch.setenv("TEST_PROM_PASSWORD", "pw")
    bearer = _AuthCheckingPrometheus("Bearer t0ken")
    basic = _AuthCheckingPrometheus("Basic " + base64.b64encode(b"bot:pw").decode())
    try:
        ok = evaluate([_slo("up")], PrometheusSource(PrometheusSettings(url=bearer.url,
                                                                        bearer_token_env="TEST_PROM_TOKEN")),
                      window=WINDOW, at=NOW)
        assert ok.results[0].state is SloState.OK and ok.results[0].value == 0.5
        ok = evaluate([_slo("up")], PrometheusSource(PrometheusSettings(
            url=basic.url, basic_auth_user="bot", basic_auth_password_env="TEST_PROM_PASSWORD")),
            window=WINDOW, at=NOW)
        assert ok.results[0].state is SloState.OK
        refused = evaluate([_slo("up")], PrometheusSource(PrometheusSettings(url=bearer.url)), window=WINDOW, at=NOW)
        assert refused.results[0].state is SloState.UNKNOWN and "401" in refused.results[0].reason
    finally:
        bearer.server.shutdown()
        basic.server.shutdown()
    monkeypatch.delenv("TEST_PROM_TOKEN")
    with pytest.raises(RuntimeError, match="TEST_PROM_TOKEN"):
        PrometheusSource(PrometheusSettings(url=bearer.url, bearer_token_env="TEST_PROM_TOKEN"))


def test_a_missing_token_leaves_the_watch_unknown_not_crashed(prom: PrometheusServer, tmp_path: Any) -> None:
    from bot.core.config import BizraConfig, Secrets
    from bot.features.slo.watch import evaluate_now

    config = BizraConfig.model_validate({"store": {"path": str(tmp_path / "s.sqlite")}, "slo": {
        "prometheus": {"url": prom.url, "bearer_token_env": "TEST_PROM_TOKEN_UNSET"}}})
    status = evaluate_now(build_runtime(config=config, secrets=Secrets()), at=NOW)
    assert {r.state for r in status.results} == {SloState.UNKNOWN}
    assert "TEST_PROM_TOKEN_UNSET" in status.results[0].reason
