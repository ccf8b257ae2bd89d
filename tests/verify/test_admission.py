"""The admission test of `/bizra verify` (DoD gate 1): a server-side dry-run create of the checklist's
unsigned probe pod against the Kubernetes test server's admission webhook, in every outcome, and
nothing is ever created."""

from __future__ import annotations

from commands.verify import Check, CheckStatus
from tests.support.kube_api import KubeApiServer, RecordedRequest
from tests.verify.conftest import NS, World
from tests.verify.test_verify import only_broken, run_verify


def _admission(world: World) -> Check:
    (check,) = [c for c in run_verify(world).checks if c.key == "admission"]
    return check


def _probes(api: KubeApiServer) -> list[RecordedRequest]:
    """The bot's POSTs of pods (the world's own pods were POSTed by the fixture, named node0-*)."""
    posts = api.calls("POST", f"/namespaces/{NS}/pods")
    return [r for r in posts if not r.body["metadata"]["name"].startswith("node0-")]


def _nothing_created(api: KubeApiServer) -> None:
    posts = _probes(api)
    assert posts, "the admission test made no request"
    for post in posts:
        assert post.query.get("dryRun") == "All", post.query  # never a real create
    assert api.get("", "pods", NS, "test-unsigned") is None
    assert not [key for key in api.objects if key[1] == "pods" and key[3] != "" and not key[3].startswith("node0-")]


def test_refused_for_its_signature_passes_and_quotes_the_webhook(world: World) -> None:
    check = _admission(world)
    assert check.status is CheckStatus.PASS, check
    assert "refused at admission (400)" in check.detail
    assert 'admission webhook "validate.kyverno.svc-fail" denied the request' in check.detail
    assert "Image signature verification failed" in check.detail
    [post] = _probes(world.api)
    assert post.body["spec"]["containers"][0]["image"] == "nginx:latest"  # the checklist's own probe
    assert post.body["metadata"]["name"] == "test-unsigned"
    _nothing_created(world.api)


def test_admitted_fails_loudly(world: World) -> None:
    world.api.set_webhook("admit")
    said = only_broken(run_verify(world), "admission")
    assert "THE CLUSTER ACCEPTS UNSIGNED IMAGES" in said and "nginx:latest" in said
    assert "01-kyverno-require-signed-images.yaml" in said
    _nothing_created(world.api)


def test_no_webhook_at_all_is_admitted_and_fails(world: World) -> None:
    world.api.set_webhook(None)  # Kyverno not installed: the API server admits anything
    assert "ACCEPTS UNSIGNED IMAGES" in only_broken(run_verify(world), "admission")
    _nothing_created(world.api)


def test_unreachable_webhook_is_unknown_with_the_reason(world: World) -> None:
    world.api.set_webhook("unreachable")
    said = only_broken(run_verify(world), "admission", CheckStatus.UNKNOWN)
    assert "could not be reached" in said and "failed calling webhook" in said
    _nothing_created(world.api)


def test_dry_run_refused_by_the_api_is_unknown(world: World) -> None:
    webhook = world.api.set_webhook("no-dry-run")
    said = only_broken(run_verify(world), "admission", CheckStatus.UNKNOWN)
    assert "refused the dry run" in said and "does not support dry run" in said
    assert webhook is not None and webhook.calls == 0  # admission never judged the pod
    _nothing_created(world.api)


def test_no_permission_to_create_pods_is_unknown(world: World) -> None:
    world.api.fail("POST", "/pods", status=403, message='pods is forbidden: User "system:serviceaccount:bizra-bot:'
                   'bizra-bot" cannot create resource "pods" in API group "" in the namespace "bizra-production"')
    said = only_broken(run_verify(world), "admission", CheckStatus.UNKNOWN)
    assert "no permission" in said and "ops/bot/base/rbac.yaml" in said


def test_refused_for_another_reason_proves_nothing(world: World) -> None:
    world.api.set_webhook("refuse", message='pods "test-unsigned" is forbidden: exceeded quota: compute-resources')
    said = only_broken(run_verify(world), "admission", CheckStatus.UNKNOWN)
    assert "not for the image's signature" in said and "exceeded quota" in said


def test_the_probe_image_is_configurable(world: World) -> None:
    world.runtime.config.verify.admission_probe_image = "ghcr.io/bizra/node0:never-signed"
    assert _admission(world).status is CheckStatus.PASS
    [post] = _probes(world.api)
    assert post.body["spec"]["containers"][0]["image"] == "ghcr.io/bizra/node0:never-signed"


def test_api_server_down_is_unknown(world: World) -> None:
    world.api.stop()
    check = _admission(world)
    assert check.status is CheckStatus.UNKNOWN and "could not be reached" in check.detail


def test_kyverno_verify_images_refusal_of_an_unsigned_release_image_passes(world: World) -> None:
    world.runtime.config.verify.admission_probe_image = "ghcr.io/bizra/node0:unsigned"
    world.api.set_webhook("refuse", message=(
        "\n\npolicy Pod/bizra-production/test-unsigned for resource violation: \n\nrequire-signed-images:\n  "
        "verify-cosign-signature: 'failed to verify image ghcr.io/bizra/node0:unsigned: "
        ".attestors[0].entries[0].keys: no matching signatures'"))
    check = _admission(world)
    assert check.status is CheckStatus.PASS, check
    assert "no matching signatures" in check.detail and "denied the request" in check.detail
