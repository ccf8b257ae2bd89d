"""`bizra serve` as a real process for the log and start-up tests: its environment, its log, stopping it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.polling import wait_until

REPO = Path(__file__).resolve().parents[2]
BOT_TOKEN = "xoxb-4711-logs-test-bot-token"  # made up for tests; never a real workspace's
SIGNING_SECRET = "logs-test-signing-secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_env(port: int, **extra: str) -> dict[str, str]:
    """The test's environment without real credentials, plus what `bizra serve` is given here."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "BIZRA_")) and k not in ("KUBECONFIG", "PORT", "HOST")}
    env.update(HOST="127.0.0.1", PORT=str(port), PYTHONUNBUFFERED="1", **extra)
    return env


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def lines(self) -> list[str]:
        return self.output().split("\n")[:-1]  # every record ends with "\n"; split on nothing else

    def stop(self) -> int:
        """SIGTERM, as Kubernetes stops the pod; the exit code."""
        self.process.terminate()
        return self.process.wait(timeout=20)


@contextmanager
def serving(argv: Sequence[str], env: dict[str, str], log: Path) -> Iterator[Served]:
    """`python -m bot <argv>` running until healthy on env's PORT (killed at the end if still running)."""
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "bot", *argv], cwd=REPO, env=env,
                                   stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
    served = Served(process=process, port=int(env["PORT"]), log=log)
    try:
        wait_until(lambda: healthy(served.port) or process.poll() is not None, timeout=30, what="serve's /healthz")
        assert process.poll() is None, f"bizra serve exited {process.returncode}:\n{served.output()}"
        yield served
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
