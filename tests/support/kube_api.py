"""A Kubernetes API server emulator on 127.0.0.1 for tests, reached by the official client over HTTP.

Why not kmock alone: the bot relies on strategic-merge patch, server-side apply creating an object,
resourceVersion conflicts and label selectors, which kmock's emulator does not model. This server
keeps objects in memory and follows the API conventions the bot depends on (paths, verbs, patch
types, `kind: Status` error bodies); nothing else (no watch, no admission, no field ownership
conflicts, no discovery beyond `/version`).

Usage (see tests/kube for examples):

    with KubeApiServer() as api:                      # listens on 127.0.0.1, port 0
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")  # context "emulator"
        configuration = api.configuration()           # or a kubernetes.client.Configuration directly
        api.put(deployment_manifest(...))             # seed objects (no HTTP, no faults)
        api.get("apps", "deployments", "bizra-production", "node0")      # read back (a deep copy)
        api.set_deployment_status("bizra-production", "node0", ready=True)  # play the controller
        api.roll_out("bizra-production", "node0")     # controller: ReplicaSet + pods + status
        api.update("argoproj.io", "rollouts", ns, "node0", mutate)  # another writer changes a stored object
        api.fail("PATCH", "/deployments/node0", status=409, times=1)  # fault injection
        api.fail("PUT", "/leases/bizra-bot-leader", status=500, times=99, client="bizra-bot/alpha")  # one replica
        api.add_event("bizra-production", involved=("Deployment", "node0"), reason="...", message="...")
        api.stop()                                    # now unreachable (connection refused)
        api.requests / api.calls("PATCH", "/deployments/node0")  # method, path, query, content_type, body, status

`deployment_manifest(image=...)` builds the NODE0 Deployment tests seed: container `node0` plus a
`proxy` sidecar, with ports and env, labels `app=node0`, 3 replicas.

Storage: objects keyed by (api group, resource plural, namespace, name); the version in the
path is not checked. Supported on `/api/v1/...` and `/apis/<group>/<version>/...`, namespaced or
cluster-scoped: GET (get; list with `labelSelector`: `=`, `==`, `!=`, `in`, `notin`, `k`, `!k`),
POST (create, 409 AlreadyExists), PUT (replace; 409 Conflict when metadata.resourceVersion is
stale; 404 when absent), PATCH with `application/strategic-merge-patch+json` (lists merged by
their Kubernetes merge key: containers/env/volumes by `name`, ports by `containerPort`,
volumeMounts by `mountPath`; `$patch: delete` in list items), `application/merge-patch+json`
(RFC 7386), `application/json-patch+json` (RFC 6902) and `application/apply-patch+yaml`
(server-side apply: needs `fieldManager`; creates when absent, else merges like a strategic
merge; records the manager in metadata.managedFields), DELETE. A resourceVersion given in a
patch's metadata is a precondition (409 when stale), as on a real server. Every write bumps the
global resourceVersion; a change outside metadata/status bumps metadata.generation. Leases
(`/apis/coordination.k8s.io/v1/namespaces/{ns}/leases[/name]`, the leader election's) are one more
kind of object: create, get, replace conditioned on resourceVersion (409 when stale), patch. Writes to
the main resource keep the stored `status`; `.../status` writes only the status.

Admission: `set_webhook("refuse" | "admit" | "unreachable" | "no-dry-run", message=...)` puts an
admission webhook (named like Kyverno's) in front of pod creates: it refuses with `admission webhook
"…" denied the request: <message>` (400), admits, fails as a webhook the API server cannot call
(500 `failed calling webhook`), or declares side effects so the API server refuses a dry run
(400 `does not support dry run`). `set_webhook(None)` removes it; without one, creates are
admitted. A POST with `?dryRun=All` runs admission and answers as a create would, but stores
nothing (the version counter does not move either).

Controller hooks: `before(method, path_substring, action, times=1)` runs `action(server)` inside
the lock before a matching request is served (another writer acting between a client's read and
its write); `after_write(method, path_substring, action)` runs it after every successful write (a
controller reconciling). tests/support/argo_rollouts.py plays Argo Rollouts' controller with them.

Faults: `fail(method, path_substring, status=..., times=N, reason=..., message=...)` answers the
next N matching requests with that `kind: Status` error (method "*" matches any);
`slow(method, path_substring, seconds=..., times=N)` delays answers (client timeouts); both take
`client=` to hit only requests whose User-Agent contains it (one replica cut off); `stop()`
closes the listener so clients see connection refused (`restart()` listens again).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]

# Kubernetes' patchMergeKey for the lists the bot touches (from the API's OpenAPI extensions).
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
    "conditions": "type",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
}

KINDS: dict[str, str] = {
    "pods": "Pod", "services": "Service", "configmaps": "ConfigMap", "events": "Event", "namespaces": "Namespace",
    "deployments": "Deployment", "replicasets": "ReplicaSet", "horizontalpodautoscalers": "HorizontalPodAutoscaler",
    "canaries": "Canary", "virtualservices": "VirtualService", "destinationrules": "DestinationRule",
    "httproutes": "HTTPRoute", "trafficsplits": "TrafficSplit", "ingresses": "Ingress",
    "networkpolicies": "NetworkPolicy", "metrictemplates": "MetricTemplate", "leases": "Lease",
    "rollouts": "Rollout", "analysistemplates": "AnalysisTemplate",
}
PLURALS = {kind: plural for plural, kind in KINDS.items()}


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def body(self) -> Obj:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message,
                "reason": self.reason, "details": self.details, "code": self.code}


REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
           415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
           503: "ServiceUnavailable", 504: "Timeout"}


@dataclass
class Fault:
    method: str
    path: str
    status: int
    times: int
    reason: str
    message: str
    delay: float = 0.0
    client: str = ""  # matches requests whose User-Agent contains it ("": every client)


WEBHOOK_NAME = "validate.kyverno.svc-fail"
KYVERNO_SIGNATURE_REFUSAL = (
    "\n\nresource Pod/bizra-production/test-unsigned was blocked due to the following policies\n\n"
    "require-signed-images:\n  require-release-registry: 'validation error: Image signature verification failed: "
    "bizra-production runs only images from ghcr.io/bizra/ signed with the release's cosign key; an image from any "
    "other registry cannot carry that signature and is refused. rule require-release-registry failed at path "
    "/spec/containers/0/image/'"
)


@dataclass
class Webhook:
    """An admission webhook on pod creates: mode refuse | admit | unreachable | no-dry-run."""

    mode: str
    message: str = KYVERNO_SIGNATURE_REFUSAL
    name: str = WEBHOOK_NAME
    calls: int = 0

    def judge(self, *, dry_run: bool) -> ApiError | None:
        """None when the pod is admitted, else the API server's error for the client."""
        if self.mode == "no-dry-run":
            if dry_run:
                return ApiError(400, "BadRequest", f'admission webhook "{self.name}" does not support dry run')
            self.mode = "admit"
        self.calls += 1
        if self.mode == "admit":
            return None
        if self.mode == "refuse":
            return ApiError(400, "BadRequest", f'admission webhook "{self.name}" denied the request: {self.message}')
        if self.mode == "unreachable":
            return ApiError(500, "InternalError", f'Internal error occurred: failed calling webhook "{self.name}": '
                            'failed to call webhook: Post "https://kyverno-svc.kyverno.svc:443/validate/fail?'
                            'timeout=10s": dial tcp 10.96.112.7:443: connect: connection refused')
        raise ValueError(f"unknown webhook mode {self.mode!r}")


