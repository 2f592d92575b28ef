#!/bin/bash
# gen-grpcweb.sh - regenerate the gRPC-Web capture and its expected-truth file.
#
# Makes pcaps/grpcweb.pcap and pcaps/expected/grpcweb.json: one capture, two legs, both real traffic.
#   port 50221  gRPC-Web over HTTP/1.1: @protobuf-ts/grpcweb-transport client (node's fetch, undici,
#               one keep-alive connection) -> @grpc-web/middleware translator on node's http server
#   port 50222  gRPC over h2c: the translator (node:http2 client, one connection per call) ->
#               @grpc/grpc-js server (shop.v1.Cart)
# Calls, in this order, binary (application/grpc-web+proto) then text (application/grpc-web-text):
#   AddItem (authorization + x-session-token / authorization) -> OK 1/1
#   Checkout -> FAILED_PRECONDITION with a message (trailers-only) 1/0
#   WatchCart server streaming 1/5 (text: with x-request-id)
# Each gRPC-Web call also appears as a gRPC call on the h2c leg: 12 calls in all.
#
# Run as root from anywhere:   bash pcaps/gen/gen-grpcweb.sh
# Needs: node + npm (first run: `npm ci` fetches the pinned packages of pcaps/gen/grpcweb/package-lock.json
# into pcaps/gen/grpcweb/node_modules, which is git-ignored), tcpdump, tshark, /usr/bin/python3.
# Programs: pcaps/gen/grpcweb/web.js (server, proxy, client), pcaps/gen/grpcweb/check_grpcweb.py
# (verifies the expected file against tshark; it reuses pcaps/gen/go/check_expected.py for HTTP/2).
# Idempotent: overwrites the capture/expected file; temp files live in /tmp/gen-grpcweb.*; every
# process it starts is killed on exit.  Exits non-zero if anything fails or mismatches.
set -euo pipefail

GEN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PCAP_DIR=$(dirname "$GEN_DIR")
EXP_DIR=$PCAP_DIR/expected
WEB_DIR=$GEN_DIR/grpcweb
PY=/usr/bin/python3
NAME=grpcweb
WEB_PORT=50221
H2_PORT=50222

TMP=$(mktemp -d /tmp/gen-grpcweb.XXXXXX)
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
for t in node npm tcpdump tshark ss "$PY"; do
    command -v "$t" >/dev/null || { echo "missing: $t" >&2; exit 1; }
done
mkdir -p "$EXP_DIR"

# ---------------------------------------------------------------- npm packages (pinned)
pkg_version() {   # installed version of package $1, "" if absent
    node -p 'try { require(process.argv[1]).version } catch (e) { "" }' \
        "$WEB_DIR/node_modules/$1/package.json"
}
want_version() { node -p 'require(process.argv[1]).dependencies[process.argv[2]]' "$WEB_DIR/package.json" "$1"; }
PKGS="@grpc/grpc-js @grpc-web/middleware @protobuf-ts/grpcweb-transport"
for p in $PKGS; do
    if [ "$(pkg_version "$p")" != "$(want_version "$p")" ]; then
        echo "== installing the pinned packages into $WEB_DIR/node_modules"
        (cd "$WEB_DIR" && npm ci --no-audit --no-fund)
        break
    fi
done
CLIENT_IMPL="@protobuf-ts/grpcweb-transport $(pkg_version @protobuf-ts/grpcweb-transport) over node fetch (undici $(node -p process.versions.undici), node $(node --version))"
PROXY_IMPL="@grpc-web/middleware $(pkg_version @grpc-web/middleware) on node:http, node:http2 upstream (node $(node --version))"
SERVER_IMPL="@grpc/grpc-js $(pkg_version @grpc/grpc-js) (npm, node $(node --version))"

# ---------------------------------------------------------------- capture
wait_listen() {   # wait until something listens on port $1 (no probe packets: uses ss)
    local i
    for i in $(seq 100); do
        ss -Htln "sport = :$1" | grep -q . && return 0
        sleep 0.1
    done
    echo "nothing listening on port $1" >&2
    return 1
}
for p in $WEB_PORT $H2_PORT; do
    ! ss -Htln "sport = :$p" | grep -q . || { echo "port $p busy" >&2; exit 1; }
