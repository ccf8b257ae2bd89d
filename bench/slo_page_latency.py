"""Breach → page latency: the bot's SLO watch beside a Prometheus alerting rule with the same `for:`.

One synthetic NODE0, one real Prometheus (1 s scrape and rule evaluation), and three observers of
the same breach, timed from the moment the exporter starts violating the p99 latency objective:

- bot: the SLO watch run by its real APScheduler job (`bot.surfaces.scheduler`, interval 1 s,
  sustain = `--sustain`), until its page reaches the recording Slack server. The job asks to run
  again on the sustain boundary (`WatchRun.next_evaluation`), so the page does not wait for the
  next interval tick;
- rule: Prometheus's own `ALERTS{alertstate="firing"}` for a rule with the same expression,
  window and `for:`, polled through its API every 50 ms;
- alertmanager: that rule's notification reaching a webhook receiver on 127.0.0.1 through
  Debian's `prometheus-alertmanager` (group_wait 1 s, group_interval 1 s), started afresh before each
  run so that each breach is a first notification, as one after a quiet spell is. Without it that column
  is skipped with a message saying how to install it (`apt-get install prometheus-alertmanager`).

Each breach has its own Prometheus (and bot): the lag of the rule's evaluation after the scrape is
fixed for one Prometheus process and differs between processes (`one_breach`), so the runs sample it.

Reports medians, the bot/rule and bot/Alertmanager ratios, and the goal: the bot pages within
sustain + 1.0 s of the breach's start, and at most 0.9x a tuned Alertmanager. Each breach starts at a
random phase of the 1 s scrape/evaluation cycle (`--seed`), as a real one does.
Bounded: `--runs` (at most 10) and an overall deadline.

    .venv/bin/python bench/slo_page_latency.py [--runs 5] [--sustain 10]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pydantic import SecretStr  # noqa: E402

from bot.assembly import build_runtime  # noqa: E402
from bot.core.config import BizraConfig, Secrets  # noqa: E402
from bot.features.slo.watch import load_state  # noqa: E402
from bot.surfaces.scheduler import start_scheduler  # noqa: E402
from commands.slo import SloState  # noqa: E402
from tests.support.node0_exporter import node0_exporter  # noqa: E402
from tests.support.prometheus import free_port, poll, prometheus_server  # noqa: E402
from tests.support.slack import SlackRecorder  # noqa: E402

WINDOW = "3s"
EXPR = f"histogram_quantile(0.99, sum by (le) (rate(node0_cb_request_duration_seconds_bucket[{WINDOW}]))) > 0.0015"
MAX_RUNS = 10
DEADLINE_SECONDS = 600


class Webhook:
    """Alertmanager's webhook receiver: remembers when each firing notification arrived."""

    def __init__(self) -> None:
        self.firing: list[float] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                if body.get("status") == "firing":
                    outer.firing.append(time.monotonic())
                self.send_response(200)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def start_alertmanager(workdir: Path, webhook: Webhook, *, port: int | None = None,
                       run: int = 0) -> tuple[subprocess.Popen[bytes] | None, str]:
    """A fresh Alertmanager (its own storage, no cluster peers) on `port` (a free one by default)."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        return None, ""
    config = workdir / "alertmanager.yml"
    config.write_text(yaml.safe_dump({
        "route": {"receiver": "hook", "group_by": ["alertname"], "group_wait": "1s", "group_interval": "1s",
                  "repeat_interval": "1h"},
        "receivers": [{"name": "hook", "webhook_configs": [{"url": webhook.url, "send_resolved": True}]}],
    }))
    port = port or free_port()
    log = (workdir / "alertmanager.log").open("ab")
    process = subprocess.Popen([binary, f"--config.file={config}", f"--storage.path={workdir / f'am{run}'}",
                                f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                               stdout=log, stderr=subprocess.STDOUT)
    def ready() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as response:
            return response.status == 200

    poll(ready, timeout=30, what="Alertmanager /-/ready")
    return process, f"127.0.0.1:{port}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sustain", type=float, default=10.0, help="sustain / for: in seconds")
    parser.add_argument("--seed", type=int, default=12, help="seed of the breaches' random start phases")
    args = parser.parse_args()
    runs = max(1, min(args.runs, MAX_RUNS))
    phases = random.Random(args.seed)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="bizra-bench-"))
    webhook = Webhook()
    am_port = free_port()
    recorder = SlackRecorder().start()
    results: dict[str, list[float]] = {"bot": [], "rule": [], "alertmanager": []}
    ratios: list[float] = []
    alertmanager_missing = not (shutil.which("prometheus-alertmanager") or shutil.which("alertmanager"))
    if alertmanager_missing:
        print("Alertmanager not found (prometheus-alertmanager / alertmanager on PATH): its column is skipped. "
              "Install it with `apt-get install prometheus-alertmanager` to compare with it.", file=sys.stderr)
    try:
        with node0_exporter() as node0:
            for run in range(runs):
                if time.monotonic() - started > DEADLINE_SECONDS:
                    print("deadline reached; stopping early", file=sys.stderr)
                    break
                node0.reset()
                seen, breakdown = one_breach(run, workdir / f"run{run}", node0, webhook, recorder, am_port=am_port,
                                             sustain=args.sustain, phase=phases.uniform(0.0, 1.0))
                for name, value in seen.items():
                    results[name].append(value)
                if "bot" in seen and "alertmanager" in seen:
                    ratios.append(seen["bot"] / seen["alertmanager"])
                print(f"run {run + 1}: " + ", ".join(f"{k} {v:.2f}s" for k, v in sorted(seen.items()))
                      + breakdown, flush=True)
    finally:
        recorder.stop()
        webhook.server.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)
    _summary(results, ratios, sustain=args.sustain, runs=runs, alertmanager_missing=alertmanager_missing)
    return 0


def one_breach(run: int, rundir: Path, node0: Any, webhook: Webhook, recorder: SlackRecorder, *, am_port: int,
               sustain: float, phase: float) -> tuple[dict[str, float], str]:
    """One breach, timed by the three observers, each started afresh for it.

    A fresh Prometheus with its rules at a path of its own: Prometheus spreads its rule groups over the
    evaluation interval by a hash of the group's name and file, and its scrapes by a hash of the target,
    so the rule's lag after the scrape (R) is fixed for one process and drawn anew with each. One process
    for every breach would measure one R five times; a fleet of Prometheus servers has them all. A fresh
    Alertmanager, so that each breach is a first notification (see the module docstring), and a fresh
    bot (runtime, store, scheduler) pointed at this Prometheus.
    """
    rundir.mkdir(parents=True)
    rules = rundir / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "node0", "interval": "1s", "rules": [
        {"alert": "CbLatencyP99High", "expr": EXPR, "for": f"{int(sustain)}s"}]}]}))
    alertmanager, am_target = start_alertmanager(rundir, webhook, port=am_port, run=run)
    try:
        with prometheus_server([node0.target], rule_files=[rules],
                               alertmanagers=[am_target] if am_target else None) as prom:
            config = BizraConfig.model_validate({
                "store": {"path": str(rundir / "state.sqlite")},
                "slack": {"release_channel": "CBENCH", "messages_per_second": 100},
                "slo": {"prometheus": {"url": prom.url, "timeout_seconds": 2}, "window": WINDOW, "interval": 1,
                        "sustain": sustain, "repage": 3600, "post_status": False},
            })
            secrets = Secrets(slack_bot_token=SecretStr("xoxb-bench"), slack_api_url=recorder.api_url)
            runtime = build_runtime(config=config, secrets=secrets)
            scheduler = start_scheduler(runtime)
            assert scheduler is not None
            try:
                # Quiet before the breach: no firing rule, and the bot has seen every SLO OK (a breach that
                # follows a blind stretch is dated by the tick, not by the data: bot/features/slo/onset.py).
                poll(lambda: not prom.query('ALERTS{alertstate="firing"}') and _all_ok(runtime), timeout=120,
                     what="all clear")
                pages_before = len(_pages(recorder))
                hooks_before = len(webhook.firing)
                # "All clear" is seen just after an evaluation, so without this every breach would start at
                # the same phase of the 1 s scrape/evaluation cycle; a real one starts at any moment.
                time.sleep(phase)
                t0 = time.monotonic()
                wall0 = time.time()
                node0.set(latency_seconds=0.003)
                seen: dict[str, float] = {}
                limit = t0 + sustain + 60
                while len(seen) < (3 if alertmanager else 2) and time.monotonic() < limit:
                    now = time.monotonic()
                    if "bot" not in seen and len(_pages(recorder)) > pages_before:
                        seen["bot"] = now - t0
                    if "rule" not in seen and prom.query('ALERTS{alertstate="firing"}'):
                        seen["rule"] = now - t0
                    if "alertmanager" not in seen and len(webhook.firing) > hooks_before:
                        seen["alertmanager"] = webhook.firing[hooks_before] - t0
                    time.sleep(0.05)  # polling interval of the observer
                return seen, _breakdown(runtime, prom, wall0)
            finally:
                scheduler.stop(timeout=20)
                # Its chart process too: one left per breach kept the interpreter from exiting at the end.
                runtime.work.get().shutdown(wait=False)
    finally:
        if alertmanager is not None:
            alertmanager.terminate()
            alertmanager.wait(timeout=10)


def _all_ok(runtime: Any) -> bool:
    state = load_state(runtime)
    return bool(state.tracks) and all(track.condition is SloState.OK for track in state.tracks.values()) and not [
        alert for alert in state.alerts if alert.is_open]


def _summary(results: dict[str, list[float]], ratios: list[float], *, sustain: float, runs: int,
             alertmanager_missing: bool) -> None:
    print(f"\nbreach → notification, sustain/for = {sustain:g}s, rate window {WINDOW}, scrape/eval 1s, "
          f"bot interval 1s, {runs} runs, each with its own Prometheus and Alertmanager")
    medians = {k: statistics.median(v) for k, v in results.items() if v}
    for name, median in medians.items():
        print(f"  {name:13s} median {median:6.2f}s  (min {min(results[name]):.2f}, max {max(results[name]):.2f})")
    if "bot" in medians and "rule" in medians:
        print(f"  bot / rule ratio          {medians['bot'] / medians['rule']:.2f}")
    if "bot" in medians and "alertmanager" in medians:
        print(f"  bot / alertmanager ratio  {medians['bot'] / medians['alertmanager']:.2f} of the medians; "
              f"per breach {min(ratios):.2f}–{max(ratios):.2f}")
    elif alertmanager_missing:
        print("  alertmanager              skipped: not installed (apt-get install prometheus-alertmanager)")
    if "bot" in medians:
        within = medians["bot"] <= sustain + 1.0
        goal = f"  goal: bot <= sustain + 1.0 s ({sustain + 1.0:g}s): {'met' if within else 'NOT met'}"
        if "alertmanager" in medians:
            ratio_met = medians["bot"] <= 0.9 * medians["alertmanager"]
            goal += f"; bot <= 0.9x alertmanager: {'met' if ratio_met else 'NOT met'}"
        print(goal)


def _breakdown(runtime: Any, prom: Any, wall0: float) -> str:
    """Where the time went, from the breach's start: the bot's first breaching evaluation (its breach's
    `since`) and when it opened the alert, and the rule's `activeAt` (its first breaching evaluation)."""
    opened = [a for a in load_state(runtime).alerts if a.is_open]
    parts = []
    if opened:
        alert = opened[-1]
        parts.append(f"bot saw it at {alert.since.timestamp() - wall0:.2f}s, "
                     f"opened at {alert.opened_at.timestamp() - wall0:.2f}s")
    try:
        with urllib.request.urlopen(prom.url + "/api/v1/alerts", timeout=2) as response:
            active = [a["activeAt"] for a in json.load(response)["data"]["alerts"]]
        if active:
            at = datetime.fromisoformat(active[0].replace("Z", "+00:00")[:26] + "+00:00").timestamp()
            parts.append(f"rule saw it at {at - wall0:.2f}s")
    except (OSError, ValueError, KeyError):
        pass
    return f"  ({'; '.join(parts)})" if parts else ""


def _pages(recorder: SlackRecorder) -> list[Any]:
    return [r for r in recorder.calls("chat.postMessage")
            if not r.body.get("thread_ts") and "alert.ack" in str(r.body.get("blocks"))]


if __name__ == "__main__":
    raise SystemExit(main())
