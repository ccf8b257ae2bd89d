"""`/bizra slo` in Slack (signed request, status via response_url, chart uploaded) and on the console."""

from __future__ import annotations

import io
import json
from pathlib import Path

from bot.assembly import build_runtime
from bot.core.delivery import ConsolePoster
from bot.surfaces.console import run_line
from tests.slo.conftest import Watch, secrets_for
from tests.support.bot import running_bot


def test_slack_slo_command_answers_the_status_with_a_chart(watch: Watch) -> None:
    with running_bot(watch.recorder, config=watch.runtime.config, clock=watch.clock) as bot:
        status, _ = bot.command("slo", channel_id="CASK")
        assert status == 200
        answers = watch.recorder.wait_for(lambda _: watch.recorder.responses("cmd"), what="the status answer",
                                          timeout=20)
    answer = watch.recorder.responses("cmd")[0].body
    assert answer["response_type"] == "in_channel"
    text = json.dumps(answer["blocks"], ensure_ascii=False)
    assert "✅ cb_latency_p99" in text and "✅ planner_json_validity" in text
    assert "Chart of the last 30 minutes attached." in text
    completed = watch.recorder.calls("files.completeUploadExternal")
    assert len(completed) == 1 and completed[0].body["channel_id"] == "CASK"
    assert answers


def test_console_slo_prints_the_status_and_names_the_chart_file(watch: Watch, tmp_path: Path) -> None:
    runtime = build_runtime(config=watch.runtime.config, secrets=secrets_for(watch.recorder), clock=watch.clock,
                      surface="console")
    out = io.StringIO()
    runtime.poster.set(ConsolePoster(runtime.registry.renderers, out, charts_dir=tmp_path / "charts"))

    text = run_line("/bizra slo", runtime, user_id="console:test")

    assert "✅ cb_latency_p99: " in text and "(objective ≤ 1.5 ms) ok" in text
    assert "✅ cache_l1_hit_ratio: 95% (objective ≥ 90%) ok" in text
    chart_line = next(line for line in text.splitlines() if line.startswith("Chart written to "))
    chart = Path(chart_line.removeprefix("Chart written to "))
    assert chart.parent == tmp_path / "charts" and chart.read_bytes().startswith(b"\x89PNG")


def test_console_slo_rejects_arguments_with_a_hint(watch: Watch) -> None:
    runtime = build_runtime(config=watch.runtime.config, secrets=secrets_for(watch.recorder), clock=watch.clock,
                      surface="console")
    assert "Try `/bizra slo`" in run_line("/bizra slo now please", runtime, user_id="console:test")
    assert "no SLO alert `nope`" in run_line("/bizra slo ack nope", runtime, user_id="console:test")
