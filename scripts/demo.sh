#!/usr/bin/env bash
# The whole thing on one machine with no set-up: embedded broker, ingest, alerts, API and web pages,
# SQLite, simulated homes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/tecwatch demo "$@"
