/*
 * test_h2.c - the passive HTTP/2 decoder against byte streams built here:
 * frame headers written by hand (RFC 9113 section 4.1 layout), header
 * blocks from nghttp2's HPACK *encoder* (an implementation independent of
 * the decoding path) or copied from RFC 7541 Appendix C.
 *
 * Every callback appends a line to a text log; expected logs are built from
 * the same inputs the encoder was given, never from the decoder's output.
 * DATA callbacks that continue the same stream and direction are merged in
 * the log, so feeds in different chunkings must give identical logs.
 */
#include "grpcwatch/h2.h"
#include "grpcwatch/h2guard.h"
#include "grpcwatch/pool.h"

#include <check.h>
#include <nghttp2/nghttp2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- growable byte buffer ------------------------------------------------ */

struct buf {
    uint8_t *p;
    size_t n, cap;
};

static void buf_put(struct buf *b, const void *p, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        b->p = realloc(b->p, cap);
        ck_assert_ptr_nonnull(b->p);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = 0; /* keeps text logs NUL-terminated */
}

static void buf_printf(struct buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    ck_assert(k >= 0 && (size_t)k < sizeof tmp);
    buf_put(b, tmp, (size_t)k);
}

static const char *buf_str(struct buf *b)
{
    if (!b->p) buf_put(b, "", 0);
    return (const char *)b->p;
}

static void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- recording callbacks ------------------------------------------------- */

#define MAX_SID 1024

struct rec {
    struct buf log;
    bool data_open;        /* last log line is DATA of (data_sid, data_dir) */
    uint32_t data_sid;
    int data_dir;
    bool closing;          /* stream ends during close are kept out of the log */
    int end_reason[MAX_SID];
    int ends[MAX_SID];
    int begins;
    int anomalies[16];
    uint64_t data_bytes[2];
    bool log_data_bytes;   /* log DATA content (else only counted) */
    uint32_t frame_pos[2]; /* DATA: bytes of the current frame delivered */
    uint64_t data_frames_done[2];
};

static void rec_line(struct rec *r, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    ck_assert(k >= 0 && (size_t)k < sizeof tmp);
    buf_put(&r->log, tmp, (size_t)k);
    r->data_open = false;
}

static void on_begin(void *u, struct gw_h2_stream *s, gw_time_us ts)
{
    struct rec *r = u;
    (void)ts;
    ck_assert_ptr_null(s->app);
    s->app = r; /* checked on every later callback */
    r->begins++;
    rec_line(r, "B%u\n", s->id);
}

static void on_header(void *u, struct gw_h2_stream *s, int dir, const uint8_t *n, size_t nl,
                      const uint8_t *v, size_t vl)
{
    struct rec *r = u;
    ck_assert_ptr_eq(s->app, r);
    rec_line(r, "H%u/%d %.*s: %.*s\n", s->id, dir, (int)nl, (const char *)n, (int)vl, (const char *)v);
}

static void on_headers_end(void *u, struct gw_h2_stream *s, int dir, bool es)
{
    struct rec *r = u;
    ck_assert_ptr_eq(s->app, r);
    rec_line(r, "E%u/%d es=%d\n", s->id, dir, es ? 1 : 0);
}

static void on_data(void *u, struct gw_h2_stream *s, int dir, const uint8_t *p, size_t n)
{
    struct rec *r = u;
    ck_assert_ptr_eq(s->app, r);
    ck_assert_uint_gt(n, 0);
    /* the frame position: chunks of one frame are contiguous from 0 */
    if (s->data_frame_off == 0) r->frame_pos[dir] = 0;
    if (s->data_frame_off != r->frame_pos[dir] || (uint64_t)s->data_frame_off + n > s->data_frame_len)
        ck_abort_msg("DATA chunk at %u+%zu of %u, expected at %u", s->data_frame_off, n, s->data_frame_len,
                     r->frame_pos[dir]);
    r->frame_pos[dir] += (uint32_t)n;
    if (r->frame_pos[dir] == s->data_frame_len) r->data_frames_done[dir]++;
    r->data_bytes[dir] += n;
    if (!r->log_data_bytes) return;
    if (r->data_open && r->data_sid == s->id && r->data_dir == dir) {
        r->log.n--; /* drop the newline and continue the line */
    } else {
        rec_line(r, "D%u/%d:", s->id, dir);
    }
    buf_put(&r->log, p, n);
    buf_put(&r->log, "\n", 1);
    r->data_open = true;
    r->data_sid = s->id;
    r->data_dir = dir;
}

static void on_data_end(void *u, struct gw_h2_stream *s, int dir)
{
    struct rec *r = u;
    ck_assert_ptr_eq(s->app, r);
    rec_line(r, "Z%u/%d\n", s->id, dir);
}

static void on_rst(void *u, struct gw_h2_stream *s, int dir, uint32_t code)
{
    struct rec *r = u;
    ck_assert_ptr_eq(s->app, r);
    rec_line(r, "R%u/%d %u\n", s->id, dir, code);
}

static void on_end(void *u, struct gw_h2_stream *s, int reason, gw_time_us ts)
{
    struct rec *r = u;
    (void)ts;
    ck_assert_ptr_eq(s->app, r);
    s->app = NULL;
    ck_assert_uint_lt(s->id, MAX_SID);
    r->ends[s->id]++;
    r->end_reason[s->id] = reason;
    if (!r->closing)
        rec_line(r, "X%u r%d rst%u es%u%u\n", s->id, reason, s->rst, s->end_stream[0], s->end_stream[1]);
}

static void on_goaway(void *u, int dir, uint32_t last, uint32_t code)
{
    rec_line(u, "G%d %u %u\n", dir, last, code);
}

static void on_anomaly(void *u, int dir, int code, uint32_t sid)
{
    struct rec *r = u;
    ck_assert(code > 0 && code < 16);
    r->anomalies[code]++;
    rec_line(r, "A%d %d %u\n", dir, code, sid);
}

static const struct gw_h2_callbacks rec_cb = {
    on_begin, on_header, on_headers_end, on_data, on_data_end, on_rst, on_end, on_goaway, on_anomaly, NULL,
};

static void rec_init(struct rec *r)
{
    memset(r, 0, sizeof *r);
    r->log_data_bytes = true;
}

/* ---- scripts: the bytes of both directions in the order they are fed ---- */

#define MAX_PARTS 256

struct script {
    struct buf part[MAX_PARTS];
    int dir[MAX_PARTS];
    int n;
    nghttp2_hd_deflater *enc[2]; /* the HPACK encoder of each side */
};

static void sc_init(struct script *sc, bool preface)
{
    memset(sc, 0, sizeof *sc);
    for (int d = 0; d < 2; d++) ck_assert_int_eq(nghttp2_hd_deflate_new(&sc->enc[d], 4096), 0);
    if (preface) {
        sc->dir[0] = GW_DIR_TO_SERVER;
        buf_put(&sc->part[0], GW_H2_PREFACE, GW_H2_PREFACE_LEN);
        sc->n = 1;
    }
}

static void sc_free(struct script *sc)
{
    for (int i = 0; i < sc->n; i++) buf_free(&sc->part[i]);
    for (int d = 0; d < 2; d++)
        if (sc->enc[d]) nghttp2_hd_deflate_del(sc->enc[d]);
}

static void sc_raw(struct script *sc, int dir, const void *p, size_t n)
{
    if (sc->n == 0 || sc->dir[sc->n - 1] != dir) {
        ck_assert_int_lt(sc->n, MAX_PARTS);
        sc->dir[sc->n++] = dir;
    }
    buf_put(&sc->part[sc->n - 1], p, n);
}

static void frame_header(uint8_t h[9], size_t len, uint8_t type, uint8_t flags, uint32_t sid)
{
    h[0] = (uint8_t)(len >> 16);
    h[1] = (uint8_t)(len >> 8);
    h[2] = (uint8_t)len;
    h[3] = type;
    h[4] = flags;
    h[5] = (uint8_t)(sid >> 24);
    h[6] = (uint8_t)(sid >> 16);
    h[7] = (uint8_t)(sid >> 8);
    h[8] = (uint8_t)sid;
}

static void sc_frame(struct script *sc, int dir, uint8_t type, uint8_t flags, uint32_t sid,
                     const void *payload, size_t len)
{
    uint8_t h[9];
    frame_header(h, len, type, flags, sid);
    sc_raw(sc, dir, h, 9);
    sc_raw(sc, dir, payload, len);
}

#define F_END_STREAM 0x1
#define F_ACK 0x1
#define F_END_HEADERS 0x4
#define F_PADDED 0x8
#define F_PRIORITY 0x20

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE }

static size_t encode(nghttp2_hd_deflater *enc, uint8_t *out, size_t cap, const nghttp2_nv *nv, size_t n)
{
    ssize_t k = nghttp2_hd_deflate_hd(enc, out, cap, nv, n);
    ck_assert_int_ge(k, 0);
    return (size_t)k;
}

/* A HEADERS frame with END_HEADERS holding the encoded fields; returns the block length. */
static size_t sc_headers(struct script *sc, int dir, uint32_t sid, uint8_t flags, const nghttp2_nv *nv, size_t n)
{
    uint8_t block[8192];
    size_t k = encode(sc->enc[dir], block, sizeof block, nv, n);
    sc_frame(sc, dir, 1, (uint8_t)(flags | F_END_HEADERS), sid, block, k);
    return k;
}

static void sc_settings(struct script *sc, int dir, const uint16_t *ids, const uint32_t *vals, size_t n)
{
    uint8_t p[6 * 8];
    ck_assert_uint_le(n, 8);
    for (size_t i = 0; i < n; i++) {
        p[6 * i] = (uint8_t)(ids[i] >> 8);
        p[6 * i + 1] = (uint8_t)ids[i];
        for (int j = 0; j < 4; j++) p[6 * i + 2 + j] = (uint8_t)(vals[i] >> (24 - 8 * j));
    }
    sc_frame(sc, dir, 4, 0, 0, p, 6 * n);
}

static void sc_settings1(struct script *sc, int dir, uint16_t id, uint32_t val)
{
    sc_settings(sc, dir, &id, &val, 1);
}

static void sc_ack(struct script *sc, int dir)
{
    sc_frame(sc, dir, 4, F_ACK, 0, NULL, 0);
}

static void sc_data(struct script *sc, int dir, uint32_t sid, uint8_t flags, const char *text)
{
    sc_frame(sc, dir, 0, flags, sid, text, strlen(text));
}

static void be32(uint8_t *p, uint32_t v)
{
    for (int j = 0; j < 4; j++) p[j] = (uint8_t)(v >> (24 - 8 * j));
}

/* ---- running a script ---------------------------------------------------- */

