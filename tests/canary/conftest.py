"""A NODE0 release on the test Kubernetes API server, a bot wired to it, and helpers to drive a canary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.core.config import BizraConfig
from commands.ports import FixedClock
from tests.support.bot import RunningBot, running_bot
from tests.support.kube_api import KubeApiServer, deployment_manifest
from tests.support.slack import Recorded, SlackRecorder

REPO_ROOT = Path(__file__).resolve().parents[2]
CANARY_DIR = REPO_ROOT / "ops" / "canary"
NS = "bizra-production"
STABLE = "ghcr.io/bizra/node0@sha256:" + "a" * 64
CANDIDATE = "ghcr.io/bizra/node0@sha256:" + "c" * 64
DEPLOYER = "U_DEPLOY"
MANAGER = "U_RELMGR"
VIEWER = "U_VIEW"
RELEASE_CHANNEL = "C_RELEASE"
# Bake windows shortened through config: 1, 2 and 3 minutes of the test clock.
BAKE = [1.0, 2.0, 3.0]


def seed(api: KubeApiServer) -> None:
    api.put(deployment_manifest(image=STABLE))
    api.roll_out(NS, "node0")


def make_config(api: KubeApiServer, tmp_path: Path, *, gates: dict[str, Any] | None = None,
                slo: dict[str, Any] | None = None, bake: list[float] | None = None,
                signoff: dict[str, Any] | None = None, **canary: Any) -> BizraConfig:
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    names = ["stage1-10pct", "stage2-50pct", "stage3-100pct"]
    weights = [10, 50, 100]
    raw: dict[str, Any] = {
        "store": {"path": str(tmp_path / "state.sqlite")},
        "slack": {"release_channel": RELEASE_CHANNEL, "messages_per_second": 50},  # tests need no Slack pacing
        "release": {"kube": {"mode": "kubeconfig", "kubeconfig": str(kubeconfig), "timeout_seconds": 3}},
        "canary": {
            "stages": [{"name": n, "manifest": str(CANARY_DIR / f"{n}.yaml"), "weight": w, "bake_minutes": b}
                       for n, w, b in zip(names, weights, bake or BAKE, strict=True)],
            "stable_manifest": str(CANARY_DIR / "stable.yaml"),
            "abort_wait_seconds": 5,
            **canary,
        },
        "access": {
            "roles": {
                "deployer": {"users": [DEPLOYER], "permissions": ["canary.start", "canary.promote", "canary.abort"]},
                "release-manager": {"users": [MANAGER], "permissions": [
                    "canary.start", "canary.promote", "canary.abort", "canary.force"]},
            },
        },
    }
    raw["gates"] = gates if gates is not None else {
        # The shipped, signed artifacts: every gate passes.
        "artifacts_dir": str(REPO_ROOT / "artifacts"),
        "trusted_keys": [str(REPO_ROOT / "ops/keys/attestation-release.pub")],
    }
    if slo is not None:
        raw["slo"] = slo
    # These tests are about the canary, not the sign-off (tests/signoff/ covers `canary start` waiting for it).
    raw["signoff"] = signoff if signoff is not None else {"required_for_canary": False}
    return BizraConfig.model_validate(raw)


def now_clock() -> FixedClock:
    """A test clock that starts at the real time (Prometheus answers for real times) and moves only when told."""
    return FixedClock(datetime.now(UTC).replace(microsecond=0))



@dataclass
class Driver:
    """Types `/bizra canary …` as Slack does and waits for the answer on the response_url."""

    bot: RunningBot
    api: KubeApiServer
    counter: int = 0

    def run(self, text: str, *, user: str = DEPLOYER, channel: str = "C_OPS") -> Recorded:
        self.counter += 1
        name = f"r{self.counter}"
        status, _ = self.bot.command(text, user_id=user, channel_id=channel, name=name)
        assert status == 200
        self.bot.recorder.wait_for(lambda _: bool(self.bot.recorder.responses(name)), timeout=20, what=text)
        return self.bot.recorder.responses(name)[0]

    def route_weights(self) -> dict[str, int]:
        route = self.api.get("gateway.networking.k8s.io", "httproutes", NS, "node0") or {}
        refs = route.get("spec", {}).get("rules", [{}])[0].get("backendRefs", [])
        return {ref["name"]: ref["weight"] for ref in refs}

    def canary_deployment(self) -> dict[str, Any]:
        return self.api.get("apps", "deployments", NS, "node0-canary") or {}

    def applies(self) -> list[Any]:
        return [r for r in self.api.requests if r.method == "PATCH" and r.query.get("fieldManager") == "bizra-bot"]


def text_of(response: Recorded) -> str:
    return str(response.body.get("text", "")) + "\n" + "\n".join(
        str(block.get("text", {}).get("text", "")) + "".join(str(e.get("text", "")) for e in block.get("elements", []))
        for block in response.body.get("blocks") or [])


MakeDriver = Callable[[BizraConfig, FixedClock], Driver]


@pytest.fixture
def driver_factory(slack_recorder: SlackRecorder, api: KubeApiServer) -> Iterator[MakeDriver]:
    stack: list[Any] = []

    def make(config: BizraConfig, clock: FixedClock) -> Driver:
        context = running_bot(slack_recorder, config=config, clock=clock)
        bot = context.__enter__()
        stack.append(context)
        return Driver(bot=bot, api=api)

    yield make
    for context in reversed(stack):
        context.__exit__(None, None, None)


def ephemeral(response: Recorded) -> bool:
    return response.body.get("response_type") == "ephemeral"


def posts(recorder: SlackRecorder, channel: str = RELEASE_CHANNEL) -> list[Recorded]:
    return [r for r in recorder.calls("chat.postMessage") if r.body.get("channel") == channel]


def manifest_weight(request: Any) -> int | None:
    """The canary weight an apply request sent to the HTTPRoute (None for other objects)."""
    body = request.body if isinstance(request.body, dict) else {}
    if body.get("kind") != "HTTPRoute":
        return None
    refs = body["spec"]["rules"][0]["backendRefs"]
    return next(ref["weight"] for ref in refs if ref["name"] == "node0-canary")
