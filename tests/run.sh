#!/usr/bin/env bash
# The test suite: pytest on SQLite, or on PostgreSQL when TEST_DATABASE_URL is set.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-output
# The app serves the compiled catalog: compile it so tests never read a stale .mo.
.venv/bin/pybabel compile -d app/translations -D messages >/dev/null || true  # tests/test_i18n.py names any error
exec .venv/bin/python -m pytest -q -p no:cacheprovider tests "$@"
