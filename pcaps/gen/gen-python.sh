#!/bin/bash
# gen-python.sh - regenerate the grpcio (Python) captures for grpcwatch.
#
# Makes, in pcaps/ (next to this gen/ directory), with their truth files in
# pcaps/expected/<name>.json:
#   python-unary-metadata.pcap  port 50101  2 unary calls, metadata incl. -bin, NOT_FOUND abort
#   python-streaming.pcap       port 50102  server / client / bidi streaming on one connection
#   python-streaming-ng.pcapng  (same traffic, converted with editcap -F pcapng)
#   python-many-calls.pcap      port 50103  28 unary calls on one connection, HPACK reuse,
#                                           messages > 16 KiB split over DATA frames
#   python-tls.pcap             port 50104  2 unary calls over TLS (SNI grpc.test)
#   python-mtls.pcap            port 50105  2 unary calls over mutual TLS
#
# Client and server are Debian's python3-grpcio 1.51.1 under /usr/bin/python3
# (helper programs in gen/python/: server.py, client.py; the truth files are
# written from client.py's record of what it did and are checked against
# tshark's dissection by python/wirecheck.py + python/mkexpected.py; the
# script fails if they disagree).
#
# Run as root (tcpdump on lo):   bash pcaps/gen/gen-python.sh
# Needs: tcpdump tshark editcap openssl python3-grpcio (apt-get install -y
#        tcpdump tshark openssl python3-grpcio).  Uses only 127.0.0.1.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PCAPS=$(dirname "$HERE")
EXP=$PCAPS/expected
PYDIR=$HERE/python
PY=/usr/bin/python3
GEN=pcaps/gen/gen-python.sh
IMPL='{"client": "grpcio 1.51.1 (Debian python3-grpcio)", "server": "grpcio 1.51.1 (Debian python3-grpcio)"}'

unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY grpc_proxy no_grpc_proxy || true
export GRPC_VERBOSITY=ERROR

for tool in tcpdump tshark editcap openssl; do
    command -v $tool >/dev/null || { echo "gen-python: $tool missing" >&2; exit 1; }
done
$PY -c 'import grpc' || { echo "gen-python: /usr/bin/python3 lacks grpc (apt-get install python3-grpcio)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "gen-python: run as root (tcpdump)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/gen-python.XXXXXX)
chmod 755 "$TMP"          # tcpdump drops privileges to user tcpdump
SERVER_PID= TCPDUMP_PID=
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    [ -n "$TCPDUMP_PID" ] && kill -INT "$TCPDUMP_PID" 2>/dev/null && wait "$TCPDUMP_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$EXP"

port_free() {
    if ss -Htln "sport = :$1" | grep -q .; then
        echo "gen-python: port $1 is already in use" >&2; exit 1
    fi
}

# --- test PKI: a self-signed server cert for grpc.test (python-tls) and a test
# --- CA that signs a server and a client cert (python-mtls)
make_pki() {
    local d=$TMP/pki
    mkdir -p "$d"; cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout self.key -out self.crt \
        -subj "/CN=grpc.test" -addext "subjectAltName=DNS:grpc.test" 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout ca.key -out ca.crt \
        -subj "/CN=grpcwatch test CA" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=grpc.test" 2>/dev/null
    printf 'subjectAltName=DNS:grpc.test\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -out server.crt -extfile server.ext 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj "/CN=grpcwatch-client" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' > client.ext
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -out client.crt -extfile client.ext 2>/dev/null
    cd - >/dev/null
}

# capture NAME PORT SCENARIO "SERVER ARGS" "CLIENT EXTRA ARGS"
# -> $TMP/NAME.pcap, $TMP/NAME.calls.json (the client's record)
capture() {
    local name=$1 port=$2 scen=$3 sargs=$4 cargs=$5
    port_free "$port"
    local pcap=$TMP/$name.pcap
    tcpdump -i lo -U -s 0 -w "$pcap" "tcp port $port" 2>"$TMP/tcpdump.err" &
    TCPDUMP_PID=$!
    for _ in $(seq 50); do grep -q "listening on" "$TMP/tcpdump.err" && break; sleep 0.1; done
    grep -q "listening on" "$TMP/tcpdump.err" || { cat "$TMP/tcpdump.err" >&2; exit 1; }
    $PY "$PYDIR/server.py" "$port" $sargs >"$TMP/server.out" 2>"$TMP/server.err" &
    SERVER_PID=$!
    for _ in $(seq 100); do grep -q READY "$TMP/server.out" && break; sleep 0.1; done
    grep -q READY "$TMP/server.out" || { echo "gen-python: server did not start" >&2; cat "$TMP/server.err" >&2; exit 1; }
    $PY "$PYDIR/client.py" "$scen" "$port" "$TMP/$name.calls.json" $cargs
    sleep 1
    kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID" || true; TCPDUMP_PID=
    kill "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=
    [ -s "$pcap" ] || { echo "gen-python: empty capture $name" >&2; exit 1; }
}

