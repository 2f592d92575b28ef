/*
 * record.h - EVE-style JSON lines: the JSON writer, Community ID v1 and the
 * record builders. Field order is fixed (see DESIGN.md); keys are added,
 * never renamed.
 *
 * The writer appends into a caller-owned buffer of fixed capacity (no
 * allocation); it escapes every string so the output is valid JSON whatever
 * bytes arrive: '"', '\\' and control bytes are escaped, bytes that are not
 * valid UTF-8 become U+FFFD. If a record would not fit, `overflow` is set and
 * the record must be dropped (and counted) by the caller.
 */
#ifndef GRPCWATCH_RECORD_H
#define GRPCWATCH_RECORD_H

#include "grpcwatch/common.h"
#include "grpcwatch/decode.h"

struct gw_json {
    char *buf;
    size_t len, cap;
    uint8_t overflow;
    uint8_t depth;
    uint8_t need_comma[16];  /* per nesting level */
};

void gw_json_init(struct gw_json *j, char *buf, size_t cap);
void gw_json_reset(struct gw_json *j);
void gw_json_object_begin(struct gw_json *j);   /* '{' */
void gw_json_object_end(struct gw_json *j);     /* '}' */
void gw_json_array_begin(struct gw_json *j);
void gw_json_array_end(struct gw_json *j);
void gw_json_key(struct gw_json *j, const char *key);          /* "key": */
/* "key": for a key known to be plain ASCII (no byte that needs escaping;
 * GW_ASSERT builds check): copied as is. GW_JSON_KEY takes a string literal
 * and its length at compile time. */
void gw_json_key_plain(struct gw_json *j, const char *key, size_t n);
#define GW_JSON_KEY(j, lit) gw_json_key_plain((j), "" lit "", sizeof(lit) - 1)
/* Appends members this writer wrote into another record's object (text
 * from a ',' up to the end of a member, e.g. copied from an earlier line) to
 * the object open at this level, which must hold a member already. */
void gw_json_members(struct gw_json *j, const char *text, size_t n);
void gw_json_string(struct gw_json *j, const char *s, size_t n);/* escaped */
void gw_json_cstring(struct gw_json *j, const char *s);         /* NULL -> null */
void gw_json_int(struct gw_json *j, int64_t v);
void gw_json_uint(struct gw_json *j, uint64_t v);
void gw_json_bool(struct gw_json *j, bool v);
void gw_json_null(struct gw_json *j);
/* "key": value pairs. */
void gw_json_kv_str(struct gw_json *j, const char *key, const char *s); /* NULL -> null */
void gw_json_kv_uint(struct gw_json *j, const char *key, uint64_t v);
#define GW_JSON_KV_STR(j, lit, s) (GW_JSON_KEY(j, lit), gw_json_cstring((j), (s)))
#define GW_JSON_KV_UINT(j, lit, v) (GW_JSON_KEY(j, lit), gw_json_uint((j), (v)))
/* Ends the line with '\n'. Returns false on overflow. */
bool gw_json_finish(struct gw_json *j);

/* Decimal text of v into out (no NUL, no snprintf); returns its length.
 * out needs GW_FMT_U64_MAX bytes, GW_FMT_U64_MAX + 1 for gw_fmt_i64. */
#define GW_FMT_U64_MAX 20
size_t gw_fmt_u64(char *out, uint64_t v);
size_t gw_fmt_i64(char *out, int64_t v);

/* RFC 3339 UTC with microseconds: "2026-11-22T10:00:00.123456Z" into buf (>= 28). */
const char *gw_format_timestamp(gw_time_us ts, char *buf, size_t buflen);

/* Community ID v1 (https://github.com/corelight/community-id-spec) into out
 * ("1:" + base64 SHA-1, 31 chars + NUL; outlen >= 32). proto is the IP
 * protocol number (6 for TCP). */
void gw_community_id(uint16_t seed, const struct gw_addr *src, uint16_t sport,
                     const struct gw_addr *dst, uint16_t dport, uint8_t proto,
                     char *out, size_t outlen);

/* An address's text (gw_addr_fmt) kept by a caller that writes it often. */
struct gw_addr_text {
    uint8_t len;
    char s[GW_ADDR_STR_MAX];
};

/* The common head of every flow record, src = client, dest = server. */
struct gw_record_head {
    gw_time_us ts;
    const char *event_type;  /* "grpc", "alert", "tls", "anomaly" */
    uint64_t flow_id;
    const char *community_id;
    const struct gw_addr *src, *dst;
    /* NULL, or the text of *src / *dst (IPv4 and IPv6 only) */
    const struct gw_addr_text *src_text, *dst_text;
    uint16_t sport, dport;
    const char *app_proto;   /* "grpc", "http2", "tls", NULL -> omitted */
    const struct gw_tunnel *tunnel; /* NULL or type NONE -> omitted */
};

/* Opens a record: '{', "timestamp", "event_type" (for records without a flow). */
void gw_record_begin_event(struct gw_json *j, gw_time_us ts, const char *event_type);

/* Opens the record object and writes the head fields; the caller adds its
 * own object(s) and calls gw_json_object_end + gw_json_finish. */
void gw_record_begin(struct gw_json *j, const struct gw_record_head *h);
/* What gw_record_begin writes after "event_type": "flow_id" ... "tunnel". */
void gw_record_head_fields(struct gw_json *j, const struct gw_record_head *h);

struct gw_grpc_call;
struct gw_alert;
struct gw_tls_info;

/* "grpc": {...} */
void gw_record_grpc_object(struct gw_json *j, const struct gw_grpc_call *c);
/* "alert": {...} */
void gw_record_alert_object(struct gw_json *j, const struct gw_alert *a);
/* "tls": {...} */
void gw_record_tls_object(struct gw_json *j, const struct gw_tls_info *t);

/* What a flow lost before a record was written, by enum gw_dir. */
struct gw_record_loss {
    uint64_t gap_bytes[2];   /* bytes missing from the TCP stream */
    uint32_t gaps[2];        /* number of holes */
    uint8_t stopped[2];      /* the parser stopped decoding that direction */
    uint8_t resynced[2];     /* ...or found its footing again after a hole */
};

/* "loss": {"gap_bytes_to_server":..,"gap_bytes_to_client":..,"gaps_to_server":..,
 * "gaps_to_client":..,"decoding_stopped":["to_server"|"to_client"...],
 * "decoding_resynced":[...]} (a direction that resynchronised and later
 * stopped is listed as stopped only);
 * writes nothing when nothing was lost. */
void gw_record_loss_object(struct gw_json *j, const struct gw_record_loss *l);

#endif
