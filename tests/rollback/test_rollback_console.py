"""The console surface: the confirmation is typed (`/bizra rollback confirm <id>`), with the same safety."""

from __future__ import annotations

import io
import re
from pathlib import Path

from bot.assembly import build_runtime
from bot.core.config import Secrets
from bot.core.delivery import ConsolePoster
from bot.surfaces.console import run_line
from tests.rollback.conftest import ANNOTATION, GOOD, container, controller, image_patches, make_config, seed
from tests.support.kube_api import KubeApiServer


def test_console_rollback_is_confirmed_by_typing_the_id(api: KubeApiServer, tmp_path: Path) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    runtime = build_runtime(config=make_config(api, tmp_path), secrets=Secrets(), surface="console")
    screen = io.StringIO()
    runtime.poster.set(ConsolePoster(runtime.registry.renderers, screen))

    shown = run_line("/bizra rollback bad deploy", runtime, user_id="console:ops")
    match = re.search(r"/bizra rollback confirm (\w+)", shown)
    assert match, shown
    assert GOOD in shown and "expires at" in shown
    assert image_patches(api) == []

    with controller(api) as ctl:
        answer = run_line(f"/bizra rollback confirm {match.group(1)}", runtime, user_id="console:ops")
        ctl.join()
    assert "Rollback complete: the rollout is healthy" in answer
    assert "Time to recovery (command → healthy)" in answer
    assert container(api, "node0")["image"] == GOOD
    assert "Rollback confirmed by console:ops" in screen.getvalue()
    assert "3/3 available" in screen.getvalue()

    again = run_line(f"/bizra rollback confirm {match.group(1)}", runtime, user_id="console:ops")
    assert "was already executed" in again
    assert len(image_patches(api)) == 1


def test_console_confirm_needs_an_id(api: KubeApiServer, tmp_path: Path) -> None:
    runtime = build_runtime(config=make_config(api, tmp_path), secrets=Secrets(), surface="console")
    assert "rollback confirm <id>" in run_line("/bizra rollback confirm", runtime, user_id="console:ops")
    assert "no rollback confirmation `nope`" in run_line("/bizra rollback confirm nope", runtime, user_id="console:ops")