# finish NAME EXT PORT TRANSPORT NOTES [EXTRA-SPEC-JSON]
# checks the client's record against tshark, installs capture + truth file
finish() {
    local name=$1 ext=$2 port=$3 transport=$4 notes=$5 extra=${6:-}
    $PY "$PYDIR/wirecheck.py" "$TMP/$name.pcap" "$port" >"$TMP/$name.wire.json"
    $PY - "$TMP/$name.spec.json" "$name.$ext" "$GEN" "$IMPL" "$transport" "$port" \
        "$TMP/$name.calls.json" "$notes" "${extra:-{\}}" <<'PYEOF'
import json, sys
out, cap, gen, impl, transport, port, calls, notes, extra = sys.argv[1:]
spec = {"capture": cap, "generator": gen, "implementation": json.loads(impl),
        "transport": transport, "server_port": int(port),
        "calls": json.load(open(calls)), "http2_non_grpc_requests": 0, "notes": notes}
spec.update(json.loads(extra))
json.dump(spec, open(out, "w"), indent=2)
PYEOF
    $PY "$PYDIR/mkexpected.py" "$TMP/$name.spec.json" "$TMP/$name.wire.json" "$TMP/$name.json"
    install -m 644 "$TMP/$name.pcap" "$PCAPS/$name.pcap"
    install -m 644 "$TMP/$name.json" "$EXP/$name.json"
    echo "gen-python: $name.pcap ($(stat -c %s "$PCAPS/$name.pcap") bytes)"
}

make_pki

# 1. unary calls with metadata (used by `make demo`)
capture python-unary-metadata 50101 unary-metadata "" ""
finish python-unary-metadata pcap 50101 h2c \
"One connection (127.0.0.1 client -> 127.0.0.1:50101). Call 1 carries authorization, x-request-id and trace-bin; \
both peers advertise grpc-core's SETTINGS 0xfe03 (grpc_allow_true_binary_metadata), so the trace-bin value is sent \
as 'true binary' (a NUL byte followed by the raw bytes, no base64) in an HPACK literal: a decoder must accept \
non-ASCII header values. Call 2 (x-api-key) is answered with a trailers-only response: a single HEADERS frame with \
END_STREAM carrying :status 200, content-type, grpc-status 5 and grpc-message 'no such greeting', and no DATA. \
grpcio also adds grpc-accept-encoding 'identity, deflate, gzip' to every request (excluded from metadata_keys) and \
sends BDP PING frames on stream 0. The client closes the channel at the end: the TCP connection ends with FINs (no GOAWAY)."

# 2. streaming
capture python-streaming 50102 streaming "" ""
finish python-streaming pcap 50102 h2c \
"One connection. Server streaming StreamGreetings: 1 request, 11 response messages (one DATA frame each). \
Client streaming CollectGreetings: 5 request messages (one DATA frame each), then the client half-closes \
with an empty DATA frame with END_STREAM; 1 response. Bidi Chat: the client sends one message, \
waits for its answer, then sends the next (4 + 4 interleaved), then half-closes with an empty DATA frame with \
END_STREAM. Each call carries x-request-id metadata. grpcio adds grpc-accept-encoding (excluded). \
tshark labels some DATA frames [Malformed Packet]: that is its protobuf dissector failing on the raw-byte payloads."
editcap -F pcapng "$PCAPS/python-streaming.pcap" "$TMP/python-streaming-ng.pcapng"
$PY - "$EXP/python-streaming.json" "$TMP/python-streaming-ng.json" <<'PYEOF'
import json, sys
t = json.load(open(sys.argv[1]))
t["capture"] = "python-streaming-ng.pcapng"
t["notes"] = ("The same packets as python-streaming.pcap, converted to pcapng with "
              "'editcap -F pcapng'. " + t["notes"])
