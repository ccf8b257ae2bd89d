"""The living status: one message a day edited in place, a new one on a state change, kept across a
restart; silences (command and page button) that stop re-pages and end by themselves; the daily digest.

Real Prometheus scraping the test's synthetic NODE0; Slack is the recording server, whose channel is
read as Slack would show it (`tests/slo/channel.py`: updates applied to the stored messages); the
job bodies are called with explicit times from the FixedClock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.assembly import build_runtime
from bot.core import audit
from bot.core.config import BizraConfig
from bot.features.slo.digest import run_digest
from bot.features.slo.live import status_message_ts
from bot.features.slo.watch import load_state, run_once
from commands.ports import FixedClock
from commands.slo import SloState
from tests.slo.channel import Channels, Message
from tests.slo.conftest import ON_CALL, RELEASE_CHANNEL, REPAGE, RESPONDER, SUSTAIN, Watch, secrets_for, slo_config
from tests.support.bot import running_bot
from tests.support.prometheus import PrometheusServer
from tests.support.shared_prometheus import Slot
from tests.support.slack import SlackRecorder, block_action_body

LATENCY_BREACH = 0.003


def _config(prom: PrometheusServer, slot: Slot, tmp_path: Path, **slo: Any) -> BizraConfig:
    """The SLO tests' config, with responders allowed to silence."""
    raw = slo_config(prom.url, tmp_path, catalog=slot.catalog(), **slo).model_dump(mode="json")
    raw["access"]["roles"]["responder"]["permissions"] = ["alert.ack", "alert.silence", "rollback"]
    return BizraConfig.model_validate(raw)


def _watch(config: BizraConfig, slot: Slot, recorder: SlackRecorder, start: datetime) -> Watch:
    clock = FixedClock(start)
    runtime = build_runtime(config=config, secrets=secrets_for(recorder), clock=clock)
    watch = Watch(runtime=runtime, clock=clock, recorder=recorder, node0=slot.exporter, start=start)
    watch.wait_all_ok()
    return watch


def _midnight() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _midday(watch: Watch) -> Watch:
    """Ticks at noon of the test's UTC day: the status message is per UTC day, so ticks that cross
    midnight (a run started at 23:59:50) would rightly start a second message."""
    watch.start = watch.start.replace(hour=12, minute=0, second=0, microsecond=0)
    return watch


def _page(channels: Channels) -> Message:
    pages = [m for m in channels.top_level(RELEASE_CHANNEL) if "alert.ack" in m.shown or "Resolved" in m.shown]
    assert len(pages) == 1, [m.shown for m in channels.top_level(RELEASE_CHANNEL)]
    return pages[0]


def _repages(channels: Channels, page: Message) -> list[Message]:
    return [m for m in channels.thread(RELEASE_CHANNEL, page.ts) if "Still unacknowledged" in m.text]


def test_a_day_of_green_ticks_leaves_one_status_message(prom: PrometheusServer, node0_slot: Slot,
                                                        slack_recorder: SlackRecorder, tmp_path: Path) -> None:
    channels = Channels().install(slack_recorder)
    watch = _watch(_config(prom, node0_slot, tmp_path, interval="5m"), node0_slot, slack_recorder, _midnight())

    ticks = 24 * 12  # every 5 minutes, 00:00 … 23:55 UTC
    for n in range(ticks):
        assert watch.run(n * 300).status.state is SloState.OK

    statuses = channels.statuses(RELEASE_CHANNEL)
    assert len(statuses) == 1, "288 green ticks: one status message, edited in place"
    status = statuses[0]
    assert status.edits == ticks - 1
    assert "*NODE0 SLOs* at 23:55:00 UTC: ok" in status.shown and "✅ cb_latency_p99" in status.shown
    assert "edited in place every 5 min" in status.shown
    assert channels.top_level(RELEASE_CHANNEL) == [status], "nothing else in the channel: no pages"

    # The next UTC day starts a message of its own.
    watch.run(ticks * 300)
    assert len(channels.statuses(RELEASE_CHANNEL)) == 2


def test_a_state_change_posts_a_new_status_message(watch: Watch) -> None:
    channels = Channels().install(watch.recorder)
    watch.run(0)
    watch.run(10)
    first = channels.statuses(RELEASE_CHANNEL)
    assert len(first) == 1 and first[0].edits == 1

    watch.node0.set(latency_seconds=LATENCY_BREACH)
    watch.wait_for("cb_latency_p99", SloState.BREACHING)
    watch.run(20)  # OK → BREACHING: a new message
    watch.run(30)  # still breaching (not yet sustained): edits it
    statuses = channels.statuses(RELEASE_CHANNEL)
    assert len(statuses) == 2
    assert "✅ *NODE0 SLOs* at" in statuses[0].shown and ": ok" in statuses[0].shown
    assert "🔥 *NODE0 SLOs* at" in statuses[1].shown and "🔥 cb_latency_p99" in statuses[1].shown
    assert statuses[1].edits == 1
    assert status_message_ts(watch.runtime, at=watch.clock.now()) == statuses[1].ts


