"""The signed evidence archive: a completed run through Slack, its SLO series against Prometheus, and tampering."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest

from bot.features.evidence.assemble import sweep
from commands.access import Permission
from commands.attestation import new_keypair
from tests.canary.conftest import (
    CANDIDATE,
    MANAGER,
    NS,
    RELEASE_CHANNEL,
    Driver,
    MakeDriver,
    ephemeral,
    make_config,
    now_clock,
    seed,
    text_of,
)
from tests.canary.test_canary_slo import P99, slo_config, tick_for
from tests.support.cli import RunCli
from tests.support.kube_api import KubeApiServer
from tests.support.prometheus import PrometheusServer
from tests.support.shared_prometheus import Slot
from tests.support.slack import SlackRecorder


@pytest.fixture
def metrics(node0_slot: Slot) -> tuple[PrometheusServer, Slot]:
    node0_slot.prom.wait_for_value(node0_slot.scoped(P99.format(w="15m")), what="a first p99")
    node0_slot.prom.wait_for_value(node0_slot.scoped("sum(rate(node0_planner_outputs_total[15m]))"),
                                   lambda v: v > 0, what="planner rate")
    return node0_slot.prom, node0_slot


def _keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public = new_keypair()
    (tmp_path / "evidence.pem").write_bytes(private)
    (tmp_path / "evidence.pub").write_bytes(public)
    return tmp_path / "evidence.pem", tmp_path / "evidence.pub"


def _evidence(tmp_path: Path) -> dict[str, Any]:
    private, public = _keys(tmp_path)
    return {"directory": str(tmp_path / "archives"), "signing_key_file": str(private), "trusted_keys": [str(public)]}


def _query_range(prom: PrometheusServer, query: str, *, start: float, end: float, step: int) -> list[Any]:
    params = urllib.parse.urlencode({"query": query, "start": start, "end": end, "step": f"{step}s"})
    with urllib.request.urlopen(f"{prom.url}/api/v1/query_range?{params}", timeout=10) as response:
        return json.loads(response.read())["data"]["result"]


def test_a_completed_run_is_archived_signed_and_its_slo_series_are_what_prometheus_holds(
        metrics: tuple[PrometheusServer, Slot], api: KubeApiServer, tmp_path: Path, driver_factory: MakeDriver,
        slack_recorder: SlackRecorder, bizra_cli: RunCli) -> None:
    prom, slot = metrics
    seed(api)
    clock = now_clock()
    started_at = clock.now()
    config = make_config(api, tmp_path, slo=slo_config(prom.url, window="15m", sustain="10s", slot=slot))
    config = config.model_copy(update={"evidence": config.evidence.model_validate(_evidence(tmp_path))})
    driver: Driver = driver_factory(config, clock)
    runtime = driver.bot.runtime

    assert "stage 1/3" in text_of(driver.run(f"canary start {CANDIDATE}", user=MANAGER))
    api.roll_out(NS, "node0-canary")
    assert sweep(runtime, at=clock.now()) == []  # running: nothing to archive yet (its thread is remembered)
    tick_for(driver, clock, seconds=60)
    assert "promoted to stage 2/3" in text_of(driver.run("canary promote", user=MANAGER))
    api.roll_out(NS, "node0-canary")
    tick_for(driver, clock, seconds=120)
    assert "promoted to stage 3/3" in text_of(driver.run("canary promote", user=MANAGER))
    api.roll_out(NS, "node0-canary")
    tick_for(driver, clock, seconds=180)
    assert "rolling out" in text_of(driver.run("canary promote", user=MANAGER))
    api.roll_out(NS, "node0")
    assert "Release complete" in text_of(driver.run("canary promote", user=MANAGER))

    # Stage 1 began at the real time the test clock started; let Prometheus scrape a few seconds of it.
    began = started_at.timestamp()
    prom.wait_for_value(slot.scoped("max(timestamp(node0_planner_outputs_total))"), lambda v: v >= began + 6,
                        what="six seconds of stage 1 in Prometheus")
    built = time.time()
    made = sweep(runtime, at=clock.now())
    assert len(made) == 1 and made[0].outcome == "completed" and made[0].trigger == "completed"
    assert sweep(runtime, at=clock.now()) == []  # once
    archive = made[0].path
    assert archive.parent == tmp_path / "archives" and archive.exists()

    with zipfile.ZipFile(archive) as opened:
        names = set(opened.namelist())
        for expected in ("manifest.json", "manifest.sig.json", "gates/report.json", "gates/digests.json",
                         "promotions.json", "dod.json", "signoff.json", "audit.json", "timeline.md",
                         "stages/1-stage1-10pct/slo.csv", "stages/2-stage2-50pct/chart.png",
                         "stages/3-stage3-100pct/stage.json"):
            assert expected in names, expected
        read = {name: opened.read(name) for name in names}
    assert json.loads(read["gates/report.json"])["grade"] == "A+"
    dod = json.loads(read["dod.json"])
    assert [gate["number"] for gate in dod["gates"]] == [1, 2, 3, 4, 5]
    assert dod["gates"][4]["key"] == "canary" and dod["gates"][4]["outcome"] == "PASS"  # this very run
    stage2 = json.loads(read["stages/2-stage2-50pct/stage.json"])
    assert (stage2["weight"], stage2["bake_minutes"], stage2["promoted_by"], stage2["forced"]) == (50, 2.0, MANAGER,
                                                                                                   False)
    promotions = json.loads(read["promotions.json"])
    assert [p["event"] for p in promotions["promotions"]] == ["start", "promote", "promote", "complete"]
    assert all(p["revision"] == CANDIDATE and p["by"] == MANAGER for p in promotions["promotions"])
    audit = json.loads(read["audit.json"])
    assert [row["action"] for row in audit if row["outcome"] == "ok"][:3] == [
        "canary.start", "canary.promote", "canary.promote"]
    timeline = read["timeline.md"].decode()
    for line in ("T+0:", "Stage 1 deployed (10%)", "T+1:", "All SLOs green → Stage 2 promoted (50%)", "T+3:",
                 "Stage 3 promoted (100%)", "T+6:", "Final validation complete → Deployment successful",
                 "Zero rollbacks triggered.", "Zero SLO breaches"):
        assert line in timeline, timeline

    # The series are what Prometheus holds: the same range query, the same points.
    compared = 0
    for folder in ("stages/1-stage1-10pct", "stages/2-stage2-50pct", "stages/3-stage3-100pct"):
        exported = json.loads(read[f"{folder}/slo.json"])
        assert set(exported) == {slo.name for slo in slot.catalog()}
        for slo in exported.values():
            assert slo["error"] == ""
            direct = _query_range(prom, slo["query"], start=slo["start"], end=slo["end"], step=slo["step_seconds"])
            # Points after the archive was built (the test clock runs ahead of real time) are evaluated over
            # samples Prometheus has only now: compare those up to a few scrapes before the build.
            settled = built - 2

            def upto(points: list[list[Any]], limit: float = settled) -> list[list[float]]:
                return [[float(t), float(v)] for t, v in points if float(t) <= limit]

            want = [upto(item["values"]) for item in direct]
            got = [upto(line["points"]) for line in slo["series"]]
            assert got == want
            compared += sum(len(points) for points in got)
        rows = read[f"{folder}/slo.csv"].decode().splitlines()
        assert rows[0] == "slo,labels,timestamp,time,value"
        assert len(rows) - 1 == sum(len(line["points"]) for slo in exported.values() for line in slo["series"])
    assert compared > 0

    # Uploaded into the run's thread, byte for byte.
    replies = [r for r in slack_recorder.calls("chat.postMessage") if r.body.get("thread_ts")]
    canary_thread = replies[0].body["thread_ts"]  # the progress thread the start message opened
    completed = slack_recorder.calls("files.completeUploadExternal")
    assert [(r.body.get("channel_id"), r.body.get("thread_ts")) for r in completed] == [
        (RELEASE_CHANNEL, canary_thread)]
    uploads = slack_recorder.calls(path_prefix="/upload/")
    assert any(hashlib.sha256(u.raw).hexdigest() == hashlib.sha256(archive.read_bytes()).hexdigest() for u in uploads)

    done = bizra_cli("evidence", "verify", archive, "--key", tmp_path / "evidence.pub")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid" in done.stdout


def _rewrite(source: Path, target: Path, change: Any) -> Path:
    with zipfile.ZipFile(source) as opened:
        members = {name: opened.read(name) for name in opened.namelist()}
    change(members)
    with zipfile.ZipFile(target, "w") as out:
        for name, data in members.items():
            out.writestr(name, data)
    return target


def test_verify_names_a_changed_byte_a_missing_file_and_an_extra_file(
        api: KubeApiServer, tmp_path: Path, driver_factory: MakeDriver, bizra_cli: RunCli) -> None:
    seed(api)
    config = make_config(api, tmp_path, slo={"prometheus": {"url": "http://127.0.0.1:9", "timeout_seconds": 2}})
    config = config.model_copy(update={"evidence": config.evidence.model_validate(_evidence(tmp_path))})
    config.access.roles["release-manager"].permissions.append(Permission.EVIDENCE)
    driver: Driver = driver_factory(config, now_clock())
    assert "stage 1/3" in text_of(driver.run(f"canary start {CANDIDATE}", user=MANAGER))
    refused = driver.run("evidence", user="U_NOBODY")
    assert ephemeral(refused) and "not allowed to run `evidence`" in text_of(refused)
    answer = driver.run("evidence", user=MANAGER)
    assert not ephemeral(answer), text_of(answer)
    archive = next((tmp_path / "archives").glob("evidence-*.zip"))
    assert archive.name in text_of(answer)
    key = tmp_path / "evidence.pub"
    assert bizra_cli("evidence", "verify", archive, "--key", key).returncode == 0

    def flip(members: dict[str, bytes]) -> None:
        data = bytearray(members["timeline.md"])
        data[0] ^= 0x01  # one changed byte
        members["timeline.md"] = bytes(data)

    cases = {
        "changed": (_rewrite(archive, tmp_path / "changed.zip", flip), "timeline.md: changed since it was signed"),
        "missing": (_rewrite(archive, tmp_path / "missing.zip", lambda m: m.pop("audit.json")),
                    "audit.json: missing"),
        "added": (_rewrite(archive, tmp_path / "added.zip", lambda m: m.update({"notes.txt": b"trust me"})),
                  "notes.txt: added"),
    }
    for kind, (path, named) in cases.items():
        done = bizra_cli("evidence", "verify", path, "--key", key)
        assert done.returncode == 1, kind
        assert named in done.stdout, done.stdout
        assert len([line for line in done.stdout.splitlines() if line.startswith("  ")]) == 1, done.stdout

    stranger = new_keypair()[1]
    (tmp_path / "stranger.pub").write_bytes(stranger)
    untrusted = bizra_cli("evidence", "verify", archive, "--key", tmp_path / "stranger.pub")
    assert untrusted.returncode == 1 and "untrusted key" in untrusted.stdout


def test_an_aborted_run_is_archived_once_with_the_rollback_marked(
        api: KubeApiServer, tmp_path: Path, driver_factory: MakeDriver, slack_recorder: SlackRecorder) -> None:
    seed(api)
    config = make_config(api, tmp_path, slo={"prometheus": {"url": "http://127.0.0.1:9", "timeout_seconds": 2}})
    config = config.model_copy(update={"evidence": config.evidence.model_validate(_evidence(tmp_path))})
    clock = now_clock()
    driver: Driver = driver_factory(config, clock)
    runtime = driver.bot.runtime
    assert "stage 1/3" in text_of(driver.run(f"canary start {CANDIDATE}", user=MANAGER))
    sweep(runtime, at=clock.now())
    clock.advance(seconds=40)
    driver.run("canary abort error budget burning", user=MANAGER)

    made = sweep(runtime, at=clock.now())
    assert [(a.outcome, a.trigger) for a in made] == [("aborted", "aborted")]
    assert sweep(runtime, at=clock.now()) == []
    with zipfile.ZipFile(made[0].path) as opened:
        timeline = opened.read("timeline.md").decode()
        stage = json.loads(opened.read("stages/1-stage1-10pct/stage.json"))
    assert "Stage 1 deployed (10%)" in timeline and "1 rollback(s) triggered." in timeline
    assert "↩ rollback" in timeline and "error budget burning" in timeline
    assert stage["end"] is not None and stage["weight"] == 10
    assert slack_recorder.calls("files.completeUploadExternal")
