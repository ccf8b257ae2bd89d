"""Several real `bizra serve` processes sharing one config: replicas, as the Deployment runs them.

What flows: `ReplicaSet.start(names)` writes one `bizra.yaml` and starts one `python -m bot serve`
process per name (HTTP mode on 127.0.0.1 and a free port each, or Socket Mode with its own app
token), all pointed at the same parts:

- Slack: the recording Web API server (tests/support/slack.py) as `SLACK_API_URL`; in Socket Mode
  also `ReplicaSocketMode` (tests/support/socket_mode.py, which knows which replica holds which
  connection);
- Prometheus: a NODE0 slot on the shared Prometheus (tests/support/shared_prometheus.py), whose
  exporter makes breaches (`latency_seconds=0.003`);
- Kubernetes: the API emulator (tests/support/kube_api.py) with the NODE0 Deployment, reached by
  kubeconfig; it also holds the leader Lease (`leader_election:` with small timings);
- the store: one SQLite file, or one PostgreSQL database (tests/support/postgres.py), described by
  a `SharedStore`, which also reads the rows back for the tests' checks.

Each replica's identity is `POD_NAME` (its name). Readiness is polled on `/readyz` with a deadline;
`kill()` is SIGKILL (no clean-up of any kind), `restart()` starts the same identity again. Every
replica's stdout and stderr go to a log file, whose tail `ReplicaSet.logs()` puts into failure
messages. `ReplicaSet.close()` (the context manager's exit) kills whatever still runs.

    with replica_set(recorder=…, api=…, store=sqlite_store(tmp_path), slot=node0_slot,
                     workdir=tmp_path) as replicas:
        replicas.start(["bizra-0", "bizra-1", "bizra-2"])
        leader = replicas.wait_leader()          # the Replica holding the Lease
        leader.kill()
        replicas.wait_leader(not_named=leader.name, timeout=…)
"""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from tests.support.kube_api import KubeApiServer, deployment_manifest
from tests.support.polling import wait_until
from tests.support.postgres import PostgresDatabase
from tests.support.shared_prometheus import Slot
from tests.support.slack import (
    Recorded,
    SlackRecorder,
    block_action_body,
    post,
    sign,
    slash_command_body,
)
from tests.support.socket_mode import SocketModeServer

REPO = Path(__file__).resolve().parents[2]
CANARY_DIR = REPO / "ops" / "canary"
SIGNING_SECRET = "replicas-test-signing-secret"  # made up for tests; never a real workspace's
BOT_TOKEN = "xoxb-replicas-test-bot-token"
NS = "bizra-production"
STABLE = "ghcr.io/bizra/node0@sha256:" + "a" * 64
BAD = "ghcr.io/bizra/node0@sha256:" + "b" * 64
CANDIDATE = "ghcr.io/bizra/node0@sha256:" + "c" * 64
LAST_STABLE = "flagger.app/last-stable-revision"
RELEASE_CHANNEL = "CREL"
ON_CALL = "UONCALL"
RESPONDER = "U_RESP"
MANAGER = "U_RELMGR"
LEASE_NAME = "bizra-bot-leader"
LATENCY_BREACH = 0.003  # p99 in the (2 ms, 5 ms] bucket: above the 1.5 ms objective

# Small election timings, so a failover takes seconds (whole seconds for the duration: the Lease
# stores leaseDurationSeconds).
LEASE_SECONDS = 3
RENEW_SECONDS = 2.0
RETRY_SECONDS = 0.5
SLO_INTERVAL_SECONDS = 1.0
SUSTAIN_SECONDS = 2.0


# -- the store the replicas share ---------------------------------------------------------------------


@dataclass(frozen=True)
class SharedStore:
    """Where every replica keeps its state (the `store:` section and what the processes need in their
    environment), and a reader for the tests' checks (`rows`)."""

    backend: str  # "sqlite" | "postgresql"
    section: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    sqlite_path: Path | None = None
    database: PostgresDatabase | None = None

    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """`sql` (with `?` placeholders) on the shared store; [] while the table does not exist yet."""
        if self.database is not None:
            return _postgres_rows(self.database, sql, params)
        assert self.sqlite_path is not None
        return _sqlite_rows(self.sqlite_path, sql, params)


