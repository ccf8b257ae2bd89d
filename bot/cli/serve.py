"""`bizra serve`: the Slack app, in HTTP mode or (with SLACK_APP_TOKEN) Socket Mode."""

from __future__ import annotations

import argparse
import logging

from bot.cli.common import runtime_from
from bot.config import ConfigError
from bot.server import HttpServer
from bot.slack_app import build_app

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the Slack app (HTTP on $PORT, or Socket Mode)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    runtime = runtime_from(args, surface="slack")
    if runtime.secrets.slack_signing_secret is None:
        raise ConfigError("SLACK_SIGNING_SECRET is not set in the environment; Slack requests cannot be verified.")
    app = build_app(runtime)
    from bot.scheduler import start_scheduler

    start_scheduler(runtime)  # the SLO watch (issue 3)
    server = HttpServer(app, host=runtime.secrets.host, port=runtime.secrets.port)
    if runtime.secrets.slack_app_token is not None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        # /healthz and /metrics stay on HTTP; Slack traffic comes over the socket.
        server.start_background()
        log.info("Socket Mode; health and metrics on %s:%d", runtime.secrets.host, server.port)
        SocketModeHandler(app, runtime.secrets.slack_app_token.get_secret_value()).start()
        return 0
    log.info("HTTP mode on %s:%d (/slack/events, /healthz, /metrics)", runtime.secrets.host, server.port)
    try:
        server.serve_forever()
    finally:
        server.stop()
    return 0
