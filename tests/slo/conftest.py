"""The run's shared Prometheus, a synthetic NODE0 of the test's own on it, and a bot wired to both.

Each test's NODE0 is its own scrape job (`node0_slot`, tests/support/shared_prometheus.py) and its SLO
catalog selects that job, so a breach in one test is never in another's rate window.

Windows are shortened through config: the rate window is 3 s (Prometheus scrapes every second),
and `sustain` / `repage` are measured on the test's FixedClock, so a "5-minute" breach is two
calls of the job body a few logical seconds apart, never a wait.
"""

from __future__ import annotations

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
from commands.slo import SloDefinition, SloState, SloStatus
from tests.support.node0_exporter import Node0Exporter
from tests.support.prometheus import PrometheusServer, poll
from tests.support.shared_prometheus import SharedPrometheus, Slot
from tests.support.slack import Recorded, SlackRecorder

RELEASE_CHANNEL = "CREL"
ON_CALL = "UONCALL"
RESPONDER = "URESPOND"
SUSTAIN = 30  # seconds of the test clock
REPAGE = 60
WINDOW = "3s"


@pytest.fixture
def prom(shared_prometheus: SharedPrometheus) -> PrometheusServer:
    return shared_prometheus.prom


def slo_config(prom_url: str, tmp_path: Path, *, catalog: list[SloDefinition] | None = None,
               store: dict[str, str] | None = None, **slo: Any) -> BizraConfig:
    raw_slo: dict[str, Any] = {
        "prometheus": {"url": prom_url, "timeout_seconds": 3},
        "window": WINDOW, "sustain": SUSTAIN, "repage": REPAGE, "interval": "10s",
        "on_call": {"users": [ON_CALL]},
        "dashboard_url": "https://grafana.example.test/d/node0",
    }
    if catalog is not None:
        raw_slo["catalog"] = [definition.model_dump(mode="json") for definition in catalog]
    raw_slo.update(slo)
    return BizraConfig.model_validate({
        "store": store or {"path": str(tmp_path / "state.sqlite")},
        "slack": {"release_channel": RELEASE_CHANNEL, "messages_per_second": 50},
        "slo": raw_slo,
        "access": {"roles": {"responder": {"users": [RESPONDER], "permissions": ["alert.ack", "rollback"]}}},
    })


def secrets_for(recorder: SlackRecorder) -> Secrets:
    return secrets_for_url(recorder.api_url)


def secrets_for_url(slack_api_url: str) -> Secrets:
    """The test secrets with Slack's Web API at `slack_api_url` (the recording server)."""
    return Secrets(slack_bot_token=SecretStr("xoxb-test-token"), slack_signing_secret=SecretStr("test-signing-secret"),
                   slack_api_url=slack_api_url, host="127.0.0.1", port=0)


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
def watch(prom: PrometheusServer, node0_slot: Slot, slack_recorder: SlackRecorder, tmp_path: Path,
          request: pytest.FixtureRequest) -> Watch:
    """A watch on a SQLite file; a test that also takes `store_section` runs on both backends (its store)."""
    store = request.getfixturevalue("store_section") if "store_section" in request.fixturenames else None
    config = slo_config(prom.url, tmp_path, catalog=node0_slot.catalog(), store=store)
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    runtime = build_runtime(config=config, secrets=secrets_for(slack_recorder), clock=clock)
    watch = Watch(runtime=runtime, clock=clock, recorder=slack_recorder, node0=node0_slot.exporter, start=clock.now())
    watch.wait_all_ok()
    return watch
