# The pipeline image: every pipeline component, training and tuning worker, the
# pipeline-run CronJob and TensorBoard run it. It installs
# requirements-runtime.lock (the versions of requirements.lock, the local runs'
# lock, without the development tools), plus this repository's packages.
# Build with skaffold (skaffold.yaml) or: docker build -t tfx-pipeline .

# Python 3.10: TFX 1.16 installs only on 3.9-3.10 (the locks are for 3.10; .python-version
# is the local 3.10). Pinned by digest: the tag can move, the digest cannot.
# Tag: python:3.10.21-slim-bookworm (multi-platform index), digest as recorded by
# Docker's official-images bookkeeping (github.com/docker-library/repo-info,
# repos/python/remote/3.10.21-slim-bookworm.md, build of 2026-09-01).
# To update: take the new digest from that file, or `docker buildx imagetools inspect <tag>`.
FROM python:3.10.21-slim-bookworm@sha256:68d914ec641a0b69267ce65184d000a2bc3a9ee2590ab702b82250ab2385735a AS base

FROM base AS build
# The Makefile reads this version too: one place for it.
ARG UV_VERSION=0.13.8
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements-runtime.lock /tmp/requirements.lock
# uv resolves nothing here: it installs the pinned, hashed lock into a venv, compiled to
# bytecode: the image sets PYTHONDONTWRITEBYTECODE and runs as a user who cannot write to
# /opt/venv, so without .pyc files every pod would compile TensorFlow, TFX and Beam as it
# starts (seconds of CPU each).
RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
    && python -m venv /opt/venv \
    && uv pip sync --python /opt/venv/bin/python --require-hashes --compile-bytecode --no-cache /tmp/requirements.lock
COPY setup.py README.md /src/
COPY common /src/common
COPY trainer /src/trainer
COPY launcher /src/launcher
COPY components /src/components
COPY pipelines /src/pipelines
RUN uv pip install --python /opt/venv/bin/python --no-deps --compile-bytecode --no-cache /src

FROM base
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=1 \
    HOME=/tmp
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
# Relative paths in the configs (schemas/...) resolve here.
WORKDIR /app
COPY schemas /app/schemas
COPY pipelines/configs /app/pipelines/configs
USER 10001:10001
# Batch image: jobs have no health endpoint; TensorBoard's pod defines HTTP probes.
HEALTHCHECK NONE
CMD ["python", "-m", "pipelines.local_runner", "--help"]