def _postgres_rows(database: PostgresDatabase, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    import psycopg  # lazy: only the PostgreSQL variant needs it
    from psycopg.rows import dict_row

    try:
        with database.connect() as connection, connection.cursor(row_factory=dict_row) as cursor:
            # psycopg's placeholders are %s, and a literal % must be doubled once parameters are given.
            cursor.execute(sql.replace("%", "%%").replace("?", "%s") if params else sql, params or None)
            return list(cursor.fetchall())
    except psycopg.errors.UndefinedTable:
        return []


def _sqlite_rows(path: Path, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with closing(sqlite3.connect(path, timeout=10)) as connection:
        connection.row_factory = sqlite3.Row
        try:
            return [dict(row) for row in connection.execute(sql, params)]
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise


def sqlite_store(workdir: Path) -> SharedStore:
    """One SQLite file for every replica (as on a shared volume)."""
    path = workdir / "state.sqlite"
    return SharedStore(backend="sqlite", section={"path": str(path)}, sqlite_path=path)


def postgres_store(database: PostgresDatabase) -> SharedStore:
    """One PostgreSQL database for every replica; the password reaches them through the environment."""
    return SharedStore(backend="postgresql", section={"url": database.url}, env=dict(database.env),
                       database=database)


# -- one replica ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get_json(url: str) -> tuple[int, dict[str, Any]] | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"{}")
        except ValueError:
            return error.code, {}
    except (OSError, ValueError):
        return None


def leader_named_by(health: dict[str, Any]) -> str | None:
    """The leader a /healthz body names (`leader`: the holder of a valid Lease as that replica last read it)."""
    named = health.get("leader")
    return str(named) if named else None


@dataclass
class Replica:
    """One `bizra serve` process: its identity (POD_NAME), HTTP port, log, and how to reach it."""

    name: str
    port: int
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def healthz(self) -> dict[str, Any] | None:
        answer = _get_json(self.url + "/healthz")
        return answer[1] if answer and answer[0] == 200 else None

    def ready(self) -> bool:
        answer = _get_json(self.url + "/readyz")
        return bool(answer and answer[0] == 200)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = 25) -> str:
        """The last lines of the log, without APScheduler's lines (one per job run)."""
        kept = [line for line in self.output().splitlines() if "apscheduler." not in line]
        return "\n".join(kept[-lines:])

    def send(self, body: str) -> tuple[int, str]:
        """A body POSTed to /slack/events, signed as Slack signs it (Slack's HTTP timeout: 3 s, ours 10 s)."""
        return post(self.url + "/slack/events", body, sign(SIGNING_SECRET, body))

    def command(self, recorder: SlackRecorder, text: str, *, name: str, user_id: str = MANAGER,
                channel_id: str = "C_OPS") -> tuple[int, str]:
        """`/bizra <text>` as Slack delivers it; the answer goes to the recorder's response_url `name`."""
        body = slash_command_body(text, response_url=recorder.response_url(name), user_id=user_id,
                                  channel_id=channel_id)
        return self.send(body)

    def click(self, recorder: SlackRecorder, *, action_id: str, value: str, name: str, user_id: str,
              message_ts: str = "1700000000.000100", channel_id: str = RELEASE_CHANNEL) -> tuple[int, str]:
        """A button click (block_actions) as Slack delivers it; each call is its own delivery (trigger_id)."""
        body = block_action_body(action_id=action_id, value=value, user_id=user_id, channel_id=channel_id,
                                 response_url=recorder.response_url(name), message_ts=message_ts)
        return self.send(body)

    def kill(self) -> None:
        """SIGKILL, as a node dying or the OOM killer: no shutdown, no lease release, nothing."""
        if self.alive:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self) -> None:
        """SIGTERM, as Kubernetes stops a pod; killed if it does not stop in time."""
        if self.alive:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


# -- the set of replicas ------------------------------------------------------------------------------------


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def seconds(value: float) -> str:
    """A duration as the config reads it ("0.5s")."""
    return f"{value:g}s"


