"""Replica heartbeats, `/bizra status` and `/healthz`: the leader, the replicas seen recently, the store.

Over signed Slack requests and real HTTP (tests/support/bot.py), with leader election on against
the Kubernetes API emulator, and the heartbeat job run as the scheduler runs it."""

from __future__ import annotations

import json
import urllib.request
from datetime import timedelta
from pathlib import Path

from bot.assembly import build_runtime
from bot.core.config import BizraConfig, load_secrets
from bot.core.invocation import Invocation
from bot.core.leadership import LeaseElector, SoleLeader
from bot.core.runtime import Runtime
from bot.core.settings import KubeAccessSettings
from bot.features.status.replicas import replicas_seen
from bot.surfaces.scheduler import tick
from commands.ports import FixedClock
from tests.leader.conftest import LEASE, NS, MakeElector
from tests.support.bot import running_bot
from tests.support.slack import SlackRecorder


def config_with(tmp_path: Path, access: KubeAccessSettings | None = None) -> BizraConfig:
    raw: dict = {"store": {"path": str(tmp_path / "state.sqlite")},
                 "leader_election": {"lease_name": LEASE, "namespace": NS}}
    if access is not None:
        raw["release"] = {"kube": access.model_dump(mode="json")}
    return BizraConfig.model_validate(raw)


def heartbeat(runtime: Runtime) -> None:
    (job,) = [job for job in runtime.registry.jobs if job.name == "replica-heartbeat"]
    tick(runtime, job)


def test_each_replica_records_its_heartbeat_and_status_names_the_leader(tmp_path: Path, elector: MakeElector,
                                                                         clock: FixedClock) -> None:
    config = config_with(tmp_path)
    runtimes, electors = {}, {}
    for name in ("bizra-0", "bizra-1"):
        runtime = build_runtime(config, load_secrets(), clock=clock, surface="console")
        electors[name] = elector(name)
        electors[name].step()
        runtime.leadership.set(electors[name])
        runtimes[name] = runtime
        heartbeat(runtime)
    clock.advance(seconds=8)
    electors["bizra-0"].step()
    heartbeat(runtimes["bizra-0"])
    seen = {r.identity: r for r in replicas_seen(runtimes["bizra-1"].store.get(), now=clock.now(),
                                                  heartbeat_interval=timedelta(seconds=10))}
    assert set(seen) == {"bizra-0", "bizra-1"}
    assert seen["bizra-0"].is_leader and not seen["bizra-1"].is_leader
    assert seen["bizra-0"].last_seen == clock.now()
    assert seen["bizra-0"].started_at == clock.now() - timedelta(seconds=8)
    # bizra-1 dies: after three missed heartbeats it is listed as not seen recently.
    for _ in range(4):
        clock.advance(seconds=8)
        electors["bizra-0"].step()
    heartbeat(runtimes["bizra-0"])
    reply = runtimes["bizra-0"].dispatch(_status_invocation())
    text = runtimes["bizra-0"].registry.renderers.text(reply.result)
    assert "Leader: bizra-0 (this replica) — Lease bizra-bot/bizra-bot-leader" in text
    assert "Replicas seen recently: 1 (of 2 with a heartbeat)" in text
    assert "bizra-1: follower" in text and "not seen recently" in text
    assert f"Store: sqlite at {tmp_path / 'state.sqlite'}; schema: " in text and "replicas v1" in text


def test_status_without_election_says_this_process_leads_alone(tmp_path: Path) -> None:
    runtime = build_runtime(config_with(tmp_path), load_secrets(), surface="console")
    assert isinstance(runtime.leadership.get(), SoleLeader)
    text = runtime.registry.renderers.text(runtime.dispatch(_status_invocation()).result)
    assert "no election: this process runs the background jobs alone" in text
    assert "none yet" in text  # no heartbeat was written: said so, not an empty list


def test_status_refuses_arguments_with_the_usage(tmp_path: Path) -> None:
    runtime = build_runtime(config_with(tmp_path), load_secrets(), surface="console")
    reply = runtime.dispatch(_status_invocation("now"))
    assert reply.ephemeral and "Usage: `/bizra status`" in str(reply.result)


def test_slash_status_and_healthz_name_the_leader_and_the_store(tmp_path: Path, slack_recorder: SlackRecorder,
                                                                access: KubeAccessSettings) -> None:
    config = config_with(tmp_path, access).model_copy(deep=True)
    config.leader_election.enabled = True
    with running_bot(slack_recorder, config=config) as bot:
        leadership = bot.runtime.leadership.get()
        assert isinstance(leadership, LeaseElector)
        assert leadership.step()
        heartbeat(bot.runtime)
        bot.command("status")
        answers = slack_recorder.wait_for(lambda _: slack_recorder.responses("cmd"), what="the status answer")
        with urllib.request.urlopen(bot.url + "/healthz", timeout=5) as response:
            health = json.loads(response.read())
    shown = json.dumps([a.body for a in answers if a.path.startswith("/response/cmd")])
    me = leadership.identity
    assert f"Leader: *{me}* (this replica)" in shown and "bizra-bot/bizra-bot-leader" in shown
    assert health["leadership"] == {"replica": me, "leader": me, "is_leader": True,
                                    "election": "lease bizra-bot/bizra-bot-leader"}
    assert health["replicas_seen"] == [me]
    assert health["leader"] == me
    assert health["store_backend"]["backend"] == "sqlite"
    assert health["store_backend"]["schema_versions"]["replicas"] == 1
    assert health["status"] == "ok"


def _status_invocation(*args: str) -> Invocation:
    return Invocation(text=" ".join(["status", *args]), subcommand="status", args=list(args))


def test_healthz_with_an_unusable_store_names_the_leader_and_does_not_query_it(tmp_path: Path,
                                                                              slack_recorder: SlackRecorder) -> None:
    with running_bot(slack_recorder, config=config_with(tmp_path)) as bot:
        bot.runtime.store.get().open()
        (tmp_path / "state.sqlite").write_bytes(b"")  # truncated under the running bot
        with urllib.request.urlopen(bot.url + "/healthz", timeout=5) as response:
            health = json.loads(response.read())
    assert health["status"] == "ok" and health["store"]["state"] == "empty"
    assert health["leader"] == bot.runtime.leadership.get().identity  # no election here: it leads alone
    assert health["leadership"]["election"] == "off"
    assert health["replicas_seen"] == []
    assert health["store_backend"]["problem"] == "not read: the store is unusable (see its state)"
