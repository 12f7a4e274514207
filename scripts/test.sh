#!/usr/bin/env bash
# Sets up the project, then runs lint, type checks and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy airflow_contacts_provider
echo "== pytest"; .venv/bin/pytest -q "$@"