def base_config(*, api: KubeApiServer, store: SharedStore, slot: Slot | None, workdir: Path,
                repage_seconds: float = 600.0) -> dict[str, Any]:
    """The one config every replica reads: small lease timings and SLO windows, permissions for the tests'
    users, the shipped signed artifacts (every gate passes) and the shipped canary stages."""
    kubeconfig = api.write_kubeconfig(workdir / "kubeconfig")
    config: dict[str, Any] = {
        "store": store.section,
        "slack": {"release_channel": RELEASE_CHANNEL, "messages_per_second": 50},  # no Slack pacing in tests
        "release": {
            "kube": {"mode": "kubeconfig", "kubeconfig": str(kubeconfig), "timeout_seconds": 3},
            "rollback": {"incidents_dir": str(workdir / "incidents"), "poll_interval_seconds": 0.1,
                         "rollout_deadline_seconds": 60},
        },
        "leader_election": {
            "enabled": True,  # not in a pod (no KUBERNETES_SERVICE_HOST): elect anyway, on the emulator
            "namespace": NS,
            "lease_name": LEASE_NAME,
            "lease_duration": seconds(LEASE_SECONDS),
            "renew_deadline": seconds(RENEW_SECONDS),
            "retry_period": seconds(RETRY_SECONDS),
            "heartbeat_interval": "1s",
        },
        "gates": {"artifacts_dir": str(REPO / "artifacts"),
                  "trusted_keys": [str(REPO / "ops/keys/attestation-release.pub")]},
        "signoff": {"required_for_canary": False},
        "canary": {
            "stages": [{"name": name, "manifest": str(CANARY_DIR / f"{name}.yaml"), "weight": weight,
                        "bake_minutes": 60}
                       for name, weight in (("stage1-10pct", 10), ("stage2-50pct", 50), ("stage3-100pct", 100))],
            "stable_manifest": str(CANARY_DIR / "stable.yaml"),
            "abort_wait_seconds": 5,
        },
        "access": {"roles": {
            "responder": {"users": [RESPONDER], "permissions": [
                "rollback", "alert.ack", "alert.silence", "slo", "audit"]},
            "release-manager": {"users": [MANAGER], "permissions": [
                "gates", "slo", "canary.status", "canary.start", "canary.promote", "canary.abort", "canary.force",
                "rollback", "alert.ack", "alert.silence", "audit", "history"]},
        }},
    }
    if slot is None:
        config["slo"] = {"enabled": False}
    else:
        config["slo"] = {
            "prometheus": {"url": slot.prom.url, "timeout_seconds": 3},
            "window": "3s",  # Prometheus scrapes every second
            "interval": seconds(SLO_INTERVAL_SECONDS),
            "sustain": seconds(SUSTAIN_SECONDS),
            "repage": seconds(repage_seconds),
            "on_call": {"users": [ON_CALL]},
            "digest": {"enabled": False},
            "catalog": [definition.model_dump(mode="json") for definition in slot.catalog()],
        }
    return config


def seed_node0(api: KubeApiServer, *, image: str = BAD, last_stable: str | None = STABLE) -> None:
    """The NODE0 Deployment, rolled out and healthy (on `image`), with its last stable release annotated."""
    annotations = {LAST_STABLE: last_stable} if last_stable else None
    api.put(deployment_manifest(image=image, annotations=annotations))
    api.roll_out(NS, "node0")


