#!/usr/bin/python3
"""bench.py [--smoke] - the benchmark of make bench (and make bench-smoke).

Everything runs on captures this script builds with tests/bench/mkmix (C,
deterministic: same parameters and sources, same bytes), cached under
$BUILD/bench/cache/ keyed by the generator's source, its parameters and the
source captures, so a second run does not regenerate them.

  1. sources: every h2c capture in pcaps/*.pcap; the calls grpcwatch finds
     on each alone must equal len(calls) of pcaps/expected/<name>.json
  2. mixed: BENCH_MB (400) of interleaved flows: copies of the sources
     (under 10% of the bytes), HTTP/1.1 downloads, TLS, other TCP, DNS.
     floor (tests/bench/floor.c: libpcap read, one byte per cache line) and
     grpcwatch (json output to a real file, max-flows large enough), best of
     BENCH_RUNS (3), floor and grpcwatch in turns: Gbit/s, Mpps, peak RSS,
     ratio floor_time/grpcwatch_time;
     tshark once; callgrind instructions per packet on the first
     BENCH_CALLGRIND_PACKETS (20000) packets and the top 10 functions; heap
     allocations per packet in the steady state (LD_PRELOAD
     tests/bench/alloccount.c: (allocs_full - allocs_half) /
     (packets_full - packets_half)), also on long-lived bulk flows only;
     grpc records == expected calls: MATCH or MISMATCH
  3. flows series: BENCH_FLOWS (10000,100000,1000000) idle tracked TCP flows
     (handshake, one HTTP/1.1 exchange, no FIN): s/GB, ratio, peak RSS and
     RSS per flow = (RSS_N - RSS_baseline) / N, baseline = grpcwatch with
     the same configuration on a tiny capture
  4. worst cases, BENCH_WORST_MB (64) each: gRPC only (1000 sessions open at
     once, and for information 100), 1-7 byte segments, reordered segments,
     1000 streams on one connection (1 KB messages, and for information
     12-byte ones), large HPACK tables, SYN flood (BENCH_SYNS, 1000000)

BENCH_PARTS (mixed,flows,worst) runs only some parts (the sources always).

Targets are printed next to the numbers, never enforced. The exit status is
1 when a run fails or any record count does not match (a fast wrong answer
is not a result). --smoke: tiny sizes, one run each, no tshark, callgrind on
2000 packets; ends with 'bench-smoke: N passed, M failed' for
tests/run-suite.sh, where only correctness counts (timings are information).
"""
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SMOKE = "--smoke" in sys.argv
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
GRPCWATCH = os.path.join(BUILD, "grpcwatch")
TOOLS = os.path.join(BUILD, "bench")
MKMIX, FLOOR, SHIM = (os.path.join(TOOLS, n) for n in ("mkmix", "floor", "alloccount.so"))
CACHE = os.path.join(TOOLS, "cache")
MKFLOOD = os.path.join(ROOT, "tests", "flood", "mkflood.py")
PY = sys.executable


def env_num(name, full, smoke):
    return float(os.environ.get(name, smoke if SMOKE else full))


MB = env_num("BENCH_MB", 400, 8)
SEED = int(env_num("BENCH_SEED", 1, 1))
RUNS = int(env_num("BENCH_RUNS", 3, 1))
WORST_MB = env_num("BENCH_WORST_MB", 64, 1)
SYNS = int(env_num("BENCH_SYNS", 1000000, 20000))
CG_PACKETS = int(env_num("BENCH_CALLGRIND_PACKETS", 20000, 2000))
FLOWS = [int(x) for x in os.environ.get("BENCH_FLOWS", "2000" if SMOKE else "10000,100000,1000000").split(",")]
PARTS = os.environ.get("BENCH_PARTS", "mixed,flows,worst").split(",")
TSHARK = os.environ.get("BENCH_TSHARK", "0" if SMOKE else "1") == "1" and shutil.which("tshark")
MIB = 1024.0 * 1024.0

passed = failed = 0
problems = []


def check(ok, what, quiet=False):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        problems.append(what)
    if (SMOKE and not quiet) or not ok:
        print(("PASS " if ok else "FAIL ") + what, flush=True)
    return ok


def say(*a):
    print(*a, flush=True)


