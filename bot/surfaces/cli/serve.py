"""`bizra serve`: the Slack app, in HTTP mode or (with SLACK_APP_TOKEN) Socket Mode.

The Bolt app, the HTTP server and the scheduler are imported in `run`: only `serve` pays for them.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
from typing import TYPE_CHECKING

from bot.surfaces.cli.common import add_verb, runtime_from

if TYPE_CHECKING:
    from bot.core.config import BizraConfig, Secrets
    from bot.core.leadership import Leadership
    from bot.core.runtime import Runtime

log = logging.getLogger(__name__)

# How long stopping waits for background runs in progress (an SLO tick ends within its own deadline);
# within Kubernetes' default 30 s grace period, leaving time for the work already acknowledged.
JOBS_STOP_SECONDS = 20.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_verb(subparsers, "serve", help="run the Slack app (HTTP on $PORT, or Socket Mode)")
    parser.set_defaults(run=run)


class StopSignals:
    """SIGTERM (Kubernetes stopping the pod) and SIGINT (Ctrl-C), as something the main thread waits for.

    The handlers raise nothing: an exception raised into whatever the main thread was doing is lost when
    that code catches broadly (slack_sdk's Socket Mode connect catches every Exception and reconnects, so
    a SIGTERM during the connect left the pod running until SIGKILL). Python's C-level handler writes the
    signal's number to a pipe (`signal.set_wakeup_fd`), so a signal that arrives before `wait` is not missed.
    """

    HANDLED = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)  # set_wakeup_fd requires it: a full pipe must not block a handler

    def install(self) -> None:
        """On the main thread, before anything else is started."""
        signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        for signum in self.HANDLED:
            signal.signal(signum, self._noted)

    @staticmethod
    def _noted(signum: int, frame: object) -> None:
        """Nothing to do: the wakeup byte already woke `wait` (a Python handler must exist for it to be sent)."""

    def wait(self) -> str:
        """Block until SIGTERM or SIGINT; the signal's name."""
        while True:
            for number in os.read(self._read, 64):
                if number in self.HANDLED:
                    return signal.Signals(number).name

    def ignore_further(self) -> None:
        """A second SIGTERM (or Ctrl-C) must not cut the orderly shutdown short."""
        for signum in self.HANDLED:
            signal.signal(signum, signal.SIG_IGN)


def startup_problems(config: BizraConfig, secrets: Secrets) -> list[str]:
    """What `bizra serve` cannot run without, each with how to set it (empty when all is there)."""
    problems = []
    missing = [name for name, value in (("SLACK_BOT_TOKEN", secrets.slack_bot_token),
                                        ("SLACK_SIGNING_SECRET", secrets.slack_signing_secret))
               if value is None or not value.get_secret_value().strip()]
    if missing:
        problems.append(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set in the environment "
                        "(export SLACK_BOT_TOKEN=xoxb-… SLACK_SIGNING_SECRET=…, from the Slack app's OAuth & "
                        "Permissions and Basic Information pages)")
    if config.slo.enabled and not config.slack.release_channel.strip():
        problems.append("slack.release_channel is empty, so the SLO watch has nowhere to post "
                        "(set slack.release_channel: C… in the config file, or slo.enabled: false)")
    return problems


def start_leadership(runtime: Runtime) -> Leadership:
    """Start electing (or lead alone); a Lease that cannot even be set up refuses start-up (exit 2)."""
    from bot.core.config_file import ConfigError  # lazy: keeps `--help` free of it
    from bot.core.leadership import LeaseUnavailable  # lazy: as above

    try:
        leadership = runtime.leadership.get()
    except LeaseUnavailable as exc:
        raise ConfigError(f"serve cannot start: leader election needs the Kubernetes API ({exc}). Set "
                          "release.kube, or leader_election.enabled: false for a single replica.") from None
    leadership.start()
    log.info("leader election %s; this replica is %s", "on" if leadership.elected else "off (leads alone)",
             leadership.identity)
    return leadership


def run(args: argparse.Namespace) -> int:
    from bot.core.config_file import ConfigError  # lazy: keeps `--help` free of it
    from bot.surfaces.cli.db import schemas_of  # lazy: as above (it names the Slack surface's table)
    from bot.surfaces.http import HttpServer, tune_for_serving  # lazy: slack_bolt, prometheus_client; `serve` only
    from bot.surfaces.scheduler import start_scheduler  # lazy: apscheduler and the SLO watch; only `serve` pays them
    from bot.surfaces.slack_app import build_app  # lazy: slack_bolt, as above

    runtime = runtime_from(args, surface="slack")
    # --- start-up checks: one line naming what is missing and how to set it (exit 2), before the app is built ---
    problems = startup_problems(runtime.config, runtime.secrets)
    if problems:
        raise ConfigError("serve cannot start: " + "; ".join(problems) + ".")
    # --- end of start-up checks ---
    # Store integrity: an empty, truncated or corrupt store, or a PostgreSQL server that cannot be reached or
    # refuses the login, refuses start-up (StoreError: one line, exit 2); a missing file is created and logged.
    store = runtime.store.get()
    log.info("store %s (%s): %s", store.location, store.backend, store.open().state)
    # Every component's schema to this release's version, under the store's migration lock (docs/store.md).
    upgraded = store.upgrade(schemas_of(runtime))
    log.info("store schema: %s", ", ".join(f"{name} {after}" for name, (_, after) in sorted(upgraded.items())))
    app = build_app(runtime)

    work = runtime.work.get()  # slow work's executors (bot/core/work.py)
    work.warm_up()  # spawn the chart process now, not on the first `/bizra slo`

    # Python dies on SIGTERM without unwinding; waiting for it instead lets the server stop taking
    # requests and lets work already acknowledged (a rollback following its rollout) finish: the work
    # executors are shut down waiting for it, within the pod's grace period.
    stop = StopSignals()
    stop.install()
    leadership = start_leadership(runtime)  # the Lease election: only the leader runs the background jobs
    scheduler = start_scheduler(runtime)  # the SLO watch
    server = HttpServer(app, host=runtime.secrets.host, port=runtime.secrets.port)
    tune_for_serving()  # start-up is done: 1 ms GIL switches, the start-up heap frozen (bot/surfaces/http.py)
    socket_mode = None
    try:
        if runtime.secrets.slack_app_token is not None:
            from slack_bolt.adapter.socket_mode import SocketModeHandler  # lazy: only Socket Mode needs it

            # /healthz and /metrics stay on HTTP; Slack traffic comes over the socket.
            server.start_background()
            log.info("Socket Mode; health and metrics on %s:%d", runtime.secrets.host, server.port)
            socket_mode = SocketModeHandler(app, runtime.secrets.slack_app_token.get_secret_value())
            socket_mode.connect()  # returns once connected; the client's own threads receive and reconnect
        else:
            # The server runs on its own thread; the main thread only waits for the signal.
            server.start_background()
            log.info("HTTP mode on %s:%d (/slack/events, /healthz, /metrics)", runtime.secrets.host, server.port)
        received = stop.wait()  # a signal that came during the connect is already waiting here
        log.info("%s: stopping; work already acknowledged finishes first", received)
    finally:
        stop.ignore_further()
        if socket_mode is not None:
            socket_mode.close()
        if scheduler is not None:
            # The runs in progress end before the Lease is released, so a new leader never runs one beside them.
            scheduler.stop(timeout=JOBS_STOP_SECONDS)
        leadership.stop()  # releases the Lease: the next replica takes over at once
        server.stop()  # no new requests; requests being answered finish
        work.shutdown(wait=True)  # acknowledged work finishes and answers
    return 0
