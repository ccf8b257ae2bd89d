"""Alertmanager as a source: an Alertmanager webhook pages once per fingerprint and resolves.

The real HTTP server (`running_bot`: waitress, the same WSGI routes as `bizra serve`) receives the
webhook_config v4 bodies Alertmanager sends; Slack is the recording Web API, read as the channel shows.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.core.config import BizraConfig
from commands.breach import Alert, AlertKind, BreachState, acknowledge, step
from commands.slo import SloStatus
from tests.support.bot import RunningBot, running_bot
from tests.support.slack import Message, SlackRecorder, block_action_body, post

ROOT = Path(__file__).resolve().parents[2]
RELEASE_CHANNEL = "CREL"
ON_CALL = "UONCALL"
RESPONDER = "URESPOND"
TOKEN = "am-test-token"  # made up for tests
TOKEN_ENV = "BIZRA_ALERTMANAGER_TOKEN"


def _config(tmp_path: Path, *, enabled: bool = True) -> BizraConfig:
    return BizraConfig.model_validate({
        "store": {"path": str(tmp_path / "state.sqlite")},
        "slack": {"release_channel": RELEASE_CHANNEL, "messages_per_second": 50},
        "slo": {"on_call": {"users": [ON_CALL]}, "dashboard_url": "https://grafana.example.test/d/node0",
                "alertmanager": {"enabled": enabled}},
        "access": {"roles": {"responder": {"users": [RESPONDER], "permissions": ["alert.ack", "rollback"]}}},
    })


def _alert(fingerprint: str, *, status: str = "firing", name: str = "Node0HighErrorRate") -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": "page", "namespace": "node0"},
        "annotations": {"summary": f"{name} on node0", "description": "5xx above 1% for 5 minutes"},
        "startsAt": "2026-12-01T10:00:00.000Z",
        "endsAt": "2026-12-01T10:20:00.000Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.monitoring:9090/graph?g0.expr=node0_cb_error_rate",
        "fingerprint": fingerprint,
    }


def _payload(*alerts: dict[str, Any]) -> str:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return json.dumps({
        "version": "4", "groupKey": '{}:{alertname="Node0HighErrorRate"}', "truncatedAlerts": 0,
        "status": status, "receiver": "bizra",
        "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
        "commonLabels": {"severity": "page"}, "commonAnnotations": {},
        "externalURL": "http://alertmanager.monitoring:9093", "alerts": list(alerts),
    })


def _send(bot: RunningBot, body: str, *, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return post(bot.url + "/webhooks/alertmanager", body, headers)


@pytest.fixture
def bot(slack_recorder: SlackRecorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningBot]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with running_bot(slack_recorder, config=_config(tmp_path)) as running:
        yield running


def _pages(recorder: SlackRecorder) -> list[Message]:
    return recorder.top_level(RELEASE_CHANNEL)


def _wait_pages(recorder: SlackRecorder, count: int) -> list[Message]:
    recorder.wait_for(lambda _: len(_pages(recorder)) >= count, what=f"{count} page(s)")
    return _pages(recorder)


def test_firing_twice_with_one_fingerprint_pages_once_and_a_second_fingerprint_separately(
        bot: RunningBot, slack_recorder: SlackRecorder) -> None:
    assert _send(bot, _payload(_alert("a1b2c3"))) == (200, "ok: 1 opened, 0 resolved\n")
    [page] = _wait_pages(slack_recorder, 1)
    assert _send(bot, _payload(_alert("a1b2c3"))) == (200, "ok: 0 opened, 0 resolved\n")  # the repeat

    assert _send(bot, _payload(_alert("a1b2c3"), _alert("d4e5f6", name="Node0CacheCold")))[0] == 200
    pages = _wait_pages(slack_recorder, 2)
    assert len(pages) == 2
    shown = page.shown
    assert "Node0HighErrorRate" in shown and f"<@{ON_CALL}>" in shown and "5xx above 1%" in shown
    assert {b["text"]["text"] for b in page.buttons()} == {"Acknowledge", "Silence", "Roll back", "Open dashboard"}
    assert "Node0CacheCold" in pages[1].shown
    ids = {b["value"] for m in pages for b in m.buttons() if b["action_id"] == "alert.ack"}
    assert ids == {"am:a1b2c3.20261201T100000", "am:d4e5f6.20261201T100000"}


def test_a_second_replica_on_the_same_store_does_not_page_again(
        bot: RunningBot, slack_recorder: SlackRecorder) -> None:
    assert _send(bot, _payload(_alert("a1b2c3")))[0] == 200
    _wait_pages(slack_recorder, 1)
    with running_bot(slack_recorder, config=bot.runtime.config) as replica:
        assert _send(replica, _payload(_alert("a1b2c3"))) == (200, "ok: 0 opened, 0 resolved\n")
    assert len(_pages(slack_recorder)) == 1


def test_resolved_resolves_the_right_page(bot: RunningBot, slack_recorder: SlackRecorder) -> None:
    assert _send(bot, _payload(_alert("a1b2c3"), _alert("d4e5f6", name="Node0CacheCold")))[0] == 200
    pages = _wait_pages(slack_recorder, 2)
    cold = next(p for p in pages if "Node0CacheCold" in p.shown)
    hot = next(p for p in pages if "Node0HighErrorRate" in p.shown)

    assert _send(bot, _payload(_alert("d4e5f6", status="resolved", name="Node0CacheCold"))) == \
        (200, "ok: 0 opened, 1 resolved\n")
    slack_recorder.wait_for(lambda _: slack_recorder.replies(RELEASE_CHANNEL, cold.ts), what="the resolution")
    [note] = slack_recorder.replies(RELEASE_CHANNEL, cold.ts)
    assert "Resolved at 10:20:00 UTC" in note.shown and "Node0CacheCold" in note.shown
    slack_recorder.wait_for(lambda _: slack_recorder.message(RELEASE_CHANNEL, cold.ts).updates >= 1,
                            what="the page updated")
    resolved = slack_recorder.message(RELEASE_CHANNEL, cold.ts)
    assert resolved.shown.startswith("✅ Resolved: Alert: Node0CacheCold")
    assert [b["text"]["text"] for b in resolved.buttons()] == ["Open dashboard"]
    # The other page is untouched: still open, nothing in its thread.
    assert slack_recorder.message(RELEASE_CHANNEL, hot.ts).updates == 0
    assert slack_recorder.replies(RELEASE_CHANNEL, hot.ts) == []
    # Resolved again (Alertmanager repeats resolved notifications): nothing new.
    assert _send(bot, _payload(_alert("d4e5f6", status="resolved", name="Node0CacheCold"))) == \
        (200, "ok: 0 opened, 0 resolved\n")


def test_the_acknowledge_button_works_on_an_alertmanager_page(bot: RunningBot, slack_recorder: SlackRecorder) -> None:
    assert _send(bot, _payload(_alert("a1b2c3")))[0] == 200
    [page] = _wait_pages(slack_recorder, 1)
    [ack] = [b for b in page.buttons() if b["action_id"] == "alert.ack"]
    status, _ = bot.send(block_action_body(action_id="alert.ack", value=ack["value"], user_id=RESPONDER,
                                           response_url=slack_recorder.response_url("ack"), channel_id=RELEASE_CHANNEL,
                                           message_ts=page.ts))
    assert status == 200
    slack_recorder.wait_for(lambda _: any("Acknowledged by" in m.shown
                                          for m in slack_recorder.replies(RELEASE_CHANNEL, page.ts)),
                            what="the acknowledgement in the thread")
    slack_recorder.wait_for(lambda _: slack_recorder.message(RELEASE_CHANNEL, page.ts).updates >= 1,
                            what="the page updated")
    assert "Acknowledge" not in [b["text"]["text"] for b in slack_recorder.message(RELEASE_CHANNEL, page.ts).buttons()]


def test_a_wrong_or_missing_token_is_401_and_nothing_is_posted(
        bot: RunningBot, slack_recorder: SlackRecorder) -> None:
    assert _send(bot, _payload(_alert("a1b2c3")), token="not-the-token")[0] == 401
    assert _send(bot, _payload(_alert("a1b2c3")), token=None)[0] == 401
    assert _send(bot, _payload(_alert("a1b2c3")), token="")[0] == 401
    assert slack_recorder.calls("chat.postMessage") == []
    # And nothing was stored: the right token now pages (once).
    assert _send(bot, _payload(_alert("a1b2c3"))) == (200, "ok: 1 opened, 0 resolved\n")
    assert len(_wait_pages(slack_recorder, 1)) == 1


def test_a_malformed_body_is_400_with_the_reason(bot: RunningBot, slack_recorder: SlackRecorder) -> None:
    assert _send(bot, "{not json") == (400, "the body is not JSON\n")
    assert _send(bot, "[]") == (400, "the body is not a JSON object\n")
    status, text = _send(bot, json.dumps({"version": "4", "status": "firing", "alerts": [{"status": "firing"}]}))
    assert status == 400 and "alerts.0.labels" in text
    status, text = _send(bot, _payload(_alert("a1b2c3")).replace('"version": "4"', '"version": "3"'))
    assert status == 400 and "version" in text
    assert slack_recorder.calls("chat.postMessage") == []


def test_the_receiver_is_404_unless_enabled(slack_recorder: SlackRecorder, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with running_bot(slack_recorder, config=_config(tmp_path, enabled=False)) as off:
        assert _send(off, _payload(_alert("a1b2c3")))[0] == 404
    assert slack_recorder.calls("chat.postMessage") == []


def test_the_watch_re_pages_an_alertmanager_page_until_acknowledged_and_never_resolves_it_itself() -> None:
    """The SLO watch's step (pure) re-pages an open Alertmanager alert every `repage`; only Alertmanager
    resolves it (it is in no catalog, which for the watch's own alerts means "resolve")."""
    start = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    page = Alert(id="am:a1b2c3.20261201T100000", key="am:a1b2c3", kind=AlertKind.BREACH, slo="Node0HighErrorRate",
                 since=start, opened_at=start, last_page_at=start, source="alertmanager")
    state = BreachState(alerts=[page])
    later = step(state, SloStatus(at=start + timedelta(minutes=16), results=[]),
                 sustain=timedelta(minutes=5), repage=timedelta(minutes=15)).state
    [still] = later.alerts
    assert still.is_open and still.pages_due == 2
    acknowledged, _ = acknowledge(later, still.id, by=ON_CALL, at=start + timedelta(minutes=17))
    quiet = step(acknowledged, SloStatus(at=start + timedelta(minutes=40), results=[]),
                 sustain=timedelta(minutes=5), repage=timedelta(minutes=15)).state
    assert quiet.alerts[0].is_open and quiet.alerts[0].pages_due == 2


def test_the_shipped_receiver_config_is_valid_alertmanager_config_pointing_at_the_route() -> None:
    shipped = ROOT / "ops" / "monitoring" / "alertmanager-bizra-receiver.yaml"
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.fail("amtool is not installed: run `bash scripts/install-system-deps.sh` (Debian package "
                    "prometheus-alertmanager)", pytrace=False)
    checked = subprocess.run([amtool, "check-config", str(shipped)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    [hook] = next(r for r in config["receivers"] if r["name"] == "bizra")["webhook_configs"]
    assert hook["url"].endswith("/webhooks/alertmanager") and hook["send_resolved"] is True
    assert hook["http_config"]["authorization"]["type"] == "Bearer"
    assert hook["http_config"]["authorization"]["credentials_file"]
