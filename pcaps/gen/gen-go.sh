#!/bin/bash
# gen-go.sh - regenerate the grpc-go captures and their expected-truth files.
#
# Makes (in pcaps/, expected files in pcaps/expected/):
#   go-unary.pcap                 port 50201  grpc-go client -> grpc-go server, 3 unary calls
#                                             (OK with authorization + x-request-id, PERMISSION_DENIED,
#                                             call with a deadline -> grpc-timeout header)
#   go-streaming.pcap             port 50202  grpc-go client -> grpc-go server: server streaming (1/6),
#                                             client streaming (4/1), bidi (3/3) on one connection
#   go-client-python-server.pcap  port 50203  grpc-go client -> python grpcio server, the 3 unary
#                                             calls + the 3 streaming calls on one connection
#
# Run as root from anywhere:   bash pcaps/gen/gen-go.sh
# Needs: golang-go, golang-google-grpc-dev (grpc-go 1.33.3 under /usr/share/gocode; built offline
# in GOPATH mode), tcpdump, tshark, /usr/bin/python3 with python3-grpcio.
# Programs: pcaps/gen/go/grpcdemo/main.go (client+server), pcaps/gen/go/python_server.py,
#           pcaps/gen/go/check_expected.py (verifies each expected file against tshark).
# Idempotent: overwrites the captures/expected files; temp files live in /tmp/gen-go.*; every
# process it starts is killed on exit.  Exits non-zero if anything fails or mismatches.
set -euo pipefail

GEN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PCAP_DIR=$(dirname "$GEN_DIR")
EXP_DIR=$PCAP_DIR/expected
PY=/usr/bin/python3
CHECK="$PY $GEN_DIR/go/check_expected.py"

TMP=$(mktemp -d /tmp/gen-go.XXXXXX)
chmod 755 "$TMP"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && wait "$p" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "run as root (tcpdump on lo)" >&2; exit 1; }
for t in go tcpdump tshark "$PY"; do
    command -v "$t" >/dev/null || { echo "missing: $t" >&2; exit 1; }
done
mkdir -p "$EXP_DIR"

# ---------------------------------------------------------------- build grpc-go program (offline)
echo "== building grpcdemo against $(ls -d /usr/share/gocode/src/google.golang.org/grpc)"
mkdir -p "$TMP/gopath/src/grpcdemo"
cp "$GEN_DIR/go/grpcdemo/main.go" "$TMP/gopath/src/grpcdemo/"
(cd "$TMP/gopath/src/grpcdemo" &&
    GO111MODULE=off GOFLAGS= GOPATH="$TMP/gopath:/usr/share/gocode" GOCACHE="$TMP/gocache" \
        go build -o "$TMP/grpcdemo" .)
GRPC_GO_VERSION=$(sed -n 's/^const Version = "\(.*\)"/\1/p' /usr/share/gocode/src/google.golang.org/grpc/version.go)
GRPCIO_VERSION=$($PY -c 'import grpc; print(grpc.__version__)')
GO_IMPL="grpc-go $GRPC_GO_VERSION (Debian golang-google-grpc-dev, $(go version | awk '{print $3}'))"
PY_IMPL="grpcio $GRPCIO_VERSION (Debian python3-grpcio, /usr/bin/python3)"

# ---------------------------------------------------------------- helpers
port_free() { ! ss -Htln "sport = :$1" | grep -q .; }
wait_listen() {   # wait until something listens on port $1 (no probe packets: uses ss)
    local i
    for i in $(seq 100); do
        ss -Htln "sport = :$1" | grep -q . && return 0
        sleep 0.1
    done
    echo "nothing listening on port $1" >&2
    return 1
}

