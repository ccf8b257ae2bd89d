"""CLI start-up, whole processes: `bizra gates` against a plain Python reading the same five files, and `bizra --help`.

    .venv/bin/python bench/cli_start.py [--runs 15]

Three commands, run in the same session and interleaved (one of each per round, after one warm-up
round), so a busy machine slows them alike; each figure is the median wall time of N runs:

  (a) plain:  `python -c` reading artifacts/{cb,cache,planner_eval,wq_proof,attestation}.json
  (b) gates:  `python -m bot gates` on the shipped artifacts (what a CI step costs)
  (c) help:   `python -m bot --help`

Goals: gates at most 5x plain, help under 300 ms. Exit 0 when both are met, 1 when either is missed
(or a command fails). Find what dominates with `python -X importtime -m bot gates 2> /tmp/imp.txt`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = ("cb.json", "cache.json", "planner_eval.json", "wq_proof.json", "attestation.json")
GATES_RATIO_MAX = 5.0
HELP_MS_MAX = 300.0

PLAIN = (
    "from pathlib import Path\n"
    f"for name in {ARTIFACTS!r}:\n"
    "    Path('artifacts', name).read_bytes()\n"
)


def commands() -> dict[str, list[str]]:
    python = sys.executable
    return {
        "plain": [python, "-c", PLAIN],
        "gates": [python, "-m", "bot", "gates"],
        "help": [python, "-m", "bot", "--help"],
    }


def run_once(command: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    return (time.perf_counter() - started) * 1000, done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (default 15, at most 100)")
    args = parser.parse_args()
    runs = max(1, min(args.runs, 100))
    # The shipped config's defaults; no Slack or BIZRA_CONFIG from the caller's shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BIZRA_"))}
    table = commands()

    times: dict[str, list[float]] = {name: [] for name in table}
    for round_ in range(runs + 1):  # round 0 warms the page cache and the .pyc files; it is not counted
        for name, command in table.items():
            elapsed, done = run_once(command, env)
            if done.returncode != 0:
                print(f"{name}: `{' '.join(command)}` exited {done.returncode}\n{done.stdout}{done.stderr}",
                      file=sys.stderr)
                return 1
            if round_:
                times[name].append(elapsed)

    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"whole-process wall time, median of {runs} interleaved runs (min-max):")
    for name, command in table.items():
        shown = "python -c <read the five artifacts>" if name == "plain" else " ".join(["python", *command[1:]])
        print(f"  {name:<6} {median[name]:7.1f} ms  ({min(times[name]):.0f}-{max(times[name]):.0f})  {shown}")
    ratio = median["gates"] / median["plain"]
    gates_ok = ratio <= GATES_RATIO_MAX
    help_ok = median["help"] < HELP_MS_MAX
    print(f"gates/plain: {ratio:.2f}x (goal <= {GATES_RATIO_MAX:g}x): {'met' if gates_ok else 'MISSED'}")
    print(f"help: {median['help']:.0f} ms (goal < {HELP_MS_MAX:g} ms): {'met' if help_ok else 'MISSED'}")
    return 0 if gates_ok and help_ok else 1


if __name__ == "__main__":
    sys.exit(main())
