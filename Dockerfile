# Gestalt Live: `gestalt serve` (default) or `gestalt agent` (as the command), non-root,
# on a read-only root filesystem. History lives on the volume at /var/lib/gestalt.
#
#   docker build -t gestalt .                        (official python and node images)
#   scripts/build-image.sh                           (no registry: local Debian bases)
#   docker run --read-only --tmpfs /tmp -v gestalt-data:/var/lib/gestalt \
#     -e GESTALT_TOKEN=... -p 8765:8765 gestalt
#
# Works with the classic builder and with BuildKit: nothing here needs BuildKit.
# See docs/deploy.md.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim
# Extra CA certificates (PEM) that the build stages trust for npm and pip, for networks
# whose proxy re-signs TLS; scripts/build-image.sh passes the machine's local CAs. They
# stay in the build stages: the runtime image does not contain them.
ARG BUILD_CA_CERTS=""

# -- the web UI -------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS web
ARG BUILD_CA_CERTS
WORKDIR /build/web
COPY web/package.json web/package-lock.json ./
RUN if [ -n "$BUILD_CA_CERTS" ]; then printf '%s\n' "$BUILD_CA_CERTS" > /tmp/build-ca.pem; \
      export NODE_EXTRA_CA_CERTS=/tmp/build-ca.pem; fi; \
    npm ci --no-audit --no-fund --loglevel=error
COPY web/ ./
# Vite writes the bundle to ../src/gestalt/web, as in a checkout.
RUN npm run --silent build

# -- the Python environment ---------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS python
ARG BUILD_CA_CERTS
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/gestalt \
 && if [ -n "$BUILD_CA_CERTS" ]; then printf '%s\n' "$BUILD_CA_CERTS" \
      | cat /etc/ssl/certs/ca-certificates.crt - > /tmp/build-ca-bundle.pem; \
      /opt/gestalt/bin/pip config --site set global.cert /tmp/build-ca-bundle.pem; fi
WORKDIR /build
# Dependencies first (their layer survives code changes): the runtime dependencies of
# pyproject.toml, each at the version requirements.lock pins; no test tools.
COPY pyproject.toml requirements.lock README.md ./
RUN mkdir -p src/gestalt && touch src/gestalt/__init__.py \
 && /opt/gestalt/bin/pip install -q -c requirements.lock . \
 && /opt/gestalt/bin/pip uninstall -q -y gestalt-live \
 && rm -rf src build ./*.egg-info
COPY src/ src/
COPY --from=web /build/src/gestalt/web/ src/gestalt/web/
RUN /opt/gestalt/bin/pip install -q --no-deps . \
 && rm -f /opt/gestalt/pip.conf \
 && /opt/gestalt/bin/pip uninstall -q -y pip setuptools wheel 2>/dev/null; \
    /opt/gestalt/bin/python -m compileall -q /opt/gestalt/lib > /dev/null; \
    /opt/gestalt/bin/gestalt version

# -- the runtime ----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
# The history directory, owned by the runtime user (a fresh named volume copies it).
RUN mkdir -p /var/lib/gestalt && chown 10001:10001 /var/lib/gestalt && chmod 0750 /var/lib/gestalt
COPY --from=python /opt/gestalt /opt/gestalt
ENV PATH=/opt/gestalt/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    GESTALT_SERVER__HOST=0.0.0.0 \
    GESTALT_SERVER__DATA_DIR=/var/lib/gestalt
# A numeric user: Kubernetes' runAsNonRoot can only verify a numeric one.
USER 10001:10001
WORKDIR /var/lib/gestalt
VOLUME ["/var/lib/gestalt"]
EXPOSE 8765 4317 4318
# Ready when the engine runs and every source has started; no shell, no curl needed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["/opt/gestalt/bin/python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('GESTALT_SERVER__PORT', '8765') + '/readyz', timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/opt/gestalt/bin/gestalt"]
CMD ["serve"]
LABEL org.opencontainers.image.title="Gestalt Live" \
      org.opencontainers.image.description="A live 3D map of a running system" \
      org.opencontainers.image.licenses="Apache-2.0"
