"""A watch killed in the middle of an alert's delivery (issue 9): each piece is recorded as soon as it is done,
so the replica that takes over neither pages twice nor waits out the dead one's claims.

The killed watch is a real process (`tests/slo/watch_process.py`, SIGKILL), the elected leader on a Lease in
the store; the recording Slack server holds its chart upload unanswered, right after the page. The test's own
watch is the other replica on the same store: it takes the Lease over on its clock, then ticks.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from bot.features.slo.watch import load_state, run_once
from commands.slo import SloState
from tests.slo.conftest import RELEASE_CHANNEL, REPAGE, SUSTAIN, Watch
from tests.slo.watch_process import elect
from tests.support.polling import wait_until
from tests.support.prometheus import PrometheusServer
from tests.support.shared_prometheus import Slot
from tests.support.slack import Message

REPO = Path(__file__).resolve().parents[2]
UPLOAD = "files.getUploadURLExternal"


def _pages(watch: Watch) -> list[Message]:
    return [m for m in watch.recorder.top_level(RELEASE_CHANNEL)
            if any(b.get("action_id") == "alert.ack" for b in m.buttons())]


def _repage_numbers(watch: Watch, ts: str) -> list[int]:
    found = (re.search(r"Still unacknowledged.*\(page (\d+)\)", str(r.body.get("text"))) for r in watch.thread(ts))
    return [int(match.group(1)) for match in found if match]


def _tick_in_a_process(watch: Watch, prom: PrometheusServer, slot: Slot, workdir: Path, *, seconds: float,
                       identity: str) -> tuple[subprocess.Popen[bytes], Path]:
    spec = workdir / f"{identity}.json"
    spec.write_text(json.dumps({
        "prom_url": prom.url, "workdir": str(workdir), "slack_api_url": watch.recorder.api_url,
        "catalog": [slo.model_dump(mode="json") for slo in slot.catalog()],
        "at": (watch.start + timedelta(seconds=seconds)).isoformat(), "identity": identity,
    }), encoding="utf-8")
    log = workdir / f"{identity}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "tests.slo.watch_process", str(spec)], cwd=REPO,
                                   stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
    return process, log


def test_a_watch_killed_between_the_page_and_its_chart_never_pages_twice_and_the_next_one_repages_in_its_thread(
        watch: Watch, prom: PrometheusServer, node0_slot: Slot, tmp_path: Path) -> None:
    watch.node0.set(latency_seconds=0.003)
    watch.wait_for("cb_latency_p99", SloState.BREACHING)
    watch.run(0)  # the breach begins; it is paged at SUSTAIN, by the other process
    watch.recorder.fail_next(UPLOAD, hang=True)
    process, log = _tick_in_a_process(watch, prom, node0_slot, tmp_path, seconds=SUSTAIN, identity="watch-a")
    try:
        wait_until(lambda: process.poll() is not None or [r for r in watch.recorder.calls(UPLOAD) if r.faulted],
                   timeout=60, what="the other process inside the chart upload")
        assert process.poll() is None, log.read_text(encoding="utf-8", errors="replace")
        [page] = _pages(watch)
        # Recorded as soon as it was posted, before the chart: from here on a crash cannot lose the page's ts.
        [alert] = load_state(watch.runtime).alerts
        assert (alert.message_ts, alert.pages_sent, alert.chart_sent) == (page.ts, 1, True)
    finally:
        process.kill()  # SIGKILL in the middle of the upload: no cleanup, its claims stay in the store
        process.wait(timeout=10)
    watch.recorder.release()

    # This replica takes the Lease over once watch-a's has run out on its clock, and ticks when a re-page is due.
    elector = elect(watch.runtime, identity="watch-b")
    assert not elector.is_leader(), "watch-a's Lease is still valid"
    watch.clock.set(watch.start + timedelta(seconds=SUSTAIN + REPAGE + 1))
    assert elector.step(), "watch-b takes over the Lease that watch-a stopped renewing"
    run_once(watch.runtime, at=watch.clock.now())

    assert len(_pages(watch)) == 1, "the page was posted again"
    assert _repage_numbers(watch, page.ts) == [2], [r.body.get("text") for r in watch.thread(page.ts)]
    charts = watch.recorder.files_in_thread(RELEASE_CHANNEL, page.ts)
    assert len(charts) == 1, f"the chart once, in the page's thread: {charts}"
    [alert] = load_state(watch.runtime).alerts
    assert (alert.pages_sent, alert.claimed_by) == (2, None), alert
