#!/usr/bin/env bash
# The time-sensitive tests again, with the clock of every process they start (tecwatch, mosquitto,
# not influxd, a Go binary, nor the PostgreSQL server already running) moved by libfaketime to
# instants where days, clocks and calendars turn over. A test whose outcome depends on when it
# runs fails here. Several instants run at once; each prints when it starts and how it ended,
# and the script fails if any instant failed.
#   scripts/timecheck.sh          # every instant
#   scripts/timecheck.sh -x -v    # extra arguments go to each pytest
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --services
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "PostgreSQL is not running on 127.0.0.1:5432 (scripts/test.sh starts it)" >&2
  exit 1
fi
lib=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -1)
[[ -n $lib ]] || { echo "libfaketime is missing (apt-get install faketime)" >&2; exit 1; }

# Europe/London wall time, and the instant it is (UTC).
INSTANTS=(
  "2026-12-03 00:05 GMT|2026-12-03T00:05:00Z"
  "2026-12-03 23:55 GMT|2026-12-03T23:55:00Z"
  # 28 March 2027: at 01:00 GMT the clocks go forward to 02:00 BST. 01:30 does not exist that
  # night; read as GMT it is 02:30 BST (01:30 UTC), the instant of the 02:30 run, so it runs once.
  "2027-03-28 00:30 GMT|2027-03-28T00:30:00Z"
  "2027-03-28 02:30 BST|2027-03-28T01:30:00Z"
  # 31 October 2027: at 02:00 BST the clocks go back to 01:00 GMT, so 01:30 happens twice.
  "2027-10-31 00:30 BST|2027-10-30T23:30:00Z"
  "2027-10-31 01:30 BST|2027-10-31T00:30:00Z"
  "2027-10-31 01:30 GMT|2027-10-31T01:30:00Z"
  "2027-10-31 02:30 GMT|2027-10-31T02:30:00Z"
  "2026-12-31 23:59 GMT|2026-12-31T23:59:00Z"
  "2028-02-29 12:00 GMT|2028-02-29T12:00:00Z"
)
# At every instant: the tests that read the clock (the demo, reports for "today", the alerts
# command) and the other time-sensitive ones, on SQLite: the PostgreSQL server's clock is not
# faked, and nothing relies on it (no server-side now() or defaults), so its variants run once.
TESTS=(
  tests/test_scheduler.py
  tests/test_cli.py::test_demo_runs_everything_and_serves_the_pages
  tests/test_family_status.py
  tests/test_api_reports.py
  tests/test_reporting.py
  tests/test_store_contract.py::test_retention_deletes_what_is_older_than_the_cutoff
)
EVERY=(tests/test_patterns.py::test_defaults_without_history tests/test_patterns.py::test_signals_ignore_check_ins
       -k "not postgresql")
# Once, at the repeated hour of October (started first, being the longest): the PostgreSQL
# variants, and the rest of the pattern rules: their fixture replays 24 homes over fixed dates in
# 2025 through code that reads no clock, and costs 20 s of CPU each time.
ONCE_AT="2027-10-31 01:30 GMT"
ONCE=(tests/test_patterns.py)
# The demo, shorter than in the main suite: the pendant is still pressed 10 s in.
PYTEST_ARGS=(-q -p no:cacheprovider --demo-seconds 20)
# Three at once: the demo spends most of its run waiting, and two would leave a core idle then.
JOBS=${TIMECHECK_JOBS:-3}

work=$(mktemp -d /tmp/tecwatch-timecheck.XXXXXX)
trap 'rm -rf "$work"' EXIT

run_instant() {  # index: runs one instant, leaves its log and "status passed failed" in $work
  local n=$1 label=${INSTANTS[$1]%%|*} utc=${INSTANTS[$1]#*|} tests=("${TESTS[@]}" "${EVERY[@]}") also=""
  if [[ $label == "$ONCE_AT" ]]; then
    tests=("${TESTS[@]}" "${ONCE[@]}") also=" (with the PostgreSQL variants and ${ONCE[*]})"
  fi
  local offset=$(( $(date -ud "$utc" +%s) - $(date +%s) )) started=$SECONDS status=0
  echo "-- $label ($utc): starting$also"
  # The clock runs on from the instant, the same in every process of the run (an offset from the
  # real time). Left real: the monotonic clock (timeouts and waits), and file times (the .pyc
  # files stay valid). FORCE_MONOTONIC_FIX=0: with it on, libfaketime stalls CPython's GIL hand-over
  # (pthread_cond_timedwait), and threaded processes such as the demo run several times slower.
  env TZ=Europe/London LD_PRELOAD="$lib" FAKETIME="$(printf '%+d' "$offset")" FAKETIME_DONT_FAKE_MONOTONIC=1 \
      FAKETIME_FORCE_MONOTONIC_FIX=0 NO_FAKE_STAT=1 PYTHONPATH="$PWD/scripts/faketime${PYTHONPATH:+:$PYTHONPATH}" \
      .venv/bin/python -m pytest "${PYTEST_ARGS[@]}" --basetemp="$work/tmp-$n" "${tests[@]}" "${@:2}" \
      >"$work/$n.log" 2>&1 || status=$?
  local summary count passed=0 failed=0
  summary=$(tail -n 1 "$work/$n.log")
  for count in $(grep -oE '[0-9]+ passed' <<<"$summary" | cut -d' ' -f1); do passed=$(( passed + count )); done
  for count in $(grep -oE '[0-9]+ (failed|errors?)' <<<"$summary" | cut -d' ' -f1); do failed=$(( failed + count )); done
  (( status == 0 || failed > 0 )) || failed=1  # it ended without saying what failed
  echo "$status $passed $failed" >"$work/$n.status"
  if (( status == 0 )); then
    echo "== $label ($utc): passed in $(( SECONDS - started )) s: $summary"
  else
    echo "== $label ($utc): FAILED (pytest exit $status) in $(( SECONDS - started )) s"
    sed -n '/short test summary info/,$p' "$work/$n.log" | head -n 40
    echo "   (the last lines of its output:)"
    tail -n 60 "$work/$n.log" | sed 's/^/   | /'
  fi
  rm -rf "$work/tmp-$n"
}

started=$SECONDS
echo "Time-sensitive tests at ${#INSTANTS[@]} instants, $JOBS at once (TZ=Europe/London, libfaketime)"
order=()
for n in "${!INSTANTS[@]}"; do
  if [[ ${INSTANTS[$n]%%|*} == "$ONCE_AT" ]]; then order=("$n" "${order[@]}"); else order+=("$n"); fi
done
for n in "${order[@]}"; do
  while (( $(jobs -rp | wc -l) >= JOBS )); do wait -n || true; done
  run_instant "$n" "$@" &
done
wait

bad=0 passed=0 failed=0
for n in "${!INSTANTS[@]}"; do
  read -r status p f <"$work/$n.status" || { status=1 p=0 f=0; }
  (( status == 0 )) || { bad=$(( bad + 1 )); echo "failed at ${INSTANTS[$n]%%|*} (${INSTANTS[$n]#*|})"; }
  passed=$(( passed + p )) failed=$(( failed + f ))
done
echo "Time check: $(( ${#INSTANTS[@]} - bad )) of ${#INSTANTS[@]} instants passed in $(( SECONDS - started )) s"
echo "timecheck: $passed passed, $failed failed"
(( bad == 0 ))
