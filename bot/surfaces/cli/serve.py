"""`bizra serve`: the Slack app, in HTTP mode or (with SLACK_APP_TOKEN) Socket Mode.

The Bolt app, the HTTP server and the scheduler are imported in `run`: only `serve` pays for them.
"""

from __future__ import annotations

import argparse
import logging
import signal

from bot.surfaces.cli.common import add_verb, runtime_from

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_verb(subparsers, "serve", help="run the Slack app (HTTP on $PORT, or Socket Mode)")
    parser.set_defaults(run=run)


class _Stop(Exception):
    """SIGTERM (Kubernetes stopping the pod): leave the serving loop and shut down in order."""


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise _Stop


def run(args: argparse.Namespace) -> int:
    from bot.core.config import ConfigError  # lazy: pydantic and the config models; `--help` skips them
    from bot.surfaces.http import HttpServer  # lazy: slack_bolt and prometheus_client; only `serve` pays them
    from bot.surfaces.scheduler import start_scheduler  # lazy: apscheduler and the SLO watch; only `serve` pays them
    from bot.surfaces.slack_app import build_app  # lazy: slack_bolt, as above

    runtime = runtime_from(args, surface="slack")
    if runtime.secrets.slack_signing_secret is None:
        raise ConfigError("SLACK_SIGNING_SECRET is not set in the environment; Slack requests cannot be verified.")
    app = build_app(runtime)

    # Python dies on SIGTERM without unwinding; turning it into an exception lets the server stop
    # taking requests and lets work already acknowledged (a rollback following its rollout) finish:
    # the lazy listeners' worker threads are joined at exit, within the pod's grace period.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    scheduler = start_scheduler(runtime)  # the SLO watch
    server = HttpServer(app, host=runtime.secrets.host, port=runtime.secrets.port)
    socket_mode = None
    try:
        if runtime.secrets.slack_app_token is not None:
            from slack_bolt.adapter.socket_mode import SocketModeHandler  # lazy: only Socket Mode needs it

            # /healthz and /metrics stay on HTTP; Slack traffic comes over the socket.
            server.start_background()
            log.info("Socket Mode; health and metrics on %s:%d", runtime.secrets.host, server.port)
            socket_mode = SocketModeHandler(app, runtime.secrets.slack_app_token.get_secret_value())
            socket_mode.start()
        else:
            log.info("HTTP mode on %s:%d (/slack/events, /healthz, /metrics)", runtime.secrets.host, server.port)
            server.serve_forever()
    except _Stop:
        log.info("SIGTERM: stopping; work already acknowledged finishes first")
    finally:
        if socket_mode is not None:
            socket_mode.close()
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        server.stop()
    return 0