enum feed_mode { FEED_WHOLE, FEED_SPLIT, FEED_BYTES };

struct run {
    struct gw_h2_stats stats;
    bool dir_ok[2];
    int last_rc[2];
};

static size_t sc_total(const struct script *sc)
{
    size_t t = 0;
    for (int i = 0; i < sc->n; i++) t += sc->part[i].n;
    return t;
}

static void feed(struct gw_h2_conn *c, struct run *out, int dir, const uint8_t *p, size_t n, gw_time_us ts)
{
    if (n == 0) return;
    out->last_rc[dir] = gw_h2_conn_feed(c, dir, p, n, ts);
}

/* Feeds the script (split in two at global offset `at` for FEED_SPLIT, one
 * byte per call for FEED_BYTES), then closes with GW_END_EOF. */
static void run_script(const struct script *sc, const struct gw_h2_limits *lim, enum feed_mode mode,
                       size_t at, struct rec *r, struct run *out)
{
    memset(out, 0, sizeof *out);
    struct gw_h2_conn *c = gw_h2_conn_create(lim, &rec_cb, r);
    ck_assert_ptr_nonnull(c);
    size_t off = 0;
    for (int i = 0; i < sc->n; i++) {
        const uint8_t *p = sc->part[i].p;
        size_t n = sc->part[i].n;
        int d = sc->dir[i];
        gw_time_us ts = 1000 + i;
        if (mode == FEED_BYTES) {
            for (size_t k = 0; k < n; k++) feed(c, out, d, p + k, 1, ts);
        } else if (mode == FEED_SPLIT && at > off && at < off + n) {
            feed(c, out, d, p, at - off, ts);
            feed(c, out, d, p + (at - off), n - (at - off), ts);
        } else {
            feed(c, out, d, p, n, ts);
        }
        off += n;
    }
    out->stats = *gw_h2_conn_stats(c);
    for (int d = 0; d < 2; d++) out->dir_ok[d] = gw_h2_conn_dir_ok(c, d);
    r->closing = true;
    gw_h2_conn_close(c, GW_END_EOF, 9999);
    gw_h2_conn_destroy(c);
}

/* Runs whole, and compares the log with `expected`; when `chunkings`, also
 * split at every byte boundary and one byte at a time, with the same log. */
static void check_script(const struct script *sc, const struct gw_h2_limits *lim, const char *expected,
                         bool chunkings)
{
    struct rec r;
    struct run out;
    rec_init(&r);
    run_script(sc, lim, FEED_WHOLE, 0, &r, &out);
    ck_assert_str_eq(buf_str(&r.log), expected);
    buf_free(&r.log);
    if (!chunkings) return;
    size_t total = sc_total(sc);
    for (size_t at = 1; at < total; at++) {
        rec_init(&r);
        run_script(sc, lim, FEED_SPLIT, at, &r, &out);
        if (strcmp(buf_str(&r.log), expected) != 0)
            ck_abort_msg("split at %zu of %zu:\n%s\nexpected:\n%s", at, total, buf_str(&r.log), expected);
        buf_free(&r.log);
    }
    rec_init(&r);
    run_script(sc, lim, FEED_BYTES, 0, &r, &out);
    ck_assert_str_eq(buf_str(&r.log), expected);
    buf_free(&r.log);
}

/* Expected-log helpers, built from the inputs. */
static void exp_fields(struct buf *e, uint32_t sid, int dir, const nghttp2_nv *nv, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf_printf(e, "H%u/%d %.*s: %.*s\n", sid, dir, (int)nv[i].namelen, (const char *)nv[i].name,
                   (int)nv[i].valuelen, (const char *)nv[i].value);
}

static void exp_block(struct buf *e, uint32_t sid, int dir, const nghttp2_nv *nv, size_t n, bool es)
{
    exp_fields(e, sid, dir, nv, n);
    buf_printf(e, "E%u/%d es=%d\n", sid, dir, es ? 1 : 0);
}

static const nghttp2_nv req_nv[] = {
    NV(":method", "POST"), NV(":scheme", "http"), NV(":path", "/pkg.Svc/Call"),
    NV(":authority", "example:50051"), NV("content-type", "application/grpc"), NV("te", "trailers"),
};
static const nghttp2_nv resp_nv[] = { NV(":status", "200"), NV("content-type", "application/grpc") };
static const nghttp2_nv trailer_nv[] = { NV("grpc-status", "0"), NV("grpc-message", "ok") };

/* ---- tests ---------------------------------------------------------------- */

static void build_exchange(struct script *sc)
{
    sc_init(sc, true);
    sc_settings1(sc, 0, 0x3, 100); /* MAX_CONCURRENT_STREAMS: ignored */
    sc_settings1(sc, 1, 0x4, 65535);
    sc_ack(sc, 1);
    sc_ack(sc, 0);
    sc_headers(sc, 0, 1, 0, req_nv, GW_ARRAY_LEN(req_nv));
    sc_data(sc, 0, 1, F_END_STREAM, "hello");
    sc_headers(sc, 1, 1, 0, resp_nv, GW_ARRAY_LEN(resp_nv));
    sc_data(sc, 1, 1, 0, "wor");
    sc_data(sc, 1, 1, 0, "ld");
    sc_headers(sc, 1, 1, F_END_STREAM, trailer_nv, GW_ARRAY_LEN(trailer_nv));
}

static void expect_exchange(struct buf *e)
{
    buf_printf(e, "B1\n");
    exp_block(e, 1, 0, req_nv, GW_ARRAY_LEN(req_nv), false);
    buf_printf(e, "D1/0:hello\nZ1/0\n");
    exp_block(e, 1, 1, resp_nv, GW_ARRAY_LEN(resp_nv), false);
    buf_printf(e, "D1/1:world\n");
    exp_block(e, 1, 1, trailer_nv, GW_ARRAY_LEN(trailer_nv), true);
    buf_printf(e, "X1 r%d rst0 es11\n", GW_END_STREAM);
}

START_TEST(test_exchange_sequence)
{
    struct script sc;
    struct buf e = { 0 };
    build_exchange(&sc);
    expect_exchange(&e);
    check_script(&sc, NULL, buf_str(&e), false);

    struct rec r;
    struct run out;
    rec_init(&r);
    run_script(&sc, NULL, FEED_WHOLE, 0, &r, &out);
    /* client: SETTINGS, ACK, HEADERS, DATA; server: SETTINGS, ACK, HEADERS, DATA x2, HEADERS */
    ck_assert_uint_eq(out.stats.frames[0], 4);
    ck_assert_uint_eq(out.stats.frames[1], 6);
    ck_assert_uint_eq(out.stats.frames_by_type[4], 4);
    ck_assert_uint_eq(out.stats.frames_by_type[1], 3);
    ck_assert_uint_eq(out.stats.frames_by_type[0], 3);
    ck_assert_uint_eq(out.stats.headers_blocks, 3);
    ck_assert_uint_eq(out.stats.anomalies, 0);
    ck_assert_uint_eq(out.stats.open_streams, 0);
    ck_assert_uint_eq(out.stats.max_open_streams, 1);
    ck_assert(out.dir_ok[0] && out.dir_ok[1]);
    ck_assert_int_eq(out.last_rc[0], GW_OK);
    ck_assert_int_eq(r.ends[1], 1);
    buf_free(&r.log);
    buf_free(&e);
    sc_free(&sc);
}
END_TEST

START_TEST(test_exchange_any_chunking)
{
    struct script sc;
    struct buf e = { 0 };
    build_exchange(&sc);
    expect_exchange(&e);
    check_script(&sc, NULL, buf_str(&e), true);
    buf_free(&e);
    sc_free(&sc);
}
END_TEST

START_TEST(test_padding_and_priority)
{
    struct script sc;
    struct buf e = { 0 };
    uint8_t block[512], payload[600];
    sc_init(&sc, true);
    /* HEADERS with PADDED (3 bytes of padding) and PRIORITY (5 bytes) */
    size_t k = encode(sc.enc[0], block, sizeof block, req_nv, GW_ARRAY_LEN(req_nv));
    size_t n = 0;
    payload[n++] = 3;
    be32(payload + n, 0x80000000u | 0); /* exclusive, depends on stream 0 */
    n += 4;
    payload[n++] = 15;                  /* weight */
    memcpy(payload + n, block, k);
    n += k;
    memset(payload + n, 0, 3);
    n += 3;
    sc_frame(&sc, 0, 1, F_END_HEADERS | F_PADDED | F_PRIORITY, 1, payload, n);
    /* DATA with 10 bytes of padding */
    n = 0;
    payload[n++] = 10;
    memcpy(payload + n, "abc", 3);
    n += 3;
    memset(payload + n, 0, 10);
    n += 10;
    sc_frame(&sc, 0, 0, F_PADDED, 1, payload, n);
    /* padding that takes all the rest: legal, no data */
    uint8_t all_pad[5] = { 4, 0, 0, 0, 0 };
    sc_frame(&sc, 0, 0, F_PADDED | F_END_STREAM, 1, all_pad, sizeof all_pad);

    buf_printf(&e, "B1\n");
    exp_block(&e, 1, 0, req_nv, GW_ARRAY_LEN(req_nv), false);
    buf_printf(&e, "D1/0:abc\nZ1/0\n");
    check_script(&sc, NULL, buf_str(&e), true);
    buf_free(&e);
    sc_free(&sc);
}
END_TEST

START_TEST(test_bad_padding_fails_direction)
{
    struct script sc;
    struct rec r;
    struct run out;
    sc_init(&sc, true);
    sc_headers(&sc, 0, 1, 0, req_nv, GW_ARRAY_LEN(req_nv));
    uint8_t bad[5] = { 5, 'a', 'b', 'c', 'd' }; /* pad 5 > 4 bytes left */
    sc_frame(&sc, 0, 0, F_PADDED, 1, bad, sizeof bad);
    sc_data(&sc, 0, 1, F_END_STREAM, "never");
    sc_headers(&sc, 1, 1, 0, resp_nv, GW_ARRAY_LEN(resp_nv));
    rec_init(&r);
    run_script(&sc, NULL, FEED_WHOLE, 0, &r, &out);
    ck_assert_int_eq(r.anomalies[GW_H2_ANOM_BAD_PADDING], 1);
    ck_assert(!out.dir_ok[0]);
    ck_assert(out.dir_ok[1]);
    ck_assert_int_lt(out.last_rc[0], 0);
    ck_assert_ptr_null(strstr(buf_str(&r.log), "never"));
    ck_assert_ptr_nonnull(strstr(buf_str(&r.log), "H1/1 :status: 200\n"));
    ck_assert_int_eq(r.end_reason[1], GW_END_EOF); /* stays open until close */
    buf_free(&r.log);
    sc_free(&sc);
}
END_TEST

