#!/usr/bin/env bash
# run-suite.sh UNIT_BIN... - runs every unit test executable, then the capture
# tests and the command-line tests, and ends with one line 'N passed, N failed'
# (Check's per-file lines come first). Exit status 1 if anything failed.
set -u
BUILD=${BUILD:-build}
export SHARED=${SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/../shared}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
passed=0 failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for t in "$@"; do
    echo "== $t"
    "$t" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    # Check: "100%: Checks: 12, Failures: 0, Errors: 0"
    line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$log" | tail -1)
    if [ -n "$line" ]; then
        n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
        f=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
        e=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
        passed=$((passed + n - f - e)); failed=$((failed + f + e))
    fi
    if [ "$rc" -ne 0 ] && [ -z "$line" ]; then failed=$((failed + 1)); fi
done

count_plain() { # adds "suite: N passed, M failed" from the log
    local l
    l=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
    if [ -z "$l" ]; then failed=$((failed + 1)); return; fi
    passed=$((passed + $(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$l")))
    failed=$((failed + $(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$l")))
}

echo "== command line"
tests/cli/run.sh "$BUILD/grpcwatch" 2>&1 | tee "$log"
count_plain

echo "== captures"
"$PY" tests/pcap/check_captures.py "$BUILD/grpcwatch" 2>&1 | tee "$log"
count_plain

echo "== failing outputs"
tests/output/run.sh "$BUILD/grpcwatch" 2>&1 | tee "$log"
count_plain

echo "== attacks"
"$PY" tests/attacks/check_attacks.py "$BUILD/grpcwatch" 2>&1 | tee "$log"
count_plain

echo "== transformed captures (SPAN reality)"
"$PY" tests/transform/check_transforms.py --selftest 2>&1 | tail -3 | tee "$log"
count_plain
"$PY" tests/transform/check_transforms.py --jobs 2 "$BUILD/grpcwatch" 2>&1 | tee "$log"
count_plain

echo "== corrupt captures"
tests/corrupt/run.sh "$BUILD/grpcwatch" 2>&1 | tee "$log"
count_plain

echo "== flood"
tests/flood/run.sh "$BUILD/grpcwatch" 2>&1 | tee "$log"
count_plain

echo
echo "suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
