#!/usr/bin/env python3
"""check_captures.py BIN - run grpcwatch on every capture and compare with the truth.

Bundled captures: pcaps/<capture> with pcaps/expected/<name>.json written by the
generator that made the capture (what the client and server really did, checked
against tshark). Every field that matters is compared: path, service, method,
authority, content type, user agent, metadata keys, credential keys, status,
message counts; one alert per call with the right severity and signature; one
tls record per TLS connection; the Community ID recomputed here from the spec.

Public captures (../shared/pcaps/public): grpcwatch must exit 0 or 1, print no
sanitizer report, write records that pass validate-records, and report no gRPC
path that the capture does not hold (KNOWN_PATHS, from SOURCES.md's tshark
column), and must find the paths of the captures that hold a whole connection.

Prints one PASS/FAIL line per check and ends with 'captures: N passed, M failed'.
"""
import base64
import glob
import hashlib
import ipaddress
import json
import os
import socket
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("SHARED", os.path.join(ROOT, "..", "shared"))
VALIDATE = os.path.join(SHARED, "tools", "validate-records")
PUBLIC = os.path.join(SHARED, "pcaps", "public")

# gRPC paths each public capture holds (SOURCES.md, tshark -Y grpc). Files not
# listed hold none. "must" = a whole connection (SYN + preface) is in the file,
# so issue 2's pipeline has to find it; the others are mid-stream pickups.
KNOWN_PATHS = {
    "grpc-go-for-professionals/chapter1/Bidi Streaming.pcapng": ({"/greet.GreetService/GreetEveryone"}, True),
    "grpc-go-for-professionals/chapter1/Client Streaming.pcapng": ({"/greet.GreetService/LongGreet"}, True),
    "grpc-go-for-professionals/chapter1/Server Streaming.pcapng": ({"/greet.GreetService/GreetManyTimes"}, True),
    "grpc-go-for-professionals/chapter1/Unary.pcapng": ({"/greet.GreetService/Greet"}, True),
    "suricata-verify/http2-errorcode/input.pcap": ({"/helloworld.GreeterService/SayHello"}, True),
    "deepflow/grpc-service-name.pcap": ({"/StreamingService/ClientStreamRPC"}, True),
    "deepflow/grpc-segmented.pcap": ({"/agent.Synchronizer/Push"}, False),
    "deepflow/grpc-server-stream.pcap": ({"/timeseriesquery.TimeSeriesQueryService/ServerStreamQuery"}, False),
    "deepflow/grpc-unary.pcap": ({"/agent.Synchronizer/Sync"}, False),
    "deepflow/grpc-unknown.pcap": (set(), False),
    "deepflow/h2c_ascii.pcap": ({"/hipstershop.CartService/GetCart"}, False),
    "deepflow/http2-multi.pcap": (set(), False),
    "deepflow/httpv2-stream-id.pcap": ({"/skywalking.v3.ProfileTask/collectSnapshot"}, False),
}
# Calls a capture must yield at least (tshark -Y grpc counts them): the
# CONNECT-tunnelled copy of SayHello in http2-errorcode (via the proxy on
# 8888) and the mid-stream pickups whose :path is a literal.
MIN_CALLS = {
    "suricata-verify/http2-errorcode/input.pcap": 2,
    "deepflow/grpc-segmented.pcap": 1,
    "deepflow/grpc-server-stream.pcap": 1,
    "deepflow/grpc-unary.pcap": 1,
}
# TLS connections with a ClientHello in the capture (SOURCES.md: "N ClientHello").
KNOWN_TLS = {
    "ndpi/443-curl.pcap": "www.ntop.org",
    "ndpi/http_connect.pcap": "apache.org",  # through an HTTP CONNECT proxy and onwards
    "zeek/tls/chrome-1250-tls-x25519-kyber.pcap": None,
    "zeek/tls/openjdk-25.0.2-zeek.org.pcap": None,
    "suricata-verify/tls-alpn-log-detect-02/input.pcap": None,
    "ndpi/tls_2_reasms.pcapng": "i.instagram.com",
    "ndpi/tls_1.2_unidirectional_client.pcapng": "notifications-pa.googleapis.com",
}

SANITIZER_MARKS = ("AddressSanitizer", "runtime error:", "LeakSanitizer", "UndefinedBehaviorSanitizer")

results = []


def report(ok, name, why=""):
    results.append(ok)
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + why), flush=True)


