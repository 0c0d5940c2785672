#!/usr/bin/env bash
# Build the service image with podman on a locally made base image, run it, and
# translate one sentence through it over HTTP.
#
# No Docker daemon and no container registry are needed: the base image is made
# with debootstrap from the machine's own Debian mirror, and a stand-in for
# python:3.11-slim (Debian bookworm's python3 is 3.11) is built on top of it.
# The project's Dockerfile is then built with BASE pointing at that stand-in.
#
# Usage: scripts/container-smoke.sh [--build-only]
#
# Settings (environment):
#   SMOKE_CACHE          where the debootstrap root file system is kept (/var/tmp/nmt-container)
#   SMOKE_VARIANT        Dockerfile VARIANT to build: cpu (default), gpu-pip, gpu
#   SMOKE_IMAGE          tag of the project image (localhost/nmt-serve:<variant>)
#   SMOKE_BASE           BASE build argument (default: the local python stand-in)
#   SMOKE_MIRROR         Debian mirror for debootstrap (default: read from /etc/apt/sources.list.d/)
#   SMOKE_READY_TIMEOUT  seconds to wait for /health/ready (180)
#   SMOKE_NICE           niceness of the builds (10)
#   SMOKE_KEEP_IMAGE     1 keeps the project image afterwards (default); 0 removes it
#   SMOKE_NO_CACHE       1 rebuilds the project image without the layer cache (a cold build)
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${SMOKE_CACHE:-/var/tmp/nmt-container}
SUITE=bookworm
DEBIAN_BASE=localhost/debian-base:${SUITE}
PYTHON_BASE=localhost/python-standin:3.11-${SUITE}
VARIANT=${SMOKE_VARIANT:-cpu}
IMAGE=${SMOKE_IMAGE:-localhost/nmt-serve:${VARIANT}}
BASE=${SMOKE_BASE:-$PYTHON_BASE}
READY_TIMEOUT=${SMOKE_READY_TIMEOUT:-180}
NICE=${SMOKE_NICE:-10}
KEEP_IMAGE=${SMOKE_KEEP_IMAGE:-1}
NO_CACHE=${SMOKE_NO_CACHE:-0}
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
# Where the machine's CA bundle lives inside the base image: a path of its own, so that
# installing Debian's ca-certificates package later cannot overwrite it.
IMAGE_CA_BUNDLE=/etc/ssl/host-ca-bundle.crt
BUILD_ONLY=0
CONTAINER=""

log() { printf '[container-smoke] %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

for arg in "$@"; do
  case "$arg" in
    --build-only) BUILD_ONLY=1 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg" ;;
  esac
done

# podman as root here: the default OCI runtime (crun), the systemd cgroup manager and
# podman's default ulimits are refused on this machine, so every call names runc and
# cgroupfs, and `run` passes explicit ulimits.
podman_() { podman --runtime runc --cgroup-manager cgroupfs "$@"; }

podman_build() {
  nice -n "$NICE" podman --runtime runc --cgroup-manager cgroupfs build \
    --isolation chroot --network host --format docker "$@"
}

ensure_tools() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v buildah >/dev/null || missing+=(buildah)
  command -v runc >/dev/null || missing+=(runc)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v python3 >/dev/null || die "python3 is needed on the host for the HTTP checks"
  if ((${#missing[@]})); then
    [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}; install them or run as root"
    log "installing ${missing[*]} from apt"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  [[ $(id -u) -eq 0 ]] || die "run as root (podman --isolation chroot and debootstrap need it)"
}

# The first Debian mirror of the machine's apt sources that serves $SUITE (deb822
# .sources files and one-line .list files alike).
find_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk -v suite="$SUITE" '
      BEGIN { RS = ""; FS = "\n" }
      {
        uri = ""; ok = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); uri = a[2] }
          if ($i ~ /^Suites:/ && $i ~ ("[ \t]" suite "([ \t]|$)")) ok = 1
        }
        if (ok && uri != "") { print uri; exit }
      }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
    [[ -f $f ]] || continue
    awk -v suite="$SUITE" '$1 == "deb" && $0 !~ /\[/ && $3 == suite { print $2; exit }
                          $1 == "deb" && $2 ~ /^\[/ && $4 == suite { print $3; exit }' "$f"
  done
}

