# syntax=docker/dockerfile:1
# The gateway's container image: `python -m gateway`, Socket.IO and /healthz, /readyz,
# /metrics on port 8080 (CONTRACT §1, §5). Runs as a non-root user and writes nothing
# outside /tmp, so it works with a read-only root filesystem. On SIGTERM it drains and
# exits 0 within GATEWAY_DRAIN_SECONDS (CONTRACT §7).
#
#   docker build -t notification-gateway .
#   docker run --rm -p 8080:8080 -e JWT_SECRET=... -e REDIS_URL=redis://redis:6379/0 \
#       --read-only --tmpfs /tmp notification-gateway
#
# Pin the base image by digest in your registry mirror for reproducible builds:
#   --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:...
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtualenv with the pinned, hash-checked runtime dependencies ------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY requirements.lock ./
# Wheels only (every pinned package has them for CPython 3.11 on x86_64 and aarch64),
# so the build needs no compiler; --require-hashes refuses anything not in the lock.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes --no-deps \
        --only-binary=:all: -r requirements.lock
# Only the application packages; tests, benchmarks and tooling stay out.
COPY config/ app/config/
COPY jobformat/ app/jobformat/
COPY auth/ app/auth/
COPY throttling/ app/throttling/
COPY notification_log/ app/notification_log/
COPY consumers/ app/consumers/
COPY producer/ app/producer/
COPY gateway/ app/gateway/
COPY archiver/ app/archiver/
COPY roomcast/ app/roomcast/
# Byte-compile at build time: the running container must not write next to the sources.
RUN python -m compileall -q app

# --- runtime ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="notification-gateway" \
      org.opencontainers.image.description="BullMQ jobs in, Socket.IO events out"
RUN groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid gateway --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin gateway
COPY --from=build /opt/venv /opt/venv
COPY --from=build /build/app /app
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONFAULTHANDLER=1 \
    HOME=/tmp \
    TMPDIR=/tmp
WORKDIR /app
# Numeric, so Kubernetes' runAsNonRoot can check it.
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM
# No curl in the image: a standard-library request to /healthz (any non-2xx raises).
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('GATEWAY_PORT', '8080') + '/healthz', timeout=4)"]
ENTRYPOINT ["python", "-m", "gateway"]
