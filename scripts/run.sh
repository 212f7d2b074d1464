#!/usr/bin/env bash
# The one command a newcomer runs: set up, build the index if needed, serve the app on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
kb build
exec python app.py "$@"
