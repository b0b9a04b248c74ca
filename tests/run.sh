#!/usr/bin/env bash
# The test suite: pytest on SQLite, or on PostgreSQL when TEST_DATABASE_URL is set.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-output
exec .venv/bin/python -m pytest -q -p no:cacheprovider tests "$@"
