# bizra-bot: the Slack ChatOps bot (`bizra serve`), also the image the PoI validator Job runs
# (`bizra attest verify`). Built by ops/release/release-bundle.sh from the release tag, so the
# image carries that release's artifacts/, its trusted attestation key and the canary manifests.
#
# Validated offline by hadolint and checkov (tests/ops/test_dockerfile.py); no engine runs in CI.

# Slim Debian base pinned by Python version (bump deliberately; the release pins the built image by digest).
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 \
    PORT=3000 \
    BIZRA_CONFIG=/etc/bizra/bizra.yaml

WORKDIR /app

# Dependencies in their own layer: it is rebuilt only when pyproject.toml changes, not on every
# source edit. The bounded ranges in pyproject.toml are the tested ones.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The bot itself (no dependency resolution here: the layer above holds them all).
COPY bot/ bot/
COPY commands/ commands/
RUN pip install --no-cache-dir --no-deps /app

# What the bot reads at run time, relative to /app: evidence, trusted keys, canary manifests.
COPY artifacts/ artifacts/
COPY ops/ ops/
COPY bizra.example.yaml /etc/bizra/bizra.yaml

# Non-root, fixed numeric IDs so that Kubernetes `runAsNonRoot` can check them.
RUN groupadd --system --gid 10001 bizra \
    && useradd --system --uid 10001 --gid bizra --home-dir /app --shell /usr/sbin/nologin bizra \
    && mkdir -p /app/.bizra \
    && chown bizra:bizra /app/.bizra
USER 10001:10001

EXPOSE 3000

# Liveness on /healthz with the standard library (no curl in a slim image).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request, sys; r = urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '3000') + '/healthz', timeout=4); sys.exit(0 if r.status == 200 else 1)"]

ENTRYPOINT ["bizra"]
CMD ["serve"]
