#!/usr/bin/env bash
# run.sh BIN - the command line as a user meets it: options, exit statuses,
# messages, sinks (several at once, config outputs with type filters),
# filters, stdin, truncated and foreign files, bad config, and a live capture
# on a quiet loopback that must still see signals and its clock (root).
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

# several outputs: -o json:A -o json:B write the very same records to both,
# and the same records a single sink gets (bar flow_id, random per run, and
# the stats record, whose records.written counts both sinks)
no_flow_id() { grep -v '"event_type":"stats"' "$1" | sed -E 's/"flow_id":[0-9]+,//'; }
"$BIN" -r "$CAP" -o "json:$T/A.json" -o "json:$T/B.json" 2>"$T/err"
"$BIN" -r "$CAP" -o "json:$T/one.json" 2>/dev/null
if [ -s "$T/A.json" ] && cmp -s "$T/A.json" "$T/B.json" && [ ! -s "$T/err" ] &&
   [ "$(no_flow_id "$T/A.json")" = "$(no_flow_id "$T/one.json")" ]; then
    ok "two -o sinks, identical records ($(wc -l <"$T/A.json") lines each)"
else
    bad "two -o sinks, identical records" "$(wc -l <"$T/A.json") vs $(wc -l <"$T/B.json") lines; $(head -c 200 "$T/err")"
fi
nine=(); for i in 1 2 3 4 5 6 7 8 9; do nine+=(-o "json:$T/n$i.json"); done
expect too-many-outputs 2 "at most 8 outputs" -- "$BIN" -r "$CAP" "${nine[@]}"
[ ! -e "$T/n1.json" ] && ok "no sink opened on a usage error" || bad "no sink opened on a usage error" "n1.json exists"

# config outputs: with a types filter; -o replaces the whole list
printf 'outputs:\n  - sink: json:%s/alerts.json\n    types: [alert]\n  - sink: json:%s/all.json\n' "$T" "$T" >"$T/outs.yaml"
"$BIN" -r "$CAP" -c "$T/outs.yaml" >"$T/stdout.json" 2>"$T/err"
n_alert=$(grep -c '"event_type":"alert"' "$T/all.json" || true)
if [ "$n_alert" -ge 1 ] && [ "$(grpc_count "$T/all.json")" -eq "$n_file" ] && [ ! -s "$T/stdout.json" ] &&
   [ "$(grep '"event_type":"alert"' "$T/all.json")" = "$(cat "$T/alerts.json")" ]; then
    ok "config outputs: types filter ($n_alert alerts, nothing else)"
else
    bad "config outputs: types filter" "alerts.json $(wc -l <"$T/alerts.json") lines, $n_alert alerts in all.json; $(head -c 200 "$T/err")"
fi
rm -f "$T/alerts.json" "$T/all.json"
"$BIN" -r "$CAP" -c "$T/outs.yaml" -o "json:$T/cli.json" 2>"$T/err"
if [ ! -e "$T/alerts.json" ] && [ ! -e "$T/all.json" ] && [ "$(grpc_count "$T/cli.json")" -eq "$n_file" ]; then
    ok "-o replaces the config's outputs"
else
    bad "-o replaces the config's outputs" "config sinks written or cli.json short"
fi
printf 'outputs:\n  - sink: json:-\n    types: [grpc, flows]\n' >"$T/badtypes.yaml"
expect bad-output-types 2 "badtypes.yaml:3:19: outputs.types: unknown record type 'flows'" -- "$BIN" -r "$CAP" -c "$T/badtypes.yaml"
printf 'outputs:\n  - sink: xml:/tmp/x\n' >"$T/badsink.yaml"
expect bad-output-sink 2 "badsink.yaml:2:11: outputs.sink: unknown output" -- "$BIN" -r "$CAP" -c "$T/badsink.yaml"

# Live capture on a quiet loopback (root; a filter nothing matches): the
# loop must wake without traffic, so signals and the clock are seen at
# once. These poll for the effect for up to 1 s: functional, not timing
# benchmarks. No permission to capture on lo is a failure, not a skip.
stats_count() { if [ -e "$1" ]; then grep -c '"event_type":"stats"' "$1" || true; else echo 0; fi; }
# wait_until MS COMMAND...: tries COMMAND every 20 ms for up to MS
wait_until() {
    local ms=$1 t0
    shift
    t0=$(date +%s%N)
    until "$@"; do
        [ $((($(date +%s%N) - t0) / 1000000)) -ge "$ms" ] && return 1
        sleep 0.02
    done
}
# handlers_installed: SigCgt shows SIGTERM (bit 14) caught; false once gone
handlers_installed() {
    local m
    m=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$gw/status" 2>/dev/null) || return 1
    [ -n "$m" ] && [ $((0x$m & 0x4000)) -ne 0 ]
}
# live_start NAME CONFIG: grpcwatch on lo into $T/live.json, sets gw, waits
# (up to 20 s: a loaded machine) until its signal handlers are in place;
# otherwise reports NAME as failed, loudly, and returns 1
live_start() {
    rm -f "$T/live.json" "$T/live.json.1"
    "$BIN" -i lo -f 'tcp port 59999' -c "$2" -o "json:$T/live.json" 2>"$T/live.err" &
    gw=$!
    wait_until 20000 handlers_installed && return 0
    bad "$1" "cannot capture on lo (root needed): $(head -c 300 "$T/live.err")"
    kill -KILL "$gw" 2>/dev/null
    wait "$gw" 2>/dev/null
    return 1
}
# live_stop: SIGTERM, and SIGKILL if that did not end it (a broken build must
# not hang the suite)
live_stop() {
    kill -TERM "$gw" 2>/dev/null
    wait_until 3000 dead || kill -KILL "$gw" 2>/dev/null
    wait "$gw" 2>/dev/null
}
dead() { ! kill -0 "$gw" 2>/dev/null; }
has_stats() { [ "$(stats_count "$1")" -ge "$2" ]; }
printf 'output:\n  stats-interval: 3600\n' >"$T/live.yaml" # stats only when asked, and at exit

