"""A canary run that is aborted shows in `/bizra history` as aborted (the canary's own abort, driven as Slack does)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.canary.conftest import (
    CANDIDATE,
    MakeDriver,
    driver_factory,  # noqa: F401 - the fixture, used by name
    make_config,
    now_clock,
    seed,
    text_of,
)
from tests.support.kube_api import KubeApiServer


def test_an_aborted_canary_is_listed_as_aborted(api: KubeApiServer, tmp_path: Path,
                                                driver_factory: MakeDriver) -> None:  # noqa: F811
    seed(api)
    driver = driver_factory(make_config(api, tmp_path), now_clock())
    started = driver.run(f"canary start {CANDIDATE}")
    assert "Canary started" in text_of(started)
    driver.run("canary abort bad vibes")
    listed = driver.run("history")
    shown = json.dumps(listed.body.get("blocks"), ensure_ascii=False)
    assert "*#1* `sha256:cccccccccccc`" in shown and "aborted" in shown and "canary" in shown
    assert f"`{CANDIDATE}`" in shown, "the full digest in a context line"
    assert "<@U_DEPLOY>" in shown and "<!date^" in shown
