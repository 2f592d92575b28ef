#!/usr/bin/python3
"""Verify pcaps/expected/grpcweb.json against tshark's dissection of pcaps/grpcweb.pcap.

Used by pcaps/gen/gen-grpcweb.sh. The expected file is written from what the
generator KNOWS its client sent and its server answered; this script
re-derives every field from the wire and exits 1 on any disagreement.

  check_grpcweb.py EXPECTED.json PCAP       verify
  check_grpcweb.py --dump PCAP WEB_PORT H2_PORT    print what the wire says

Two legs, one file:
  gRPC-Web over HTTP/1.1 (client -> translator): tshark's HTTP dissector
    (-d tcp.port==WEB,http) gives each request and response head and the
    de-chunked body (http.file_data). The gRPC-Web body framing is decoded
    here, independently of tshark: "-text" bodies are base64 decoded in
    4-character groups (padding may recur mid-body), then walked by their
    5-byte prefixes (flag 0x80 = trailer frame, whose "name:value\\r\\n" lines
    give grpc-status / grpc-message); a trailers-only answer carries them as
    response header fields. tshark's own grpc dissector (it knows gRPC-Web,
    text too) is cross-checked per call: its count of DATA frames must equal ours.
    metadata_keys follow include/grpcwatch/http1.h: the request's field names,
    lowercase, minus the gRPC non-metadata names and the HTTP/1.x connection
    fields.
  gRPC over h2c (translator -> grpc-js server): pcaps/gen/go/check_expected.py's
    wire_calls() (tshark -d tcp.port==H2,http2).

Calls are matched by (server port, path, content-type), unique in this capture,
and must be listed in the order they end on the wire (the frame of the server's
END_STREAM, or of the last segment of the gRPC-Web response).
"""
import base64
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "go"))
import check_expected  # noqa: E402  (wire_calls for the HTTP/2 leg, EXCLUDED, is_cred)

HTTP1_CONN_FIELDS = {"host", "connection", "keep-alive", "proxy-connection", "transfer-encoding",
                     "content-length", "upgrade", "http2-settings", "trailer"}


def fval(field):
    v = field.get("value")
    return bytes.fromhex(v) if v else b""


def header_lines(proto, name):
    """[(lowercase name, value)] of the http.request.line / http.response.line fields."""
    out = []
    for f in proto.iter("field"):
        if f.get("name") != name:
            continue
        line = fval(f).decode("latin-1").rstrip("\r\n")
        n, _, v = line.partition(":")
        out.append((n.strip().lower(), v.strip()))
    return out


def first(elem, name):
    for f in elem.iter("field"):
        if f.get("name") == name:
            return f
    return None


def b64_decode_stream(text):
    """base64 whose padding may recur mid-body (PROTOCOL-WEB.md): decode 4 chars at a time."""
    raw = bytes(c for c in text if c not in b" \r\n\t")
    if len(raw) % 4:
        raise SystemExit("grpc-web-text body is not a multiple of 4 characters")
    return b"".join(base64.b64decode(raw[i:i + 4], validate=True) for i in range(0, len(raw), 4))


def walk_frames(body):
    """(data frames, trailer fields dict) of a gRPC-Web body."""
    n, i, trailers = 0, 0, {}
    while i + 5 <= len(body):
        flag = body[i]
        ln = int.from_bytes(body[i + 1:i + 5], "big")
        payload = body[i + 5:i + 5 + ln]
        if len(payload) != ln:
            raise SystemExit("gRPC-Web framing error: frame of %d bytes truncated" % ln)
        if flag & 0x80:
            for line in payload.decode("latin-1").split("\r\n"):
                if line:
                    k, _, v = line.partition(":")
                    trailers[k.strip().lower()] = v.strip()
        else:
            n += 1
        i += 5 + ln
    if i != len(body):
        raise SystemExit("gRPC-Web framing error: %d trailing bytes" % (len(body) - i))
    return n, trailers


