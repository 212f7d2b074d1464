#!/usr/bin/env bash
# Lint gate, run by scripts/test.sh before the tests (so CI fails on it): ruff on the whole tree, and
# mypy --strict on the modules listed in scripts/mypy-strict.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${VIRTUAL_ENV:-}" ] || . .venv/bin/activate
ruff check .
list=scripts/mypy-strict.txt
modules=$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$list")
# Sorted and unique, so a diff of the list shows exactly which modules joined.
if [ "$modules" != "$(printf '%s\n' "$modules" | LC_ALL=C sort -u)" ]; then
  echo "$list: keep the list sorted, one line per module" >&2
  exit 1
fi
for module in $modules; do
  [ -f "$module" ] || { echo "$list: $module does not exist (moved? rename it here)" >&2; exit 1; }
done
# silent: modules not yet on the list are read for their types, but their own errors are not reported here
# shellcheck disable=SC2086  # one argument per module
mypy --strict --follow-imports=silent $modules
