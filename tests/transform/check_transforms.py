#!/usr/bin/env python3
"""check_transforms.py BIN [--table] [--only SUBSTRING]

Runs `BIN -r` on every capture in pcaps/transformed/ (what a SPAN port really
delivers: mid-stream pickups, one direction only, duplicates, re-cut,
reordered and conflicting segments, losses, IPv6, VLAN/QinQ, tunnels, IP
fragments; made by tests/transform/transform.py) and compares the records
with pcaps/transformed/expected/<capture>.json.

Per capture: exit status 0 and no sanitizer report on stderr; the records pass
validate-records ($SHARED/tools/validate-records, SHARED defaults to
../shared beside the repository); Community IDs recomputed here; every gRPC
and alert record oriented client -> server: src_ip/src_port the connection's
client (the SYN sender of the source capture: client_ip, client_port), dest
the server (server_ip, server_port), whatever order the packets arrive in; the tunnel
object when the capture is tunnelled (and none otherwise); grpc.midstream when
the expectation says; no reported path outside must_not_report_paths_outside;
then the grpc records are matched one-to-one with the expected calls:
  - a field the expectation gives is compared exactly; a field it gives as
    null (named in the call's "unknowable") must be null: a sensor that can
    not know must not guess; content_type may instead be one of
    content_type_alternatives (the content type seen in the response);
  - metadata/credential keys: the exact list, or between *_at_least and
    *_at_most (a sensor can not name a key it could not decode);
  - message counts: exact, or within min_/max_ bounds (never more than sent);
  - every call with "required": true must be matched; optional calls
    (nothing received proves them gRPC) may be reported or not; every record
    must match some call (no invented call).
One alert per gRPC record with the severity its credential keys imply.

Prints one PASS/FAIL line per capture and ends with
'transforms: N passed, M failed'; exit status 1 if any failed. --table prints
instead one row per capture of what was recovered (calls found/expected,
paths known, messages counted) for the closing note.
"""
import argparse
import base64
import concurrent.futures
import copy
import glob
import hashlib
import ipaddress
import json
import os
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("SHARED", os.path.join(ROOT, "..", "shared"))
VALIDATE = os.path.join(SHARED, "tools", "validate-records")
TRANSFORMED = os.path.join(ROOT, "pcaps", "transformed")
SANITIZER_MARKS = ("AddressSanitizer", "runtime error:", "LeakSanitizer", "UndefinedBehaviorSanitizer")
STRICT_FIELDS = ("path", "authority", "content_type", "grpc_status", "grpc_message")


