#!/bin/sh
# tests/fuzz/run.sh - runs one libFuzzer target for a time budget.
#
#   run.sh BINARY SECONDS WORKDIR [MAXLEN [DICT]]
#
# Seeds come from tests/fuzz/corpus/<target>/ (read only); new corpus
# entries go to WORKDIR/corpus/<target>/ and crashing inputs to
# WORKDIR/crashes/<target>/, so the repository is never written. Exits
# non-zero if the target crashed (or leaked, timed out, ran out of memory).
set -u
# UBSan findings abort (-fno-sanitize-recover); with a stack trace, please.
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export UBSAN_OPTIONS

bin=$1
seconds=$2
work=$3
maxlen=${4:-4096}
dict=${5:-}
here=$(dirname "$0")
t=$(basename "$bin")

mkdir -p "$work/corpus/$t" "$work/crashes/$t" || exit 2
seeds=""
[ -d "$here/corpus/$t" ] && seeds="$here/corpus/$t"
dictopt=""
[ -n "$dict" ] && [ -f "$dict" ] && dictopt="-dict=$dict"

echo "fuzz: $t for ${seconds}s (max_len $maxlen)"
# shellcheck disable=SC2086  # $seeds and $dictopt are empty or one word
"$bin" -max_total_time="$seconds" -max_len="$maxlen" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/crashes/$t/" $dictopt \
    "$work/corpus/$t" $seeds >"$work/$t.log" 2>&1
rc=$?
grep -E '^stat::number_of_executed_units|^stat::average_exec_per_sec|^stat::peak_rss_mb' "$work/$t.log" |
    sed "s/^/fuzz: $t: /"
if [ $rc -ne 0 ]; then
    echo "fuzz: $t FAILED (exit $rc); log $work/$t.log; input(s):"
    ls "$work/crashes/$t/" | sed "s|^|    $work/crashes/$t/|"
    grep -E 'ERROR: |invariant failed|runtime error' "$work/$t.log" | head -3 | sed 's/^/    /'
fi
exit $rc
