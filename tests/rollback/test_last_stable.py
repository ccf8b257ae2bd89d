"""Which image rollback restores: history, then the annotation, then Flagger's primary; bad values refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.core.audit import AuditEntry, latest
from bot.features.releases.history import record_stable
from tests.rollback.conftest import (
    ANNOTATION,
    BAD,
    GOOD,
    NS,
    RESPONDER,
    image_patches,
    make_config,
    posted_confirmation,
    seed,
)
from tests.support.bot import running_bot
from tests.support.kube_api import KubeApiServer, deployment_manifest
from tests.support.slack import Message, Recorded, SlackRecorder

OLDER = "ghcr.io/bizra/node0@sha256:" + "c" * 64


audited: list[AuditEntry] = []


def _ask(api: KubeApiServer, tmp_path: Path, recorder: SlackRecorder, *, history: str | None = None,
         **rollback: object) -> Recorded:
    audited.clear()
    with running_bot(recorder, config=make_config(api, tmp_path, **rollback)) as bot:
        if history:
            record_stable(bot.runtime, image=history, source="canary stage 3", by="U_REL")
        bot.command("rollback", user_id=RESPONDER)
        recorder.wait_for(lambda rs: any(r.path == "/response/cmd" for r in rs), what="the answer")
        audited.extend(latest(bot.runtime, 1))
    [answer] = recorder.responses("cmd")
    return answer


def _confirmation(api: KubeApiServer, tmp_path: Path, recorder: SlackRecorder, *,
                  history: str | None = None) -> Message:
    """The confirmation `/bizra rollback` posted in the channel (its answer, ephemeral, links to it)."""
    return posted_confirmation(recorder, _ask(api, tmp_path, recorder, history=history))


def _shown(answer: Recorded | Message) -> str:
    return json.dumps(answer.blocks if isinstance(answer, Message) else answer.body.get("blocks"), ensure_ascii=False)


def test_history_comes_first(api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: OLDER})
    answer = _confirmation(api, tmp_path, slack_recorder, history=GOOD)
    assert GOOD in _shown(answer) and "bot release history" in _shown(answer) and OLDER not in _shown(answer)


def test_annotation_when_no_history(api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    answer = _confirmation(api, tmp_path, slack_recorder)
    assert GOOD in _shown(answer) and "deployment annotation" in _shown(answer)


def test_flagger_primary_when_nothing_else(api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    seed(api)
    api.put(deployment_manifest(name="node0-primary", image=GOOD))
    # Flagger's primary keeps the target's container names.
    primary = api.get("apps", "deployments", NS, "node0-primary") or {}
    primary["spec"]["template"]["spec"]["containers"][0]["name"] = "node0"
    api.put(primary)
    answer = _confirmation(api, tmp_path, slack_recorder)
    assert GOOD in _shown(answer) and "Flagger primary deployment" in _shown(answer)


@pytest.mark.parametrize(
    ("annotation", "words"),
    [
        (None, "No last stable image is known"),
        ("ghcr.io/bizra/node0:v2.0.9", "is not an image pinned by digest"),
        ("sha256:" + "a" * 64, "is not an image pinned by digest"),
        ("ghcr.io/bizra/node0@sha256:" + "a" * 63, "is not an image pinned by digest"),
        ("ghcr.io/evil/node0@sha256:" + "a" * 64, "is not from the release repository `ghcr.io/bizra/node0`"),
    ],
)
def test_missing_or_malformed_source_is_refused_and_nothing_changes(
    api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder, annotation: str | None, words: str
) -> None:
    seed(api, annotations={ANNOTATION: annotation} if annotation else None)
    answer = _ask(api, tmp_path, slack_recorder)
    assert answer.body["response_type"] == "ephemeral"
    shown = _shown(answer)
    assert "Rollback refused; nothing was changed." in shown and words in shown
    assert "kubectl annotate deployment/node0 -n bizra-production" in shown, "says what to do"
    assert image_patches(api) == []
    assert not (tmp_path / "incidents").exists()
    [entry] = audited
    assert (entry.actor, entry.action, entry.outcome) == (RESPONDER, "rollback.request", "refused")
    stored = api.get("apps", "deployments", NS, "node0") or {}
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == BAD


def test_required_flagger_primary_missing_is_refused(api: KubeApiServer, tmp_path: Path,
                                                     slack_recorder: SlackRecorder) -> None:
    seed(api)
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot:
        bot.runtime.config.release.flagger_primary = True
        bot.command("rollback", user_id=RESPONDER)
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/cmd" for r in rs), what="the answer")
    assert "node0-primary does not exist" in _shown(slack_recorder.responses("cmd")[0])


def test_already_on_the_stable_image_is_refused(api: KubeApiServer, tmp_path: Path,
                                                slack_recorder: SlackRecorder) -> None:
    seed(api, image=GOOD, annotations={ANNOTATION: GOOD})
    answer = _ask(api, tmp_path, slack_recorder)
    assert "already runs the last stable image" in _shown(answer)
    assert image_patches(api) == []


def test_record_stable_refuses_a_tag(api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    seed(api)
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot, \
            pytest.raises(ValueError, match="pinned by digest"):
        record_stable(bot.runtime, image="ghcr.io/bizra/node0:latest", source="canary stage 3", by="U_REL")
