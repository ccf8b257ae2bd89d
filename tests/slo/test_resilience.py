"""Restarts, Slack retries, failures of Prometheus and PagerDuty: never a duplicate page, never a silent green.

A test that takes `store_section` runs twice, its watch on SQLite and on PostgreSQL (tests/slo/conftest.py):
the replica and restart tests, whose "exactly once" is the store's.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.assembly import build_runtime
from bot.core.runtime import Runtime
from bot.features.slo.watch import load_state, run_once
from commands.ports import FixedClock
from commands.slo import SloState
from tests.slo.conftest import ON_CALL, SUSTAIN, Watch, secrets_for, slo_config
from tests.support.prometheus import PrometheusServer
from tests.support.shared_prometheus import PrivatePrometheus, Slot
from tests.support.slack import Recorded, SlackRecorder


def _breach_latency(watch: Watch) -> None:
    watch.node0.set(latency_seconds=0.003)
    watch.wait_for("cb_latency_p99", SloState.BREACHING)


def test_a_restart_mid_breach_neither_pages_twice_nor_forgets_the_breach(
        watch: Watch, store_section: dict[str, str]) -> None:
    _breach_latency(watch)
    watch.run(0)
    watch.run(SUSTAIN)
    assert len(watch.pages()) == 1
    page_ts = load_state(watch.runtime).alerts[0].message_ts

    # A new process: new Runtime (new connections, new poster) on the same store.
    restarted = build_runtime(config=watch.runtime.config, secrets=watch.runtime.secrets, clock=watch.clock)
    watch.clock.set(watch.start + timedelta(seconds=SUSTAIN + 5))
    run_once(restarted, at=watch.clock.now())
    assert len(watch.pages()) == 1, "the restarted bot must not page the same breach again"

    watch.node0.reset()
    watch.wait_for("cb_latency_p99", SloState.OK)
    watch.clock.set(watch.start + timedelta(seconds=SUSTAIN + 15))
    run = run_once(restarted, at=watch.clock.now())
    assert [e.kind for e in run.events] == ["resolve"], "the restarted bot remembers the open breach"
    assert any("Resolved" in str(r.body.get("text")) for r in watch.thread(str(page_ts)))


def test_a_rate_limited_page_is_retried_and_posted_once(watch: Watch) -> None:
    limited: list[Recorded] = []

    def rate_limit_first_page(recorded: Recorded) -> tuple[int, dict[str, str], dict[str, Any]]:
        if "alert.ack" in str(recorded.body.get("blocks")) and not limited:
            limited.append(recorded)
            return 429, {"Retry-After": "1", "Content-Type": "application/json"}, {"ok": False, "error": "ratelimited"}
        return 200, {"Content-Type": "application/json"}, {"ok": True, "ts": f"1700000000.{len(limited):06d}9",
                                                            "channel": recorded.body.get("channel")}

    watch.recorder.overrides["chat.postMessage"] = rate_limit_first_page
    _breach_latency(watch)
    watch.run(0)
    watch.run(SUSTAIN)

    assert len(limited) == 1, "Slack answered the first page attempt with 429"
    assert len(watch.pages()) == 2, "slack_sdk retried after Retry-After: one refused attempt, one page"
    assert load_state(watch.runtime).alerts[0].message_ts
    watch.run(SUSTAIN + 5)
    watch.run(SUSTAIN + 5)  # the same tick again (a retried job): nothing new
    assert len(watch.pages()) == 2


def test_a_failed_page_is_sent_on_the_next_tick_and_only_once(watch: Watch) -> None:
    failing = {"on": True}

    def fail_pages(recorded: Recorded) -> tuple[int, dict[str, str], dict[str, Any]]:
        if failing["on"] and "alert.ack" in str(recorded.body.get("blocks")):
            return 200, {"Content-Type": "application/json"}, {"ok": False, "error": "internal_error"}
        return 200, {"Content-Type": "application/json"}, {"ok": True, "ts": "1700000001.000100",
                                                            "channel": recorded.body.get("channel")}

    watch.recorder.overrides["chat.postMessage"] = fail_pages
    _breach_latency(watch)
    watch.run(0)
    run = watch.run(SUSTAIN)
    assert [e.kind for e in run.events] == ["page"]
    assert load_state(watch.runtime).alerts[0].message_ts is None, "a refused page is not recorded as sent"

    failing["on"] = False
    watch.run(SUSTAIN + 5)
    watch.run(SUSTAIN + 10)
    delivered = [r for r in watch.pages()]
    assert len(delivered) == 2, "one refused attempt, then exactly one page"
    assert f"<@{ON_CALL}>" in str(delivered[-1].body["blocks"])


def test_prometheus_stopped_is_unknown_and_pages_monitoring_blind(private_prometheus: PrivatePrometheus,
                                                                   slack_recorder: SlackRecorder,
                                                                   tmp_path: Path) -> None:
    own_prometheus, node0 = private_prometheus.prom, private_prometheus.exporter  # this test stops it
    clock = FixedClock(datetime.now(UTC))
    runtime = build_runtime(config=slo_config(own_prometheus.url, tmp_path), secrets=secrets_for(slack_recorder),
                      clock=clock)
    watch = Watch(runtime=runtime, clock=clock, recorder=slack_recorder, node0=node0, start=clock.now())
    watch.wait_all_ok()
    assert watch.run(0).status.state is SloState.OK

    own_prometheus.stop()
    run = watch.run(10)
    assert run.status.state is SloState.UNKNOWN
    assert all(r.state is SloState.UNKNOWN and "unreachable" in r.reason for r in run.status.results)
    status_post = json.dumps(watch.posts()[-1].body["blocks"], ensure_ascii=False)
    assert "✅" not in status_post and status_post.count("❔") >= 4
    assert watch.pages() == [], "UNKNOWN for less than the window is not yet an alert"

    watch.run(10 + SUSTAIN)
    pages = watch.pages()
    assert len(pages) == 1
    text = json.dumps(pages[0].body["blocks"], ensure_ascii=False)
    assert "Monitoring blind" in text and f"<@{ON_CALL}>" in text and "unreachable" in text
    watch.run(20 + SUSTAIN)
    assert len(watch.pages()) == 1


class _PagerDutyRecorder:
    """Events API v2 on 127.0.0.1: records every event and answers 202 (or what `fail_next` says)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.fail_next = 0
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                if recorder.fail_next:
                    recorder.fail_next -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                recorder.events.append(body)
                payload = json.dumps({"status": "success", "dedup_key": body.get("dedup_key")}).encode()
                self.send_response(202)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v2/enqueue"


