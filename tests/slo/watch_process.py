"""One SLO watch tick in a process of its own, as the elected leader, for a test to kill in the middle of a
delivery: `python -m tests.slo.watch_process <spec.json>`.

The spec names the test's Prometheus, its SLO catalog, its store's folder (the same SQLite file as the
test's own watch), the recording Slack server, the tick's time and the replica's identity. The leader Lease
is kept in the store (`bot/core/store_lease.py`), so the test's watch, another "replica" on the same store,
takes it over once it has run out on that replica's clock."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

from bot.assembly import build_runtime
from bot.core.leadership import LeaseElector
from bot.core.runtime import Runtime
from bot.core.store_lease import StoreLease
from bot.features.slo.watch import run_once
from commands.ports import FixedClock
from commands.slo import SloDefinition
from tests.slo.conftest import secrets_for_url, slo_config


def elect(runtime: Runtime, *, identity: str) -> LeaseElector:
    """Wire the store-backed Lease election into `runtime` as `identity` and run one round of it."""
    elector = LeaseElector(StoreLease(runtime.store.get(), name="bizra-bot-leader"), identity=identity,
                           settings=runtime.config.leader_election, clock=runtime.clock)
    runtime.leadership.set(elector)
    elector.step()
    return elector


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    config = slo_config(spec["prom_url"], Path(spec["workdir"]),
                        catalog=[SloDefinition.model_validate(slo) for slo in spec["catalog"]])
    at = datetime.fromisoformat(spec["at"])
    clock = FixedClock(at)
    runtime = build_runtime(config=config, secrets=secrets_for_url(spec["slack_api_url"]), clock=clock)
    if not elect(runtime, identity=spec["identity"]).is_leader():
        print(f"{spec['identity']} did not get the leader Lease", file=sys.stderr)
        return 2
    run_once(runtime, at=at)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
