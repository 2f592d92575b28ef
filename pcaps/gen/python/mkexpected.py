#!/usr/bin/python3
"""Write one expected-truth file after checking it against the wire.

Usage: mkexpected.py SPEC.json WIRE.json OUT.json

SPEC (written by the generator from what it knows it sent):
  capture, generator, implementation, transport, server_port, notes,
  calls            -- intended calls (truth-file shape, with user_agent_prefix)
  http2_non_grpc_requests
  tls_expect       -- optional {"sni": ..., "alpn": [...], "connections": n}
  http1_requests   -- optional expected number of HTTP/1.x requests
  hpack_shrink     -- optional {"fraction": f, "calls": n}: the request HEADERS of
                      calls 2..n (same path as call 1) must be at most f times
                      as long as call 1's
WIRE: output of wirecheck.py for the capture.
Exits non-zero (and writes nothing) if the wire disagrees with the intent.
"""
import json
import sys

spec = json.load(open(sys.argv[1]))
wire = json.load(open(sys.argv[2]))
out = sys.argv[3]
errors = []


def fail(msg):
    errors.append(msg)


calls = spec["calls"]
if spec["transport"] == "h2c":
    wcalls = wire["calls"]
    if len(wcalls) != len(calls):
        fail("wire has %d calls, intended %d" % (len(wcalls), len(calls)))
    for i, (c, w) in enumerate(zip(calls, wcalls)):
        for k, v in c.items():
            if k == "user_agent_prefix":
                if not (w["user_agent"] or "").startswith(v):
                    fail("call %d: user-agent %r lacks prefix %r" % (i, w["user_agent"], v))
            elif w.get(k) != v:
                fail("call %d: %s wire=%r intended=%r" % (i, k, w.get(k), v))
    if wire["connections"] != spec.get("connections", 1):
        fail("connections: %d" % wire["connections"])
    if wire["tls"]:
        fail("unexpected TLS")
    tls = []
else:
    if wire["calls"]:
        fail("tshark sees cleartext gRPC in a TLS capture")
    tls = wire["tls"]
    te = spec["tls_expect"]
    if len(tls) != te["connections"]:
        fail("%d ClientHellos, expected %d" % (len(tls), te["connections"]))
    for t in tls:
        if t["sni"] != te["sni"]:
            fail("SNI %r" % t["sni"])
        if "alpn" in te and t["alpn"] != te["alpn"]:
            fail("ALPN %r" % t["alpn"])
        if not t["version"]:
            fail("no ServerHello version")
        elif "version" in te and t["version"] != te["version"]:
            fail("TLS version %r" % t["version"])
if wire["http2_non_grpc_requests"] != spec["http2_non_grpc_requests"]:
    fail("http2_non_grpc_requests wire=%d intended=%d" % (
        wire["http2_non_grpc_requests"], spec["http2_non_grpc_requests"]))
if "http1_requests" in spec and wire["http1_requests"] != spec["http1_requests"]:
    fail("http1_requests wire=%d intended=%d" % (wire["http1_requests"], spec["http1_requests"]))
if "hpack_shrink" in spec:
    lens = wire["request_headers_lengths"]
    hs = spec["hpack_shrink"]
    limit = lens[0] * hs["fraction"]
    if len(lens) < hs["calls"] or not all(l <= limit for l in lens[1:hs["calls"]]):
        fail("HPACK: later HEADERS not much smaller: %r" % lens)
if errors:
    sys.stderr.write("mkexpected: %s disagrees with the wire:\n  %s\n" % (
        spec["capture"], "\n  ".join(errors)))
    sys.exit(1)

truth = {
    "capture": spec["capture"],
    "generator": spec["generator"],
    "implementation": spec["implementation"],
    "transport": spec["transport"],
    "server_port": spec["server_port"],
    "calls": calls if spec["transport"] == "h2c" else [],
    "tls": tls,
    "http2_non_grpc_requests": spec["http2_non_grpc_requests"],
    "notes": spec.get("notes", ""),
}
with open(out, "w") as f:
    json.dump(truth, f, indent=2)
    f.write("\n")
