"""A NODE0 Deployment on the test API server, a bot wired to it by kubeconfig, and the deployment controller."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Every feature is imported now: a slow first import (matplotlib's font cache on a fresh machine)
# must not eat the time budget of a test's wait.
import bot.assembly as _assembly  # noqa: F401
from bot.core.config import BizraConfig
from tests.support.kube_api import KubeApiServer, deployment_manifest
from tests.support.slack import Message, Recorded, SlackRecorder, permalink

NS = "bizra-production"
GOOD = "ghcr.io/bizra/node0@sha256:" + "a" * 64
BAD = "ghcr.io/bizra/node0@sha256:" + "b" * 64
RESPONDER = "U_RESP"
RELEASE_CHANNEL = "C123"
ANNOTATION = "flagger.app/last-stable-revision"


def seed(api: KubeApiServer, *, image: str = BAD, annotations: dict[str, str] | None = None) -> None:
    api.put(deployment_manifest(image=image, annotations=annotations))
    api.roll_out(NS, "node0")  # healthy on the bad image, before the incident


def make_config(api: KubeApiServer, tmp_path: Path, **rollback: Any) -> BizraConfig:
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    return BizraConfig.model_validate({
        "store": {"path": str(tmp_path / "state.sqlite")},
        "slack": {"release_channel": RELEASE_CHANNEL, "messages_per_second": 50},  # tests need no Slack pacing
        "release": {
            "kube": {"mode": "kubeconfig", "kubeconfig": str(kubeconfig), "timeout_seconds": 3},
            "rollback": {"incidents_dir": str(tmp_path / "incidents"), "poll_interval_seconds": 0.05,
                         "rollout_deadline_seconds": 20, **rollback},
        },
        "access": {"roles": {"responder": {"users": [RESPONDER], "permissions": ["rollback", "audit"]}}},
    })


def image_patches(api: KubeApiServer) -> list[Any]:
    return [r for r in api.calls("PATCH", "/deployments/node0")
            if r.status == 200 and "containers" in str(r.body)]



@dataclass
class Controller:
    """Plays the deployment controller: once the image patch lands, roll the new template out."""

    api: KubeApiServer
    rolled: threading.Event

    def join(self) -> None:
        assert self.rolled.wait(20), "the controller never saw the image patch"


@contextmanager
def controller(api: KubeApiServer, *, image: str = GOOD) -> Iterator[Controller]:
    rolled = threading.Event()
    stop = threading.Event()

    def run() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not stop.is_set():
            stored = api.get("apps", "deployments", NS, "node0") or {}
            containers = stored.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
            if any(c.get("image") == image for c in containers if c.get("name") == "node0"):
                api.roll_out(NS, "node0")
                rolled.set()
                return
            time.sleep(0.02)  # polling interval, bounded by the deadline above

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield Controller(api, rolled)
    finally:
        stop.set()
        thread.join(5)


def button_value(shown: Recorded | Message, action_id: str) -> str:
    """The value of a button in a reply (as received) or in a message (as the channel shows it now)."""
    blocks = shown.blocks if isinstance(shown, Message) else shown.body.get("blocks") or []
    for block in blocks:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no {action_id} button in {blocks}")


def posted_confirmations(recorder: SlackRecorder, channel: str = RELEASE_CHANNEL) -> list[Message]:
    """The rollback confirmations the bot posted in `channel` that still show their Confirm button."""
    return [m for m in recorder.top_level(channel)
            if any(b.get("action_id") == "rollback.confirm" for b in m.buttons())]


def confirmation(recorder: SlackRecorder, plan_id: str, channel: str = RELEASE_CHANNEL) -> Message:
    """The channel message of confirmation `plan_id`, as the recording Slack server holds it."""
    found = [m for m in posted_confirmations(recorder, channel) if button_value(m, "rollback.confirm") == plan_id]
    assert found, f"no confirmation {plan_id} with live buttons in {channel}"
    return found[-1]


def posted_confirmation(recorder: SlackRecorder, reply: Recorded, channel: str = RELEASE_CHANNEL) -> Message:
    """The confirmation a command's answer points at: the answer is ephemeral and links to the channel message."""
    assert reply.body["response_type"] == "ephemeral", reply.body
    answered = json.dumps(reply.body)
    linked = [m for m in posted_confirmations(recorder, channel) if permalink(m.channel, m.ts) in answered]
    assert len(linked) == 1, f"the answer links to no confirmation in {channel}: {answered}"
    return linked[0]


def container(api: KubeApiServer, name: str) -> dict[str, Any]:
    stored = api.get("apps", "deployments", NS, "node0") or {}
    return next(c for c in stored["spec"]["template"]["spec"]["containers"] if c["name"] == name)
