/*
 * record.c - the JSON writer, RFC 3339 timestamps, Community ID v1 and the
 * EVE-style record builders.
 *
 * Invariants:
 *  - The writer never writes past buf[cap - 1]: one byte is always kept for
 *    a terminating NUL, so buf is a C string whenever cap > 0.
 *  - Once `overflow` is set the writer appends nothing more; the caller drops
 *    the record. `overflow` also marks misuse that would make the output
 *    invalid JSON (a value where a key belongs, unbalanced or mismatched
 *    ends, nesting deeper than 16), so a record that finishes without
 *    overflow is always syntactically valid JSON.
 *  - Strings are escaped byte-exactly: '"', '\\' and bytes < 0x20 and 0x7f
 *    are escaped, well-formed UTF-8 (RFC 3629: no overlongs, no surrogates,
 *    nothing above U+10FFFF) is copied as is, and every byte that is not
 *    part of a well-formed sequence becomes the escape \ufffd.
 *  - No allocation; every fixed-size string in the input structs is read
 *    with a bound (strnlen), so a missing NUL can not cause an over-read.
 */
#include "grpcwatch/record.h"

#include "grpcwatch/grpc.h"
#include "grpcwatch/policy.h"
#include "grpcwatch/tls.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

/* need_comma[] holds per-level state bits; the name predates the bits. */
#define LVL_COMMA 0x01u /* a member or element was written at this level */
#define LVL_ARRAY 0x02u /* the container is an array (else an object) */
#define LVL_KEY 0x04u   /* object: a key was written, its value is due */

#define JSON_MAX_DEPTH ((uint8_t)sizeof(((struct gw_json *)0)->need_comma))

void gw_json_init(struct gw_json *j, char *buf, size_t cap)
{
    j->buf = buf;
    j->cap = buf ? cap : 0;
    gw_json_reset(j);
}

void gw_json_reset(struct gw_json *j)
{
    j->len = 0;
    j->overflow = j->cap == 0;
    j->depth = 0;
    memset(j->need_comma, 0, sizeof j->need_comma);
    if (j->cap > 0) j->buf[0] = '\0';
}