# capture NAME PORT SERVER_CMD... -- CLIENT_CMD...
capture() {
    local name=$1 port=$2
    shift 2
    local srv=() cli=()
    while [ "$1" != "--" ]; do srv+=("$1"); shift; done
    shift
    cli=("$@")
    port_free "$port" || { echo "port $port busy" >&2; return 1; }
    local out="$TMP/$name.pcap" err="$TMP/$name.tcpdump.err"
    echo "== capturing $name on port $port"
    tcpdump -i lo -U -s 0 -Z root -w "$out" "tcp port $port" 2>"$err" &
    local td=$!
    PIDS+=("$td")
    local i
    for i in $(seq 50); do grep -q "listening on" "$err" && break; sleep 0.1; done
    grep -q "listening on" "$err" || { cat "$err" >&2; return 1; }
    sleep 0.5
    "${srv[@]}" >"$TMP/$name.server.log" 2>&1 &
    local sp=$!
    PIDS+=("$sp")
    wait_listen "$port"
    if ! "${cli[@]}" >"$TMP/$name.client.log" 2>&1; then
        echo "client failed:" >&2; cat "$TMP/$name.client.log" "$TMP/$name.server.log" >&2; return 1
    fi
    sed 's/^/   client: /' "$TMP/$name.client.log"
    sleep 1
    kill "$sp"; wait "$sp" 2>/dev/null || true
    sleep 0.3
    kill -INT "$td"; wait "$td" 2>/dev/null || true
    cp "$out" "$PCAP_DIR/$name.pcap"
    chmod 644 "$PCAP_DIR/$name.pcap"
}

# write_expected NAME  (JSON on stdin; normalised/pretty-printed, then verified against tshark)
write_expected() {
    local f="$EXP_DIR/$1.json"
    $PY -c 'import json,sys; d=json.load(sys.stdin); open(sys.argv[1],"w").write(json.dumps(d, indent=2)+"\n")' "$f"
    $CHECK "$f" "$PCAP_DIR/$1.pcap"
}

# exactly one request HEADERS with a grpc-timeout header, on the given path
check_timeout_on() {   # PCAP PORT PATH
    local got
    got=$(tshark -r "$1" -d "tcp.port==$2,http2" -Y 'http2.header.name == "grpc-timeout"' \
        -T fields -e http2.headers.path 2>/dev/null)
    [ "$got" = "$3" ] || { echo "grpc-timeout check failed on $1: got '$got'" >&2; return 1; }
    echo "ok  grpc-timeout present only on $3"
}

AUTH_BEARER="authorization"

# ---------------------------------------------------------------- 1. go-unary
P=50201
capture go-unary $P "$TMP/grpcdemo" server -addr 127.0.0.1:$P -- \
    "$TMP/grpcdemo" client -addr 127.0.0.1:$P -scenario unary
UNARY_CALLS() {   # $1 = port, $2 = grpc_message sent with OK status (grpc-go sends "", grpcio none)
cat <<EOF
    {"path": "/acme.billing.v1.Invoices/GetInvoice", "authority": "127.0.0.1:$1",
     "content_type": "application/grpc", "user_agent_prefix": "grpc-go/",
     "metadata_keys": ["authorization", "x-request-id"], "credential_keys": ["authorization"],
     "grpc_status": 0, "grpc_message": $2, "request_messages": 1, "response_messages": 1},
    {"path": "/acme.billing.v1.Invoices/DeleteInvoice", "authority": "127.0.0.1:$1",
     "content_type": "application/grpc", "user_agent_prefix": "grpc-go/",
     "metadata_keys": ["x-request-id"], "credential_keys": [],
     "grpc_status": 7, "grpc_message": "caller lacks invoices.read", "request_messages": 1, "response_messages": 0},
    {"path": "/acme.billing.v1.Invoices/ListInvoices", "authority": "127.0.0.1:$1",
     "content_type": "application/grpc", "user_agent_prefix": "grpc-go/",
     "metadata_keys": [], "credential_keys": [],
     "grpc_status": 0, "grpc_message": $2, "request_messages": 1, "response_messages": 1}
EOF
}
STREAM_CALLS() {  # $1 = port, $2 = grpc_message sent with OK status
cat <<EOF
    {"path": "/acme.billing.v1.Ledger/WatchEntries", "authority": "127.0.0.1:$1",
     "content_type": "application/grpc", "user_agent_prefix": "grpc-go/",
     "metadata_keys": [], "credential_keys": [],
     "grpc_status": 0, "grpc_message": $2, "request_messages": 1, "response_messages": 6},
    {"path": "/acme.billing.v1.Ledger/UploadEntries", "authority": "127.0.0.1:$1",
     "content_type": "application/grpc", "user_agent_prefix": "grpc-go/",
     "metadata_keys": [], "credential_keys": [],
     "grpc_status": 0, "grpc_message": $2, "request_messages": 4, "response_messages": 1},
    {"path": "/acme.billing.v1.Ledger/Reconcile", "authority": "127.0.0.1:$1",
     "content_type": "application/grpc", "user_agent_prefix": "grpc-go/",
     "metadata_keys": [], "credential_keys": [],
     "grpc_status": 0, "grpc_message": $2, "request_messages": 3, "response_messages": 3}
EOF
}
write_expected go-unary <<EOF
{
  "capture": "go-unary.pcap",
  "generator": "pcaps/gen/gen-go.sh",
  "implementation": {"client": "$GO_IMPL", "server": "$GO_IMPL"},
  "transport": "h2c",
  "server_port": $P,
  "calls": [
$(UNARY_CALLS $P '""')
  ],
  "tls": [],
  "http2_non_grpc_requests": 0,
  "notes": "One TCP connection, h2c with prior knowledge, HTTP/2 streams 1, 3, 5. Messages are raw bytes (pass-through codec), content-type stays application/grpc. Call 1 metadata via metadata.AppendToOutgoingContext: authorization 'Bearer <JWT-like>' and x-request-id. Call 2 is answered trailers-only (a single HEADERS frame with :status 200, content-type, grpc-status 7, grpc-message; END_STREAM) and carries no response message. Call 3 has a 5 s deadline: the request carries grpc-timeout (e.g. '4999984u'), which is not metadata. The grpc-go server sends a grpc-message trailer even for status OK, with an EMPTY value, hence grpc_message \"\" on the OK calls. The grpc-go client also sends HTTP/2 PINGs (BDP estimation) and WINDOW_UPDATEs on stream 0. The client adds no other headers besides :method/:scheme/:path/:authority, content-type, user-agent (grpc-go/$GRPC_GO_VERSION), te: trailers."
}
EOF
check_timeout_on "$PCAP_DIR/go-unary.pcap" $P /acme.billing.v1.Invoices/ListInvoices

