"""Whole-process time of `bizra gates` on the shipped artifacts (what a CI step costs), median of N runs.

    .venv/bin/python bench/gates_cli.py [--runs 7]

Also times the engine alone (load + evaluate, in-process): the gap between the two is start-up
(interpreter, imports, model building), not the gates. The start-up goals (gates within 5x of a
plain Python reading the same files, `bizra --help` under 300 ms) are checked by
`bench/cli_start.py`, which times the commands side by side.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    runs = max(1, min(args.runs, 50))
    script = shutil.which("bizra", path=str(Path(sys.executable).parent))
    command = [script, "gates"] if script else [sys.executable, "-m", "bot", "gates"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BIZRA_"))}

    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
        times.append((time.perf_counter() - started) * 1000)
        if done.returncode != 0:
            print(done.stdout, done.stderr, file=sys.stderr)
            return 1

    from commands.attestation import load_trusted_keys  # lazy: only the in-process engine timing needs the engine
    from commands.gates import GatePolicy, evaluate_release  # lazy: as above

    keys = load_trusted_keys([REPO / "ops/keys/attestation-release.pub"])
    engine = []
    for _ in range(200):
        started = time.perf_counter()
        evaluate_release(REPO / "artifacts", GatePolicy(), keys)
        engine.append((time.perf_counter() - started) * 1000)

    print(f"`{' '.join(Path(part).name if part == script else part for part in command)}` on artifacts/, {runs} runs:")
    print(f"  whole process: median {statistics.median(times):.0f} ms (min {min(times):.0f}, max {max(times):.0f})")
    print(f"  engine alone (load 5 files + 9 gates + Ed25519 verify): median {statistics.median(engine):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
