#!/usr/bin/env bash
# Shared by scripts/run and scripts/test: make .venv with the locked dependencies.
# Re-installs only when pyproject.toml or requirements-lock.txt changed. Says what it does on
# stderr; pip's own output (progress, build warnings) goes to .venv/pip-install.log and is shown
# only when the install fails.
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
log=".venv/pip-install.log"
fail() {
  echo "Setting up .venv failed: $1. pip said (last lines; the whole log is $log):" >&2
  tail -n 30 "$log" >&2 || true
  exit 1
}
first=""
if [ ! -x .venv/bin/python ]; then
  py=$(pick_python)
  echo "Setting up .venv (first run, about a minute)..." >&2
  first=1
  "$py" -m venv .venv
fi
stamp=".venv/.caseroom-installed${extra:+-$extra}"
want=$(cat pyproject.toml requirements-lock.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  if [ -z "$first" ]; then
    if [ -f "$stamp" ]; then
      echo "Updating .venv (pyproject.toml or requirements-lock.txt changed)..." >&2
    else
      echo "Installing Caseroom${extra:+ with its $extra tools} into .venv (about a minute)..." >&2
    fi
  fi
  : > "$log"
  .venv/bin/python -m pip install --disable-pip-version-check --upgrade pip >>"$log" 2>&1 \
    || fail "upgrading pip"
  target="."
  [ -n "$extra" ] && target=".[$extra]"
  .venv/bin/python -m pip install --disable-pip-version-check -c requirements-lock.txt -e "$target" \
    >>"$log" 2>&1 || fail "installing the locked dependencies"
  echo "$want" > "$stamp"
  echo ".venv is ready." >&2
fi
