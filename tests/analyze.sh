#!/usr/bin/env bash
# analyze.sh - the slow checks: static analysis (cppcheck, clang-tidy),
# valgrind memcheck over every capture and some unit tests, and the fuzz
# targets (every corpus and crash input replayed, then a short fuzz run per
# target). Ends with 'analyze: N passed, M failed'.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
passed=0 failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

stage() { # NAME COMMAND... : runs it, adds its 'word: N passed, M failed' line
    local name=$1; shift
    echo "== $name"
    "$@" 2>&1 | tee "$log"
    local l
    l=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
    if [ -z "$l" ]; then
        echo "FAIL $name: no summary line"; failed=$((failed + 1)); return
    fi
    passed=$((passed + $(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$l")))
    failed=$((failed + $(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$l")))
}

stage static tests/static/run.sh
stage valgrind tests/valgrind/run.sh "$BUILD/grpcwatch"
if [ -f tests/fuzz/fuzz.mk ]; then
    stage fuzz-replay make --no-print-directory fuzz-replay
    stage fuzz-smoke make --no-print-directory fuzz-smoke
fi

echo
echo "analyze: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