/* Appends n raw bytes or sets overflow and appends nothing. */
static void json_put(struct gw_json *j, const char *s, size_t n)
{
    if (j->overflow) return;
    if (n > j->cap - 1 - j->len) {
        j->overflow = 1;
        return;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

static void json_putc(struct gw_json *j, char c) { json_put(j, &c, 1); }

/* Writes the separator a value needs at the current position and records
 * that the level now holds one; flags misuse as overflow. */
static void json_value_prefix(struct gw_json *j)
{
    if (j->overflow) return;
    if (j->depth == 0) {
        /* One top-level value per line: only at the start or after '\n'. */
        if (j->len != 0 && j->buf[j->len - 1] != '\n') j->overflow = 1;
        return;
    }
    uint8_t *lvl = &j->need_comma[j->depth - 1];
    if (*lvl & LVL_ARRAY) {
        if (*lvl & LVL_COMMA) json_putc(j, ',');
    } else if (!(*lvl & LVL_KEY)) {
        j->overflow = 1; /* a value in an object without a key */
        return;
    }
    *lvl = (uint8_t)((*lvl & ~LVL_KEY) | LVL_COMMA);
}

static void json_open(struct gw_json *j, char c, uint8_t kind)
{
    json_value_prefix(j);
    if (j->overflow) return;
    if (j->depth >= JSON_MAX_DEPTH) {
        j->overflow = 1;
        return;
    }
    json_putc(j, c);
    j->need_comma[j->depth++] = kind;
}

static void json_close(struct gw_json *j, char c, uint8_t kind)
{
    if (j->overflow) return;
    if (j->depth == 0) {
        j->overflow = 1;
        return;
    }
    uint8_t lvl = j->need_comma[j->depth - 1];
    if ((lvl & LVL_ARRAY) != kind || (lvl & LVL_KEY)) {
        j->overflow = 1; /* mismatched end, or a key left without value */
        return;
    }
    json_putc(j, c);
    if (!j->overflow) j->depth--;
}

void gw_json_object_begin(struct gw_json *j) { json_open(j, '{', 0); }
void gw_json_object_end(struct gw_json *j) { json_close(j, '}', 0); }
void gw_json_array_begin(struct gw_json *j) { json_open(j, '[', LVL_ARRAY); }
void gw_json_array_end(struct gw_json *j) { json_close(j, ']', LVL_ARRAY); }

/* Length of the well-formed UTF-8 sequence starting at p[0] (a byte
 * >= 0x80), or 0 if the lead byte does not start one (RFC 3629 table). */
static size_t utf8_seq_len(const uint8_t *p, size_t n)
{
    uint8_t b = p[0];
    size_t need;
    uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */

    if (b >= 0xc2 && b <= 0xdf) {
        need = 2;
    } else if (b >= 0xe0 && b <= 0xef) {
        need = 3;
        if (b == 0xe0) lo = 0xa0;      /* overlong */
        else if (b == 0xed) hi = 0x9f; /* surrogates D800..DFFF */
    } else if (b >= 0xf0 && b <= 0xf4) {
        need = 4;
        if (b == 0xf0) lo = 0x90;      /* overlong */
        else if (b == 0xf4) hi = 0x8f; /* above U+10FFFF */
    } else {
        return 0; /* continuation byte, C0/C1 overlong, F5..FF */
    }
    if (n < need || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < need; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    return need;
}

static void json_escape_byte(struct gw_json *j, uint8_t b)
{
    static const char hex[] = "0123456789abcdef";
    char e[6] = { '\\', 'u', '0', '0', hex[b >> 4], hex[b & 0xf] };

    switch (b) {
    case '"': json_put(j, "\\\"", 2); return;
    case '\\': json_put(j, "\\\\", 2); return;
    case '\n': json_put(j, "\\n", 2); return;
    case '\r': json_put(j, "\\r", 2); return;
    case '\t': json_put(j, "\\t", 2); return;
    case '\b': json_put(j, "\\b", 2); return;
    case '\f': json_put(j, "\\f", 2); return;
    default: json_put(j, e, sizeof e); return;
    }
}

static bool byte_is_plain(uint8_t b) { return b >= 0x20 && b < 0x7f && b != '"' && b != '\\'; }

/* Writes s as a quoted, escaped JSON string (no separator handling). */
static void json_put_quoted(struct gw_json *j, const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;

    if (!s) n = 0;
    json_putc(j, '"');
    while (i < n && !j->overflow) {
        /* Copy a run of bytes that need no escaping in one go. */
        size_t run = i;
        while (run < n && byte_is_plain(p[run])) run++;
        if (run > i) {
            json_put(j, s + i, run - i);
            i = run;
            continue;
        }
        if (p[i] < 0x80) {
            json_escape_byte(j, p[i]);
            i++;
            continue;
        }
        size_t k = utf8_seq_len(p + i, n - i);
        if (k == 0) {
            json_put(j, "\\ufffd", 6); /* one replacement per invalid byte */
            i++;
        } else {
            json_put(j, s + i, k);
            i += k;
        }
    }
    json_putc(j, '"');
}

void gw_json_string(struct gw_json *j, const char *s, size_t n)
{
    json_value_prefix(j);
    json_put_quoted(j, s, n);
}

void gw_json_key(struct gw_json *j, const char *key)
{
    if (j->overflow) return;
    if (j->depth == 0) {
        j->overflow = 1;
        return;
    }
    uint8_t *lvl = &j->need_comma[j->depth - 1];
    if (*lvl & (LVL_ARRAY | LVL_KEY)) {
        j->overflow = 1; /* a key in an array, or two keys in a row */
        return;
    }
    if (*lvl & LVL_COMMA) json_putc(j, ',');
    json_put_quoted(j, key, key ? strlen(key) : 0);
    json_putc(j, ':');
    *lvl = LVL_COMMA | LVL_KEY;
}

void gw_json_cstring(struct gw_json *j, const char *s)
{
    if (!s) gw_json_null(j);
    else gw_json_string(j, s, strlen(s));
}

/* A fixed-size field: never reads beyond its array even without a NUL. */
static void json_field_str(struct gw_json *j, const char *s, size_t size)
{
    gw_json_string(j, s, strnlen(s, size));
}

void gw_json_int(struct gw_json *j, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
    json_value_prefix(j);
    json_put(j, tmp, (size_t)n);
}

void gw_json_uint(struct gw_json *j, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%" PRIu64, v);
    json_value_prefix(j);
    json_put(j, tmp, (size_t)n);
}

void gw_json_bool(struct gw_json *j, bool v)
{
    json_value_prefix(j);
    if (v) json_put(j, "true", 4);
    else json_put(j, "false", 5);
}

void gw_json_null(struct gw_json *j)
{
    json_value_prefix(j);
    json_put(j, "null", 4);
}

bool gw_json_finish(struct gw_json *j)
{
    /* Nothing written, unbalanced, or the line is already finished. */
    if (j->depth != 0 || j->len == 0 || j->buf[j->len - 1] == '\n') j->overflow = 1;
    json_putc(j, '\n');
    return !j->overflow;
}

/* ---- timestamps -------------------------------------------------------- */

/* 9999-12-31T23:59:59.999999Z: the last instant with a 4-digit year. */
#define TS_MAX_US INT64_C(253402300799999999)

const char *gw_format_timestamp(gw_time_us ts, char *buf, size_t buflen)
{
    struct tm tm;

    if (!buf || buflen == 0) return buf;
    buf[0] = '\0';
    if (buflen < 28) return buf;
    /* Packet times before the epoch or past year 9999 are bogus; clamp so
     * the text is always a valid RFC 3339 timestamp. */
    if (ts < 0) ts = 0;
    if (ts > TS_MAX_US) ts = TS_MAX_US;
    time_t secs = (time_t)(ts / 1000000);
    long usec = (long)(ts % 1000000);
    if (!gmtime_r(&secs, &tm)) return buf;
    snprintf(buf, buflen, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, usec);
    return buf;
}

/* ---- Community ID v1 --------------------------------------------------- */

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

void gw_community_id(uint16_t seed, const struct gw_addr *src, uint16_t sport,
                     const struct gw_addr *dst, uint16_t dport, uint8_t proto,
                     char *out, size_t outlen)
{
    /* seed(2) saddr(16) daddr(16) proto(1) pad(1) sport(2) dport(2) */
    uint8_t in[2 + 16 + 16 + 1 + 1 + 2 + 2];
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    size_t alen, off = 0;

    if (!out || outlen == 0) return;
    out[0] = '\0';
    /* "1:" + 28 base64 chars + NUL. An unknown tuple gives "" (the spec
     * allows an empty string for what a monitor can not hash). */
    if (outlen < 31 || !src || !dst || src->family != dst->family) return;
    if (src->family == 4) alen = 4;
    else if (src->family == 6) alen = 16;
    else return;

    /* The endpoint with the smaller (address, port) comes first. */
    int c = memcmp(src->bytes, dst->bytes, alen);
    if (c > 0 || (c == 0 && sport > dport)) {
        const struct gw_addr *ta = src;
        uint16_t tp = sport;
        src = dst;
        dst = ta;
        sport = dport;
        dport = tp;
    }
    put_be16(in + off, seed);
    off += 2;
    memcpy(in + off, src->bytes, alen);
    off += alen;
    memcpy(in + off, dst->bytes, alen);
    off += alen;
    in[off++] = proto;
    in[off++] = 0;
    put_be16(in + off, sport);
    off += 2;
    put_be16(in + off, dport);
    off += 2;

    if (!EVP_Digest(in, off, digest, &dlen, EVP_sha1(), NULL) || dlen != 20) return;
    out[0] = '1';
    out[1] = ':';
    EVP_EncodeBlock((unsigned char *)out + 2, digest, (int)dlen); /* 28 chars + NUL */
}

/* ---- record builders --------------------------------------------------- */

void gw_json_kv_str(struct gw_json *j, const char *key, const char *s)
{
    gw_json_key(j, key);
    gw_json_cstring(j, s);
}

void gw_json_kv_uint(struct gw_json *j, const char *key, uint64_t v)
{
    gw_json_key(j, key);
    gw_json_uint(j, v);
}

static void json_kv_addr(struct gw_json *j, const char *key, const struct gw_addr *a)
{
    char tmp[64];
    gw_json_key(j, key);
    if (!a || (a->family != 4 && a->family != 6)) gw_json_null(j);
    else gw_json_cstring(j, gw_addr_str(a, tmp, sizeof tmp));
}

static const char *tunnel_type_str(uint8_t type)
{
    static const char *const names[] = {
        [GW_TUNNEL_NONE] = "none",       [GW_TUNNEL_GRE] = "gre",
        [GW_TUNNEL_ERSPAN2] = "erspan2", [GW_TUNNEL_ERSPAN3] = "erspan3",
        [GW_TUNNEL_VXLAN] = "vxlan",     [GW_TUNNEL_GENEVE] = "geneve",
        [GW_TUNNEL_IPIP] = "ipip",       [GW_TUNNEL_MPLS] = "mpls",
    };
    return type < GW_ARRAY_LEN(names) ? names[type] : "unknown";
}

static void record_tunnel(struct gw_json *j, const struct gw_tunnel *t)
{
    gw_json_key(j, "tunnel");
    gw_json_object_begin(j);
    gw_json_kv_str(j, "type", tunnel_type_str(t->type));
    json_kv_addr(j, "outer_src_ip", &t->outer_src);
    json_kv_addr(j, "outer_dest_ip", &t->outer_dst);
    gw_json_kv_uint(j, "id", t->id);
    gw_json_object_end(j);
}

void gw_record_begin_event(struct gw_json *j, gw_time_us ts, const char *event_type)
{
    char tsbuf[32];

    gw_json_object_begin(j);
    gw_json_kv_str(j, "timestamp", gw_format_timestamp(ts, tsbuf, sizeof tsbuf));
    gw_json_kv_str(j, "event_type", event_type);
}

void gw_record_begin(struct gw_json *j, const struct gw_record_head *h)
{
    gw_record_begin_event(j, h->ts, h->event_type);
    gw_json_kv_uint(j, "flow_id", h->flow_id);
    gw_json_kv_str(j, "community_id", h->community_id);
    json_kv_addr(j, "src_ip", h->src);
    gw_json_kv_uint(j, "src_port", h->sport);
    json_kv_addr(j, "dest_ip", h->dst);
    gw_json_kv_uint(j, "dest_port", h->dport);
    gw_json_kv_str(j, "proto", "TCP");
    if (h->app_proto) gw_json_kv_str(j, "app_proto", h->app_proto);
    if (h->tunnel && h->tunnel->type != GW_TUNNEL_NONE) record_tunnel(j, h->tunnel);
}

/* A gw_grpc_str: null when absent. */
static void json_kv_grpc_str(struct gw_json *j, const char *key, const struct gw_grpc_str *s)
{
    gw_json_key(j, key);
    if (!s->present) gw_json_null(j);
    else json_field_str(j, s->s, sizeof s->s);
}

/* A fixed-size string field: null when empty. */
static void json_kv_field_or_null(struct gw_json *j, const char *key, const char *s, size_t size)
{
    gw_json_key(j, key);
    if (size == 0 || s[0] == '\0') gw_json_null(j);
    else json_field_str(j, s, size);
}

static void json_kv_status(struct gw_json *j, const char *key, int32_t v)
{
    gw_json_key(j, key);
    if (v < 0) gw_json_null(j);
    else gw_json_int(j, v);
}

static void grpc_keys(struct gw_json *j, const struct gw_grpc_call *c)
{
    size_t n = GW_MIN((size_t)c->n_metadata_keys, (size_t)GW_GRPC_MAX_KEYS);

    gw_json_key(j, "metadata_keys");
    gw_json_array_begin(j);
    for (size_t i = 0; i < n; i++)
        json_field_str(j, c->metadata_keys[i], sizeof c->metadata_keys[i]);
    gw_json_array_end(j);

    gw_json_key(j, "credential_keys");
    gw_json_array_begin(j);
    for (size_t i = 0; i < n && i < 32; i++)
        if (c->credential_mask & (UINT32_C(1) << i))
            json_field_str(j, c->metadata_keys[i], sizeof c->metadata_keys[i]);
    gw_json_array_end(j);
}

/* "truncated": the names of the fields that were cut, omitted if none. */
static void grpc_truncated(struct gw_json *j, const struct gw_grpc_call *c)
{
    const struct {
        const char *name;
        uint8_t flag;
    } fields[] = {
        { "path", c->path_truncated },
        { "authority", c->authority.truncated },
        { "content_type", c->content_type.truncated },
        { "user_agent", c->user_agent.truncated },
        { "grpc_message", c->grpc_message.truncated },
        { "grpc_encoding", c->grpc_encoding.truncated },
        { "metadata_keys", c->metadata_keys_truncated },
    };
    bool any = false;

    for (size_t i = 0; i < GW_ARRAY_LEN(fields); i++) any = any || fields[i].flag;
    if (!any) return;
    gw_json_key(j, "truncated");
    gw_json_array_begin(j);
    for (size_t i = 0; i < GW_ARRAY_LEN(fields); i++)
        if (fields[i].flag) gw_json_cstring(j, fields[i].name);
    gw_json_array_end(j);
}

/* "messages_partial": the directions whose message count is a lower bound
 * (bytes of that stream were lost, or its start was not seen). */
static void grpc_partial(struct gw_json *j, const struct gw_grpc_call *c)
{
    if (!(c->messages_partial & (GW_GRPC_PARTIAL_REQUEST | GW_GRPC_PARTIAL_RESPONSE))) return;
    gw_json_key(j, "messages_partial");
    gw_json_array_begin(j);
    if (c->messages_partial & GW_GRPC_PARTIAL_REQUEST) gw_json_cstring(j, "request");
    if (c->messages_partial & GW_GRPC_PARTIAL_RESPONSE) gw_json_cstring(j, "response");
    gw_json_array_end(j);
}

void gw_record_grpc_object(struct gw_json *j, const struct gw_grpc_call *c)
{
    gw_json_key(j, "grpc");
    gw_json_object_begin(j);
    gw_json_key(j, "path");
    if (!c->path_present) gw_json_null(j);
    else json_field_str(j, c->path, sizeof c->path);
    json_kv_field_or_null(j, "service", c->service, sizeof c->service);
    json_kv_field_or_null(j, "method", c->method, sizeof c->method);
    json_kv_grpc_str(j, "authority", &c->authority);
    json_kv_grpc_str(j, "content_type", &c->content_type);
    json_kv_grpc_str(j, "user_agent", &c->user_agent);
    grpc_keys(j, c);
    json_kv_status(j, "grpc_status", c->grpc_status);
    json_kv_grpc_str(j, "grpc_message", &c->grpc_message);
    json_kv_status(j, "http_status", c->http_status);
    gw_json_kv_uint(j, "request_messages", c->request_messages);
    gw_json_kv_uint(j, "response_messages", c->response_messages);
    gw_json_kv_uint(j, "request_bytes", c->request_bytes);
    gw_json_kv_uint(j, "response_bytes", c->response_bytes);
    if (c->grpc_encoding.present) json_kv_grpc_str(j, "grpc_encoding", &c->grpc_encoding);
    if (c->midstream) {
        gw_json_key(j, "midstream");
        gw_json_bool(j, true);
    }
    grpc_partial(j, c);
    grpc_truncated(j, c);
    gw_json_kv_str(j, "ended_by", gw_end_str(c->ended_by));
    gw_json_object_end(j);
}

void gw_record_alert_object(struct gw_json *j, const struct gw_alert *a)
{
    gw_json_key(j, "alert");
    gw_json_object_begin(j);
    gw_json_kv_str(j, "action", "allowed"); /* a passive sensor blocks nothing */
    gw_json_kv_uint(j, "gid", 1);
    gw_json_kv_uint(j, "signature_id", a->signature_id);
    gw_json_kv_uint(j, "rev", 1);
    gw_json_kv_str(j, "signature", a->signature);
    gw_json_kv_str(j, "category", a->category);
    gw_json_kv_uint(j, "severity", a->severity);
    gw_json_object_end(j);
}

void gw_record_loss_object(struct gw_json *j, const struct gw_record_loss *l)
{
    static const char *const dir_name[2] = { "to_server", "to_client" };
    if (!l->gap_bytes[0] && !l->gap_bytes[1] && !l->stopped[0] && !l->stopped[1] &&
        !l->resynced[0] && !l->resynced[1])
        return;
    gw_json_key(j, "loss");
    gw_json_object_begin(j);
    gw_json_kv_uint(j, "gap_bytes_to_server", l->gap_bytes[0]);
    gw_json_kv_uint(j, "gap_bytes_to_client", l->gap_bytes[1]);
    gw_json_kv_uint(j, "gaps_to_server", l->gaps[0]);
    gw_json_kv_uint(j, "gaps_to_client", l->gaps[1]);
    gw_json_key(j, "decoding_stopped");
    gw_json_array_begin(j);
    for (int d = 0; d < 2; d++)
        if (l->stopped[d]) gw_json_cstring(j, dir_name[d]);
    gw_json_array_end(j);
    gw_json_key(j, "decoding_resynced");
    gw_json_array_begin(j);
    for (int d = 0; d < 2; d++)
        if (l->resynced[d] && !l->stopped[d]) gw_json_cstring(j, dir_name[d]);
    gw_json_array_end(j);
    gw_json_object_end(j);
}

/* The version a ClientHello offers: the highest supported_versions entry,
 * else the legacy client_version. */
static uint16_t tls_offered_version(const struct gw_tls_info *t)
{
    uint16_t best = 0;
    size_t n = GW_MIN((size_t)t->n_offered_versions, GW_ARRAY_LEN(t->offered_versions));

    for (size_t i = 0; i < n; i++) best = GW_MAX(best, t->offered_versions[i]);
    return n ? best : t->client_version;
}

static void tls_version(struct gw_json *j, const struct gw_tls_info *t)
{
    char tmp[16];

    gw_json_key(j, "version");
    if (t->have_server_hello) {
        gw_json_cstring(j, gw_tls_version_str(t->version, tmp, sizeof tmp));
        gw_json_kv_str(j, "version_source", "server_hello");
    } else if (t->have_client_hello) {
        gw_json_cstring(j, gw_tls_version_str(tls_offered_version(t), tmp, sizeof tmp));
        gw_json_kv_str(j, "version_source", "client_hello");
    } else {
        gw_json_null(j);
    }
}

void gw_record_tls_object(struct gw_json *j, const struct gw_tls_info *t)
{
    size_t n_alpn = GW_MIN((size_t)t->n_alpn, (size_t)GW_TLS_MAX_ALPN);

    gw_json_key(j, "tls");
    gw_json_object_begin(j);
    json_kv_field_or_null(j, "sni", t->sni, sizeof t->sni);
    gw_json_key(j, "alpn");
    gw_json_array_begin(j);
    for (size_t i = 0; i < n_alpn; i++) json_field_str(j, t->alpn[i], sizeof t->alpn[i]);
    gw_json_array_end(j);
    tls_version(j, t);
    json_kv_field_or_null(j, "alpn_selected", t->alpn_selected, sizeof t->alpn_selected);
    json_kv_field_or_null(j, "ja4", t->ja4, sizeof t->ja4);
    gw_json_key(j, "client_hello");
    gw_json_bool(j, t->have_client_hello);
    gw_json_key(j, "server_hello");
    gw_json_bool(j, t->have_server_hello);
    gw_json_object_end(j);
}
