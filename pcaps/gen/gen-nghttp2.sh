#!/bin/bash
# gen-nghttp2.sh - regenerate the nghttp2 (plain HTTP/2, non-gRPC client) captures for grpcwatch.
#
# Makes, in pcaps/ (next to this gen/ directory), with truth files in pcaps/expected/<name>.json:
#   nghttp2-h2c-plain.pcap    port 50180  nghttp -> nghttpd, h2c with prior knowledge, 2 GETs (no gRPC)
#   nghttp2-grpc-like.pcap    port 50181  nghttp POSTs one gRPC-framed message with gRPC headers
#                                         to nghttpd, which answers 404 text/html (no grpc-status)
#   nghttp2-h2c-upgrade.pcap  port 50182  nghttp -u: HTTP/1.1 "Upgrade: h2c" then HTTP/2, 2 GETs (no gRPC);
#                                         server is nghttpx (nghttpd cannot upgrade) in front of an
#                                         nghttpd backend on port 50183 (not captured)
#
# Tools: nghttp (nghttp2-client 1.52.0), nghttpd (nghttp2-server), nghttpx (nghttp2-proxy),
# tcpdump, tshark; truth files are checked against tshark's dissection with the helpers in
# gen/python/ (wirecheck.py, mkexpected.py; run with /usr/bin/python3).
#
# Run as root (tcpdump on lo):   bash pcaps/gen/gen-nghttp2.sh
# (apt-get install -y nghttp2-client nghttp2-server nghttp2-proxy tcpdump tshark)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PCAPS=$(dirname "$HERE")
EXP=$PCAPS/expected
PYDIR=$HERE/python
PY=/usr/bin/python3
GEN=pcaps/gen/gen-nghttp2.sh

unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY || true