def sanitized():
    with open(GRPCWATCH, "rb") as f:
        return b"__asan_init" in f.read()


SAN = sanitized()


# ---------------------------------------------------------------- running
def run(argv, env=None, stdout=subprocess.DEVNULL):
    """Runs argv; returns (exit status, seconds, stdout, stderr)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE if stdout is None else stdout,
                         stderr=subprocess.PIPE, env=env)
    out, err = p.communicate()
    return p.returncode, time.perf_counter() - t0, out, err.decode("utf-8", "replace")


GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
RSS_FILE = os.path.join(tempfile.gettempdir(), "grpcwatch-bench-rss.%d" % os.getpid())


def run_rss(argv, env=None, capture=False):
    """Like run(), plus the child's peak RSS in bytes. Through GNU time when
    installed: a child forked from this Python process carries Python's
    resident size into its own ru_maxrss (Linux keeps the high-water mark
    across exec), which would hide a small program's real peak."""
    pre = [GNU_TIME, "-f", "%M", "-o", RSS_FILE] if GNU_TIME else []
    t0 = time.perf_counter()
    p = subprocess.Popen(pre + argv, stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=env)
    out = p.stdout.read() if capture else b""
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    if capture:
        p.stdout.close()
    p.stderr.close()
    rss = ru.ru_maxrss * 1024
    if GNU_TIME:
        try:
            with open(RSS_FILE) as f:
                rss = int(f.read().split()[-1]) * 1024
            os.unlink(RSS_FILE)
        except (OSError, ValueError, IndexError):
            pass
    return rc, dt, rss, out, err.decode("utf-8", "replace")


def best_of(argv, n, what, env=None, capture=False):
    best, rss, out = None, 0, b""
    for _ in range(n):
        rc, dt, r, o, err = run_rss(argv, env=env, capture=capture)
        if not check(rc == 0, "%s runs (exit %d)" % (what, rc), quiet=True):
            say("    " + err[-600:].replace("\n", "\n    "))
            return None, 0, b""
        best = dt if best is None else min(best, dt)
        rss, out = max(rss, r), o
    return best, rss, out


def floor(cap, what, runs=RUNS):
    t, rss, out = best_of([FLOOR, cap], runs, what + " floor", capture=True)
    m = re.match(rb"packets (\d+) bytes (\d+)", out or b"")
    return t, rss, (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def write_conf(path, max_flows, extra=""):
    with open(path, "w") as f:
        f.write("flow:\n  max-flows: %d\n%s" % (max_flows, extra))
    return path


def records(path):
    grpc, last = 0, None
    with open(path, "rb") as f:
        for line in f:
            if b'"event_type":"grpc"' in line:
                grpc += 1
            elif b'"event_type":"stats"' in line:
                last = line
    return grpc, (json.loads(last)["stats"] if last else {})


def grpcwatch(cap, conf, tmp, what, runs=RUNS, env=None):
    """best time, peak RSS, grpc record count, last stats of grpcwatch on cap."""
    out = os.path.join(tmp, "out.json")
    best, rss = None, 0
    for _ in range(runs):
        if os.path.exists(out):
            os.unlink(out)
        rc, dt, r, _, err = run_rss([GRPCWATCH, "-r", cap, "-c", conf, "-o", "json:" + out], env=env)
        if not check(rc == 0, "%s grpcwatch runs (exit %d)" % (what, rc), quiet=True):
            say("    " + err[-600:].replace("\n", "\n    "))
            return None, 0, -1, {}
        best = dt if best is None else min(best, dt)
        rss = max(rss, r)
    n, stats = records(out)
    return best, rss, n, stats


def floor_and_grpcwatch(cap, conf, tmp, what):
    """floor() and grpcwatch() best of RUNS each, run in turns: on a shared
    machine a slow spell then slows both, not only the one measured in it."""
    ft = gt = None
    frss = grss = 0
    pb, n, stats = (0, 0), -1, {}
    for _ in range(RUNS):
        t, r, pb = floor(cap, what, runs=1)
        if t is None:
            return None, 0, pb, None, 0, -1, {}
        ft, frss = t if ft is None else min(ft, t), max(frss, r)
        t, r, n, stats = grpcwatch(cap, conf, tmp, what, runs=1)
        if t is None:
            return ft, frss, pb, None, 0, -1, {}
        gt, grss = t if gt is None else min(gt, t), max(grss, r)
    return ft, frss, pb, gt, grss, n, stats


def rate(pk_bytes, t):
    pk, by = pk_bytes
    return "%6.2f Gbit/s %6.3f Mpps" % (by * 8 / t / 1e9, pk / t / 1e6) if t else "-"


def match(what, got, want):
    ok = got == want
    check(ok, "%s: %d grpc records, expected %d" % (what, got, want))
    return "MATCH" if ok else "MISMATCH"


# ---------------------------------------------------------------- captures
def sources():
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "pcaps", "*.pcap"))):
        name = os.path.basename(path)[:-5]
        with open(os.path.join(ROOT, "pcaps", "expected", name + ".json")) as f:
            exp = json.load(f)
        if "h2c" not in exp.get("transport", ""):
            continue
        ports = [exp["server_port"]] if "server_port" in exp else sorted(exp["server_ports"].values())
        out.append((path, ports, len(exp.get("calls", []))))
    return out