@dataclass
class ReplicaSet:
    """The replicas started so far (by name), the parts they share, and what the tests read back."""

    recorder: SlackRecorder
    api: KubeApiServer
    store: SharedStore
    workdir: Path
    config: dict[str, Any]
    socket_mode: ReplicaSocketMode | None = None
    replicas: dict[str, Replica] = field(default_factory=dict)  # the latest process of each identity
    launched: list[Replica] = field(default_factory=list)  # every process started, killed ones too

    @property
    def config_path(self) -> Path:
        return self.workdir / "bizra.yaml"

    def write_config(self) -> Path:
        self.config_path.write_text(yaml.safe_dump(self.config), encoding="utf-8")
        return self.config_path

    def _env(self, name: str, port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SLACK_", "BIZRA_", "POD_", "KUBERNETES_"))
               and k not in ("KUBECONFIG", "PORT", "HOST")}
        env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                   SLACK_API_URL=self.recorder.api_url, HOST="127.0.0.1", PORT=str(port), POD_NAME=name,
                   POD_NAMESPACE=NS, PYTHONUNBUFFERED="1", **self.store.env)
        if self.socket_mode is not None:
            env["SLACK_APP_TOKEN"] = self.socket_mode.app_token(name)
        return env

    def launch(self, name: str) -> Replica:
        """Start one replica (does not wait for it)."""
        if not self.config_path.exists():
            self.write_config()
        port = free_port()
        log = self.workdir / f"{name}.{len(self.launched) + 1}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(self.config_path), "serve"],
                                       cwd=REPO, env=self._env(name, port), stdin=subprocess.DEVNULL,
                                       stdout=sink, stderr=subprocess.STDOUT)
        replica = Replica(name=name, port=port, log=log, process=process)
        self.replicas[name] = replica
        self.launched.append(replica)
        return replica

    def wait_ready(self, replicas: Sequence[Replica], *, timeout: float = 45.0) -> None:
        """Poll /readyz of each until it answers 200; fail with the log of one that died or never did."""
        def all_ready() -> bool:
            for replica in replicas:
                if not replica.alive:
                    raise AssertionError(f"{replica.name} exited {replica.process.returncode}:\n{replica.tail(40)}")
            return all(replica.ready() for replica in replicas)

        try:
            wait_until(all_ready, timeout=timeout, interval=0.1, what="every replica's /readyz")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.logs()}") from None
        if self.socket_mode is not None:
            for replica in replicas:
                self.socket_mode.wait_connected_replica(replica.name, timeout=timeout)

    def start(self, names: Sequence[str], *, timeout: float = 45.0) -> list[Replica]:
        """Start the replicas at once and wait until every one is ready."""
        started = [self.launch(name) for name in names]
        self.wait_ready(started, timeout=timeout)
        return started

    def restart(self, name: str, *, timeout: float = 45.0) -> Replica:
        """The same identity started again (a container restarted in its pod), ready."""
        old = self.replicas.get(name)
        if old is not None and old.alive:
            old.kill()
        replica = self.launch(name)
        self.wait_ready([replica], timeout=timeout)
        return replica

    def alive(self) -> list[Replica]:
        return [replica for replica in self.replicas.values() if replica.alive]

    # -- the leader ------------------------------------------------------------------------------------
    def lease(self) -> dict[str, Any]:
        return self.api.get("coordination.k8s.io", "leases", NS, LEASE_NAME) or {}

    def lease_holder(self) -> str | None:
        holder = self.lease().get("spec", {}).get("holderIdentity")
        return str(holder) if holder else None

    def leader_by_healthz(self) -> str | None:
        """The leader every live replica's /healthz names, when they agree on one (None otherwise)."""
        named = set()
        for replica in self.alive():
            health = replica.healthz()
            named.add(leader_named_by(health) if health else None)
        return named.pop() if len(named) == 1 else None

    def wait_leader(self, *, not_named: str | None = None, timeout: float = 20.0) -> Replica:
        """The live replica that holds the Lease, that every live replica's /healthz names as the leader and
        whose own /healthz says it leads (`leadership.is_leader`)."""
        def elected() -> Replica | None:
            holder = self.lease_holder()
            if not holder or holder == not_named:
                return None
            replica = self.replicas.get(holder)
            if replica is None or not replica.alive or self.leader_by_healthz() != holder:
                return None
            own = (replica.healthz() or {}).get("leadership") or {}
            return replica if own.get("is_leader") is True else None

        try:
            return wait_until(elected, timeout=timeout, interval=0.05,
                              what="a leader" + (f" other than {not_named}" if not_named else ""))
        except AssertionError as exc:
            health = {r.name: r.healthz() for r in self.alive()}
            raise AssertionError(f"{exc}; lease {self.lease().get('spec')}; /healthz {health}\n{self.logs()}") from None

    # -- what the tests read -----------------------------------------------------------------------------
    def pages(self) -> list[Recorded]:
        """Pages: accepted channel messages (not thread replies) with the Acknowledge button."""
        return [r for r in self.recorder.calls("chat.postMessage")
                if r.body.get("channel") == RELEASE_CHANNEL and not r.body.get("thread_ts") and not r.faulted
                and "alert.ack" in json.dumps(r.body.get("blocks"))]

    def thread(self, ts: str) -> list[Recorded]:
        """Replies Slack accepted in the thread of message `ts`."""
        return [r for r in self.recorder.calls("chat.postMessage") if r.body.get("thread_ts") == ts and not r.faulted]

    def logs(self, lines: int = 25) -> str:
        """The tail of every process's log, killed ones too (for failure messages)."""
        return "\n".join(f"--- {replica.name} (pid {replica.process.pid}, "
                         f"{'running' if replica.alive else f'exit {replica.process.returncode}'}) ---\n"
                         f"{replica.tail(lines)}" for replica in self.launched)

    def close(self) -> None:
        for replica in self.launched:
            if replica.alive:
                replica.kill()


