"""The Argo Rollouts engine's test setup: the shipped Rollout on the emulator, its controller played by
tests/support/argo_rollouts.py, and a bot whose `canary.engine` is `argo-rollouts`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.core.config import BizraConfig
from tests.canary.conftest import NS, STABLE, make_config
from tests.support.argo_rollouts import ArgoRolloutsController
from tests.support.kube_api import KubeApiServer

OTHER = "ghcr.io/bizra/node0@sha256:" + "e" * 64


def argo_seed(api: KubeApiServer, *, image: str = STABLE) -> ArgoRolloutsController:
    """The Rollout `node0` first deployed on `image` (its stable revision), the controller reacting to writes."""
    return ArgoRolloutsController(api, NS, "node0").seed(image=image).install()


def argo_config(api: KubeApiServer, tmp_path: Path, **extra: Any) -> BizraConfig:
    return make_config(api, tmp_path, **extra, engine="argo-rollouts",
                       argo_rollouts={"rollout": "node0", "follow_seconds": 5, "poll_seconds": 0.05})


def rollout_status(api: KubeApiServer) -> dict[str, Any]:
    return dict((api.get("argoproj.io", "rollouts", NS, "node0") or {}).get("status") or {})


def template_image(api: KubeApiServer) -> str:
    rollout = api.get("argoproj.io", "rollouts", NS, "node0") or {}
    return next(c["image"] for c in rollout["spec"]["template"]["spec"]["containers"] if c["name"] == "node0")
