#!/usr/bin/env bash
# run.sh - static analysis of src/*.c with the committed configuration:
#   cppcheck 2.10: --enable=warning,portability,performance --inconclusive,
#                  POSIX library knowledge, tests/static/cppcheck-suppressions.txt
#                  and inline "cppcheck-suppress" comments;
#   clang-tidy 14: the checks in the repository's .clang-tidy (every warning
#                  is an error there).
# Any finding fails. One check per tool and source file; ends with
# 'static: N passed, M failed'. Run from anywhere; installs the two tools
# with apt-get when they are missing and we are root.
#
# Why cppcheck's "style" group is off: on this tree it reports only
# knownConditionTrueFalse on GW_MIN (it misreads `k < n` after
# k = GW_MIN(n, cap - 1) as always false) and variableScope (taste).
set -u
cd "$(dirname "$0")/../.."
CSTD="-std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L"
CPPCHECK_STD="--std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L"
JOBS=$(nproc 2>/dev/null || echo 2)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0

find_tidy() { command -v clang-tidy-14 || command -v clang-tidy; }
if ! command -v cppcheck >/dev/null || [ -z "$(find_tidy)" ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get install -y -q cppcheck clang-tidy >/dev/null 2>&1 ||
            { apt-get update -q >/dev/null 2>&1; apt-get install -y -q cppcheck clang-tidy >/dev/null 2>&1; }
    fi
fi
CPPCHECK=$(command -v cppcheck)
TIDY=$(find_tidy)
if [ -z "$CPPCHECK" ] || [ -z "$TIDY" ]; then
    echo "FAIL tools: need cppcheck and clang-tidy (apt-get install cppcheck clang-tidy)"
    echo "static: 0 passed, 1 failed"
    exit 1
fi
echo "# $("$CPPCHECK" --version), $("$TIDY" --version | grep -o 'LLVM version [0-9.]*')"

SRCS=(src/*.c)
PKG_CFLAGS=$(pkg-config --cflags libpcap libnghttp2 yaml-0.1 libcrypto 2>/dev/null)

report() { # report TOOL FILE LOG RC
    if [ "$4" -eq 0 ]; then
        pass=$((pass + 1)); echo "PASS $1 $2"
    else
        fail=$((fail + 1)); echo "FAIL $1 $2"
        grep -E ': (warning|error|style|performance|portability|information):' "$3" | sed 's/^/    /'
        grep -qE ': (warning|error|style|performance|portability|information):' "$3" ||
            sed 's/^/    /' "$3" | head -20
    fi
}

for f in "${SRCS[@]}"; do
    log=$T/cppcheck.$(basename "$f").log
    # shellcheck disable=SC2086
    "$CPPCHECK" --enable=warning,portability,performance --inconclusive --library=posix \
        $CPPCHECK_STD -Iinclude --inline-suppr --suppressions-list=tests/static/cppcheck-suppressions.txt \
        --error-exitcode=1 --quiet --template='{file}:{line}: {severity}:{id}: {message}' \
        "$f" >"$log" 2>&1
    report cppcheck "$f" "$log" $?
done

# clang-tidy is slow (seconds per file): run the files in parallel
export TIDY CSTD PKG_CFLAGS T
printf '%s\n' "${SRCS[@]}" | xargs -P "$JOBS" -I{} bash -c '
    f={}; log=$T/tidy.$(basename "$f").log
    # shellcheck disable=SC2086
    "$TIDY" --quiet "$f" -- $CSTD -Iinclude $PKG_CFLAGS >"$log" 2>&1
    echo $? >"$log.rc"'
for f in "${SRCS[@]}"; do
    log=$T/tidy.$(basename "$f").log
    report clang-tidy "$f" "$log" "$(cat "$log.rc" 2>/dev/null || echo 1)"
done

echo "static: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
