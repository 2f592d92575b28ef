#!/usr/bin/env bash
# run.sh BIN - sinks that fail: a full disk, a read-only file system, a
# closed pipe, /dev/full, unix sockets whose reader is stuck, absent, or goes
# away and comes back, log rotation (SIGHUP), a failing sink beside a good
# one. In every case grpcwatch must
# keep capturing, never hang, exit 0 (2 only when the sink cannot be opened
# at all), and say on stderr how many records were lost:
#     grpcwatch: N records could not be written to SINK
# Run from the repository root. The file-system cases mount small tmpfs
# (root); without that permission they are skipped (SKIP lines) and
# /dev/full still covers "disk full". Ends with 'output: N passed, M failed'.
set -u
BIN=$1
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
TMO=60                                  # no case may take this long: a hang
BIG=pcaps/python-many-calls.pcap        # 57 records, 46 KB of output per round
SMALL=pcaps/python-unary-metadata.pcap  # 5 records, 4 KB per round
T=$(mktemp -d)
MNT=$T/mnt
mkdir -p "$MNT"
mounted=0
server=""
pass=0 fail=0

cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null
    [ "$mounted" = 1 ] && umount "$MNT" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

ok()   { pass=$((pass + 1)); echo "PASS $1"; }
bad()  { fail=$((fail + 1)); echo "FAIL $1: $2"; }
skip() { echo "SKIP $1: $2"; }
jl()   { "$PY" "$HERE/jsonl.py" "$@"; }

# lost SINK: N from stderr's "grpcwatch: N records could not be written to SINK"
# ("" when there is no such line; the line must be the only one on stderr)
lost() {
    local n
    n=$(sed -nE "s/^grpcwatch: ([0-9]+) records could not be written to (.*)$/\1 \2/p" "$T/err" |
        awk -v s="$1" '$2 == s { print $1 }')
    if [ -n "$n" ] && [ "$(wc -l <"$T/err")" -ne 1 ]; then n="extra stderr"; fi
    echo "$n"
}

# run ARGS...: BIN with a time limit; sets rc (124: it hung)
run() {
    timeout "$TMO" "$BIN" "$@" >"$T/out" 2>"$T/err"
    rc=$?
}

# fed FEED_ARGS... -- BIN_ARGS...: BIN reads a fifo that feed.py writes
# (rounds of a capture, wall-time gaps, hooks that may read $T/gw.pid);
# sets rc (124: it hung and was killed)
fed() {
    local feed=() pid wd
    while [ "$1" != "--" ]; do feed+=("$1"); shift; done
    shift
    rm -f "$T/fifo"
    mkfifo "$T/fifo"
    "$BIN" -r "$T/fifo" "$@" >"$T/out" 2>"$T/err" &
    pid=$!
    echo "$pid" >"$T/gw.pid"
    ( trap 'kill $s 2>/dev/null; exit 0' TERM
      sleep "$TMO" & s=$!; wait $s; kill -KILL "$pid" 2>/dev/null; touch "$T/hung" ) &
    wd=$!
    timeout "$TMO" "$PY" "$HERE/feed.py" "${feed[@]}" >"$T/fifo"
    wait "$pid"
    rc=$?
    kill "$wd" 2>/dev/null
    wait "$wd" 2>/dev/null
    if [ -e "$T/hung" ]; then rc=124; rm -f "$T/hung"; fi
}

# wait_for PATH: until PATH exists (a server is listening), at most 10 s
wait_for() {
    for _ in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.1; done
    return 1
}

mount_tmpfs() { # mount_tmpfs OPTIONS
    mount -t tmpfs -o "$1" tmpfs "$MNT" 2>/dev/null && mounted=1
}
umount_tmpfs() { umount "$MNT" && mounted=0; }

# references: what an unhindered run writes
"$PY" "$HERE/feed.py" "$BIG" -n 10 >"$T/big.pcap"
"$BIN" -r "$T/big.pcap" >"$T/big.ref" 2>/dev/null
total=$(wc -l <"$T/big.ref")
[ "$total" -gt 500 ] || bad reference "only $total records from 10 rounds of $BIG"

# 1. /dev/full: every write fails; everything is counted, nothing hangs
run -r "$T/big.pcap" -o json:/dev/full
n=$(lost json:/dev/full)
if [ "$rc" -ne 0 ]; then bad dev-full "exit $rc"
elif [ "$n" != "$total" ]; then bad dev-full "lost '$n', want $total; stderr: $(head -c 300 "$T/err")"
else ok "dev-full ($n records lost)"; fi

