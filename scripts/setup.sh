#!/usr/bin/env bash
# Installs everything the project needs into .venv; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# mysqlclient (the MySQL provider's driver) builds from source and needs the client headers.
if ! pkg-config --exists mysqlclient 2>/dev/null && ! pkg-config --exists libmariadb 2>/dev/null; then
  echo "Installing MySQL client headers (needed to build mysqlclient)..."
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq default-libmysqlclient-dev pkg-config >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
