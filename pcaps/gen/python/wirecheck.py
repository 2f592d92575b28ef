#!/usr/bin/python3
"""Summarise a capture from tshark's dissection, for checking expected-truth files.

Usage: wirecheck.py PCAP PORT [--http1]      (prints JSON on stdout)

Decodes tcp.port==PORT as http2 (or as http with --http1, so tshark follows an
HTTP/1.1 "Upgrade: h2c" into HTTP/2) and reports, independently of the
generators' own bookkeeping:
  calls: one entry per HTTP/2 request whose content-type starts with
         application/grpc, in the order their request HEADERS appear, with the
         same fields as the truth files (messages counted by parsing the
         5-byte gRPC prefixes out of the DATA payloads that tshark shows,
         so messages spanning several DATA frames count once);
  http2_non_grpc_requests: other HTTP/2 requests: request HEADERS (client ->
         server) plus a request upgraded from HTTP/1.1 (answered on stream 1);
  http1_requests: HTTP/1.x requests (the h2c upgrade request);
  tls: one entry per TLS ClientHello {sni, alpn, version};
  connections: number of TCP connections;
  request_headers_lengths: HEADERS frame payload length of every request;
  tshark_grpc_messages: number of grpc.message_length fields tshark showed.
"""
import json
import subprocess
import sys

CRED = {"authorization", "proxy-authorization", "cookie", "x-api-key"}
EXCLUDED = {"content-type", "te", "user-agent", "grpc-timeout", "grpc-encoding",
            "grpc-accept-encoding"}


def pairs(p):
    return p


def get(pl, key, default=None):
    for k, v in pl:
        if k == key:
            return v
    return default


def get_all(pl, key):
    return [v for k, v in pl if k == key]


def tshark(args):
    r = subprocess.run(["tshark"] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, check=True)
    return r.stdout.decode()


def tls_summary(pcap, port):
    out = []
    ch = tshark(["-r", pcap, "-d", "tcp.port==%d,tls" % port, "-Y",
                 "tls.handshake.type==1", "-T", "fields", "-E", "occurrence=a",
                 "-E", "aggregator=|", "-e", "tcp.stream",
                 "-e", "tls.handshake.extensions_server_name",
                 "-e", "tls.handshake.extensions_alpn_str"])
    sh = tshark(["-r", pcap, "-d", "tcp.port==%d,tls" % port, "-Y",
                 "tls.handshake.type==2", "-T", "fields", "-E", "occurrence=a",
                 "-E", "aggregator=|", "-e", "tcp.stream",
                 "-e", "tls.handshake.extensions.supported_version",
                 "-e", "tls.handshake.version"])
    versions = {}
    names = {"0x0304": "1.3", "0x0303": "1.2", "0x0302": "1.1", "0x0301": "1.0"}
    for line in sh.splitlines():
        f = line.split("\t")
        v = f[1].split("|")[0] if f[1] else f[2].split("|")[0]
        versions[f[0]] = names.get(v, v)
    for line in ch.splitlines():
        f = line.split("\t")
        out.append({"sni": f[1] or None,
                    "alpn": f[2].split("|") if f[2] else [],
                    "version": versions.get(f[0])})
    return out


def main():
    pcap, port = sys.argv[1], int(sys.argv[2])
    proto = "http" if "--http1" in sys.argv[3:] else "http2"
    raw = tshark(["-r", pcap, "-d", "tcp.port==%d,%s" % (port, proto), "-T", "json",
                  "-J", "frame tcp http http2 grpc"])
    packets = json.loads(raw, object_pairs_hook=pairs)
    streams = {}      # (tcp stream, h2 stream id) -> state
    order = []
    conns = set()
    non_grpc = 0
    http1 = 0
    tshark_grpc = 0
    req_hdr_lens = []
    for pkt in packets:
        layers = get(get(pkt, "_source"), "layers")
        tcp = get(layers, "tcp")
        if tcp is None:
            continue
        conn = get(tcp, "tcp.stream")
        conns.add(conn)
        to_server = int(get(tcp, "tcp.dstport")) == port
        for lname, layer in layers:
            if lname == "http" and to_server:
                if any(k.endswith("\\r\\n") and ("HTTP/1" in k) for k, _ in layer):
                    http1 += 1
            if lname == "grpc":
                tshark_grpc += len(get_all(layer, "grpc.message_length"))
            if lname != "http2":
                continue
            for frame in get_all(layer, "http2.stream"):
                ftype = get(frame, "http2.type")
                if ftype is None:
                    continue
                sid = get(frame, "http2.streamid")
                flags = int(get(frame, "http2.flags", "0x0"), 16)
                key = (conn, sid)
                if ftype in ("1", "9"):
                    hdrs = [(get(h, "http2.header.name"), get(h, "http2.header.value"))
                            for h in get_all(frame, "http2.header")]
                    st = streams.get(key)
                    if to_server and st is None:
                        st = streams[key] = {"req": hdrs, "resp": [], "data": [b"", b""],
                                             "es": [False, False]}
                        order.append(key)
                        if ftype == "1":
                            req_hdr_lens.append(int(get(frame, "http2.length")))
                    elif st is not None:
                        if to_server:
                            st["req"] += hdrs
                        else:
                            st["resp"] += hdrs
                    elif not to_server and sid == "1":
                        # response to an HTTP/1.1 Upgrade request (stream 1)
                        st = streams[key] = {"req": [], "resp": hdrs, "data": [b"", b""],
                                             "es": [True, False], "upgrade": True}
                        order.append(key)
                elif ftype == "0":
                    st = streams.get(key)
                    if st is None:
                        continue
                    d = get(frame, "http2.data.data")
                    if d:
                        st["data"][0 if to_server else 1] += bytes.fromhex(d.replace(":", ""))
    calls = []
    for key in order:
        st = streams[key]
        req = dict(st["req"])
        ct = req.get("content-type", "")
        if not ct.startswith("application/grpc"):
            non_grpc += 1          # includes an h2c-upgraded request (stream 1)
            continue
        keys = []
        for n, _ in st["req"]:
            if not n.startswith(":") and n not in EXCLUDED and n not in keys:
                keys.append(n)
        resp = dict(st["resp"])
        status = resp.get("grpc-status")
        calls.append({
            "path": req.get(":path"),
            "authority": req.get(":authority"),
            "content_type": ct,
            "user_agent": req.get("user-agent"),
            "metadata_keys": keys,
            "credential_keys": [k for k in keys if k in CRED or any(
                w in k for w in ("token", "secret", "password", "api-key"))],
            "grpc_status": int(status) if status is not None else None,
            "grpc_message": resp.get("grpc-message"),
            "request_messages": count_messages(st["data"][0]),
            # a non-gRPC response body (e.g. a text/html 404) holds no messages
            "response_messages": count_messages(st["data"][1])
            if resp.get("content-type", "").startswith("application/grpc") else 0,
        })
    json.dump({"calls": calls, "http2_non_grpc_requests": non_grpc,
               "http1_requests": http1, "tls": tls_summary(pcap, port),
               "connections": len(conns), "request_headers_lengths": req_hdr_lens,
               "tshark_grpc_messages": tshark_grpc}, sys.stdout, indent=2)
    print()


def count_messages(buf):
    n, i = 0, 0
    while i + 5 <= len(buf):
        ln = int.from_bytes(buf[i + 1:i + 5], "big")
        i += 5 + ln
        n += 1
    if i != len(buf):
        return -1          # truncated / not gRPC framing
    return n


if __name__ == "__main__":
    main()