# ---------------------------------------------------------------- 2. go-streaming
P=50202
capture go-streaming $P "$TMP/grpcdemo" server -addr 127.0.0.1:$P -- \
    "$TMP/grpcdemo" client -addr 127.0.0.1:$P -scenario streaming
write_expected go-streaming <<EOF
{
  "capture": "go-streaming.pcap",
  "generator": "pcaps/gen/gen-go.sh",
  "implementation": {"client": "$GO_IMPL", "server": "$GO_IMPL"},
  "transport": "h2c",
  "server_port": $P,
  "calls": [
$(STREAM_CALLS $P '""')
  ],
  "tls": [],
  "http2_non_grpc_requests": 0,
  "notes": "One TCP connection, HTTP/2 streams 1, 3, 5, calls made one after another. WatchEntries: server streaming, 1 request, 6 responses. UploadEntries: client streaming, 4 requests then half-close, 1 response. Reconcile: bidi ping-pong, client sends one message and waits for the echo, 3 times, then half-closes. No custom metadata. grpc-go server sends an empty grpc-message trailer with grpc-status 0."
}
EOF

# ---------------------------------------------------------------- 3. go-client-python-server
P=50203
capture go-client-python-server $P $PY "$GEN_DIR/go/python_server.py" 127.0.0.1:$P -- \
    "$TMP/grpcdemo" client -addr 127.0.0.1:$P -scenario mixed
write_expected go-client-python-server <<EOF
{
  "capture": "go-client-python-server.pcap",
  "generator": "pcaps/gen/gen-go.sh",
  "implementation": {"client": "$GO_IMPL", "server": "$PY_IMPL"},
  "transport": "h2c",
  "server_port": $P,
  "calls": [
$(UNARY_CALLS $P null),
$(STREAM_CALLS $P null)
  ],
  "tls": [],
  "http2_non_grpc_requests": 0,
  "notes": "Cross-implementation: the same grpc-go client as go-unary + go-streaming (6 calls, one TCP connection, HTTP/2 streams 1..11) against a python grpcio server using generic handlers (python_server.py). Unlike grpc-go, grpcio sends no grpc-message trailer for status OK (grpc_message null). grpcio adds grpc-accept-encoding to its response headers; the grpc-go client sends HTTP/2 PINGs (BDP estimation) that the server acks. DeleteInvoice is aborted with context.abort(PERMISSION_DENIED, 'caller lacks invoices.read'). ListInvoices carries grpc-timeout."
}
EOF
check_timeout_on "$PCAP_DIR/go-client-python-server.pcap" $P /acme.billing.v1.Invoices/ListInvoices

echo "== done"
ls -l "$PCAP_DIR"/go-*.pcap
