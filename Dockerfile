# syntax=docker/dockerfile:1
# ctscan_ops code location image: a Dagster gRPC code server (user-code deployment of the
# official Dagster Helm chart) that is also the image of every run the K8sRunLauncher starts.
#
#   docker build -t europe-west1-docker.pkg.dev/PROJECT/ct-scan-mlops/ctscan-ops:$(git rev-parse --short HEAD) .
#
# Stage 1 installs with deploy/install.sh (the same script tests/deploy/test_packaging.py runs
# into a plain venv): CPU torch 2.13.0 first, then `.[deploy]` at the versions of
# constraints.txt. Stage 2 carries only the venv and the sources: no compiler, no pip cache,
# a non-root user.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 TORCH_INDEX_URL=${TORCH_INDEX_URL}
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY deploy/install.sh deploy/install.sh
COPY ctscan_ops ctscan_ops
RUN deploy/install.sh /opt/venv /src

FROM ${PYTHON_IMAGE} AS runtime
# Non-root: uid/gid 10001, matching runAsUser/fsGroup in deploy/helm/values.yaml.
RUN groupadd --system --gid 10001 dagster \
 && useradd --system --uid 10001 --gid dagster --home-dir /opt/dagster --create-home dagster
COPY --from=builder /opt/venv /opt/venv
WORKDIR /opt/dagster/app
# The sources the code location reads at run time besides the package: the alert policy
# catalog and Terraform configs (terraform/), and the workspace file for local smoke tests.
COPY --chown=dagster:dagster ctscan_ops ctscan_ops
COPY --chown=dagster:dagster terraform terraform
COPY --chown=dagster:dagster workspace.yaml pyproject.toml ./
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/dagster/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CTSCAN_MODE=gcp \
    CTSCAN_ALERT_CATALOG=/opt/dagster/app/terraform/alert_policies.yaml \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    NUMBA_CACHE_DIR=/opt/dagster/numba_cache \
    NUMBA_CPU_NAME=generic
RUN mkdir -p /opt/dagster/dagster_home /opt/dagster/numba_cache \
 && chown dagster:dagster /opt/dagster/dagster_home /opt/dagster/numba_cache
USER 10001:10001
# The alert evaluator's numba kernels, compiled once here into NUMBA_CACHE_DIR: every step
# process loads the machine code (~0.3 s) instead of compiling it (~4 s). NUMBA_CPU_NAME=generic
# makes that code (and the cache's key) independent of the build machine's CPU, so any x86-64
# node reuses it; the directory stays writable for a node that must compile anyway.
RUN python -c "from ctscan_ops.alerting.engine.evaluator import warm_kernels; warm_kernels()"
EXPOSE 3030
# No ENTRYPOINT: the Helm chart sets the container args to the whole command
# (["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", PORT, *dagsterApiGrpcArgs]) and the
# K8sRunLauncher runs `dagster api execute_run ...` in the same image. 0.0.0.0 inside the pod:
# the chart's Service must reach it; nothing outside the cluster does.
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "3030", "-m", "ctscan_ops.definitions", "--location-name", "ctscan_ops"]
