#!/usr/bin/env bash
# Create (once per set of pins) the Python environment for development and CI, and make the checkout
# importable as the collection oneport.pachyderm.
#
# The environment lives in the per-user cache, keyed by the pin files and the Python version, so a
# fresh clone reuses it; .venv in the checkout links to it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
python=${PYTHON:-python3}
cache=${ONEPORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oneport}

if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))' 2>/dev/null; then
  echo "[setup] $python is missing or older than 3.11; set PYTHON=/path/to/python3.11+" >&2
  exit 2
fi

key=$( { cat requirements.txt requirements-dev.txt constraints.txt; "$python" -VV; } | sha256sum | cut -c1-16)
venv="$cache/venv/$key"
mkdir -p "$cache/venv"
(
  flock 9
  if [ ! -f "$venv/.complete" ]; then
    echo "[setup] creating Python environment $venv (first run only)"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet -r requirements-dev.txt -c constraints.txt
    "$venv/bin/python" -m pip check
    touch "$venv/.complete"
  else
    echo "[setup] Python environment: cached ($venv)"
  fi
) 9>"$cache/venv/.lock"
ln -sfn "$venv" .venv

# ansible and the tests import the checkout as ansible_collections.oneport.pachyderm.
mkdir -p .build/collections/ansible_collections/oneport
ln -sfn ../../../.. .build/collections/ansible_collections/oneport/pachyderm
