/*
 * common.h - types shared by every stage of the pipeline.
 *
 * Invariants:
 *  - Every parser takes (const uint8_t *p, size_t n) and never reads past n.
 *  - Errors are returned up as enum gw_err (negative) and reported once, at the edge.
 *  - Time comes from packets: gw_time_us is microseconds since the Unix epoch.
 *  - Direction is relative to the connection initiator: GW_DIR_TO_SERVER (0) is
 *    client -> server, GW_DIR_TO_CLIENT (1) is server -> client.
 */
#ifndef GRPCWATCH_COMMON_H
#define GRPCWATCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_VERSION "0.1.0"

enum gw_err {
    GW_OK = 0,
    GW_ERR_NOMEM = -1,      /* an allocation failed or a memory cap was hit */
    GW_ERR_TRUNCATED = -2,  /* input ended before a structure was complete */
    GW_ERR_MALFORMED = -3,  /* input violates its format */
    GW_ERR_UNSUPPORTED = -4,/* well-formed but not something we decode */
    GW_ERR_IO = -5,         /* a read or write failed */
    GW_ERR_LIMIT = -6,      /* a configured cap was reached */
    GW_ERR_ARG = -7,        /* a caller passed something invalid */
    GW_ERR_NEED_MORE = -8   /* not an error: call again with more bytes */
};

const char *gw_strerror(int err);

/* Why a call (an HTTP/2 stream, a gRPC-Web exchange, ...) ended; the same
 * words for every protocol, written as grpc.ended_by. */
enum gw_end {
    GW_END_STREAM = 0,   /* both sides finished (END_STREAM both ways, a complete response) */
    GW_END_RST,          /* the stream was reset (RST_STREAM) */
    GW_END_GOAWAY,       /* a GOAWAY covered it */
    GW_END_CONN_CLOSED,  /* the connection closed (FIN/RST), or its direction failed */
    GW_END_EVICTED,      /* the flow was evicted, or a table was full */
    GW_END_EOF           /* end of input */
};
const char *gw_end_str(int reason);

/* GW_ASSERT(invariant): checked where GW_ASSERTS is defined (the sanitizer
 * and fuzz builds), like Redis's serverAssert; compiled out otherwise (the
 * expression is still type-checked, never evaluated). */
void gw_assert_fail(const char *expr, const char *file, int line);
#ifdef GW_ASSERTS
#define GW_ASSERT(x) ((x) ? (void)0 : gw_assert_fail(#x, __FILE__, __LINE__))
#else
#define GW_ASSERT(x) ((void)sizeof(!(x)))
#endif

typedef int64_t gw_time_us;

enum gw_dir { GW_DIR_TO_SERVER = 0, GW_DIR_TO_CLIENT = 1 };

/* An IPv4 or IPv6 address; IPv4 lives in bytes[0..3], the rest zero. */
struct gw_addr {
    uint8_t family; /* 4 or 6; 0 = unset */
    uint8_t bytes[16];
};

/* Writes the textual form (inet_ntop) into buf; returns buf. buflen >= 46. */
const char *gw_addr_str(const struct gw_addr *a, char *buf, size_t buflen);
/* The same text into buf[GW_ADDR_STR_MAX]; returns its length ("" and 0
 * unless the family is 4 or 6). */
#define GW_ADDR_STR_MAX 46
size_t gw_addr_fmt(const struct gw_addr *a, char *buf);
/* Dotted quad of b[0..3] into out[16] with a NUL, as inet_ntop writes it
 * (without its sprintf); returns the length. */
size_t gw_fmt_ipv4(char *out, const uint8_t *b);
/* memcmp-style ordering: family first, then bytes. */
int gw_addr_cmp(const struct gw_addr *a, const struct gw_addr *b);

#define GW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define GW_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GW_MAX(a, b) ((a) > (b) ? (a) : (b))
#define GW_UNUSED(x) ((void)(x))

#endif