START_TEST(test_continuation_x3)
{
    struct script sc;
    struct buf e = { 0 };
    uint8_t block[512];
    sc_init(&sc, true);
    size_t k = encode(sc.enc[0], block, sizeof block, req_nv, GW_ARRAY_LEN(req_nv));
    ck_assert_uint_ge(k, 8);
    size_t cut[5] = { 0, k / 4, k / 2, 3 * k / 4, k };
    sc_frame(&sc, 0, 1, F_END_STREAM, 1, block, cut[1]);
    sc_frame(&sc, 0, 9, 0, 1, block + cut[1], cut[2] - cut[1]);
    sc_frame(&sc, 0, 9, 0, 1, block + cut[2], cut[3] - cut[2]);
    sc_frame(&sc, 0, 9, F_END_HEADERS, 1, block + cut[3], cut[4] - cut[3]);
    buf_printf(&e, "B1\n");
    exp_block(&e, 1, 0, req_nv, GW_ARRAY_LEN(req_nv), true);
    check_script(&sc, NULL, buf_str(&e), true);

    struct rec r;
    struct run out;
    rec_init(&r);
    run_script(&sc, NULL, FEED_WHOLE, 0, &r, &out);
    ck_assert_uint_eq(out.stats.frames_by_type[9], 3);
    ck_assert_uint_eq(out.stats.headers_blocks, 1);
    buf_free(&r.log);
    buf_free(&e);
    sc_free(&sc);
}
END_TEST

START_TEST(test_frame_inside_header_block)
{
    uint8_t block[512], ping[8] = { 0 };
    for (int variant = 0; variant < 2; variant++) {
        struct script sc;
        struct rec r;
        struct run out;
        sc_init(&sc, true);
        size_t k = encode(sc.enc[0], block, sizeof block, req_nv, GW_ARRAY_LEN(req_nv));
        sc_frame(&sc, 0, 1, 0, 1, block, k / 2);
        if (variant == 0) sc_frame(&sc, 0, 6, 0, 0, ping, 8);                          /* PING */
        else sc_frame(&sc, 0, 9, F_END_HEADERS, 3, block + k / 2, k - k / 2); /* wrong stream */
        sc_headers(&sc, 1, 1, 0, resp_nv, GW_ARRAY_LEN(resp_nv));
        rec_init(&r);
        run_script(&sc, NULL, FEED_WHOLE, 0, &r, &out);
        ck_assert_int_eq(r.anomalies[GW_H2_ANOM_CONTINUATION_EXPECTED], 1);
        ck_assert(!out.dir_ok[0]);
        ck_assert_int_eq(out.last_rc[0], GW_ERR_MALFORMED);
        /* the server direction goes on */
        ck_assert(out.dir_ok[1]);
        ck_assert_ptr_nonnull(strstr(buf_str(&r.log), "E1/1 es=0\n"));
        ck_assert_ptr_null(strstr(buf_str(&r.log), "E1/0"));
        buf_free(&r.log);
        sc_free(&sc);
    }
}
END_TEST

/* Request on stream 1 from the client so the server's blocks have a stream. */
static void open_stream1(struct script *sc)
{
    sc_headers(sc, 0, 1, 0, req_nv, GW_ARRAY_LEN(req_nv));
}