def web_calls(pcap, port):
    out = subprocess.run(
        ["tshark", "-r", pcap, "-d", "tcp.port==%d,http" % port, "--disable-protocol", "protobuf",
         "-Y", "tcp.port==%d && http" % port, "-T", "pdml"],
        check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    root = ET.fromstring(out)
    reqs, order = {}, []
    for pkt in root.iter("packet"):
        frame = int(first(pkt, "frame.number").get("show"))
        conn = int(first(pkt, "tcp.stream").get("show"))
        http = None
        for p in pkt.findall("proto"):
            if p.get("name") == "http":
                http = p
                if first(p, "http.request.method") is not None:
                    body = first(p, "http.file_data")
                    r = {"frame": frame, "conn": conn, "http": p,
                         "headers": header_lines(p, "http.request.line"),
                         "target": first(p, "http.request.uri").get("show"),
                         "method": first(p, "http.request.method").get("show"),
                         "body": fval(body) if body is not None else b"",
                         "resp": None, "end_frame": None, "tshark_req": 0, "tshark_resp": 0}
                    reqs[frame] = r
                    order.append(frame)
                    cur = (r, "tshark_req")
                else:
                    rin = first(p, "http.request_in")
                    if rin is None:
                        raise SystemExit("frame %d: HTTP response without its request" % frame)
                    r = reqs[int(rin.get("show"))]
                    body = first(p, "http.file_data")
                    r["end_frame"] = frame
                    r["resp"] = {"code": int(first(p, "http.response.code").get("show")),
                                 "headers": header_lines(p, "http.response.line"),
                                 "body": fval(body) if body is not None else b""}
                    cur = (r, "tshark_resp")
            elif p.get("name") == "grpc" and http is not None:
                ft = first(p, "grpc.frame_type")
                if ft is not None and ft.get("show") == "0":
                    cur[0][cur[1]] += 1
    calls, non_grpc = [], 0
    for fr in order:
        r = reqs[fr]
        h = r["headers"]
        get = lambda k, hh=h: next((v for n, v in hh if n == k), None)
        ct = get("content-type") or ""
        if not ct.lower().startswith("application/grpc"):
            non_grpc += 1
            continue
        text = ct.lower().startswith("application/grpc-web-text")
        md = sorted({n for n, _ in h} - check_expected.EXCLUDED - HTTP1_CONN_FIELDS)
        req_body = b64_decode_stream(r["body"]) if text else r["body"]
        nreq, _ = walk_frames(req_body)
        status = message = None
        nresp = 0
        if r["resp"] is not None:
            rh = r["resp"]["headers"]
            rct = next((v for n, v in rh if n == "content-type"), "")
            rbody = r["resp"]["body"]
            if rct.lower().startswith("application/grpc-web-text"):
                rbody = b64_decode_stream(rbody)
            nresp, trailers = walk_frames(rbody)
            fields = dict(rh)
            fields.update(trailers)       # trailer frame, else trailers-only response fields
            if "grpc-status" in fields:
                status = int(fields["grpc-status"])
            message = fields.get("grpc-message")
        path = r["target"]
        if path.startswith("http://"):
            path = "/" + path.split("/", 3)[3]
        calls.append({
            "server_port": port, "path": path, "authority": get("host"), "content_type": ct,
            "user_agent": get("user-agent"), "metadata_keys": md,
            "credential_keys": sorted(k for k in md if check_expected.is_cred(k)),
            "grpc_status": status, "grpc_message": message,
            "request_messages": nreq, "response_messages": nresp,
            "_conn": r["conn"], "_end_frame": r["end_frame"], "_http_method": r["method"],
            "_http_status": r["resp"]["code"] if r["resp"] else None,
            "_tshark_grpc_data_frames": [r["tshark_req"], r["tshark_resp"]],
        })
    return calls, non_grpc


def h2_end_frames(pcap, port):
    """{(tcp stream, h2 stream): frame number of the server's END_STREAM (DATA or HEADERS)}.

    http2.type, http2.flags and http2.streamid occur once per HTTP/2 frame, so
    their occurrence lists line up (http2.flags.end_stream does not: it exists
    only on some frame types)."""
    out = subprocess.run(
        ["tshark", "-r", pcap, "-d", "tcp.port==%d,http2" % port, "-Y", "tcp.srcport==%d && http2" % port,
         "-T", "fields", "-E", "occurrence=a", "-e", "frame.number", "-e", "tcp.stream",
         "-e", "http2.type", "-e", "http2.flags", "-e", "http2.streamid"],
        check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    ends = {}
    for line in out.splitlines():
        frame, conn, types, flags, sids = line.split("\t")
        types, flags, sids = types.split(","), flags.split(","), sids.split(",")
        if not len(types) == len(flags) == len(sids):
            raise SystemExit("frame %s: http2 field lists do not line up" % frame)
        for t, f, sid in zip(types, flags, sids):
            if int(t) in (0, 1) and int(f, 0) & 0x1:
                ends[(int(conn), int(sid))] = int(frame)
    return ends


def h2_calls(pcap, port):
    calls, _, non_grpc, tls = check_expected.wire_calls(pcap, port)
    ends = h2_end_frames(pcap, port)
    for c in calls:
        c["server_port"] = port
        c["_end_frame"] = ends.get((c["_conn"], c["_stream"]))
    return calls, non_grpc, tls


def all_calls(pcap, web_port, h2_port):
    web, web_non = web_calls(pcap, web_port)
    h2, h2_non, tls = h2_calls(pcap, h2_port)
    return web, h2, web_non + h2_non, tls


def key(c):
    return (c["server_port"], c["path"], c["content_type"])


def main():
    if sys.argv[1] == "--dump":
        web, h2, non_grpc, tls = all_calls(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        print(json.dumps({"non_grpc": non_grpc, "tls_packets": tls, "grpc_web": web, "h2c": h2},
                         indent=2))
        return
    exp = json.load(open(sys.argv[1]))
    pcap = sys.argv[2]
    ports = exp["server_ports"]
    web, h2, non_grpc, tls = all_calls(pcap, ports["grpc-web"], ports["h2c"])
    errs = []
    wire = {}
    for c in web + h2:
        if key(c) in wire:
            errs.append("two calls on the wire with key %r" % (key(c),))
        wire[key(c)] = c
    for c in web:
        if c["_tshark_grpc_data_frames"] != [c["request_messages"], c["response_messages"]]:
            errs.append("%r: tshark grpc-web DATA frames %r, our decode %r" %
                        (key(c), c["_tshark_grpc_data_frames"],
                         [c["request_messages"], c["response_messages"]]))
        if c["_http_method"] != "POST" or c["_http_status"] != 200:
            errs.append("%r: %s answered %r" % (key(c), c["_http_method"], c["_http_status"]))
    if len(exp["calls"]) != len(wire):
        errs.append("call count: expected %d, wire %d" % (len(exp["calls"]), len(wire)))
    for e in exp["calls"]:
        w = wire.get(key(e))
        if w is None:
            errs.append("expected call %r not on the wire" % (key(e),))
            continue
        for k in ("authority", "grpc_status", "grpc_message", "request_messages", "response_messages"):
            if e[k] != w[k]:
                errs.append("%r %s: expected %r, wire %r" % (key(e), k, e[k], w[k]))
        for k in ("metadata_keys", "credential_keys"):
            if sorted(e[k]) != w[k]:
                errs.append("%r %s: expected %r, wire %r" % (key(e), k, sorted(e[k]), w[k]))
        if not (w["user_agent"] or "").startswith(e["user_agent_prefix"]):
            errs.append("%r user-agent %r does not start with %r" %
                        (key(e), w["user_agent"], e["user_agent_prefix"]))
        if e.get("app_proto") != ("grpc-web" if e["server_port"] == ports["grpc-web"] else "grpc"):
            errs.append("%r app_proto %r" % (key(e), e.get("app_proto")))
    # the expected file lists the calls in the order they end on the wire (server's END_STREAM,
    # last segment of the gRPC-Web response)
    by_end = [key(c) for c in sorted(web + h2, key=lambda c: c["_end_frame"] or 1 << 60)]
    if [key(e) for e in exp["calls"]] != by_end:
        errs.append("calls are not listed in the order they end on the wire: %r" % by_end)
    if non_grpc != exp["http_non_grpc_requests"]:
        errs.append("non-gRPC requests: expected %d, wire %d" % (exp["http_non_grpc_requests"], non_grpc))
    if tls or exp["tls"]:
        errs.append("cleartext capture but TLS seen/expected")
    web_conns = len({c["_conn"] for c in web})
    h2_conns = len({c["_conn"] for c in h2})
    want = exp.get("connections", {})
    if want and (want.get("grpc-web"), want.get("h2c")) != (web_conns, h2_conns):
        errs.append("connections: expected %r, wire grpc-web %d h2c %d" % (want, web_conns, h2_conns))
    if errs:
        print("MISMATCH %s:" % sys.argv[1])
        for e in errs:
            print("  " + e)
        print(json.dumps(web + h2, indent=2))
        sys.exit(1)
    print("ok  %s: %d gRPC-Web calls on %d HTTP/1.1 connection(s), %d gRPC calls on %d h2c "
          "connection(s); %d req msgs, %d resp msgs" %
          (exp["capture"], len(web), web_conns, len(h2), h2_conns,
           sum(c["request_messages"] for c in web + h2), sum(c["response_messages"] for c in web + h2)))


if __name__ == "__main__":
    main()
