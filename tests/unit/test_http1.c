/*
 * test_http1.c - the HTTP/1.x stage: heads, bodies, pipelining, protocol
 * switches (h2c Upgrade, CONNECT, websocket) and gRPC-Web calls.
 *
 * Inputs are either written here from the RFCs (RFC 9112 message syntax,
 * RFC 7540 section 3.2 h2c upgrade, PROTOCOL-WEB.md gRPC-Web framing) or
 * taken from real captures: the TCP payload of each direction, reassembled
 * with scapy (tshark -z follow,tcp,raw gives the same bytes), of
 *   pcaps/nghttp2-h2c-upgrade.pcap                      (this repository)
 *   suricata-verify/http2-keywords2/input.pcap          (public, h2c via curl)
 *   suricata-verify/http2-range/http2-range.pcap        (public, 5 connections)
 *   zeek/http/websocket.pcap                            (public)
 *   zeek/http/docker-http-upgrade.pcap                  (public, 3 connections)
 * A switched direction is cut at most 40 bytes after its switch point.
 * Expected switch points are found here independently of the parser: the
 * first "\r\n\r\n" of each direction (RFC 9112 section 2.1: a head ends
 * with an empty line). Both feed orders are tried, and interleavings.
 * Base64 for grpc-web-text comes from OpenSSL's EVP_EncodeBlock.
 */
#include "grpcwatch/http1.h"
#include "grpcwatch/grpcweb.h"

#include <check.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- captured streams (see the header comment) ----------------------------- */

static const char cap_nghttp2_c2s[] =
    "GET /index.html HTTP/1.1\r\n"
    "host: 127.0.0.1:50182\r\n"
    "connection: Upgrade, HTTP2-Settings\r\n"
    "upgrade: h2c\r\n"
    "http2-settings: AAMAAABkAAQAAP__\r\n"
    "accept: */*\r\n"
    "user-agent: nghttp2/1.52.0\r\n"
    "\r\n"
    "PRI * HTTP/2.0\r\n"
    "\r\n"
    "SM\r\n"
    "\r\n"
    "\x00\x00\x0c\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00"
    "d\x00";

static const char cap_nghttp2_s2c[] =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Connection: Upgrade\r\n"
    "Upgrade: h2c\r\n"
    "\r\n"
    "\x00\x00\x18\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00"
    "d\x00\x04\x00\x00\xff\xff\x00\x09\x00\x00\x00\x01\x00\x08\x00\x00\x00\x01\x00\x00\x00\x04"
    "\x01\x00\x00";

static const char cap_kw2_c2s[] =
    "GET /robots.txt HTTP/1.1\r\n"
    "Host: nghttp2.org\r\n"
    "User-Agent: curl/7.61.0\r\n"
    "Accept: */*\r\n"
    "Connection: Upgrade, HTTP2-Settings\r\n"
    "Upgrade: h2c\r\n"
    "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
    "\r\n"
    "PRI * HTTP/2.0\r\n"
    "\r\n"
    "SM\r\n"
    "\r\n"
    "\x00\x00\x12\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00"
    "d\x00";

static const char cap_kw2_s2c[] =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Connection: Upgrade\r\n"
    "Upgrade: h2c\r\n"
    "\r\n"
    "\x00\x00\x12\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00"
    "d\x00\x04\x00\x10\x00\x00\x00\x01\x00\x00 \x00\x00\x00\xc4\x01\x04\x00\x00\x00\x01\x88"
    "a\x96\xdd";

static const char cap_range0_c2s[] =
    "GET /eicar HTTP/1.1\r\n"
    "Host: 127.0.0.1:8080\r\n"
    "User-Agent: curl/7.64.1\r\n"
    "Accept: */*\r\n"
    "Connection: Upgrade, HTTP2-Settings\r\n"
    "Upgrade: h2c\r\n"
    "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
    "Range: bytes=0-10\r\n"
    "\r\n"
    "PRI * HTTP/2.0\r\n"
    "\r\n"
    "SM\r\n"
    "\r\n"
    "\x00\x00\x12\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00"
    "d\x00";

static const char cap_range0_s2c[] =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Connection: Upgrade\r\n"
    "Upgrade: h2c\r\n"
    "\r\n"
    "\x00\x00\x18\x04\x00\x00\x00\x00\x00\x00\x05\x00\x10\x00\x00\x00\x03\x00\x00\x00\xfa\x00\x06"
    "\x00\x10\x01@\x00\x04\x00\x10\x00\x00\x00\x00\x04\x08\x00\x00\x00";

static const char cap_range1_c2s[] =
    "GET /eicar HTTP/1.1\r\n"
    "Host: 127.0.0.1:8080\r\n"
    "User-Agent: curl/7.64.1\r\n"
    "Accept: */*\r\n"
    "Range: bytes=10-20\r\n"
    "\r\n";

static const char cap_range1_s2c[] =
    "HTTP/1.1 206 Partial Content\r\n"
    "Accept-Ranges: bytes\r\n"
    "Content-Length: 11\r\n"
    "Content-Range: bytes 10-20/69\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Last-Modified: Fri, 03 Sep 2021 09:05:00 GMT\r\n"
    "Date: Fri, 03 Sep 2021 09:06:40 GMT\r\n"
    "\r\n"
    "4\\PZX54(P^)";

static const char cap_range2_c2s[] =
    "GET /eicar HTTP/1.1\r\n"
    "Host: 127.0.0.1:8080\r\n"
    "User-Agent: curl/7.64.1\r\n"
    "Accept: */*\r\n"
    "Connection: Upgrade, HTTP2-Settings\r\n"
    "Upgrade: h2c\r\n"
    "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
    "Range: bytes=20-30\r\n"
    "\r\n"
    "PRI * HTTP/2.0\r\n"
    "\r\n"
    "SM\r\n"
    "\r\n"
    "\x00\x00\x12\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00"
    "d\x00";

static const char cap_range2_s2c[] =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Connection: Upgrade\r\n"
    "Upgrade: h2c\r\n"
    "\r\n"
    "\x00\x00\x18\x04\x00\x00\x00\x00\x00\x00\x05\x00\x10\x00\x00\x00\x03\x00\x00\x00\xfa\x00\x06"
    "\x00\x10\x01@\x00\x04\x00\x10\x00\x00\x00\x00\x04\x08\x00\x00\x00";

static const char cap_range3_c2s[] =
    "GET /eicar HTTP/1.1\r\n"
    "Host: 127.0.0.1:8080\r\n"
    "User-Agent: curl/7.64.1\r\n"
    "Accept: */*\r\n"
    "Range: bytes=30-40\r\n"
    "\r\n";

static const char cap_range3_s2c[] =
    "HTTP/1.1 206 Partial Content\r\n"
    "Accept-Ranges: bytes\r\n"
    "Content-Length: 11\r\n"
    "Content-Range: bytes 30-40/69\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Last-Modified: Fri, 03 Sep 2021 09:05:00 GMT\r\n"
    "Date: Fri, 03 Sep 2021 09:06:40 GMT\r\n"
    "\r\n"
    "CAR-STANDAR";

static const char cap_range4_c2s[] =
    "GET /eicar HTTP/1.1\r\n"
    "Host: 127.0.0.1:8080\r\n"
    "User-Agent: curl/7.64.1\r\n"
    "Accept: */*\r\n"
    "Connection: Upgrade, HTTP2-Settings\r\n"
    "Upgrade: h2c\r\n"
    "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
    "Range: bytes=40-68\r\n"
    "\r\n"
    "PRI * HTTP/2.0\r\n"
    "\r\n"
    "SM\r\n"
    "\r\n"
    "\x00\x00\x12\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00"
    "d\x00";

static const char cap_range4_s2c[] =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Connection: Upgrade\r\n"
    "Upgrade: h2c\r\n"
    "\r\n"
    "\x00\x00\x18\x04\x00\x00\x00\x00\x00\x00\x05\x00\x10\x00\x00\x00\x03\x00\x00\x00\xfa\x00\x06"
    "\x00\x10\x01@\x00\x04\x00\x10\x00\x00\x00\x00\x04\x08\x00\x00\x00";

static const char cap_ws_c2s[] =
    "GET /echo?.kl=Y HTTP/1.1\r\n"
    "Host: sandbox.kaazing.net\r\n"
    "User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10.12; rv:54.0) Gecko/20100101 Firefox"
    "/54.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Origin: http://kaazing.org\r\n"
    "Sec-WebSocket-Protocol: x-kaazing-handshake\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate\r\n"
    "Sec-WebSocket-Key: vf3bSlxjI9R5oosJfwM/8Q==\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "Upgrade: websocket\r\n"
    "\r\n"
    "\x81\xfe\x00\x8c\xf0\x12\x0e\x1c\xb7WZ<\xdfwmt\x9f"
    "2FH\xa4"
    "B!-\xde#\x03\x16\xa7wlO\x9fqey\x84?^n";

static const char cap_ws_s2c[] =
    "HTTP/1.1 101 Web Socket Protocol Handshake\r\n"
    "Access-Control-Allow-Credentials: true\r\n"
    "Access-Control-Allow-Headers: content-type\r\n"
    "Access-Control-Allow-Headers: authorization\r\n"
    "Access-Control-Allow-Headers: x-websocket-extensions\r\n"
    "Access-Control-Allow-Headers: x-websocket-version\r\n"
    "Access-Control-Allow-Headers: x-websocket-protocol\r\n"
    "Access-Control-Allow-Origin: http://kaazing.org\r\n"
    "Connection: Upgrade\r\n"
    "Date: Thu, 03 Aug 2017 14:37:12 GMT\r\n"
    "Sec-WebSocket-Accept: 0Zl6vr6NCtorAnmvFsy68nbStvE=\r\n"
    "Sec-WebSocket-Protocol: x-kaazing-handshake\r\n"
    "Server: Kaazing Gateway\r\n"
    "Upgrade: websocket\r\n"
    "\r\n"
    "\x82\x04\xef\x83\xbfN\x82~\x02QHTTP/1.1 101 Web Socket Protoc";