def test_a_restart_keeps_editing_the_same_message(watch: Watch) -> None:
    _midday(watch)
    channels = Channels().install(watch.recorder)
    watch.run(0)
    # A new process (or the other replica) on the same store.
    watch.runtime = build_runtime(config=watch.runtime.config, secrets=watch.runtime.secrets, clock=watch.clock)
    watch.run(10)
    watch.run(20)
    statuses = channels.statuses(RELEASE_CHANNEL)
    assert len(statuses) == 1 and statuses[0].edits == 2
    assert watch.clock.now().strftime("%H:%M:%S") in statuses[0].shown


def test_a_deleted_status_message_is_posted_again(watch: Watch) -> None:
    _midday(watch)
    channels = Channels().install(watch.recorder)
    watch.run(0)
    channels.messages.clear()  # someone deleted it: chat.update answers message_not_found
    watch.run(10)
    assert len(channels.statuses(RELEASE_CHANNEL)) == 1
    watch.run(20)
    assert len(channels.statuses(RELEASE_CHANNEL)) == 1 and channels.statuses(RELEASE_CHANNEL)[0].edits == 1


def test_a_silence_stops_re_pages_and_expires(prom: PrometheusServer, node0_slot: Slot,
                                              slack_recorder: SlackRecorder, tmp_path: Path) -> None:
    channels = Channels().install(slack_recorder)
    watch = _watch(_config(prom, node0_slot, tmp_path), node0_slot, slack_recorder,
                   datetime.now(UTC).replace(microsecond=0))
    watch.node0.set(latency_seconds=LATENCY_BREACH)
    watch.wait_for("cb_latency_p99", SloState.BREACHING)
    with running_bot(slack_recorder, config=watch.runtime.config, clock=watch.clock) as bot:
        watch.runtime = bot.runtime
        watch.run(0)
        watch.run(SUSTAIN)
        page = _page(channels)

        # Nobody without alert.silence can silence.
        bot.command("slo silence cb_latency_p99 2m nope", user_id="USTRANGER", name="denied")
        slack_recorder.wait_for(lambda _: slack_recorder.responses("denied"), what="the refusal")
        assert "alert.silence" in slack_recorder.responses("denied")[0].body["text"]

        watch.clock.set(watch.start + timedelta(seconds=SUSTAIN + 5))
        status, _ = bot.command("slo silence cb_latency_p99 2m deploying the cache fix", user_id=RESPONDER,
                                channel_id=RELEASE_CHANNEL, name="silence")
        assert status == 200
        slack_recorder.wait_for(lambda _: slack_recorder.responses("silence"), what="the silence answer")
        answer = slack_recorder.responses("silence")[0].body["text"]
        until = watch.start + timedelta(seconds=SUSTAIN + 5 + 120)
        assert f"Silenced `cb_latency_p99` for 2 min, until {until.strftime('%Y-%m-%d %H:%M:%S UTC')}" in answer

        # Told in the page's thread, shown on the page and in the status message; audited.
        notes = [m for m in channels.thread(RELEASE_CHANNEL, page.ts) if "🔕" in m.text]
        assert len(notes) == 1 and f"<@{RESPONDER}>" in notes[0].shown and "deploying the cache fix" in notes[0].shown
        assert f"<!date^{int(until.timestamp())}^" in notes[0].shown
        assert "🔕 Re-pages silenced until" in _page(channels).shown
        status_message = channels.statuses(RELEASE_CHANNEL)[-1]
        assert "🔕 cb_latency_p99 silenced until <!date^" in status_message.shown
        entries = audit.latest(watch.runtime, action_prefix="alert.silence")
        assert [(e.actor, e.target, e.outcome) for e in entries] == [
            (RESPONDER, "cb_latency_p99", "ok"), ("USTRANGER", "cb_latency_p99", "denied")]
        assert "deploying the cache fix" in entries[0].after

        # While silenced: no re-page, however long unacknowledged.
        watch.run(SUSTAIN + REPAGE)
        watch.run(SUSTAIN + 2 * REPAGE)
        assert _repages(channels, page) == []
        run = watch.run(SUSTAIN + 2 * REPAGE + 1)
        assert run.next_evaluation is not None and run.next_evaluation >= until

        # It ends by itself: the next tick after `until` re-pages, and the status no longer shows it.
        after = (until - watch.start).total_seconds() + 1
        watch.run(after)
        repages = _repages(channels, page)
        assert len(repages) == 1 and f"<@{ON_CALL}>" in repages[0].shown
        assert "🔕" not in channels.statuses(RELEASE_CHANNEL)[-1].shown
        watch.run(after + 10)
        assert len(_repages(channels, page)) == 1, "re-pages resume on their own schedule"


