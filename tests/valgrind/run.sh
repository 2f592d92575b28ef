#!/usr/bin/env bash
# run.sh BIN - valgrind memcheck over the sensor and some unit tests:
#   - BIN on every capture in pcaps/ (*.pcap, *.pcapng; subdirectories too,
#     unless VALGRIND_TOP_ONLY=1), each expected to exit 0;
#   - five unit test executables (UNITS below: the stages that parse
#     hostile bytes: decode, reasm, h2, grpc, tls), taken from
#     $(dirname BIN)/tests/, with CK_FORK=no so that the tests run inside
#     the process valgrind watches (forked children would escape it).
# Any memcheck error (invalid read/write, uninitialised value used in a
# branch, bad free) or a definite/indirect leak fails the case: memcheck
# exits VG_ERR (99, never a status grpcwatch uses itself) and logs it.
# "Still reachable" and "possibly lost" blocks do not: libraries keep those.
# A self-test comes first: tests/valgrind/leaker.c (built here without
# sanitizers) must fail its case with a definite leak, even when the leak
# hides behind an exit status of 1, and its clean mode must pass.
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

VG_ERR=99
VG=(valgrind --tool=memcheck --error-exitcode=$VG_ERR --leak-check=full
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
    [ "$rc" -eq "$VG_ERR" ] && why="memcheck errors (exit $VG_ERR)"
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

# the self-test: a deliberate definite leak must fail, the control must pass
selftest() { # ID NAME WANT(PASS|FAIL) GREP -- COMMAND...
    local id=$1 name=$2 want=$3 re=$4
    shift 4
    memcheck "$id" "$name" "$@"
    if grep -q "^$want " "$T/$id.res" && { [ -z "$re" ] || grep -q "$re" "$T/$id.log"; }; then
        echo "PASS self-test: $name (memcheck said $want)" >"$T/$id.res"
    else
        { echo "FAIL self-test: $name: memcheck did not say $want${re:+ with '$re'}"; sed 's/^/    /' "$T/$id.res"; } >"$T/$id.res.x"
        mv "$T/$id.res.x" "$T/$id.res"
    fi
}
n=0
# shellcheck disable=SC2046  # pkg-config prints several words
if ${CC:-cc} -std=c11 -O0 -g $(pkg-config --cflags check 2>/dev/null) -o "$T/leaker" \
    tests/valgrind/leaker.c $(pkg-config --libs check 2>/dev/null) >"$T/leaker.cc" 2>&1; then
    n=$((n + 1)); selftest "$n" "a definite leak fails its case" FAIL "definitely lost" -- "$T/leaker" leak 0
    n=$((n + 1)); selftest "$n" "a definite leak behind exit 1 fails its case" FAIL "definitely lost" -- "$T/leaker" leak 1
    n=$((n + 1)); CK_FORK=no selftest "$n" "a leak in a Check test (CK_FORK=no) fails its case" FAIL "definitely lost" -- "$T/leaker" check
    n=$((n + 1)); selftest "$n" "a clean program passes" PASS "" -- "$T/leaker" clean 0
else
    n=$((n + 1)); echo "FAIL self-test: cannot build tests/valgrind/leaker.c: $(head -c 300 "$T/leaker.cc")" >"$T/$n.res"
fi
if [ "${VALGRIND_TOP_ONLY:-0}" = 1 ]; then
    caps=$(ls pcaps/*.pcap pcaps/*.pcapng 2>/dev/null)
else
    caps=$(find pcaps -name '*.pcap' -o -name '*.pcapng' | sort)
fi
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
