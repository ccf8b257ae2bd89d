"""The image rules of ops/hardening/01-kyverno-require-signed-images.yaml, evaluated as Kyverno would.

No Kyverno CLI is available here, so this applies the policy's own match blocks, `imageReferences`
and validate pattern (Kyverno's wildcards `*` / `?`, `|` alternatives, the `=(field)` anchor: checked
only when present) to pods: the checklist's probe `nginx:latest` and an unsigned ghcr.io/bizra image
are refused in bizra-production, a signed release image is admitted. The patterns and match blocks
come from the file, so changing the policy changes what these tests judge.
"""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest

from commands.verify import SIGNATURE_WORDS
from tests.ops.support import OPS, documents

POLICY = next(d for d in documents(OPS / "hardening" / "01-kyverno-require-signed-images.yaml")
              if d["kind"] == "ClusterPolicy")
RULES = {rule["name"]: rule for rule in POLICY["spec"]["rules"]}
SIGNED = {"ghcr.io/bizra/node0@sha256:" + "c" * 64, "ghcr.io/bizra/envoy:1.30"}  # what carries the release signature


def _wildcard(pattern: str, value: str) -> bool:
    """Kyverno's value pattern: alternatives split on `|`, each a wildcard (`*` any run, `?` one char)."""
    return any(fnmatch.fnmatchcase(value, alternative.strip()) for alternative in pattern.split("|"))


def _matches(rule: dict[str, Any], pod: dict[str, Any]) -> bool:
    namespace = pod["metadata"].get("namespace", "default")
    for block in rule["match"]["any"]:
        resources = block["resources"]
        if "Pod" in resources["kinds"] and any(_wildcard(ns, namespace) for ns in resources.get("namespaces", ["*"])):
            return True
    return False


def _images(pod: dict[str, Any]) -> list[str]:
    spec = pod["spec"]
    return [c["image"] for field in ("initContainers", "containers", "ephemeralContainers")
            for c in spec.get(field) or []]


def _pattern_holds(pattern: Any, value: Any) -> bool:
    if isinstance(pattern, dict):
        for key, sub in pattern.items():
            optional = key.startswith("=(") and key.endswith(")")
            name = key[2:-1] if optional else key
            if name not in (value or {}):
                if optional:
                    continue
                return False
            if not _pattern_holds(sub, value[name]):
                return False
        return True
    if isinstance(pattern, list):  # every element of the value must match the (single) element pattern
        return isinstance(value, list) and all(_pattern_holds(pattern[0], item) for item in value)
    return _wildcard(str(pattern), str(value))


def admit(pod: dict[str, Any]) -> str | None:
    """None when the policy admits the pod, else the rule that refuses it."""
    verify = RULES["verify-cosign-signature"]
    if _matches(verify, pod):
        references = [ref for entry in verify["verifyImages"] for ref in entry["imageReferences"]]
        for image in _images(pod):
            if any(_wildcard(ref, image) for ref in references) and image not in SIGNED:
                return "verify-cosign-signature"
    registry = RULES["require-release-registry"]
    if _matches(registry, pod) and not _pattern_holds(registry["validate"]["pattern"], pod):
        return "require-release-registry"
    return None


def pod(*images: str, namespace: str = "bizra-production", init: tuple[str, ...] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]}
    if init:
        spec["initContainers"] = [{"name": f"i{i}", "image": image} for i, image in enumerate(init)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "test-unsigned", "namespace": namespace},
            "spec": spec}


@pytest.mark.parametrize(("images", "refused_by"), [
    (("nginx:latest",), "require-release-registry"),  # the checklist's own probe
    (("docker.io/library/nginx:latest",), "require-release-registry"),
    (("ghcr.io/bizra/node0:unsigned",), "verify-cosign-signature"),
    (("ghcr.io/bizra/node0@sha256:" + "d" * 64,), "verify-cosign-signature"),  # a digest nobody signed
    (("ghcr.io/bizraevil/node0:v2",), "require-release-registry"),  # a look-alike registry path
    (("ghcr.io/bizra.example.com/node0:v2",), "require-release-registry"),
    (("ghcr.io/bizra/node0@sha256:" + "c" * 64, "nginx:latest"), "require-release-registry"),  # one bad sidecar
])
def test_unsigned_or_foreign_images_are_refused(images: tuple[str, ...], refused_by: str) -> None:
    assert admit(pod(*images)) == refused_by


def test_a_foreign_init_container_is_refused_too() -> None:
    assert admit(pod("ghcr.io/bizra/node0@sha256:" + "c" * 64, init=("busybox:1.36",))) == "require-release-registry"


def test_signed_release_images_are_admitted() -> None:
    assert admit(pod("ghcr.io/bizra/node0@sha256:" + "c" * 64, "ghcr.io/bizra/envoy:1.30")) is None


def test_other_namespaces_are_not_this_policys_business() -> None:
    assert admit(pod("nginx:latest", namespace="default")) is None


def test_both_rules_enforce_in_the_release_namespace_and_fail_closed() -> None:
    spec = POLICY["spec"]
    assert spec["validationFailureAction"] == "Enforce" and spec["failurePolicy"] == "Fail"
    assert list(RULES) == ["verify-cosign-signature", "require-release-registry"]
    for rule in RULES.values():
        assert rule["match"]["any"][0]["resources"]["namespaces"] == ["bizra-production"]


def test_the_registry_refusal_says_signature_verification_failed() -> None:
    # What the checklist expects to read, and what /bizra verify's admission check recognizes.
    message = " ".join(RULES["require-release-registry"]["validate"]["message"].split())
    assert message.startswith("Image signature verification failed")
    assert any(word in message.lower() for word in SIGNATURE_WORDS)


def test_the_evaluator_honours_alternatives_and_optional_anchors() -> None:
    assert _wildcard("ghcr.io/bizra/* | docker.io/istio/proxyv2@sha256:*", "docker.io/istio/proxyv2@sha256:ab")
    assert not _pattern_holds({"spec": {"containers": [{"image": "ghcr.io/bizra/*"}]}}, {"spec": {}})
    assert _pattern_holds({"spec": {"=(initContainers)": [{"image": "ghcr.io/bizra/*"}]}}, {"spec": {}})
