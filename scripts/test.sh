#!/usr/bin/env bash
# The test suite. Tests start (and stop) their own mosquitto and influxd on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --services
# The registry's production database: PostgreSQL on 127.0.0.1:5432 (tests make and drop their own database).
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && command -v pg_ctlcluster >/dev/null; then
  echo "Starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
fi
exec .venv/bin/python -m pytest "$@"
