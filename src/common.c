/* common.c - helpers every stage shares: error names, address text and order. */
#include "grpcwatch/common.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *gw_strerror(int err)
{
    switch (err) {
    case GW_OK: return "ok";
    case GW_ERR_NOMEM: return "out of memory or memory cap reached";
    case GW_ERR_TRUNCATED: return "truncated";
    case GW_ERR_MALFORMED: return "malformed";
    case GW_ERR_UNSUPPORTED: return "unsupported";
    case GW_ERR_IO: return "input/output error";
    case GW_ERR_LIMIT: return "limit reached";
    case GW_ERR_ARG: return "invalid argument";
    case GW_ERR_NEED_MORE: return "need more data";
    default: return "unknown error";
    }
}

size_t gw_fmt_ipv4(char *out, const uint8_t *b)
{
    char *p = out;
    for (int i = 0; i < 4; i++) {
        unsigned v = b[i];
        if (v >= 100) *p++ = (char)('0' + v / 100);
        if (v >= 10) *p++ = (char)('0' + v / 10 % 10);
        *p++ = (char)('0' + v % 10);
        *p++ = '.';
    }
    p[-1] = '\0';
    return (size_t)(p - 1 - out);
}

size_t gw_addr_fmt(const struct gw_addr *a, char *buf)
{
    buf[0] = '\0';
    if (a->family == 4) return gw_fmt_ipv4(buf, a->bytes);
    /* IPv6 keeps inet_ntop: RFC 5952's zero compression is its job. */
    if (a->family == 6 && inet_ntop(AF_INET6, a->bytes, buf, GW_ADDR_STR_MAX)) return strlen(buf);
    buf[0] = '\0';
    return 0;
}

const char *gw_addr_str(const struct gw_addr *a, char *buf, size_t buflen)
{
    if (buflen == 0) return buf;
    buf[0] = '\0';
    if (a->family == 4 && buflen >= 16)
        gw_fmt_ipv4(buf, a->bytes);
    else if (a->family == 4)
        inet_ntop(AF_INET, a->bytes, buf, (socklen_t)buflen);
    else if (a->family == 6)
        inet_ntop(AF_INET6, a->bytes, buf, (socklen_t)buflen);
    return buf;
}

int gw_addr_cmp(const struct gw_addr *a, const struct gw_addr *b)
{
    if (a->family != b->family) return a->family < b->family ? -1 : 1;
    return memcmp(a->bytes, b->bytes, sizeof a->bytes);
}

const char *gw_end_str(int reason)
{
    switch (reason) {
    case GW_END_STREAM: return "end_stream";
    case GW_END_RST: return "rst_stream";
    case GW_END_GOAWAY: return "goaway";
    case GW_END_CONN_CLOSED: return "conn_closed";
    case GW_END_EVICTED: return "evicted";
    case GW_END_EOF: return "eof";
    default: return "unknown";
    }
}

void gw_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "grpcwatch: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
