"""One real Prometheus scraping one synthetic NODE0 for the whole folder, and a bot wired to both.

Windows are shortened through config: the rate window is 3 s (Prometheus scrapes every second),
and `sustain` / `repage` are measured on the test's FixedClock, so a "5-minute" breach is two
calls of the job body a few logical seconds apart, never a wait.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.assembly import build_runtime
from bot.core.config import BizraConfig, Secrets
from bot.core.runtime import Runtime
from bot.features.slo.watch import WatchRun, evaluate_now, run_once
from commands.ports import FixedClock
from commands.slo import SloState, SloStatus
from tests.support.node0_exporter import Node0Exporter, node0_exporter
from tests.support.prometheus import PrometheusServer, poll, prometheus_server
from tests.support.slack import Recorded, SlackRecorder

RELEASE_CHANNEL = "CREL"
ON_CALL = "UONCALL"
RESPONDER = "URESPOND"
SUSTAIN = 30  # seconds of the test clock
REPAGE = 60
WINDOW = "3s"


@pytest.fixture(scope="package")
def node0() -> Iterator[Node0Exporter]:
    with node0_exporter() as exporter:
        yield exporter


@pytest.fixture(scope="package")
def prom(node0: Node0Exporter) -> Iterator[PrometheusServer]:
    with prometheus_server([node0.target]) as server:
        yield server


def slo_config(prom_url: str, tmp_path: Path, **slo: Any) -> BizraConfig:
    raw_slo: dict[str, Any] = {
        "prometheus": {"url": prom_url, "timeout_seconds": 3},
        "window": WINDOW, "sustain": SUSTAIN, "repage": REPAGE, "interval": "10s",
        "on_call": {"users": [ON_CALL]},
        "dashboard_url": "https://grafana.example.test/d/node0",
    }
    raw_slo.update(slo)
    return BizraConfig.model_validate({
        "store": {"path": str(tmp_path / "state.sqlite")},
        "slack": {"release_channel": RELEASE_CHANNEL, "messages_per_second": 50},
        "slo": raw_slo,
        "access": {"roles": {"responder": {"users": [RESPONDER], "permissions": ["alert.ack", "rollback"]}}},
    })


def secrets_for(recorder: SlackRecorder) -> Secrets:
    return Secrets(slack_bot_token=SecretStr("xoxb-test-token"), slack_signing_secret=SecretStr("test-signing-secret"),
                   slack_api_url=recorder.api_url, host="127.0.0.1", port=0)


@dataclass
class Watch:
    """A runtime on the test Prometheus, its clock, and readers of what reached Slack."""

    runtime: Runtime
    clock: FixedClock
    recorder: SlackRecorder
    node0: Node0Exporter
    start: datetime

    def run(self, seconds: float) -> WatchRun:
        """The job body at `start + seconds` on the test clock."""
        self.clock.set(self.start + timedelta(seconds=seconds))
        return run_once(self.runtime, at=self.clock.now())

    def wait_for(self, slo: str, state: SloState, *, timeout: float = 20.0) -> SloStatus:
        """Poll Prometheus (not the job) until `slo` is in `state` there."""
        def check() -> SloStatus | None:
            status = evaluate_now(self.runtime, at=self.clock.now())
            found = next(r for r in status.results if r.name == slo)
            return status if found.state is state else None

        return poll(check, timeout=timeout, what=f"{slo} to be {state}", interval=0.2)

    def wait_all_ok(self) -> SloStatus:
        def check() -> SloStatus | None:
            status = evaluate_now(self.runtime, at=self.clock.now())
            return status if status.state is SloState.OK else None

        return poll(check, timeout=25, what="every SLO OK", interval=0.2)

    def posts(self) -> list[Recorded]:
        return [r for r in self.recorder.calls("chat.postMessage") if r.body.get("ok", True)]

    def pages(self) -> list[Recorded]:
        """Channel messages (not thread replies) that carry the Acknowledge button."""
        return [r for r in self.recorder.calls("chat.postMessage")
                if not r.body.get("thread_ts") and "alert.ack" in str(r.body.get("blocks"))]

    def thread(self, ts: str) -> list[Recorded]:
        return [r for r in self.recorder.calls("chat.postMessage") if r.body.get("thread_ts") == ts]


@pytest.fixture
def watch(prom: PrometheusServer, node0: Node0Exporter, slack_recorder: SlackRecorder,
          tmp_path: Path) -> Iterator[Watch]:
    node0.reset()
    config = slo_config(prom.url, tmp_path)
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    runtime = build_runtime(config=config, secrets=secrets_for(slack_recorder), clock=clock)
    watch = Watch(runtime=runtime, clock=clock, recorder=slack_recorder, node0=node0, start=clock.now())
    watch.wait_all_ok()
    yield watch
    node0.reset()