static const char cap_docker0_c2s[] =
    "HEAD /_ping HTTP/1.1\r\n"
    "Host: 192.168.122.87:2375\r\n"
    "User-Agent: Docker-Client/27.3.1 (linux)\r\n"
    "\r\n"
    "POST /v1.41/containers/create HTTP/1.1\r\n"
    "Host: 192.168.122.87:2375\r\n"
    "User-Agent: Docker-Client/27.3.1 (linux)\r\n"
    "Content-Length: 1719\r\n"
    "Content-Type: application/json\r\n"
    "Accept-Encoding: gzip\r\n"
    "\r\n"
    "{\"Hostname\":\"\",\"Domainname\":\"\",\"User\":\"\",\"AttachStdin\":true,\"AttachStdout\""
    ":true,\"AttachStderr\":true,\"Tty\":true,\"OpenStdin\":true,\"StdinOnce\":true,\"Env\":nu"
    "ll,\"Cmd\":[\"/bin/sh\"],\"Image\":\"busybox\",\"Volumes\":{},\"WorkingDir\":\"\",\"Entry"
    "point\":null,\"OnBuild\":null,\"Labels\":{},\"HostConfig\":{\"Binds\":null,\"ContainerIDF"
    "ile\":\"\",\"LogConfig\":{\"Type\":\"\",\"Config\":{}},\"NetworkMode\":\"default\",\"Port"
    "Bindings\":{},\"RestartPolicy\":{\"Name\":\"no\",\"MaximumRetryCount\":0},\"AutoRemove\":"
    "false,\"VolumeDriver\":\"\",\"VolumesFrom\":null,\"ConsoleSize\":[69,134],\"CapAdd\":null"
    ",\"CapDrop\":null,\"CgroupnsMode\":\"\",\"Dns\":[],\"DnsOptions\":[],\"DnsSearch\":[],\"E"
    "xtraHosts\":null,\"GroupAdd\":null,\"IpcMode\":\"\",\"Cgroup\":\"\",\"Links\":null,\"OomS"
    "coreAdj\":0,\"PidMode\":\"\",\"Privileged\":false,\"PublishAllPorts\":false,\"ReadonlyRoo"
    "tfs\":false,\"SecurityOpt\":null,\"UTSMode\":\"\",\"UsernsMode\":\"\",\"ShmSize\":0,\"Iso"
    "lation\":\"\",\"CpuShares\":0,\"Memory\":0,\"NanoCpus\":0,\"CgroupParent\":\"\",\"BlkioWe"
    "ight\":0,\"BlkioWeightDevice\":[],\"BlkioDeviceReadBps\":[],\"BlkioDeviceWriteBps\":[],\""
    "BlkioDeviceReadIOps\":[],\"BlkioDeviceWriteIOps\":[],\"CpuPeriod\":0,\"CpuQuota\":0,\"Cpu"
    "RealtimePeriod\":0,\"CpuRealtimeRuntime\":0,\"CpusetCpus\":\"\",\"CpusetMems\":\"\",\"Dev"
    "ices\":[],\"DeviceCgroupRules\":null,\"DeviceRequests\":null,\"MemoryReservation\":0,\"Me"
    "morySwap\":0,\"MemorySwappiness\":-1,\"OomKillDisable\":false,\"PidsLimit\":0,\"Ulimits\""
    ":[],\"CpuCount\":0,\"CpuPercent\":0,\"IOMaximumIOps\":0,\"IOMaximumBandwidth\":0,\"Masked"
    "Paths\":null,\"ReadonlyPaths\":null},\"NetworkingConfig\":{\"EndpointsConfig\":{\"default"
    "\":{\"IPAMConfig\":null,\"Links\":null,\"Aliases\":null,\"MacAddress\":\"\",\"DriverOpts\""
    ":null,\"NetworkID\":\"\",\"EndpointID\":\"\",\"Gateway\":\"\",\"IPAddress\":\"\",\"IPPref"
    "ixLen\":0,\"IPv6Gateway\":\"\",\"GlobalIPv6Address\":\"\",\"GlobalIPv6PrefixLen\":0,\"DNS"
    "Names\":null}}}}\n"
    "POST /v1.41/containers/cc4fc8e49cadbb8bc41437dc2f9979a72293eabc3f0ea5ce48b77f43cb1f1d5e/w"
    "ait?condition=next-exit HTTP/1.1\r\n"
    "Host: 192.168.122.87:2375\r\n"
    "User-Agent: Docker-Client/27.3.1 (linux)\r\n"
    "Content-Length: 0\r\n"
    "Accept-Encoding: gzip\r\n"
    "\r\n";

static const char cap_docker0_s2c[] =
    "HTTP/1.1 200 OK\r\n"
    "Api-Version: 1.41\r\n"
    "Cache-Control: no-cache, no-store, must-revalidate\r\n"
    "Content-Length: 0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Docker-Experimental: false\r\n"
    "Ostype: linux\r\n"
    "Pragma: no-cache\r\n"
    "Server: Docker/20.10.17 (linux)\r\n"
    "Date: Tue, 26 Nov 2024 18:48:20 GMT\r\n"
    "\r\n"
    "HTTP/1.1 201 Created\r\n"
    "Api-Version: 1.41\r\n"
    "Content-Type: application/json\r\n"
    "Docker-Experimental: false\r\n"
    "Ostype: linux\r\n"
    "Server: Docker/20.10.17 (linux)\r\n"
    "Date: Tue, 26 Nov 2024 18:48:20 GMT\r\n"
    "Content-Length: 88\r\n"
    "\r\n"
    "{\"Id\":\"cc4fc8e49cadbb8bc41437dc2f9979a72293eabc3f0ea5ce48b77f43cb1f1d5e\",\"Warnings\""
    ":[]}\n"
    "HTTP/1.1 200 OK\r\n"
    "Api-Version: 1.41\r\n"
    "Content-Type: application/json\r\n"
    "Docker-Experimental: false\r\n"
    "Ostype: linux\r\n"
    "Server: Docker/20.10.17 (linux)\r\n"
    "Date: Tue, 26 Nov 2024 18:48:20 GMT\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "1e\r\n"
    "{\"Error\":null,\"StatusCode\":0}\n"
    "\r\n"
    "0\r\n"
    "\r\n";

static const char cap_docker1_c2s[] =
    "POST /v1.41/containers/cc4fc8e49cadbb8bc41437dc2f9979a72293eabc3f0ea5ce48b77f43cb1f1d5e/a"
    "ttach?stderr=1&stdin=1&stdout=1&stream=1 HTTP/1.1\r\n"
    "Host: 192.168.122.87:2375\r\n"
    "User-Agent: Docker-Client/27.3.1 (linux)\r\n"
    "Content-Length: 0\r\n"
    "Connection: Upgrade\r\n"
    "Content-Type: text/plain\r\n"
    "Upgrade: tcp\r\n"
    "\r\n"
    "ls\rcd /home\rls -a\rcd\rls -a\rcat .as\x09\rexit\r";

static const char cap_docker1_s2c[] =
    "HTTP/1.1 101 UPGRADED\r\n"
    "Content-Type: application/vnd.docker.raw-stream\r\n"
    "Connection: Upgrade\r\n"
    "Upgrade: tcp\r\n"
    "\r\n"
    "/ # \r/ # \x1b[Jls\r\n"
    "\x1b[1;34mbin\x1b[m    \x1b[1;34m";

static const char cap_docker2_c2s[] =
    "POST /v1.41/containers/cc4fc8e49cadbb8bc41437dc2f9979a72293eabc3f0ea5ce48b77f43cb1f1d5e/s"
    "tart HTTP/1.1\r\n"
    "Host: 192.168.122.87:2375\r\n"
    "User-Agent: Docker-Client/27.3.1 (linux)\r\n"
    "Content-Length: 0\r\n"
    "Accept-Encoding: gzip\r\n"
    "\r\n"
    "POST /v1.41/containers/cc4fc8e49cadbb8bc41437dc2f9979a72293eabc3f0ea5ce48b77f43cb1f1d5e/r"
    "esize?h=69&w=134 HTTP/1.1\r\n"
    "Host: 192.168.122.87:2375\r\n"
    "User-Agent: Docker-Client/27.3.1 (linux)\r\n"
    "Content-Length: 0\r\n"
    "Accept-Encoding: gzip\r\n"
    "\r\n";

static const char cap_docker2_s2c[] =
    "HTTP/1.1 204 No Content\r\n"
    "Api-Version: 1.41\r\n"
    "Docker-Experimental: false\r\n"
    "Ostype: linux\r\n"
    "Server: Docker/20.10.17 (linux)\r\n"
    "Date: Tue, 26 Nov 2024 18:48:21 GMT\r\n"
    "\r\n"
    "HTTP/1.1 200 OK\r\n"
    "Api-Version: 1.41\r\n"
    "Docker-Experimental: false\r\n"
    "Ostype: linux\r\n"
    "Server: Docker/20.10.17 (linux)\r\n"
    "Date: Tue, 26 Nov 2024 18:48:21 GMT\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

#define CAP(name) (const uint8_t *)(name), (sizeof(name) - 1)

/* ---- recording callbacks -------------------------------------------------- */

#define LOG_MAX 8192
#define BODY_MAX 8192
#define MAX_CALLS 4
#define STR_MAX 256

struct rec {
    char log[2][LOG_MAX];          /* events by direction */
    size_t log_len[2];
    uint8_t body[2][BODY_MAX];
    size_t body_len[2];
    uint8_t newp[2][BODY_MAX];     /* bytes of the new protocol, by direction */
    size_t newp_len[2];
    int switch_kind[2];
    int switches[2];
    int requests, responses, ends[2];
    /* the last request, copied */
    char method[STR_MAX], target[STR_MAX], host[STR_MAX], ua[STR_MAX], ct[STR_MAX];
    char h2settings[STR_MAX], names[1024];
    int n_names, names_truncated, upgrade_h2c, asks_switch, is_head, is_connect, grpc;
    int version_minor, framing_conflict, chunked;
    uint32_t seq;
    /* the last response */
    int status, resp_switch_kind, informational, to_head;
    uint32_t request_seq;
    struct gw_grpc_call calls[MAX_CALLS];
    int ncalls;
};

static void logf_(struct rec *r, int dir, const char *s)
{
    size_t k = strlen(s);
    ck_assert_uint_lt(r->log_len[dir] + k, LOG_MAX);
    memcpy(r->log[dir] + r->log_len[dir], s, k + 1);
    r->log_len[dir] += k;
}

static void copy_str(char *dst, struct gw_http1_str s)
{
    size_t k = s.p ? (s.n < STR_MAX - 1 ? s.n : STR_MAX - 1) : 0;
    if (k) memcpy(dst, s.p, k);
    dst[k] = '\0';
    if (!s.p) strcpy(dst, "(none)");
}

static void on_request(void *user, const struct gw_http1_request *q)
{
    struct rec *r = user;
    char line[2 * STR_MAX + 16];
    r->requests++;
    copy_str(r->method, q->method);
    copy_str(r->target, q->target);
    copy_str(r->host, q->host);
    copy_str(r->ua, q->user_agent);
    copy_str(r->ct, q->h.content_type);
    copy_str(r->h2settings, q->http2_settings);
    r->names[0] = '\0';
    for (int i = 0; i < q->h.n_names; i++) {
        size_t at = strlen(r->names);
        ck_assert_uint_lt(at + q->h.names[i].n + 2, sizeof r->names);
        if (i) r->names[at++] = ',';
        memcpy(r->names + at, q->h.names[i].p, q->h.names[i].n);
        r->names[at + q->h.names[i].n] = '\0';
    }
    r->n_names = q->h.n_names;
    r->names_truncated = q->h.names_truncated;
    r->upgrade_h2c = q->upgrade_h2c;
    r->asks_switch = q->asks_switch;
    r->is_head = q->is_head;
    r->is_connect = q->is_connect;
    r->grpc = q->grpc;
    r->version_minor = q->h.version_minor;
    r->framing_conflict = q->h.framing_conflict;
    r->chunked = q->h.chunked;
    r->seq = q->seq;
    snprintf(line, sizeof line, "req %s %s\n", r->method, r->target);
    logf_(r, GW_DIR_TO_SERVER, line);
}

static void on_response(void *user, const struct gw_http1_response *s)
{
    struct rec *r = user;
    char line[64];
    r->responses++;
    r->status = s->status;
    r->resp_switch_kind = s->switch_kind;
    r->informational = s->informational;
    r->to_head = s->to_head;
    r->request_seq = s->request_seq;
    snprintf(line, sizeof line, "resp %d%s\n", s->status, s->to_head ? " head" : "");
    logf_(r, GW_DIR_TO_CLIENT, line);
}

static void on_body(void *user, int dir, const uint8_t *p, size_t n)
{
    struct rec *r = user;
    ck_assert_uint_gt(n, 0);
    ck_assert_uint_le(r->body_len[dir] + n, BODY_MAX);
    memcpy(r->body[dir] + r->body_len[dir], p, n);
    r->body_len[dir] += n;
}

static void on_message_end(void *user, int dir)
{
    struct rec *r = user;
    r->ends[dir]++;
    logf_(r, dir, "end\n");
}

static void on_switch(void *user, int dir, int kind, const uint8_t *held, size_t n)
{
    struct rec *r = user;
    char line[64];
    r->switches[dir]++;
    r->switch_kind[dir] = kind;
    ck_assert(held != NULL || n == 0);
    ck_assert_uint_le(r->newp_len[dir] + n, BODY_MAX);
    if (n) memcpy(r->newp[dir] + r->newp_len[dir], held, n);
    r->newp_len[dir] += n;
    snprintf(line, sizeof line, "switch %s\n", gw_http1_switch_str(kind));
    logf_(r, dir, line);
}

static void on_call(void *user, struct gw_grpc_call *call)
{
    struct rec *r = user;
    ck_assert_int_lt(r->ncalls, MAX_CALLS);
    r->calls[r->ncalls++] = *call;
}

static const struct gw_http1_callbacks callbacks = {
    .on_request = on_request,
    .on_response = on_response,
    .on_body = on_body,
    .on_message_end = on_message_end,
    .on_switch = on_switch,
    .on_grpc_web_call = on_call,
};

struct fixture {
    struct rec *r;
    struct gw_http1_conn *c;
};

