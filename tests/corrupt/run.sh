#!/usr/bin/env bash
# run.sh BIN - corrupt and unusual captures, made at test time by gen.py from
# pcaps/python-unary-metadata.pcap (2 gRPC calls), against the documented exit
# statuses (README.md, man/grpcwatch.8 EXIT STATUS):
#   0 read to the end; 1 truncated/corrupt part-way, everything before the
#   fault processed and one clear line on stderr; 2 not a capture.
# Per case (tests/corrupt/gen.py says how each expectation is derived): exit
# status, stderr, the number of grpc records and of completed calls, the
# records against validate-records, and where asked the stats record's
# decoder.snapped and grpc records equal to the source's (flow_id aside).
# Ends with 'corrupt: N passed, M failed'.
set -u
BIN=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SRC=$ROOT/pcaps/python-unary-metadata.pcap
SHARED=${SHARED:-$ROOT/../shared}
VALIDATE=$SHARED/tools/validate-records
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0

ok()  { pass=$((pass + 1)); echo "PASS $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1: $2"; }

grpc_records() { grep '"event_type":"grpc"' "$1" | sed -E 's/"flow_id":[0-9]+,//'; }
count() { grep -c "$1" "$2" || true; }

if ! "$PY" "$ROOT/tests/corrupt/gen.py" "$SRC" "$T" >"$T/gen.err" 2>&1; then
    bad generator "$(head -c 300 "$T/gen.err")"
    echo "corrupt: $pass passed, $fail failed"
    exit 1
fi
[ -x "$VALIDATE" ] || bad validate-records "not found at $VALIDATE (set SHARED)"

"$BIN" -r "$SRC" >"$T/source.out" 2>/dev/null
grpc_records "$T/source.out" >"$T/source.grpc"

run_case() {
    local name=$1 file=$2 mode=$3 filt=$4 want=$5 grpc=$6 done=$7 snapped=$8 same=$9 text=${10}
    local args=(-r "$file") rc problems=()
    [ "$mode" = stdin ] && args=(-r -)
    [ "$filt" != - ] && args+=(-f "$filt")
    if [ "$mode" = stdin ]; then
        "$BIN" "${args[@]}" <"$file" >"$T/out" 2>"$T/err"; rc=$?
    else
        "$BIN" "${args[@]}" >"$T/out" 2>"$T/err"; rc=$?
    fi
    [ "$rc" -eq "$want" ] || problems+=("exit $rc, want $want")
    local lines
    lines=$(wc -l <"$T/err")
    if [ "$want" -eq 0 ]; then
        [ "$lines" -eq 0 ] || problems+=("stderr not empty")
    else
        [ "$lines" -eq 1 ] || problems+=("$lines lines on stderr, want 1")
        grep -qF -- "$text" "$T/err" || problems+=("stderr lacks '$text'")
    fi
    local n c
    n=$(count '"event_type":"grpc"' "$T/out")
    c=$(grep '"event_type":"grpc"' "$T/out" | count '"ended_by":"end_stream"' -)
    [ "$n" -eq "$grpc" ] || problems+=("$n grpc records, want $grpc")
    [ "$c" -eq "$done" ] || problems+=("$c completed calls, want $done")
    if [ -x "$VALIDATE" ] && [ -s "$T/out" ] && ! "$VALIDATE" "$T/out" >"$T/val" 2>&1; then
        problems+=("validate-records: $(head -c 200 "$T/val")")
    fi
    if [ "$snapped" != - ]; then
        local s
        s=$(grep -o '"snapped":[0-9]*' "$T/out" | tail -1 | cut -d: -f2)
        [ "${s:-none}" = "$snapped" ] || problems+=("snapped ${s:-none}, want $snapped")
    fi
    if [ "$same" -eq 1 ] && ! cmp -s <(grpc_records "$T/out") "$T/source.grpc"; then
        problems+=("grpc records differ from the source's")
    fi
    if [ "${#problems[@]}" -eq 0 ]; then
        ok "$name"
    else
        local IFS=';'
        bad "$name" "${problems[*]}; stderr: $(head -c 200 "$T/err")"
    fi
}

[ "$(count '"event_type":"grpc"' "$T/source.out")" -eq 2 ] && ok "source: 2 calls" ||
    bad "source: 2 calls" "$(count '"event_type":"grpc"' "$T/source.out") grpc records"

while IFS=$'\t' read -r name file mode filt want grpc done snapped same text; do
    run_case "$name" "$file" "$mode" "$filt" "$want" "$grpc" "$done" "$snapped" "$same" "$text"
done <"$T/cases.tsv"

echo "corrupt: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
