#!/usr/bin/env bash
# Lint gate, run by scripts/test.sh before the tests (so CI fails on it): ruff on the whole tree, and
# mypy --strict on every module under kb/.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${VIRTUAL_ENV:-}" ] || . .venv/bin/activate
ruff check .
mypy --strict kb
