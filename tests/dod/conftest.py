"""A release that meets the Definition of Done, on real parts: the Kubernetes test server holding the
shipped ops/ manifests (HPA reporting its custom metric, the PoI Job completed) with an admission
webhook that refuses the checklist's unsigned probe, a copy of the signed artifacts, and a canary that
the bot ran through every stage in its own store. Each test breaks one gate.

No Prometheus or health endpoint: `/bizra dod` asks neither (their URLs point at a closed port).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from bot.assembly import build_runtime
from bot.core.config import Secrets
from bot.core.runtime import Runtime
from bot.features.canary import store as canary_store
from commands.canary import CanaryRun
from commands.ports import FixedClock
from tests.ops.support import ROOT
from tests.support.kube_api import KubeApiServer
from tests.verify.conftest import IMAGE, NOW, closed_port_url, create, healthy_objects, make_config


@pytest.fixture
def api() -> Iterator[KubeApiServer]:
    server = KubeApiServer().start()
    try:
        for obj in healthy_objects():
            create(server, obj)
        server.set_webhook("refuse")
        yield server
    finally:
        server.stop()


@dataclass
class DodWorld:
    api: KubeApiServer
    runtime: Runtime
    artifacts: Path
    tmp: Path


def record_run(runtime: Runtime, steps: list[tuple[str, int | None, int | None, str, str]],
               canary_id: str = "c-dod") -> None:
    """Canary history as the canary flow writes it: (event, stage_before, stage_after, outcome, detail)."""
    run = CanaryRun(id=canary_id, image=IMAGE, stage=0, stage_started_at=NOW - timedelta(hours=6),
                    started_at=NOW - timedelta(hours=6), started_by="U_DEPLOYER")
    for event, before, after, outcome, detail in steps:
        canary_store.add_history(runtime, run=run, actor="U_DEPLOYER", event=event, stage_before=before,
                                 stage_after=after, outcome=outcome, detail=detail)


# The seed's three stages run in full: start at stage 0, two promotions, completion from the last stage.
FULL_RUN = [("start", None, 0, "ok", ""), ("promote", 0, 1, "ok", ""), ("promote", 1, 2, "ok", ""),
            ("complete", 2, None, "ok", "")]


@pytest.fixture
def world(api: KubeApiServer, tmp_path: Path) -> DodWorld:
    artifacts = tmp_path / "artifacts"
    shutil.copytree(ROOT / "artifacts", artifacts)
    config = make_config(api=api, tmp=tmp_path, prometheus_url=closed_port_url(),
                         health_url=closed_port_url() + "/health", artifacts=artifacts)
    runtime = build_runtime(config=config, secrets=Secrets(), clock=FixedClock(NOW), surface="console")
    record_run(runtime, FULL_RUN)
    return DodWorld(api=api, runtime=runtime, artifacts=artifacts, tmp=tmp_path)