done

WEB="node $WEB_DIR/web.js"
OUT=$TMP/$NAME.pcap
echo "== capturing $NAME on ports $WEB_PORT (gRPC-Web, HTTP/1.1) and $H2_PORT (gRPC, h2c)"
tcpdump -i lo -U -s 0 -Z root -w "$OUT" "tcp port $WEB_PORT or tcp port $H2_PORT" 2>"$TMP/tcpdump.err" &
TD=$!
PIDS+=("$TD")
for i in $(seq 50); do grep -q "listening on" "$TMP/tcpdump.err" && break; sleep 0.1; done
grep -q "listening on" "$TMP/tcpdump.err" || { cat "$TMP/tcpdump.err" >&2; exit 1; }
sleep 0.5
$WEB server $H2_PORT >"$TMP/server.log" 2>&1 &
SP=$!
PIDS+=("$SP")
$WEB proxy $WEB_PORT $H2_PORT >"$TMP/proxy.log" 2>&1 &
XP=$!
PIDS+=("$XP")
wait_listen $H2_PORT
wait_listen $WEB_PORT
if ! $WEB client $WEB_PORT >"$TMP/client.log" 2>&1; then
    echo "client failed:" >&2; cat "$TMP/client.log" "$TMP/proxy.log" "$TMP/server.log" >&2; exit 1
fi
sed 's/^/   client: /' "$TMP/client.log"
sleep 1
kill "$XP"; wait "$XP" 2>/dev/null || true
kill "$SP"; wait "$SP" 2>/dev/null || true
sleep 0.3
kill -INT "$TD"; wait "$TD" 2>/dev/null || true
cp "$OUT" "$PCAP_DIR/$NAME.pcap"
chmod 644 "$PCAP_DIR/$NAME.pcap"

