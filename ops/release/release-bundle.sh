#!/usr/bin/env bash
# Release bundle: the seed's five phases — validate, build, sign, pin, release.
#
#   ops/release/release-bundle.sh [--dry-run] [--artifacts DIR] [--version vX.Y.Z]
#
# validate  `bizra gates` on the release's evidence (ALWAYS run for real, also with --dry-run);
#           any FAIL or TBD stops the bundle here, before anything is built, signed or pushed.
# build     docker build + push; an SBOM (CycloneDX JSON) of the image's Python environment with
#           cyclonedx-bom (`cyclonedx-py`) over the image's own `pip freeze`.
# sign      cosign signs the pushed digest and attests the SBOM with the release key (COSIGN_KEY);
#           verifies with ops/keys/cosign.pub, the key Kyverno enforces (ops/hardening/01-*.yaml).
# pin       writes image@sha256:<digest> into the manifests that run the image (RELEASE_DIGEST lines).
# release   annotated git tag, pushed, and a GitHub release carrying the evidence and the SBOM.
#
# --dry-run runs the gates for real and prints every other command instead of running it.
# Environment: BIZRA_ARTIFACTS_DIR (same as --artifacts; default artifacts), VERSION (or --version;
# default v<project version>), DOCKER_REGISTRY (default ghcr.io/bizra), IMAGE_NAME (default
# bizra-bot), BUILD_CONTEXT (default the repository root), COSIGN_KEY (cosign private key, as for
# `cosign sign --key env://COSIGN_KEY`; needed without --dry-run), BIZRA_BIN (the bizra CLI; default
# `bizra` on PATH, else .venv/bin/bizra, else .venv/bin/python -m bot).
# Exit codes: 0 released (or dry run complete), 1 a gate failed or a step failed, 2 usage error.
set -euo pipefail

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

DRY_RUN=0
ARTIFACTS_DIR="${BIZRA_ARTIFACTS_DIR:-artifacts}"
VERSION="${VERSION:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --artifacts) [ $# -ge 2 ] || { echo "release-bundle: --artifacts needs a directory" >&2; exit 2; }
                 ARTIFACTS_DIR="$2"; shift ;;
    --artifacts=*) ARTIFACTS_DIR="${1#*=}" ;;
    --version) [ $# -ge 2 ] || { echo "release-bundle: --version needs a value like v2.1.0" >&2; exit 2; }
               VERSION="$2"; shift ;;
    --version=*) VERSION="${1#*=}" ;;
    -h|--help) usage; exit 0 ;;
    *) echo "release-bundle: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ ! -d "$ARTIFACTS_DIR" ]; then
  echo "release-bundle: artifacts directory '$ARTIFACTS_DIR' does not exist (use --artifacts DIR)" >&2
  exit 2
fi
if [ -z "$VERSION" ]; then
  VERSION="v$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n1)"
fi
case "$VERSION" in
  v[0-9]*.[0-9]*.[0-9]*) ;;
  *) echo "release-bundle: version '$VERSION' must look like v2.1.0" >&2; exit 2 ;;
esac

REGISTRY="${DOCKER_REGISTRY:-ghcr.io/bizra}"
IMAGE_NAME="${IMAGE_NAME:-bizra-bot}"
IMAGE="$REGISTRY/$IMAGE_NAME"
BUILD_CONTEXT="${BUILD_CONTEXT:-.}"
OUT="build/release/$VERSION"
SBOM="$OUT/sbom.cdx.json"
# Manifests that run the released image; their image line carries the marker `# RELEASE_DIGEST`.
PINNED_MANIFESTS=(ops/bot/base/deployment.yaml ops/hardening/04-poi-attestation-validator.yaml)

if [ -n "${BIZRA_BIN:-}" ]; then BIZRA=("$BIZRA_BIN")
elif command -v bizra >/dev/null 2>&1; then BIZRA=(bizra)
elif [ -x .venv/bin/bizra ]; then BIZRA=(.venv/bin/bizra)
elif [ -x .venv/bin/python ]; then BIZRA=(.venv/bin/python -m bot)
else echo "release-bundle: the bizra CLI is not installed (make run, or set BIZRA_BIN)" >&2; exit 2
fi

phase() { printf '\n== phase %s: %s\n' "$1" "$2"; }
# run: execute, or in a dry run print the command exactly as it would run.
run() {
  if [ "$DRY_RUN" -eq 1 ]; then printf '[dry-run]'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}
fail() { echo "release-bundle: $*" >&2; exit 1; }

echo "release-bundle $VERSION: image $IMAGE, artifacts $ARTIFACTS_DIR$([ "$DRY_RUN" -eq 1 ] && echo ' (dry run)')"

