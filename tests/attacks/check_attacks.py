#!/usr/bin/python3
"""check_attacks.py BIN - run grpcwatch on every HTTP/2 attack capture and check it held.

For each pcaps/attacks/expected/<name>.json (written by gen_attacks.py) runs
`BIN -c tests/attacks/attacks.yaml -r pcaps/attacks/<capture>` and asserts:

  - exit status 0, within TIMEOUT seconds (a hang guard, not a speed test);
  - nothing a sanitizer prints on stderr;
  - the records pass validate-records ($SHARED/tools/validate-records);
  - every anomaly listed is reported as an `anomaly` record of type http2
    ("event" or "event/direction", direction to_server or to_client), and the
    flow wrote no more than ANOMALY_RECORDS_PER_FLOW of them;
  - every call listed is reported as a `grpc` record; the legitimate call each
    capture starts with (gen_attacks.LEGIT_PATH) must be complete: grpc_status 0,
    one message each way, ended by END_STREAM;
  - peak RSS of the run (wait4's ru_maxrss, through a small launcher: see
    LAUNCHER) stays under max_rss_mib. Skipped, with a note, when BIN is built with AddressSanitizer
    (SANITIZE=1 in the environment, or the binary references __asan_init):
    shadow memory makes RSS meaningless there. Everything else still runs.

One more check: gen_attacks.py, run again into a temporary directory, writes
byte-identical captures and expected files (the committed ones are in sync).

Prints one PASS/FAIL line per capture and ends with 'attacks: N passed, M failed'.
"""
import filecmp
import glob
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ATTACKS = os.path.join(ROOT, "pcaps", "attacks")
CONFIG = os.path.join(HERE, "attacks.yaml")
SHARED = os.environ.get("SHARED", os.path.join(ROOT, "..", "shared"))
VALIDATE = os.path.join(SHARED, "tools", "validate-records")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

sys.path.insert(0, HERE)
from gen_attacks import LEGIT_PATH  # noqa: E402  (the generator's own constant)

TIMEOUT = 60
ANOMALY_RECORDS_PER_FLOW = 16
SANITIZER_MARKS = ("AddressSanitizer", "runtime error:", "LeakSanitizer", "UndefinedBehaviorSanitizer")

results = []


def report(ok, name, why=""):
    results.append(ok)
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + why), flush=True)


