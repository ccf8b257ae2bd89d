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
    import urllib.request

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
    rules = workdir / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "node0", "interval": "1s", "rules": [
        {"alert": "CbLatencyP99High", "expr": EXPR, "for": f"{int(args.sustain)}s"}]}]}))
    webhook = Webhook()
    alertmanager, am_target = start_alertmanager(workdir, webhook)
    am_port = int(am_target.rsplit(":", 1)[1]) if am_target else 0
    if alertmanager is None:
        print("Alertmanager not found (prometheus-alertmanager / alertmanager on PATH): its column is skipped. "
              "Install it with `apt-get install prometheus-alertmanager` to compare with it.", file=sys.stderr)
    recorder = SlackRecorder().start()
    results: dict[str, list[float]] = {"bot": [], "rule": [], "alertmanager": []}
    try:
        with node0_exporter() as node0, prometheus_server([node0.target], rule_files=[rules],
                                                          alertmanagers=[am_target] if am_target else None) as prom:
            config = BizraConfig.model_validate({
                "store": {"path": str(workdir / "state.sqlite")},
                "slack": {"release_channel": "CBENCH", "messages_per_second": 100},
                "slo": {"prometheus": {"url": prom.url, "timeout_seconds": 2}, "window": WINDOW, "interval": 1,
                        "sustain": args.sustain, "repage": 3600, "post_status": False},
            })
            secrets = Secrets(slack_bot_token=SecretStr("xoxb-bench"), slack_api_url=recorder.api_url)
            runtime = build_runtime(config=config, secrets=secrets)
            scheduler = start_scheduler(runtime)
            assert scheduler is not None
            try:
                for run in range(runs):
                    if time.monotonic() - started > DEADLINE_SECONDS:
                        print("deadline reached; stopping early", file=sys.stderr)
                        break
                    node0.reset()
                    # Quiet before each run: no firing rule, no open bot alert.
                    poll(lambda: not prom.query('ALERTS{alertstate="firing"}') and not [
                        a for a in load_state(runtime).alerts if a.is_open], timeout=120, what="all clear")
                    if alertmanager is not None and run > 0:
                        # A breach after a quiet spell is a new group for Alertmanager (waits group_wait). Just
                        # after the last one resolved, its group still exists (Alertmanager drops empty groups
                        # every 30 s) and a new alert in it goes out at the next group_interval tick instead;
                        # a fresh Alertmanager on the same port keeps every run a first notification.
                        alertmanager.terminate()
                        alertmanager.wait(timeout=10)
                        alertmanager, _ = start_alertmanager(workdir, webhook, port=am_port, run=run)
                        assert alertmanager is not None
                    pages_before = len(_pages(recorder))
                    hooks_before = len(webhook.firing)
                    # "All clear" is seen just after an evaluation, so without this every breach would start
                    # at the same phase of the 1 s scrape/evaluation cycle; a real one starts at any moment.
                    time.sleep(phases.uniform(0.0, 1.0))
                    t0 = time.monotonic()
                    wall0 = time.time()
                    node0.set(latency_seconds=0.003)
                    seen: dict[str, float] = {}
                    limit = t0 + args.sustain + 60
                    while len(seen) < (3 if alertmanager else 2) and time.monotonic() < limit:
                        now = time.monotonic()
                        if "bot" not in seen and len(_pages(recorder)) > pages_before:
                            seen["bot"] = now - t0
                        if "rule" not in seen and prom.query('ALERTS{alertstate="firing"}'):
                            seen["rule"] = now - t0
                        if "alertmanager" not in seen and len(webhook.firing) > hooks_before:
                            seen["alertmanager"] = webhook.firing[hooks_before] - t0
                        time.sleep(0.05)  # polling interval of the observer
                    for name, value in seen.items():
                        results[name].append(value)
                    print(f"run {run + 1}: " + ", ".join(f"{k} {v:.2f}s" for k, v in sorted(seen.items()))
                          + _breakdown(runtime, prom, wall0), flush=True)
                node0.reset()
            finally:
                scheduler.shutdown(wait=True)
    finally:
        recorder.stop()
        webhook.server.shutdown()
        if alertmanager is not None:
            alertmanager.terminate()
            alertmanager.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\nbreach → notification, sustain/for = {args.sustain:g}s, rate window {WINDOW}, scrape/eval 1s, "
          f"bot interval 1s, {runs} runs")
    medians = {k: statistics.median(v) for k, v in results.items() if v}
    for name, median in medians.items():
        print(f"  {name:13s} median {median:6.2f}s  (min {min(results[name]):.2f}, max {max(results[name]):.2f})")
    if "bot" in medians and "rule" in medians:
        print(f"  bot / rule ratio          {medians['bot'] / medians['rule']:.2f}")
    if "bot" in medians and "alertmanager" in medians:
        print(f"  bot / alertmanager ratio  {medians['bot'] / medians['alertmanager']:.2f}")
    elif alertmanager is None:
        print("  alertmanager              skipped: not installed (apt-get install prometheus-alertmanager)")
    if "bot" in medians:
        within = medians["bot"] <= args.sustain + 1.0
        goal = f"  goal: bot <= sustain + 1.0 s ({args.sustain + 1.0:g}s): {'met' if within else 'NOT met'}"
        if "alertmanager" in medians:
            ratio_met = medians["bot"] <= 0.9 * medians["alertmanager"]
            goal += f"; bot <= 0.9x alertmanager: {'met' if ratio_met else 'NOT met'}"
        print(goal)
    return 0


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
        import urllib.request

        with urllib.request.urlopen(prom.url + "/api/v1/alerts", timeout=2) as response:
            active = [a["activeAt"] for a in json.load(response)["data"]["alerts"]]
        if active:
            from datetime import datetime

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