@contextmanager
def replica_set(*, recorder: SlackRecorder, api: KubeApiServer, store: SharedStore, workdir: Path,
                slot: Slot | None = None, socket_mode: ReplicaSocketMode | None = None,
                repage: timedelta = timedelta(minutes=10), **overrides: Any) -> Iterator[ReplicaSet]:
    """Replicas sharing one config (overridden section by section with `overrides`); all killed on exit."""
    config = _merge(base_config(api=api, store=store, slot=slot, workdir=workdir,
                                repage_seconds=repage.total_seconds()), overrides)
    replicas = ReplicaSet(recorder=recorder, api=api, store=store, workdir=workdir, config=config,
                          socket_mode=socket_mode)
    try:
        yield replicas
    finally:
        replicas.close()


# -- Socket Mode: one connection per replica --------------------------------------------------------------


class ReplicaSocketMode(SocketModeServer):
    """The Socket Mode server, knowing which replica holds which connection.

    Each replica gets its own app-level token (`app_token(name)`); `apps.connections.open` answers each
    with the WebSocket URL plus `&replica=<name>`, so the connection's path names its replica, and
    `push_to(name, …)` delivers an envelope to that replica only, as Slack delivers each event to one of
    an app's connections.
    """

    TOKEN_PREFIX = "xapp-1-A0-replica-"

    def app_token(self, name: str) -> str:
        return self.TOKEN_PREFIX + name

    def _connections_open(self, recorded: Recorded) -> tuple[int, dict[str, str], dict[str, Any]]:
        status, headers, body = super()._connections_open(recorded)
        token = recorded.headers.get("Authorization", "").removeprefix("Bearer ")
        if body.get("ok") and token.startswith(self.TOKEN_PREFIX):
            body = {**body, "url": f"{body['url']}&replica={token.removeprefix(self.TOKEN_PREFIX)}"}
        return status, headers, body

    def _live_of(self, name: str) -> list[Any]:
        return [conn for conn in self._live() if conn.path.endswith(f"&replica={name}")]

    def connected_replicas(self) -> list[str]:
        """The replicas holding a live connection, by name (sorted)."""
        return sorted({conn.path.rsplit("&replica=", 1)[1] for conn in self._live() if "&replica=" in conn.path})

    def wait_connected_replica(self, name: str, *, timeout: float = 15.0) -> None:
        wait_until(lambda: self._live_of(name), timeout=timeout, what=f"{name}'s Socket Mode connection")

    def push_to(self, name: str, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = True) -> str:
        """One envelope on `name`'s newest live connection; returns its envelope_id."""
        live = self._live_of(name)
        assert live, f"{name} holds no Socket Mode connection"
        envelope_id = str(uuid.uuid4())
        with self._lock:
            self.pushed.add(envelope_id)
        envelope = {"envelope_id": envelope_id, "type": kind, "accepts_response_payload": accepts_response_payload,
                    "payload": payload}
        live[-1].send(0x1, json.dumps(envelope).encode())  # a text frame
        return envelope_id

    def push_slash_command_to(self, name: str, text: str, *, response_url: str, user_id: str,
                              channel_id: str = "C_OPS") -> str:
        """`/bizra <text>` delivered on `name`'s connection (the fields of the HTTP form, as a JSON object)."""
        fields = dict(urllib.parse.parse_qsl(
            slash_command_body(text, response_url=response_url, user_id=user_id, channel_id=channel_id)))
        return self.push_to(name, "slash_commands", fields)

    def push_click_to(self, name: str, *, action_id: str, value: str, user_id: str, response_url: str,
                      channel_id: str = "C_OPS", message_ts: str = "1700000000.000100") -> str:
        """A button click (block_actions) delivered on `name`'s connection."""
        form = dict(urllib.parse.parse_qsl(block_action_body(
            action_id=action_id, value=value, user_id=user_id, response_url=response_url, channel_id=channel_id,
            message_ts=message_ts)))
        return self.push_to(name, "interactive", json.loads(form["payload"]), accepts_response_payload=False)
