#!/usr/bin/env bash
# Shared by scripts/run and scripts/test: make .venv with the locked dependencies.
# Re-installs only when pyproject.toml or requirements-lock.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"
pick_python() {
  for p in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$p" ] || continue
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  echo "Caseroom needs Python 3.11 or newer on PATH (set PYTHON=/path/to/python3.11)." >&2
  return 1
}
if [ ! -x .venv/bin/python ]; then
  py=$(pick_python)
  "$py" -m venv .venv
fi
stamp=".venv/.caseroom-installed${extra:+-$extra}"
want=$(cat pyproject.toml requirements-lock.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
  target="."
  [ -n "$extra" ] && target=".[$extra]"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -c requirements-lock.txt -e "$target"
  echo "$want" > "$stamp"
fi
