#!/usr/bin/env bash
# The one command that runs the whole test suite on a fresh machine (CI runs exactly this).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Debian packages the tests drive: chromium (browser tests), espeak-ng and sox (spoken answers for the voice tests).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v sox >/dev/null 2>&1 || missing+=(sox)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian ${missing[*]} for the tests..."
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq "${missing[@]}") >/dev/null
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
. .venv/bin/activate
bash scripts/lint.sh  # ruff and mypy: CI fails on a lint or type error before any test runs
exec python -m pytest "$@"
