#!/usr/bin/env bash
# Installs the servers the test suite starts for real (redis-server), the browser the explorer
# tests drive (chromium) and kubectl for the manifest checks, from Debian's packages, when
# they are missing and apt is usable.
set -euo pipefail
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v kubectl >/dev/null || missing+=(kubectl)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "not installing ${missing[*]} (needs root and apt-get); the tests that need them skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || true
for package in "${missing[@]}"; do
  apt-get install -y -qq "$package" >/dev/null || echo "could not install $package" >&2
done
