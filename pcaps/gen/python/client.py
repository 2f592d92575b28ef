#!/usr/bin/python3
"""grpcio test client for the grpcwatch captures (raw-bytes messages, no codegen).

Usage: client.py SCENARIO PORT OUT.json [CA CLIENT_CERT CLIENT_KEY]
SCENARIO: unary-metadata | streaming | many-calls | tls | mtls

Runs the calls on ONE channel (one HTTP/2 connection), checks every outcome,
and writes what it did (the "intended" calls, in start order) to OUT.json.
gen-python.sh compares that with tshark's view of the wire before it writes
pcaps/expected/*.json.
"""
import json
import queue
import sys

import grpc

# grpcio sends no metadata of its own besides te / content-type / user-agent /
# grpc-accept-encoding (and grpc-timeout when a deadline is set; we set none),
# all excluded from metadata_keys by the truth-file rules.  Checked with tshark.
LIBRARY_KEYS = []

CRED_KEYS = {"authorization", "proxy-authorization", "cookie", "x-api-key"}


def credential_keys(keys):
    return [k for k in keys if k in CRED_KEYS or any(
        w in k for w in ("token", "secret", "password", "api-key"))]


class Recorder:
    def __init__(self, authority):
        self.authority = authority
        self.calls = []

    def add(self, path, metadata, status, message, nreq, nresp):
        keys = []
        for k, _ in metadata:
            if k not in keys:
                keys.append(k)
        keys += [k for k in LIBRARY_KEYS if k not in keys]
        self.calls.append({
            "path": path,
            "authority": self.authority,
            "content_type": "application/grpc",
            "user_agent_prefix": "grpc-python/",
            "metadata_keys": keys,
            "credential_keys": credential_keys(keys),
            "grpc_status": status,
            "grpc_message": message,
            "request_messages": nreq,
            "response_messages": nresp,
        })


def check(cond, what):
    if not cond:
        sys.exit("client: check failed: " + what)


def unary(ch, rec, path, req, md, expect=grpc.StatusCode.OK, expect_msg=None):
    fn = ch.unary_unary(path, request_serializer=None, response_deserializer=None)
    try:
        resp, call = fn.with_call(req, metadata=md, timeout=None)
        check(expect == grpc.StatusCode.OK, path + " unexpectedly OK")
        rec.add(path, md, 0, None, 1, 1)
        return resp
    except grpc.RpcError as e:
        check(e.code() == expect, "%s: %s %s" % (path, e.code(), e.details()))
        check(e.details() == expect_msg, "details %r" % e.details())
        rec.add(path, md, e.code().value[0], expect_msg, 1, 0)
        return None


def scenario_unary_metadata(ch, rec):
    md = [("authorization", "Bearer s3cr3t-token-value"),
          ("x-request-id", "req-0001-abcd"),
          ("trace-bin", b"\x00\x01\x02\x03\xfe\xff trace")]
    resp = unary(ch, rec, "/demo.v1.Greeter/SayHello", b"world", md)
    check(resp == b"hello, world", "SayHello response %r" % resp)
    md2 = [("x-api-key", "k-1234567890")]
    unary(ch, rec, "/demo.v1.Greeter/SayHello", b"nobody", md2,
          grpc.StatusCode.NOT_FOUND, "no such greeting")