if live_start "live SIGTERM" "$T/live.yaml"; then
    kill -TERM "$gw"
    if wait_until 1000 dead; then
        wait "$gw"
        rc=$?
        if [ "$rc" -eq 0 ] && [ "$(stats_count "$T/live.json")" -eq 1 ] && [ ! -s "$T/live.err" ]; then
            ok "live SIGTERM on a quiet link: exit 0 within 1 s, final stats written"
        else
            bad "live SIGTERM" "rc $rc, $(stats_count "$T/live.json") stats records; $(head -c 300 "$T/live.err")"
        fi
    else
        bad "live SIGTERM" "still running 1 s after SIGTERM"
        kill -KILL "$gw"
        wait "$gw" 2>/dev/null
    fi
fi

if live_start "live SIGUSR1" "$T/live.yaml"; then
    sleep 0.3
    before=$(stats_count "$T/live.json")
    kill -USR1 "$gw"
    if [ "$before" -eq 0 ] && wait_until 1000 has_stats "$T/live.json" 1 && ! dead; then
        ok "live SIGUSR1 on a quiet link: stats record within 1 s"
    else
        bad "live SIGUSR1" "$before stats before, $(stats_count "$T/live.json") after; $(head -c 300 "$T/live.err")"
    fi
    live_stop
fi

if live_start "live SIGHUP" "$T/live.yaml"; then
    sleep 0.3
    mv "$T/live.json" "$T/live.json.1" 2>/dev/null || : >"$T/live.json.1"
    kill -HUP "$gw"
    if wait_until 1000 has_stats "$T/live.json" 1 && ! dead && grep -q '"reconnects":1' "$T/live.json" &&
       [ "$(stats_count "$T/live.json.1")" -eq 0 ]; then
        ok "live SIGHUP on a quiet link: output reopened, stats record within 1 s"
    else
        bad "live SIGHUP" "$(stats_count "$T/live.json") stats in the new file, $(stats_count "$T/live.json.1") in the old; $(head -c 300 "$T/live.err")"
    fi
    live_stop
fi

# the clock runs without packets: periodic stats on a quiet link
printf 'output:\n  stats-interval: 1\n' >"$T/tick.yaml"
if live_start "live clock ticks" "$T/tick.yaml"; then
    if wait_until 3500 has_stats "$T/live.json" 2; then
        ok "live clock ticks without packets (periodic stats)"
    else
        bad "live clock ticks" "$(stats_count "$T/live.json") stats records after 3.5 s"
    fi
    live_stop
fi

# issue #10: a crafted SYN+FIN+RST+PSH+URG segment on a live gRPC-Web
# connection ends nothing (no endpoint accepts it); the calls that follow
# are read as tshark reads them (tcp.analyze_sequence_numbers off): three
# calls, the later two answered (status 0, then 5 "gone"), none leaked.
RST=tests/fuzz/crashes/fuzz_pcap/grpcweb-calls-after-rst-leak.pcap
if "$BIN" -r "$RST" >"$T/rst.json" 2>"$T/rst.err"; then
    got=$(/usr/bin/python3 -c '
import json, sys
calls = [json.loads(l)["grpc"] for l in open(sys.argv[1]) if "\"event_type\":\"grpc\"" in l]
print(";".join("%s %s %s %s/%s %s" % (c["path"], c["http_status"], c["grpc_status"], c["request_messages"],
               c["response_messages"], c["ended_by"]) for c in calls))' "$T/rst.json")
    want="/acme.billing.v1.Invoices/GetInvoice 200 None 1/0 end_stream;/corp.identity.v2.Users/LookupUser 200 0 1/1 end_stream;/acme.billing.v1.Invoices/VoidInvoice 200 5 1/0 end_stream"
    if [ "$got" = "$want" ] && [ ! -s "$T/rst.err" ]; then ok "crafted SYN+RST segment ends nothing"
    else bad "crafted SYN+RST segment" "got '$got' stderr: $(head -c 300 "$T/rst.err")"; fi
else
    bad "crafted SYN+RST segment" "exit $?: $(head -c 300 "$T/rst.err")"
fi

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
