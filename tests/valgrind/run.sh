#!/usr/bin/env bash
# run.sh BIN - valgrind memcheck over the sensor and some unit tests:
#   - BIN on every capture in pcaps/ (*.pcap, *.pcapng; subdirectories too,
#     unless VALGRIND_TOP_ONLY=1), each expected to exit 0;
#   - five unit test executables (UNITS below: the stages that parse
#     hostile bytes: decode, reasm, h2, grpc, tls), taken from
#     $(dirname BIN)/tests/, with CK_FORK=no so that the tests run inside
#     the process valgrind watches (forked children would escape it).
# Any memcheck error (invalid read/write, uninitialised value used in a
# branch, bad free) or a definite/indirect leak fails the case. "Still
# reachable" and "possibly lost" blocks do not: libraries keep those.
# BIN must be an ordinary build (make), not SANITIZE=1: ASan and valgrind
# do not mix. Run from the repository root.
# Cases run VALGRIND_JOBS (default: the number of CPUs) at a time;
# VALGRIND_TOP_ONLY=1 takes only pcaps/*.pcap*; VALGRIND_UNITS overrides
# the unit test list. Ends with 'valgrind: N passed, M failed'.
set -u
BIN=$1
UNITS=${VALGRIND_UNITS:-"test_decode test_reasm test_h2 test_grpc test_tls"}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

if ! command -v valgrind >/dev/null; then
    [ "$(id -u)" = 0 ] && apt-get install -y -q valgrind >/dev/null 2>&1
fi
if ! command -v valgrind >/dev/null; then
    echo "FAIL valgrind: not installed (apt-get install valgrind)"
    echo "valgrind: 0 passed, 1 failed"
    exit 1
fi
if [ ! -x "$BIN" ] || nm -D "$BIN" 2>/dev/null | grep -q __asan_init ||
    ldd "$BIN" 2>/dev/null | grep -q libasan; then
    echo "FAIL setup: $BIN is missing or built with sanitizers (use an ordinary build)"
    echo "valgrind: 0 passed, 1 failed"
    exit 1
fi

VG=(valgrind --tool=memcheck --error-exitcode=1 --leak-check=full
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
    --track-origins=yes --num-callers=20 --quiet)

# memcheck ID NAME -- COMMAND...: one case, run in the background; its
# verdict goes to $T/ID.res (the case passes when COMMAND exits 0 and
# valgrind logged nothing), its valgrind log to $T/ID.log
memcheck() {
    local id=$1 name=$2 rc
    shift 3
    "${VG[@]}" --log-file="$T/$id.log" "$@" >/dev/null 2>"$T/$id.err"
    rc=$?
    if [ "$rc" -eq 0 ] && [ ! -s "$T/$id.log" ]; then echo "PASS $name" >"$T/$id.res"; return; fi
    local why="exit $rc"
    grep -q 'ERROR SUMMARY: [1-9]' "$T/$id.log" 2>/dev/null &&
        why="$why, $(grep -o 'ERROR SUMMARY: [0-9]* errors' "$T/$id.log" | tail -1)"
    {
        echo "FAIL $name: $why"
        if [ -s "$T/$id.log" ]; then sed 's/^/    /' "$T/$id.log" | head -60
        else sed 's/^/    /' "$T/$id.err" | head -10; fi
    } >"$T/$id.res"
}

JOBS=${VALGRIND_JOBS:-$(nproc 2>/dev/null || echo 2)}
throttle() { while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done; }

start=$SECONDS
if [ "${VALGRIND_TOP_ONLY:-0}" = 1 ]; then
    caps=$(ls pcaps/*.pcap pcaps/*.pcapng 2>/dev/null)
else
    caps=$(find pcaps -name '*.pcap' -o -name '*.pcapng' | sort)
fi
n=0
for cap in $caps; do
    n=$((n + 1)); throttle
    memcheck "$n" "$cap" -- "$BIN" -r "$cap" &
done

units_dir=$(dirname "$BIN")/tests
for u in $UNITS; do
    n=$((n + 1))
    if [ ! -x "$units_dir/$u" ]; then echo "FAIL $u: no $units_dir/$u (make unit)" >"$T/$n.res"; continue; fi
    throttle
    # a unit test that fails without a memcheck error fails the case too
    CK_FORK=no memcheck "$n" "$u" -- "$units_dir/$u" &
done
wait

for i in $(seq "$n"); do
    cat "$T/$i.res" 2>/dev/null || echo "FAIL case $i: no result"
done | tee "$T/results"
pass=$(grep -c '^PASS ' "$T/results")
fail=$(grep -c '^FAIL ' "$T/results")
echo "# $n cases in $((SECONDS - start)) s ($JOBS at a time)"
echo "valgrind: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
