"""`bizra serve` as a real process with the election on: it takes the Lease on the API emulator,
names itself leader on /healthz, and on SIGTERM releases the Lease so the next replica need not wait
out the lease duration. A Lease that cannot even be set up refuses start-up with the fix."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.leader.conftest import LEASE, NS
from tests.logs.serving import BOT_TOKEN, REPO, SIGNING_SECRET, free_port, serve_env, serving
from tests.support.kube_api import KubeApiServer
from tests.support.polling import wait_until


def write_config(tmp_path: Path, kubeconfig: Path) -> Path:
    config = {
        "slack": {"release_channel": "C0RELEASE"},
        "slo": {"enabled": False},
        "store": {"path": str(tmp_path / "state.sqlite")},
        "release": {"kube": {"mode": "kubeconfig", "kubeconfig": str(kubeconfig), "timeout_seconds": 2}},
        "leader_election": {"enabled": True, "namespace": NS, "lease_name": LEASE, "lease_duration": 3,
                            "renew_deadline": 2, "retry_period": 0.2},
    }
    path = tmp_path / "bizra.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def healthz(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/healthz", timeout=5) as response:
        return dict(json.loads(response.read()))


def test_serve_takes_the_lease_and_releases_it_on_sigterm(api: KubeApiServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, api.write_kubeconfig(tmp_path / "kubeconfig"))
    env = serve_env(free_port(), SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                    SLACK_API_URL="http://127.0.0.1:9/api/", POD_NAME="bizra-bot-serve-0")
    with serving(["serve", "--config", str(config)], env, tmp_path / "serve.log") as served:
        wait_until(lambda: healthz(served.url).get("leader") == "bizra-bot-serve-0", timeout=20,
                   what="serve to take the Lease")
        lease = api.get("coordination.k8s.io", "leases", NS, LEASE)
        assert lease is not None and lease["spec"]["holderIdentity"] == "bizra-bot-serve-0"
        assert served.stop() == 0, served.output()
    released = api.get("coordination.k8s.io", "leases", NS, LEASE)
    assert released is not None
    assert "holderIdentity" not in released["spec"] and released["spec"]["leaseDurationSeconds"] == 1
    assert "released lease bizra-bot/bizra-bot-leader" in served.output()


def test_serve_refuses_to_start_when_the_election_has_no_kubernetes_access(tmp_path: Path) -> None:
    config = write_config(tmp_path, tmp_path / "no-such-kubeconfig")
    env = serve_env(free_port(), SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET)
    done = subprocess.run([sys.executable, "-m", "bot", "serve", "--config", str(config)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stderr
    assert "leader election needs the Kubernetes API" in done.stderr
    assert "leader_election.enabled: false" in done.stderr
    assert "Traceback" not in done.stderr
