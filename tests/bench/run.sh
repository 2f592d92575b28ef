#!/usr/bin/env bash
# run.sh - throughput and memory of grpcwatch on real traffic, repeated.
# Builds a large capture from the bundled python-many-calls capture (many
# connections, each with 25+ calls), runs grpcwatch on it 3 times and prints
# packets/s, Mbit/s of captured bytes, calls/s and peak RSS. Numbers, not a
# pass/fail: speed is measured here, never asserted in a test.
set -euo pipefail
BUILD=${BUILD:-build}
COPIES=${BENCH_COPIES:-2000}
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
src=pcaps/python-many-calls.pcap
port=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["server_port"])' pcaps/expected/python-many-calls.json)
"$PY" tests/bench/mkbench.py "$src" "$port" "$COPIES" "$T/bench.pcap"
"$PY" - "$BUILD/grpcwatch" "$T/bench.pcap" <<'PYEOF'
import json, os, resource, subprocess, sys, time
binary, cap = sys.argv[1], sys.argv[2]
size = os.path.getsize(cap)
best = None
for i in range(3):
    t0 = time.perf_counter()
    p = subprocess.run([binary, "-r", cap, "-o", "json:/dev/null"], capture_output=True)
    dt = time.perf_counter() - t0
    assert p.returncode == 0, p.stderr
    best = dt if best is None else min(best, dt)
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
out = subprocess.run([binary, "-r", cap], capture_output=True).stdout.decode()
calls = out.count('"event_type":"grpc"')
stats = [json.loads(l) for l in out.splitlines() if '"event_type":"stats"' in l]
pkts = stats[-1]["stats"]["decoder"]["packets"] if stats else 0
print("bench: %d packets, %.1f MB, %d calls" % (pkts, size / 1e6, calls))
print("bench: best of 3: %.3f s = %.0f packets/s, %.0f Mbit/s, %.0f calls/s" % (
    best, pkts / best, size * 8 / best / 1e6, calls / best))
print("bench: peak RSS %.1f MiB" % (rss / 1024))
PYEOF