# --- 1. validate ---------------------------------------------------------------------------------
phase 1 "validate (bizra gates on $ARTIFACTS_DIR)"
set +e
"${BIZRA[@]}" gates --artifacts "$ARTIFACTS_DIR"
gates_rc=$?
set -e
if [ "$gates_rc" -ne 0 ]; then
  echo "release-bundle: REFUSED — bizra gates exited $gates_rc (1 = a gate FAIL or TBD, 2 = usage/config error)." >&2
  echo "release-bundle: nothing was built, signed, pinned or released. Fix the evidence and run again." >&2
  exit 1
fi
echo "release-bundle: gates passed"

if [ "$DRY_RUN" -eq 0 ]; then
  for tool in git docker cosign cyclonedx-py gh; do
    command -v "$tool" >/dev/null 2>&1 || fail "'$tool' is needed for a real release and is not on PATH"
  done
  [ -n "${COSIGN_KEY:-}" ] || fail "COSIGN_KEY is not set (the cosign private key; see ops/README.md)"
  [ -z "$(git status --porcelain)" ] || fail "the working tree has uncommitted changes; release from a clean checkout"
  if git rev-parse -q --verify "refs/tags/$VERSION" >/dev/null; then fail "tag $VERSION already exists"; fi
fi

# --- 2. build ------------------------------------------------------------------------------------
phase 2 "build (image, push, SBOM)"
run mkdir -p "$OUT"
run docker build --pull --tag "$IMAGE:$VERSION" --label "org.opencontainers.image.version=$VERSION" \
  --label "org.opencontainers.image.revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)" "$BUILD_CONTEXT"
run docker push "$IMAGE:$VERSION"
# The SBOM describes the image's own Python environment: its pip freeze, read by cyclonedx-bom.
if [ "$DRY_RUN" -eq 1 ]; then
  printf '[dry-run] %s\n' "docker run --rm --entrypoint python $IMAGE:$VERSION -m pip freeze --all > $OUT/requirements-image.txt"
else
  docker run --rm --entrypoint python "$IMAGE:$VERSION" -m pip freeze --all > "$OUT/requirements-image.txt"
fi
run cyclonedx-py requirements --output-format JSON --output-file "$SBOM" "$OUT/requirements-image.txt"

if [ "$DRY_RUN" -eq 1 ]; then
  DIGEST="sha256:<digest of the pushed image>"
else
  repo_digest="$(docker inspect --format '{{index .RepoDigests 0}}' "$IMAGE:$VERSION")"
  DIGEST="${repo_digest##*@}"
  case "$DIGEST" in sha256:????????????????????????????????????????????????????????????????) ;;
    *) fail "could not read the pushed digest of $IMAGE:$VERSION (got '$repo_digest')" ;; esac
fi
REF="$IMAGE@$DIGEST"
echo "release-bundle: image $REF"

# --- 3. sign -------------------------------------------------------------------------------------
phase 3 "sign (cosign signature and SBOM attestation on $REF)"
run cosign sign --yes --key env://COSIGN_KEY "$REF"
run cosign attest --yes --key env://COSIGN_KEY --type cyclonedx --predicate "$SBOM" "$REF"
run cosign verify --key ops/keys/cosign.pub "$REF"
run cosign verify-attestation --key ops/keys/cosign.pub --type cyclonedx "$REF"

# --- 4. pin --------------------------------------------------------------------------------------
phase 4 "pin ($REF into the manifests that run it)"
for manifest in "${PINNED_MANIFESTS[@]}"; do
  grep -q '# RELEASE_DIGEST' "$manifest" || fail "$manifest has no '# RELEASE_DIGEST' image line to pin"
  run sed -i -E "s|image: [^ ]+(  # RELEASE_DIGEST)|image: $REF\\1|" "$manifest"
done
run git commit -m "release $VERSION: pin $REF" -- "${PINNED_MANIFESTS[@]}"

# --- 5. release ----------------------------------------------------------------------------------
phase 5 "release (tag $VERSION, GitHub release)"
run git tag -a "$VERSION" -m "BIZRA release $VERSION ($REF)"
run git push origin HEAD "$VERSION"
run gh release create "$VERSION" --title "$VERSION" --notes "Image $REF (cosign-signed; SBOM attested). Gates: 9/9 PASS." \
  "$SBOM" "$ARTIFACTS_DIR"/cb.json "$ARTIFACTS_DIR"/cache.json "$ARTIFACTS_DIR"/planner_eval.json \
  "$ARTIFACTS_DIR"/wq_proof.json "$ARTIFACTS_DIR"/attestation.json

if [ "$DRY_RUN" -eq 1 ]; then
  printf '\nrelease-bundle: dry run complete — gates passed; the commands above would release %s.\n' "$VERSION"
else
  printf '\nrelease-bundle: released %s as %s\n' "$VERSION" "$REF"
fi
