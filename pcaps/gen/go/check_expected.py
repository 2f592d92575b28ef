#!/usr/bin/python3
"""Verify an expected-truth JSON file against tshark's dissection of its capture.

Used by pcaps/gen/gen-go.sh and pcaps/gen/gen-node.sh after every capture: the
expected file is written from what the generator KNOWS it sent; this script
re-derives the same fields from the wire (tshark -T pdml, HTTP/2 forced on the
server port) and exits 1 on any disagreement, printing both sides.

  check_expected.py EXPECTED.json PCAP            verify
  check_expected.py --dump PCAP PORT              print what the wire says

gRPC messages are counted independently of tshark's grpc dissector: DATA frame
payloads of each HTTP/2 stream are concatenated per direction and walked by
their 5-byte length prefixes (so a message split over several DATA frames
counts once).  tshark's own grpc.message_length count is cross-checked too.
"""
import json
import subprocess
import sys
import xml.etree.ElementTree as ET

EXCLUDED = {"content-type", "te", "user-agent", "grpc-timeout", "grpc-encoding",
            "grpc-accept-encoding"}
CRED_EXACT = {"authorization", "proxy-authorization", "cookie", "x-api-key"}
CRED_SUB = ("token", "secret", "password", "api-key")


def is_cred(name):
    return name in CRED_EXACT or any(s in name for s in CRED_SUB)


def hexval(field):
    v = field.get("value")
    if v is None:
        v = field.get("show", "").replace(":", "")
    return bytes.fromhex(v) if v else b""


def fields(elem, name):
    return [f for f in elem.iter("field") if f.get("name") == name]


def first(elem, name):
    for f in elem.iter("field"):
        if f.get("name") == name:
            return f
    return None


