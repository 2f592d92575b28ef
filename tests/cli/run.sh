#!/usr/bin/env bash
# run.sh BIN - the command line as a user meets it: options, exit statuses,
# messages, sinks, filters, stdin, truncated and foreign files, bad config.
# Ends with 'cli: N passed, M failed'.
set -u
BIN=$1
CAP=pcaps/python-unary-metadata.pcap
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0

ok()   { pass=$((pass + 1)); echo "PASS $1"; }
bad()  { fail=$((fail + 1)); echo "FAIL $1: $2"; }
# expect NAME STATUS STDERR_REGEX -- command...
expect() {
    local name=$1 want=$2 re=$3; shift 4
    "$@" >"$T/out" 2>"$T/err"; local rc=$?
    if [ "$rc" -ne "$want" ]; then bad "$name" "exit $rc, want $want; stderr: $(head -c 300 "$T/err")"; return 1; fi
    if [ -n "$re" ] && ! grep -Eq "$re" "$T/err"; then bad "$name" "stderr lacks /$re/: $(head -c 300 "$T/err")"; return 1; fi
    if [ -n "$re" ] && [ "$(wc -l <"$T/err")" -gt 1 ] && [ "$want" -eq 2 ]; then bad "$name" "more than one line on stderr"; return 1; fi
    ok "$name"
}
grpc_count() { grep -c '"event_type":"grpc"' "$1" || true; }

expect version 0 "" -- "$BIN" -V && grep -q '^grpcwatch [0-9]' "$T/out" || bad "version text" "$(cat "$T/out")"
expect help 0 "" -- "$BIN" --help && grep -q -- '-r, --read' "$T/out" || bad "help text" "no -r in help"
expect unknown-option 2 "unknown option '--bogus'" -- "$BIN" --bogus
expect missing-argument 2 "needs an argument" -- "$BIN" -r
expect no-input 2 "exactly one of -r FILE or -i IFACE" -- "$BIN"
expect unreadable-file 2 "no-such-file.pcap" -- "$BIN" -r "$T/no-such-file.pcap"
printf 'this is not a capture, just text\n' >"$T/text.pcap"
expect not-a-capture 2 "not a readable pcap" -- "$BIN" -r "$T/text.pcap"
expect bad-filter 2 "bad filter" -- "$BIN" -r "$CAP" -f 'tcp port'
expect bad-output 2 "unknown output" -- "$BIN" -r "$CAP" -o 'xml:/tmp/x'
printf 'flow:\n  max-flows: banana\n' >"$T/bad.yaml"
expect bad-config 2 "bad.yaml:2:" -- "$BIN" -r "$CAP" -c "$T/bad.yaml"
expect good-config 0 "" -- "$BIN" -r "$CAP" -c conf/grpcwatch.yaml

# the bundled capture: records, and nothing on stderr
expect read-file 0 "" -- "$BIN" -r "$CAP"
n_file=$(grpc_count "$T/out")
[ "$n_file" -ge 1 ] && ok "records from file ($n_file grpc)" || bad "records from file" "none"
[ ! -s "$T/err" ] && ok "quiet stderr" || bad "quiet stderr" "$(head -c 300 "$T/err")"

# stdin gives the same records
"$BIN" -r - <"$CAP" >"$T/stdin.out" 2>/dev/null
[ "$(grpc_count "$T/stdin.out")" -eq "$n_file" ] && ok "stdin" || bad "stdin" "$(grpc_count "$T/stdin.out") vs $n_file"

# json:PATH appends
"$BIN" -r "$CAP" -o "json:$T/eve.json" && "$BIN" -r "$CAP" -o "json:$T/eve.json"
[ "$(grpc_count "$T/eve.json")" -eq $((2 * n_file)) ] && ok "json:PATH appends" || bad "json:PATH appends" "$(grpc_count "$T/eve.json")"

# a filter that excludes the traffic leaves no calls; one that matches keeps them
"$BIN" -r "$CAP" -f 'tcp port 1' >"$T/f1" 2>&1
[ "$(grpc_count "$T/f1")" -eq 0 ] && ok "filter excludes" || bad "filter excludes" "$(grpc_count "$T/f1")"
"$BIN" -r "$CAP" -f 'tcp' >"$T/f2" 2>&1
[ "$(grpc_count "$T/f2")" -eq "$n_file" ] && ok "filter keeps" || bad "filter keeps" "$(grpc_count "$T/f2")"

# a truncated capture: what came before the fault is written, then exit 1
size=$(stat -c %s "$CAP")
head -c $((size - 7)) "$CAP" >"$T/trunc.pcap"
expect truncated 1 "truncated" -- "$BIN" -r "$T/trunc.pcap"
[ "$(grpc_count "$T/out")" -ge 1 ] && ok "records before the fault" || bad "records before the fault" "none"

# a lost segment: the calls are still written, and the records say what was lost
/usr/bin/python3 tests/cli/drop_packet.py pcaps/python-many-calls.pcap "$T/lost.pcap" 61
"$BIN" -r "$T/lost.pcap" >"$T/lost.json" 2>&1
if [ "$(grpc_count "$T/lost.json")" -eq 28 ] &&
   grep '"event_type":"grpc"' "$T/lost.json" | grep -Eq '"loss":\{"gap_bytes_to_server":0,"gap_bytes_to_client":32768,"gaps_to_server":0,"gaps_to_client":1,"decoding_stopped":\[("to_client")?\],"decoding_resynced":\[("to_client")?\]\}' &&
   grep '"event_type":"grpc"' "$T/lost.json" | grep -q '"to_client"' &&
   grep -q '"event":"gap"' "$T/lost.json"; then
    ok "lost segment reported"
else
    bad "lost segment reported" "$(grpc_count "$T/lost.json") calls; $(grep -o '"loss":{[^}]*}' "$T/lost.json" | head -1)"
fi
grep '"event_type":"grpc"' "$T/lost.json" | grep -v '"loss"' | grep -q '"response_messages":1' && ok "calls before the loss intact" || bad "calls before the loss intact" "none"

# an empty file and a header-only capture
: >"$T/empty.pcap"
expect empty-file 2 "not a readable pcap" -- "$BIN" -r "$T/empty.pcap"
head -c 24 "$CAP" >"$T/header-only.pcap"
expect header-only 0 "" -- "$BIN" -r "$T/header-only.pcap"

# SIGTERM on a live-like reader (a fifo that never ends) still flushes and exits 0
mkfifo "$T/fifo"
( cat "$CAP"; exec sleep 30 ) >"$T/fifo" &
feeder=$!
"$BIN" -r "$T/fifo" -o "json:$T/sig.json" 2>"$T/sig.err" &
gw=$!
sleep 1; kill -TERM "$gw"
# the reader is blocked in read(); closing the writer lets it see the signal
kill "$feeder" 2>/dev/null; wait "$feeder" 2>/dev/null
wait "$gw"; rc=$?
if [ "$rc" -le 1 ] && [ "$(grpc_count "$T/sig.json")" -eq "$n_file" ]; then ok "flush on SIGTERM"; else bad "flush on SIGTERM" "rc $rc, $(grpc_count "$T/sig.json") records"; fi

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