def asan_instrumented(binary):
    if os.environ.get("SANITIZE") == "1":
        return True
    try:
        with open(binary, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


# Peak RSS is read from wait4's ru_maxrss. Linux carries the high-water mark
# of the process image a child replaced with exec into the child's ru_maxrss,
# so a child forked straight from this script (whose own RSS grows as it
# parses records) would report this script's size. A small launcher (python
# -S, about 5 MiB) forks and waits instead: what it reports is at most
# max(launcher, BIN), never less than BIN's true peak.
LAUNCHER = r"""
import os, signal, sys
timeout, out, err = int(sys.argv[1]), sys.argv[2], sys.argv[3]
pid = os.fork()
if pid == 0:
    os.dup2(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 1)
    os.dup2(os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
    try:
        os.execv(sys.argv[4], sys.argv[4:])
    finally:
        os._exit(127)
timed_out = []
def expire(signum, frame):
    timed_out.append(1)
    os.kill(pid, signal.SIGKILL)
signal.signal(signal.SIGALRM, expire)
signal.alarm(timeout)
while True:
    try:
        _, status, usage = os.wait4(pid, 0)
        break
    except InterruptedError:
        continue
signal.alarm(0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, 1 if timed_out else 0)
"""


def run(binary, capture, outdir):
    """Runs BIN on capture; returns (exit status, or None on timeout; stdout
    lines; stderr text; peak RSS in KiB)."""
    out_path, err_path = os.path.join(outdir, "out"), os.path.join(outdir, "err")
    p = subprocess.run([PYTHON, "-S", "-c", LAUNCHER, str(TIMEOUT), out_path, err_path,
                        binary, "-c", CONFIG, "-r", capture],
                       capture_output=True, text=True, timeout=TIMEOUT + 30)
    fields = p.stdout.split()
    if p.returncode != 0 or len(fields) != 3:
        raise RuntimeError("launcher failed: %s" % (p.stderr.strip()[-300:] or p.stdout))
    status, rss_kib, timed_out = (int(x) for x in fields)
    with open(out_path, "rb") as f:
        lines = f.read().decode("utf-8", "strict").splitlines()
    with open(err_path, "rb") as f:
        stderr = f.read().decode("utf-8", "replace")
    return (None if timed_out else status), lines, stderr, rss_kib


def validate(lines):
    if not os.path.exists(VALIDATE):
        return None
    p = subprocess.run([PYTHON, VALIDATE, "-"], input="\n".join(lines) + "\n",
                       capture_output=True, text=True)
    if p.returncode == 0:
        return None
    return (p.stdout.strip().splitlines() or ["validate-records failed"])[-1]


def check_anomalies(recs, wanted):
    errs = []
    anomalies = [r for r in recs if r.get("event_type") == "anomaly"]
    seen = set()
    for r in anomalies:
        a = r.get("anomaly", {})
        if a.get("type") == "http2":
            seen.add(a.get("event"))
            seen.add("%s/%s" % (a.get("event"), a.get("direction")))
    for w in wanted:
        if w not in seen:
            errs.append("no anomaly %s (got %s)" % (w, sorted(x for x in seen if "/" in x) or "none"))
    per_flow = {}
    for r in anomalies:
        per_flow[r.get("flow_id")] = per_flow.get(r.get("flow_id"), 0) + 1
    if per_flow and max(per_flow.values()) > ANOMALY_RECORDS_PER_FLOW:
        errs.append("%d anomaly records on one flow" % max(per_flow.values()))
    return errs


def check_calls(recs, wanted):
    errs = []
    calls = [r["grpc"] for r in recs if r.get("event_type") == "grpc" and isinstance(r.get("grpc"), dict)]
    paths = {c.get("path") for c in calls}
    for w in wanted:
        if w not in paths:
            errs.append("call %s not reported" % w)
    for c in calls:
        if c.get("path") != LEGIT_PATH:
            continue
        got = (c.get("grpc_status"), c.get("request_messages"), c.get("response_messages"), c.get("ended_by"))
        if got != (0, 1, 1, "end_stream"):
            errs.append("legit call decoded as status/req/resp/ended_by %r" % (got,))
    return errs


def check_capture(binary, exp_path, asan):
    with open(exp_path) as f:
        exp = json.load(f)
    name = exp["capture"]
    capture = os.path.join(ATTACKS, name)
    if not os.path.exists(capture):
        report(False, name, "capture missing")
        return
    with tempfile.TemporaryDirectory() as tmp:
        status, lines, stderr, rss_kib = run(binary, capture, tmp)
    errs = []
    if status is None:
        errs.append("no exit within %d s" % TIMEOUT)
    elif status != 0:
        errs.append("exit status %d: %s" % (status, stderr.strip()[:200]))
    marks = [m for m in SANITIZER_MARKS if m in stderr]
    if marks:
        errs.append("sanitizer output (%s): %s" % (", ".join(marks), stderr.strip()[:300]))
    why = validate(lines)
    if why:
        errs.append("validate-records: " + why)
    try:
        recs = [json.loads(line) for line in lines if line.strip()]
    except ValueError as e:
        recs = []
        errs.append("output is not JSON lines: %s" % e)
    errs += check_anomalies(recs, exp.get("anomalies", []))
    errs += check_calls(recs, exp.get("calls", []))
    rss_mib = rss_kib / 1024.0
    if asan:
        rss_note = "RSS %.1f MiB not checked (ASan)" % rss_mib
    else:
        rss_note = "RSS %.1f MiB, cap %d" % (rss_mib, exp["max_rss_mib"])
        if rss_mib > exp["max_rss_mib"]:
            errs.append("peak RSS %.1f MiB > %d MiB" % (rss_mib, exp["max_rss_mib"]))
    detail = "%s (%d records, %s)" % (name, len(recs), rss_note)
    report(not errs, detail, "; ".join(errs))


def check_generator():
    """The committed captures are what the generator writes today."""
    with tempfile.TemporaryDirectory() as tmp:
        p = subprocess.run([PYTHON, os.path.join(HERE, "gen_attacks.py"), tmp],
                           capture_output=True, text=True)
        if p.returncode != 0:
            report(False, "generator", p.stderr.strip()[-300:])
            return
        fresh = sorted(os.path.relpath(f, tmp) for f in glob.glob(os.path.join(tmp, "**", "*.*"), recursive=True))
        kept = sorted(os.path.relpath(f, ATTACKS)
                      for f in glob.glob(os.path.join(ATTACKS, "**", "*.*"), recursive=True))
        differ = [f for f in fresh if f not in kept
                  or not filecmp.cmp(os.path.join(tmp, f), os.path.join(ATTACKS, f), shallow=False)]
        extra = [f for f in kept if f not in fresh]
        report(not differ and not extra, "generator reproduces pcaps/attacks (%d files)" % len(fresh),
               "differ: %s; not generated: %s" % (differ, extra))


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    binary = sys.argv[1]
    asan = asan_instrumented(binary)
    if asan:
        print("note: %s is built with AddressSanitizer: peak RSS is not checked" % binary)
    if not os.path.exists(VALIDATE):
        print("note: %s not found: records are not validated" % VALIDATE)
    expected = sorted(glob.glob(os.path.join(ATTACKS, "expected", "*.json")))
    if not expected:
        report(False, "captures", "nothing in %s" % os.path.join(ATTACKS, "expected"))
    for e in expected:
        check_capture(binary, e, asan)
    check_generator()
    passed = sum(1 for r in results if r)
    failed = len(results) - passed
    print("attacks: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