def test_pagerduty_triggers_and_resolves_with_one_dedup_key(prom: PrometheusServer, node0_slot: Slot,
                                                            slack_recorder: SlackRecorder, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pagerduty = _PagerDutyRecorder()
    monkeypatch.setenv("TEST_PD_ROUTING_KEY", "test-routing-key")  # made up; never a real integration's
    node0 = node0_slot.exporter
    clock = FixedClock(datetime.now(UTC))
    config = slo_config(prom.url, tmp_path, catalog=node0_slot.catalog(),
                        pagerduty={"enabled": True, "routing_key_env": "TEST_PD_ROUTING_KEY",
                                   "events_url": pagerduty.url, "timeout_seconds": 3})
    watch = Watch(runtime=build_runtime(config=config, secrets=secrets_for(slack_recorder), clock=clock), clock=clock,
                  recorder=slack_recorder, node0=node0, start=clock.now())
    try:
        watch.wait_all_ok()
        _breach_latency(watch)
        pagerduty.fail_next = 1  # PagerDuty hiccups on the first trigger: the next tick retries it
        watch.run(0)
        watch.run(SUSTAIN)
        assert pagerduty.events == []
        watch.run(SUSTAIN + 5)
        watch.run(SUSTAIN + 10)
        assert [e["event_action"] for e in pagerduty.events] == ["trigger"]

        node0.reset()
        watch.wait_for("cb_latency_p99", SloState.OK)
        watch.run(SUSTAIN + 20)
        watch.run(SUSTAIN + 30)
    finally:
        pagerduty.server.shutdown()
    assert [e["event_action"] for e in pagerduty.events] == ["trigger", "resolve"]
    keys = {e["dedup_key"] for e in pagerduty.events}
    assert len(keys) == 1 and next(iter(keys)).startswith("cb_latency_p99.")
    trigger = pagerduty.events[0]
    assert trigger["routing_key"] == "test-routing-key" and "cb_latency_p99" in trigger["payload"]["summary"]
    assert trigger["payload"]["severity"] == "critical"
    assert len(watch.pages()) == 1


def test_two_replicas_ticking_together_page_once(watch: Watch, store_section: dict[str, str]) -> None:
    _breach_latency(watch)
    watch.run(0)
    other = build_runtime(config=watch.runtime.config, secrets=watch.runtime.secrets, clock=watch.clock)
    when = watch.start + timedelta(seconds=SUSTAIN)
    errors: list[BaseException] = []

    def tick(runtime: Runtime, offset: float) -> None:
        try:
            run_once(runtime, at=when + timedelta(seconds=offset))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=tick, args=(rt, off)) for rt, off in ((watch.runtime, 0), (other, 0.5))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert len(watch.pages()) == 1
    assert len(watch.recorder.calls("files.completeUploadExternal")) == 1


def test_two_replicas_on_their_own_timers_post_one_status_per_interval(
        watch: Watch, store_section: dict[str, str]) -> None:
    """Interval is 10 s: replica B ticks 3 s after replica A, every time; the channel sees one status each
    interval — since issue 11 as one living message, posted once and edited in place once per interval."""
    # At noon of the test's UTC day: ticks that cross midnight would rightly start a second message.
    watch.start = watch.start.replace(hour=12, minute=0, second=0, microsecond=0)
    other = build_runtime(config=watch.runtime.config, secrets=watch.runtime.secrets, clock=watch.clock)

    def statuses() -> int:
        return len([p for p in watch.posts() if not p.body.get("thread_ts") and "alert.ack" not in str(p.body)])

    for n in range(3):
        first = watch.run(n * 10)
        second = run_once(other, at=watch.start + timedelta(seconds=n * 10 + 3))
        assert not first.replayed and second.replayed
    assert statuses() == 1
    assert len(watch.recorder.calls("chat.update")) == 2