static struct fixture fx_new(void)
{
    struct fixture f;
    f.r = calloc(1, sizeof *f.r);
    ck_assert_ptr_nonnull(f.r);
    f.c = gw_http1_conn_create(NULL, &callbacks, f.r);
    ck_assert_ptr_nonnull(f.c);
    return f;
}

static void fx_free(struct fixture *f)
{
    gw_http1_conn_destroy(f->c);
    free(f->r);
    f->c = NULL;
    f->r = NULL;
}

/* Feeds p/n in pieces of `step` bytes (0: whole). Bytes after a switch go
 * to rec->newp[dir] as a new-protocol consumer would take them. Returns the
 * last return code. */
static int drive(struct fixture *f, int dir, const uint8_t *p, size_t n, size_t step)
{
    int rc = GW_OK;
    bool switched = false;
    if (step == 0) step = n ? n : 1;
    for (size_t off = 0; off < n; off += step) {
        size_t k = n - off < step ? n - off : step;
        size_t used = 12345;
        if (switched) {
            rc = gw_http1_conn_feed(f->c, dir, p + off, k, 0, &used);
            ck_assert_int_eq(rc, GW_ERR_UNSUPPORTED);
            ck_assert_uint_eq(used, 0);
        } else {
            rc = gw_http1_conn_feed(f->c, dir, p + off, k, 0, &used);
        }
        if (rc == GW_OK) {
            ck_assert_uint_eq(used, k);
        } else if (rc == GW_ERR_UNSUPPORTED) {
            ck_assert_uint_le(used, k);
            switched = true;
            ck_assert_uint_le(f->r->newp_len[dir] + (k - used), BODY_MAX);
            memcpy(f->r->newp[dir] + f->r->newp_len[dir], p + off + used, k - used);
            f->r->newp_len[dir] += k - used;
        } else {
            return rc;
        }
    }
    return rc;
}

/* Feeds p/n split at k. */
static int drive_split(struct fixture *f, int dir, const uint8_t *p, size_t n, size_t k)
{
    int rc = drive(f, dir, p, k, 0);
    if (rc != GW_OK && rc != GW_ERR_UNSUPPORTED) return rc;
    int rc2 = drive(f, dir, p + k, n - k, 0);
    return (k == n) ? rc : rc2;
}

static size_t head_len(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if (memcmp(p + i, "\r\n\r\n", 4) == 0) return i + 4;
    ck_abort_msg("no empty line");
    return 0;
}

static const uint8_t *S(const char *s)
{
    return (const uint8_t *)s;
}

/* ---- heads -------------------------------------------------------------------- */


/* Idle only between messages with nothing owed, at every byte of a
 * request/response pair fed one byte at a time. */