static const nghttp2_nv big_resp_nv[] = {
    NV(":status", "200"), NV("content-type", "application/grpc"),
    NV("x-long-one", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
    NV("x-long-two", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
};

/* Server response blocks on stream 1 from the script's server encoder;
 * returns true when the log holds the fields decoded back. */
static int anomalies_of(const struct script *sc, const struct gw_h2_limits *lim, int code, bool *decoded)
{
    struct rec r;
    struct run out;
    struct buf e = { 0 };
    rec_init(&r);
    run_script(sc, lim, FEED_WHOLE, 0, &r, &out);
    exp_block(&e, 1, 1, big_resp_nv, GW_ARRAY_LEN(big_resp_nv), false);
    if (decoded) *decoded = strstr(buf_str(&r.log), buf_str(&e)) != NULL;
    int n = r.anomalies[code];
    buf_free(&e);
    buf_free(&r.log);
    return n;
}

START_TEST(test_table_size_raised)
{
    bool decoded;
    uint8_t block[1024];
    for (int advertise = 0; advertise < 2; advertise++) {
        struct script sc;
        sc_init(&sc, true);
        nghttp2_hd_deflate_del(sc.enc[1]);
        ck_assert_int_eq(nghttp2_hd_deflate_new(&sc.enc[1], 8192), 0);
        ck_assert_int_eq(nghttp2_hd_deflate_change_table_size(sc.enc[1], 8192), 0);
        if (advertise) sc_settings1(&sc, 0, 0x1, 8192);
        open_stream1(&sc);
        size_t k = encode(sc.enc[1], block, sizeof block, big_resp_nv, GW_ARRAY_LEN(big_resp_nv));
        ck_assert_uint_eq(block[0] & 0xe0, 0x20); /* starts with a table size update */
        sc_frame(&sc, 1, 1, F_END_HEADERS, 1, block, k);
        int n = anomalies_of(&sc, NULL, GW_H2_ANOM_HPACK_ERROR, &decoded);
        /* 8192 is accepted only once the client advertised it */
        ck_assert_int_eq(n, advertise ? 0 : 1);
        ck_assert(decoded == (advertise != 0));
        sc_free(&sc);
    }
}
END_TEST

START_TEST(test_table_size_shrunk)
{
    bool decoded;
    struct script sc;
    sc_init(&sc, true);
    sc_settings1(&sc, 0, 0x1, 256);
    sc_ack(&sc, 1);
    ck_assert_int_eq(nghttp2_hd_deflate_change_table_size(sc.enc[1], 256), 0);
    open_stream1(&sc); /* the client's own encoder is unaffected */
    sc_headers(&sc, 1, 1, 0, big_resp_nv, GW_ARRAY_LEN(big_resp_nv));
    ck_assert_int_eq(anomalies_of(&sc, NULL, GW_H2_ANOM_HPACK_ERROR, &decoded), 0);
    ck_assert(decoded);
    sc_free(&sc);
}
END_TEST

START_TEST(test_table_size_shrink_not_signalled)
{
    /* After the ACK the encoder must open its next block with a size update. */
    bool decoded;
    struct script sc;
    sc_init(&sc, true);
    sc_settings1(&sc, 0, 0x1, 256);
    sc_ack(&sc, 1);
    open_stream1(&sc);
    sc_headers(&sc, 1, 1, 0, big_resp_nv, GW_ARRAY_LEN(big_resp_nv));
    ck_assert_int_eq(anomalies_of(&sc, NULL, GW_H2_ANOM_HPACK_ERROR, &decoded), 1);
    ck_assert(!decoded);
    sc_free(&sc);
}
END_TEST

START_TEST(test_table_size_exceeded)
{
    /* The client allows 256; the server's encoder announces 4096. */
    bool decoded;
    struct script sc;
    sc_init(&sc, true);
    sc_settings1(&sc, 0, 0x1, 256);
    sc_ack(&sc, 1);
    ck_assert_int_eq(nghttp2_hd_deflate_change_table_size(sc.enc[1], 4096), 0);
    open_stream1(&sc);
    sc_headers(&sc, 1, 1, 0, big_resp_nv, GW_ARRAY_LEN(big_resp_nv));
    ck_assert_int_eq(anomalies_of(&sc, NULL, GW_H2_ANOM_HPACK_ERROR, &decoded), 1);
    ck_assert(!decoded);
    sc_free(&sc);
}
END_TEST

START_TEST(test_table_size_capped_by_limit)
{
    bool decoded;
    struct script sc;
    sc_init(&sc, true);
    nghttp2_hd_deflate_del(sc.enc[1]);
    ck_assert_int_eq(nghttp2_hd_deflate_new(&sc.enc[1], 65536), 0);
    ck_assert_int_eq(nghttp2_hd_deflate_change_table_size(sc.enc[1], 65536), 0);
    sc_settings1(&sc, 0, 0x1, 65536);
    open_stream1(&sc);
    sc_headers(&sc, 1, 1, 0, big_resp_nv, GW_ARRAY_LEN(big_resp_nv));
    struct gw_h2_limits small = { 16, 4096, 65536, NULL };
    struct gw_h2_limits large = { 16, 65536, 65536, NULL };
    ck_assert_int_eq(anomalies_of(&sc, &small, GW_H2_ANOM_HPACK_ERROR, &decoded), 1);
    ck_assert(!decoded);
    ck_assert_int_eq(anomalies_of(&sc, &large, GW_H2_ANOM_HPACK_ERROR, &decoded), 0);
    ck_assert(decoded);
    sc_free(&sc);
}
END_TEST

START_TEST(test_table_size_before_ack)
{
    /* Blocks the server sent before its ACK may or may not carry the
     * update; both must decode (a real decoder keeps the old size until
     * the ACK). */
    uint8_t block[1024];
    for (int signalled = 0; signalled < 2; signalled++) {
        bool decoded;
        struct script sc;
        sc_init(&sc, true);
        sc_settings1(&sc, 0, 0x1, 256);
        if (signalled) ck_assert_int_eq(nghttp2_hd_deflate_change_table_size(sc.enc[1], 256), 0);
        open_stream1(&sc);
        size_t k = encode(sc.enc[1], block, sizeof block, big_resp_nv, GW_ARRAY_LEN(big_resp_nv));
        sc_frame(&sc, 1, 1, F_END_HEADERS, 1, block, k);
        sc_ack(&sc, 1);
        if (!signalled) ck_assert_int_eq(nghttp2_hd_deflate_change_table_size(sc.enc[1], 256), 0);
        /* a second response block after the ACK, on stream 3 */
        static const nghttp2_nv req3[] = { NV(":method", "GET"), NV(":path", "/three") };
        sc_headers(&sc, 0, 3, 0, req3, GW_ARRAY_LEN(req3));
        k = encode(sc.enc[1], block, sizeof block, big_resp_nv, GW_ARRAY_LEN(big_resp_nv));
        sc_frame(&sc, 1, 1, F_END_HEADERS, 3, block, k);
        ck_assert_int_eq(anomalies_of(&sc, NULL, GW_H2_ANOM_HPACK_ERROR, &decoded), 0);
        ck_assert(decoded);
        sc_free(&sc);
    }
}
END_TEST

START_TEST(test_table_size_during_open_block)
{
    /* The client raises the server's table size while a server header block
     * is open; the change waits for the block's end. */
    bool decoded;
    uint8_t block[1024];
    struct script sc;
    struct buf e = { 0 };
    sc_init(&sc, true);
    open_stream1(&sc);
    static const nghttp2_nv first[] = { NV(":status", "200"), NV("x-a", "1") };
    size_t k = encode(sc.enc[1], block, sizeof block, first, GW_ARRAY_LEN(first));
    sc_frame(&sc, 1, 1, 0, 1, block, k / 2);
    sc_settings1(&sc, 0, 0x1, 8192);
    sc_frame(&sc, 1, 9, F_END_HEADERS, 1, block + k / 2, k - k / 2);
    nghttp2_hd_deflate_del(sc.enc[1]);
    ck_assert_int_eq(nghttp2_hd_deflate_new(&sc.enc[1], 8192), 0);
    ck_assert_int_eq(nghttp2_hd_deflate_change_table_size(sc.enc[1], 8192), 0);
    /* A fresh encoder starts with an empty table: a size update of 0
     * (0x20) in front of its own update to 8192 empties the decoder's too. */
    block[0] = 0x20;
    size_t k2 = encode(sc.enc[1], block + 1, sizeof block - 1, big_resp_nv, GW_ARRAY_LEN(big_resp_nv));
    sc_frame(&sc, 1, 1, F_END_HEADERS, 1, block, k2 + 1);
    ck_assert_int_eq(anomalies_of(&sc, NULL, GW_H2_ANOM_HPACK_ERROR, &decoded), 0);
    ck_assert(decoded);
    struct rec r;
    struct run out;
    rec_init(&r);
    run_script(&sc, NULL, FEED_BYTES, 0, &r, &out);
    exp_block(&e, 1, 1, first, GW_ARRAY_LEN(first), false);
    ck_assert_ptr_nonnull(strstr(buf_str(&r.log), buf_str(&e)));
    ck_assert_uint_eq(out.stats.anomalies, 0);
    buf_free(&r.log);
    buf_free(&e);
    sc_free(&sc);
}
END_TEST

static uint64_t run_big_data(bool server_raises, bool client_raises, int *too_large)
{
    struct script sc;
    struct rec r;
    struct run out;
    static char big[20001];
    memset(big, 'x', 20000);
    big[20000] = 0;
    sc_init(&sc, true);
    if (server_raises) sc_settings1(&sc, 1, 0x5, 32768);
    if (client_raises) sc_settings1(&sc, 0, 0x5, 32768);
    open_stream1(&sc);
    sc_data(&sc, 0, 1, F_END_STREAM, big);
    rec_init(&r);
    r.log_data_bytes = false;
    run_script(&sc, NULL, FEED_WHOLE, 0, &r, &out);
    *too_large = r.anomalies[GW_H2_ANOM_FRAME_TOO_LARGE];
    ck_assert_ptr_nonnull(strstr(buf_str(&r.log), "Z1/0\n")); /* the frame was still followed */
    ck_assert_uint_eq(out.stats.anomalies, (uint64_t)*too_large);
    uint64_t n = r.data_bytes[0];
    buf_free(&r.log);
    sc_free(&sc);
    return n;
}

START_TEST(test_max_frame_size)
{
    int too_large;
    ck_assert_uint_eq(run_big_data(false, false, &too_large), 20000);
    ck_assert_int_eq(too_large, 1);
    ck_assert_uint_eq(run_big_data(true, false, &too_large), 20000);
    ck_assert_int_eq(too_large, 0);
    /* the client's own setting governs what the server sends, not this */
    ck_assert_uint_eq(run_big_data(false, true, &too_large), 20000);
    ck_assert_int_eq(too_large, 1);
}
END_TEST

START_TEST(test_max_frame_size_invalid_value)
{
    struct script sc;
    struct rec r;
    struct run out;
    sc_init(&sc, true);
    sc_settings1(&sc, 1, 0x5, 100); /* below 16384: illegal */
    open_stream1(&sc);
    rec_init(&r);
    run_script(&sc, NULL, FEED_WHOLE, 0, &r, &out);
    ck_assert_int_eq(r.anomalies[GW_H2_ANOM_BAD_FRAME], 1);
    ck_assert(out.dir_ok[0] && out.dir_ok[1]);
    ck_assert_ptr_nonnull(strstr(buf_str(&r.log), "E1/0 es=0\n"));
    buf_free(&r.log);
    sc_free(&sc);
}
END_TEST

START_TEST(test_rst_stream)
{
    struct script sc;
    struct buf e = { 0 };
    uint8_t code[4];
    sc_init(&sc, true);
    open_stream1(&sc);
    be32(code, 8); /* CANCEL */
    sc_frame(&sc, 1, 3, 0, 1, code, 4);
    sc_data(&sc, 0, 1, F_END_STREAM, "late"); /* after the reset: ignored */
    buf_printf(&e, "B1\n");
    exp_block(&e, 1, 0, req_nv, GW_ARRAY_LEN(req_nv), false);
    buf_printf(&e, "R1/1 8\nX1 r%d rst1 es00\n", GW_END_RST);
    check_script(&sc, NULL, buf_str(&e), true);
    buf_free(&e);
    sc_free(&sc);
}
END_TEST

START_TEST(test_goaway)
{
    struct script sc;
    struct rec r;
    struct run out;
    uint8_t ga[12];
    sc_init(&sc, true);
    static const nghttp2_nv get[] = { NV(":method", "GET"), NV(":path", "/") };
    for (uint32_t sid = 1; sid <= 5; sid += 2) sc_headers(&sc, 0, sid, 0, get, GW_ARRAY_LEN(get));
    be32(ga, 3);
    be32(ga + 4, 0);
    memcpy(ga + 8, "dbg!", 4); /* debug data is skipped */
    sc_frame(&sc, 1, 7, 0, 0, ga, sizeof ga);
    sc_headers(&sc, 1, 1, F_END_STREAM, resp_nv, GW_ARRAY_LEN(resp_nv));
    rec_init(&r);
    run_script(&sc, NULL, FEED_WHOLE, 0, &r, &out);
    ck_assert_ptr_nonnull(strstr(buf_str(&r.log), "G1 3 0\nX5 r2 rst0 es00\nH1/1 :status: 200\n"));
    ck_assert_int_eq(r.end_reason[5], GW_END_GOAWAY);
    ck_assert_int_eq(r.end_reason[1], GW_END_EOF);
    ck_assert_int_eq(r.end_reason[3], GW_END_EOF);
    for (int sid = 1; sid <= 5; sid += 2) ck_assert_int_eq(r.ends[sid], 1);
    ck_assert_uint_eq(out.stats.open_streams, 2);
    ck_assert_uint_eq(out.stats.anomalies, 0);
    buf_free(&r.log);
    sc_free(&sc);
}
END_TEST

START_TEST(test_push_promise)
{
    struct script sc;
    struct buf e = { 0 };
    uint8_t block[512], pp[600];
    static const nghttp2_nv get[] = { NV(":method", "GET"), NV(":scheme", "http"), NV(":path", "/") };
    static const nghttp2_nv pushed[] = { NV(":method", "GET"), NV(":scheme", "http"), NV(":path", "/style.css") };
    sc_init(&sc, true);
    sc_headers(&sc, 0, 1, F_END_STREAM, get, GW_ARRAY_LEN(get));
    size_t k = encode(sc.enc[1], block, sizeof block, pushed, GW_ARRAY_LEN(pushed));
    be32(pp, 2);
    memcpy(pp + 4, block, k);
    sc_frame(&sc, 1, 5, F_END_HEADERS, 1, pp, 4 + k);
    sc_headers(&sc, 1, 2, 0, resp_nv, GW_ARRAY_LEN(resp_nv));
    sc_data(&sc, 1, 2, F_END_STREAM, "body{}");
    sc_headers(&sc, 1, 1, F_END_STREAM, resp_nv, GW_ARRAY_LEN(resp_nv));

    buf_printf(&e, "B1\n");
    exp_block(&e, 1, 0, get, GW_ARRAY_LEN(get), true);
    buf_printf(&e, "B2\n");
    exp_block(&e, 2, 0, pushed, GW_ARRAY_LEN(pushed), true);
    exp_block(&e, 2, 1, resp_nv, GW_ARRAY_LEN(resp_nv), false);
    buf_printf(&e, "D2/1:body{}\nZ2/1\nX2 r0 rst0 es11\n");
    exp_block(&e, 1, 1, resp_nv, GW_ARRAY_LEN(resp_nv), true);
    buf_printf(&e, "X1 r0 rst0 es11\n");
    check_script(&sc, NULL, buf_str(&e), true);
    buf_free(&e);
    sc_free(&sc);
}
END_TEST

START_TEST(test_client_goaway_ends_pushed)
{
    struct script sc;
    struct rec r;
    struct run out;
    uint8_t block[512], pp[600], ga[8];
    static const nghttp2_nv get[] = { NV(":method", "GET"), NV(":path", "/") };
    sc_init(&sc, true);
    sc_headers(&sc, 0, 1, 0, get, GW_ARRAY_LEN(get));
    size_t k = encode(sc.enc[1], block, sizeof block, get, GW_ARRAY_LEN(get));
    be32(pp, 2);
    memcpy(pp + 4, block, k);
    sc_frame(&sc, 1, 5, F_END_HEADERS, 1, pp, 4 + k);
    be32(ga, 0);
    be32(ga + 4, 2);
    sc_frame(&sc, 0, 7, 0, 0, ga, 8);
    rec_init(&r);
    run_script(&sc, NULL, FEED_WHOLE, 0, &r, &out);
    ck_assert_ptr_nonnull(strstr(buf_str(&r.log), "G0 0 2\nX2 r2 "));
    ck_assert_int_eq(r.end_reason[2], GW_END_GOAWAY);
    ck_assert_int_eq(r.end_reason[1], GW_END_EOF); /* the client's own stream is not covered */
    buf_free(&r.log);
    sc_free(&sc);
}
END_TEST

START_TEST(test_stream_cap)
{
    struct script sc;
    struct rec r;
    struct run out;
    struct buf e = { 0 };
    static const nghttp2_nv s1[] = { NV(":method", "GET"), NV(":path", "/1") };
    static const nghttp2_nv s3[] = { NV(":method", "GET"), NV(":path", "/3") };
    static const nghttp2_nv s5[] = { NV(":method", "GET"), NV(":path", "/5"), NV("x-five", "only-in-five") };
    static const nghttp2_nv s7[] = { NV(":method", "GET"), NV(":path", "/7"), NV("x-five", "only-in-five") };
    sc_init(&sc, true);
    sc_headers(&sc, 0, 1, 0, s1, 2);
    sc_headers(&sc, 0, 3, 0, s3, 2);
    sc_headers(&sc, 0, 5, 0, s5, 3);
    sc_data(&sc, 0, 5, F_END_STREAM, "ignored");
    sc_headers(&sc, 1, 5, F_END_STREAM, resp_nv, GW_ARRAY_LEN(resp_nv));
    sc_data(&sc, 0, 1, F_END_STREAM, "one");
    sc_headers(&sc, 1, 1, F_END_STREAM, resp_nv, GW_ARRAY_LEN(resp_nv));
    /* stream 7 refers to the table entry stream 5's block added */
    size_t k = sc_headers(&sc, 0, 7, 0, s7, 3);
    ck_assert_uint_lt(k, 12);
    struct gw_h2_limits lim = { 2, 4096, 65536, NULL };
    rec_init(&r);
    run_script(&sc, &lim, FEED_WHOLE, 0, &r, &out);
    ck_assert_int_eq(r.anomalies[GW_H2_ANOM_TOO_MANY_STREAMS], 1);
    ck_assert_ptr_nonnull(strstr(buf_str(&r.log), "A0 8 5\n"));
    ck_assert_ptr_null(strstr(buf_str(&r.log), "B5"));
    ck_assert_ptr_null(strstr(buf_str(&r.log), "ignored"));
    exp_block(&e, 7, 0, s7, 3, false);
    ck_assert_ptr_nonnull(strstr(buf_str(&r.log), buf_str(&e)));
    ck_assert_int_eq(r.end_reason[1], GW_END_STREAM);
    ck_assert_int_eq(r.begins, 3);
    ck_assert_uint_eq(out.stats.max_open_streams, 2);
    ck_assert_uint_eq(out.stats.anomalies, 1);
    ck_assert(out.dir_ok[0] && out.dir_ok[1]);
    buf_free(&r.log);
    buf_free(&e);
    sc_free(&sc);
}
END_TEST

START_TEST(test_many_streams_table_growth)
{
    /* 300 concurrent streams, then all ended out of order: exercises the
     * index growth and deletion. */
    struct script sc;
    struct rec r;
    struct run out;
    static const nghttp2_nv get[] = { NV(":method", "GET"), NV(":path", "/") };
    sc_init(&sc, true);
    for (uint32_t i = 0; i < 300; i++) sc_headers(&sc, 0, 1 + 2 * i, F_END_STREAM, get, 2);
    for (uint32_t i = 0; i < 300; i++) {
        uint32_t j = (i * 7) % 300; /* 7 is coprime to 300: a permutation */
        sc_headers(&sc, 1, 1 + 2 * j, F_END_STREAM, resp_nv, GW_ARRAY_LEN(resp_nv));
    }
    struct gw_h2_limits lim = { 1000, 4096, 65536, NULL };
    rec_init(&r);
    run_script(&sc, &lim, FEED_WHOLE, 0, &r, &out);
    ck_assert_int_eq(r.begins, 300);
    ck_assert_uint_eq(out.stats.max_open_streams, 300);
    ck_assert_uint_eq(out.stats.open_streams, 0);
    ck_assert_uint_eq(out.stats.anomalies, 0);
    for (uint32_t i = 0; i < 300; i++) {
        uint32_t sid = 1 + 2 * i;
        if (sid < MAX_SID) {
            ck_assert_int_eq(r.ends[sid], 1);
            ck_assert_int_eq(r.end_reason[sid], GW_END_STREAM);
        }
    }
    ck_assert_uint_eq(out.stats.headers_blocks, 600);
    buf_free(&r.log);
    sc_free(&sc);
}
END_TEST

START_TEST(test_header_list_cap)
{
    struct script sc;
    struct rec r;
    struct run out;
    struct buf e = { 0 };
    /* each field: 10 + 40 + 32 = 82 bytes; the third passes 200 */
    static const nghttp2_nv many[] = {
        NV("x-field-01", "0123456789012345678901234567890123456789"),
        NV("x-field-02", "0123456789012345678901234567890123456789"),
        NV("x-field-03", "0123456789012345678901234567890123456789"),
        NV("x-field-04", "0123456789012345678901234567890123456789"),
    };
    sc_init(&sc, true);
    sc_headers(&sc, 0, 1, 0, many, 4);
    sc_headers(&sc, 0, 3, 0, many + 2, 2); /* indexed from stream 1's block */
    struct gw_h2_limits lim = { 16, 4096, 200, NULL };
    rec_init(&r);
    run_script(&sc, &lim, FEED_WHOLE, 0, &r, &out);
    buf_printf(&e, "B1\n");
    exp_fields(&e, 1, 0, many, 2);
    buf_printf(&e, "A0 %d 1\nE1/0 es=0\nB3\n", GW_H2_ANOM_HEADER_LIST_TOO_LARGE);
    exp_block(&e, 3, 0, many + 2, 2, false);
    ck_assert_str_eq(buf_str(&r.log), buf_str(&e));
    ck_assert(out.dir_ok[0]);
    buf_free(&r.log);
    buf_free(&e);
    sc_free(&sc);
}
END_TEST

START_TEST(test_bad_preface)
{
    static const char http1[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        struct script sc;
        struct rec r;
        struct run out;
        sc_init(&sc, false);
        sc_raw(&sc, 0, http1, strlen(http1));
        sc_headers(&sc, 1, 1, 0, resp_nv, GW_ARRAY_LEN(resp_nv));
        rec_init(&r);
        run_script(&sc, NULL, bytewise ? FEED_BYTES : FEED_WHOLE, 0, &r, &out);
        ck_assert_int_eq(r.anomalies[GW_H2_ANOM_BAD_PREFACE], 1);
        ck_assert_uint_eq(out.stats.anomalies, 1);
        ck_assert(!out.dir_ok[0]);
        ck_assert_int_eq(out.last_rc[0], GW_ERR_MALFORMED);
        ck_assert_uint_eq(out.stats.frames[0], 0);
        ck_assert(out.dir_ok[1]);
        ck_assert_ptr_nonnull(strstr(buf_str(&r.log), "H1/1 :status: 200\n"));
        buf_free(&r.log);
        sc_free(&sc);
    }
}
END_TEST

START_TEST(test_thirty_requests_dynamic_table)
{
    struct script sc;
    struct buf e = { 0 };
    sc_init(&sc, true);
    size_t first_len = 0, last_len = 0;
    for (uint32_t i = 0; i < 30; i++) {
        uint32_t sid = 1 + 2 * i;
        char path[32], rid[32], body[32];
        snprintf(path, sizeof path, "/svc.S/M%u", i % 3);
        snprintf(rid, sizeof rid, "req-%u", i % 5);
        snprintf(body, sizeof body, "payload-%u", i);
        nghttp2_nv nv[] = {
            NV(":method", "POST"), NV(":scheme", "http"),
            { (uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0 },
            NV(":authority", "host:50051"), NV("content-type", "application/grpc"),
            NV("user-agent", "grpc-c/1.0"),
            { (uint8_t *)"x-request-id", (uint8_t *)rid, 12, strlen(rid), 0 },
            NV("x-tenant", "tenant-blue"),
        };
        size_t k = sc_headers(&sc, 0, sid, 0, nv, GW_ARRAY_LEN(nv));
        if (i == 0) first_len = k;
        last_len = k;
        sc_data(&sc, 0, sid, F_END_STREAM, body);
        sc_headers(&sc, 1, sid, 0, resp_nv, GW_ARRAY_LEN(resp_nv));
        sc_headers(&sc, 1, sid, F_END_STREAM, trailer_nv, GW_ARRAY_LEN(trailer_nv));
        buf_printf(&e, "B%u\n", sid);
        exp_block(&e, sid, 0, nv, GW_ARRAY_LEN(nv), false);
        buf_printf(&e, "D%u/0:%s\nZ%u/0\n", sid, body, sid);
        exp_block(&e, sid, 1, resp_nv, GW_ARRAY_LEN(resp_nv), false);
        exp_block(&e, sid, 1, trailer_nv, GW_ARRAY_LEN(trailer_nv), true);
        buf_printf(&e, "X%u r0 rst0 es11\n", sid);
    }
    /* the encoder really refers to its dynamic table */
    ck_assert_uint_lt(last_len * 3, first_len);
    check_script(&sc, NULL, buf_str(&e), false);
    struct rec r;
    struct run out;
    rec_init(&r);
    run_script(&sc, NULL, FEED_BYTES, 0, &r, &out);
    ck_assert_str_eq(buf_str(&r.log), buf_str(&e));
    ck_assert_uint_eq(out.stats.headers_blocks, 90);
    buf_free(&r.log);
    buf_free(&e);
    sc_free(&sc);
}
END_TEST

/* n requests, each with a field of a new value (inserted into the table):
 * the log expected, in e. */
static void build_unique_requests(struct script *sc, struct buf *e, uint32_t n)
{
    sc_init(sc, true);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t sid = 1 + 2 * i;
        char trace[96];
        snprintf(trace, sizeof trace, "trace-%04u-%070u", i, i);
        nghttp2_nv nv[] = {
            NV(":method", "POST"), NV(":scheme", "http"), NV(":path", "/svc.S/M"),
            NV(":authority", "host:50051"), NV("content-type", "application/grpc"),
            { (uint8_t *)"x-trace", (uint8_t *)trace, 7, strlen(trace), 0 },
        };
        sc_headers(sc, 0, sid, F_END_STREAM, nv, GW_ARRAY_LEN(nv));
        sc_headers(sc, 1, sid, F_END_STREAM, resp_nv, GW_ARRAY_LEN(resp_nv));
        buf_printf(e, "B%u\n", sid);
        exp_block(e, sid, 0, nv, GW_ARRAY_LEN(nv), true);
        exp_block(e, sid, 1, resp_nv, GW_ARRAY_LEN(resp_nv), true);
        buf_printf(e, "X%u r0 rst0 es11\n", sid);
    }
}

/* Runs sc on a pooled connection; returns the pool blocks it took. */
static uint64_t pooled_run(const struct script *sc, const char *expected)
{
    struct gw_pool *pool = gw_pool_create(8u << 20);
    struct gw_h2_limits lim = { 16, 4096, 65536, pool };
    struct rec r;
    struct run out;
    rec_init(&r);
    run_script(sc, &lim, FEED_WHOLE, 0, &r, &out);
    ck_assert_str_eq(buf_str(&r.log), expected);
    buf_free(&r.log);
    const struct gw_pool_stats *st = gw_pool_stats(pool);
    /* everything the connection and its decoders took came back */
    ck_assert_uint_eq(st->in_use, 0);
    uint64_t taken = st->reused + st->allocated + st->big;
    gw_pool_destroy(pool);
    return taken;
}

/* The decoders' memory: every block a connection and its two HPACK
 * decoders take comes from the connection's pool and goes back to it
 * (pooled_run: nothing stays in use; under ASan nothing leaks), decoding is
 * the same with and without a pool, and a table entry is one block: 80
 * more unique fields inserted (into a 4 KiB table, so most are evicted
 * again) take about one block each, not several. */
START_TEST(test_decoder_memory_pooled)
{
    struct script sc;
    struct buf e = { 0 };
    build_unique_requests(&sc, &e, 2);
    uint64_t few = pooled_run(&sc, buf_str(&e));
    check_script(&sc, NULL, buf_str(&e), false);
    buf_free(&e);
    sc_free(&sc);

    build_unique_requests(&sc, &e, 82);
    uint64_t many = pooled_run(&sc, buf_str(&e));
    check_script(&sc, NULL, buf_str(&e), false);
    ck_assert_uint_gt(many, few + 80);      /* the 80 entries from the pool */
    ck_assert_uint_lt(many, few + 200);     /* an entry and a stream each, little more */
    buf_free(&e);
    sc_free(&sc);
}
END_TEST

START_TEST(test_server_side_only)
{
    struct script sc;
    struct rec r;
    struct run out;
    struct buf e = { 0 };
    sc_init(&sc, false);
    sc_settings1(&sc, 1, 0x3, 100);
    sc_headers(&sc, 1, 1, 0, resp_nv, GW_ARRAY_LEN(resp_nv));
    sc_data(&sc, 1, 1, 0, "abc");
    sc_headers(&sc, 1, 1, F_END_STREAM, trailer_nv, GW_ARRAY_LEN(trailer_nv));
    buf_printf(&e, "B1\n");
    exp_block(&e, 1, 1, resp_nv, GW_ARRAY_LEN(resp_nv), false);
    buf_printf(&e, "D1/1:abc\n");
    exp_block(&e, 1, 1, trailer_nv, GW_ARRAY_LEN(trailer_nv), true);
    check_script(&sc, NULL, buf_str(&e), true);
    rec_init(&r);
    run_script(&sc, NULL, FEED_WHOLE, 0, &r, &out);
    ck_assert_int_eq(r.end_reason[1], GW_END_EOF); /* the request side was never seen */
    ck_assert_uint_eq(out.stats.anomalies, 0);
    buf_free(&r.log);
    buf_free(&e);
    sc_free(&sc);
}
END_TEST

/* A hole outside any DATA payload: the direction looks for the next frame
 * boundary (h2.h "Gaps") instead of stopping; until one is confirmed the
 * bytes are held and nothing is decoded. */
START_TEST(test_gap_resyncs_direction)
{
    struct script sc;
    struct rec r;
    sc_init(&sc, true);
    open_stream1(&sc);
    rec_init(&r);
    struct gw_h2_conn *c = gw_h2_conn_create(NULL, &rec_cb, &r);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(gw_h2_conn_feed(c, 0, sc.part[0].p, sc.part[0].n, 1), GW_OK);
    gw_h2_conn_gap(c, 0, 100, 2);
    ck_assert(gw_h2_conn_dir_ok(c, 0));
    ck_assert(gw_h2_conn_dir_ok(c, 1));
    ck_assert_int_eq(r.anomalies[GW_H2_ANOM_GAP], 1);
    ck_assert_int_eq(gw_h2_conn_feed(c, 0, sc.part[0].p, 9, 3), GW_OK); /* held: one header proves nothing */
    ck_assert_uint_eq(gw_h2_conn_dir_resynced(c, 0), 0);
    ck_assert_uint_eq(gw_h2_conn_stats(c)->gaps_resynced[0] + gw_h2_conn_stats(c)->gaps_stopped[0], 0);
    ck_assert_uint_eq(gw_h2_conn_stats(c)->open_streams, 1);
    gw_h2_conn_close(c, GW_END_EOF, 4);
    ck_assert_int_eq(r.end_reason[1], GW_END_EOF);
    ck_assert_uint_eq(gw_h2_conn_stats(c)->open_streams, 0);
    gw_h2_conn_destroy(c);
    ck_assert_int_eq(r.ends[1], 1);
    buf_free(&r.log);
    sc_free(&sc);
}
END_TEST

START_TEST(test_destroy_ends_open_streams)
{
    struct script sc;
    struct rec r;
    sc_init(&sc, true);
    open_stream1(&sc);
    rec_init(&r);
    struct gw_h2_conn *c = gw_h2_conn_create(NULL, &rec_cb, &r);
    ck_assert_int_eq(gw_h2_conn_feed(c, 0, sc.part[0].p, sc.part[0].n, 1), GW_OK);
    gw_h2_conn_destroy(c);
    ck_assert_int_eq(r.ends[1], 1);
    ck_assert_int_eq(r.end_reason[1], GW_END_CONN_CLOSED);
    buf_free(&r.log);
    sc_free(&sc);
}
END_TEST

START_TEST(test_malformed_control_frames)
{
    struct script sc;
    struct buf e = { 0 };
    uint8_t z[16] = { 0 };
    sc_init(&sc, true);
    sc_frame(&sc, 0, 6, 0, 0, z, 7);            /* PING of 7 bytes */
    sc_frame(&sc, 0, 8, 0, 0, z, 3);            /* WINDOW_UPDATE of 3 */
    sc_frame(&sc, 0, 3, 0, 1, z, 3);            /* RST_STREAM of 3 */
    sc_frame(&sc, 0, 2, 0, 1, z, 4);            /* PRIORITY of 4 */
    sc_frame(&sc, 0, 4, 0, 0, z, 5);            /* SETTINGS of 5 */
    sc_frame(&sc, 0, 4, F_ACK, 0, z, 6);        /* SETTINGS ACK with a payload */
    sc_frame(&sc, 0, 7, 0, 0, z, 4);            /* GOAWAY of 4 */
    sc_frame(&sc, 0, 0, 0, 0, "abc", 3);        /* DATA on stream 0 */
    sc_frame(&sc, 0, 9, F_END_HEADERS, 1, z, 2); /* CONTINUATION with no block */
    sc_frame(&sc, 0, 0x42, 0xff, 7, z, 10);     /* unknown type: ignored */
    sc_frame(&sc, 0, 6, 0, 0, z, 8);            /* a good PING */
    sc_frame(&sc, 0, 2, 0, 1, z, 5);            /* a good PRIORITY */
    sc_frame(&sc, 0, 8, 0, 0, z, 4);            /* a good WINDOW_UPDATE */
    open_stream1(&sc);
    buf_printf(&e, "A0 4 0\nA0 4 0\nA0 4 1\nA0 4 1\nA0 4 0\nA0 4 0\nA0 4 0\nA0 4 0\nA0 4 1\nB1\n");
    exp_block(&e, 1, 0, req_nv, GW_ARRAY_LEN(req_nv), false);
    check_script(&sc, NULL, buf_str(&e), true);
    buf_free(&e);
    sc_free(&sc);
}
END_TEST

START_TEST(test_headers_on_stream_zero_keep_hpack_in_step)
{
    struct script sc;
    struct buf e = { 0 };
    static const nghttp2_nv zero[] = { NV("x-zero", "indexed-here") };
    static const nghttp2_nv one[] = { NV(":method", "GET"), NV("x-zero", "indexed-here") };
    sc_init(&sc, true);
    sc_headers(&sc, 0, 0, 0, zero, 1);
    size_t k = sc_headers(&sc, 0, 1, F_END_STREAM, one, 2);
    ck_assert_uint_eq(k, 2); /* both fields are references */
    buf_printf(&e, "A0 %d 0\nB1\n", GW_H2_ANOM_BAD_FRAME);
    exp_block(&e, 1, 0, one, 2, true);
    check_script(&sc, NULL, buf_str(&e), true);
    buf_free(&e);
    sc_free(&sc);
}
END_TEST

START_TEST(test_closed_stream_not_reopened)
{
    struct script sc;
    struct rec r;
    struct run out;
    sc_init(&sc, true);
    sc_headers(&sc, 0, 3, F_END_STREAM, req_nv, GW_ARRAY_LEN(req_nv));
    sc_headers(&sc, 1, 3, F_END_STREAM, resp_nv, GW_ARRAY_LEN(resp_nv));
    /* late frames on the closed stream 3 and a HEADERS on a lower id */
    sc_headers(&sc, 1, 3, F_END_STREAM, trailer_nv, GW_ARRAY_LEN(trailer_nv));
    sc_headers(&sc, 0, 1, F_END_STREAM, req_nv, GW_ARRAY_LEN(req_nv));
    rec_init(&r);
    run_script(&sc, NULL, FEED_WHOLE, 0, &r, &out);
    ck_assert_int_eq(r.begins, 1);
    ck_assert_int_eq(r.ends[3], 1);
    ck_assert_uint_eq(out.stats.headers_blocks, 4);
    ck_assert(out.dir_ok[0] && out.dir_ok[1]);
    buf_free(&r.log);
    sc_free(&sc);
}
END_TEST

/* ---- RFC 7541 Appendix C through HEADERS frames --------------------------- */

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (const char *p = hex; *p; p++) {
        int v;
        if (*p >= '0' && *p <= '9') v = *p - '0';
        else if (*p >= 'a' && *p <= 'f') v = *p - 'a' + 10;
        else continue;
        if (hi < 0) {
            hi = v;
        } else {
            ck_assert_uint_lt(n, cap);
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    ck_assert_int_eq(hi, -1);
    return n;
}

static void sc_hex_headers(struct script *sc, int dir, uint32_t sid, uint8_t flags, const char *prefix_hex,
                           const char *hex)
{
    uint8_t block[512];
    size_t n = prefix_hex ? unhex(prefix_hex, block, sizeof block) : 0;
    n += unhex(hex, block + n, sizeof block - n);
    sc_frame(sc, dir, 1, (uint8_t)(flags | F_END_HEADERS), sid, block, n);
}

/* RFC 7541 C.3.x / C.4.x header lists */
static const nghttp2_nv c3_1[] = {
    NV(":method", "GET"), NV(":scheme", "http"), NV(":path", "/"), NV(":authority", "www.example.com"),
};
static const nghttp2_nv c3_2[] = {
    NV(":method", "GET"), NV(":scheme", "http"), NV(":path", "/"), NV(":authority", "www.example.com"),
    NV("cache-control", "no-cache"),
};
static const nghttp2_nv c3_3[] = {
    NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/index.html"),
    NV(":authority", "www.example.com"), NV("custom-key", "custom-value"),
};

static void check_rfc_requests(const char *h1, const char *h2, const char *h3)
{
    struct script sc;
    struct buf e = { 0 };
    sc_init(&sc, true);
    sc_hex_headers(&sc, 0, 1, F_END_STREAM, NULL, h1);
    sc_hex_headers(&sc, 0, 3, F_END_STREAM, NULL, h2);
    sc_hex_headers(&sc, 0, 5, F_END_STREAM, NULL, h3);
    buf_printf(&e, "B1\n");
    exp_block(&e, 1, 0, c3_1, GW_ARRAY_LEN(c3_1), true);
    buf_printf(&e, "B3\n");
    exp_block(&e, 3, 0, c3_2, GW_ARRAY_LEN(c3_2), true);
    buf_printf(&e, "B5\n");
    exp_block(&e, 5, 0, c3_3, GW_ARRAY_LEN(c3_3), true);
    check_script(&sc, NULL, buf_str(&e), true);
    buf_free(&e);
    sc_free(&sc);
}

START_TEST(test_rfc7541_c3_requests)
{
    check_rfc_requests("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                       "8286 84be 5808 6e6f 2d63 6163 6865",
                       "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65");
}
END_TEST

START_TEST(test_rfc7541_c4_requests_huffman)
{
    check_rfc_requests("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
                       "8286 84be 5886 a8eb 1064 9cbf",
                       "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf");
}
END_TEST

/* RFC 7541 C.5.x / C.6.x header lists */
static const nghttp2_nv c5_1[] = {
    NV(":status", "302"), NV("cache-control", "private"), NV("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    NV("location", "https://www.example.com"),
};
static const nghttp2_nv c5_2[] = {
    NV(":status", "307"), NV("cache-control", "private"), NV("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    NV("location", "https://www.example.com"),
};
static const nghttp2_nv c5_3[] = {
    NV(":status", "200"), NV("cache-control", "private"), NV("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
    NV("location", "https://www.example.com"), NV("content-encoding", "gzip"),
    NV("set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"),
};

/* The examples assume a 256-byte table on the response side: the client
 * advertises it, the server acknowledges, and (RFC 7541 4.2) the server's
 * first block then opens with a dynamic table size update of 256
 * (001 11111, 225 = 0xe1 0x01), which the examples leave out. */
static void check_rfc_responses(const char *h1, const char *h2, const char *h3)
{
    struct script sc;
    struct buf e = { 0 };
    static const nghttp2_nv get[] = { NV(":method", "GET"), NV(":path", "/") };
    sc_init(&sc, true);
    sc_settings1(&sc, 0, 0x1, 256);
    sc_ack(&sc, 1);
    for (uint32_t sid = 1; sid <= 5; sid += 2) sc_headers(&sc, 0, sid, F_END_STREAM, get, 2);
    sc_hex_headers(&sc, 1, 1, F_END_STREAM, "3fe101", h1);
    sc_hex_headers(&sc, 1, 3, F_END_STREAM, NULL, h2);
    sc_hex_headers(&sc, 1, 5, F_END_STREAM, NULL, h3);
    for (uint32_t sid = 1; sid <= 5; sid += 2) {
        buf_printf(&e, "B%u\n", sid);
        exp_block(&e, sid, 0, get, 2, true);
    }
    exp_block(&e, 1, 1, c5_1, GW_ARRAY_LEN(c5_1), true);
    buf_printf(&e, "X1 r0 rst0 es11\n");
    exp_block(&e, 3, 1, c5_2, GW_ARRAY_LEN(c5_2), true);
    buf_printf(&e, "X3 r0 rst0 es11\n");
    exp_block(&e, 5, 1, c5_3, GW_ARRAY_LEN(c5_3), true);
    buf_printf(&e, "X5 r0 rst0 es11\n");
    check_script(&sc, NULL, buf_str(&e), true);
    buf_free(&e);
    sc_free(&sc);
}

START_TEST(test_rfc7541_c5_responses)
{
    check_rfc_responses(
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 "
        "3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "4803 3330 37c1 c0bf",
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 "
        "7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 "
        "6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31");
}
END_TEST

START_TEST(test_rfc7541_c6_responses_huffman)
{
    check_rfc_responses(
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad "
        "1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 "
        "e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07");
}
END_TEST

START_TEST(test_rfc7541_c5_table_is_256)
{
    /* C.5.3 evicts down to a 256-byte table: afterwards index 62 is the
     * newest entry (set-cookie) and index 65 (cache-control, evicted in a
     * 256-byte table but kept in a 4096-byte one) is out of range. */
    struct script sc;
    struct rec r;
    struct run out;
    static const nghttp2_nv get[] = { NV(":method", "GET"), NV(":path", "/") };
    sc_init(&sc, true);
    sc_settings1(&sc, 0, 0x1, 256);
    sc_ack(&sc, 1);
    sc_headers(&sc, 0, 1, 0, get, 2);
    sc_hex_headers(&sc, 1, 1, 0, "3fe101",
                   "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a "
                   "3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
    sc_hex_headers(&sc, 1, 1, 0, NULL, "4803 3330 37c1 c0bf");
    sc_hex_headers(&sc, 1, 1, 0, NULL,
                   "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 "
                   "677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 "
                   "553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31");
    sc_hex_headers(&sc, 1, 1, 0, NULL, "be");       /* index 62 */
    sc_hex_headers(&sc, 1, 1, 0, NULL, "c1");       /* index 65 */
    rec_init(&r);
    run_script(&sc, NULL, FEED_WHOLE, 0, &r, &out);
    ck_assert_ptr_nonnull(strstr(buf_str(&r.log),
                                 "H1/1 set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1\n"
                                 "E1/1 es=0\n"
                                 "H1/1 set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1\n"
                                 "E1/1 es=0\nA1 6 1\n"));
    ck_assert_int_eq(r.anomalies[GW_H2_ANOM_HPACK_ERROR], 1);
    buf_free(&r.log);
    sc_free(&sc);
}
END_TEST

START_TEST(test_strings_and_args)
{
    ck_assert_str_eq(gw_end_str(GW_END_RST), "rst_stream");
    ck_assert_str_eq(gw_end_str(99), "unknown");
    ck_assert_str_eq(gw_h2_anomaly_str(GW_H2_ANOM_HPACK_ERROR), "hpack_error");
    ck_assert_str_eq(gw_h2_anomaly_str(0), "unknown");
    struct rec r;
    rec_init(&r);
    struct gw_h2_conn *c = gw_h2_conn_create(NULL, &rec_cb, &r);
    ck_assert_int_eq(gw_h2_conn_feed(c, 2, (const uint8_t *)"x", 1, 0), GW_ERR_ARG);
    ck_assert_int_eq(gw_h2_conn_feed(c, 0, NULL, 1, 0), GW_ERR_ARG);
    ck_assert_int_eq(gw_h2_conn_feed(c, 0, NULL, 0, 0), GW_OK);
    ck_assert(!gw_h2_conn_dir_ok(c, 5));
    gw_h2_conn_destroy(c);
    ck_assert_ptr_null(gw_h2_conn_create(NULL, NULL, NULL));
    buf_free(&r.log);
}
END_TEST

/* on_data tells where each chunk lies in its DATA frame (padding left
 * out), in any chunking. */
START_TEST(test_data_frame_position)
{
    struct script sc;
    sc_init(&sc, true);
    open_stream1(&sc);
    uint8_t padded[1 + 10 + 4] = { 4 };
    memcpy(padded + 1, "0123456789", 10);
    sc_frame(&sc, 0, 0, F_PADDED, 1, padded, sizeof padded);
    sc_data(&sc, 0, 1, 0, "abc");
    sc_frame(&sc, 0, 0, F_PADDED, 1, "\x02xy", 3); /* padding only: no on_data */
    sc_data(&sc, 0, 1, F_END_STREAM, "defgh");
    size_t total = sc_total(&sc);
    for (size_t at = 0; at <= total; at++) {
        struct rec r;
        struct run out;
        rec_init(&r);
        run_script(&sc, NULL, at == total ? FEED_BYTES : FEED_SPLIT, at, &r, &out);
        ck_assert_uint_eq(r.data_bytes[0], 10 + 3 + 5);
        ck_assert_uint_eq(r.data_frames_done[0], 3);
        buf_free(&r.log);
    }
    sc_free(&sc);
}
END_TEST

/* set_one_sided: a server-only capture ends each stream at its trailers,
 * a client-only one at the request's END_STREAM, even when said late. */
START_TEST(test_one_sided)
{
    struct script sc;
    struct rec r;
    sc_init(&sc, false);
    sc_headers(&sc, 1, 1, 0, resp_nv, GW_ARRAY_LEN(resp_nv));
    sc_data(&sc, 1, 1, 0, "abc");
    sc_headers(&sc, 1, 1, F_END_STREAM, trailer_nv, GW_ARRAY_LEN(trailer_nv));
    rec_init(&r);
    struct gw_h2_conn *c = gw_h2_conn_create(NULL, &rec_cb, &r);
    gw_h2_conn_set_one_sided(c, 7); /* ignored */
    gw_h2_conn_set_one_sided(c, GW_DIR_TO_CLIENT);
    ck_assert_int_eq(gw_h2_conn_feed(c, 1, sc.part[0].p, sc.part[0].n, 5), GW_OK);
    ck_assert_int_eq(r.ends[1], 1);
    ck_assert_int_eq(r.end_reason[1], GW_END_STREAM);
    ck_assert_uint_eq(gw_h2_conn_stats(c)->open_streams, 0);
    gw_h2_conn_destroy(c);
    buf_free(&r.log);
    sc_free(&sc);

    sc_init(&sc, true);
    sc_headers(&sc, 0, 1, 0, req_nv, GW_ARRAY_LEN(req_nv));
    sc_data(&sc, 0, 1, F_END_STREAM, "hello");
    sc_headers(&sc, 0, 3, 0, req_nv, GW_ARRAY_LEN(req_nv)); /* still sending */
    rec_init(&r);
    c = gw_h2_conn_create(NULL, &rec_cb, &r);
    ck_assert_int_eq(gw_h2_conn_feed(c, 0, sc.part[0].p, sc.part[0].n, 5), GW_OK);
    ck_assert_int_eq(r.ends[1], 0);
    gw_h2_conn_set_one_sided(c, GW_DIR_TO_SERVER);
    ck_assert_int_eq(r.ends[1], 1);
    ck_assert_int_eq(r.end_reason[1], GW_END_STREAM);
    ck_assert_int_eq(r.ends[3], 0);
    gw_h2_conn_destroy(c);
    ck_assert_int_eq(r.ends[3], 1);
    buf_free(&r.log);
    sc_free(&sc);
    gw_h2_conn_set_one_sided(NULL, 0);
}
END_TEST

/* One-sided, the SETTINGS bounding the present direction's HPACK table are
 * never seen: its decoder takes sizes up to the configured cap. */
START_TEST(test_one_sided_table_size)
{
    for (int one_sided = 0; one_sided < 2; one_sided++) {
        struct script sc;
        struct rec r;
        sc_init(&sc, true);
        nghttp2_hd_deflate_del(sc.enc[0]);
        ck_assert_int_eq(nghttp2_hd_deflate_new(&sc.enc[0], 8192), 0);
        ck_assert_int_eq(nghttp2_hd_deflate_change_table_size(sc.enc[0], 8192), 0);
        sc_headers(&sc, 0, 1, F_END_STREAM, req_nv, GW_ARRAY_LEN(req_nv));
        rec_init(&r);
        struct gw_h2_conn *c = gw_h2_conn_create(NULL, &rec_cb, &r);
        if (one_sided) gw_h2_conn_set_one_sided(c, GW_DIR_TO_SERVER);
        int rc = gw_h2_conn_feed(c, 0, sc.part[0].p, sc.part[0].n, 5);
        if (one_sided) {
            ck_assert_int_eq(rc, GW_OK);
            ck_assert_int_eq(r.ends[1], 1); /* decoded, and ended by END_STREAM */
        } else {
            ck_assert_int_eq(rc, GW_ERR_MALFORMED); /* an update above 4096 */
            ck_assert_int_eq(r.anomalies[GW_H2_ANOM_HPACK_ERROR], 1);
        }
        gw_h2_conn_destroy(c);
        buf_free(&r.log);
        sc_free(&sc);
    }
}
END_TEST

/* ---- stats tables ------------------------------------------------------------------- */

/* A registry table over a struct of `size` bytes of uint64_t counters:
 * offsets in range and aligned, each member once, every member listed
 * (count * 8 == size), paths unique, and each JSON object's fields
 * contiguous with no path both a counter and an object (stats.h). */
static void check_stat_table(const struct gw_stat_field *f, size_t n, size_t size)
{
    ck_assert_uint_eq(n * sizeof(uint64_t), size);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(f[i].offset % sizeof(uint64_t) == 0 && f[i].offset + sizeof(uint64_t) <= size,
                      "%s: offset %u", f[i].path, f[i].offset);
        ck_assert(f[i].merge == GW_STAT_SUM || f[i].merge == GW_STAT_MAX);
        ck_assert(f[i].path[0] != '\0' && f[i].path[0] != '.');
        for (size_t j = 0; j < i; j++) {
            ck_assert_msg(strcmp(f[i].path, f[j].path) != 0, "%s twice", f[i].path);
            ck_assert_msg(f[i].offset != f[j].offset, "%s and %s share an offset", f[i].path, f[j].path);
            size_t lj = strlen(f[j].path);
            ck_assert_msg(!(strncmp(f[i].path, f[j].path, lj) == 0 && f[i].path[lj] == '.'),
                          "%s is a counter and an object", f[j].path);
        }
        /* every object this path is in was open on the field before, or
         * opens here (no reopening) */
        for (const char *dot = strchr(f[i].path, '.'); dot; dot = strchr(dot + 1, '.')) {
            size_t k = (size_t)(dot - f[i].path) + 1;
            bool prev_in = i > 0 && strncmp(f[i - 1].path, f[i].path, k) == 0;
            for (size_t j = 0; j + 1 < i && !prev_in; j++)
                ck_assert_msg(strncmp(f[j].path, f[i].path, k) != 0, "%s reopens %.*s", f[i].path, (int)k, f[i].path);
        }
    }
}

static uint64_t *stat_slot(void *base, const struct gw_stat_field *f)
{
    return (uint64_t *)((uint8_t *)base + f->offset);
}

START_TEST(test_stats_table)
{
    const struct gw_stat_field *f = gw_h2_stat_fields;
    check_stat_table(f, gw_h2_stat_fields_len, sizeof(struct gw_h2_stats));
    check_stat_table(gw_h2guard_stat_fields, gw_h2guard_stat_fields_len,
                     sizeof(struct gw_h2guard_stats) - sizeof(uint64_t) /* `reported`, padded */);
    /* the stats record's keys since the start, first and in order */
    ck_assert_str_eq(f[0].path, "frames_to_server");
    ck_assert_uint_eq(f[0].offset, offsetof(struct gw_h2_stats, frames[GW_DIR_TO_SERVER]));
    ck_assert_str_eq(f[1].path, "frames_to_client");
    ck_assert_uint_eq(f[1].offset, offsetof(struct gw_h2_stats, frames[GW_DIR_TO_CLIENT]));
    ck_assert_str_eq(f[2].path, "header_blocks");
    ck_assert_uint_eq(f[2].offset, offsetof(struct gw_h2_stats, headers_blocks));
    ck_assert_str_eq(f[3].path, "anomalies");
    ck_assert_uint_eq(f[3].offset, offsetof(struct gw_h2_stats, anomalies));
    for (size_t i = 0; i < gw_h2_stat_fields_len; i++)
        ck_assert_int_eq(f[i].merge, f[i].offset == offsetof(struct gw_h2_stats, max_open_streams) ? GW_STAT_MAX
                                                                                              : GW_STAT_SUM);
    /* guard events are named as the events are */
    for (int e = 0; e < GW_H2GUARD_EVENT_COUNT; e++) {
        char want[64];
        snprintf(want, sizeof want, "events.%s", gw_h2guard_event_str(e));
        ck_assert_str_eq(gw_h2guard_stat_fields[e].path, want);
        ck_assert_uint_eq(gw_h2guard_stat_fields[e].offset, offsetof(struct gw_h2guard_stats, events[e]));
    }
}
END_TEST

/* gw_h2_stats_add follows each field's merge rule, for every field of the
 * table: a sum adds, a maximum keeps the larger. */
START_TEST(test_stats_add)
{
    struct gw_h2_stats total, a, b;
    memset(&total, 0, sizeof total);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    for (size_t i = 0; i < gw_h2_stat_fields_len; i++) {
        *stat_slot(&a, &gw_h2_stat_fields[i]) = 100 + i;
        *stat_slot(&b, &gw_h2_stat_fields[i]) = 7 + 3 * i;
    }
    gw_h2_stats_add(&total, &a);
    gw_h2_stats_add(&total, &b);
    gw_h2_stats_add(&total, NULL); /* ignored */
    for (size_t i = 0; i < gw_h2_stat_fields_len; i++) {
        const struct gw_stat_field *f = &gw_h2_stat_fields[i];
        uint64_t want = f->merge == GW_STAT_MAX ? GW_MAX(100 + i, 7 + 3 * i) : (100 + i) + (7 + 3 * i);
        ck_assert_msg(*stat_slot(&total, f) == want, "%s: %llu", f->path, (unsigned long long)*stat_slot(&total, f));
    }
    /* and a real connection's counters add up */
    struct rec r;
    memset(&r, 0, sizeof r);
    memset(&total, 0, sizeof total);
    struct gw_h2_conn *c = gw_h2_conn_create(NULL, &rec_cb, &r);
    const uint8_t ping[17] = { 0, 0, 8, GW_H2_PING };
    gw_h2_conn_feed(c, GW_DIR_TO_SERVER, (const uint8_t *)GW_H2_PREFACE, GW_H2_PREFACE_LEN, 1);
    gw_h2_conn_feed(c, GW_DIR_TO_SERVER, ping, sizeof ping, 1);
    gw_h2_conn_feed(c, GW_DIR_TO_CLIENT, ping, sizeof ping, 2);
    gw_h2_stats_add(&total, gw_h2_conn_stats(c));
    gw_h2_stats_add(&total, gw_h2_conn_stats(c));
    ck_assert_uint_eq(total.frames[0], 2);
    ck_assert_uint_eq(total.frames[1], 2);
    ck_assert_uint_eq(total.frames_by_type[GW_H2_PING], 4);
    gw_h2_conn_destroy(c);
}
END_TEST


static Suite *h2_suite(void)
{
    Suite *s = suite_create("h2");
    TCase *tc = tcase_create("frames");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_exchange_sequence);
    tcase_add_test(tc, test_stats_table);
    tcase_add_test(tc, test_stats_add);
    tcase_add_test(tc, test_exchange_any_chunking);
    tcase_add_test(tc, test_padding_and_priority);
    tcase_add_test(tc, test_bad_padding_fails_direction);
    tcase_add_test(tc, test_continuation_x3);
    tcase_add_test(tc, test_frame_inside_header_block);
    tcase_add_test(tc, test_max_frame_size);
    tcase_add_test(tc, test_max_frame_size_invalid_value);
    tcase_add_test(tc, test_rst_stream);
    tcase_add_test(tc, test_goaway);
    tcase_add_test(tc, test_push_promise);
    tcase_add_test(tc, test_client_goaway_ends_pushed);
    tcase_add_test(tc, test_stream_cap);
    tcase_add_test(tc, test_many_streams_table_growth);
    tcase_add_test(tc, test_header_list_cap);
    tcase_add_test(tc, test_bad_preface);
    tcase_add_test(tc, test_thirty_requests_dynamic_table);
    tcase_add_test(tc, test_decoder_memory_pooled);
    tcase_add_test(tc, test_server_side_only);
    tcase_add_test(tc, test_gap_resyncs_direction);
    tcase_add_test(tc, test_destroy_ends_open_streams);
    tcase_add_test(tc, test_malformed_control_frames);
    tcase_add_test(tc, test_headers_on_stream_zero_keep_hpack_in_step);
    tcase_add_test(tc, test_closed_stream_not_reopened);
    tcase_add_test(tc, test_strings_and_args);
    tcase_add_test(tc, test_data_frame_position);
    tcase_add_test(tc, test_one_sided);
    tcase_add_test(tc, test_one_sided_table_size);
    suite_add_tcase(s, tc);

    TCase *hp = tcase_create("hpack");
    tcase_set_timeout(hp, 60);
    tcase_add_test(hp, test_table_size_raised);
    tcase_add_test(hp, test_table_size_shrunk);
    tcase_add_test(hp, test_table_size_shrink_not_signalled);
    tcase_add_test(hp, test_table_size_exceeded);
    tcase_add_test(hp, test_table_size_capped_by_limit);
    tcase_add_test(hp, test_table_size_before_ack);
    tcase_add_test(hp, test_table_size_during_open_block);
    tcase_add_test(hp, test_rfc7541_c3_requests);
    tcase_add_test(hp, test_rfc7541_c4_requests_huffman);
    tcase_add_test(hp, test_rfc7541_c5_responses);
    tcase_add_test(hp, test_rfc7541_c6_responses_huffman);
    tcase_add_test(hp, test_rfc7541_c5_table_is_256);
    suite_add_tcase(s, hp);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(h2_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
