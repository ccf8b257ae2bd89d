"""Which image `/bizra rollback` proposes, per canary engine (the confirmation as the channel shows it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.core.config import BizraConfig
from bot.features.releases.history import record_stable
from tests.rollback.conftest import BAD, GOOD, NS, RESPONDER, make_config, posted_confirmation, seed
from tests.support.bot import running_bot
from tests.support.kube_api import KubeApiServer, deployment_manifest
from tests.support.slack import SlackRecorder

OLDER = "ghcr.io/bizra/node0@sha256:" + "c" * 64


def primary(image: str) -> dict[str, Any]:
    """Flagger's `node0-primary`: a copy of the target's pod spec (container `node0`) on the promoted image."""
    manifest = deployment_manifest(image=image)
    manifest["metadata"]["name"] = "node0-primary"
    labels = {"app": "node0-primary"}
    manifest["metadata"]["labels"] = labels
    manifest["spec"]["selector"]["matchLabels"] = labels
    manifest["spec"]["template"]["metadata"]["labels"] = labels
    return manifest


def _config(api: KubeApiServer, tmp_path: Path, engine: str) -> BizraConfig:
    raw: dict[str, Any] = make_config(api, tmp_path).model_dump(mode="json")
    raw["canary"]["engine"] = engine
    return BizraConfig.model_validate(raw)


def _proposed(api: KubeApiServer, tmp_path: Path, recorder: SlackRecorder, engine: str) -> str:
    with running_bot(recorder, config=_config(api, tmp_path, engine)) as bot:
        record_stable(bot.runtime, image=OLDER, source="canary stage 3", by="U_REL")
        bot.command("rollback", user_id=RESPONDER)
        recorder.wait_for(lambda rs: any(r.path == "/response/cmd" for r in rs), what="the answer")
    [answer] = recorder.responses("cmd")
    return json.dumps(posted_confirmation(recorder, answer).blocks, ensure_ascii=False)


def test_with_flagger_the_primary_is_the_stable_one_before_the_history(
        api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    seed(api, image=BAD)  # the target Deployment, on the bad revision Flagger is analysing
    api.put(primary(GOOD))  # what Flagger serves as stable

    shown = _proposed(api, tmp_path, slack_recorder, "flagger")

    assert GOOD in shown and "Flagger primary deployment" in shown and OLDER not in shown, shown


def test_with_the_gateway_engine_the_history_still_comes_first(
        api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    seed(api, image=BAD)
    api.put(primary(GOOD))

    shown = _proposed(api, tmp_path, slack_recorder, "gateway")

    assert OLDER in shown and "bot release history" in shown, shown
    assert api.get("apps", "deployments", NS, "node0-primary") is not None