# 1b. two sinks, one of them /dev/full: the other gets every record, and
#     stderr names only the failing one
run -r "$T/big.pcap" -o json:/dev/full -o "json:$T/beside.json"
n=$(lost json:/dev/full)
if [ "$rc" -ne 0 ]; then bad dev-full-beside-a-file "exit $rc"
elif [ "$n" != "$total" ]; then bad dev-full-beside-a-file "lost '$n', want $total; stderr: $(head -c 300 "$T/err")"
elif ! msg=$(jl same "$T/big.ref" "$T/beside.json" 2>&1); then bad dev-full-beside-a-file "$msg"
else ok "dev-full-beside-a-file ($n lost there, none beside it)"; fi

# 2. standard output into a pipe whose reader quits
timeout "$TMO" "$BIN" -r "$T/big.pcap" 2>"$T/err" | head -c 100 >/dev/null
rc=${PIPESTATUS[0]}
n=$(lost json:-)
if [ "$rc" -ne 0 ]; then bad closed-stdout "exit $rc"
elif ! [ "${n:-0}" -gt 0 ] 2>/dev/null || [ "$n" -gt "$total" ]; then
    bad closed-stdout "lost '$n' of $total; stderr: $(head -c 300 "$T/err")"
else ok "closed-stdout ($n records lost)"; fi

# 3. a unix socket nobody listens on: an open error
run -r "$SMALL" -o "unix:$T/nobody.sock"
if [ "$rc" -eq 2 ] && grep -q "cannot connect to $T/nobody.sock" "$T/err"; then ok unix-no-listener
else bad unix-no-listener "exit $rc; stderr: $(head -c 300 "$T/err")"; fi

# 4. a reader that accepts and never reads: the sensor must not block
"$PY" "$HERE/sink_server.py" stuck "$T/stuck.sock" &
server=$!
if wait_for "$T/stuck.sock"; then
    start=$SECONDS
    run -r "$T/big.pcap" -o "unix:$T/stuck.sock"
    n=$(lost "unix:$T/stuck.sock")
    if [ "$rc" -ne 0 ]; then bad unix-stuck-reader "exit $rc"
    elif ! [ "${n:-0}" -gt 0 ] 2>/dev/null; then bad unix-stuck-reader "lost '$n'; stderr: $(head -c 300 "$T/err")"
    elif [ $((SECONDS - start)) -gt 10 ]; then bad unix-stuck-reader "took $((SECONDS - start)) s"
    else ok "unix-stuck-reader ($n records lost)"; fi
else
    bad unix-stuck-reader "server did not start"
fi
kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; server=""

# 5. a reader that reads 20 lines, goes away for a second, comes back: the
#    sensor reconnects, and the records of the last rounds arrive whole
"$PY" "$HERE/sink_server.py" flaky "$T/flaky.sock" "$T/flaky.out" 20 1.0 &
server=$!
if wait_for "$T/flaky.sock"; then
    fed "$BIG" -n 12 --gap 0.3 -- -o "unix:$T/flaky.sock"
    wait "$server"; server=""
    "$PY" "$HERE/feed.py" "$BIG" -n 12 >"$T/big12.pcap"
    "$BIN" -r "$T/big12.pcap" >"$T/big12.ref" 2>/dev/null
    first=$(jl lines "$T/flaky.out.first" 2>/dev/null | tail -1)
    second=$(jl lines "$T/flaky.out" 2>&1 | tail -1)
    if [ "$rc" -ne 0 ]; then bad unix-reader-restarts "exit $rc; stderr: $(head -c 300 "$T/err")"
    elif ! [ "${first:-0}" -ge 20 ] 2>/dev/null; then bad unix-reader-restarts "first connection: '$first' lines"
    elif ! [ "${second:-0}" -gt 0 ] 2>/dev/null; then bad unix-reader-restarts "second connection: $second"
    elif [ "$(jl last-ts "$T/flaky.out")" != "$(jl last-ts "$T/big12.ref")" ]; then
        bad unix-reader-restarts "the last round did not arrive"
    elif ! [ "$(jl stat "$T/flaky.out" reconnects)" -ge 1 ] 2>/dev/null; then
        bad unix-reader-restarts "reconnects: $(jl stat "$T/flaky.out" reconnects 2>&1)"
    elif ! [ "$(jl stat "$T/flaky.out" retries)" -ge 1 ] 2>/dev/null; then
        bad unix-reader-restarts "retries: $(jl stat "$T/flaky.out" retries 2>&1)"
    else ok "unix-reader-restarts ($first + $second lines, reconnected)"; fi