def scenario_streaming(ch, rec):
    # server streaming: 1 request, 11 responses
    path = "/demo.v1.Greeter/StreamGreetings"
    md = [("x-request-id", "stream-0001")]
    fn = ch.unary_stream(path, request_serializer=None, response_deserializer=None)
    call = fn(b"alice", metadata=md)
    got = list(call)
    check(len(got) == 11 and call.code() == grpc.StatusCode.OK, "StreamGreetings")
    rec.add(path, md, 0, None, 1, len(got))

    # client streaming: 5 requests, 1 response
    path = "/demo.v1.Greeter/CollectGreetings"
    md = [("x-request-id", "stream-0002")]
    fn = ch.stream_unary(path, request_serializer=None, response_deserializer=None)
    resp = fn(iter([b"greeting %d" % i for i in range(5)]), metadata=md)
    check(resp == b"collected 5 greetings", "CollectGreetings %r" % resp)
    rec.add(path, md, 0, None, 5, 1)

    # bidi, interleaved: send one, wait for its answer, send the next
    path = "/demo.v1.Greeter/Chat"
    md = [("x-request-id", "stream-0003")]
    q = queue.Queue()

    def reqs():
        while True:
            item = q.get()
            if item is None:
                return
            yield item

    fn = ch.stream_stream(path, request_serializer=None, response_deserializer=None)
    call = fn(reqs(), metadata=md)
    n = 0
    for i in range(4):
        q.put(b"chat line %d" % i)
        r = next(call)
        check(r == b"re: chat line %d" % i, "Chat %r" % r)
        n += 1
    q.put(None)
    rest = list(call)
    check(not rest and call.code() == grpc.StatusCode.OK, "Chat end")
    rec.add(path, md, 0, None, 4, n)


def scenario_many_calls(ch, rec):
    md = [("x-tenant-id", "tenant-0042"),
          ("authorization", "Bearer inv-0123456789abcdef")]
    for i in range(25):
        r = unary(ch, rec, "/demo.v1.Inventory/GetItem", b"sku-%04d" % i, md)
        check(r == b"item:sku-%04d:qty=7" % i, "GetItem %r" % r)
    # a 40,000-byte response (spans several 16 KiB DATA frames)
    r = unary(ch, rec, "/demo.v1.Inventory/ListItems", b"SIZE:40000", md)
    check(len(r) == 40000, "ListItems 40000")
    # a 20,000-byte request
    req = b"SIZE:100|" + b"p" * (20000 - 9)
    r = unary(ch, rec, "/demo.v1.Inventory/ListItems", req, md)
    check(len(req) == 20000 and len(r) == 100, "ListItems 20000 req")
    r = unary(ch, rec, "/demo.v1.Inventory/ListItems", b"SIZE:1000", md)
    check(len(r) == 1000, "ListItems 1000")


def scenario_tls(ch, rec):
    md = [("authorization", "Bearer tls-token-0001")]
    for name in (b"tls-one", b"tls-two"):
        r = unary(ch, rec, "/demo.v1.Greeter/SayHello", name, md)
        check(r == b"hello, " + name, "SayHello over TLS")


SCENARIOS = {
    "unary-metadata": scenario_unary_metadata,
    "streaming": scenario_streaming,
    "many-calls": scenario_many_calls,
    "tls": scenario_tls,
    "mtls": scenario_tls,
}


def main():
    scen, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    target = "127.0.0.1:%d" % port
    opts = [("grpc.enable_http_proxy", 0)]
    if scen == "many-calls":
        # grpc-core advertises SETTINGS_MAX_FRAME_SIZE 4194303 by default, so the
        # 40,000-byte response would be ONE DATA frame; ask for 16 KiB frames.
        # (BDP probing must be off too, or flow control overrides the setting)
        opts.append(("grpc.http2.max_frame_size", 16384))
        opts.append(("grpc.http2.bdp_probe", 0))
    if scen in ("tls", "mtls"):
        ca = open(sys.argv[4], "rb").read()
        key = cert = None
        if scen == "mtls":
            cert = open(sys.argv[5], "rb").read()
            key = open(sys.argv[6], "rb").read()
        creds = grpc.ssl_channel_credentials(root_certificates=ca,
                                             private_key=key,
                                             certificate_chain=cert)
        opts.append(("grpc.ssl_target_name_override", "grpc.test"))
        ch = grpc.secure_channel(target, creds, options=opts)
        authority = "grpc.test"
    else:
        ch = grpc.insecure_channel(target, options=opts)
        authority = target
    grpc.channel_ready_future(ch).result(timeout=10)
    rec = Recorder(authority)
    SCENARIOS[scen](ch, rec)
    ch.close()
    with open(out, "w") as f:
        json.dump(rec.calls, f, indent=2)


if __name__ == "__main__":
    main()