def tshark_h2c_ports():
    """The server ports of the sources' h2c gRPC calls: tshark dissects
    HTTP/2 on a port only when told (decode-as); without it -Y grpc finds
    the few connections its HTTP/1.1 heuristic follows into h2c."""
    ports = set()
    for path, _, calls in sources():
        with open(os.path.join(ROOT, "pcaps", "expected", os.path.basename(path)[:-5] + ".json")) as f:
            exp = json.load(f)
        if calls and "server_port" in exp:
            ports.add(exp["server_port"])
        elif calls and "h2c" in exp.get("server_ports", {}):
            ports.add(exp["server_ports"]["h2c"])
    return sorted(ports)


def cached(name, args, srcs=(), gen=None):
    """Path of the capture built by `mkmix ARGS OUT SRCS` (or gen(OUT) ->
    meta), built once per key; returns (path, meta, seconds or None if cached)."""
    h = hashlib.sha1()
    for f in [os.path.join(HERE, "mkmix.c"), MKFLOOD] + [s.split(":")[0] for s in srcs]:
        with open(f, "rb") as fh:
            h.update(fh.read())
    h.update(repr((name, args, list(srcs))).encode())
    key = h.hexdigest()[:12]
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, "%s-%s.pcap" % (name, key))
    meta_path = path[:-5] + ".json"
    if os.path.exists(path) and os.path.exists(meta_path):
        with open(meta_path) as f:
            return path, json.load(f), None
    for old in glob.glob(os.path.join(CACHE, name + "-????????????.*")):  # one version per name and size
        os.unlink(old)
    tmp = path + ".tmp"
    t0 = time.perf_counter()
    if gen:
        meta = gen(tmp)
    else:
        p = subprocess.run([MKMIX] + args + ["-M", meta_path + ".tmp", tmp] + list(srcs),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if p.returncode:
            sys.exit("bench: mkmix failed: %s" % p.stderr.decode())
        with open(meta_path + ".tmp") as f:
            meta = json.load(f)
        os.unlink(meta_path + ".tmp")
    dt = time.perf_counter() - t0
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    os.rename(tmp, path)
    return path, meta, dt


def first_packets(src, n, dst):
    """Copies the pcap header and the first n records of src to dst; returns how many."""
    with open(src, "rb") as f, open(dst, "wb") as o:
        o.write(f.read(24))
        k = 0
        while k < n:
            h = f.read(16)
            if len(h) < 16:
                break
            cap = int.from_bytes(h[8:12], "little")
            o.write(h)
            o.write(f.read(cap))
            k += 1
    return k


def gen_note(dt):
    return "cached" if dt is None else "generated in %.1f s" % dt


def table(rows, head):
    w = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    fmt = "  ".join("%%-%ds" % x if i == 0 else "%%%ds" % x for i, x in enumerate(w))
    say("  " + fmt % tuple(head))
    for r in rows:
        say("  " + fmt % tuple(r))


def pow2_at_least(n):
    p = 1024
    while p < n:
        p *= 2
    return min(p, 16777216)


# ---------------------------------------------------------------- parts
def part_sources(tmp):
    srcs = sources()
    specs, bad = [], []
    for path, ports, calls in srcs:
        _, _, got, _ = grpcwatch(path, write_conf(os.path.join(tmp, "src.yaml"), 65536), tmp,
                           os.path.basename(path), runs=1)
        if got != calls:
            bad.append("%s: grpcwatch %d, expected %d" % (os.path.basename(path), got, calls))
        specs.append("%s:%s:%d" % (path, ",".join(map(str, ports)), calls))
    check(not bad, "sources: calls found on each h2c capture alone == expected JSON calls")
    say("sources: %d h2c captures, %d calls in one copy of each; grpcwatch on each alone %s the "
        "expected JSON%s" % (len(srcs), sum(c for _, _, c in srcs), "agrees with" if not bad else "DISAGREES with",
                             "" if not bad else ": " + "; ".join(bad)))
    return specs


def part_mixed(tmp, specs):
    say("")
    say("== mixed capture (BENCH_MB=%g, seed %d)" % (MB, SEED))
    cap, meta, dt = cached("mixed-%gMB" % MB, ["-m", str(MB), "-s", str(SEED)], specs)
    tcp_flows = meta["total_flows"] - meta["flows"].get("dns", 0)
    say("mixed: %s (%s): %.1f MB, %d packets, %d flows (%d TCP, %d DNS/UDP), up to %d sessions open at once, "
        "gRPC %.1f%% of the bytes, expected calls %d" % (
            os.path.relpath(cap, ROOT), gen_note(dt), meta["bytes"] / 1e6, meta["packets"], meta["total_flows"],
            tcp_flows, meta["flows"].get("dns", 0), meta["max_open_sessions"], 100 * meta["grpc_share"],
            meta["expected_grpc_calls"]))
    max_flows = pow2_at_least(2 * meta["total_flows"])
    conf = write_conf(os.path.join(tmp, "mixed.yaml"), max_flows)
    ft, frss, pb, gt, grss, n, stats = floor_and_grpcwatch(cap, conf, tmp, "mixed")
    if not ft or not gt:
        return
    say("mixed: floor      best of %d %8.3f s  %s  peak RSS %7.1f MiB" % (RUNS, ft, rate(pb, ft), frss / MIB))
    say("mixed: grpcwatch  best of %d %8.3f s  %s  peak RSS %7.1f MiB  (json to a file, max-flows %d)" % (
        RUNS, gt, rate(pb, gt), grss / MIB, max_flows))
    say("mixed: RATIO grpcwatch/floor = %.3f  (floor_time / grpcwatch_time; target >= 0.50)" % (ft / gt))
    fl = stats.get("flow", {})
    say("mixed: flow table: created %d, max active %d, evicted %d, timed out %d; decoder packets %d" % (
        fl.get("created", 0), fl.get("max_active", 0), fl.get("evicted", 0), fl.get("timed_out", 0),
        stats.get("decoder", {}).get("packets", 0)))
    check(stats.get("decoder", {}).get("packets") == pb[0], "mixed: grpcwatch decoded every packet the floor read")
    say("mixed: records: %d grpc records, expected %d: %s" % (
        n, meta["expected_grpc_calls"], match("mixed", n, meta["expected_grpc_calls"])))
    if TSHARK:
        rc, tt, trss, _, _ = run_rss(["tshark", "-r", cap, "-q", "-n"])
        rc2, tt2, trss2, _, _ = run_rss(["tshark", "-r", cap, "-q", "-n", "-Y", "grpc"])
        say("mixed: tshark -r FILE -q -n (timed once)          %8.2f s  peak RSS %7.1f MiB  tshark_time/grpcwatch_time "
            "= %.1fx  (without a filter or output tshark reads but does not dissect)" % (tt, trss / MIB, tt / gt))
        say("mixed: tshark -r FILE -q -n -Y grpc (timed once)  %8.2f s  peak RSS %7.1f MiB  tshark_time/grpcwatch_time "
            "= %.1fx  (dissects every packet; target >= 100x)" % (tt2, trss2 / MIB, tt2 / gt))
        ports = tshark_h2c_ports()
        argv = ["tshark", "-r", cap, "-n"] + [a for p in ports for a in ("-d", "tcp.port==%d,http2" % p)] + [
            "-Y", 'grpc && http2.header.name == ":path"', "-T", "fields", "-e", "http2.headers.path"]
        rc3, tt3, trss3, out3, _ = run_rss(argv, capture=True)
        found = sum(len(line.split(b",")) for line in (out3 or b"").splitlines() if line)
        say("mixed: tshark -n -d tcp.port==P,http2 (the %d gRPC server ports) -Y grpc (timed once)  %6.2f s  peak RSS "
            "%7.1f MiB  tshark_time/grpcwatch_time = %.1fx  (the same job: it finds %d gRPC requests of the %d "
            "calls, the gRPC-Web ones aside; target >= 100x)" % (len(ports), tt3, trss3 / MIB, tt3 / gt, found,
                                                                meta["expected_grpc_calls"]))
        check(rc == 0 and rc2 == 0 and rc3 == 0, "mixed: tshark runs")
    part_callgrind(tmp, cap, conf)
    part_allocs(tmp, cap, conf, "mixed", pb[0])
    bulk, bmeta, bdt = cached("bulk-%gMB" % max(MB / 4, 16), ["-m", str(max(MB / 4, 16)), "-s", str(SEED), "-w", "0,50,50,0,0",
                                       "-S", "0", "-b", "500000,2000000", "-k", "32"])
    say("bulk: %s (%s): %.1f MB, %d packets, %d long-lived HTTP/1.1 and TLS downloads, 32 at once" % (
        os.path.relpath(bulk, ROOT), gen_note(bdt), bmeta["bytes"] / 1e6, bmeta["packets"], bmeta["total_flows"]))
    part_allocs(tmp, bulk, conf, "bulk", bmeta["packets"], target="~0")


def part_callgrind(tmp, cap, conf):
    if not CG_PACKETS:
        return
    if SAN or not shutil.which("valgrind"):
        say("mixed: callgrind: SKIP (%s)" % ("sanitizer build" if SAN else "no valgrind"))
        return
    res = {}
    for label, n in (("slice", CG_PACKETS), ("startup", 10)):
        sl = os.path.join(tmp, "cg-%s.pcap" % label)
        got = first_packets(cap, n, sl)
        outf = os.path.join(tmp, "callgrind.%s.out" % label)
        rc, dt, _, err = run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + outf, GRPCWATCH, "-r", sl,
                              "-c", conf, "-o", "json:" + os.path.join(tmp, "cg.json")])
        if not check(rc == 0, "mixed: callgrind on the first %d packets runs" % n, quiet=True):
            say("    " + err[-400:])
            return
        ir = None
        with open(outf) as f:
            for line in f:
                if line.startswith(("summary:", "totals:")):
                    ir = int(line.split()[1])
        res[label] = (got, ir, outf, dt)
    got, ir, outf, dt = res["slice"]
    sgot, sir = res["startup"][:2]
    say("mixed: callgrind on the first %d packets (%.0f s under valgrind): %d Ir = %.0f instructions/packet; "
        "without startup (%d Ir on %d packets): %.0f instructions/packet" % (
            got, dt, ir, ir / got, sir, sgot, (ir - sir) / max(got - sgot, 1)))
    p = subprocess.run(["callgrind_annotate", "--inclusive=no", outf], capture_output=True, text=True)
    rows, on = [], False
    for line in p.stdout.splitlines():
        if re.match(r"^-+$", line.strip()) and rows == [] and on:
            continue
        if "file:function" in line:
            on = True
            continue
        if on:
            m = re.match(r"^\s*([\d,]+)\s+(?:\(\s*([\d.]+)%\))?\s*(.*)$", line)
            if m and m.group(3):
                rows.append((m.group(1), m.group(2) or "", m.group(3)))
            if len(rows) == 10:
                break
    say("mixed: callgrind top 10 functions by Ir (self):")
    for ir_s, pct, fn in rows:
        say("    %15s %6s%%  %s" % (ir_s, pct, fn[:110]))


