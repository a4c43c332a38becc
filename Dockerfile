# syntax=docker/dockerfile:1
# Mobile Backups ExApp image, after nextcloud/app-skeleton-python's Dockerfile.
# Build and push: make build-push   (needs docker buildx; BuildKit for --mount and --chmod)

#############################
# Stage 1: builder
#############################
FROM python:3.11-slim-bookworm AS builder

RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates && \
    apt-get clean && rm -rf /var/lib/apt/lists/*

# The mobile_backups package and its dependencies (exifread, nc_py_api[app], fastapi, uvicorn: pure Python;
# pillow and pillow-heif: wheels that bundle their libraries) go into a virtualenv that the final stage copies as is.
COPY pyproject.toml /src/
COPY ex_app/lib/mobile_backups /src/ex_app/lib/mobile_backups
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 -m venv /opt/venv && \
    /opt/venv/bin/pip install --root-user-action=ignore /src

# FRP client for HaRP (see ex_app/start.sh), with checksum verification.
# Version and checksums as in nextcloud/app-skeleton-python; update them together.
ARG FRP_VERSION=0.61.1
ARG FRP_AMD64_SHA256=bff260b68ca7b1461182a46c4f34e9709ba32764eed30a15dd94ac97f50a2c40
ARG FRP_ARM64_SHA256=af6366f2b43920ebfe6235dba6060770399ed1fb18601e5818552bd46a7621f8
RUN set -ex; \
    if [ "$(uname -m)" = "aarch64" ]; then \
        FRP_ARCH=arm64; FRP_SHA256="${FRP_ARM64_SHA256}"; \
    else \
        FRP_ARCH=amd64; FRP_SHA256="${FRP_AMD64_SHA256}"; \
    fi; \
    curl -fsSL "https://github.com/fatedier/frp/releases/download/v${FRP_VERSION}/frp_${FRP_VERSION}_linux_${FRP_ARCH}.tar.gz" \
        -o /tmp/frp.tar.gz; \
    echo "${FRP_SHA256}  /tmp/frp.tar.gz" | sha256sum -c -; \
    tar -C /tmp -xzf /tmp/frp.tar.gz; \
    install -m 755 "/tmp/frp_${FRP_VERSION}_linux_${FRP_ARCH}/frpc" /usr/local/bin/frpc; \
    rm -rf /tmp/frp*

#############################
# Stage 2: runtime
#############################
FROM python:3.11-slim-bookworm

# exiftool strips location without re-encoding and ffmpeg re-encodes videos (quality rules); curl and procps (pgrep)
# are for healthcheck.sh.
RUN apt-get update && apt-get install -y --no-install-recommends curl procps libimage-exiftool-perl ffmpeg && \
    apt-get clean && rm -rf /var/lib/apt/lists/*

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /usr/local/bin/frpc /usr/local/bin/frpc
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1

# The package is installed in the venv; only the ExApp entrypoint is copied as a file.
COPY ex_app/lib/main.py /ex_app/lib/main.py
COPY --chmod=775 ex_app/start.sh ex_app/healthcheck.sh /

WORKDIR /ex_app/lib
ENTRYPOINT ["/start.sh", "python3", "main.py"]
HEALTHCHECK --interval=2s --timeout=3s --retries=300 CMD /healthcheck.sh
