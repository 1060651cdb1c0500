#!/usr/bin/env bash
# Make this checkout runnable on a fresh Debian/Ubuntu machine: system packages, then a venv.
#   scripts/bootstrap.sh            # Python environment only (enough for the embedded demo)
#   scripts/bootstrap.sh --services # also mosquitto and influxd, which the tests start themselves,
#                                   # and what the tests need around them (openssl, chromium, faketime)
set -euo pipefail
cd "$(dirname "$0")/.."

want_services=0
[[ "${1:-}" == "--services" ]] && want_services=1

missing=()
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || missing+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if (( want_services )); then
  [[ -x /usr/sbin/mosquitto ]] || command -v mosquitto >/dev/null || missing+=(mosquitto)
  # A broker without shared subscriptions, which ingest must refuse to run several workers on.
  [[ -x /usr/sbin/nats-server ]] || command -v nats-server >/dev/null || missing+=(nats-server)
  [[ -x /usr/bin/influxd ]] || command -v influxd >/dev/null || missing+=(influxdb)
  command -v openssl >/dev/null || missing+=(openssl)  # test certificates for TLS
  command -v chromium >/dev/null || missing+=(chromium)  # the web pages are tested in a real browser
  command -v faketime >/dev/null || missing+=(faketime)  # scripts/timecheck.sh: tests at other instants
fi
if (( ${#missing[@]} )); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "Missing system packages: ${missing[*]}. Install them (sudo apt-get install ${missing[*]}) and re-run." >&2
    exit 1
  fi
  echo "Installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
  echo "Creating virtual environment in .venv"
  python3 -m venv .venv
fi
stamp=.venv/.tecwatch-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "Installing tecwatch and its dependencies into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
  echo "$want" > "$stamp"
fi
