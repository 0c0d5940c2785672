#!/usr/bin/env bash
# Installs the servers the test suite starts for real (redis-server), the browser the explorer
# tests drive (chromium) and kubectl for the manifest checks, from Debian's packages, when
# they are missing and apt is usable. With PYTHON set, it also installs into that Python the
# libretranslate wheel whose own API tests run against the service (without its translation
# engine: --no-deps; its code stays out of the repository).
set -euo pipefail
LIBRETRANSLATE_VERSION=1.9.6
installed_libretranslate() {
  "$PYTHON" -c "import importlib.metadata as m, sys; sys.exit(m.version('libretranslate') != sys.argv[1])" \
    "$LIBRETRANSLATE_VERSION" 2>/dev/null
}
if [ -n "${PYTHON:-}" ] && ! installed_libretranslate; then
  "$PYTHON" -m pip install -q --no-deps "libretranslate==$LIBRETRANSLATE_VERSION" \
    || echo "could not install libretranslate; its API tests skip" >&2
fi
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
