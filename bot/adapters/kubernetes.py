"""The cluster adapter: `commands.cluster.Cluster` over the official `kubernetes` client.

What flows through: JSON objects between the API server and the commands, over the client's own
`ApiClient` (its configuration loaders, auth, TLS and token refresh), one raw request per call so
that every call has a timeout (`_request_timeout`), one error path and one JSON shape (plain
dicts, as `kubectl get -o json` shows them — what incident bundles store).

Configuration (`release.kube` in bizra.yaml): `mode` auto | kubeconfig | in-cluster,
`kubeconfig` path (default `$KUBECONFIG`, else `~/.kube/config`), `context`, `timeout_seconds`,
`conflict_retries`. A read is retried once by urllib3 on a broken connection or timeout, so it
takes at most twice `timeout_seconds`. The composition root builds the adapter once per process
(`runtime.cluster`); a test may install its own with `runtime.cluster.set(KubernetesCluster(configuration))`.

Errors: every failure becomes `commands.cluster.ClusterError` with a sentence for the user:
403 (the bot's RBAC lacks a verb), 404 (wrong namespace/name in config), 409 (an update raced
someone else's: retried from a fresh read `conflict_retries` times, then reported), 400/422
(rejected object), 5xx (API server failure) and unreachable (connection refused, timeout, TLS).
Updates are single PATCH requests conditioned on the resourceVersion that was read, so a failed
update has changed nothing.

RBAC: every public method declares the (api group, resource, verb) triples it uses with
`@needs(...)`, collected in `PERMISSIONS` (method name -> triples); the generic `apply` and
`read_object` need their verbs on every kind in `APPLY_KINDS` / `READ_KINDS`. `required_permissions()`
is the union, which the bot's Role in `ops/bot/` must grant (a test compares them).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from bot.core.settings import KubeAccessSettings
from commands.cluster import AdmissionAnswer, ClusterError, ClusterErrorKind, DeploymentState, KubeObject

if TYPE_CHECKING:  # the client is imported where a configuration or an adapter is built (see below)
    from kubernetes import client as k8s

log = logging.getLogger(__name__)

FIELD_MANAGER = "bizra-bot"

Triple = tuple[str, str, str]  # (api group, resource, verb); the core group is ""


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


_KINDS = [
    Kind("", "v1", "Pod", "pods"),
    Kind("", "v1", "Service", "services"),
    Kind("", "v1", "ConfigMap", "configmaps"),
    Kind("", "v1", "Event", "events"),
    Kind("", "v1", "Namespace", "namespaces", namespaced=False),
    Kind("apps", "v1", "Deployment", "deployments"),
    Kind("apps", "v1", "ReplicaSet", "replicasets"),
    Kind("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
    Kind("networking.k8s.io", "v1", "Ingress", "ingresses"),
    Kind("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies"),
    Kind("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets"),
    Kind("flagger.app", "v1beta1", "Canary", "canaries"),
    Kind("flagger.app", "v1beta1", "MetricTemplate", "metrictemplates"),
    Kind("networking.istio.io", "v1beta1", "VirtualService", "virtualservices"),
    Kind("networking.istio.io", "v1beta1", "DestinationRule", "destinationrules"),
    Kind("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes"),
    Kind("split.smi-spec.io", "v1alpha2", "TrafficSplit", "trafficsplits"),
    Kind("argoproj.io", "v1alpha1", "Rollout", "rollouts"),
]
KINDS: dict[tuple[str, str], Kind] = {(kind.group, kind.kind): kind for kind in _KINDS}

# Kinds the bot may server-side apply (stage manifests) and read by name; keep them narrow: they
# become the bot's RBAC.
APPLY_KINDS: frozenset[tuple[str, str]] = frozenset(
    {
        ("apps", "Deployment"),
        ("", "Service"),
        ("", "ConfigMap"),
        ("autoscaling", "HorizontalPodAutoscaler"),
        ("flagger.app", "Canary"),
        ("networking.istio.io", "VirtualService"),
        ("networking.istio.io", "DestinationRule"),
        ("gateway.networking.k8s.io", "HTTPRoute"),
        ("split.smi-spec.io", "TrafficSplit"),
    }
)
READ_KINDS: frozenset[tuple[str, str]] = APPLY_KINDS | {("networking.k8s.io", "NetworkPolicy"),
                                                         ("argoproj.io", "Rollout")}
# Kinds the bot merge-patches (the Argo Rollouts engine: the pod template, promote, abort), with the
# subresources it writes; the controller owns everything else on them.
PATCH_KINDS: dict[tuple[str, str], tuple[str | None, ...]] = {("argoproj.io", "Rollout"): (None, "status")}

PERMISSIONS: dict[str, frozenset[Triple]] = {}
F = TypeVar("F", bound=Callable[..., Any])


def needs(*triples: Triple) -> Callable[[F], F]:
    """Declare the RBAC a method uses; collected in PERMISSIONS for the RBAC test."""

    def register(func: F) -> F:
        PERMISSIONS[func.__name__] = frozenset(triples)
        return func

    return register


def _kind_triples(kinds: frozenset[tuple[str, str]], verbs: tuple[str, ...]) -> tuple[Triple, ...]:
    return tuple((group, KINDS[(group, kind)].plural, verb) for group, kind in sorted(kinds) for verb in verbs)


def required_permissions() -> set[Triple]:
    """Every (api group, resource, verb) the adapter can call."""
    return {triple for triples in PERMISSIONS.values() for triple in triples}


def split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def kind_for(api_version: str, kind: str) -> Kind:
    group, version = split_api_version(api_version)
    known = KINDS.get((group, kind))
    if known is None:
        raise ClusterError(
            f"The bot does not know the kind `{kind}` ({api_version}); supported kinds: "
            f"{', '.join(sorted(k.kind for k in _KINDS))}.",
            kind=ClusterErrorKind.UNSUPPORTED,
        )
    return Kind(group, version, kind, known.plural, known.namespaced)


def object_path(kind: Kind, *, namespace: str | None, name: str | None = None) -> str:
    base = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
    if kind.namespaced:
        if not namespace:
            raise ClusterError(f"A {kind.kind} needs a namespace.", kind=ClusterErrorKind.INVALID)
        base += f"/namespaces/{namespace}"
    base += f"/{kind.plural}"
    return base + (f"/{name}" if name else "")


DEPLOYMENT = KINDS[("apps", "Deployment")]
REPLICA_SET = KINDS[("apps", "ReplicaSet")]
POD = KINDS[("", "Pod")]
EVENT = KINDS[("", "Event")]


def deployment_state(obj: KubeObject) -> DeploymentState:
    """The decision-relevant fields of a Deployment's JSON."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    conditions = status.get("conditions") or []
    stalled = any(
        c.get("type") == "Progressing" and c.get("status") == "False" and c.get("reason") == "ProgressDeadlineExceeded"
        for c in conditions
    )
    desired = spec.get("replicas")
    return DeploymentState(
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        generation=int(meta.get("generation") or 0),
        observed_generation=int(status.get("observedGeneration") or 0),
        desired_replicas=1 if desired is None else int(desired),
        replicas=int(status.get("replicas") or 0),
        updated_replicas=int(status.get("updatedReplicas") or 0),
        ready_replicas=int(status.get("readyReplicas") or 0),
        available_replicas=int(status.get("availableReplicas") or 0),
        unavailable_replicas=int(status.get("unavailableReplicas") or 0),
        images={c.get("name", ""): c.get("image", "") for c in containers},
        annotations=dict(meta.get("annotations") or {}),
        selector=dict((spec.get("selector") or {}).get("matchLabels") or {}),
        resource_version=str(meta.get("resourceVersion") or ""),
        progress_deadline_exceeded=stalled,
        conditions=conditions,
    )


