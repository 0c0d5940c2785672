# syntax=docker/dockerfile:1
#
# The translation service as a container image.
#
#   VARIANT=gpu      (default) NVIDIA CUDA 13 + cuDNN runtime base, onnxruntime-gpu
#   VARIANT=gpu-pip  plain Python base, onnxruntime-gpu[cuda,cudnn]: the CUDA 13 and cuDNN
#                    libraries come from NVIDIA's pip packages (needs no registry but PyPI)
#   VARIANT=cpu      plain Python base, onnxruntime
#
# BASE replaces the base image of any variant (e.g. a locally built stand-in for
# python:3.11-slim, see scripts/container-smoke.sh). The base needs either python3 >= 3.11
# with venv, or apt-get to install it (the CUDA images are Ubuntu 24.04 without Python).
#
#   docker build -t nmt-serve:gpu .
#   docker build --build-arg VARIANT=cpu -t nmt-serve:cpu .
#   docker build --build-arg VARIANT=gpu-pip -t nmt-serve:gpu-pip .
#
# With podman/buildah, always pass --build-arg VARIANT=...: buildah 1.28 works out which
# stages are used before it applies the default of a global ARG, so with the default alone
# it skips the base-gpu stage and then looks for an image called "base-gpu".

ARG VARIANT=gpu
ARG BASE=

# One stage per variant, each only naming its base image; the builder picks one by VARIANT
# and skips the others (BuildKit and buildah do not pull the bases of unused stages).
# Fully qualified names: podman has no unqualified-search registry by default.
FROM ${BASE:-docker.io/nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04} AS base-gpu

FROM ${BASE:-docker.io/library/python:3.11-slim} AS base-gpu-pip
# Lets the NVIDIA container runtime expose the GPU and driver libraries, as the
# nvidia/cuda images do.
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

FROM ${BASE:-docker.io/library/python:3.11-slim} AS base-cpu

# ---------------------------------------------------------------------------------------
FROM base-${VARIANT} AS python-base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The CUDA images ship no Python: install the distribution's python3 (3.12 on Ubuntu 24.04).
RUN if ! command -v python3 >/dev/null 2>&1; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 \
        && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb; \
    fi \
    && python3 -c 'import sys; assert sys.version_info >= (3, 11), sys.version'

# ---------------------------------------------------------------------------------------
FROM python-base AS build
ARG VARIANT
# Debian and Ubuntu split venv/ensurepip into python3-venv; python:3.11-slim has them.
RUN if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The serving dependencies come from pyproject.toml ([project] dependencies; for the GPU
# variants onnxruntime is swapped for the spec of the `gpu` extra). Only pyproject.toml is
# copied here, so this layer is rebuilt only when the dependencies change.
WORKDIR /src
COPY pyproject.toml ./
RUN python3 -c "import sys, tomllib; \
p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
variant = sys.argv[1]; \
deps = p['dependencies']; \
gpu = p['optional-dependencies']['gpu']; \
extra = {'cpu': '', 'gpu': '', 'gpu-pip': '[cuda,cudnn]'}[variant]; \
deps = deps if variant == 'cpu' else [d for d in deps if not d.startswith('onnxruntime')] + [s.replace('onnxruntime-gpu', 'onnxruntime-gpu' + extra, 1) for s in gpu]; \
print(chr(10).join(deps))" "$VARIANT" > requirements.txt \
    && cat requirements.txt \
    && pip install -r requirements.txt \
    && if pip show torch >/dev/null 2>&1; then echo 'torch must not be in the image' >&2; exit 1; fi \
    && pip uninstall -y -q pip setuptools \
    && find /opt/venv -name '__pycache__' -type d -prune -exec rm -rf {} +

# ---------------------------------------------------------------------------------------
FROM python-base AS runtime
ARG VARIANT
LABEL org.opencontainers.image.title="bahdanau-serve" \
      org.opencontainers.image.description="Attention-based RNN translation served with ONNX Runtime" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.variant="${VARIANT}"

# A fixed numeric uid, so that Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 nmt \
    && useradd --system --uid 10001 --gid nmt --home-dir /app --no-create-home --shell /usr/sbin/nologin nmt \
    && mkdir -p /app /var/lib/nmt \
    && chown nmt:nmt /var/lib/nmt

COPY --from=build /opt/venv /opt/venv
# The CUDA and cuDNN libraries of NVIDIA's pip packages (VARIANT=gpu-pip) are found by the
# dynamic loader through ld.so.conf, so ONNX Runtime's CUDA provider loads without
# LD_LIBRARY_PATH; for the other variants there are none and this does nothing.
RUN find /opt/venv -path '*/site-packages/nvidia/*' -type d -name lib > /etc/ld.so.conf.d/zz-nvidia-pip.conf \
    && if [ -s /etc/ld.so.conf.d/zz-nvidia-pip.conf ]; then ldconfig; else rm /etc/ld.so.conf.d/zz-nvidia-pip.conf; fi

WORKDIR /app
COPY service /app/service
# The bundled models, one directory per language pair, all served (NMT_MODELS_DIR); mount
# another models directory over it, or set NMT_MODEL_DIR to serve one artifact alone.
COPY models /app/models

# HOME=/tmp: the only writable place when the root file system is read-only (Kubernetes);
# ONNX Runtime keeps a small cache there.
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    PYTHONPATH=/app \
    NMT_MODELS_DIR=/app/models \
    NMT_STORE_PATH=/var/lib/nmt/alignments.sqlite3 \
    NMT_DEVICE=auto

USER 10001:10001
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=4)"]
CMD ["python3", "-m", "service", "serve", "--host", "0.0.0.0", "--port", "8000"]
