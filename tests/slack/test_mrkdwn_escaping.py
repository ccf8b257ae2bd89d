"""Issue 12, finding 9: user text in a reply is escaped, so `<!channel>` in a rollback reason pings nobody."""

from __future__ import annotations

import json
from pathlib import Path

from tests.rollback.conftest import GOOD, RESPONDER, make_config, posted_confirmation, seed
from tests.support.bot import running_bot
from tests.support.kube_api import KubeApiServer
from tests.support.slack import SlackRecorder


def test_a_rollback_reason_cannot_ping_the_channel(api: KubeApiServer, tmp_path: Path,
                                                    slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={"flagger.app/last-stable-revision": GOOD})
    with running_bot(slack_recorder, config=make_config(api, tmp_path)) as bot:
        status, _ = bot.command("rollback <!channel> p99 & <https://evil.example|click>", user_id=RESPONDER)
        assert status == 200
        slack_recorder.wait_for(lambda _: slack_recorder.responses("cmd"), timeout=20, what="the confirmation")
    [answer] = slack_recorder.responses("cmd")
    confirmation = posted_confirmation(slack_recorder, answer)  # the channel message, as posted
    [posted] = [r for r in slack_recorder.calls("chat.postMessage") if r.body.get("channel") == confirmation.channel]
    blocks = json.dumps(confirmation.blocks)
    assert "&lt;!channel&gt;" in blocks and "<!channel>" not in blocks
    assert "&amp;" in blocks and "<https://evil.example|click>" not in blocks
    assert "<!channel>" not in str(posted.body["text"])
    assert "<!channel>" not in json.dumps(answer.body), "nor in the answer pointing at it"
