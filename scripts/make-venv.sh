#!/usr/bin/env bash
# Creates the project's virtual environment: make-venv.sh PYTHON VENV.
# Debian and Ubuntu refuse `pip install` into their own Python (PEP 668) and ship `venv`
# without ensurepip unless python3-venv is installed: install it when root, else say how.
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}
if ! command -v "$python" >/dev/null; then
  echo "error: $python not found; install Python 3.11 or newer, or run make PYTHON=/path/to/python3" >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: $python is Python $("$python" -c 'import platform; print(platform.python_version())'); 3.11 or newer is needed (make PYTHON=python3.11 ...)" >&2
  exit 1
fi
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  package="python$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')-venv"
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "installing $package (Debian's python needs it for python -m venv)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || true
    apt-get install -y -qq "$package" >/dev/null
  else
    echo "error: $python cannot create virtual environments (no ensurepip)." >&2
    echo "On Debian or Ubuntu run: sudo apt-get install $package" >&2
    exit 1
  fi
fi
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