def dissect(pcap, port):
    out = subprocess.run(
        ["tshark", "-r", pcap, "-d", "tcp.port==%d,http2" % port,
         "--disable-protocol", "protobuf", "-T", "pdml"],
        check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    root = ET.fromstring(out)
    streams = {}      # (tcp_stream, h2_stream) -> dict
    conns = set()
    order = 0
    tls = 0
    for pkt in root.iter("packet"):
        tcp = None
        protos = pkt.findall("proto")
        for p in protos:
            if p.get("name") == "tcp":
                tcp = p
            if p.get("name") == "tls":
                tls += 1
        if tcp is None:
            continue
        conn = int(first(tcp, "tcp.stream").get("show"))
        conns.add(conn)
        to_server = int(first(tcp, "tcp.dstport").get("show")) == port
        for p in protos:
            if p.get("name") == "grpc":
                # tshark's own view, for the cross-check
                ml = first(p, "grpc.message_length")
                if ml is not None:
                    # the grpc proto follows the http2 proto holding its DATA frame
                    pass
            if p.get("name") != "http2":
                continue
            for fr in [f for f in p if f.get("name") == "http2.stream"]:
                t = first(fr, "http2.type")
                if t is None:
                    continue
                ftype = int(t.get("show"))
                sid = int(first(fr, "http2.streamid").get("show"))
                if sid == 0:
                    continue
                key = (conn, sid)
                s = streams.get(key)
                if s is None:
                    order += 1
                    s = streams[key] = {"order": order, "conn": conn, "sid": sid,
                                        "req_headers": None, "resp_headers": [],
                                        "c2s": b"", "s2c": b"", "rst": False}
                if ftype in (1, 9):  # HEADERS / CONTINUATION
                    hdrs = []
                    for h in fields(fr, "http2.header"):
                        n = first(h, "http2.header.name")
                        v = first(h, "http2.header.value")
                        if n is None:
                            continue
                        hdrs.append((hexval(n).decode("latin-1"),
                                     hexval(v).decode("latin-1") if v is not None else ""))
                    if to_server:
                        if s["req_headers"] is None:
                            s["req_headers"] = hdrs
                        else:
                            s["req_headers"] += hdrs   # CONTINUATION / request trailers
                    else:
                        s["resp_headers"].append(hdrs)
                elif ftype == 0:
                    d = first(fr, "http2.data.data")
                    if d is not None:
                        s["c2s" if to_server else "s2c"] += hexval(d)
                elif ftype == 3:
                    s["rst"] = True
    return streams, conns, tls


def count_msgs(buf):
    n, i = 0, 0
    while i + 5 <= len(buf):
        ln = int.from_bytes(buf[i + 1:i + 5], "big")
        i += 5 + ln
        n += 1
    if i != len(buf):
        raise SystemExit("gRPC framing error: %d trailing bytes" % (len(buf) - i))
    return n


def tshark_grpc_counts(pcap, port):
    out = subprocess.run(
        ["tshark", "-r", pcap, "-d", "tcp.port==%d,http2" % port, "-Y", "grpc",
         "-T", "fields", "-e", "tcp.stream", "-e", "tcp.dstport", "-e", "http2.streamid",
         "-e", "grpc.message_length"],
        check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    total = {"c2s": 0, "s2c": 0}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) < 4 or not parts[3]:
            continue
        d = "c2s" if int(parts[1]) == port else "s2c"
        total[d] += len(parts[3].split(","))
    return total


def wire_calls(pcap, port):
    streams, conns, tls = dissect(pcap, port)
    calls, non_grpc = [], 0
    for s in sorted(streams.values(), key=lambda s: s["order"]):
        if s["req_headers"] is None:
            continue
        h = s["req_headers"]
        names = [n for n, _ in h]
        get = lambda k: next((v for n, v in h if n == k), None)
        ct = get("content-type") or ""
        if not ct.startswith("application/grpc"):
            non_grpc += 1
            continue
        md = sorted({n for n in names if not n.startswith(":") and n not in EXCLUDED})
        status = message = None
        for blk in s["resp_headers"]:
            for n, v in blk:
                if n == "grpc-status":
                    status = int(v)
                elif n == "grpc-message":
                    message = v
        calls.append({
            "path": get(":path"), "authority": get(":authority"), "content_type": ct,
            "user_agent": get("user-agent"), "metadata_keys": md,
            "credential_keys": sorted(k for k in md if is_cred(k)),
            "grpc_status": status, "grpc_message": message,
            "request_messages": count_msgs(s["c2s"]),
            "response_messages": count_msgs(s["s2c"]),
            "_conn": s["conn"], "_stream": s["sid"], "_rst": s["rst"],
            "_grpc_timeout": get("grpc-timeout"),
        })
    return calls, conns, non_grpc, tls


def main():
    if sys.argv[1] == "--dump":
        calls, conns, non_grpc, tls = wire_calls(sys.argv[2], int(sys.argv[3]))
        print(json.dumps({"connections": len(conns), "non_grpc": non_grpc, "tls_packets": tls,
                          "calls": calls}, indent=2))
        return
    exp = json.load(open(sys.argv[1]))
    pcap = sys.argv[2]
    port = exp["server_port"]
    calls, conns, non_grpc, tls = wire_calls(pcap, port)
    errs = []
    if len(calls) != len(exp["calls"]):
        errs.append("call count: expected %d, wire %d" % (len(exp["calls"]), len(calls)))
    for i, (e, w) in enumerate(zip(exp["calls"], calls)):
        for k in ("path", "authority", "content_type", "grpc_status", "grpc_message",
                  "request_messages", "response_messages"):
            if e[k] != w[k]:
                errs.append("call %d %s: expected %r, wire %r" % (i, k, e[k], w[k]))
        for k in ("metadata_keys", "credential_keys"):
            if sorted(e[k]) != w[k]:
                errs.append("call %d %s: expected %r, wire %r" % (i, k, sorted(e[k]), w[k]))
        if not (w["user_agent"] or "").startswith(e["user_agent_prefix"]):
            errs.append("call %d user-agent %r does not start with %r" %
                        (i, w["user_agent"], e["user_agent_prefix"]))
    if non_grpc != exp["http2_non_grpc_requests"]:
        errs.append("non-gRPC requests: expected %d, wire %d" % (exp["http2_non_grpc_requests"], non_grpc))
    if exp["transport"] == "h2c" and (tls or exp["tls"]):
        errs.append("h2c capture but TLS seen/expected")
    tc = tshark_grpc_counts(pcap, port)
    mine = {"c2s": sum(c["request_messages"] for c in calls),
            "s2c": sum(c["response_messages"] for c in calls)}
    if tc != mine:
        errs.append("tshark grpc dissector counts %r differ from length-prefix walk %r" % (tc, mine))
    if errs:
        print("MISMATCH %s:" % sys.argv[1])
        for e in errs:
            print("  " + e)
        print(json.dumps(calls, indent=2))
        sys.exit(1)
    print("ok  %s: %d calls on %d connection(s), %d req msgs, %d resp msgs" %
          (exp["capture"], len(calls), len(conns), mine["c2s"], mine["s2c"]))


if __name__ == "__main__":
    main()
