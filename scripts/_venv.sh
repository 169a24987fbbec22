# Sourced by scripts/demo and scripts/test: make .venv (once) and install the project into it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
stamp=".venv/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)"
# An install with the test extras has everything the base install has: ./scripts/demo after ./scripts/test is quick.
if [ ! -f "$stamp-${CINEMA_EXTRAS:-base}" ] && { [ -n "${CINEMA_EXTRAS:-}" ] || [ ! -f "$stamp-test" ]; }; then
  .venv/bin/python -m pip install --quiet -e ".${CINEMA_EXTRAS:+[$CINEMA_EXTRAS]}"
  touch "$stamp-${CINEMA_EXTRAS:-base}"
fi
export PATH="$ROOT/.venv/bin:$PATH"
