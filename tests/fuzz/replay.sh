#!/bin/sh
# tests/fuzz/replay.sh - runs every committed fuzz input once (CI).
#
#   replay.sh [BUILD_DIR [TARGET...]]     (default build-fuzz, every target)
#
# For each target, every file of tests/fuzz/corpus/<target>/ and of
# tests/fuzz/crashes/<target>/ goes through the fuzz binary once (libFuzzer
# runs file arguments once each, under ASan + UBSan + LeakSanitizer).
# Corpus files are replayed in batches; crash files one by one, so the
# report names each one that still fails. Exits 1 if any input fails,
# 2 if a binary is missing (build with: make fuzz-build).
set -u
# UBSan findings abort (-fno-sanitize-recover); with a stack trace, please.
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export UBSAN_OPTIONS

build=${1:-build-fuzz}
[ $# -gt 0 ] && shift
here=$(dirname "$0")
if [ $# -eq 0 ]; then
    set --
    for src in "$here"/fuzz_*.c; do
        t=$(basename "$src" .c)
        set -- "$@" "$t"
    done
fi

failed=0
targets_ok=0 targets_bad=0
for t in "$@"; do
    before=$failed
    failed=0
    bin="$build/$t"
    if [ ! -x "$bin" ]; then
        echo "replay: $bin missing (make fuzz-build)" >&2
        exit 2
    fi
    n=0
    if [ -d "$here/corpus/$t" ]; then
        n=$(find "$here/corpus/$t" -type f | wc -l)
        log=$(mktemp)
        if ! find "$here/corpus/$t" -type f -print0 | xargs -0 -r "$bin" -runs=1 >"$log" 2>&1; then
            echo "replay: $t: a corpus input FAILED:"
            grep -E '^Running: |ERROR: |invariant failed|runtime error|SUMMARY' "$log" | tail -8 | sed 's/^/    /'
            failed=1
        fi
        rm -f "$log"
    fi
    c=0
    bad=0
    if [ -d "$here/crashes/$t" ]; then
        for f in "$here/crashes/$t"/*; do
            [ -f "$f" ] || continue
            case $f in *.md|*.txt) continue;; esac
            c=$((c + 1))
            if ! out=$("$bin" -runs=1 "$f" 2>&1); then
                echo "replay: $t: crash input still fails: $f"
                printf '%s\n' "$out" | grep -E 'ERROR: |invariant failed|runtime error|SUMMARY' |
                    head -3 | sed 's/^/    /'
                bad=$((bad + 1))
                failed=1
            fi
        done
    fi
    echo "replay: $t: $n corpus inputs, $c crash inputs ($bad failing)"
    if [ "$failed" -eq 0 ]; then targets_ok=$((targets_ok + 1)); else targets_bad=$((targets_bad + 1)); fi
    [ "$before" -eq 1 ] && failed=1
done
echo "fuzz-replay: $targets_ok passed, $targets_bad failed"
exit $failed