def test_the_silence_button_on_a_page_silences_its_slo(prom: PrometheusServer, node0_slot: Slot,
                                                       slack_recorder: SlackRecorder, tmp_path: Path) -> None:
    channels = Channels().install(slack_recorder)
    watch = _watch(_config(prom, node0_slot, tmp_path, silence={"default_duration": "10m"}), node0_slot,
                   slack_recorder, datetime.now(UTC).replace(microsecond=0))
    watch.node0.set(latency_seconds=LATENCY_BREACH)
    watch.wait_for("cb_latency_p99", SloState.BREACHING)
    with running_bot(slack_recorder, config=watch.runtime.config, clock=watch.clock) as bot:
        watch.runtime = bot.runtime
        watch.run(0)
        watch.run(SUSTAIN)
        page = _page(channels)
        button = next(e for b in page.blocks for e in b.get("elements", []) if e.get("action_id") == "alert.silence")
        alert_id = load_state(watch.runtime).alerts[0].id
        assert button["value"] == alert_id
        assert button["confirm"]["confirm"]["text"] == "Silence" and "10 min" in button["confirm"]["text"]["text"]

        for _ in range(2):  # a double click (same second) is one silence
            bot.send(block_action_body(action_id="alert.silence", value=alert_id, user_id=RESPONDER,
                                       channel_id=RELEASE_CHANNEL, message_ts=page.ts,
                                       response_url=slack_recorder.response_url("silence")))
        slack_recorder.wait_for(lambda _: len(slack_recorder.responses("silence")) == 2, what="both answers")
        assert all("Silenced `cb_latency_p99` for 10 min" in r.body["text"]
                   for r in slack_recorder.responses("silence"))
        assert len(audit.latest(watch.runtime, action_prefix="alert.silence")) == 1
        assert "🔕 Re-pages silenced until" in _page(channels).shown
        assert len([m for m in channels.thread(RELEASE_CHANNEL, page.ts) if "🔕" in m.text]) == 1

        watch.run(SUSTAIN + REPAGE)
        watch.run(SUSTAIN + 5 * REPAGE)
        assert _repages(channels, page) == []
        watch.run(SUSTAIN + 10 * 60 + 1)
        assert len(_repages(channels, page)) == 1


def test_the_daily_digest_is_posted_once_at_its_time(prom: PrometheusServer, node0_slot: Slot,
                                                      slack_recorder: SlackRecorder, tmp_path: Path) -> None:
    channels = Channels().install(slack_recorder)
    nine = _midnight() + timedelta(hours=9)
    config = _config(prom, node0_slot, tmp_path, digest={"at": "09:00", "channel": "CDIGEST"})
    watch = _watch(config, node0_slot, slack_recorder, nine - timedelta(minutes=10))
    watch.run(0)
    watch.run(300)

    assert not run_digest(watch.runtime, at=nine - timedelta(minutes=1)).posted
    assert run_digest(watch.runtime, at=nine).posted
    assert not run_digest(watch.runtime, at=nine + timedelta(minutes=1)).posted
    other = build_runtime(config=config, secrets=watch.runtime.secrets, clock=watch.clock)
    assert not run_digest(other, at=nine + timedelta(minutes=2)).posted, "another replica finds the day claimed"

    digests = channels.top_level("CDIGEST")
    assert len(digests) == 1
    shown = digests[0].shown
    assert "NODE0 SLO digest" in shown and "2 evaluations" in shown
    assert "✅ cb_latency_p99: ok 100.0% of evaluations, 0 breaching, 0 unknown, 0 page(s)" in shown
    assert run_digest(watch.runtime, at=nine + timedelta(days=1)).posted, "the next day has its own"


def test_run_once_results_are_unchanged_by_the_living_status(watch: Watch) -> None:
    channels = Channels().install(watch.recorder)
    first = watch.run(0)
    again = run_once(watch.runtime, at=watch.start + timedelta(seconds=1))  # another replica's tick
    assert not first.replayed and again.replayed
    assert len(channels.statuses(RELEASE_CHANNEL)) == 1 and channels.statuses(RELEASE_CHANNEL)[0].edits == 0


def test_two_replicas_on_their_own_timers_edit_one_status_message(watch: Watch) -> None:
    """Interval 10 s: replica B ticks 3 s after A, every time, and A's tick 10 s later edits the same message."""
    _midday(watch)
    channels = Channels().install(watch.recorder)
    other = build_runtime(config=watch.runtime.config, secrets=watch.runtime.secrets, clock=watch.clock)
    for n in range(3):
        assert not watch.run(n * 10).replayed
        assert run_once(other, at=watch.start + timedelta(seconds=n * 10 + 3)).replayed
    statuses = channels.statuses(RELEASE_CHANNEL)
    assert len(statuses) == 1 and statuses[0].edits == 2
