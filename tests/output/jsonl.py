#!/usr/bin/env python3
"""jsonl.py CMD ... - checks on grpcwatch output for tests/output/run.sh.

Records are compared after normalisation: flow_id is random per run, and the
output counters inside stats records (written, write_errors, dropped,
reconnects, retries) depend on how the sink fared, which is what the tests
vary.

  prefix REF FILE     FILE's whole lines are REF's first lines; prints how many
  same REF FILE...    the concatenated FILEs hold exactly REF's records, in
                      order (stats records aside: signals add some)
  lines FILE          every line is whole and valid JSON; prints how many
  stat FILE KEY       prints records.KEY of the last stats record in FILE
  last-ts FILE        prints the timestamp of the last non-stats record
"""
import json
import re
import sys

FLOW_ID = re.compile(rb'"flow_id":\d+,')
COUNTERS = re.compile(rb'"(written|write_errors|dropped|reconnects|retries)":\d+,?')


def norm(line):
    line = FLOW_ID.sub(b"", line)
    if b'"event_type":"stats"' in line:
        line = COUNTERS.sub(b"", line)
    return line


def whole_lines(path):
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    return lines[:-1]  # the last piece is empty or a torn line


def fail(msg):
    print("jsonl.py: " + msg, file=sys.stderr)
    sys.exit(1)


def cmd_prefix(ref, path):
    r, got = whole_lines(ref), whole_lines(path)
    if len(got) > len(r):
        fail("%s has %d lines, more than the %d of %s" % (path, len(got), len(r), ref))
    for i, (a, b) in enumerate(zip(r, got)):
        if norm(a) != norm(b):
            fail("line %d differs:\n  want %s\n  got  %s" % (i + 1, a[:200], b[:200]))
    print(len(got))


def not_stats(lines):
    return [norm(x) for x in lines if b'"event_type":"stats"' not in x]


def cmd_same(ref, paths):
    r = not_stats(whole_lines(ref))
    got = []
    for p in paths:
        got += not_stats(whole_lines(p))
    if r != got:
        for i, (a, b) in enumerate(zip(r, got)):
            if a != b:
                fail("record %d differs:\n  want %s\n  got  %s" % (i + 1, a[:200], b[:200]))
        fail("%d records, want %d" % (len(got), len(r)))


def cmd_lines(path):
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        fail("%s ends in a torn line" % path)
    n = 0
    for i, line in enumerate(data.split(b"\n")[:-1]):
        try:
            json.loads(line)
        except ValueError:
            fail("%s line %d is not JSON: %s" % (path, i + 1, line[:200]))
        n += 1
    print(n)


def records(path):
    return [json.loads(x) for x in whole_lines(path)]


def cmd_stat(path, key):
    stats = [r for r in records(path) if r.get("event_type") == "stats"]
    if not stats:
        fail("no stats record in " + path)
    print(stats[-1].get("stats", {}).get("records", {}).get(key, "missing"))


def cmd_last_ts(path):
    ts = [r["timestamp"] for r in records(path) if r.get("event_type") != "stats"]
    print(ts[-1] if ts else "none")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "prefix":
        cmd_prefix(*args)
    elif cmd == "same":
        cmd_same(args[0], args[1:])
    elif cmd == "lines":
        cmd_lines(*args)
    elif cmd == "stat":
        cmd_stat(*args)
    elif cmd == "last-ts":
        cmd_last_ts(*args)
    else:
        fail("unknown command " + cmd)


if __name__ == "__main__":
    main()
