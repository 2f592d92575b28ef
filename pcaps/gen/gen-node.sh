#!/bin/bash
# gen-node.sh - regenerate the @grpc/grpc-js captures and their expected-truth files.
#
# Makes (in pcaps/, expected files in pcaps/expected/):
#   node-unary.pcap            port 50211  grpc-js client -> grpc-js server: /shop.v1.Cart/AddItem with
#                                          authorization, cookie, x-session-token and session-bin (binary)
#                                          metadata -> OK; /shop.v1.Cart/Checkout -> UNAVAILABLE + details
#   node-streaming.pcap        port 50212  grpc-js client -> grpc-js server on one connection: WatchCart
#                                          (server streaming 1/5), BulkAdd (client streaming 3/1, one request
#                                          message is 20000 bytes > 16 KiB), Sync (bidi 4/4)
#   node-client-go-server.pcap port 50213  grpc-js client -> grpc-go 1.33.3 server (pcaps/gen/go/grpcdemo):
#                                          2 unary + 3 streaming calls on one connection
#
# Run as root from anywhere:   bash pcaps/gen/gen-node.sh
# Needs: node + npm (first run: `npm ci` fetches the pinned @grpc/grpc-js from package-lock.json into
# pcaps/gen/node/node_modules, which is git-ignored), golang-go + golang-google-grpc-dev (grpc-go
# server, built offline in GOPATH mode), tcpdump, tshark, /usr/bin/python3.
# Programs: pcaps/gen/node/cart.js (grpc-js client+server), pcaps/gen/go/grpcdemo/main.go,
#           pcaps/gen/go/check_expected.py (verifies each expected file against tshark).
# Idempotent: overwrites the captures/expected files; temp files live in /tmp/gen-node.*; every
# process it starts is killed on exit.  Exits non-zero if anything fails or mismatches.
set -euo pipefail

GEN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PCAP_DIR=$(dirname "$GEN_DIR")
EXP_DIR=$PCAP_DIR/expected
NODE_DIR=$GEN_DIR/node
PY=/usr/bin/python3
CHECK="$PY $GEN_DIR/go/check_expected.py"

TMP=$(mktemp -d /tmp/gen-node.XXXXXX)
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
for t in node npm go tcpdump tshark "$PY"; do
    command -v "$t" >/dev/null || { echo "missing: $t" >&2; exit 1; }
done
mkdir -p "$EXP_DIR"

# ---------------------------------------------------------------- @grpc/grpc-js (pinned)
WANT=$(node -p 'require(process.argv[1]).dependencies["@grpc/grpc-js"]' "$NODE_DIR/package.json")
HAVE=$(node -p 'try { require(process.argv[1]).version } catch (e) { "" }' \
    "$NODE_DIR/node_modules/@grpc/grpc-js/package.json")
if [ "$HAVE" != "$WANT" ]; then
    echo "== installing @grpc/grpc-js $WANT into $NODE_DIR/node_modules"
    if [ -f "$NODE_DIR/package-lock.json" ]; then
        (cd "$NODE_DIR" && npm ci --no-audit --no-fund)
    else
        (cd "$NODE_DIR" && npm install --no-audit --no-fund)
    fi
fi
GRPC_JS_VERSION=$(node -p 'require(process.argv[1]).version' "$NODE_DIR/node_modules/@grpc/grpc-js/package.json")
NODE_IMPL="@grpc/grpc-js $GRPC_JS_VERSION (npm, node $(node --version))"

# ---------------------------------------------------------------- grpc-go server (offline build)
echo "== building grpcdemo (grpc-go server for node-client-go-server)"
mkdir -p "$TMP/gopath/src/grpcdemo"
cp "$GEN_DIR/go/grpcdemo/main.go" "$TMP/gopath/src/grpcdemo/"
(cd "$TMP/gopath/src/grpcdemo" &&
    GO111MODULE=off GOFLAGS= GOPATH="$TMP/gopath:/usr/share/gocode" GOCACHE="$TMP/gocache" \
        go build -o "$TMP/grpcdemo" .)
GRPC_GO_VERSION=$(sed -n 's/^const Version = "\(.*\)"/\1/p' /usr/share/gocode/src/google.golang.org/grpc/version.go)
GO_IMPL="grpc-go $GRPC_GO_VERSION (Debian golang-google-grpc-dev, $(go version | awk '{print $3}'))"

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

# call PORT PATH METADATA_KEYS CREDENTIAL_KEYS STATUS MESSAGE REQ RESP   (one JSON call object)
# grpc-js always adds accept-encoding: identity (it is not in the excluded set, so it is a metadata key).
call() {
    cat <<EOF
    {"path": "$2", "authority": "127.0.0.1:$1", "content_type": "application/grpc",
     "user_agent_prefix": "grpc-node-js/", "metadata_keys": $3, "credential_keys": $4,
     "grpc_status": $5, "grpc_message": $6, "request_messages": $7, "response_messages": $8}
EOF
}

CART="node $NODE_DIR/cart.js"