def part_allocs(tmp, cap, conf, what, packets, target=None):
    if SAN:
        say("%s: heap allocations per packet: SKIP (sanitizer build: the shim can not be preloaded)" % what)
        return
    half = os.path.join(tmp, "half.pcap")
    nh = first_packets(cap, packets // 2, half)
    counts = []
    for c in (half, cap):
        af = os.path.join(tmp, "allocs.txt")
        if os.path.exists(af):
            os.unlink(af)
        env = dict(os.environ, LD_PRELOAD=SHIM, ALLOCCOUNT_OUT=af)
        out = os.path.join(tmp, "alloc.json")
        rc, _, _, err = run([GRPCWATCH, "-r", c, "-c", conf, "-o", "json:" + out], env=env)
        with open(af) as f:
            m = re.search(r"allocs (\d+) .*free (\d+)", f.read())
        if not check(rc == 0 and m, "%s: grpcwatch under the malloc counter runs" % what, quiet=True):
            return
        counts.append((int(m.group(1)), int(m.group(2))))
    os.unlink(half)
    per = (counts[1][0] - counts[0][0]) / max(packets - nh, 1)
    perf = (counts[1][1] - counts[0][1]) / max(packets - nh, 1)
    say("%s: heap allocations per packet (steady state, second half): %.4f allocs, %.4f frees  "
        "(%d allocs on %d packets, %d on %d)%s" % (
            what, per, perf, counts[0][0], nh, counts[1][0], packets,
            "  target %s" % target if target else ""))


def part_flows(tmp):
    say("")
    say("== flows series: idle tracked TCP flows (handshake + one HTTP/1.1 exchange, no FIN)")
    rows, points = [], []
    for n in FLOWS:
        cap, meta, dt = cached("flows-%d" % n, ["-t", "idle", "-n", str(n), "-s", str(SEED), "-k", "1000"])
        conf = write_conf(os.path.join(tmp, "flows.yaml"), pow2_at_least(n + n // 4))
        _, base_rss, _, _ = grpcwatch(os.path.join(ROOT, "pcaps", "go-unary.pcap"), conf, tmp, "flows baseline",
                                      runs=1)
        ft, _, pb, gt, rss, _, stats = floor_and_grpcwatch(cap, conf, tmp, "flows-%d" % n)
        if not ft or not gt:
            continue
        fl = stats.get("flow", {})
        tracked = fl.get("max_active", 0)
        check(tracked >= n and fl.get("evicted", 1) == 0, "flows-%d: all %d flows tracked at once (max_active %d)" % (
            n, n, tracked))
        per_flow = (rss - base_rss) / n
        points.append((n, rss))
        rows.append((str(n), gen_note(dt), str(pb[0]), "%.2f" % (gt / (pb[1] / 1e9)), "%.3f" % (pb[0] / gt / 1e6),
                     "%.3f" % (ft / gt), "%.1f" % (rss / MIB), "%.1f" % (base_rss / MIB), str(tracked),
                     "%.0f" % per_flow, "<= 256"))
    if rows:
        table(rows, ("flows", "capture", "packets", "s/GB", "Mpps", "ratio", "RSS MiB", "base MiB", "tracked",
                     "B/flow", "target"))
        say("flows: RSS per idle tracked TCP flow = (RSS_N - RSS_baseline) / N: %s bytes  (target <= 256 B)" %
            ", ".join("%s at %s" % (r[-2], r[0]) for r in rows))
    if len(points) >= 2:
        (n0, r0), (n1, r1) = points[-2], points[-1]
        # what one more flow costs, without the fixed part (huge-page rounding, buffers)
        say("flows: marginal RSS per idle tracked TCP flow between %d and %d flows = %.0f bytes  (target <= 256 B)"
            % (n0, n1, (r1 - r0) / (n1 - n0)))


def part_worst(tmp, specs):
    say("")
    say("== worst cases (BENCH_WORST_MB=%g each; gRPC calls counted in each)" % WORST_MB)
    m = str(WORST_MB)
    s = str(SEED)
    only = ["-w", "100,0,0,0,0", "-m", m, "-s", s]

    def flood(out):
        p = subprocess.run([PY, MKFLOOD, "syn", str(SYNS), out, "--grpc",
                            os.path.join(ROOT, "pcaps", "python-many-calls.pcap")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if p.returncode:
            sys.exit("bench: mkflood failed: %s" % p.stderr.decode())
        return {"expected_grpc_calls": 28}

    cases = [
        ("a-grpc-only", "every byte cleartext gRPC (the sources only)", only, specs, None, 0),
        ("a100-open", "the same, at most 100 sessions open (1000 above)", only + ["-k", "100"], specs, None, 0),
        ("b-recut-1-7", "1..7-byte TCP segments", only + ["-v", "recut"], specs, None, 0),
        ("c-reorder-16", "segments shuffled within windows of 16", only + ["-v", "reorder"], specs, None, 0),
        ("d-1000-streams", "1000 concurrent streams per h2c connection, 1 KB messages",
         ["-t", "h2many", "-m", m, "-s", s, "-k", "4", "-z", "1000"], (), None, 0),
        ("d0-1000-tiny", "the same with 12-byte messages: 2 records per 200 B read", ["-t", "h2many", "-m", m, "-s", s,
                                                                                       "-k", "4"], (), None, 0),
        ("e-big-hpack", "64 KiB HPACK tables, 4 KiB headers inserted", ["-t", "h2hpack", "-m", m, "-s", s, "-k", "16"],
         (), None, 0),
        ("f-syn-flood", "%d SYNs from random sources, default max-flows" % SYNS, ["syn", str(SYNS)], (), flood, 65536),
    ]
    rows = []
    for name, desc, args, srcs, gen, mf in cases:
        cap, meta, dt = cached("%s-%s" % (name, SYNS if gen else "%gMB" % WORST_MB), args, srcs, gen=gen)
        extra = "http2:\n  max-streams: 1024\n" if "h2many" in args else ""
        conf = write_conf(os.path.join(tmp, "worst.yaml"), mf or 1 << 20, extra)
        ft, _, pb, gt, rss, n, stats = floor_and_grpcwatch(cap, conf, tmp, name)
        if not ft or not gt:
            continue
        want = meta["expected_grpc_calls"]
        if name.startswith("d0"):
            target = "%.0fk calls/s" % (want / gt / 1e3)
        elif name.startswith("a100"):
            target = "info"
        else:
            target = ">= 0.10"
        rows.append((name, desc, gen_note(dt), "%.1f" % (pb[1] / 1e6), str(pb[0]), "%.3f" % gt,
                     "%.3f" % (pb[0] / gt / 1e6), "%.3f" % (ft / gt), target, "%.1f" % (rss / MIB),
                     "%d/%d %s" % (n, want, match(name, n, want))))
    if rows:
        table(rows, ("case", "what", "capture", "MB", "packets", "seconds", "Mpps", "ratio", "target", "RSS MiB",
                     "grpc records"))
        say("worst: ratio = floor_time / grpcwatch_time on the same capture (target >= 0.10 each); d's calls are the "
            "size of the sources' (~2.2 KB on the wire), d0's a tenth: there the output (a grpc record and an alert, "
            "~1.6 KB, per ~200 B read) bounds the rate, shown as calls/s; a100 is a with fewer sessions open at once: the "
            "parsers' state of 1000 open sessions (~11 KB each) does not fit in a core's L2, that of 100 does")


def main():
    for f in (GRPCWATCH, MKMIX, FLOOR, SHIM):
        if not os.path.exists(f):
            sys.exit("bench: %s missing (make bench builds it)" % f)
    t0 = time.perf_counter()
    say("bench%s: %s%s, captures cached in %s" % (" (smoke)" if SMOKE else "", os.path.relpath(GRPCWATCH, ROOT),
                                                  " (sanitizer build)" if SAN else "", os.path.relpath(CACHE, ROOT)))
    tmp = tempfile.mkdtemp(prefix="grpcwatch-bench.")
    try:
        specs = part_sources(tmp)
        if "mixed" in PARTS:
            part_mixed(tmp, specs)
        if "flows" in PARTS:
            part_flows(tmp)
        if "worst" in PARTS:
            part_worst(tmp, specs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    say("")
    say("bench: whole run %.1f s; %s" % (time.perf_counter() - t0, "all records MATCH, every run completed"
                                          if not problems else "FAILED: " + "; ".join(problems)))
    if SMOKE:
        say("bench-smoke: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
