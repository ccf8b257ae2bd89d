"""The Lease adapter: `bot.core.leadership.LeaseBackend` over the official `kubernetes` client.

What flows through: one `coordination.k8s.io/v1` Lease as JSON (its spec as client-go writes it:
`holderIdentity`, `leaseDurationSeconds`, `acquireTime`, `renewTime` as RFC 3339 MicroTime,
`leaseTransitions`), one raw request per call through the client's own `ApiClient` (its
configuration loaders, auth, TLS and token refresh — the same configuration as the cluster
adapter, `load_configuration(release.kube)`), each with a timeout and without urllib3 retries: a
renewal that does not come back quickly is a failed renewal, retried by the elector's next round.

Errors: 404 on read is "no Lease yet" (None); 409 (Conflict on a stale resourceVersion, or
AlreadyExists on create) is `LeaseConflict` (another replica won); anything else (unreachable,
timeout, 403, 5xx) is `LeaseUnavailable` with a sentence naming what failed.

RBAC: the methods declare their (api group, resource, verb) triples with the cluster adapter's
`@needs(...)`, so `required_permissions()` and the Role in ops/bot/ stay matched by the RBAC test.
The Lease lives in the bot's own namespace, not in the release namespace.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.adapters.kubernetes import load_configuration, needs
from bot.core.leadership import LeaseConflict, LeaseRecord, LeaseUnavailable
from bot.core.settings import KubeAccessSettings
from commands.cluster import ClusterError

if TYPE_CHECKING:  # the client is imported where the adapter is built (it costs ~300 ms)
    from kubernetes import client as k8s

LEASES = ("coordination.k8s.io", "leases")
_MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_micro_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime(_MICRO_TIME)


def parse_micro_time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def record_from(obj: dict[str, Any]) -> LeaseRecord:
    spec = obj.get("spec") or {}
    return LeaseRecord(
        holder=spec.get("holderIdentity") or None,
        lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=parse_micro_time(spec.get("acquireTime")),
        renew_time=parse_micro_time(spec.get("renewTime")),
        transitions=int(spec.get("leaseTransitions") or 0),
        resource_version=str((obj.get("metadata") or {}).get("resourceVersion") or ""),
    )


def lease_object(record: LeaseRecord, *, namespace: str, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"leaseDurationSeconds": record.lease_duration_seconds,
                            "leaseTransitions": record.transitions}
    if record.holder:
        spec["holderIdentity"] = record.holder
    if record.acquire_time is not None:
        spec["acquireTime"] = format_micro_time(record.acquire_time)
    if record.renew_time is not None:
        spec["renewTime"] = format_micro_time(record.renew_time)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace,
                                "labels": {"app.kubernetes.io/name": "bizra-bot"}}
    if record.resource_version:
        metadata["resourceVersion"] = record.resource_version  # the precondition of the replace
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}


class KubeLease:
    """One Lease, read, created and replaced (conditioned on resourceVersion) through the API server."""

    def __init__(self, configuration: k8s.Configuration, *, namespace: str, name: str, timeout: float,
                 user_agent: str | None = None) -> None:
        import urllib3  # lazy: the Kubernetes client's transport; loaded with it, when the adapter is built
        from kubernetes import client as k8s  # lazy: the Kubernetes client costs ~300 ms; only `serve` pays it

        configuration.retries = 0  # a renewal is retried by the next election round, never behind its back
        self._api = k8s.ApiClient(configuration)
        if user_agent:  # which replica wrote the Lease shows in the API server's audit log
            self._api.user_agent = user_agent
        self._transport_errors: tuple[type[BaseException], ...] = (
            urllib3.exceptions.HTTPError, OSError, k8s.ApiException,
        )
        self._host = configuration.host
        self.namespace, self.name, self._timeout = namespace, name, timeout

    @classmethod
    def from_settings(cls, access: KubeAccessSettings, *, namespace: str, name: str, timeout: float,
                      user_agent: str | None = None) -> KubeLease:
        try:
            configuration = load_configuration(access)
        except ClusterError as exc:  # its sentence names what to set (kubeconfig, context, in-cluster)
            raise LeaseUnavailable(str(exc)) from exc
        return cls(configuration, namespace=namespace, name=name, timeout=timeout, user_agent=user_agent)

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.name}"

    def _path(self, *, named: bool) -> str:
        base = f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases"
        return f"{base}/{self.name}" if named else base

    def _request(self, method: str, path: str, *, what: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            verb, url, header_params, payload, _ = self._api.param_serialize(
                method=method, resource_path=path, header_params=headers, body=body, auth_settings=["BearerToken"])
            response = self._api.call_api(verb, url, header_params=header_params, body=payload,
                                          _request_timeout=self._timeout)
            response.read()
        except self._transport_errors as exc:
            cause = getattr(exc, "reason", None) or exc
            raise LeaseUnavailable(f"the Kubernetes API server at {self._host} could not be reached to {what} "
                                   f"({type(cause).__name__}{': ' + str(cause)[:160] if str(cause) else ''})") from exc
        try:
            answer = json.loads(response.data or b"{}")
        except ValueError:
            answer = {}
        return int(response.status), answer if isinstance(answer, dict) else {}

    def _refused(self, status: int, answer: dict[str, Any], *, what: str) -> Exception:
        message = str(answer.get("message") or "")
        if status == 409:
            return LeaseConflict(f"could not {what}: {message or 'conflict'}")
        hint = " (the bot's Role must grant get/create/update on leases)" if status == 403 else ""
        return LeaseUnavailable(f"could not {what}: {status} {answer.get('reason') or ''}{hint} {message}".strip())

    @needs(("coordination.k8s.io", "leases", "get"))
    def read_lease(self) -> LeaseRecord | None:
        what = f"read lease {self.where}"
        status, answer = self._request("GET", self._path(named=True), what=what)
        if status == 404:
            return None
        if not 200 <= status < 300:
            raise self._refused(status, answer, what=what)
        return record_from(answer)

    @needs(("coordination.k8s.io", "leases", "create"))
    def create_lease(self, record: LeaseRecord) -> LeaseRecord:
        what = f"create lease {self.where}"
        body = lease_object(record.model_copy(update={"resource_version": ""}), namespace=self.namespace,
                            name=self.name)
        status, answer = self._request("POST", self._path(named=False), what=what, body=body)
        if not 200 <= status < 300:
            raise self._refused(status, answer, what=what)
        return record_from(answer)

    @needs(("coordination.k8s.io", "leases", "update"))
    def replace_lease(self, record: LeaseRecord) -> LeaseRecord:
        what = f"update lease {self.where}"
        if not record.resource_version:
            raise ValueError("a Lease is replaced only conditioned on the resourceVersion it was read at")
        body = lease_object(record, namespace=self.namespace, name=self.name)
        status, answer = self._request("PUT", self._path(named=True), what=what, body=body)
        if not 200 <= status < 300:
            raise self._refused(status, answer, what=what)
        return record_from(answer)

    def close(self) -> None:
        self._api.close()
