"""`/bizra verify` as Slack drives it: a signed slash command to the real Bolt app over HTTP, the
checklist posted as Block Kit to the request's response_url (recorded on 127.0.0.1)."""

from __future__ import annotations

from bot.core.config import BizraConfig
from tests.support.bot import running_bot
from tests.support.slack import SlackRecorder
from tests.verify.conftest import World


def _config(world: World, **access: object) -> BizraConfig:
    data = world.runtime.config.model_dump(mode="json")
    data["access"].update(access)
    return BizraConfig.model_validate(data)


def test_verify_posts_the_checklist_in_the_channel(world: World, slack_recorder: SlackRecorder) -> None:
    world.api.objects[("batch", "jobs", "bizra-production", "poi-attestation-validator")]["status"] = {"failed": 1}
    with running_bot(slack_recorder, config=_config(world)) as bot:
        status, _ = bot.command("verify", user_id="U_SRE", name="verify")
        assert status == 200
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/verify" for r in rs), what="the checklist")
    [response] = slack_recorder.responses("verify")
    assert response.body["response_type"] == "in_channel"
    blocks = response.body["blocks"]
    assert "NOT ready" in blocks[0]["text"]["text"]
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert len(sections) == 10
    assert sum(s.startswith("✅") for s in sections) == 9
    (failed,) = [s for s in sections if s.startswith("❌")]
    assert "PoI attestation validator Job" in failed and "kubectl logs job/poi-attestation-validator" in failed
    assert "<@U_SRE>" in blocks[-1]["elements"][0]["text"]


def test_verify_is_refused_without_the_permission(world: World, slack_recorder: SlackRecorder) -> None:
    config = _config(world, everyone=[], roles={})
    with running_bot(slack_recorder, config=config) as bot:
        status, _ = bot.command("verify", user_id="U_NOBODY", name="verify")
        assert status == 200
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/verify" for r in rs), what="the refusal")
    [response] = slack_recorder.responses("verify")
    assert response.body["response_type"] == "ephemeral"
    assert "verify" in response.body["text"]
    assert not world.api.calls("GET")  # nothing was read for someone not allowed
