#!/usr/bin/env bash
# run-suite.sh UNIT_BIN... - runs every unit test executable, then the capture
# tests and the command-line tests (and the rest below, ending with make
# bench-smoke's correctness checks), and ends with one line 'N passed, N failed'
# (Check's per-file lines come first). Exit status 1 if anything failed.
#
# Leak policy (tests/fuzz/README.md): every program the suites start runs
# with LeakSanitizer on and its sanitizer reports written to files
# (ASAN_OPTIONS log_path, UBSAN_OPTIONS log_path) in a directory of this
# run. After each unit test binary and each suite, every report file that
# appeared counts as one failure, whatever the exit status the runner
# expected (the corrupt suite expects 1, which is also ASan's) and whichever
# process wrote it (Check's forked children included): its first lines are
# printed with the suite's name. With a sanitizer build, a self-test first
# shows that a deliberate leak (tests/valgrind/leaker.c) is caught and
# counted that way, and that a clean program yields no report.
# UBSan: with clang its reports land in files too and are counted the same
# way; GCC's separate libubsan ignores log_path and keeps printing to stderr,
# where the capture, transform, attack and flood runners look for them, and
# -fno-sanitize-recover makes the run exit 1 (the corrupt suite then fails
# on the extra stderr lines).
set -u
BUILD=${BUILD:-build}
export SHARED=${SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/../shared}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
passed=0 failed=0
log=$(mktemp)
SAN=$(mktemp -d /tmp/grpcwatch-san.XXXXXX)
trap 'rm -f "$log"; rm -rf "$SAN"' EXIT

# Reports go to $SAN/<kind>.<program>.<pid>. Options given by the caller come
# first; ours win where they overlap (the last setting of a flag counts).
SAN_ASAN="detect_leaks=1:log_path=$SAN/asan:log_exe_name=1"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}$SAN_ASAN"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}report_objects=0"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:log_path=$SAN/ubsan:log_exe_name=1"

# san_reports DIR: the sanitizer report files in DIR, one a line
san_reports() { find "$1" -maxdepth 1 -type f \( -name 'asan.*' -o -name 'ubsan.*' \) -size +0 | sort; }

# san_collect SUITE: each report file written since the last call is one
# failure of SUITE; prints its first lines and moves it aside ($SAN/seen/)
san_collect() {
    local f n=0
    mkdir -p "$SAN/seen"
    for f in $(san_reports "$SAN"); do
        n=$((n + 1))
        echo "FAIL sanitizer report from suite '$1': $(basename "$f")"
        grep -v '^=*$' "$f" | head -14 | sed 's/^/    /'
        mv "$f" "$SAN/seen/$1.$(basename "$f")"
    done
    if [ "$n" -gt 0 ]; then
        echo "sanitizer reports in '$1': $n (each counted as a failure)"
        failed=$((failed + n))
    fi
}

count_plain() { # adds "suite: N passed, M failed" from the log
    local l
    l=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
    if [ -z "$l" ]; then failed=$((failed + 1)); return; fi
    passed=$((passed + $(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$l")))
    failed=$((failed + $(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$l")))
}

sanitized=0
if [ -x "$BUILD/grpcwatch" ] && grep -q __asan_init "$BUILD/grpcwatch" 2>/dev/null; then sanitized=1; fi

# The leak policy's self-test: tests/valgrind/leaker.c built with the
# sanitizers, run with the suite's options but its own report directory.
# 'leak 1' leaks and exits 1 on purpose (the exit status says nothing: ASan's
# is 1 too); 'check' leaks in a Check test's forked child; 'clean' must leave
# no report. Counted like a suite ('leak-selftest: N passed, M failed').
leak_selftest() {
    local d=$SAN/selftest bin=$SAN/selftest/leaker p=0 f=0 n
    mkdir -p "$d"
    # shellcheck disable=SC2046  # pkg-config prints several words
    if ! ${CC:-cc} -std=c11 -O0 -g -fsanitize=address,undefined $(pkg-config --cflags check 2>/dev/null) \
        -o "$bin" tests/valgrind/leaker.c $(pkg-config --libs check 2>/dev/null) >"$d/cc.log" 2>&1; then
        echo "FAIL leak self-test: cannot build tests/valgrind/leaker.c: $(head -c 300 "$d/cc.log")"
        echo "leak-selftest: 0 passed, 1 failed"
        return
    fi
    selftest_case() { # NAME WANT(reports: 0 or 1+) MODE...
        local name=$1 want=$2; shift 2
        rm -f "$d"/asan.* "$d"/ubsan.*
        ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$d/asan" \
            UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$d/ubsan" CK_FORK=yes \
            "$bin" "$@" >"$d/out" 2>&1
        n=$(san_reports "$d" | wc -l)
        if { [ "$want" -eq 0 ] && [ "$n" -eq 0 ]; } || { [ "$want" -gt 0 ] && [ "$n" -gt 0 ] &&
            san_reports "$d" | xargs grep -l 'LeakSanitizer: detected memory leaks' | grep -q .; }; then
            p=$((p + 1)); echo "PASS $name ($n report file(s))"
        else
            f=$((f + 1)); echo "FAIL $name: $n report file(s), want $([ "$want" -eq 0 ] && echo none || echo a leak report)"
            head -5 "$d/out" | sed 's/^/    /'
        fi
    }
    selftest_case "a leak behind an expected exit 1 is reported" 1 leak 1
    selftest_case "a leak in a Check test's forked child is reported" 1 check
    selftest_case "a clean program leaves no report" 0 clean 0
    echo "leak-selftest: $p passed, $f failed"
}

if [ "$sanitized" -eq 1 ]; then
    echo "== leak detection self-test"
    leak_selftest 2>&1 | tee "$log"
    count_plain
else
    echo "== leak detection self-test: SKIP ($BUILD/grpcwatch is not a sanitizer build; make check SANITIZE=1)"
fi

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
    san_collect "$(basename "$t")"
done

echo "== command line"
tests/cli/run.sh "$BUILD/grpcwatch" 2>&1 | tee "$log"
count_plain
san_collect cli

echo "== captures"
"$PY" tests/pcap/check_captures.py "$BUILD/grpcwatch" 2>&1 | tee "$log"
count_plain
san_collect captures

echo "== failing outputs"
tests/output/run.sh "$BUILD/grpcwatch" 2>&1 | tee "$log"
count_plain
san_collect output

echo "== attacks"
"$PY" tests/attacks/check_attacks.py "$BUILD/grpcwatch" 2>&1 | tee "$log"
count_plain
san_collect attacks

echo "== transformed captures (SPAN reality)"
"$PY" tests/transform/check_transforms.py --selftest 2>&1 | tail -3 | tee "$log"
count_plain
"$PY" tests/transform/check_transforms.py --jobs 2 "$BUILD/grpcwatch" 2>&1 | tee "$log"
count_plain
san_collect transform

echo "== corrupt captures"
tests/corrupt/run.sh "$BUILD/grpcwatch" 2>&1 | tee "$log"
count_plain
san_collect corrupt

echo "== flood"
tests/flood/run.sh "$BUILD/grpcwatch" 2>&1 | tee "$log"
count_plain
san_collect flood

# make bench at tiny sizes: the generator, floor, malloc counter, flows
# series and worst cases all run, and every capture's grpc records match its
# expected calls. Only that is counted; its timings are information.
echo "== bench smoke"
BUILD="$BUILD" "$PY" tests/bench/bench.py --smoke 2>&1 | tee "$log"
count_plain
san_collect bench-smoke
san_collect "none (written after its suite ended)"

echo
echo "suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
