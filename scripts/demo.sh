#!/usr/bin/env bash
# The demo: installs the project, then syncs 100,000 synthetic contacts from an SQLite warehouse into
# the sandbox of Mailtrap, Notifuse, SendGrid Marketing and Migma with the contacts_demo DAG, and
# prints each provider's reconciliation. Options go to scripts/run_demo.py (--rows, --bad-every, --job-delay).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/run_demo.py "$@"