def load_configuration(settings: KubeAccessSettings) -> k8s.Configuration:
    """A client Configuration from the service account (in-cluster) or a kubeconfig file/context."""
    from kubernetes import client as k8s  # lazy: the Kubernetes client costs ~300 ms; only cluster commands pay it
    from kubernetes import config as k8s_config  # lazy: part of the Kubernetes client, as above
    from kubernetes.config.config_exception import ConfigException  # lazy: part of the Kubernetes client, as above

    configuration = k8s.Configuration()
    in_cluster = settings.mode == "in-cluster" or (
        settings.mode == "auto" and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    )
    try:
        if in_cluster:
            k8s_config.load_incluster_config(client_configuration=configuration)
        else:
            path = str(settings.kubeconfig) if settings.kubeconfig else None
            k8s_config.load_kube_config(
                config_file=path, context=settings.context, client_configuration=configuration
            )
    except (ConfigException, OSError, TypeError) as exc:
        where = "the pod's service account" if in_cluster else (
            f"kubeconfig {settings.kubeconfig}" if settings.kubeconfig else "$KUBECONFIG / ~/.kube/config"
        )
        raise ClusterError(
            f"No Kubernetes access: could not load {where} ({exc}). Set release.kube in the config "
            "(kubeconfig, context or mode: in-cluster).",
            kind=ClusterErrorKind.UNREACHABLE,
        ) from exc
    return configuration