# ---------------------------------------------------------------- expected truth
# call PORT PATH CONTENT_TYPE APP_PROTO METADATA_KEYS CREDENTIAL_KEYS STATUS MESSAGE REQ RESP
call() {
    cat <<EOF
    {"server_port": $1, "app_proto": "$4", "path": "$2", "authority": "127.0.0.1:$1",
     "content_type": "$3", "user_agent_prefix": "node", "metadata_keys": $5, "credential_keys": $6,
     "grpc_status": $7, "grpc_message": $8, "request_messages": $9, "response_messages": ${10}}
EOF
}
# What node's fetch adds to every request (not forwarded by the translator, except sec-fetch-mode):
# accept (*/* for binary; protobuf-ts sets application/grpc-web-text for text), accept-language,
# sec-fetch-mode, accept-encoding; protobuf-ts adds x-grpc-web.
FETCH='"accept", "accept-language", "sec-fetch-mode", "accept-encoding", "x-grpc-web"'
MSG_FP='"cart%20C-2002%20is%20empty:%20add%20an%20item%20first"'
BIN=application/grpc-web+proto
TXT=application/grpc-web-text
C=/shop.v1.Cart
W=$WEB_PORT
H=$H2_PORT
F=$EXP_DIR/$NAME.json
# Calls are listed in the order they end on the wire (check_grpcweb.py verifies it): each h2c call
# ends (grpc-js's END_STREAM) before the translator can write the end of its gRPC-Web response, and
# the client starts a call only after the previous one ended.
$PY -c 'import json,sys; d=json.load(sys.stdin); open(sys.argv[1],"w").write(json.dumps(d, indent=2)+"\n")' "$F" <<EOF
{
  "capture": "$NAME.pcap",
  "generator": "pcaps/gen/gen-grpcweb.sh",
  "implementation": {"client": "$CLIENT_IMPL", "proxy": "$PROXY_IMPL", "server": "$SERVER_IMPL"},
  "transport": "http1+h2c",
  "server_ports": {"grpc-web": $W, "h2c": $H},
  "connections": {"grpc-web": 1, "h2c": 6},
  "calls": [
$(call $H $C/AddItem application/grpc+proto grpc '["authorization", "x-session-token", "sec-fetch-mode"]' \
    '["authorization", "x-session-token"]' 0 '"OK"' 1 1),
$(call $W $C/AddItem $BIN grpc-web "[\"authorization\", \"x-session-token\", $FETCH]" \
    '["authorization", "x-session-token"]' 0 '"OK"' 1 1),
$(call $H $C/Checkout application/grpc+proto grpc '["authorization", "sec-fetch-mode"]' '["authorization"]' \
    9 "$MSG_FP" 1 0),
$(call $W $C/Checkout $BIN grpc-web "[\"authorization\", $FETCH]" '["authorization"]' 9 "$MSG_FP" 1 0),
$(call $H $C/WatchCart application/grpc+proto grpc '["sec-fetch-mode"]' '[]' 0 '"OK"' 1 5),
$(call $W $C/WatchCart $BIN grpc-web "[$FETCH]" '[]' 0 '"OK"' 1 5),
$(call $H $C/AddItem application/grpc grpc '["authorization", "sec-fetch-mode"]' '["authorization"]' 0 '"OK"' 1 1),
$(call $W $C/AddItem $TXT grpc-web "[\"authorization\", $FETCH]" '["authorization"]' 0 '"OK"' 1 1),
$(call $H $C/Checkout application/grpc grpc '["sec-fetch-mode"]' '[]' 9 "$MSG_FP" 1 0),
$(call $W $C/Checkout $TXT grpc-web "[$FETCH]" '[]' 9 "$MSG_FP" 1 0),
$(call $H $C/WatchCart application/grpc grpc '["x-request-id", "sec-fetch-mode"]' '[]' 0 '"OK"' 1 5),
$(call $W $C/WatchCart $TXT grpc-web "[\"x-request-id\", $FETCH]" '[]' 0 '"OK"' 1 5)
  ],
  "tls": [],
  "http_non_grpc_requests": 0,
  "notes": "Two legs of the same 6 calls, listed in the order they end on the wire (each h2c call, then the gRPC-Web call it serves). gRPC-Web leg (port $W): HTTP/1.1, one keep-alive connection, calls 150 ms apart, requests with content-length, responses chunked. metadata_keys there follow include/grpcwatch/http1.h: every request field name minus the gRPC non-metadata names (content-type, user-agent, ...) and the HTTP/1.x connection fields (host, connection, content-length, ...), so fetch's accept, accept-language, sec-fetch-mode, accept-encoding and protobuf-ts's x-grpc-web are metadata keys; user-agent is 'node' (undici); authority is the Host field. The translator answers with the request's content-type. OK calls end with a trailer frame (flag 0x80) 'grpc-status:0\\\\r\\\\ngrpc-message:OK\\\\r\\\\n' (no space after the colon) in the body; Checkout is trailers-only on the h2c leg, so the translator puts grpc-status 9 and grpc-message in the HTTP/1.1 response head and sends an empty chunked body (response_messages 0). grpc-js percent-encodes the message (encodeURI): decoded 'cart C-2002 is empty: add an item first'. In -text bodies the translator's base64 encoder carries partial groups across chunks, so a chunk boundary (and a 5-byte gRPC-Web prefix) may fall inside a base64 group, and '=' padding appears only at the end of the body, if at all; the request bodies are one padded base64 string. h2c leg (port $H): @grpc-web/middleware opens one HTTP/2 connection per call (stream 1 each, 6 connections), content-type application/grpc+proto for +proto requests and application/grpc for -text requests, forwards the client's fields except accept*, connection, content-length, content-type, host, x-grpc-web (so user-agent 'node' and sec-fetch-mode reach the server, sec-fetch-mode as a metadata key), sends no te. grpc-js answers application/grpc+proto, grpc-message 'OK' on OK."
}
EOF
$PY "$WEB_DIR/check_grpcweb.py" "$F" "$PCAP_DIR/$NAME.pcap"
echo "== done"
ls -l "$PCAP_DIR/$NAME.pcap" "$F"
