"""The log line of an unsigned request: formatting cost against the body's size, in one run.

Bolt logs every rejected body ("Invalid request signature detected (… body: …)"); `bot.core.logs`
drops the body, redacts secrets and URL passwords, cuts and escapes what is left. The line must cost
time in proportion to the body at most (an attacker chooses the size, up to the 1 MiB body limit),
never more: this formats records whose bodies are 16 KiB and 1 MiB and reports the ratio of their
times, beside the ratio of their sizes (64). A quadratic step shows as a ratio near 64² = 4,096.

    .venv/bin/python bench/log_flood.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.core.logs import SafeFormatter  # noqa: E402

SMALL, LARGE = 16 * 1024, 1024 * 1024
MAX_ROUNDS = 100
GOAL_RATIO = 2 * LARGE / SMALL  # linear, with room for the noise of a shared machine


def record(size: int, *, library: bool) -> logging.LogRecord:
    """Bolt's line with the body in its message, or one of the bot's lines with user text as an argument
    (redacted and escaped whole, then cut to 300 characters)."""
    body = "text=" + ("FLOOD-MARKER" * (size // 12 + 1))[: size - 5]
    if library:
        message = f"Invalid request signature detected (signature: v0=00, timestamp: 1, body: {body})"
        return logging.LogRecord("slack_bolt.App", logging.INFO, __file__, 1, message, None, None)
    return logging.LogRecord("bot.surfaces.slack_app", logging.INFO, __file__, 1, "unknown action %s", (body,), None)


def seconds_to_format(formatter: SafeFormatter, size: int, *, library: bool) -> float:
    entry = record(size, library=library)
    started = time.perf_counter()
    formatter.format(entry)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    rounds = max(1, min(args.rounds, MAX_ROUNDS))
    formatter = SafeFormatter()
    met = True
    for library, what in ((True, "Bolt's rejected-body line"), (False, "the bot's line with user text as argument")):
        small, large = [], []
        for _ in range(rounds):  # interleaved, so a busy machine slows both alike
            small.append(seconds_to_format(formatter, SMALL, library=library))
            large.append(seconds_to_format(formatter, LARGE, library=library))
        small_ms, large_ms = statistics.median(small) * 1000, statistics.median(large) * 1000
        ratio = large_ms / small_ms
        sizes = LARGE // SMALL
        met = met and ratio <= GOAL_RATIO
        print(f"{what}, median of {rounds}: 16 KiB {small_ms:.3f} ms, 1 MiB {large_ms:.3f} ms; time ratio "
              f"{ratio:.0f} for a size ratio of {sizes} (quadratic ~{sizes ** 2:,}); goal <= {GOAL_RATIO:.0f}: "
              f"{'met' if ratio <= GOAL_RATIO else 'NOT met'}")
    return 0 if met else 1

if __name__ == "__main__":
    raise SystemExit(main())
