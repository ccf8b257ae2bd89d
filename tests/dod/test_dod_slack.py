"""`/bizra dod` as Slack drives it: a signed slash command to the real Bolt app over HTTP, the five
gates posted as Block Kit to the request's response_url (recorded on 127.0.0.1)."""

from __future__ import annotations

from bot.core.config import BizraConfig
from tests.dod.conftest import DodWorld
from tests.support.bot import running_bot
from tests.support.slack import SlackRecorder


def _config(world: DodWorld, **access: object) -> BizraConfig:
    data = world.runtime.config.model_dump(mode="json")
    data["access"].update(access)
    return BizraConfig.model_validate(data)


def test_dod_posts_the_five_gates_in_the_channel(world: DodWorld, slack_recorder: SlackRecorder) -> None:
    with running_bot(slack_recorder, config=_config(world)) as bot:
        status, _ = bot.command("dod", user_id="U_SRE", name="dod")
        assert status == 200
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/dod" for r in rs), what="the DoD view")
    [response] = slack_recorder.responses("dod")
    assert response.body["response_type"] == "in_channel"
    blocks = response.body["blocks"]
    assert "Definition of Done: done — 5/5" in blocks[0]["text"]["text"]
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert len(sections) == 5 and all(s.startswith("✅") for s in sections)
    assert "<@U_SRE>" in blocks[-1]["elements"][0]["text"]


def test_dod_is_refused_without_the_permission(world: DodWorld, slack_recorder: SlackRecorder) -> None:
    with running_bot(slack_recorder, config=_config(world, everyone=[], roles={})) as bot:
        status, _ = bot.command("dod", user_id="U_NOBODY", name="dod")
        assert status == 200
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/dod" for r in rs), what="the refusal")
    [response] = slack_recorder.responses("dod")
    assert response.body["response_type"] == "ephemeral" and "dod" in response.body["text"]
    assert not [r for r in world.api.calls("POST", "/pods") if r.query.get("dryRun")]  # no probe for the refused