with open(sys.argv[2], "w") as f:
    json.dump(t, f, indent=2); f.write("\n")
PYEOF
# the pcapng must dissect exactly like the pcap
$PY "$PYDIR/wirecheck.py" "$TMP/python-streaming-ng.pcapng" 50102 >"$TMP/ng.wire.json"
cmp -s "$TMP/ng.wire.json" "$TMP/python-streaming.wire.json" || { echo "gen-python: pcapng dissects differently" >&2; exit 1; }
[ "$(head -c 4 "$TMP/python-streaming-ng.pcapng" | od -An -tx1 | tr -d ' ')" = 0a0d0d0a ] || { echo "gen-python: not pcapng" >&2; exit 1; }
install -m 644 "$TMP/python-streaming-ng.pcapng" "$PCAPS/python-streaming-ng.pcapng"
install -m 644 "$TMP/python-streaming-ng.json" "$EXP/python-streaming-ng.json"
echo "gen-python: python-streaming-ng.pcapng ($(stat -c %s "$PCAPS/python-streaming-ng.pcapng") bytes)"

# 3. many calls on one channel, HPACK dynamic table, messages > 16 KiB
capture python-many-calls 50103 many-calls "--max-frame-size 16384" ""
finish python-many-calls pcap 50103 h2c \
"One connection, 28 unary calls (streams 1..55): 25 GetItem then 3 ListItems, every call with x-tenant-id and \
authorization. HPACK: the first request HEADERS frame is 283 bytes, later GetItem HEADERS are 76 bytes because \
:path, :authority, content-type, te, grpc-accept-encoding and user-agent become Indexed Header Fields from the \
dynamic table; note that grpc-core sends the custom metadata (x-tenant-id, authorization) as 'Literal without \
Indexing' on every call, so only the library headers are indexed. ListItems #1 answers a 40,000-byte message \
(DATA frames of 16384 + 16384 + 7237 bytes incl. the 5-byte prefix), ListItems #2 sends a 20,000-byte request \
(16384 + 3621). To get 16 KiB DATA frames both sides set grpc.http2.max_frame_size=16384 and \
grpc.http2.bdp_probe=0 (grpc-core otherwise advertises SETTINGS_MAX_FRAME_SIZE 4194303 and would send each \
message in one DATA frame); so this capture has no BDP PINGs and a 65535-byte initial window." \
'{"hpack_shrink": {"fraction": 0.34, "calls": 25}}'

# 4. TLS
capture python-tls 50104 tls "--tls $TMP/pki/self.crt $TMP/pki/self.key" "$TMP/pki/self.crt"
finish python-tls pcap 50104 tls \
"TLS 1.3, one connection. Server certificate self-signed for CN/SAN grpc.test (made with openssl at generation \
time); the client trusts it as root and sets grpc.ssl_target_name_override=grpc.test, so the SNI is grpc.test while \
the TCP target is 127.0.0.1:50104. Inside the tunnel: 2 unary /demo.v1.Greeter/SayHello calls with authorization \
metadata, both OK; they are encrypted, so no gRPC call may be reported. ALPN offered by grpc-core: grpc-exp, h2." \
'{"tls_expect": {"sni": "grpc.test", "alpn": ["grpc-exp", "h2"], "version": "1.3", "connections": 1}}'

# 5. mutual TLS
capture python-mtls 50105 mtls "--tls $TMP/pki/server.crt $TMP/pki/server.key --mtls $TMP/pki/ca.crt" \
    "$TMP/pki/ca.crt $TMP/pki/client.crt $TMP/pki/client.key"
finish python-mtls pcap 50105 mtls \
"Mutual TLS 1.3, one connection. A test CA (made with openssl at generation time) signs the server certificate \
(CN/SAN grpc.test) and the client certificate (CN grpcwatch-client); the server requires and verifies the client \
certificate (require_client_auth=True). SNI grpc.test via grpc.ssl_target_name_override. Inside the tunnel: 2 unary \
SayHello calls with authorization metadata, both OK; encrypted, so no gRPC call may be reported. In TLS 1.3 the \
CertificateRequest and both certificates are encrypted, so nothing on the wire shows that this is mTLS." \
'{"tls_expect": {"sni": "grpc.test", "alpn": ["grpc-exp", "h2"], "version": "1.3", "connections": 1}}'

echo "gen-python: done"
