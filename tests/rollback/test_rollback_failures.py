"""The API server failing mid-rollback: 409 retried from a fresh read, 500 reported with nothing half-applied."""

from __future__ import annotations

import json
from pathlib import Path

from bot.core.audit import latest
from bot.features.releases.history import last_stable
from tests.rollback.conftest import (
    ANNOTATION,
    BAD,
    GOOD,
    NS,
    RESPONDER,
    container,
    controller,
    image_patches,
    make_config,
    seed,
)
from tests.rollback.test_rollback_slack import _click, _request_confirmation
from tests.support.bot import running_bot
from tests.support.kube_api import KubeApiServer
from tests.support.polling import wait_until
from tests.support.slack import SlackRecorder


def _result_text(recorder: SlackRecorder) -> str:
    recorder.wait_for(lambda rs: any(r.path == "/response/click" for r in rs), timeout=25, what="the result")
    return json.dumps(recorder.responses("click")[0].body, ensure_ascii=False)


def test_conflict_mid_rollback_is_retried_from_a_fresh_read(api: KubeApiServer, tmp_path: Path,
                                                            slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot:
        plan_id = _request_confirmation(bot, slack_recorder)
        api.fail("PATCH", "/deployments/node0", status=409)
        with controller(api) as ctl:
            _click(bot, slack_recorder, plan_id)
            ctl.join()
            text = _result_text(slack_recorder)
    assert "Rollback complete" in text
    patches = [(r.status) for r in api.calls("PATCH", "/deployments/node0") if "containers" in str(r.body)]
    assert patches == [409, 200]
    assert container(api, "node0")["image"] == GOOD


def test_server_error_mid_rollback_is_reported_and_nothing_is_half_applied(api: KubeApiServer, tmp_path: Path,
                                                                          slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    before = api.get("apps", "deployments", NS, "node0")
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot:
        plan_id = _request_confirmation(bot, slack_recorder)
        api.fail("PATCH", "/deployments/node0", status=500, message="etcdserver: request timed out")
        _click(bot, slack_recorder, plan_id)
        text = _result_text(slack_recorder)
        entry = latest(bot.runtime, 1)[0]
        history = last_stable(bot.runtime)
    assert "Rollback not applied; nothing was changed" in text
    assert "500 InternalError" in text and "etcdserver: request timed out" in text
    assert f"The Deployment still runs {BAD}" in text, "the state was re-read, not assumed"
    after = api.get("apps", "deployments", NS, "node0")
    assert after is not None and before is not None
    assert after["spec"] == before["spec"] and after["metadata"]["generation"] == before["metadata"]["generation"]
    assert (entry.action, entry.outcome, entry.before, entry.after) == ("rollback", "failed", BAD, BAD)
    assert "nothing was changed" in entry.detail
    assert history is None, "a failed rollback records nothing as stable"
    [bundle] = list((tmp_path / "incidents").iterdir())
    assert "Rollback not applied" in (bundle / "summary.md").read_text()


def test_reads_failing_while_following_the_rollout_are_survived(api: KubeApiServer, tmp_path: Path,
                                                                slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot:
        plan_id = _request_confirmation(bot, slack_recorder)
        _click(bot, slack_recorder, plan_id)
        wait_until(lambda: image_patches(api), what="the image patch")
        api.fail("GET", "/deployments/node0", status=503, times=3)
        wait_until(lambda: not api.faults[-1].times, what="the bot to meet the failing reads")
        api.roll_out(NS, "node0")
        text = _result_text(slack_recorder)
    assert "Rollback complete" in text
    assert [r.status for r in api.calls("GET", "/deployments/node0")].count(503) == 3


def test_rollout_that_never_gets_healthy_times_out(api: KubeApiServer, tmp_path: Path,
                                                   slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    with running_bot(slack_recorder, config=make_config(api, tmp_path, rollout_deadline_seconds=1)) as bot:
        plan_id = _request_confirmation(bot, slack_recorder)
        _click(bot, slack_recorder, plan_id)  # nobody plays the controller: the rollout never completes
        text = _result_text(slack_recorder)
        entry = latest(bot.runtime, 1)[0]
    assert "did not become healthy in time" in text and "was not healthy within 1 s" in text
    assert "Time to recovery (command → healthy): not recovered" in text
    assert (entry.outcome, entry.after) == ("timeout", GOOD)


def test_unreachable_api_server_at_request_time_is_refused(api: KubeApiServer, tmp_path: Path,
                                                           slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    config = make_config(api, tmp_path)
    api.stop()
    with running_bot(slack_recorder, config=config) as bot:
        bot.command("rollback", user_id=RESPONDER)
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/cmd" for r in rs), timeout=20, what="the answer")
    answer = slack_recorder.responses("cmd")[0].body
    assert answer["response_type"] == "ephemeral"
    assert "could not be reached" in json.dumps(answer)


def test_a_deployment_changed_after_the_confirmation_is_not_touched(api: KubeApiServer, tmp_path: Path,
                                                                    slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    other = "ghcr.io/bizra/node0@sha256:" + "d" * 64
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot:
        plan_id = _request_confirmation(bot, slack_recorder)
        stored = api.get("apps", "deployments", NS, "node0") or {}
        stored["spec"]["template"]["spec"]["containers"][0]["image"] = other  # someone else deployed meanwhile
        api.put(stored)
        _click(bot, slack_recorder, plan_id)
        text = _result_text(slack_recorder)
    assert "changed since this was confirmed" in text and other in text
    assert container(api, "node0")["image"] == other
    assert image_patches(api) == []