for tool in tcpdump tshark nghttp nghttpd nghttpx; do
    command -v $tool >/dev/null || { echo "gen-nghttp2: $tool missing (nghttp2-client/-server/-proxy?)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "gen-nghttp2: run as root (tcpdump)" >&2; exit 1; }
VER=$(nghttp --version | awk '{print $2}')          # nghttp2/1.52.0
VER=${VER#nghttp2/}

TMP=$(mktemp -d /tmp/gen-nghttp2.XXXXXX)
chmod 755 "$TMP"          # tcpdump drops privileges to user tcpdump
PIDS=() TCPDUMP_PID=
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    [ -n "$TCPDUMP_PID" ] && kill -INT "$TCPDUMP_PID" 2>/dev/null && wait "$TCPDUMP_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$EXP" "$TMP/www"

# the document root: two small fixed files
printf '<!doctype html>\n<html><head><link rel="stylesheet" href="style.css"><title>grpcwatch test</title></head><body><p>hello</p></body></html>\n' >"$TMP/www/index.html"
printf 'body { font-family: sans-serif; color: #333; }\n' >"$TMP/www/style.css"
# one gRPC message: 5-byte prefix (uncompressed, length 11) + "hello grpc!"
printf '\x00\x00\x00\x00\x0bhello grpc!' >"$TMP/msg.bin"

port_free() {
    if ss -Htln "sport = :$1" | grep -q .; then
        echo "gen-nghttp2: port $1 is already in use" >&2; exit 1
    fi
}
wait_listen() {
    for _ in $(seq 100); do ss -Htln "sport = :$1" | grep -q . && return 0; sleep 0.1; done
    echo "gen-nghttp2: nothing listens on port $1" >&2; exit 1
}
start_nghttpd() {     # PORT
    port_free "$1"
    nghttpd -d "$TMP/www" --no-tls "$1" >"$TMP/nghttpd-$1.log" 2>&1 &
    PIDS+=($!)
    wait_listen "$1"
}
stop_servers() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    PIDS=()
}
start_tcpdump() {     # NAME PORT
    tcpdump -i lo -U -s 0 -w "$TMP/$1.pcap" "tcp port $2" 2>"$TMP/tcpdump.err" &
    TCPDUMP_PID=$!
    for _ in $(seq 50); do grep -q "listening on" "$TMP/tcpdump.err" && break; sleep 0.1; done
    grep -q "listening on" "$TMP/tcpdump.err" || { cat "$TMP/tcpdump.err" >&2; exit 1; }
}
stop_tcpdump() {
    sleep 1
    kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID" || true; TCPDUMP_PID=
}

# finish NAME PORT SPEC-JSON [wirecheck options]: check against tshark, install
finish() {
    local name=$1 port=$2 spec=$3; shift 3
    printf '%s\n' "$spec" >"$TMP/$name.spec.json"
    $PY "$PYDIR/wirecheck.py" "$TMP/$name.pcap" "$port" "$@" >"$TMP/$name.wire.json"
    $PY "$PYDIR/mkexpected.py" "$TMP/$name.spec.json" "$TMP/$name.wire.json" "$TMP/$name.json"
    install -m 644 "$TMP/$name.pcap" "$PCAPS/$name.pcap"
    install -m 644 "$TMP/$name.json" "$EXP/$name.json"
    echo "gen-nghttp2: $name.pcap ($(stat -c %s "$PCAPS/$name.pcap") bytes)"
}

# 6. h2c with prior knowledge (nghttp's default for http:// URIs)
start_nghttpd 50180
start_tcpdump nghttp2-h2c-plain 50180
nghttp -nv http://127.0.0.1:50180/index.html http://127.0.0.1:50180/style.css >"$TMP/plain.log"
stop_tcpdump; stop_servers
[ "$(grep -c 'recv (stream_id=[0-9]*) :status: 200' "$TMP/plain.log")" = 2 ] || { cat "$TMP/plain.log" >&2; exit 1; }
finish nghttp2-h2c-plain 50180 "$(cat <<JSON
{"capture": "nghttp2-h2c-plain.pcap", "generator": "$GEN",
 "implementation": {"client": "nghttp (nghttp2-client $VER)", "server": "nghttpd (nghttp2-server $VER)"},
 "transport": "h2c", "server_port": 50180, "calls": [], "http2_non_grpc_requests": 2,
 "notes": "Plain HTTP/2 over cleartext with prior knowledge (the client starts with the connection preface; no Upgrade): GET /index.html (stream 13) and GET /style.css (stream 15), both 200 (text/html, text/css), no content-type application/grpc anywhere, so grpcwatch must report no gRPC call. nghttp first sends PRIORITY frames for idle streams 3, 5, 7, 9, 11 (its dependency-tree anchors), and both request HEADERS carry PRIORITY data. The client ends with GOAWAY."}
JSON
)"

# 8. gRPC-shaped POST by a non-gRPC client (nghttpd answers 404)
start_nghttpd 50181
start_tcpdump nghttp2-grpc-like 50181
nghttp -nv -H 'content-type: application/grpc' -H 'te: trailers' -H 'authorization: Bearer x' \
    -d "$TMP/msg.bin" http://127.0.0.1:50181/demo.v1.Echo/Echo >"$TMP/grpc-like.log"
