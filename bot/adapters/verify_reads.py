"""Read-only adapters for `/bizra verify`: the ports of `commands.verify` over the real sources.

What flows through: cluster objects as plain dicts (the API's JSON), Prometheus' active targets,
the health endpoint's HTTP status and the bot's canary history, each converted to what
`commands.verify` expects; every failure becomes `ClusterError` or `Unavailable` with a sentence
for the channel, so the check shows ❔ with the reason.

The Kubernetes reads reuse the cluster adapter (`bot/adapters/kubernetes.py`) for what it already
reads (HPA, NetworkPolicy, pods) and for the admission test (a dry-run create of the checklist's
unsigned probe pod: admission runs, nothing is stored). The two reads it lacks — the Kyverno ClusterPolicy and the PoI
Job — are made here with the official client over the same configuration; `PERMISSIONS` lists
them so that the bot's Role in `ops/bot/base/rbac.yaml` grants them (tests/ops/test_rbac_matches_adapter.py).
Adapters are built lazily, inside each call, so a missing kubeconfig is one ❔ per check, not a crash.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.adapters.kubernetes import Triple
from bot.core.logs import redact_url
from bot.core.settings import PrometheusSettings
from commands.cluster import AdmissionAnswer, Cluster, ClusterError, ClusterErrorKind, KubeObject
from commands.verify import ScrapeTarget, Unavailable

if TYPE_CHECKING:  # the Kubernetes client and requests are imported where they are used (below)
    import requests
    from kubernetes import client as k8s

# (api group, resource, verb) of the calls this module makes itself (the rest go through the cluster adapter).
KYVERNO_POLICY: Triple = ("kyverno.io", "clusterpolicies", "get")
JOB: Triple = ("batch", "jobs", "get")
PERMISSIONS: frozenset[Triple] = frozenset({KYVERNO_POLICY, JOB})
# What the reads below ask of the cluster adapter (already in its own table; listed for the RBAC test).
# `dry_run_pod` is the admission test (DoD gate 1): a POST with dryRun=All, which needs `create` on pods.
CLUSTER_ADAPTER_CALLS = ("read_object", "list_pods", "dry_run_pod")


def _cluster_error(exc: k8s.ApiException, *, what: str) -> ClusterError:
    status = int(exc.status or 0)
    if status in (401, 403):
        return ClusterError(f"Kubernetes refused to let the bot {what} ({status}). The bot's service account lacks "
                            "this permission: apply ops/bot/base/rbac.yaml.", kind=ClusterErrorKind.FORBIDDEN,
                            status=status)
    if status == 404:
        return ClusterError(f"Could not {what}: not found.", kind=ClusterErrorKind.NOT_FOUND, status=status)
    return ClusterError(f"The Kubernetes API server failed to {what} ({status} {exc.reason}).",
                        kind=ClusterErrorKind.SERVER, status=status)


class KubeVerifyReads:
    """`commands.verify.VerifyCluster` over the cluster adapter plus two reads of its own."""

    def __init__(self, *, cluster_factory: Callable[[], Cluster],
                 configuration_factory: Callable[[], k8s.Configuration], timeout: float) -> None:
        self._cluster_factory = cluster_factory
        self._configuration_factory = configuration_factory
        self._timeout = timeout
        self._api: k8s.ApiClient | None = None

    def _client(self) -> k8s.ApiClient:
        from kubernetes import client as k8s  # lazy: ~300 ms; only a cluster read pays it

        if self._api is None:
            configuration = self._configuration_factory()
            if configuration.retries is None:
                configuration.retries = 1  # like the cluster adapter: a read is retried once on a broken connection
            self._api = k8s.ApiClient(configuration)
        return self._api

    def _get(self, call: Callable[[], Any], *, what: str) -> KubeObject | None:
        from kubernetes import client as k8s  # lazy: ~300 ms; only a cluster read pays it

        try:
            return call()
        except k8s.ApiException as exc:
            if exc.status == 404:
                return None
            raise _cluster_error(exc, what=what) from exc
        except Exception as exc:  # urllib3 connection errors, TLS, timeouts: the API cannot be asked
            raise ClusterError(f"The Kubernetes API server could not be reached to {what} "
                               f"({type(exc).__name__}: {str(exc)[:200]}).", kind=ClusterErrorKind.UNREACHABLE) from exc

    def cluster_policy(self, *, name: str) -> KubeObject | None:
        from kubernetes import client as k8s  # lazy: ~300 ms; only a cluster read pays it

        api = k8s.CustomObjectsApi(self._client())
        return self._get(lambda: api.get_cluster_custom_object("kyverno.io", "v1", "clusterpolicies", name,
                                                               _request_timeout=self._timeout),
                         what=f"read Kyverno ClusterPolicy {name}")

    def job(self, *, namespace: str, name: str) -> KubeObject | None:
        from kubernetes import client as k8s  # lazy: ~300 ms; only a cluster read pays it

        api = self._client()

        def read() -> KubeObject:
            job = k8s.BatchV1Api(api).read_namespaced_job(name, namespace, _request_timeout=self._timeout)
            return api.sanitize_for_serialization(job)

        return self._get(read, what=f"read job {namespace}/{name}")

    def hpa(self, *, namespace: str, name: str) -> KubeObject | None:
        return self._cluster_factory().read_object(api_version="autoscaling/v2", kind="HorizontalPodAutoscaler",
                                                   namespace=namespace, name=name)

    def network_policy(self, *, namespace: str, name: str) -> KubeObject | None:
        return self._cluster_factory().read_object(api_version="networking.k8s.io/v1", kind="NetworkPolicy",
                                                   namespace=namespace, name=name)

    def pods(self, *, namespace: str, selector: str) -> list[KubeObject]:
        return self._cluster_factory().list_pods(namespace=namespace, selector=selector)

    def admission_dry_run(self, *, namespace: str, pod: KubeObject) -> AdmissionAnswer:
        return self._cluster_factory().dry_run_pod(namespace=namespace, pod=pod)


class PrometheusTargets:
    """`commands.verify.TargetSource`: GET /api/v1/targets?state=active on the configured Prometheus."""

    def __init__(self, settings: PrometheusSettings) -> None:
        self._settings = settings

    @property
    def where(self) -> str:
        return redact_url(self._settings.url)  # shown in the checklist: a password in the URL is `***`

    def _session(self) -> requests.Session:
        import requests  # lazy: ~100 ms; only a check that asks over HTTP pays it

        session = requests.Session()
        session.verify = self._settings.ca_file or self._settings.verify_tls
        if self._settings.bearer_token_env:
            token = os.environ.get(self._settings.bearer_token_env)
            if not token:
                raise Unavailable(f"slo.prometheus.bearer_token_env names {self._settings.bearer_token_env}, "
                                  "which is not set in the environment")
            session.headers["Authorization"] = f"Bearer {token}"
        if self._settings.basic_auth_user and self._settings.basic_auth_password_env:
            password = os.environ.get(self._settings.basic_auth_password_env)
            if password is None:
                raise Unavailable(f"slo.prometheus.basic_auth_password_env names "
                                  f"{self._settings.basic_auth_password_env}, which is not set in the environment")
            session.auth = (self._settings.basic_auth_user, password)
        return session

    def targets(self, *, job: str) -> list[ScrapeTarget]:
        import requests  # lazy: ~100 ms; only a check that asks over HTTP pays it

        url = f"{self._settings.url}/api/v1/targets"
        try:
            with self._session() as session:
                response = session.get(url, params={"state": "active"}, timeout=self._settings.timeout_seconds)
        except requests.Timeout as exc:
            raise Unavailable(f"Prometheus at {self.where} did not answer within "
                              f"{self._settings.timeout_seconds:g}s") from exc
        except requests.RequestException as exc:
            raise Unavailable(f"Prometheus at {self.where} is unreachable ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise Unavailable(f"Prometheus at {self.where} answered {response.status_code} to /api/v1/targets")
        try:
            active = response.json()["data"]["activeTargets"]
        except (ValueError, KeyError, TypeError) as exc:
            raise Unavailable(f"Prometheus at {self.where} gave an unexpected answer to /api/v1/targets") from exc
        return [
            ScrapeTarget(instance=str(t.get("labels", {}).get("instance") or t.get("scrapeUrl") or "?"),
                         health=str(t.get("health") or "unknown"), last_error=str(t.get("lastError") or ""))
            for t in active
            if (t.get("labels") or {}).get("job") == job
        ]


class HttpHealth:
    """`commands.verify.HealthProbe`: one GET, no redirects followed (a redirect is not a 200)."""

    def __init__(self, *, timeout: float) -> None:
        self._timeout = timeout

    def status(self, url: str) -> int:
        import requests  # lazy: ~100 ms; only a check that asks over HTTP pays it

        try:
            response = requests.get(url, timeout=self._timeout, allow_redirects=False)
        except requests.Timeout as exc:
            raise Unavailable(f"no answer within {self._timeout:g}s") from exc
        except requests.RequestException as exc:
            raise Unavailable(f"no answer ({type(exc).__name__}: {str(exc)[:160]})") from exc
        response.close()
        return int(response.status_code)
