#!/usr/bin/env bash
# The test suite. Tests start (and stop) their own mosquitto and influxd on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --services
exec .venv/bin/python -m pytest "$@"