else
    bad unix-reader-restarts "server did not start"
fi
[ -n "$server" ] && { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; server=""; }

# 6. log rotation: after 3 rounds the file is renamed and SIGHUP sent; the
#    old file and the new one hold all records between them, in order
"$PY" "$HERE/feed.py" "$SMALL" -n 6 >"$T/small6.pcap"
"$BIN" -r "$T/small6.pcap" >"$T/small6.ref" 2>/dev/null
E=$T/rot/eve.json
mkdir -p "$T/rot"
fed "$SMALL" -n 6 --gap 0.3 --hook 3 "mv $E $E.1 && kill -HUP \$(cat $T/gw.pid)" -- -o "json:$E"
if [ "$rc" -ne 0 ] || [ -s "$T/err" ]; then bad rotation "exit $rc; stderr: $(head -c 300 "$T/err")"
elif ! [ -s "$E.1" ] || ! [ -s "$E" ]; then bad rotation "old or new file empty"
elif ! msg=$(jl same "$T/small6.ref" "$E.1" "$E" 2>&1); then bad rotation "$msg"
elif ! [ "$(jl stat "$E" reconnects)" -eq 1 ] 2>/dev/null; then bad rotation "reconnects: $(jl stat "$E" reconnects 2>&1)"
else ok "rotation ($(wc -l <"$E.1") + $(wc -l <"$E") lines)"; fi

# file-system cases
if ! mount_tmpfs size=64k; then
    for c in tmpfs-full tmpfs-space-freed tmpfs-read-only; do skip "$c" "cannot mount a tmpfs (not root?)"; done
else
    # 7. a 64 KiB file system and 460 KB of records: what fits is written
    #    whole and in order, the rest is counted, and the exit is clean
    run -r "$T/big.pcap" -o "json:$MNT/eve.json"
    n=$(lost "json:$MNT/eve.json")
    whole=$(jl prefix "$T/big.ref" "$MNT/eve.json" 2>&1 | tail -1)
    if [ "$rc" -ne 0 ]; then bad tmpfs-full "exit $rc"
    elif ! [ "${whole:-0}" -gt 0 ] 2>/dev/null; then bad tmpfs-full "$whole"
    elif [ "$((whole + ${n:-0}))" -ne "$total" ]; then
        bad tmpfs-full "$whole lines written + '$n' lost != $total; stderr: $(head -c 300 "$T/err")"
    else ok "tmpfs-full ($whole written, $n lost)"; fi
    umount_tmpfs

    # 8. the disk is full for 4 rounds, then space is freed: the buffered
    #    records are written by a later flush and nothing is lost
    mount_tmpfs size=64k
    dd if=/dev/zero of="$MNT/filler" bs=1k 2>/dev/null
    "$PY" "$HERE/feed.py" "$SMALL" -n 8 >"$T/small8.pcap"
    "$BIN" -r "$T/small8.pcap" >"$T/small8.ref" 2>/dev/null
    fed "$SMALL" -n 8 --gap 0.3 --hook 4 "rm -f $MNT/filler" -- -o "json:$MNT/eve.json"
    if [ "$rc" -ne 0 ] || [ -s "$T/err" ]; then bad tmpfs-space-freed "exit $rc; stderr: $(head -c 300 "$T/err")"
    elif ! msg=$(jl same "$T/small8.ref" "$MNT/eve.json" 2>&1); then bad tmpfs-space-freed "$msg"
    elif ! [ "$(jl stat "$MNT/eve.json" write_errors)" -gt 0 ] 2>/dev/null; then
        bad tmpfs-space-freed "no write error: the disk was never full?"
    elif ! [ "$(jl stat "$MNT/eve.json" retries)" -gt 0 ] 2>/dev/null; then
        bad tmpfs-space-freed "retries: $(jl stat "$MNT/eve.json" retries 2>&1)"
    else ok "tmpfs-space-freed ($(jl stat "$MNT/eve.json" write_errors) write errors, none lost)"; fi
    umount_tmpfs

    # 9. a read-only file system: the sink cannot be opened, exit 2
    mount_tmpfs size=64k,ro
    run -r "$SMALL" -o "json:$MNT/eve.json"
    if [ "$rc" -eq 2 ] && grep -q "cannot open $MNT/eve.json: Read-only file system" "$T/err"; then
        ok tmpfs-read-only
    else bad tmpfs-read-only "exit $rc; stderr: $(head -c 300 "$T/err")"; fi
    umount_tmpfs
fi

echo "output: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