START_TEST(test_idle_between_messages)
{
    static const char req[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    struct fixture f = fx_new();
    ck_assert(gw_http1_conn_idle(f.c)); /* new */
    for (size_t i = 0; i < sizeof req - 1; i++) {
        ck_assert_int_eq(drive(&f, 0, S(req) + i, 1, 0), GW_OK);
        ck_assert(!gw_http1_conn_idle(f.c)); /* inside the head, then waiting for the response */
    }
    for (size_t i = 0; i < sizeof resp - 1; i++) {
        ck_assert(!gw_http1_conn_idle(f.c));
        ck_assert_int_eq(drive(&f, 1, S(resp) + i, 1, 0), GW_OK);
    }
    ck_assert(gw_http1_conn_idle(f.c)); /* the body's last byte ended the exchange */
    ck_assert_int_eq(drive(&f, 0, S(req), sizeof req - 1, 0), GW_OK);
    ck_assert(!gw_http1_conn_idle(f.c));
    fx_free(&f);
}
END_TEST

START_TEST(test_request_fields)
{
    static const char req[] =
        "GET /index.html HTTP/1.1\r\n"
        "Host: example.com\r\n"
        "User-Agent: t/1\r\n"
        "Accept: */*\r\n"
        "Authorization: Bearer x\r\n"
        "X-Session-Token: y\r\n"
        "\r\n";
    struct fixture f = fx_new();
    ck_assert_int_eq(drive(&f, GW_DIR_TO_SERVER, CAP(req), 0), GW_OK);
    ck_assert_int_eq(f.r->requests, 1);
    ck_assert_str_eq(f.r->method, "GET");
    ck_assert_str_eq(f.r->target, "/index.html");
    ck_assert_str_eq(f.r->host, "example.com");
    ck_assert_str_eq(f.r->ua, "t/1");
    ck_assert_str_eq(f.r->ct, "(none)");
    ck_assert_str_eq(f.r->names, "Host,User-Agent,Accept,Authorization,X-Session-Token");
    ck_assert_int_eq(f.r->version_minor, 1);
    ck_assert_uint_eq(f.r->seq, 1);
    ck_assert_int_eq(f.r->asks_switch, 0);
    ck_assert_int_eq(f.r->is_head, 0);
    ck_assert_str_eq(f.r->log[0], "req GET /index.html\nend\n");
    ck_assert_uint_eq(f.r->body_len[0], 0);
    fx_free(&f);
}
END_TEST

/* A pipelined conversation: a POST with a Content-Length body, a HEAD, a
 * GET; answers 100 + chunked 200 (extension, trailer), 200 to HEAD with a
 * Content-Length that must not be read, 404 with a body. */
static const char conv_c2s[] =
    "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"
    "hello world"
    "HEAD /c HTTP/1.0\r\n\r\n"
    "GET /b HTTP/1.1\nHost: h\n\n";   /* bare LF line ends are allowed */
static const char conv_s2c[] =
    "HTTP/1.1 100 Continue\r\n\r\n"
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;name=\"v;x\"\r\nhello\r\nA \t;ext\r\n, world!!!\r\n0\r\nX-Trailer: y\r\n\r\n"
    "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
    "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnop";
static const char conv_log_c2s[] = "req POST /a\nend\nreq HEAD /c\nend\nreq GET /b\nend\n";
static const char conv_log_s2c[] = "resp 100\nend\nresp 200\nend\nresp 200 head\nend\nresp 404\nend\n";
static const char conv_body_s2c[] = "hello, world!!!nop";

static void check_conv(struct fixture *f)
{
    ck_assert_str_eq(f->r->log[0], conv_log_c2s);
    ck_assert_str_eq(f->r->log[1], conv_log_s2c);
    ck_assert_uint_eq(f->r->body_len[0], 11);
    ck_assert_mem_eq(f->r->body[0], "hello world", 11);
    ck_assert_uint_eq(f->r->body_len[1], strlen(conv_body_s2c));
    ck_assert_mem_eq(f->r->body[1], conv_body_s2c, strlen(conv_body_s2c));
    const struct gw_http1_stats *st = gw_http1_conn_stats(f->c);
    ck_assert_uint_eq(st->requests, 3);
    ck_assert_uint_eq(st->responses, 4);
    ck_assert_uint_eq(st->unmatched_responses, 0);
}

START_TEST(test_split_every_boundary)
{
    size_t nc = sizeof conv_c2s - 1, ns = sizeof conv_s2c - 1;
    for (size_t k = 0; k <= nc; k++) {
        struct fixture f = fx_new();
        ck_assert_int_eq(drive_split(&f, GW_DIR_TO_SERVER, CAP(conv_c2s), k), GW_OK);
        ck_assert_int_eq(drive(&f, GW_DIR_TO_CLIENT, CAP(conv_s2c), 0), GW_OK);
        check_conv(&f);
        fx_free(&f);
    }
    for (size_t k = 0; k <= ns; k++) {
        struct fixture f = fx_new();
        ck_assert_int_eq(drive(&f, GW_DIR_TO_SERVER, CAP(conv_c2s), 0), GW_OK);
        ck_assert_int_eq(drive_split(&f, GW_DIR_TO_CLIENT, CAP(conv_s2c), k), GW_OK);
        check_conv(&f);
        fx_free(&f);
    }
    for (size_t step = 1; step <= 7; step++) {
        struct fixture f = fx_new();
        ck_assert_int_eq(drive(&f, GW_DIR_TO_SERVER, CAP(conv_c2s), step), GW_OK);
        ck_assert_int_eq(drive(&f, GW_DIR_TO_CLIENT, CAP(conv_s2c), step), GW_OK);
        check_conv(&f);
        fx_free(&f);
    }
}
END_TEST

START_TEST(test_prefix_no_callback)
{
    static const char req[] = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n";
    static const char resp[] = "HTTP/1.1 204 No Content\r\nServer: s\r\n\r\n";
    const char *const msgs[2] = { req, resp };
    for (int dir = 0; dir < 2; dir++) {
        size_t n = strlen(msgs[dir]);
        for (size_t k = 1; k < n; k++) {
            struct fixture f = fx_new();
            size_t used = 0;
            ck_assert_int_eq(gw_http1_conn_feed(f.c, dir, S(msgs[dir]), k, 0, &used), GW_OK);
            ck_assert_uint_eq(used, k);
            ck_assert_uint_eq(f.r->log_len[0] + f.r->log_len[1], 0);
            ck_assert_int_eq(gw_http1_conn_feed(f.c, dir, S(msgs[dir]) + k, n - k, 0, &used), GW_OK);
            ck_assert_uint_eq(used, n - k);
            ck_assert_str_eq(f.r->log[dir], dir == 0 ? "req POST /x\nend\n" : "resp 204\nend\n");
            fx_free(&f);
        }
    }
}
END_TEST

START_TEST(test_no_body_statuses)
{
    /* 204 and 304 have no content whatever their fields say (RFC 9112 6.3) */
    static const char c2s[] = "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n";
    static const char s2c[] =
        "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
        "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    struct fixture f = fx_new();
    ck_assert_int_eq(drive(&f, GW_DIR_TO_SERVER, CAP(c2s), 0), GW_OK);
    ck_assert_int_eq(drive(&f, GW_DIR_TO_CLIENT, CAP(s2c), 0), GW_OK);
    ck_assert_str_eq(f.r->log[1], "resp 204\nend\nresp 304\nend\nresp 200\nend\n");
    ck_assert_uint_eq(f.r->body_len[1], 2);
    ck_assert_uint_eq(f.r->request_seq, 3);
    fx_free(&f);
}
END_TEST

START_TEST(test_http10_body_to_close)
{
    static const char c2s[] = "GET / HTTP/1.0\r\n\r\n";
    static const char s2c[] = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nsome body bytes";
    for (int how = 0; how < 2; how++) {
        struct fixture f = fx_new();
        ck_assert_int_eq(drive(&f, GW_DIR_TO_SERVER, CAP(c2s), 0), GW_OK);
        ck_assert_int_eq(drive(&f, GW_DIR_TO_CLIENT, CAP(s2c), 3), GW_OK);
        ck_assert_str_eq(f.r->log[1], "resp 200\n"); /* not ended: the body runs to the close */
        if (how == 0) gw_http1_conn_fin(f.c, GW_DIR_TO_CLIENT, 0);
        else gw_http1_conn_close(f.c, GW_END_CONN_CLOSED, 0);
        ck_assert_str_eq(f.r->log[1], "resp 200\nend\n");
        ck_assert_uint_eq(f.r->body_len[1], strlen("some body bytes"));
        ck_assert_mem_eq(f.r->body[1], "some body bytes", f.r->body_len[1]);
        ck_assert_int_eq(f.r->version_minor, 0);
        fx_free(&f);
    }
    /* end of input is not a close: the body stays unfinished */
    struct fixture f = fx_new();
    drive(&f, GW_DIR_TO_SERVER, CAP(c2s), 0);
    drive(&f, GW_DIR_TO_CLIENT, CAP(s2c), 0);
    gw_http1_conn_close(f.c, GW_END_EOF, 0);
    ck_assert_int_eq(f.r->ends[1], 0);
    fx_free(&f);
}
END_TEST

START_TEST(test_many_fields)
{
    /* 70 fields: names past 64 are not reported, but Content-Length, the
     * 70th, still frames the body */
    char head[4096];
    size_t at = (size_t)snprintf(head, sizeof head, "POST /m HTTP/1.1\r\n");
    for (int i = 0; i < 69; i++) at += (size_t)snprintf(head + at, sizeof head - at, "X-F%d: v\r\n", i);
    at += (size_t)snprintf(head + at, sizeof head - at, "Content-Length: 4\r\n\r\nabcdGET /n HTTP/1.1\r\n\r\n");
    struct fixture f = fx_new();
    ck_assert_int_eq(drive(&f, GW_DIR_TO_SERVER, S(head), at, 0), GW_OK);
    ck_assert_int_eq(f.r->requests, 2);
    ck_assert_str_eq(f.r->log[0], "req POST /m\nend\nreq GET /n\nend\n");
    ck_assert_uint_eq(f.r->body_len[0], 4);
    ck_assert_mem_eq(f.r->body[0], "abcd", 4);
    fx_free(&f);
    /* the first request's name count, seen alone */
    f = fx_new();
    drive(&f, GW_DIR_TO_SERVER, S(head), at - strlen("abcdGET /n HTTP/1.1\r\n\r\n"), 0);
    ck_assert_int_eq(f.r->n_names, GW_HTTP1_MAX_FIELDS);
    ck_assert_int_eq(f.r->names_truncated, 1);
    fx_free(&f);
}
END_TEST

START_TEST(test_pipeline_queue_overflow)
{
    enum { N = GW_HTTP1_MAX_PENDING + 8 };
    char *c2s = malloc(N * 32), *s2c = malloc(N * 48);
    ck_assert_ptr_nonnull(c2s);
    ck_assert_ptr_nonnull(s2c);
    size_t nc = 0, ns = 0;
    for (int i = 0; i < N; i++) {
        nc += (size_t)sprintf(c2s + nc, "GET /%d HTTP/1.1\r\n\r\n", i);
        ns += (size_t)sprintf(s2c + ns, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
    struct fixture f = fx_new();
    ck_assert_int_eq(drive(&f, GW_DIR_TO_SERVER, S(c2s), nc, 0), GW_OK);
    ck_assert_int_eq(drive(&f, GW_DIR_TO_CLIENT, S(s2c), ns, 0), GW_OK);
    ck_assert_int_eq(f.r->requests, N);
    ck_assert_int_eq(f.r->ends[1], N);
    ck_assert_uint_eq(f.r->body_len[1], 2 * N);
    const struct gw_http1_stats *st = gw_http1_conn_stats(f.c);
    ck_assert_uint_eq(st->queue_overflows, 8);
    ck_assert_uint_eq(st->unmatched_responses, 8);
    ck_assert_uint_eq(f.r->request_seq, N);
    fx_free(&f);
    free(c2s);
    free(s2c);
}
END_TEST

/* ---- malformed input ------------------------------------------------------------ */

struct bad_case {
    int dir;
    const char *bytes;
    size_t len;
};

#define BAD(dir, s) { dir, s, sizeof(s) - 1 }

static const struct bad_case bad_cases[] = {
    BAD(0, "GET / HTTP/1.1\rHost: x\r\n\r\n"),                       /* bare CR */
    BAD(0, "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"),          /* obs-fold */
    BAD(0, "GET / HTTP/1.1\r\nHost : x\r\n\r\n"),                    /* space before colon */
    BAD(0, "GET / HTTP/1.1\r\n: x\r\n\r\n"),                         /* empty name */
    BAD(0, "GET / HTTP/1.1\r\nNoColon\r\n\r\n"),
    BAD(0, "GET / HTTP/1.1\r\nA: x\0y\r\n\r\n"),                     /* NUL */
    BAD(0, "GET / HTTP/2.0\r\n\r\n"),
    BAD(0, "GET / HTTP/1.1 \r\n\r\n"),
    BAD(0, "GET /\r\n\r\n"),                                         /* HTTP/0.9 */
    BAD(0, "G@T / HTTP/1.1\r\n\r\n"),
    BAD(0, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),                      /* preface out of place */
    BAD(0, "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
    BAD(0, "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
    BAD(0, "POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n"),
    BAD(0, "POST / HTTP/1.1\r\nContent-Length: 12, 13\r\n\r\n"),
    BAD(0, "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
    BAD(0, "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n"),
    BAD(0, "POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n"),
    BAD(0, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
    BAD(0, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
    BAD(0, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
    BAD(0, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
    BAD(0, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n"),
    BAD(0, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n"),
    BAD(0, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n"),
    BAD(0, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 6\r\n"),
    BAD(0, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n"),
    BAD(0, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\rX"),
    BAD(0, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: x\rX"),
    BAD(1, "HTTP/1.1 20 OK\r\n\r\n"),
    BAD(1, "HTTP/1.1 abc OK\r\n\r\n"),
    BAD(1, "HTTP/1.1 099 Low\r\n\r\n"),
    BAD(1, "HTTX/1.1 200 OK\r\n\r\n"),
    BAD(1, "HTTP/1.1 200OK\r\n\r\n"),
    BAD(1, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
    BAD(1, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n"),
};

START_TEST(test_malformed)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *bc = &bad_cases[i];
        size_t n = bc->len;
        for (size_t step = 0; step <= 1; step++) {
            struct fixture f = fx_new();
            int rc = drive(&f, bc->dir, S(bc->bytes), n, step);
            if (rc != GW_ERR_MALFORMED) ck_abort_msg("case %zu step %zu: rc %d", i, step, rc);
            size_t used = 7;
            /* sticky */
            ck_assert_int_eq(gw_http1_conn_feed(f.c, bc->dir, S("GET / HTTP/1.1\r\n\r\n"), 18, 0, &used),
                             GW_ERR_MALFORMED);
            ck_assert_uint_eq(used, 0);
            /* the other direction goes on */
            const char *other = bc->dir == 0 ? "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" : "GET / HTTP/1.1\r\n\r\n";
            ck_assert_int_eq(drive(&f, !bc->dir, S(other), strlen(other), 0), GW_OK);
            fx_free(&f);
        }
    }
}
END_TEST

START_TEST(test_huge_heads)
{
    /* a head over 16 KiB, with line ends and without any */
    size_t n = GW_HTTP1_HEAD_MAX + 100;
    char *big = malloc(n + 1);
    ck_assert_ptr_nonnull(big);
    memcpy(big, "GET / HTTP/1.1\r\n", 16);
    for (size_t i = 16; i < n; i += 20) memcpy(big + i, "X-Pad: aaaaaaaaaaa\r\n", GW_MIN(20, n - i));
    for (int variant = 0; variant < 2; variant++) {
        if (variant == 1) memset(big + 4, 'a', n - 4); /* no CRLF at all */
        for (size_t step = 0; step < 2; step++) {
            struct fixture f = fx_new();
            int rc = drive(&f, GW_DIR_TO_SERVER, S(big), n, step ? 1000 : 0);
            ck_assert_int_eq(rc, GW_ERR_MALFORMED);
            ck_assert_int_eq(f.r->requests, 0);
            fx_free(&f);
        }
    }
    /* exactly at the cap is fine */
    size_t at = 0;
    at += (size_t)sprintf(big, "GET / HTTP/1.1\r\n");
    /* 20-byte fields, then one of 8..27 bytes to land on the cap exactly */
    while (at + 20 + 8 + 2 <= GW_HTTP1_HEAD_MAX) at += (size_t)sprintf(big + at, "X-Pad: aaaaaaaaaaa\r\n");
    size_t fill = GW_HTTP1_HEAD_MAX - at - 2;
    ck_assert_uint_ge(fill, 8);
    memcpy(big + at, "X-Z: ", 5);
    memset(big + at + 5, 'z', fill - 5 - 2);
    memcpy(big + at + fill - 2, "\r\n", 2);
    at += fill;
    memcpy(big + at, "\r\n", 2);
    at += 2;
    ck_assert_uint_eq(at, GW_HTTP1_HEAD_MAX);
    struct fixture f = fx_new();
    ck_assert_int_eq(drive(&f, GW_DIR_TO_SERVER, S(big), at, 777), GW_OK);
    ck_assert_int_eq(f.r->requests, 1);
    fx_free(&f);
    free(big);
}
END_TEST


/* ---- protocol switches on real captures ------------------------------------------ */

struct switch_cap {
    const char *name;
    const char *c2s, *s2c;
    size_t nc, ns;
    int kind;          /* expected switch, 0 = none */
    int requests;      /* request heads before the switch (or in all) */
};

#define SWCAP(n, k, r) { #n, cap_##n##_c2s, cap_##n##_s2c, sizeof(cap_##n##_c2s) - 1, \
                         sizeof(cap_##n##_s2c) - 1, k, r }

static const struct switch_cap switch_caps[] = {
    SWCAP(nghttp2, GW_HTTP1_SWITCH_H2C, 1),
    SWCAP(kw2, GW_HTTP1_SWITCH_H2C, 1),
    SWCAP(range0, GW_HTTP1_SWITCH_H2C, 1),
    SWCAP(range2, GW_HTTP1_SWITCH_H2C, 1),
    SWCAP(range4, GW_HTTP1_SWITCH_H2C, 1),
    SWCAP(ws, GW_HTTP1_SWITCH_WEBSOCKET, 1),
    SWCAP(docker1, GW_HTTP1_SWITCH_OTHER, 1),
    SWCAP(range1, 0, 1),
    SWCAP(range3, 0, 1),
    SWCAP(docker0, 0, 3),
    SWCAP(docker2, 0, 2),
};

/* The orders a sensor may feed the two directions in: client first, server
 * first, and interleaved in small pieces (either leading). */
enum feed_order { ORDER_CLIENT_FIRST, ORDER_SERVER_FIRST, ORDER_INTERLEAVED_C, ORDER_INTERLEAVED_S, ORDER_N };

static void feed_both(struct fixture *f, const struct switch_cap *sc, int order, size_t step)
{
    const uint8_t *p[2] = { S(sc->c2s), S(sc->s2c) };
    size_t n[2] = { sc->nc, sc->ns };
    if (order == ORDER_CLIENT_FIRST || order == ORDER_SERVER_FIRST) {
        int first = order == ORDER_CLIENT_FIRST ? 0 : 1;
        ck_assert_int_ne(drive(f, first, p[first], n[first], step), GW_ERR_MALFORMED);
        ck_assert_int_ne(drive(f, !first, p[!first], n[!first], step), GW_ERR_MALFORMED);
        return;
    }
    size_t off[2] = { 0, 0 };
    int dir = order == ORDER_INTERLEAVED_C ? 0 : 1;
    if (step == 0) step = 13;
    while (off[0] < n[0] || off[1] < n[1]) {
        size_t k = GW_MIN(step, n[dir] - off[dir]);
        if (k) {
            int rc = drive(f, dir, p[dir] + off[dir], k, 0);
            ck_assert(rc == GW_OK || rc == GW_ERR_UNSUPPORTED);
            off[dir] += k;
        }
        dir = !dir;
    }
}

/* Same switch whatever the order and chunking: the server's new protocol
 * starts right after the first empty line of its stream (the 101 or 2xx
 * head), the client's right after its request. */
static void check_switch_cap(const struct switch_cap *sc, int order, size_t step)
{
    struct fixture f = fx_new();
    feed_both(&f, sc, order, step);
    if (sc->kind == 0) {
        ck_assert_int_eq(f.r->switches[0] + f.r->switches[1], 0);
        ck_assert_int_eq(f.r->requests, sc->requests);
        ck_assert_int_eq(f.r->ends[0], sc->requests);
        ck_assert_int_eq(f.r->ends[1], sc->requests);
        /* a response fed before its request is not matched to it */
        if (order == ORDER_CLIENT_FIRST) ck_assert_uint_eq(gw_http1_conn_stats(f.c)->unmatched_responses, 0);
        fx_free(&f);
        return;
    }
    size_t hs = head_len(S(sc->s2c), sc->ns), hc = head_len(S(sc->c2s), sc->nc);
    for (int dir = 0; dir < 2; dir++) {
        size_t h = dir ? hs : hc, n = dir ? sc->ns : sc->nc;
        const uint8_t *p = S(dir ? sc->s2c : sc->c2s);
        if (f.r->switches[dir] != 1 || f.r->switch_kind[dir] != sc->kind)
            ck_abort_msg("%s order %d step %zu dir %d: %d switches kind %d", sc->name, order, step, dir,
                         f.r->switches[dir], f.r->switch_kind[dir]);
        ck_assert_int_eq(gw_http1_conn_switched(f.c, dir), sc->kind);
        if (f.r->newp_len[dir] != n - h || memcmp(f.r->newp[dir], p + h, n - h) != 0)
            ck_abort_msg("%s order %d step %zu dir %d: new protocol gets %zu bytes, want %zu", sc->name,
                         order, step, dir, f.r->newp_len[dir], n - h);
    }
    ck_assert_int_eq(f.r->requests, sc->requests);
    ck_assert_int_eq(f.r->responses, 1);
    ck_assert_int_eq(f.r->resp_switch_kind, sc->kind);
    ck_assert_int_eq(f.r->upgrade_h2c, sc->kind == GW_HTTP1_SWITCH_H2C);
    if (sc->kind == GW_HTTP1_SWITCH_H2C) {
        /* RFC 7540 3.2: the client's first bytes are the preface, the
         * server's a SETTINGS frame (type 4 on stream 0) */
        ck_assert_uint_ge(f.r->newp_len[0], GW_H2_PREFACE_LEN);
        ck_assert_mem_eq(f.r->newp[0], "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", GW_H2_PREFACE_LEN);
        ck_assert_uint_ge(f.r->newp_len[1], 9);
        ck_assert_uint_eq(f.r->newp[1][3], 4);
        ck_assert_mem_eq(f.r->newp[1] + 5, "\0\0\0\0", 4);
        ck_assert_str_ne(f.r->h2settings, "(none)");
    }
    fx_free(&f);
}

START_TEST(test_switch_captures)
{
    for (size_t i = 0; i < sizeof switch_caps / sizeof switch_caps[0]; i++)
        for (int order = 0; order < ORDER_N; order++) {
            check_switch_cap(&switch_caps[i], order, 0);
            check_switch_cap(&switch_caps[i], order, 1);
            check_switch_cap(&switch_caps[i], order, 7);
        }
}
END_TEST

/* The h2c capture of this repository split at every byte boundary of
 * each direction, the other fed whole before or after. */
START_TEST(test_h2c_every_split)
{
    const struct switch_cap *sc = &switch_caps[0];
    for (int dir = 0; dir < 2; dir++) {
        size_t n = dir ? sc->ns : sc->nc;
        const uint8_t *p = S(dir ? sc->s2c : sc->c2s), *o = S(dir ? sc->c2s : sc->s2c);
        size_t on = dir ? sc->nc : sc->ns;
        size_t h = head_len(p, n);
        for (int other_first = 0; other_first < 2; other_first++)
            for (size_t k = 0; k <= n; k++) {
                struct fixture f = fx_new();
                if (other_first) drive(&f, !dir, o, on, 0);
                int rc = drive(&f, dir, p, k, 0);
                /* before the head is complete the direction has not switched */
                if (k < h) ck_assert_int_eq(gw_http1_conn_switched(f.c, dir), 0);
                ck_assert(rc == GW_OK || rc == GW_ERR_UNSUPPORTED);
                drive(&f, dir, p + k, n - k, 0);
                if (!other_first) drive(&f, !dir, o, on, 0);
                ck_assert_int_eq(f.r->switch_kind[dir], GW_HTTP1_SWITCH_H2C);
                ck_assert_uint_eq(f.r->newp_len[dir], n - h);
                ck_assert_mem_eq(f.r->newp[dir], p + h, n - h);
                fx_free(&f);
            }
    }
}
END_TEST

/* The exact consumed counts the sensor relies on: server bytes are HTTP/1.1
 * up to the end of the 101 head; a client buffer holding its request and
 * the preface is HTTP/1.1 up to the end of the request head. */
START_TEST(test_h2c_consumed)
{
    const struct switch_cap *sc = &switch_caps[0];
    size_t hs = head_len(S(sc->s2c), sc->ns), hc = head_len(S(sc->c2s), sc->nc);
    struct fixture f = fx_new();
    size_t used = 0;
    ck_assert_int_eq(gw_http1_conn_feed(f.c, 0, S(sc->c2s), sc->nc, 0, &used), GW_ERR_UNSUPPORTED);
    ck_assert_uint_eq(used, hc);
    ck_assert_int_eq(f.r->newp_len[0], 0); /* nothing held: the rest is in the buffer */
    ck_assert_int_eq(gw_http1_conn_feed(f.c, 1, S(sc->s2c), sc->ns, 0, &used), GW_ERR_UNSUPPORTED);
    ck_assert_uint_eq(used, hs);
    ck_assert_int_eq(gw_http1_conn_feed(f.c, 1, S("x"), 1, 0, &used), GW_ERR_UNSUPPORTED);
    ck_assert_uint_eq(used, 0);
    ck_assert_int_eq(gw_http1_conn_gap(f.c, 1, 10, 0), GW_ERR_UNSUPPORTED);
    fx_free(&f);

    /* the request alone, then the 101, then the preface: the client
     * switches during the server's feed, with nothing held */
    f = fx_new();
    ck_assert_int_eq(gw_http1_conn_feed(f.c, 0, S(sc->c2s), hc, 0, &used), GW_OK);
    ck_assert_uint_eq(used, hc);
    ck_assert_int_eq(f.r->switches[0], 0);
    ck_assert_int_eq(gw_http1_conn_feed(f.c, 1, S(sc->s2c), sc->ns, 0, &used), GW_ERR_UNSUPPORTED);
    ck_assert_int_eq(f.r->switches[0], 1);
    ck_assert_int_eq(gw_http1_conn_feed(f.c, 0, S(sc->c2s) + hc, sc->nc - hc, 0, &used), GW_ERR_UNSUPPORTED);
    ck_assert_uint_eq(used, 0);
    fx_free(&f);
}
END_TEST

/* ---- CONNECT, refused switches --------------------------------------------------- */

static const char h2_preface_settings[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

START_TEST(test_connect_200)
{
    static const char req[] = "CONNECT grpc.example:50051 HTTP/1.1\r\nHost: grpc.example:50051\r\n"
                              "Proxy-Authorization: Basic eDp5\r\n\r\n";
    static const char resp[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    const size_t np = sizeof h2_preface_settings - 1;
    uint8_t c2s[256], s2c[128];
    size_t nc = strlen(req), ns = strlen(resp);
    memcpy(c2s, req, nc);
    memcpy(c2s + nc, h2_preface_settings, np);
    memcpy(s2c, resp, ns);
    memcpy(s2c + ns, "\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);
    struct switch_cap sc = { "connect", (const char *)c2s, (const char *)s2c, nc + np, ns + 9,
                             GW_HTTP1_SWITCH_CONNECT, 1 };
    /* only orders where the request is parsed before its answer: a 2xx
     * says nothing of a tunnel until it is known to answer a CONNECT (a
     * server answers after the request, so a capture has them in order) */
    static const int orders[] = { ORDER_CLIENT_FIRST, ORDER_INTERLEAVED_C };
    for (size_t oi = 0; oi < 2; oi++)
        for (size_t step = 0; step < 3; step++) {
            int order = orders[oi];
            struct fixture f = fx_new();
            /* interleaved: the whole request goes before the answer */
            feed_both(&f, &sc, order, order == ORDER_INTERLEAVED_C ? 100 + step : step * 7);
            for (int dir = 0; dir < 2; dir++) ck_assert_int_eq(f.r->switch_kind[dir], GW_HTTP1_SWITCH_CONNECT);
            ck_assert_int_eq(f.r->is_connect, 1);
            ck_assert_int_eq(f.r->asks_switch, 1);
            ck_assert_str_eq(f.r->target, "grpc.example:50051");
            ck_assert_uint_eq(f.r->newp_len[0], np);
            ck_assert_mem_eq(f.r->newp[0], h2_preface_settings, np);
            ck_assert_uint_eq(f.r->newp_len[1], 9);
            fx_free(&f);
        }
    /* any 2xx opens the tunnel; a 407 does not, and what the client sent
     * meanwhile is HTTP/1.1 again (a second CONNECT, with credentials) */
    static const char c2 [] = "CONNECT h:1 HTTP/1.1\r\n\r\nCONNECT h:1 HTTP/1.1\r\nProxy-Authorization: x\r\n\r\nTUNNEL";
    static const char s2[] = "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 4\r\n\r\ndeny"
                             "HTTP/1.1 204 OK\r\n\r\n";
    for (size_t step = 0; step < 3; step++) {
        struct fixture f = fx_new();
        ck_assert_int_eq(drive(&f, 0, CAP(c2), step), GW_OK); /* held, not yet switched */
        ck_assert_int_eq(f.r->requests, 1);
        ck_assert_int_eq(drive(&f, 1, CAP(s2), step), GW_ERR_UNSUPPORTED);
        ck_assert_int_eq(f.r->requests, 2);
        ck_assert_int_eq(f.r->switch_kind[0], GW_HTTP1_SWITCH_CONNECT);
        ck_assert_int_eq(f.r->switch_kind[1], GW_HTTP1_SWITCH_CONNECT);
        ck_assert_uint_eq(f.r->newp_len[0], 6);
        ck_assert_mem_eq(f.r->newp[0], "TUNNEL", 6);
        ck_assert_uint_eq(f.r->body_len[1], 4);
        fx_free(&f);
    }
}
END_TEST

START_TEST(test_upgrade_refused)
{
    /* a server that ignores Upgrade: h2c answers in HTTP/1.1; the request
     * pipelined behind it was held and is parsed then */
    static const char c2s[] = "GET /a HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                              "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    static const char s2c[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    for (int order = 0; order < ORDER_N; order++) {
        struct switch_cap sc = { "refused", c2s, s2c, sizeof c2s - 1, sizeof s2c - 1, 0, 2 };
        check_switch_cap(&sc, order, 0);
        check_switch_cap(&sc, order, 1);
    }
    /* a websocket upgrade is not h2c, whatever follows */
    static const char wsq[] = "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    static const char wsr[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    struct fixture f = fx_new();
    drive(&f, 0, CAP(wsq), 0);
    ck_assert_int_eq(f.r->upgrade_h2c, 0);
    ck_assert_int_eq(f.r->asks_switch, 1);
    /* even a preface from the client does not switch a websocket request to h2 */
    ck_assert_int_eq(drive(&f, 0, S(h2_preface_settings), sizeof h2_preface_settings - 1, 0), GW_OK);
    ck_assert_int_eq(f.r->switches[0], 0);
    ck_assert_int_eq(drive(&f, 1, CAP(wsr), 0), GW_ERR_UNSUPPORTED);
    ck_assert_int_eq(f.r->switch_kind[0], GW_HTTP1_SWITCH_WEBSOCKET);
    ck_assert_int_eq(f.r->switch_kind[1], GW_HTTP1_SWITCH_WEBSOCKET);
    ck_assert_uint_eq(f.r->newp_len[0], sizeof h2_preface_settings - 1);
    fx_free(&f);
}
END_TEST

START_TEST(test_h2c_client_only)
{
    /* only the client side captured: the preface after the request is the
     * switch; an Upgrade request with a body switches after the body */
    static const char req[] = "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                              "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\nabc";
    uint8_t buf[512];
    size_t nr = sizeof req - 1, np = sizeof h2_preface_settings - 1;
    memcpy(buf, req, nr);
    memcpy(buf + nr, h2_preface_settings, np);
    for (size_t step = 0; step < 30; step++) {
        struct fixture f = fx_new();
        ck_assert_int_eq(drive(&f, 0, buf, nr + np, step), GW_ERR_UNSUPPORTED);
        ck_assert_int_eq(f.r->switch_kind[0], GW_HTTP1_SWITCH_H2C);
        ck_assert_uint_eq(f.r->newp_len[0], np);
        ck_assert_mem_eq(f.r->newp[0], h2_preface_settings, np);
        ck_assert_uint_eq(f.r->body_len[0], 3);
        fx_free(&f);
    }
    /* a client that sends something else while waiting is held, bounded */
    struct fixture f = fx_new();
    drive(&f, 0, S(req), nr, 0);
    char junk[1024];
    memset(junk, 'j', sizeof junk);
    int rc = GW_OK;
    for (int i = 0; i < 20 && rc == GW_OK; i++) rc = drive(&f, 0, S(junk), sizeof junk, 0);
    ck_assert_int_eq(rc, GW_ERR_LIMIT);
    fx_free(&f);
}
END_TEST

/* ---- gRPC-Web ------------------------------------------------------------------ */

/* A 5-byte framed message (PROTOCOL-HTTP2.md "Length-Prefixed-Message"). */
static size_t put_frame(uint8_t *out, uint8_t flag, const void *payload, uint32_t len)
{
    out[0] = flag;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
    if (len) memcpy(out + 5, payload, len);
    return 5 + (size_t)len;
}

/* Writes body as chunks whose sizes cycle through sizes[]. */
static size_t put_chunked(char *out, const uint8_t *body, size_t n, const size_t *sizes, size_t nsizes)
{
    size_t o = 0, i = 0, s = 0;
    while (i < n) {
        size_t want = sizes[s++ % nsizes]; /* GW_MIN evaluates twice */
        size_t k = GW_MIN(want, n - i);
        o += (size_t)sprintf(out + o, "%zx%s\r\n", k, s % 3 == 0 ? ";ext=1" : "");
        memcpy(out + o, body + i, k);
        o += k;
        memcpy(out + o, "\r\n", 2);
        o += 2;
        i += k;
    }
    memcpy(out + o, "0\r\n\r\n", 5);
    return o + 5;
}

struct web_case {
    uint8_t req[4096], resp[4096];
    size_t nreq, nresp;
};

/* Request: 3 messages (empty, 1 byte, 300 bytes); response: 2 messages and
 * a trailer frame. */
static void web_bodies(struct web_case *w, int status, const char *message)
{
    uint8_t big[300];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7);
    w->nreq = put_frame(w->req, 0, NULL, 0);
    w->nreq += put_frame(w->req + w->nreq, 0, "x", 1);
    w->nreq += put_frame(w->req + w->nreq, 0, big, sizeof big);
    w->nresp = put_frame(w->resp, 0, big, 100);
    w->nresp += put_frame(w->resp + w->nresp, 1, big, 17);
    char tr[256];
    int k = message ? snprintf(tr, sizeof tr, "grpc-status: %d\r\ngrpc-message: %s\r\n", status, message)
                    : snprintf(tr, sizeof tr, "grpc-status:%d\r\n", status);
    w->nresp += put_frame(w->resp + w->nresp, 0x80, tr, (uint32_t)k);
}

static void check_web_call(const struct rec *r, const struct web_case *w, int status, const char *message,
                           const char *ct, size_t req_bytes, size_t resp_bytes)
{
    ck_assert_int_eq(r->ncalls, 1);
    const struct gw_grpc_call *call = &r->calls[0];
    ck_assert_str_eq(call->path, "/grpc.testing.TestService/UnaryCall");
    ck_assert_str_eq(call->service, "grpc.testing.TestService");
    ck_assert_str_eq(call->method, "UnaryCall");
    ck_assert_str_eq(call->authority.s, "web.example:8080");
    ck_assert_str_eq(call->content_type.s, ct);
    ck_assert_str_eq(call->user_agent.s, "grpc-web-javascript/0.1");
    ck_assert_uint_eq(call->request_messages, 3);
    ck_assert_uint_eq(call->response_messages, 2);
    ck_assert_int_eq(call->http_status, 200);
    ck_assert_int_eq(call->grpc_status, status);
    if (message) {
        ck_assert_int_eq(call->grpc_message.present, 1);
        ck_assert_str_eq(call->grpc_message.s, message);
    } else {
        ck_assert_int_eq(call->grpc_message.present, 0);
    }
    ck_assert_uint_eq(call->request_bytes, req_bytes);
    ck_assert_uint_eq(call->response_bytes, resp_bytes);
    ck_assert_int_eq(call->request_end, 1);
    ck_assert_int_eq(call->response_end, 1);
    ck_assert_int_eq(call->ended_by, GW_END_STREAM);
    ck_assert_int_eq(call->messages_partial, 0);
    ck_assert_uint_eq(call->stream_id, 1);
    /* metadata: x-grpc-web and authorization, not host/content-length/te... */
    ck_assert_int_eq(call->n_metadata_keys, 2);
    ck_assert_str_eq(call->metadata_keys[0], "x-grpc-web");
    ck_assert_str_eq(call->metadata_keys[1], "authorization");
    GW_UNUSED(w);
}

static size_t web_request(char *out, const char *ct, bool chunked, size_t body_len)
{
    int k = sprintf(out, "POST /grpc.testing.TestService/UnaryCall HTTP/1.1\r\nHost: web.example:8080\r\n"
                         "Content-Type: %s\r\nX-Grpc-Web: 1\r\nUser-Agent: grpc-web-javascript/0.1\r\n"
                         "Authorization: Bearer t\r\n", ct);
    if (chunked) k += sprintf(out + k, "Transfer-Encoding: chunked\r\n\r\n");
    else k += sprintf(out + k, "Content-Length: %zu\r\n\r\n", body_len);
    return (size_t)k;
}

START_TEST(test_grpc_web_chunked)
{
    /* chunk boundaries inside prefixes and payloads, every chunk size 1..9 */
    static const int statuses[] = { 0, 14 };
    static const char *const messages[] = { NULL, "upstream connect error" };
    for (size_t sidx = 0; sidx < 2; sidx++)
        for (size_t cs = 1; cs <= 9; cs++) {
            struct web_case w;
            web_bodies(&w, statuses[sidx], messages[sidx]);
            static char c2s[16384], s2c[16384];
            size_t sizes[3] = { cs, cs + 3, 1 };
            size_t nc = web_request(c2s, "application/grpc-web+proto", true, 0);
            nc += put_chunked(c2s + nc, w.req, w.nreq, sizes, 3);
            size_t ns = (size_t)sprintf(s2c, "HTTP/1.1 200 OK\r\nContent-Type: application/grpc-web+proto\r\n"
                                             "Transfer-Encoding: chunked\r\n\r\n");
            ns += put_chunked(s2c + ns, w.resp, w.nresp, sizes, 3);
            struct fixture f = fx_new();
            ck_assert_int_eq(drive(&f, 0, S(c2s), nc, cs), GW_OK);
            ck_assert_int_eq(f.r->grpc, 1);
            ck_assert_int_eq(drive(&f, 1, S(s2c), ns, cs + 1), GW_OK);
            check_web_call(f.r, &w, statuses[sidx], messages[sidx], "application/grpc-web+proto", w.nreq, w.nresp);
            ck_assert_uint_eq(f.r->body_len[0], w.nreq);
            ck_assert_mem_eq(f.r->body[0], w.req, w.nreq);
            const struct gw_grpcweb_stats *st = gw_http1_conn_web_stats(f.c);
            ck_assert_uint_eq(st->calls, 1);
            ck_assert_uint_eq(st->messages[0], 3);
            ck_assert_uint_eq(st->messages[1], 2);
            fx_free(&f);
        }
}
END_TEST

/* Standard base64 of p/n (OpenSSL), without a terminator. */
static size_t b64(char *out, const uint8_t *p, size_t n)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, p, (int)n);
}

START_TEST(test_grpc_web_text)
{
    struct web_case w;
    web_bodies(&w, 14, "no healthy upstream");
    static char treq[8192], tresp[8192], c2s[32768], s2c[32768];
    for (int how = 0; how < 3; how++) {
        size_t nreq, nresp;
        if (how == 0) {
            /* one base64 text per body */
            nreq = b64(treq, w.req, w.nreq);
            nresp = b64(tresp, w.resp, w.nresp);
        } else if (how == 1) {
            /* each frame encoded by itself, padding mid-body (PROTOCOL-WEB.md) */
            nreq = b64(treq, w.req, 5);
            nreq += b64(treq + nreq, w.req + 5, 6);
            nreq += b64(treq + nreq, w.req + 11, w.nreq - 11);
            nresp = b64(tresp, w.resp, 105);
            nresp += b64(tresp + nresp, w.resp + 105, w.nresp - 105);
        } else {
            /* every byte its own padded quantum "xx==": many flushes */
            nreq = nresp = 0;
            for (size_t i = 0; i < w.nreq; i++) nreq += b64(treq + nreq, w.req + i, 1);
            for (size_t i = 0; i < w.nresp; i++) nresp += b64(tresp + nresp, w.resp + i, 1);
        }
        for (size_t cs = 1; cs <= 6; cs++) {
            size_t sizes[2] = { cs, 2 * cs + 1 };
            size_t nc = web_request(c2s, "application/grpc-web-text", true, 0);
            nc += put_chunked(c2s + nc, (const uint8_t *)treq, nreq, sizes, 2);
            size_t ns = (size_t)sprintf(s2c, "HTTP/1.1 200 OK\r\nContent-Type: application/grpc-web-text+proto\r\n"
                                             "Transfer-Encoding: chunked\r\n\r\n");
            ns += put_chunked(s2c + ns, (const uint8_t *)tresp, nresp, sizes, 2);
            struct fixture f = fx_new();
            ck_assert_int_eq(drive(&f, 0, S(c2s), nc, 0), GW_OK);
            ck_assert_int_eq(drive(&f, 1, S(s2c), ns, cs), GW_OK);
            check_web_call(f.r, &w, 14, "no healthy upstream", "application/grpc-web-text", nreq, nresp);
            fx_free(&f);
        }
    }
    /* Content-Length bodies fed whole or in pieces: unpadded base64 (its
     * tail ends with the body), and a body of padded one-byte quanta
     * (hundreds of decoded bytes from one feed, all from padding) */
    for (int how = 0; how < 2; how++)
        for (size_t step = 0; step < 3; step++) {
            size_t nreq = 0, nresp = 0;
            if (how == 0) {
                nreq = b64(treq, w.req, w.nreq);
                nresp = b64(tresp, w.resp, w.nresp);
                while (nreq && treq[nreq - 1] == '=') nreq--;
                while (nresp && tresp[nresp - 1] == '=') nresp--;
            } else {
                for (size_t i = 0; i < w.nreq; i++) nreq += b64(treq + nreq, w.req + i, 1);
                for (size_t i = 0; i < w.nresp; i++) nresp += b64(tresp + nresp, w.resp + i, 1);
            }
            size_t nc = web_request(c2s, "application/grpc-web-text", false, nreq);
            memcpy(c2s + nc, treq, nreq);
            size_t ns = (size_t)sprintf(s2c, "HTTP/1.1 200 OK\r\nContent-Type: application/grpc-web-text\r\n"
                                             "Content-Length: %zu\r\n\r\n", nresp);
            memcpy(s2c + ns, tresp, nresp);
            struct fixture f = fx_new();
            drive(&f, 0, S(c2s), nc + nreq, step * 3);
            drive(&f, 1, S(s2c), ns + nresp, step * 5);
            check_web_call(f.r, &w, 14, "no healthy upstream", "application/grpc-web-text", nreq, nresp);
            fx_free(&f);
        }
}
END_TEST

START_TEST(test_grpc_web_trailers_only_and_close)
{
    /* trailers-only answer: status in the head, empty body */
    static const char c2s[] = "POST /a.B/C HTTP/1.1\r\nContent-Type: application/grpc-web\r\nContent-Length: 5\r\n\r\n"
                              "\0\0\0\0\0";
    static const char s2c[] = "HTTP/1.1 200 OK\r\nContent-Type: application/grpc-web\r\ngrpc-status: 12\r\n"
                              "grpc-message: unknown method\r\nContent-Length: 0\r\n\r\n";
    struct fixture f = fx_new();
    drive(&f, 0, CAP(c2s), 0);
    drive(&f, 1, CAP(s2c), 0);
    ck_assert_int_eq(f.r->ncalls, 1);
    ck_assert_int_eq(f.r->calls[0].grpc_status, 12);
    ck_assert_str_eq(f.r->calls[0].grpc_message.s, "unknown method");
    ck_assert_uint_eq(f.r->calls[0].request_messages, 1);
    ck_assert_uint_eq(f.r->calls[0].response_messages, 0);
    ck_assert_str_eq(f.r->calls[0].service, "a.B");
    fx_free(&f);
    /* unanswered: handed on at close with the close's reason */
    f = fx_new();
    drive(&f, 0, CAP(c2s), 0);
    ck_assert_int_eq(f.r->ncalls, 0);
    gw_http1_conn_close(f.c, GW_END_EOF, 0);
    ck_assert_int_eq(f.r->ncalls, 1);
    ck_assert_int_eq(f.r->calls[0].ended_by, GW_END_EOF);
    ck_assert_int_eq(f.r->calls[0].request_end, 1);
    ck_assert_int_eq(f.r->calls[0].response_end, 0);
    ck_assert_int_eq(f.r->calls[0].grpc_status, -1);
    gw_http1_conn_close(f.c, GW_END_CONN_CLOSED, 0);  /* idempotent */
    ck_assert_int_eq(f.r->ncalls, 1);
    fx_free(&f);
    /* a non-gRPC answer (an HTML error page) frames nothing */
    static const char html[] = "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 10\r\n\r\n"
                               "\x80\0\0\0\x05<html>";
    f = fx_new();
    drive(&f, 0, CAP(c2s), 0);
    drive(&f, 1, CAP(html), 0);
    ck_assert_int_eq(f.r->ncalls, 1);
    ck_assert_int_eq(f.r->calls[0].http_status, 502);
    ck_assert_int_eq(f.r->calls[0].grpc_status, -1);
    ck_assert_uint_eq(f.r->calls[0].response_bytes, 10);
    fx_free(&f);
}
END_TEST

/* ---- gaps, sniffing ------------------------------------------------------------ */

START_TEST(test_gaps)
{
    static const char c2s[] = "POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n";
    struct fixture f = fx_new();
    drive(&f, 0, CAP(c2s), 0);
    ck_assert_int_eq(gw_http1_conn_gap(f.c, 0, 4, 0), GW_OK);
    ck_assert_int_eq(drive(&f, 0, S("abcdefGET / HTTP/1.1\r\n\r\n"), 24, 0), GW_OK);
    ck_assert_int_eq(f.r->requests, 2);
    ck_assert_uint_eq(gw_http1_conn_stats(f.c)->gap_bytes_skipped, 4);
    /* a gap longer than the body, or in a head, stops the direction */
    ck_assert_int_eq(gw_http1_conn_gap(f.c, 0, 1, 0), GW_ERR_TRUNCATED);
    ck_assert_int_eq(drive(&f, 0, S("GET / HTTP/1.1\r\n\r\n"), 18, 0), GW_ERR_TRUNCATED);
    fx_free(&f);
}
END_TEST

START_TEST(test_sniff)
{
    ck_assert_int_eq(gw_http1_sniff_request(S("POST /a HTTP/1.1\r\n"), 18), GW_OK);
    ck_assert_int_eq(gw_http1_sniff_request(S("CONNECT "), 8), GW_OK);
    ck_assert_int_eq(gw_http1_sniff_request(S("CONN"), 4), GW_ERR_NEED_MORE);
    ck_assert_int_eq(gw_http1_sniff_request(S("PRI * HTTP/2.0"), 14), GW_ERR_UNSUPPORTED);
    ck_assert_int_eq(gw_http1_sniff_request(S("\x16\x03\x01"), 3), GW_ERR_UNSUPPORTED);
    ck_assert_int_eq(gw_http1_sniff_request(S("get / "), 6), GW_ERR_UNSUPPORTED);
    ck_assert_int_eq(gw_http1_sniff_request(S("GETX"), 4), GW_ERR_UNSUPPORTED);
    ck_assert_int_eq(gw_http1_sniff_response(S("HTTP/1.1 200"), 12), GW_OK);
    ck_assert_int_eq(gw_http1_sniff_response(S("HTTP/1."), 7), GW_ERR_NEED_MORE);
    ck_assert_int_eq(gw_http1_sniff_response(S("HTTP/2 200"), 10), GW_ERR_UNSUPPORTED);

    /* request lines: every proper prefix waits, the whole line decides */
    static const char *const good[] = { "GET / HTTP/1.1\r\n", "POST /a.B/C HTTP/1.0\n",
                                        "M-SEARCH * HTTP/1.1\r\n", "CONNECT h:443 HTTP/1.1\r\n" };
    for (size_t i = 0; i < 4; i++) {
        size_t n = strlen(good[i]);
        for (size_t k = 0; k < n; k++) ck_assert_int_eq(gw_http1_sniff_request_line(S(good[i]), k), GW_ERR_NEED_MORE);
        ck_assert_int_eq(gw_http1_sniff_request_line(S(good[i]), n), GW_OK);
    }
    static const char *const bad[] = { "PRI * HTTP/2.0\r\n", "GET  / HTTP/1.1\r\n", "GET / HTTP/1.1 \r\n",
                                       "GET / HTTP/1.x\r\n", "GET / HTTP/1.1\rX", "\x16\x03\x01\x02\x00",
                                       "GET /\x01 HTTP/1.1\r\n", "GET\r\n",
                                       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(gw_http1_sniff_request_line(S(bad[i]), strlen(bad[i])), GW_ERR_UNSUPPORTED);
}
END_TEST

/* ---- responses to requests never parsed; FIN ------------------------------------ */

static const char ok0[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

START_TEST(test_response_to_unknown_request)
{
    /* http1.h: request_seq is "the request it answers; 0 if not known".
     * Responses answer requests in order (RFC 9112 section 9.3.2), so the
     * n-th final response answers request n, known only once parsed. */
    struct fixture f = fx_new();
    /* the client's only request is malformed (HTTP/2.0 is not HTTP/1.x) */
    ck_assert_int_eq(drive(&f, 0, S("GET / HTTP/2.0\r\n\r\n"), 18, 0), GW_ERR_MALFORMED);
    ck_assert_int_eq(f.r->requests, 0);
    f.r->request_seq = 77;
    ck_assert_int_eq(drive(&f, 1, CAP(ok0), 0), GW_OK);
    ck_assert_int_eq(f.r->responses, 1);
    ck_assert_uint_eq(f.r->request_seq, 0);
    ck_assert_uint_eq(gw_http1_conn_stats(f.c)->unmatched_responses, 1);
    fx_free(&f);

    /* request 1 parsed, request 2 malformed: answers 1, then unknown */
    f = fx_new();
    ck_assert_int_eq(drive(&f, 0, S("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/9.9\r\n\r\n"), 38, 0), GW_ERR_MALFORMED);
    ck_assert_int_eq(f.r->requests, 1);
    ck_assert_int_eq(drive(&f, 1, CAP(ok0), 0), GW_OK);
    ck_assert_uint_eq(f.r->request_seq, 1);
    ck_assert_int_eq(drive(&f, 1, CAP(ok0), 0), GW_OK);
    ck_assert_uint_eq(f.r->request_seq, 0);
    ck_assert_uint_eq(gw_http1_conn_stats(f.c)->unmatched_responses, 1);
    fx_free(&f);

    /* a response fed before its request: not known when reported; the
     * request that follows is request 1 and the next pair matches */
    f = fx_new();
    f.r->request_seq = 77;
    ck_assert_int_eq(drive(&f, 1, CAP(ok0), 0), GW_OK);
    ck_assert_uint_eq(f.r->request_seq, 0);
    ck_assert_int_eq(drive(&f, 0, S("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"), 38, 0), GW_OK);
    ck_assert_uint_eq(f.r->seq, 2);
    ck_assert_int_eq(drive(&f, 1, CAP(ok0), 0), GW_OK);
    ck_assert_uint_eq(f.r->request_seq, 2);
    fx_free(&f);

    /* a 101 fed before its Upgrade request still switches the client right
     * after that request (request 1), not before it */
    static const char up[] = "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    static const char sw[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    f = fx_new();
    ck_assert_int_eq(drive(&f, 1, CAP(sw), 0), GW_ERR_UNSUPPORTED);
    ck_assert_uint_eq(f.r->request_seq, 0);
    ck_assert_int_eq(f.r->switches[0], 0);
    uint8_t buf[128];
    memcpy(buf, up, sizeof up - 1);
    memcpy(buf + sizeof up - 1, "\x81\x00", 2);
    ck_assert_int_eq(drive(&f, 0, buf, sizeof up - 1 + 2, 0), GW_ERR_UNSUPPORTED);
    ck_assert_int_eq(f.r->requests, 1);
    ck_assert_int_eq(f.r->switch_kind[0], GW_HTTP1_SWITCH_WEBSOCKET);
    ck_assert_uint_eq(f.r->newp_len[0], 2);
    ck_assert_mem_eq(f.r->newp[0], "\x81\x00", 2);
    fx_free(&f);
}
END_TEST

/* One feed after FIN: GW_OK, all of it consumed, nothing reported. */
static void feed_ignored(struct fixture *f, int dir, const char *s)
{
    struct rec *before = malloc(sizeof *before); /* ~40 KiB: not on the stack */
    ck_assert_ptr_nonnull(before);
    memcpy(before, f->r, sizeof *before);
    struct gw_http1_stats st = *gw_http1_conn_stats(f->c);
    size_t n = strlen(s), used = 12345;
    ck_assert_int_eq(gw_http1_conn_feed(f->c, dir, S(s), n, 0, &used), GW_OK);
    ck_assert_uint_eq(used, n);
    for (int d = 0; d < 2; d++) {
        ck_assert_str_eq(before->log[d], f->r->log[d]);
        ck_assert_uint_eq(before->body_len[d], f->r->body_len[d]);
        ck_assert_uint_eq(before->newp_len[d], f->r->newp_len[d]);
        ck_assert_int_eq(before->ends[d], f->r->ends[d]);
    }
    ck_assert_int_eq(before->requests, f->r->requests);
    ck_assert_int_eq(before->responses, f->r->responses);
    ck_assert_int_eq(before->ncalls, f->r->ncalls);
    /* stats are all uint64_t: no padding to compare */
    ck_assert_int_eq(memcmp(&st, gw_http1_conn_stats(f->c), sizeof st), 0);
    free(before);
}

START_TEST(test_feed_after_fin_ignored)
{
    /* http1.h: after gw_http1_conn_fin "Later feeds of dir are ignored
     * (GW_OK)", wherever the FIN came: inside a body too */
    static const char post[] = "POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nabcd";
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab";
    static const char chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab";
    struct fixture f = fx_new();
    ck_assert_int_eq(drive(&f, 0, CAP(post), 0), GW_OK);
    gw_http1_conn_fin(f.c, 0, 0);
    feed_ignored(&f, 0, "efghij");                  /* would finish the body */
    feed_ignored(&f, 0, "GET / HTTP/1.1\r\n\r\n");  /* a request */
    feed_ignored(&f, 0, "\r\r\x00 not http");       /* malformed as a head */
    ck_assert_int_eq(gw_http1_conn_gap(f.c, 0, 3, 0), GW_OK);
    ck_assert_uint_eq(gw_http1_conn_stats(f.c)->gap_bytes_skipped, 0);
    ck_assert_int_eq(f.r->requests, 1);
    ck_assert_uint_eq(f.r->body_len[0], 4);
    ck_assert_int_eq(f.r->ends[0], 0);              /* cut short: unfinished */
    /* the other direction goes on */
    ck_assert_int_eq(drive(&f, 1, CAP(resp), 0), GW_OK);
    gw_http1_conn_fin(f.c, 1, 0);
    feed_ignored(&f, 1, "cde");
    feed_ignored(&f, 1, "HTTP/1.1 200 OK\r\n\r\n");
    ck_assert_uint_eq(f.r->body_len[1], 2);
    ck_assert_int_eq(f.r->responses, 1);
    fx_free(&f);

    /* inside a chunked body, and between messages */
    f = fx_new();
    ck_assert_int_eq(drive(&f, 0, S("GET / HTTP/1.1\r\n\r\n"), 18, 0), GW_OK);
    ck_assert_int_eq(drive(&f, 1, CAP(chunked), 0), GW_OK);
    gw_http1_conn_fin(f.c, 1, 0);
    feed_ignored(&f, 1, "cde\r\nzz\r\n");
    gw_http1_conn_fin(f.c, 0, 0);
    feed_ignored(&f, 0, "GET /2 HTTP/1.1\r\n\r\n");
    ck_assert_uint_eq(f.r->body_len[1], 2);
    ck_assert_int_eq(f.r->requests, 1);
    fx_free(&f);

    /* errors and switches stay what they were */
    f = fx_new();
    ck_assert_int_eq(drive(&f, 0, S("GET / HTTP/2.0\r\n\r\n"), 18, 0), GW_ERR_MALFORMED);
    gw_http1_conn_fin(f.c, 0, 0);
    size_t used = 9;
    ck_assert_int_eq(gw_http1_conn_feed(f.c, 0, S("x"), 1, 0, &used), GW_ERR_MALFORMED);
    ck_assert_uint_eq(used, 0);
    fx_free(&f);

    /* a client that sent FIN while its Upgrade waits is still answered:
     * a refusal parses what it held, never what came after the FIN */
    static const char up[] = "GET /a HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    f = fx_new();
    ck_assert_int_eq(drive(&f, 0, CAP(up), 0), GW_OK);
    ck_assert_int_eq(f.r->requests, 1);
    gw_http1_conn_fin(f.c, 0, 0);
    feed_ignored(&f, 0, "GET /c HTTP/1.1\r\n\r\n");
    ck_assert_int_eq(drive(&f, 1, CAP(ok0), 0), GW_OK);
    ck_assert_int_eq(f.r->requests, 2);
    ck_assert_str_eq(f.r->target, "/b");
    feed_ignored(&f, 0, "GET /d HTTP/1.1\r\n\r\n");
    ck_assert_int_eq(f.r->requests, 2);
    fx_free(&f);
}
END_TEST

/* ---- the connection's end, in any order (issue #10) ------------------------------ */

static const char web_get[] = "POST /a.B/Get HTTP/1.1\r\nContent-Type: application/grpc-web\r\n"
                              "Content-Length: 6\r\n\r\n\0\0\0\0\1x";
static const char web_put[] = "POST /a.B/Put HTTP/1.1\r\nContent-Type: application/grpc-web\r\n"
                              "Content-Length: 5\r\n\r\n\0\0\0\0\0";
static const char web_ok_head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/grpc-web\r\nContent-Length: 47\r\n\r\n";

/* Each call handed on exactly once: no stream id twice. */
static void assert_calls_unique(const struct rec *r)
{
    for (int i = 0; i < r->ncalls; i++)
        for (int j = 0; j < i; j++) ck_assert_uint_ne(r->calls[i].stream_id, r->calls[j].stream_id);
}

/* The reproducer's shape: a call, a RST (close), then more requests on the
 * same connection: the calls they open are written at destroy, and
 * nothing is left behind (LeakSanitizer in the SANITIZE=1 build). */
START_TEST(test_feed_after_close_then_destroy)
{
    struct fixture f = fx_new();
    ck_assert_int_eq(drive(&f, 0, CAP(web_get), 0), GW_OK);
    ck_assert_int_eq(drive(&f, 1, CAP(web_ok_head), 0), GW_OK);
    gw_http1_conn_close(f.c, GW_END_CONN_CLOSED, 10);
    ck_assert_int_eq(f.r->ncalls, 1);
    ck_assert_int_eq(f.r->calls[0].ended_by, GW_END_CONN_CLOSED);
    ck_assert_int_eq(f.r->calls[0].http_status, 200);
    /* after the close: still parsed, new calls open */
    ck_assert_int_eq(drive(&f, 0, CAP(web_put), 0), GW_OK);
    ck_assert_int_eq(drive(&f, 0, CAP(web_get), 0), GW_OK);
    ck_assert_int_eq(f.r->requests, 3);
    ck_assert_int_eq(f.r->ncalls, 1);
    struct rec *r = f.r;
    gw_http1_conn_destroy(f.c);
    ck_assert_int_eq(r->ncalls, 3);
    ck_assert_int_eq(r->calls[1].ended_by, GW_END_CONN_CLOSED);
    ck_assert_int_eq(r->calls[2].ended_by, GW_END_CONN_CLOSED);
    ck_assert_str_eq(r->calls[1].method, "Put");
    ck_assert_uint_eq(r->calls[1].request_messages, 1);
    ck_assert_int_eq(r->calls[1].http_status, -1);
    assert_calls_unique(r);
    free(r);
}
END_TEST

/* A second close writes only what opened since the first, with its reason. */
START_TEST(test_close_twice)
{
    struct fixture f = fx_new();
    drive(&f, 0, CAP(web_get), 0);
    gw_http1_conn_close(f.c, GW_END_CONN_CLOSED, 0);
    gw_http1_conn_close(f.c, GW_END_EOF, 0);
    ck_assert_int_eq(f.r->ncalls, 1);
    ck_assert_int_eq(f.r->calls[0].ended_by, GW_END_CONN_CLOSED);
    drive(&f, 0, CAP(web_put), 0);
    gw_http1_conn_close(f.c, GW_END_EOF, 0);
    gw_http1_conn_close(f.c, GW_END_EVICTED, 0);
    ck_assert_int_eq(f.r->ncalls, 2);
    ck_assert_int_eq(f.r->calls[1].ended_by, GW_END_EOF);
    ck_assert_uint_eq(f.r->calls[1].stream_id, 2);
    ck_assert_uint_eq(gw_http1_conn_web_stats(f.c)->calls, 2);
    fx_free(&f);
}
END_TEST

/* destroy with calls open (one half-way through its request body, one
 * waiting for its answer, one answered half-way): each is written once. */
START_TEST(test_destroy_with_calls_open)
{
    struct fixture f = fx_new();
    drive(&f, 0, CAP(web_get), 0);
    drive(&f, 0, CAP(web_put), 0);
    drive(&f, 1, CAP(web_ok_head), 0);
    drive(&f, 1, S("\0\0\0\0\2ab\x80"), 8, 0);
    drive(&f, 0, (const uint8_t *)web_get, sizeof web_get - 3, 0); /* body cut short */
    ck_assert_int_eq(f.r->ncalls, 0);
    struct rec *r = f.r;
    gw_http1_conn_destroy(f.c);
    ck_assert_int_eq(r->ncalls, 3);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(r->calls[i].ended_by, GW_END_CONN_CLOSED);
    assert_calls_unique(r);
    /* the answered one counted its message, and its trailer frame had begun */
    for (int i = 0; i < 3; i++)
        if (r->calls[i].stream_id == 1) {
            ck_assert_uint_eq(r->calls[i].response_messages, 1);
            ck_assert_int_eq(r->calls[i].response_end, 0);
        }
    free(r);
}
END_TEST

/* FIN then close: a body delimited by the close ends with the FIN (the
 * call is complete, END_STREAM); the close that follows writes nothing
 * more. A request cut short by its FIN is written by the close. */
START_TEST(test_fin_then_close)
{
    static const char to_close[] = "HTTP/1.1 200 OK\r\nContent-Type: application/grpc-web\r\n\r\n"
                                   "\0\0\0\0\1y\x80\0\0\0\x0fgrpc-status: 7\r\n";
    struct fixture f = fx_new();
    drive(&f, 0, CAP(web_get), 0);
    drive(&f, 1, CAP(to_close), 0);
    gw_http1_conn_fin(f.c, GW_DIR_TO_CLIENT, 5);
    ck_assert_int_eq(f.r->ncalls, 1);
    ck_assert_int_eq(f.r->calls[0].ended_by, GW_END_STREAM);
    ck_assert_int_eq(f.r->calls[0].grpc_status, 7);
    ck_assert_uint_eq(f.r->calls[0].response_messages, 1);
    gw_http1_conn_close(f.c, GW_END_CONN_CLOSED, 6);
    ck_assert_int_eq(f.r->ncalls, 1);
    fx_free(&f);

    f = fx_new();
    drive(&f, 0, (const uint8_t *)web_get, sizeof web_get - 2, 0);
    gw_http1_conn_fin(f.c, GW_DIR_TO_SERVER, 1);
    ck_assert_int_eq(f.r->ncalls, 0);
    gw_http1_conn_close(f.c, GW_END_CONN_CLOSED, 2);
    ck_assert_int_eq(f.r->ncalls, 1);
    ck_assert_int_eq(f.r->calls[0].request_end, 0);
    ck_assert_int_eq(f.r->calls[0].ended_by, GW_END_CONN_CLOSED);
    ck_assert(f.r->calls[0].end_ts == 2);
    fx_free(&f);
}
END_TEST

/* Holes in a gRPC-Web body: inside a binary message body the count stays
 * exact; across a prefix it stops (partial); a trailer line a hole cut is
 * not applied. */
START_TEST(test_grpc_web_gaps)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/grpc-web\r\nContent-Length: 41\r\n\r\n";
    /* 10-byte message, 10-byte message, trailers "grpc-status: 3\r\n" (16) */
    static const char body[] = "\0\0\0\0\x05" "abcde" "\0\0\0\0\x05" "fghij" "\x80\0\0\0\x10" "grpc-status: 3\r\n";
    for (int how = 0; how < 3; how++) {
        struct fixture f = fx_new();
        drive(&f, 0, CAP(web_get), 0);
        drive(&f, 1, CAP(head), 0);
        size_t at = how == 0 ? 6 : how == 1 ? 8 : 33, len = how == 1 ? 4 : 2;
        drive(&f, 1, (const uint8_t *)body, at, 0);
        ck_assert_int_eq(gw_http1_conn_gap(f.c, GW_DIR_TO_CLIENT, len, 0), GW_OK);
        drive(&f, 1, (const uint8_t *)body + at + len, sizeof body - 1 - at - len, 0);
        ck_assert_int_eq(f.r->ncalls, 1);
        const struct gw_grpc_call *c = &f.r->calls[0];
        ck_assert_int_eq(c->ended_by, GW_END_STREAM);
        if (how == 0) { /* inside the first body */
            ck_assert_uint_eq(c->response_messages, 2);
            ck_assert_int_eq(c->messages_partial, 0);
            ck_assert_int_eq(c->grpc_status, 3);
        } else if (how == 1) { /* reaches the second prefix */
            ck_assert_uint_eq(c->response_messages, 1);
            ck_assert_int_eq(c->messages_partial, GW_GRPC_PARTIAL_RESPONSE);
            ck_assert_int_eq(c->grpc_status, -1);
        } else { /* inside "grpc-status: 3": the value is not known */
            ck_assert_uint_eq(c->response_messages, 2);
            ck_assert_int_eq(c->messages_partial, 0);
            ck_assert_int_eq(c->grpc_status, -1);
        }
        fx_free(&f);
    }
}
END_TEST

static Suite *http1_suite(void)
{
    Suite *s = suite_create("http1");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_request_fields);
    tcase_add_test(tc, test_idle_between_messages);
    tcase_add_test(tc, test_split_every_boundary);
    tcase_add_test(tc, test_prefix_no_callback);
    tcase_add_test(tc, test_no_body_statuses);
    tcase_add_test(tc, test_http10_body_to_close);
    tcase_add_test(tc, test_many_fields);
    tcase_add_test(tc, test_pipeline_queue_overflow);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_huge_heads);
    tcase_add_test(tc, test_switch_captures);
    tcase_add_test(tc, test_h2c_every_split);
    tcase_add_test(tc, test_h2c_consumed);
    tcase_add_test(tc, test_connect_200);
    tcase_add_test(tc, test_upgrade_refused);
    tcase_add_test(tc, test_h2c_client_only);
    tcase_add_test(tc, test_grpc_web_chunked);
    tcase_add_test(tc, test_grpc_web_text);
    tcase_add_test(tc, test_grpc_web_trailers_only_and_close);
    tcase_add_test(tc, test_gaps);
    tcase_add_test(tc, test_sniff);
    tcase_add_test(tc, test_response_to_unknown_request);
    tcase_add_test(tc, test_feed_after_fin_ignored);
    tcase_add_test(tc, test_feed_after_close_then_destroy);
    tcase_add_test(tc, test_close_twice);
    tcase_add_test(tc, test_destroy_with_calls_open);
    tcase_add_test(tc, test_fin_then_close);
    tcase_add_test(tc, test_grpc_web_gaps);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(http1_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