def _status_message(body: bytes) -> tuple[str, str]:
    """(reason, message) from a `kind: Status` error body, or the raw text."""
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return "", body.decode("utf-8", "replace")[:300]
    if isinstance(parsed, dict):
        return str(parsed.get("reason") or ""), str(parsed.get("message") or "")
    return "", str(parsed)[:300]


class KubernetesCluster:
    """Implements `commands.cluster.Cluster`. Thread-safe: urllib3's pool is, and no state is kept."""

    def __init__(self, configuration: k8s.Configuration, *, timeout: float = 10.0, conflict_retries: int = 3) -> None:
        import urllib3  # lazy: the Kubernetes client's transport; loaded with it, when an adapter is built
        from kubernetes import client as k8s  # lazy: the Kubernetes client costs ~300 ms; only cluster users pay

        if configuration.retries is None:
            # urllib3 retries idempotent requests (reads) once on a broken connection or read timeout, so a read
            # takes at most twice the timeout; PATCH is never retried by urllib3 (only by us, after a 409).
            configuration.retries = 1
        self._api = k8s.ApiClient(configuration)
        # What one request can raise when the API server cannot be asked (caught in `_call`).
        self._transport_errors: tuple[type[BaseException], ...] = (
            urllib3.exceptions.HTTPError, OSError, k8s.ApiException,
        )
        self._host = configuration.host
        self._timeout = timeout
        self._retries = conflict_retries

    @classmethod
    def from_settings(cls, settings: KubeAccessSettings) -> KubernetesCluster:
        return cls(load_configuration(settings), timeout=settings.timeout_seconds,
                   conflict_retries=settings.conflict_retries)

    def close(self) -> None:
        self._api.close()

    # -- one request ------------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, what: str, query: dict[str, str] | None = None,
              body: Any = None, content_type: str | None = None) -> KubeObject:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            verb, url, header_params, payload, _ = self._api.param_serialize(
                method=method,
                resource_path=path,
                query_params=list((query or {}).items()),
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self._api.call_api(verb, url, header_params=header_params, body=payload,
                                          _request_timeout=self._timeout)
            response.read()
        except self._transport_errors as exc:
            # MaxRetryError wraps the interesting part (refused, timed out, TLS) in `reason`.
            cause = getattr(exc, "reason", None) or exc
            raise ClusterError(
                f"The Kubernetes API server at {self._host} could not be reached to {what} ({type(cause).__name__}"
                f"{': ' + str(cause)[:160] if str(cause) else ''}). Nothing was changed. Check the kubeconfig/context "
                "and the network, then retry.",
                kind=ClusterErrorKind.UNREACHABLE,
            ) from exc
        status = int(response.status)
        if 200 <= status < 300:
            return json.loads(response.data or b"{}")
        raise self._error(status, response.data or b"", what=what, write=method != "GET")

    def _error(self, status: int, body: bytes, *, what: str, write: bool) -> ClusterError:
        reason, message = _status_message(body)
        said = f" The API server said: {message}" if message else ""
        unchanged = " Nothing was changed." if write else ""
        if status == 401:
            return ClusterError(f"Kubernetes did not accept the bot's credentials (401) to {what}.{unchanged} "
                                f"Renew the token or kubeconfig.{said}", kind=ClusterErrorKind.FORBIDDEN, status=status)
        if status == 403:
            return ClusterError(f"Kubernetes refused to let the bot {what} (403 Forbidden).{unchanged} The bot's "
                                f"service account lacks this permission: apply the Role in ops/bot/.{said}",
                                kind=ClusterErrorKind.FORBIDDEN, status=status)
        if status == 404:
            return ClusterError(f"Could not {what}: not found (404).{unchanged} Check release.namespace and "
                                f"release.deployment in the config.{said}", kind=ClusterErrorKind.NOT_FOUND,
                                status=status)
        if status == 409:
            return ClusterError(f"Could not {what}: the object was changed by someone else at the same time "
                                f"(409 Conflict).{unchanged} Run the command again.{said}",
                                kind=ClusterErrorKind.CONFLICT, status=status)
        if status in (400, 415, 422):
            return ClusterError(f"Kubernetes rejected the request to {what} ({status} {reason or 'Invalid'})."
                                f"{unchanged}{said}", kind=ClusterErrorKind.INVALID, status=status)
        return ClusterError(f"The Kubernetes API server failed to {what} ({status} {reason or 'error'}).{unchanged} "
                            f"Retry when the API server is healthy.{said}", kind=ClusterErrorKind.SERVER, status=status)

    def _list(self, kind: Kind, *, namespace: str, selector: str | None, what: str) -> list[KubeObject]:
        query = {"labelSelector": selector} if selector else {}
        listed = self._call("GET", object_path(kind, namespace=namespace), what=what, query=query)
        items = listed.get("items") or []
        for item in items:  # list items come without kind/apiVersion; bundles want them
            item.setdefault("apiVersion", kind.api_version)
            item.setdefault("kind", kind.kind)
        return items

    # -- Deployment -------------------------------------------------------------------------------
    @needs(("apps", "deployments", "get"))
    def read_deployment_object(self, *, namespace: str, name: str) -> KubeObject:
        obj = self._call("GET", object_path(DEPLOYMENT, namespace=namespace, name=name),
                         what=f"read deployment {namespace}/{name}")
        obj.setdefault("apiVersion", "apps/v1")
        obj.setdefault("kind", "Deployment")
        return obj

    @needs(("apps", "deployments", "get"))
    def read_deployment(self, *, namespace: str, name: str) -> DeploymentState:
        return deployment_state(self.read_deployment_object(namespace=namespace, name=name))

    @needs(("apps", "deployments", "get"), ("apps", "deployments", "patch"))
    def set_container_image(self, *, namespace: str, name: str, container: str, image: str,
                            expect_image: str | None = None) -> DeploymentState:
        what = f"set the image of container {container} in deployment {namespace}/{name}"
        for attempt in range(self._retries + 1):
            current = self.read_deployment(namespace=namespace, name=name)
            if container not in current.images:
                raise ClusterError(
                    f"Deployment {namespace}/{name} has no container `{container}` (it has "
                    f"{', '.join(current.images) or 'none'}). Nothing was changed; check release.container.",
                    kind=ClusterErrorKind.PRECONDITION,
                )
            running = current.images[container]
            if expect_image is not None and running != expect_image:
                raise ClusterError(
                    f"Deployment {namespace}/{name} changed since this was confirmed: container `{container}` now "
                    f"runs {running}, not {expect_image}. Nothing was changed; start again to see the current state.",
                    kind=ClusterErrorKind.PRECONDITION,
                )
            if running == image:
                return current
            # Strategic merge on the containers list merges by `name`: only this container's image
            # moves. The resourceVersion makes it conditional on what was just checked.
            patch = {
                "metadata": {"resourceVersion": current.resource_version},
                "spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}},
            }
            try:
                updated = self._call("PATCH", object_path(DEPLOYMENT, namespace=namespace, name=name), what=what,
                                     body=patch, content_type="application/strategic-merge-patch+json")
            except ClusterError as exc:
                if exc.kind is ClusterErrorKind.CONFLICT and attempt < self._retries:
                    log.info("409 on %s; retrying from a fresh read (%d)", what, attempt + 1)
                    continue
                raise
            return deployment_state(updated)
        raise AssertionError("unreachable")  # the loop returns or raises

    @needs(("apps", "deployments", "get"), ("apps", "deployments", "patch"))
    def set_annotations(self, *, namespace: str, name: str, annotations: dict[str, str | None]) -> DeploymentState:
        what = f"annotate deployment {namespace}/{name}"
        for attempt in range(self._retries + 1):
            current = self.read_deployment(namespace=namespace, name=name)
            patch = {"metadata": {"resourceVersion": current.resource_version, "annotations": annotations}}
            try:
                updated = self._call("PATCH", object_path(DEPLOYMENT, namespace=namespace, name=name), what=what,
                                     body=patch, content_type="application/merge-patch+json")
            except ClusterError as exc:
                if exc.kind is ClusterErrorKind.CONFLICT and attempt < self._retries:
                    continue
                raise
            return deployment_state(updated)
        raise AssertionError("unreachable")

    # -- lists ------------------------------------------------------------------------------------
    @needs(("apps", "replicasets", "list"))
    def list_replica_sets(self, *, namespace: str, selector: str) -> list[KubeObject]:
        return self._list(REPLICA_SET, namespace=namespace, selector=selector,
                          what=f"list replicasets in {namespace} ({selector})")

    @needs(("", "pods", "list"))
    def list_pods(self, *, namespace: str, selector: str) -> list[KubeObject]:
        return self._list(POD, namespace=namespace, selector=selector, what=f"list pods in {namespace} ({selector})")

    @needs(("", "events", "list"))
    def list_events(self, *, namespace: str, limit: int = 100) -> list[KubeObject]:
        """The namespace's most recent events, oldest first (the API's own `limit` pages by key, not time)."""
        events = self._list(EVENT, namespace=namespace, selector=None, what=f"list events in {namespace}")

        def when(event: KubeObject) -> str:
            meta = event.get("metadata") or {}
            return str(event.get("lastTimestamp") or event.get("eventTime") or meta.get("creationTimestamp") or "")

        return sorted(events, key=when)[-limit:]

    # -- admission ------------------------------------------------------------------------------
    @needs(("", "pods", "create"))
    def dry_run_pod(self, *, namespace: str, pod: KubeObject) -> AdmissionAnswer:
        """POST the pod with `dryRun=All` (always: this method cannot create anything) and return the answer.

        Admission (mutating and validating webhooks) runs, storage does not. Any HTTP answer is
        returned as it came (admitted, or the `kind: Status` error verbatim) for `commands.verify`
        to judge; only an API server that cannot be asked raises ClusterError.
        """
        name = str((pod.get("metadata") or {}).get("name") or "")
        what = f"dry-run create pod {name} in {namespace}"
        try:
            verb, url, header_params, payload, _ = self._api.param_serialize(
                method="POST", resource_path=object_path(POD, namespace=namespace),
                query_params=[("dryRun", "All"), ("fieldManager", FIELD_MANAGER)],
                header_params={"Accept": "application/json", "Content-Type": "application/json"},
                body=pod, auth_settings=["BearerToken"],
            )
            response = self._api.call_api(verb, url, header_params=header_params, body=payload,
                                          _request_timeout=self._timeout)
            response.read()
        except self._transport_errors as exc:
            cause = getattr(exc, "reason", None) or exc
            raise ClusterError(
                f"The Kubernetes API server at {self._host} could not be reached to {what} ({type(cause).__name__}"
                f"{': ' + str(cause)[:160] if str(cause) else ''}).", kind=ClusterErrorKind.UNREACHABLE,
            ) from exc
        status = int(response.status)
        if 200 <= status < 300:
            return AdmissionAnswer(admitted=True, status=status)
        reason, message = _status_message(response.data or b"")
        return AdmissionAnswer(admitted=False, status=status, reason=reason, message=message)

    # -- any supported kind -----------------------------------------------------------------------
    @needs(*_kind_triples(APPLY_KINDS, ("get", "patch", "create")))
    def apply(self, manifest: KubeObject, *, namespace: str | None = None) -> KubeObject:
        """Server-side apply with field manager `bizra-bot` (force: the bot owns the fields it applies)."""
        api_version = str(manifest.get("apiVersion") or "")
        kind = kind_for(api_version, str(manifest.get("kind") or ""))
        if (kind.group, kind.kind) not in APPLY_KINDS:
            raise ClusterError(f"The bot does not apply {kind.kind} objects.", kind=ClusterErrorKind.UNSUPPORTED)
        meta = dict(manifest.get("metadata") or {})
        name = meta.get("name")
        if not name:
            raise ClusterError(f"The {kind.kind} manifest has no metadata.name.", kind=ClusterErrorKind.INVALID)
        target_ns = meta.get("namespace") or namespace
        body = dict(manifest)
        if kind.namespaced:
            meta["namespace"] = target_ns
        body["metadata"] = meta
        what = f"apply {kind.plural}/{name}" + (f" in {target_ns}" if kind.namespaced else "")
        for attempt in range(self._retries + 1):
            try:
                return self._call("PATCH", object_path(kind, namespace=target_ns, name=name), what=what, body=body,
                                  query={"fieldManager": FIELD_MANAGER, "force": "true"},
                                  content_type="application/apply-patch+yaml")
            except ClusterError as exc:
                if exc.kind is ClusterErrorKind.CONFLICT and attempt < self._retries:
                    continue  # apply is declarative: sending it again is the fresh attempt
                raise
        raise AssertionError("unreachable")

    @needs(*tuple((group, KINDS[(group, kind)].plural + (f"/{sub}" if sub else ""), "patch")
                  for (group, kind), subs in sorted(PATCH_KINDS.items(), key=lambda item: item[0]) for sub in subs))
    def patch_object(self, *, api_version: str, kind: str, namespace: str, name: str, patch: KubeObject,
                     subresource: str | None = None) -> KubeObject:
        """JSON merge patch (RFC 7386) of an object or its subresource. A `metadata.resourceVersion` in the patch
        is the precondition: a 409 is raised as CONFLICT (nothing changed) and not retried, so the caller re-reads
        and re-checks what it decided on."""
        found = kind_for(api_version, kind)
        if subresource not in PATCH_KINDS.get((found.group, found.kind), ()):
            raise ClusterError(f"The bot does not patch {kind} objects" + (f" ({subresource})" if subresource else "")
                               + ".", kind=ClusterErrorKind.UNSUPPORTED)
        path = object_path(found, namespace=namespace, name=name) + (f"/{subresource}" if subresource else "")
        what = f"patch {found.plural}/{name}" + (f" {subresource}" if subresource else "") + f" in {namespace}"
        obj = self._call("PATCH", path, what=what, body=patch, content_type="application/merge-patch+json")
        obj.setdefault("apiVersion", found.api_version)
        obj.setdefault("kind", found.kind)
        return obj

    @needs(*_kind_triples(READ_KINDS, ("get",)))
    def read_object(self, *, api_version: str, kind: str, namespace: str, name: str) -> KubeObject | None:
        found = kind_for(api_version, kind)
        if (found.group, found.kind) not in READ_KINDS:
            raise ClusterError(f"The bot does not read {kind} objects.", kind=ClusterErrorKind.UNSUPPORTED)
        try:
            obj = self._call("GET", object_path(found, namespace=namespace, name=name),
                             what=f"read {found.plural}/{name} in {namespace}")
        except ClusterError as exc:
            if exc.kind is ClusterErrorKind.NOT_FOUND:
                return None
            raise
        obj.setdefault("apiVersion", found.api_version)
        obj.setdefault("kind", found.kind)
        return obj