build_debian_base() {
  if podman_ image exists "$DEBIAN_BASE"; then
    log "base image $DEBIAN_BASE already present"
    return
  fi
  local rootfs=$CACHE/rootfs mirror
  mirror=${SMOKE_MIRROR:-$(find_mirror | head -n 1)}
  [[ -n $mirror ]] || die "no Debian $SUITE mirror found in /etc/apt/sources.list.d/; set SMOKE_MIRROR"
  if [[ ! -f $CACHE/rootfs.done ]]; then
    log "debootstrap --variant=minbase $SUITE into $rootfs"
    rm -rf "$rootfs"
    mkdir -p "$CACHE"
    nice -n "$NICE" debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
      || { tail -n 20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    touch "$CACHE/rootfs.done"
  fi
  install -m 0644 "$CA_BUNDLE" "$rootfs/etc/ssl/certs/ca-certificates.crt" 2>/dev/null \
    || { mkdir -p "$rootfs/etc/ssl/certs" && install -m 0644 "$CA_BUNDLE" "$rootfs/etc/ssl/certs/ca-certificates.crt"; }
  install -m 0644 "$CA_BUNDLE" "$rootfs$IMAGE_CA_BUNDLE"
  log "importing $rootfs as $DEBIAN_BASE"
  tar -C "$rootfs" -c . | podman_ import --quiet \
    --change "ENV PIP_CERT=$IMAGE_CA_BUNDLE" \
    --change "ENV SSL_CERT_FILE=$IMAGE_CA_BUNDLE" \
    --change "ENV REQUESTS_CA_BUNDLE=$IMAGE_CA_BUNDLE" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    - "$DEBIAN_BASE" >/dev/null
}

# A stand-in for python:3.11-slim: bookworm's python3 (3.11) with venv support.
build_python_base() {
  if podman_ image exists "$PYTHON_BASE"; then
    log "python stand-in $PYTHON_BASE already present"
    return
  fi
  local ctx=$CACHE/python-standin
  mkdir -p "$ctx"
  cat >"$ctx/Containerfile" <<EOF
FROM $DEBIAN_BASE
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \\
 && ln -sf /usr/bin/python3 /usr/local/bin/python
CMD ["python3"]
EOF
  log "building $PYTHON_BASE"
  podman_build -t "$PYTHON_BASE" -f "$ctx/Containerfile" "$ctx" >"$CACHE/python-standin.log" 2>&1 \
    || { tail -n 30 "$CACHE/python-standin.log" >&2; die "building the python stand-in failed"; }
}

BUILD_SECONDS=0
build_project_image() {
  local log_file=$CACHE/build-$VARIANT.log start end
  log "building $IMAGE (VARIANT=$VARIANT, BASE=$BASE); log: $log_file"
  local flags=()
  if [[ $NO_CACHE == 1 ]]; then flags+=(--no-cache); fi
  start=$(date +%s.%N)
  if ! podman_build "${flags[@]}" --build-arg "BASE=$BASE" --build-arg "VARIANT=$VARIANT" \
      -t "$IMAGE" -f "$REPO_ROOT/Dockerfile" "$REPO_ROOT" >"$log_file" 2>&1; then
    tail -n 40 "$log_file" >&2
    die "podman build failed"
  fi
  end=$(date +%s.%N)
  BUILD_SECONDS=$(python3 -c "print(f'{$end - $start:.1f}')")
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cleanup() {
  local rc=$?
  if [[ -n $CONTAINER ]]; then
    if ((rc != 0)); then
      log "container logs (last 40 lines):"
      podman_ logs --tail 40 "$CONTAINER" >&2 2>&1 || true
    fi
    podman_ rm -f -t 5 "$CONTAINER" >/dev/null 2>&1 || true
  fi
  if [[ $KEEP_IMAGE == 0 ]]; then
    podman_ rmi -f "$IMAGE" >/dev/null 2>&1 || true
  fi
  exit "$rc"
}

# HTTP checks with the host's python3 (no curl needed). Prints a summary line on success.
http_checks() {
  python3 - "$1" <<'EOF'
import json
import sys
import urllib.request

base = sys.argv[1]


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, json.loads(resp.read() or b"null")


status, models = call("GET", "/v1/models")
model = models["models"][0]
print("GET /v1/models ->", status, model["name"], model["version"], model["execution_provider"])
sentence = "In the beginning God created the heaven and the earth."
status, out = call("POST", "/v1/translate", {"text": sentence})
assert status == 200, status
first = out["translations"][0]
assert first["text"].strip(), out
assert first["alignment"], out
print("POST /v1/translate ->", status, repr(first["text"]))
status, stored = call("GET", f"/v1/translations/{first['id']}")
assert status == 200, status
assert stored["id"] == first["id"] and stored["text"] == first["text"], stored
assert stored["alignment"], stored
print(f"GET /v1/translations/{first['id']} ->", status, json.dumps(stored)[:200])
EOF
}

wait_ready() {
  local url=$1 deadline=$((SECONDS + READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    if python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)" "$url" 2>/dev/null; then
      return 0
    fi
    [[ $(podman_ inspect --format '{{.State.Running}}' "$CONTAINER" 2>/dev/null) == true ]] \
      || die "the container exited before it was ready"
    sleep 2
  done
  die "not ready after ${READY_TIMEOUT}s: $url"
}

main() {
  ensure_tools
  mkdir -p "$CACHE"
  local t0=$SECONDS
  build_debian_base
  if [[ $BASE == "$PYTHON_BASE" ]]; then build_python_base; fi
  log "base images ready in $((SECONDS - t0))s"
  build_project_image
  local size_bytes
  size_bytes=$(podman_ image inspect --format '{{.Size}}' "$IMAGE")
  log "built $IMAGE in ${BUILD_SECONDS}s; size $((size_bytes / 1000000)) MB ($size_bytes bytes)"
  if ((BUILD_ONLY)); then
    echo "BUILT build_seconds=$BUILD_SECONDS image_bytes=$size_bytes image=$IMAGE"
    return
  fi

  trap cleanup EXIT
  local port
  port=$(free_port)
  CONTAINER=nmt-smoke-$$
  log "starting $CONTAINER on 127.0.0.1:$port"
  # --health-interval disable: no systemd here to run the HEALTHCHECK on a timer; it is
  # run once by hand below.
  podman_ run -d --name "$CONTAINER" \
    --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --health-interval disable \
    -p "127.0.0.1:$port:8000" "$IMAGE" >/dev/null 2>"$CACHE/podman-run.log" \
    || { cat "$CACHE/podman-run.log" >&2; die "podman run failed"; }
  local t_start=$SECONDS
  wait_ready "http://127.0.0.1:$port/health/ready"
  log "ready after $((SECONDS - t_start))s"
  if ! podman_ healthcheck run "$CONTAINER" >/dev/null 2>>"$CACHE/podman.log"; then
    die "the image's HEALTHCHECK failed (podman healthcheck run)"
  fi
  log "the image's HEALTHCHECK passes"
  http_checks "http://127.0.0.1:$port"

  # Graceful shutdown: SIGTERM (the image's STOPSIGNAL) must end the server cleanly.
  podman_ stop -t 30 "$CONTAINER" >/dev/null 2>>"$CACHE/podman.log"
  local exit_code
  exit_code=$(podman_ inspect --format '{{.State.ExitCode}}' "$CONTAINER")
  [[ $exit_code == 0 ]] || die "the server exited with $exit_code on SIGTERM"
  log "stopped cleanly on SIGTERM (exit code 0)"
  echo "PASS build_seconds=$BUILD_SECONDS image_bytes=$size_bytes image=$IMAGE"
}

main