def community_id(src, sport, dst, dport, proto=6, seed=0):
    """Community ID v1, written from the spec, independent of the C code."""
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if (a.packed, sport) > (b.packed, dport):
        a, b, sport, dport = b, a, dport, sport
    data = struct.pack("!H", seed) + a.packed + b.packed + struct.pack("!BBHH", proto, 0, sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode()


def run(binary, capture, timeout=120):
    p = subprocess.run([binary, "-r", capture], capture_output=True, timeout=timeout)
    lines = p.stdout.decode("utf-8", "strict").splitlines()
    return p.returncode, lines, p.stderr.decode("utf-8", "replace")


def parse_records(lines):
    return [json.loads(line) for line in lines if line.strip()]


def validate(lines, name):
    if not os.path.exists(VALIDATE):
        return True, "validate-records not found (skipped)"
    p = subprocess.run([sys.executable, VALIDATE, "-"], input="\n".join(lines) + "\n",
                       capture_output=True, text=True)
    return p.returncode == 0, p.stdout.strip().splitlines()[-1] if p.stdout else ""


def check_flow_fields(recs):
    """Every flow record: Community ID recomputed; alert and grpc of a call share flow_id."""
    for r in recs:
        if "community_id" not in r:
            continue
        want = community_id(r["src_ip"], r["src_port"], r["dest_ip"], r["dest_port"])
        if r["community_id"] != want:
            return "community_id %s != %s" % (r["community_id"], want)
    return None


def call_key(c):
    return (c.get("path") or "", c.get("request_messages"), c.get("response_messages"),
            -1 if c.get("grpc_status") is None else c["grpc_status"], c.get("content_type") or "",
            c.get("server_port") or 0)


def record_call(rec):
    """The grpc object of a record, with the record's server port and app_proto
    beside it, so a truth entry that names them pairs with the right record."""
    g = dict(rec["grpc"])
    g["server_port"], g["app_proto"] = rec["dest_port"], rec.get("app_proto")
    return g


def compare_call(got, want):
    errs = []
    for k in ("path", "authority", "content_type", "grpc_status", "grpc_message",
              "request_messages", "response_messages"):
        if k in want and got.get(k) != want[k]:
            errs.append("%s=%r want %r" % (k, got.get(k), want[k]))
    path = want.get("path") or ""
    if path.count("/") == 2 and path.startswith("/"):
        svc, meth = path[1:].split("/")
        if (got.get("service"), got.get("method")) != (svc, meth):
            errs.append("service/method %r/%r" % (got.get("service"), got.get("method")))
    if "user_agent_prefix" in want and not (got.get("user_agent") or "").startswith(want["user_agent_prefix"]):
        errs.append("user_agent %r" % got.get("user_agent"))
    for k in ("metadata_keys", "credential_keys"):
        if k in want and sorted(got.get(k) or []) != sorted(want[k]):
            errs.append("%s=%r want %r" % (k, got.get(k), want[k]))
    return errs


def check_bundled(binary, truth_path):
    truth = json.load(open(truth_path))
    name = truth["capture"]
    cap = os.path.join(ROOT, "pcaps", name)
    rc, lines, err = run(binary, cap)
    if rc != 0 or any(m in err for m in SANITIZER_MARKS):
        report(False, name, "exit %d, stderr: %s" % (rc, err.strip()[:400]))
        return
    ok, why = validate(lines, name)
    report(ok, name + " validate-records", why)
    recs = parse_records(lines)
    report(check_flow_fields(recs) is None, name + " community_id", check_flow_fields(recs) or "")

    grpc = [r for r in recs if r["event_type"] == "grpc"]
    alerts = [r for r in recs if r["event_type"] == "alert"]
    tls = [r for r in recs if r["event_type"] == "tls"]
    want_calls = truth.get("calls", [])

    # calls: same multiset, every field that matters
    errs = []
    if len(grpc) != len(want_calls):
        errs.append("%d grpc records, want %d: %s" % (len(grpc), len(want_calls),
                                                      sorted(g["grpc"].get("path") or "" for g in grpc)))
    else:
        by_port = all("server_port" in w for w in want_calls)
        got = [record_call(g) for g in grpc]
        if not by_port:
            for g in got:
                g.pop("server_port")
        for g, w in zip(sorted(got, key=call_key), sorted(want_calls, key=call_key)):
            e = compare_call(g, w)
            for k in ("server_port", "app_proto"):
                if k in w and g.get(k) != w[k]:
                    e.append("%s %r, want %r" % (k, g.get(k), w[k]))
            if e:
                errs.append("%s: %s" % (w.get("path"), "; ".join(e)))
    ports = set(truth.get("server_ports", {}).values()) or {truth.get("server_port")}
    for g in grpc:
        if None not in ports and (g["dest_port"] not in ports or g["src_port"] in ports):
            errs.append("orientation: %s:%d -> %s:%d" % (g["src_ip"], g["src_port"], g["dest_ip"], g["dest_port"]))
            break
    report(not errs, name + " grpc calls", " | ".join(errs)[:1500])

    # alerts: one per call, severity 1 exactly when credentials are exposed
    errs = []
    if len(alerts) != len(grpc):
        errs.append("%d alerts for %d calls" % (len(alerts), len(grpc)))
    for a in alerts:
        creds = a["grpc"]["credential_keys"]
        sev, sid = a["alert"]["severity"], a["alert"]["signature_id"]
        if (sev == 1) != bool(creds) or sid != (2300001 if creds else 2300002):
            errs.append("alert %s severity %d sid %d creds %r" % (a["grpc"]["path"], sev, sid, creds))
    grpc_flows = {(g["flow_id"], g["grpc"]["path"]) for g in grpc}
    if any((a["flow_id"], a["grpc"]["path"]) not in grpc_flows for a in alerts):
        errs.append("alert without a matching grpc record (flow_id/path)")
    report(not errs, name + " alerts", " | ".join(errs)[:1000])

    # TLS inventory
    want_tls = truth.get("tls", [])
    errs = []
    if len(tls) != len(want_tls):
        errs.append("%d tls records, want %d" % (len(tls), len(want_tls)))
    for t, w in zip(tls, want_tls):
        t = t["tls"]
        if t.get("sni") != w.get("sni"):
            errs.append("sni %r want %r" % (t.get("sni"), w.get("sni")))
        if "alpn" in w and t.get("alpn") != w["alpn"]:
            errs.append("alpn %r want %r" % (t.get("alpn"), w["alpn"]))
        if w.get("version") and t.get("version") != w["version"]:
            errs.append("version %r want %r" % (t.get("version"), w["version"]))
    report(not errs, name + " tls", " | ".join(errs))

    # no metadata value ever leaves the process
    secrets = truth.get("secret_values", [])
    leaked = [s for s in secrets if any(s in line for line in lines)]
    if secrets:
        report(not leaked, name + " no metadata values", "leaked %r" % leaked)


def check_public(binary, path):
    rel = os.path.relpath(path, PUBLIC)
    rc, lines, err = run(binary, path)
    bad = [m for m in SANITIZER_MARKS if m in err]
    if rc not in (0, 1) or bad:
        report(False, "public " + rel, "exit %d %s: %s" % (rc, bad, err.strip()[:400]))
        return
    ok, why = validate(lines, rel)
    if not ok:
        report(False, "public " + rel, "validate-records: %s" % why)
        return
    recs = parse_records(lines)
    cid = check_flow_fields(recs)
    if cid:
        report(False, "public " + rel, cid)
        return
    paths = {r["grpc"]["path"] for r in recs if r["event_type"] == "grpc"}
    allowed, must = KNOWN_PATHS.get(rel, (set(), False))
    invented = {p for p in paths if p is not None and p not in allowed}
    if invented:
        report(False, "public " + rel, "reported paths not in the capture: %r" % sorted(invented))
        return
    if must and paths != allowed:
        report(False, "public " + rel, "found %r, want %r" % (sorted(p or "" for p in paths), sorted(allowed)))
        return
    named = [r for r in recs if r["event_type"] == "grpc" and r["grpc"]["path"] in allowed]
    if len(named) < MIN_CALLS.get(rel, 0):
        report(False, "public " + rel, "%d calls with a known path, want at least %d" % (len(named), MIN_CALLS[rel]))
        return
    if rel in KNOWN_TLS:
        tls = [r["tls"] for r in recs if r["event_type"] == "tls"]
        want_sni = KNOWN_TLS[rel]
        if not tls or (want_sni and tls[0].get("sni") != want_sni):
            report(False, "public " + rel, "tls records %r, want sni %r" % (tls[:2], want_sni))
            return
    report(True, "public %s (exit %d, %d records, paths %s)" % (rel, rc, len(recs), sorted(p or "-" for p in paths)))


def main():
    binary = sys.argv[1]
    truths = sorted(glob.glob(os.path.join(ROOT, "pcaps", "expected", "*.json")))
    if not truths:
        report(False, "bundled captures", "no pcaps/expected/*.json")
    for t in truths:
        check_bundled(binary, t)
    if os.path.isdir(PUBLIC):
        pcaps = sorted(p for p in glob.glob(os.path.join(PUBLIC, "**", "*"), recursive=True)
                       if p.endswith((".pcap", ".pcapng")))
        for p in pcaps:
            check_public(binary, p)
    elif os.environ.get("GW_REQUIRE_PUBLIC_PCAPS") == "1":
        report(False, "public captures", "%s not found" % PUBLIC)
    else:
        print("NOTE public captures not found at %s: not run" % PUBLIC)
    passed = sum(results)
    print("captures: %d passed, %d failed" % (passed, len(results) - passed))
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