# ---------------------------------------------------------------- 4. node-unary
P=50211
capture node-unary $P $CART server $P -- $CART client $P unary
write_expected node-unary <<EOF
{
  "capture": "node-unary.pcap",
  "generator": "pcaps/gen/gen-node.sh",
  "implementation": {"client": "$NODE_IMPL", "server": "$NODE_IMPL"},
  "transport": "h2c",
  "server_port": $P,
  "calls": [
$(call $P /shop.v1.Cart/AddItem \
    '["authorization", "cookie", "x-session-token", "session-bin", "accept-encoding"]' \
    '["authorization", "cookie", "x-session-token"]' 0 '"OK"' 1 1),
$(call $P /shop.v1.Cart/Checkout '["authorization", "accept-encoding"]' '["authorization"]' \
    14 '"payment%20backend%20unavailable:%20shard%203%20draining"' 1 0)
  ],
  "tls": [],
  "http2_non_grpc_requests": 0,
  "notes": "One TCP connection, HTTP/2 streams 1 and 3. grpc-js adds 'grpc-accept-encoding: identity,deflate,gzip' (excluded) AND 'accept-encoding: identity' (NOT in the excluded set, so listed in metadata_keys) to every request; its request header order is pseudo-headers, app metadata, grpc-accept-encoding, accept-encoding, user-agent (grpc-node-js/$GRPC_JS_VERSION), content-type, te. session-bin is a binary (-bin) key: the 10-byte Buffer 0a08deadbeef00010203 is sent as standard padded base64 'Cgjerb7vAAECAw=='. The grpc-js server answers with content-type 'application/grpc+proto' (request was 'application/grpc'), and adds grpc-encoding: identity and date to response headers. The grpc-js server sends grpc-message 'OK' with status 0. grpc-message is percent-encoded by grpc-js with encodeURI(): the wire value is 'payment%20backend%20unavailable:%20shard%203%20draining', decoded 'payment backend unavailable: shard 3 draining'. Checkout is answered trailers-only (one HEADERS frame: :status, grpc-status 14, grpc-message, content-type, date; END_STREAM). No retry of the UNAVAILABLE call (no service config). At the end the client closes the channel: both sides send GOAWAY."
}
EOF
# the -bin value really is base64 on the wire
tshark -r "$PCAP_DIR/node-unary.pcap" -d tcp.port==$P,http2 -Y 'http2.header.name == "session-bin"' \
    -T fields -e http2.header.value 2>/dev/null | grep -q 'Cgjerb7vAAECAw==' ||
    { echo "session-bin value not found as base64" >&2; exit 1; }
echo "ok  session-bin sent as base64 Cgjerb7vAAECAw=="

# ---------------------------------------------------------------- 5. node-streaming
P=50212
capture node-streaming $P $CART server $P -- $CART client $P streaming
write_expected node-streaming <<EOF
{
  "capture": "node-streaming.pcap",
  "generator": "pcaps/gen/gen-node.sh",
  "implementation": {"client": "$NODE_IMPL", "server": "$NODE_IMPL"},
  "transport": "h2c",
  "server_port": $P,
  "calls": [
$(call $P /shop.v1.Cart/WatchCart '["accept-encoding"]' '[]' 0 '"OK"' 1 5),
$(call $P /shop.v1.Cart/BulkAdd '["accept-encoding"]' '[]' 0 '"OK"' 3 1),
$(call $P /shop.v1.Cart/Sync '["accept-encoding"]' '[]' 0 '"OK"' 4 4)
  ],
  "tls": [],
  "http2_non_grpc_requests": 0,
  "notes": "One TCP connection, HTTP/2 streams 1, 3, 5. WatchCart: server streaming 1 request / 5 responses. BulkAdd: client streaming, 3 requests (15, 20000 and 15 bytes) then half-close, 1 response; the 20000-byte message (20005 bytes with its gRPC prefix) is split over two HTTP/2 DATA frames (16384 + 3621 bytes, both in one TCP segment on loopback); the 1st and 3rd messages are separate DATA frames, the 3rd one carrying END_STREAM. Sync: bidi ping-pong, 4 requests / 4 responses, the client's half-close is an empty DATA frame with END_STREAM. No app metadata; the only metadata key is accept-encoding, which grpc-js adds to every request. The grpc-js server sends grpc-message 'OK' with status 0 and responds with content-type application/grpc+proto. At the end both sides send GOAWAY."
}
EOF

# ---------------------------------------------------------------- 6. node-client-go-server
P=50213
capture node-client-go-server $P "$TMP/grpcdemo" server -addr 127.0.0.1:$P -- $CART client $P billing
write_expected node-client-go-server <<EOF
{
  "capture": "node-client-go-server.pcap",
  "generator": "pcaps/gen/gen-node.sh",
  "implementation": {"client": "$NODE_IMPL", "server": "$GO_IMPL"},
  "transport": "h2c",
  "server_port": $P,
  "calls": [
$(call $P /acme.billing.v1.Invoices/GetInvoice '["authorization", "x-request-id", "accept-encoding"]' \
    '["authorization"]' 0 '""' 1 1),
$(call $P /acme.billing.v1.Invoices/DeleteInvoice '["accept-encoding"]' '[]' 7 '"caller lacks invoices.read"' 1 0),
$(call $P /acme.billing.v1.Ledger/WatchEntries '["accept-encoding"]' '[]' 0 '""' 1 6),
$(call $P /acme.billing.v1.Ledger/UploadEntries '["accept-encoding"]' '[]' 0 '""' 4 1),
$(call $P /acme.billing.v1.Ledger/Reconcile '["accept-encoding"]' '[]' 0 '""' 3 3)
  ],
  "tls": [],
  "http2_non_grpc_requests": 0,
  "notes": "Cross-implementation: grpc-js client (cart.js billing scenario) against the grpc-go server of go-unary/go-streaming, one TCP connection, HTTP/2 streams 1..9. grpc-js adds accept-encoding: identity (listed as metadata) and grpc-accept-encoding (excluded). The grpc-go server sends an EMPTY grpc-message trailer with status 0 (grpc_message \"\"); grpc-go does not percent-encode spaces, so the PERMISSION_DENIED message is plain 'caller lacks invoices.read' (trailers-only response). No deadline is set, so no grpc-timeout."
}
EOF

echo "== done"
ls -l "$PCAP_DIR"/node-*.pcap