@dataclass
class Hook:
    """A callback run inside the server's lock: `before` a matching request is served (e.g. a controller
    changing the object between a client's read and its write), or `after` a successful write."""

    when: str  # "before" | "after"
    method: str
    path: str
    action: Any  # Callable[[KubeApiServer], None]
    times: int | None = None  # None: every matching request


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: Any
    status: int = 0
    user_agent: str = ""


@dataclass(frozen=True)
class Route:
    group: str
    version: str
    plural: str
    namespace: str | None
    name: str | None
    subresource: str | None


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- label selectors ------------------------------------------------------------------------------
def _split_selector(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def selector_matches(selector: str, labels: dict[str, str]) -> bool:
    for term in _split_selector(selector):
        match = re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\((.*)\)", term)
        if match:
            key, op, values = match.group(1), match.group(2), {v.strip() for v in match.group(3).split(",")}
            inside = key in labels and labels[key] in values
            if (op == "in" and not inside) or (op == "notin" and inside):
                return False
            continue
        match = re.fullmatch(r"([\w./-]+)\s*(==|!=|=)\s*([\w./-]*)", term)
        if match:
            key, op, value = match.groups()
            if op == "!=":
                if labels.get(key) == value:
                    return False
            elif labels.get(key) != value:
                return False
            continue
        if term.startswith("!"):
            if term[1:].strip() in labels:
                return False
            continue
        if re.fullmatch(r"[\w./-]+", term):
            if term not in labels:
                return False
            continue
        raise ApiError(400, "BadRequest", f"unable to parse requirement: {term!r}")
    return True


# -- patches --------------------------------------------------------------------------------------
def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge(target: Any, patch: Any, *, field_name: str = "") -> Any:
    """Kubernetes strategic merge patch (the subset the bot uses): keyed lists merge item by item."""
    if isinstance(patch, dict):
        if patch.get("$patch") == "replace":
            return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
        result = dict(target) if isinstance(target, dict) else {}
        for key, value in patch.items():
            if key.startswith("$"):
                continue
            if value is None:
                result.pop(key, None)
            else:
                result[key] = strategic_merge(result.get(key), value, field_name=key)
        return result
    if isinstance(patch, list):
        key = MERGE_KEYS.get(field_name)
        if field_name == "ports" and all(isinstance(i, dict) and "port" in i and "containerPort" not in i
                                         for i in patch):
            key = "port"  # a Service's ports merge by `port` (a container's by `containerPort`)
        if key is None or not isinstance(target, list):
            return [item for item in copy.deepcopy(patch) if not (isinstance(item, dict) and "$patch" in item)]
        merged = copy.deepcopy(target)
        for item in patch:
            if not isinstance(item, dict) or key not in item:
                raise ApiError(400, "BadRequest", f"list item in {field_name} lacks its merge key {key!r}")
            index = next((i for i, old in enumerate(merged) if isinstance(old, dict) and old.get(key) == item[key]),
                         None)
            if item.get("$patch") == "delete":
                if index is not None:
                    merged.pop(index)
            elif index is None:
                merged.append(strategic_merge({}, item))
            else:
                merged[index] = strategic_merge(merged[index], item)
        return merged
    return copy.deepcopy(patch)


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, "Invalid", f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def json_patch(document: Any, operations: list[Obj]) -> Any:
    """RFC 6902 JSON patch; any failure leaves the stored object untouched (we work on a copy)."""
    doc = copy.deepcopy(document)

    def parent(parts: list[str]) -> tuple[Any, str]:
        node = doc
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node, parts[-1]

    def get(parts: list[str]) -> Any:
        node = doc
        for part in parts:
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def add(parts: list[str], value: Any) -> None:
        node, last = parent(parts)
        if isinstance(node, list):
            node.insert(len(node) if last == "-" else int(last), value)
        else:
            node[last] = value

    def remove(parts: list[str]) -> Any:
        node, last = parent(parts)
        return node.pop(int(last)) if isinstance(node, list) else node.pop(last)

    for op in operations:
        try:
            kind, parts = op["op"], _pointer(op["path"])
            if kind == "add":
                add(parts, copy.deepcopy(op["value"]))
            elif kind == "remove":
                remove(parts)
            elif kind == "replace":
                remove(parts)
                add(parts, copy.deepcopy(op["value"]))
            elif kind == "move":
                add(parts, remove(_pointer(op["from"])))
            elif kind == "copy":
                add(parts, copy.deepcopy(get(_pointer(op["from"]))))
            elif kind == "test":
                if get(parts) != op["value"]:
                    raise ApiError(422, "Invalid", f"the test operation failed at {op['path']}")
            else:
                raise ApiError(422, "Invalid", f"unknown JSON patch op {kind!r}")
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise ApiError(422, "Invalid", f"JSON patch failed at {op.get('path')!r}: {exc!r}") from exc
    return doc


def _spec_part(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")}


# -- the server -----------------------------------------------------------------------------------
class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout test) closes its socket before the answer: not an error.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class KubeApiServer:
    objects: dict[tuple[str, str, str, str], Obj] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    _version: int = 1000
    _lock: threading.RLock = field(default_factory=threading.RLock)
    webhook: Webhook | None = None
    # Hooks playing a controller (tests/support/argo_rollouts.py): see `before` and `after_write`.
    hooks: list[Hook] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _port: int = 0

    # lifecycle
    def start(self) -> KubeApiServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: stop() really cuts clients off

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body = server._dispatch(self.command, self.path, self.headers.get("Content-Type", ""), raw,
                                                user_agent=self.headers.get("User-Agent", ""))
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = _QuietServer(("127.0.0.1", self._port), Handler)
        self._server.daemon_threads = True
        self._port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="kube-api",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        """Close the listener: clients now get connection refused (the 'unreachable' fault)."""
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def restart(self) -> None:
        """Listen again on the same port with the same objects."""
        self.start()

    def __enter__(self) -> KubeApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def configuration(self) -> Any:
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.url
        return configuration

    def write_kubeconfig(self, path: Path, *, context: str = "emulator", namespace: str = "default") -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "emulator-token"}}],
            "contexts": [{"name": context, "context": {"cluster": "emulator", "user": "tester",
                                                      "namespace": namespace}}],
            "current-context": context,
        }
        path.write_text(yaml.safe_dump(config))
        return path

    # faults and inspection
    def fail(self, method: str, path: str, *, status: int, times: int = 1, reason: str | None = None,
             message: str | None = None, client: str = "") -> None:
        """`client`: only requests whose User-Agent contains it (one replica cut off, the others served)."""
        with self._lock:
            self.faults.append(Fault(method.upper(), path, status, times, reason or REASONS.get(status, "Unknown"),
                                     message or f"injected failure ({status})", client=client))

    def slow(self, method: str, path: str, *, seconds: float, times: int = 1, client: str = "") -> None:
        """Answer the next N matching requests only after `seconds` (to exercise client timeouts)."""
        with self._lock:
            self.faults.append(Fault(method.upper(), path, 0, times, "", "", delay=seconds, client=client))

    def set_webhook(self, mode: str | None, *, message: str | None = None) -> Webhook | None:
        """Put an admission webhook in front of pod creates (see the module docstring), or remove it."""
        with self._lock:
            self.webhook = None if mode is None else Webhook(mode, message or KYVERNO_SIGNATURE_REFUSAL)
            return self.webhook

    def calls(self, method: str | None = None, path_contains: str = "") -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests
                    if (method is None or r.method == method.upper()) and path_contains in r.path]

    # direct storage access for tests (no HTTP, no faults)
    def put(self, obj: Obj) -> Obj:
        """Create or overwrite an object as given (metadata filled in); returns the stored copy."""
        group = str(obj["apiVersion"]).rpartition("/")[0]
        plural = PLURALS[obj["kind"]]
        meta = obj.setdefault("metadata", {})
        with self._lock:
            self._version += 1
            meta.setdefault("generation", 1)
            identity = f"{plural}/{meta.get('namespace')}/{meta['name']}"
            meta.setdefault("uid", hashlib.sha1(identity.encode()).hexdigest())
            meta.setdefault("creationTimestamp", now_iso())
            meta["resourceVersion"] = str(self._version)
            self.objects[(group, plural, meta.get("namespace") or "", meta["name"])] = copy.deepcopy(obj)
            return copy.deepcopy(obj)

    def update(self, group: str, plural: str, namespace: str, name: str, mutate: Any) -> Obj:
        """Change a stored object in place as a writer would (`mutate(obj)`); the resourceVersion moves on and a
        change outside metadata/status bumps the generation. No HTTP, no faults, no hooks."""
        with self._lock:
            obj = self.objects[(group, plural, namespace, name)]
            before = copy.deepcopy(_spec_part(obj))
            mutate(obj)
            meta = obj["metadata"]
            if _spec_part(obj) != before:
                meta["generation"] = int(meta.get("generation") or 1) + 1
            self._version += 1
            meta["resourceVersion"] = str(self._version)
            return copy.deepcopy(obj)

    def get(self, group: str, plural: str, namespace: str, name: str) -> Obj | None:
        with self._lock:
            found = self.objects.get((group, plural, namespace, name))
            return copy.deepcopy(found) if found else None

    def list(self, group: str, plural: str, namespace: str) -> list[Obj]:
        with self._lock:
            return [copy.deepcopy(o) for (g, p, ns, _), o in sorted(self.objects.items())
                    if g == group and p == plural and ns == namespace]

    def set_deployment_status(self, namespace: str, name: str, *, ready: bool = True,
                              observed: bool = True, replicas: int | None = None) -> Obj:
        """Play the deployment controller's status: observed the current generation, all (or no) replicas ready."""
        with self._lock:
            obj = self.objects[("apps", "deployments", namespace, name)]
            desired = obj["spec"].get("replicas", 1) if replicas is None else replicas
            meta = obj["metadata"]
            status = {
                "observedGeneration": meta.get("generation", 1) if observed else max(0, meta.get("generation", 1) - 1),
                "replicas": desired,
                "updatedReplicas": desired if ready else 0,
                "readyReplicas": desired if ready else 0,
                "availableReplicas": desired if ready else 0,
                "unavailableReplicas": 0 if ready else desired,
                "conditions": [
                    {"type": "Available", "status": "True" if ready else "False",
                     "reason": "MinimumReplicasAvailable" if ready else "MinimumReplicasUnavailable",
                     "lastUpdateTime": now_iso()},
                    {"type": "Progressing", "status": "True",
                     "reason": "NewReplicaSetAvailable" if ready else "ReplicaSetUpdated", "lastUpdateTime": now_iso()},
                ],
            }
            obj["status"] = status
            self._version += 1
            meta["resourceVersion"] = str(self._version)
            return copy.deepcopy(obj)

    def roll_out(self, namespace: str, name: str, *, ready: bool = True) -> Obj:
        """Play the deployment controller: a ReplicaSet for the current template (older ones scaled
        to 0), its pods, an event, and the Deployment's status."""
        with self._lock:
            deployment = self.objects[("apps", "deployments", namespace, name)]
            template = deployment["spec"]["template"]
            labels = dict(template.get("metadata", {}).get("labels") or {})
            pod_hash = hashlib.sha1(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
            desired = deployment["spec"].get("replicas", 1)
            rs_name = f"{name}-{pod_hash}"
            for (g, p, ns, other), rs in list(self.objects.items()):
                if g == "apps" and p == "replicasets" and ns == namespace and other != rs_name and \
                        rs["metadata"].get("labels", {}).get("app") == labels.get("app"):
                    rs["spec"]["replicas"] = 0
                    rs["status"] = {"replicas": 0, "observedGeneration": rs["metadata"].get("generation", 1)}
                    for key in [k for k in self.objects if k[1] == "pods" and k[2] == namespace
                                and k[3].startswith(other + "-")]:
                        del self.objects[key]
            rs_labels = {**labels, "pod-template-hash": pod_hash}
            owner = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                      "uid": deployment["metadata"].get("uid", ""), "controller": True}]
            self.put({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                      "metadata": {"name": rs_name, "namespace": namespace, "labels": rs_labels,
                                   "ownerReferences": owner,
                                   "annotations": {"deployment.kubernetes.io/revision":
                                                   deployment["metadata"].get("annotations", {}).get(
                                                       "deployment.kubernetes.io/revision", "1")}},
                      "spec": {"replicas": desired, "selector": {"matchLabels": rs_labels},
                               "template": {**template, "metadata": {**template.get("metadata", {}),
                                                                     "labels": rs_labels}}},
                      "status": {"replicas": desired, "readyReplicas": desired if ready else 0,
                                 "availableReplicas": desired if ready else 0}})
            for index in range(desired):
                self.put({"apiVersion": "v1", "kind": "Pod",
                          "metadata": {"name": f"{rs_name}-{index:05d}", "namespace": namespace, "labels": rs_labels,
                                       "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                            "name": rs_name, "controller": True}]},
                          "spec": copy.deepcopy(template.get("spec", {})),
                          "status": {"phase": "Running" if ready else "Pending",
                                     "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}})
            self.add_event(namespace, involved=("Deployment", name), reason="ScalingReplicaSet",
                           message=f"Scaled up replica set {rs_name} to {desired}")
            return self.set_deployment_status(namespace, name, ready=ready)

    def add_event(self, namespace: str, *, involved: tuple[str, str], reason: str, message: str,
                  kind: str = "Normal") -> Obj:
        with self._lock:
            count = sum(1 for k in self.objects if k[1] == "events" and k[2] == namespace)
        when = now_iso()
        return self.put({"apiVersion": "v1", "kind": "Event",
                         "metadata": {"name": f"{involved[1]}.{count:06d}", "namespace": namespace},
                         "involvedObject": {"kind": involved[0], "name": involved[1], "namespace": namespace},
                         "reason": reason, "message": message, "type": kind, "count": 1,
                         "firstTimestamp": when, "lastTimestamp": when})

    # -- HTTP -------------------------------------------------------------------------------------
    def _dispatch(self, method: str, raw_path: str, content_type: str, raw: bytes, *,
                  user_agent: str = "") -> tuple[int, Obj]:
        parsed = urllib.parse.urlsplit(raw_path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        body: Any = None
        if raw:
            try:
                body = yaml.safe_load(raw) if "yaml" in content_type else json.loads(raw)
            except (ValueError, yaml.YAMLError):
                body = raw.decode("utf-8", "replace")
        recorded = RecordedRequest(method, parsed.path, query, content_type.split(";")[0].strip(), body,
                                   user_agent=user_agent)
        with self._lock:
            self.requests.append(recorded)
            fault = next((f for f in self.faults if f.times > 0 and f.method in ("*", method)
                          and f.path in parsed.path and f.client in user_agent), None)
            if fault:
                fault.times -= 1
                if not fault.delay:
                    recorded.status = fault.status
                    return fault.status, ApiError(fault.status, fault.reason, fault.message).body()
        if fault and fault.delay:
            time.sleep(fault.delay)  # simulated server latency (server side), not a test waiting
        with self._lock:
            self._run_hooks("before", method, parsed.path)
            try:
                status, answer = self._serve(method, parsed.path, query, recorded.content_type, body)
            except ApiError as error:
                status, answer = error.code, error.body()
            recorded.status = status
            if method != "GET" and 200 <= status < 300:
                self._run_hooks("after", method, parsed.path)
            return status, answer

    # controller hooks
    def before(self, method: str, path: str, action: Any, *, times: int | None = 1) -> Hook:
        """Run `action(server)` before the next `times` requests matching (method or "*", path substring) are
        served, inside the lock: what another writer did between the client's read and this request."""
        hook = Hook("before", method.upper(), path, action, times)
        with self._lock:
            self.hooks.append(hook)
        return hook

    def after_write(self, method: str, path: str, action: Any, *, times: int | None = None) -> Hook:
        """Run `action(server)` after every successful write (not GET) matching: a controller reconciling."""
        hook = Hook("after", method.upper(), path, action, times)
        with self._lock:
            self.hooks.append(hook)
        return hook

    def remove_hook(self, hook: Hook) -> None:
        with self._lock:
            if hook in self.hooks:
                self.hooks.remove(hook)

    def _run_hooks(self, when: str, method: str, path: str) -> None:
        for hook in [h for h in self.hooks if h.when == when and h.method in ("*", method) and h.path in path]:
            if hook.times is not None:
                hook.times -= 1
                if hook.times <= 0:
                    self.hooks.remove(hook)
            hook.action(self)

    def _route(self, path: str) -> Route:
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif parts and parts[0] == "apis" and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")
        return Route(group, version, rest[0], namespace, rest[1] if len(rest) > 1 else None,
                     rest[2] if len(rest) > 2 else None)

    def _serve(self, method: str, path: str, query: dict[str, str], content_type: str,
               body: Any) -> tuple[int, Obj]:
        if path == "/version":
            return 200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0-emulator"}
        route = self._route(path)
        key = (route.group, route.plural, route.namespace or "", route.name or "")
        kind = KINDS.get(route.plural, route.plural)
        api_version = f"{route.group}/{route.version}" if route.group else route.version
        details = {"name": route.name or "", "group": route.group, "kind": route.plural}
        resource = f"{route.plural}.{route.group}" if route.group else route.plural

        def not_found() -> ApiError:
            return ApiError(404, "NotFound", f'{resource} "{route.name}" not found', details)

        if route.name is None:
            if method == "GET":
                selector = query.get("labelSelector", "")
                items = [copy.deepcopy(o) for (g, p, ns, _), o in sorted(self.objects.items())
                         if g == route.group and p == route.plural
                         and (route.namespace is None or ns == route.namespace)
                         and (not selector or selector_matches(selector, o["metadata"].get("labels") or {}))]
                for item in items:
                    item.pop("kind", None)
                    item.pop("apiVersion", None)
                return 200, {"kind": f"{kind}List", "apiVersion": api_version,
                             "metadata": {"resourceVersion": str(self._version)}, "items": items}
            if method == "POST":
                if not isinstance(body, dict) or not (body.get("metadata") or {}).get("name"):
                    raise ApiError(422, "Invalid", f"{kind} is invalid: metadata.name: Required value")
                name = body["metadata"]["name"]
                dry_run = query.get("dryRun") == "All"
                if route.plural == "pods" and self.webhook is not None:
                    refused = self.webhook.judge(dry_run=dry_run)  # admission runs before storage
                    if refused is not None:
                        raise refused
                if (route.group, route.plural, route.namespace or "", name) in self.objects:
                    raise ApiError(409, "AlreadyExists", f'{resource} "{name}" already exists',
                                   {**details, "name": name})
                if dry_run:  # answered as a create would be; nothing stored, no version consumed
                    version = self._version
                    created = self._store(route, name, body, api_version, kind, manager=query.get("fieldManager"),
                                          operation="Update")
                    del self.objects[(route.group, route.plural, route.namespace or "", name)]
                    self._version = version
                    return 201, created
                return 201, self._store(route, name, body, api_version, kind, manager=query.get("fieldManager"),
                                        operation="Update")
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on a collection")

        current = self.objects.get(key)
        if method == "GET":
            if current is None:
                raise not_found()
            return 200, copy.deepcopy(current)
        if method == "DELETE":
            if current is None:
                raise not_found()
            del self.objects[key]
            return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                         "details": details}
        if method == "PUT":
            if current is None:
                raise not_found()
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "the body must be an object")
            self._check_version(body, current, resource, route.name, details)
            return 200, self._write(route, current, body, api_version, kind)
        if method == "PATCH":
            return self._patch(route, current, query, content_type, body, api_version, kind, resource, details)
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported")

    def _check_version(self, body: Any, current: Obj, resource: str, name: str | None, details: Obj) -> None:
        wanted = ((body or {}).get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
        if wanted and str(wanted) != current["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {resource} "{name}": the object has '
                           "been modified; please apply your changes to the latest version and try again", details)

    def _patch(self, route: Route, current: Obj | None, query: dict[str, str], content_type: str, body: Any,
               api_version: str, kind: str, resource: str, details: Obj) -> tuple[int, Obj]:
        if content_type == "application/apply-patch+yaml":
            manager = query.get("fieldManager")
            if not manager:
                raise ApiError(400, "BadRequest", "PATCH with apply-patch+yaml requires a fieldManager")
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "the applied configuration must be an object")
            if current is None:
                if route.subresource:
                    raise ApiError(404, "NotFound", f'{resource} "{route.name}" not found', details)
                return 201, self._store(route, str(route.name), body, api_version, kind, manager=manager,
                                        operation="Apply")
            merged = strategic_merge(current, body)
            return 200, self._write(route, current, merged, api_version, kind, manager=manager, operation="Apply")
        if current is None:
            raise ApiError(404, "NotFound", f'{resource} "{route.name}" not found', details)
        if content_type == "application/strategic-merge-patch+json":
            self._check_version(body, current, resource, route.name, details)
            patched = strategic_merge(current, body)
        elif content_type == "application/merge-patch+json":
            self._check_version(body, current, resource, route.name, details)
            patched = merge_patch(current, body)
        elif content_type == "application/json-patch+json":
            if not isinstance(body, list):
                raise ApiError(400, "BadRequest", "a JSON patch must be a list of operations")
            patched = json_patch(current, body)
        else:
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                           "accepted media types include: application/json-patch+json, application/merge-patch+json, "
                           "application/apply-patch+yaml, application/strategic-merge-patch+json "
                           f"(got {content_type!r})")
        # The patched object's resourceVersion came from the patch itself; the write assigns a new one.
        return 200, self._write(route, current, patched, api_version, kind, manager=query.get("fieldManager"))

    def _store(self, route: Route, name: str, body: Obj, api_version: str, kind: str, *, manager: str | None,
               operation: str) -> Obj:
        obj = copy.deepcopy(body)
        obj["apiVersion"], obj["kind"] = obj.get("apiVersion") or api_version, obj.get("kind") or kind
        meta = obj.setdefault("metadata", {})
        meta["name"] = name
        if route.namespace:
            meta["namespace"] = route.namespace
        meta.pop("resourceVersion", None)
        obj.pop("status", None)  # status is the controller's to write
        self._version += 1
        meta.update(resourceVersion=str(self._version), generation=1, creationTimestamp=now_iso(),
                    uid=hashlib.sha1(f"{route.plural}/{route.namespace}/{name}/{self._version}".encode()).hexdigest())
        if manager:
            meta["managedFields"] = [self._managed(manager, operation, obj["apiVersion"])]
        self.objects[(route.group, route.plural, route.namespace or "", name)] = obj
        return copy.deepcopy(obj)

    @staticmethod
    def _managed(manager: str, operation: str, api_version: str) -> Obj:
        return {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now_iso(),
                "fieldsType": "FieldsV1", "fieldsV1": {}}

    def _write(self, route: Route, current: Obj, new: Obj, api_version: str, kind: str, *,
               manager: str | None = None, operation: str = "Update") -> Obj:
        obj = copy.deepcopy(new)
        old_meta = current["metadata"]
        meta = obj.setdefault("metadata", {})
        # Identity fields are the server's, whatever the client sent.
        for fixed in ("name", "namespace", "uid", "creationTimestamp"):
            if fixed in old_meta:
                meta[fixed] = old_meta[fixed]
        obj["apiVersion"], obj["kind"] = current.get("apiVersion", api_version), current.get("kind", kind)
        if route.subresource == "status":
            result = copy.deepcopy(current)
            result["status"] = obj.get("status") or {}
            obj, meta = result, result["metadata"]
        else:
            if "status" in current:
                obj["status"] = copy.deepcopy(current["status"])
            else:
                obj.pop("status", None)
            generation = int(old_meta.get("generation") or 1)
            meta["generation"] = generation + 1 if _spec_part(obj) != _spec_part(current) else generation
        if manager:
            fields = [f for f in (old_meta.get("managedFields") or []) if f.get("manager") != manager]
            meta["managedFields"] = [*fields, self._managed(manager, operation, obj["apiVersion"])]
        self._version += 1
        meta["resourceVersion"] = str(self._version)
        self.objects[(route.group, route.plural, route.namespace or "", str(route.name))] = obj
        return copy.deepcopy(obj)


def deployment_manifest(*, namespace: str = "bizra-production", name: str = "node0", image: str,
                        replicas: int = 3, sidecar_image: str = "ghcr.io/bizra/envoy:1.30",
                        annotations: dict[str, str] | None = None) -> Obj:
    """The NODE0 Deployment as tests seed it: the app container plus a sidecar, ports and env."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": dict(annotations or {})},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {"name": name, "image": image, "ports": [{"containerPort": 8080, "name": "http"}],
                         "env": [{"name": "NODE0_MODE", "value": "production"},
                                 {"name": "LOG_LEVEL", "value": "info"}]},
                        {"name": "proxy", "image": sidecar_image, "ports": [{"containerPort": 15001, "name": "proxy"}],
                         "env": [{"name": "UPSTREAM", "value": "127.0.0.1:8080"}]},
                    ]
                },
            },
        },
    }


def iter_items(listing: Obj) -> Iterator[Obj]:
    yield from listing.get("items") or []