def community_id(src, sport, dst, dport, proto=6, seed=0):
    """Community ID v1, from the spec (independent of the C code)."""
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if (a.packed, sport) > (b.packed, dport):
        a, b, sport, dport = b, a, dport, sport
    data = struct.pack("!H", seed) + a.packed + b.packed + struct.pack("!BBHH", proto, 0, sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode()


def run(binary, capture, timeout=120):
    try:
        p = subprocess.run([binary, "-r", capture], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, [], "timed out after %d s" % timeout
    except OSError as e:
        return None, [], "can not run %s: %s" % (binary, e)
    lines = p.stdout.decode("utf-8", "replace").splitlines()
    return p.returncode, lines, p.stderr.decode("utf-8", "replace")


def validate(lines):
    if not os.path.exists(VALIDATE):
        return True, "validate-records not found (skipped)"
    p = subprocess.run([sys.executable, VALIDATE, "-"], input="\n".join(lines) + "\n",
                       capture_output=True, text=True)
    out = (p.stdout + p.stderr).strip().splitlines()
    return p.returncode == 0, " | ".join(out[-4:])


def keys_ok(got, want, name):
    got = got or []
    if want.get(name) is not None:
        return sorted(got) == sorted(want[name])
    least, most = set(want.get(name + "_at_least", [])), set(want.get(name + "_at_most", []))
    return least <= set(got) <= most


def call_errors(g, want):
    """Why grpc object g can not be the record of expected call want ([] = it can)."""
    errs = []
    for k in STRICT_FIELDS:
        if k not in want:
            continue
        if k == "content_type" and want[k] is None and g.get(k) in want.get("content_type_alternatives", []):
            continue
        if g.get(k) != want[k]:
            errs.append("%s=%r want %r" % (k, g.get(k), want[k]))
    if "user_agent_prefix" in want:
        if not (g.get("user_agent") or "").startswith(want["user_agent_prefix"]):
            errs.append("user_agent=%r want prefix %r" % (g.get("user_agent"), want["user_agent_prefix"]))
    elif "user_agent" in want and g.get("user_agent") != want["user_agent"]:
        errs.append("user_agent=%r want %r" % (g.get("user_agent"), want["user_agent"]))
    for k in ("metadata_keys", "credential_keys"):
        if not keys_ok(g.get(k), want, k):
            errs.append("%s=%r want %s" % (k, g.get(k), want[k] if want.get(k) is not None else "between %r and %r" % (
                want.get(k + "_at_least"), want.get(k + "_at_most"))))
    for k in ("request_messages", "response_messages"):
        v = g.get(k)
        if want.get(k) is not None:
            if v != want[k]:
                errs.append("%s=%r want %r" % (k, v, want[k]))
        elif not (isinstance(v, int) and want["min_" + k] <= v <= want["max_" + k]):
            errs.append("%s=%r want %d..%d" % (k, v, want["min_" + k], want["max_" + k]))
    return errs


def match(records, calls):
    """Maximum one-to-one matching of records to compatible calls (Kuhn).
    Returns (record index -> call index, compatibility lists)."""
    compat = [[j for j, c in enumerate(calls) if not call_errors(r, c)] for r in records]
    owner = {}

    def augment(i, seen):
        for j in compat[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    # required calls first: try records against them before optional ones
    order = sorted(range(len(records)), key=lambda i: len(compat[i]))
    for i in order:
        augment(i, set())
    return {i: j for j, i in owner.items()}, compat


def describe_record(g):
    return "path=%r status=%r req=%r resp=%r keys=%r" % (
        g.get("path"), g.get("grpc_status"), g.get("request_messages"), g.get("response_messages"),
        g.get("metadata_keys"))


def orientation_errors(want, recs):
    """Every grpc and alert record must name the connection's client (the SYN
    sender of the source capture) as src_ip/src_port and the server as
    dest_ip/dest_port. client_port is checked when the expectation has it."""
    client = (want["client_ip"], want.get("client_port"))
    server = (want["server_ip"], want["server_port"])
    wrong, swapped = [], 0
    for r in recs:
        src, dst = (r.get("src_ip"), r.get("src_port")), (r.get("dest_ip"), r.get("dest_port"))
        ok = src[0] == client[0] and (client[1] is None or src[1] == client[1]) and dst == server
        if not ok:
            wrong.append(r)
            if dst[0] == client[0] and (client[1] is None or dst[1] == client[1]) and src == server:
                swapped += 1
    if not wrong:
        return []
    r = wrong[0]
    return ["orientation: %d of %d grpc/alert records wrong (%d with client and server swapped), e.g. "
            "%s %s:%s -> %s:%s, want client %s:%s -> server %s:%d" % (
                len(wrong), len(recs), swapped, r.get("event_type"), r.get("src_ip"), r.get("src_port"),
                r.get("dest_ip"), r.get("dest_port"), client[0], client[1] if client[1] is not None else "*",
                server[0], server[1])]


def check_capture(binary, exp_path):
    """Runs the sensor on one capture. Returns (name, errors, summary dict)."""
    want = json.load(open(exp_path))
    rc, lines, err = run(binary, os.path.join(TRANSFORMED, want["capture"]))
    return evaluate(want, rc, lines, err)


def evaluate(want, rc, lines, err):
    """Judges one run's exit status, stderr and output lines against want."""
    name = want["capture"]
    summary = {"name": name, "transformation": want["transformation"], "source": want["source"][:-5],
               "calls": want["calls"], "required": sum(1 for c in want["calls"] if c["required"])}
    bad = [m for m in SANITIZER_MARKS if m in err]
    if rc != 0 or bad:
        return name, ["exit %s%s: %s" % (rc, " sanitizer " + ",".join(bad) if bad else "", err.strip()[:600])], summary
    ok, why = validate(lines)
    errs = [] if ok else ["validate-records: " + why]
    try:
        recs = [json.loads(line) for line in lines if line.strip()]
    except ValueError as e:
        return name, errs + ["output is not JSON lines: %s" % e], summary
    grpc = [r for r in recs if r.get("event_type") == "grpc"]
    alerts = [r for r in recs if r.get("event_type") == "alert"]
    tls = [r for r in recs if r.get("event_type") == "tls"]
    summary["grpc"] = [r.get("grpc", {}) for r in grpc]

    for r in recs:
        if "community_id" in r and "src_ip" in r:
            try:
                cid = community_id(r["src_ip"], r["src_port"], r["dest_ip"], r["dest_port"])
            except (ValueError, KeyError, TypeError):
                errs.append("unparsable flow fields in %s record" % r.get("event_type"))
                break
            if r["community_id"] != cid:
                errs.append("community_id %s, want %s" % (r["community_id"], cid))
                break
    errs += orientation_errors(want, grpc + alerts)
    tun = want.get("tunnel")
    for r in grpc:
        t = r.get("tunnel")
        if tun is None:
            if t is not None:
                errs.append("tunnel %r reported for a capture without tunnel" % t)
                break
            continue
        if not isinstance(t, dict):
            errs.append("no tunnel object, want %r" % tun)
            break
        diffs = ["%s=%r want %r" % (k, t.get(k), v) for k, v in tun.items() if t.get(k) != v]
        if diffs:
            errs.append("tunnel: " + ", ".join(diffs))
            break
    mid = want.get("expect_midstream")
    if mid is not None:
        wrong = [g for g in grpc if bool(g.get("grpc", {}).get("midstream")) != mid]
        if wrong:
            errs.append("%d of %d grpc records with midstream=%r, want %r" % (
                len(wrong), len(grpc), wrong[0]["grpc"].get("midstream"), mid))
    allowed = set(want["must_not_report_paths_outside"])
    invented = sorted({g["grpc"].get("path") for g in grpc if g.get("grpc", {}).get("path") is not None} - allowed)
    if invented:
        errs.append("reported paths not in the capture: %r" % invented)
    if len(tls) != len(want.get("tls", [])):
        errs.append("%d tls records, want %d" % (len(tls), len(want.get("tls", []))))

    # calls: one-to-one matching
    gobjs = [r.get("grpc", {}) for r in grpc]
    calls = want["calls"]
    assigned, compat = match(gobjs, calls)
    matched_calls = set(assigned.values())
    summary["matched"] = len(assigned)
    summary["matched_required"] = sum(1 for j in matched_calls if calls[j]["required"])
    for j, c in enumerate(calls):
        if c["required"] and j not in matched_calls:
            near = sorted((call_errors(g, c) for g in gobjs),
                          key=lambda e: (any(x.startswith("path=") for x in e), len(e)))
            hint = ("closest record: " + "; ".join(near[0])) if near else "no grpc record at all"
            errs.append("call on stream %d (%s) not reported correctly: %s" % (
                c["stream_id"], c.get("path") or c.get("true_values", {}).get("path"), hint))
    for i, g in enumerate(gobjs):
        if i not in assigned:
            errs.append("record matches no expected call: %s" % describe_record(g))
    if len(errs) > 12:
        errs = errs[:12] + ["... %d more" % (len(errs) - 12)]

    # alerts: one per call, severity 1 exactly when credentials are exposed
    if len(alerts) != len(grpc):
        errs.append("%d alerts for %d grpc records" % (len(alerts), len(grpc)))
    for a in alerts:
        creds = a.get("grpc", {}).get("credential_keys") or []
        al = a.get("alert", {})
        if (al.get("severity") == 1) != bool(creds):
            errs.append("alert severity %r with credential keys %r" % (al.get("severity"), creds))
            break
    return name, errs, summary


def table_row(s, ok):
    """One Markdown row: what the sensor recovered next to what was knowable."""
    grpc, calls = s.get("grpc", []), s["calls"]
    got_paths = sum(1 for g in grpc if g.get("path"))
    can_paths = sum(1 for c in calls if c.get("path"))
    got_status = sum(1 for g in grpc if g.get("grpc_status") is not None)
    can_status = sum(1 for c in calls if c.get("grpc_status") is not None)

    def msgs(k):
        got = sum(g.get(k) or 0 for g in grpc)
        true = sum(c[k] if c.get(k) is not None else c["max_" + k] for c in calls)
        return "%d/%d" % (got, true)

    return "| %s | %s | %d / %d (%d required) | %d / %d | %d / %d | %s | %s | %s |" % (
        s["transformation"], s["source"], len(grpc), len(calls), s["required"], got_paths, can_paths,
        got_status, can_status, msgs("request_messages"), msgs("response_messages"), "PASS" if ok else "FAIL")


# --------------------------------------------------------------------------
# --selftest: the checker must accept an ideal sensor and reject wrong ones
# --------------------------------------------------------------------------


def ideal_records(want, optional=False):
    """The records a sensor that knows exactly what is knowable would write
    (with optional=True it also reports the calls it can not prove gRPC)."""
    out = []
    for n, c in enumerate(c for c in want["calls"] if c["required"] or optional):
        g = {"path": c["path"]}
        if c["path"] and c["path"].count("/") == 2:
            g["service"], g["method"] = c["path"][1:].split("/")
        else:
            g["service"] = g["method"] = None
        g["authority"] = c.get("authority")
        g["content_type"] = c.get("content_type")
        g["user_agent"] = c["user_agent_prefix"] + "1.0" if c.get("user_agent_prefix") else None
        g["metadata_keys"] = c["metadata_keys"] if c.get("metadata_keys") is not None else c["metadata_keys_at_least"]
        g["credential_keys"] = (c["credential_keys"] if c.get("credential_keys") is not None
                                else c["credential_keys_at_least"])
        g["grpc_status"], g["grpc_message"], g["http_status"] = c["grpc_status"], c["grpc_message"], 200
        for k in ("request_messages", "response_messages"):
            g[k] = c[k] if c.get(k) is not None else c["min_" + k]
        if want.get("expect_midstream"):
            g["midstream"] = True
        g["ended_by"] = "end_stream"
        cport = want.get("client_port", 40000)
        head = {"timestamp": "2026-11-23T10:00:00.%06dZ" % n, "flow_id": 1,
                "src_ip": want["client_ip"], "src_port": cport, "dest_ip": want["server_ip"],
                "dest_port": want["server_port"], "proto": "TCP", "app_proto": "grpc"}
        head["community_id"] = community_id(head["src_ip"], cport, head["dest_ip"], want["server_port"])
        if want.get("tunnel"):
            head["tunnel"] = dict(want["tunnel"])
        out.append(dict(head, event_type="grpc", grpc=g))
        sev = 1 if g["credential_keys"] else 2
        out.append(dict(head, event_type="alert", grpc=g, alert={
            "action": "allowed", "gid": 1, "signature_id": 2300000 + sev, "rev": 1, "signature": "s",
            "category": "c", "severity": sev}))
    return out


def corruptions(want, recs):
    """(what, records) pairs that a correct checker must reject."""
    grpc = [r for r in recs if r["event_type"] == "grpc"]
    out = []
    if grpc:
        out.append(("a required call missing", [r for r in recs if r["grpc"] is not grpc[0]["grpc"]]))
    for c, r in zip([c for c in want["calls"] if c["required"]], grpc):
        if c["path"] is None and c.get("true_values", {}).get("path"):
            bad = copy.deepcopy(recs)
            for x in bad:
                if x["grpc"] == r["grpc"]:
                    x["grpc"]["path"] = c["true_values"]["path"]
                    x["grpc"]["service"], x["grpc"]["method"] = c["true_values"]["path"][1:].split("/")
            out.append(("an unknowable path guessed", bad))
            break
    for c, r in zip([c for c in want["calls"] if c["required"]], grpc):
        top = c["response_messages"] if c.get("response_messages") is not None else c["max_response_messages"]
        bad = copy.deepcopy(recs)
        for x in bad:
            if x["grpc"] == r["grpc"]:
                x["grpc"]["response_messages"] = top + 1
        out.append(("more response messages than sent", bad))
        break
    if grpc:
        extra = copy.deepcopy(grpc[0])
        extra["grpc"]["path"], extra["grpc"]["service"], extra["grpc"]["method"] = "/evil.v1.X/Y", "evil.v1.X", "Y"
        alert = copy.deepcopy([r for r in recs if r["event_type"] == "alert"][0])
        alert["grpc"] = extra["grpc"]
        out.append(("an invented call", recs + [extra, alert]))
    if grpc:
        # a sensor that takes the first packet's sender for the client: every
        # record with client and server swapped (the Community ID is symmetric)
        bad = copy.deepcopy(recs)
        for x in bad:
            x["src_ip"], x["dest_ip"] = x["dest_ip"], x["src_ip"]
            x["src_port"], x["dest_port"] = x["dest_port"], x["src_port"]
        out.append(("client and server swapped", bad))
        bad = copy.deepcopy(recs)
        x = bad[-1]  # one record (an alert) only
        x["src_ip"], x["dest_ip"] = x["dest_ip"], x["src_ip"]
        x["src_port"], x["dest_port"] = x["dest_port"], x["src_port"]
        out.append(("one record with client and server swapped", bad))
        if want.get("client_port") is not None:
            bad = copy.deepcopy(recs)
            for x in bad:
                x["src_port"] = want["client_port"] + 1
                x["community_id"] = community_id(x["src_ip"], x["src_port"], x["dest_ip"], x["dest_port"])
            out.append(("a wrong client port", bad))
    if want.get("tunnel") and grpc:
        bad = copy.deepcopy(recs)
        for x in bad:
            x.pop("tunnel", None)
        out.append(("the tunnel not reported", bad))
    return out


def selftest(exps):
    passed = failed = 0
    for e in exps:
        want = json.load(open(e))
        recs = ideal_records(want)
        lines = [json.dumps(r) for r in recs]
        _, errs, _ = evaluate(want, 0, lines, "")
        ok = not errs
        print(("PASS " if ok else "FAIL ") + "selftest ideal sensor on " + want["capture"] +
              ("" if ok else ": " + " | ".join(errs)))
        passed, failed = passed + ok, failed + (not ok)
        if any(not c["required"] for c in want["calls"]):
            _, errs, _ = evaluate(want, 0, [json.dumps(r) for r in ideal_records(want, True)], "")
            ok = not errs
            print(("PASS " if ok else "FAIL ") + "selftest ideal sensor with optional calls on " +
                  want["capture"] + ("" if ok else ": " + " | ".join(errs)))
            passed, failed = passed + ok, failed + (not ok)
        for what, bad in corruptions(want, recs):
            _, errs, _ = evaluate(want, 0, [json.dumps(r) for r in bad], "")
            ok = bool(errs)
            print(("PASS " if ok else "FAIL ") + "selftest rejects %s on %s" % (what, want["capture"]))
            passed, failed = passed + ok, failed + (not ok)
    print("selftest: %d passed, %d failed" % (passed, failed))
    return failed == 0


def main():
    ap = argparse.ArgumentParser(description="check grpcwatch against the transformed captures")
    ap.add_argument("binary", nargs="?")
    ap.add_argument("--selftest", action="store_true",
                    help="check the checker: an ideal sensor built from the expectations must pass, "
                         "wrong ones must fail (no BIN needed)")
    ap.add_argument("--table", action="store_true", help="print what was recovered, one row per capture")
    ap.add_argument("--only", help="only captures whose name contains this")
    ap.add_argument("--jobs", type=int, default=min(8, os.cpu_count() or 1), help="captures run at once")
    args = ap.parse_args()
    exps = sorted(glob.glob(os.path.join(TRANSFORMED, "expected", "*.json")))
    if args.only:
        exps = [e for e in exps if args.only in os.path.basename(e)]
    if args.selftest:
        sys.exit(0 if selftest(exps) and exps else 1)
    if not args.binary:
        ap.error("BIN is required")
    passed = failed = 0
    if not exps:
        print("FAIL transformed captures: none found in %s" % os.path.join(TRANSFORMED, "expected"))
        failed += 1
    if args.table:
        print("| transformation | source | grpc records / expected calls | paths reported / knowable | "
              "statuses reported / knowable | request msgs reported / sent | response msgs reported / sent | |")
        print("|---|---|---|---|---|---|---|---|")
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        # map() yields in submission order, so the output order is fixed
        for name, errs, summary in pool.map(lambda e: check_capture(args.binary, e), exps):
            if errs:
                failed += 1
            else:
                passed += 1
            if args.table:
                print(table_row(summary, not errs), flush=True)
            else:
                print(("PASS " if not errs else "FAIL ") + name + ("" if not errs else ": " + " | ".join(errs)),
                      flush=True)
    print("transforms: %d passed, %d failed" % (passed, failed))
    sys.exit(0 if failed == 0 else 1)


if __name__ == "__main__":
    main()