stop_tcpdump; stop_servers
grep -q ':status: 404' "$TMP/grpc-like.log" || { cat "$TMP/grpc-like.log" >&2; exit 1; }
finish nghttp2-grpc-like 50181 "$(cat <<JSON
{"capture": "nghttp2-grpc-like.pcap", "generator": "$GEN",
 "implementation": {"client": "nghttp (nghttp2-client $VER)", "server": "nghttpd (nghttp2-server $VER)"},
 "transport": "h2c", "server_port": 50181,
 "calls": [{"path": "/demo.v1.Echo/Echo", "authority": "127.0.0.1:50181",
            "content_type": "application/grpc", "user_agent_prefix": "nghttp2/",
            "metadata_keys": ["accept", "accept-encoding", "content-length", "authorization"],
            "credential_keys": ["authorization"],
            "grpc_status": null, "grpc_message": null,
            "request_messages": 1, "response_messages": 0}],
 "http2_non_grpc_requests": 0,
 "notes": "A gRPC-shaped call made by a non-gRPC client: nghttp POSTs (stream 13) with content-type application/grpc, te trailers and authorization 'Bearer x', and one 16-byte DATA frame with END_STREAM holding one gRPC message (5-byte prefix, length 11, 'hello grpc!'). nghttp also adds accept '*/*', accept-encoding 'gzip, deflate' (NOT grpc-accept-encoding, so it counts as metadata) and content-length 16, and sends user-agent nghttp2/$VER. nghttpd has no such file and answers :status 404 with content-type 'text/html; charset=UTF-8' and a 148-byte HTML body in one DATA frame with END_STREAM: no trailers, no grpc-status (null), and the HTML body is not a gRPC message (response_messages 0). Like the plain capture it starts with PRIORITY frames for idle streams 3..11 and ends with the client's GOAWAY."}
JSON
)"

# 7. h2c via HTTP/1.1 Upgrade: nghttpd cannot upgrade, so the server is nghttpx
#    (frontend 127.0.0.1:50182, cleartext) proxying to nghttpd on 50183 (not captured)
start_nghttpd 50183
port_free 50182
nghttpx --conf=/dev/null --workers=1 -f'127.0.0.1,50182;no-tls' -b'127.0.0.1,50183;;proto=h2' \
    --errorlog-file="$TMP/nghttpx.err" --accesslog-file="$TMP/nghttpx.access" >"$TMP/nghttpx.out" 2>&1 &
PIDS+=($!)
wait_listen 50182
start_tcpdump nghttp2-h2c-upgrade 50182
nghttp -nuv http://127.0.0.1:50182/index.html http://127.0.0.1:50182/style.css >"$TMP/upgrade.log"
stop_tcpdump; stop_servers
grep -q 'HTTP Upgrade success' "$TMP/upgrade.log" || { cat "$TMP/upgrade.log" >&2; exit 1; }
[ "$(grep -c 'recv (stream_id=[0-9]*) :status: 200' "$TMP/upgrade.log")" = 2 ] || { cat "$TMP/upgrade.log" >&2; exit 1; }
finish nghttp2-h2c-upgrade 50182 "$(cat <<JSON
{"capture": "nghttp2-h2c-upgrade.pcap", "generator": "$GEN",
 "implementation": {"client": "nghttp -u (nghttp2-client $VER)", "server": "nghttpx (nghttp2-proxy $VER) proxying to nghttpd (nghttp2-server $VER)"},
 "transport": "h2c", "server_port": 50182, "calls": [], "http2_non_grpc_requests": 2, "http1_requests": 1,
 "notes": "h2c via HTTP/1.1 Upgrade. The client sends 'GET /index.html HTTP/1.1' with Connection: Upgrade, HTTP2-Settings, Upgrade: h2c and an HTTP2-Settings header; the server answers 'HTTP/1.1 101 Switching Protocols' and, in the same segment, its HTTP/2 SETTINGS; then the client sends the connection preface (Magic), SETTINGS, PRIORITY frames (idle streams 3..11 and stream 1) and GET /style.css as HEADERS on stream 13. The upgraded request's response (200 text/html) comes on HTTP/2 stream 1, which has no request HEADERS frame on the wire. http2_non_grpc_requests counts both requests (stream 1, sent as HTTP/1.1, and stream 13); only ONE request HEADERS frame exists. No gRPC. nghttpd cannot do the Upgrade (it answers the HTTP/1.1 request with HTTP/2 bytes), hence nghttpx on the captured port (it adds 'server: nghttpx' and 'via: 2 nghttpx' response headers); the nghttpx -> nghttpd hop on port 50183 is not captured. The client ends with GOAWAY."}
JSON
)" --http1

echo "gen-nghttp2: done"
