/*
 * test_grpc.c - gRPC call assembly, driven two ways: straight through the
 * gw_h2_callbacks a session provides, and through a real gw_h2_conn fed
 * with HTTP/2 bytes built here (hand-written frame headers, header blocks
 * from nghttp2's HPACK encoder). Message prefixes follow the gRPC
 * over HTTP/2 spec: 1 flag byte, 4-byte big-endian length.
 */
#include "grpcwatch/grpc.h"
#include "grpcwatch/record.h"

#include <check.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- collecting calls ------------------------------------------------------ */

#define MAX_CALLS 64

struct calls {
    struct gw_grpc_call call[MAX_CALLS];
    int n;
};

static void collect(void *user, struct gw_grpc_call *call)
{
    struct calls *c = user;
    ck_assert_int_lt(c->n, MAX_CALLS);
    c->call[c->n++] = *call;
}

static struct calls *calls_new(void)
{
    struct calls *c = calloc(1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    return c;
}

/* ---- driving the callbacks directly ---------------------------------------- */

struct direct {
    struct gw_grpc_session *sess;
    const struct gw_h2_callbacks *cb;
    struct gw_h2_stream stream;
    struct calls *calls;
};

static void direct_begin(struct direct *d, uint32_t sid, gw_time_us ts)
{
    memset(d, 0, sizeof *d);
    d->calls = calls_new();
    d->sess = gw_grpc_session_create(NULL, collect, d->calls);
    ck_assert_ptr_nonnull(d->sess);
    d->cb = gw_grpc_h2_callbacks();
    d->stream.id = sid;
    d->cb->on_stream_begin(d->sess, &d->stream, ts);
    ck_assert_ptr_nonnull(d->stream.app);
}

static void hdr(struct direct *d, int dir, const char *name, const char *value)
{
    d->cb->on_header(d->sess, &d->stream, dir, (const uint8_t *)name, strlen(name), (const uint8_t *)value,
                     strlen(value));
}

static void hend(struct direct *d, int dir, bool es)
{
    d->cb->on_headers_end(d->sess, &d->stream, dir, es);
}

static void data(struct direct *d, int dir, const uint8_t *p, size_t n)
{
    d->cb->on_data(d->sess, &d->stream, dir, p, n);
}

static void data_end(struct direct *d, int dir)
{
    d->cb->on_data_end(d->sess, &d->stream, dir);
}

static void direct_end(struct direct *d, int reason, gw_time_us ts)
{
    d->cb->on_stream_end(d->sess, &d->stream, reason, ts);
    ck_assert_ptr_null(d->stream.app);
}

static void direct_free(struct direct *d)
{
    gw_grpc_session_destroy(d->sess);
    free(d->calls);
}

/* One gRPC message prefix. */
static size_t msg_prefix(uint8_t *p, uint8_t flag, uint32_t len)
{
    p[0] = flag;
    p[1] = (uint8_t)(len >> 24);
    p[2] = (uint8_t)(len >> 16);
    p[3] = (uint8_t)(len >> 8);
    p[4] = (uint8_t)len;
    return 5;
}

/* Appends a message of len bytes of `fill`. */
static size_t msg(uint8_t *p, uint32_t len, uint8_t fill)
{
    size_t n = msg_prefix(p, 0, len);
    memset(p + n, fill, len);
    return n + len;
}

#define SECRET_AUTH "Bearer SECRET-TOKEN-4417"
#define SECRET_RID "rid-SECRET-9921"
#define SECRET_TRACE "dHJhY2UtU0VDUkVULTc3"

/* memmem, which strict C11 + POSIX headers do not declare. */
static bool contains(const void *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    const uint8_t *h = hay;
    for (size_t i = 0; m <= n && i <= n - m; i++)
        if (memcmp(h + i, needle, m) == 0) return true;
    return false;
}

/* Whether any text the call holds (each field up to its NUL: the bytes
 * after it are not the call's, see gw_grpc_call_init) contains needle. */
static bool call_contains(const struct gw_grpc_call *c, const char *needle)
{
    const char *texts[] = { c->path, c->service, c->method, c->authority.s, c->content_type.s,
                            c->user_agent.s, c->grpc_message.s, c->grpc_encoding.s };
    const size_t sizes[] = { sizeof c->path, sizeof c->service, sizeof c->method,
                             sizeof c->authority.s, sizeof c->content_type.s,
                             sizeof c->user_agent.s, sizeof c->grpc_message.s,
                             sizeof c->grpc_encoding.s };
    for (size_t i = 0; i < GW_ARRAY_LEN(texts); i++)
        if (contains(texts[i], strnlen(texts[i], sizes[i]), needle)) return true;
    for (size_t i = 0; i < c->n_metadata_keys; i++)
        if (contains(c->metadata_keys[i], strnlen(c->metadata_keys[i], GW_GRPC_KEY_MAX), needle))
            return true;
    return false;
}

static void assert_no_secret(const struct gw_grpc_call *call)
{
    static const char *const secrets[] = { SECRET_AUTH, SECRET_RID, SECRET_TRACE, "SECRET" };
    for (size_t i = 0; i < GW_ARRAY_LEN(secrets); i++)
        ck_assert_msg(!call_contains(call, secrets[i]), "%s stored", secrets[i]);
    /* the check itself can see a stored string */
    ck_assert(call_contains(call, "GetInvoice"));
}

static void assert_unary_call(const struct gw_grpc_call *c, uint32_t sid)
{
    ck_assert_uint_eq(c->stream_id, sid);
    ck_assert_str_eq(c->path, "/acme.billing.v1.Invoices/GetInvoice");
    ck_assert(c->path_present && !c->path_truncated);
    ck_assert_str_eq(c->service, "acme.billing.v1.Invoices");
    ck_assert_str_eq(c->method, "GetInvoice");
    ck_assert_str_eq(c->authority.s, "billing:50051");
    ck_assert_str_eq(c->content_type.s, "application/grpc");
    ck_assert_str_eq(c->user_agent.s, "grpc-python/1.51.1 grpc-c/29.0.0 (linux; chttp2)");
    ck_assert_str_eq(c->grpc_encoding.s, "identity");
    ck_assert_uint_eq(c->n_metadata_keys, 3);
    ck_assert_str_eq(c->metadata_keys[0], "authorization");
    ck_assert_str_eq(c->metadata_keys[1], "x-request-id");
    ck_assert_str_eq(c->metadata_keys[2], "trace-bin");
    ck_assert(!c->metadata_keys_truncated);
    ck_assert_int_eq(c->http_status, 200);
    ck_assert_int_eq(c->grpc_status, 0);
    ck_assert(c->grpc_message.present);
    ck_assert_str_eq(c->grpc_message.s, "");
    ck_assert_uint_eq(c->request_messages, 1);
    ck_assert_uint_eq(c->response_messages, 1);
    ck_assert_uint_eq(c->request_bytes, 5 + 7);
    ck_assert_uint_eq(c->response_bytes, 5 + 12);
    ck_assert(c->request_end && c->response_end);
    ck_assert_uint_eq(c->ended_by, GW_END_STREAM);
    ck_assert(!c->midstream);
    assert_no_secret(c);
}

START_TEST(test_unary_direct)
{
    struct direct d;
    uint8_t buf[64];
    direct_begin(&d, 1, 100);
    hdr(&d, 0, ":method", "POST");
    hdr(&d, 0, ":scheme", "http");
    hdr(&d, 0, ":path", "/acme.billing.v1.Invoices/GetInvoice");
    hdr(&d, 0, ":authority", "billing:50051");
    hdr(&d, 0, "content-type", "application/grpc");
    hdr(&d, 0, "te", "trailers");
    hdr(&d, 0, "user-agent", "grpc-python/1.51.1 grpc-c/29.0.0 (linux; chttp2)");
    hdr(&d, 0, "grpc-timeout", "1S");
    hdr(&d, 0, "grpc-encoding", "identity");
    hdr(&d, 0, "grpc-accept-encoding", "identity,deflate,gzip");
    hdr(&d, 0, "authorization", SECRET_AUTH);
    hdr(&d, 0, "X-Request-ID", SECRET_RID);
    hdr(&d, 0, "trace-bin", SECRET_TRACE);
    hdr(&d, 0, "x-request-id", SECRET_RID); /* duplicate, other case */
    hend(&d, 0, false);
    data(&d, 0, buf, msg(buf, 7, 'q'));
    data_end(&d, 0);
    hdr(&d, 1, ":status", "200");
    hdr(&d, 1, "content-type", "application/grpc");
    hend(&d, 1, false);
    data(&d, 1, buf, msg(buf, 12, 'r'));
    hdr(&d, 1, "grpc-status", "0");
    hdr(&d, 1, "grpc-message", "");
    hend(&d, 1, true);
    direct_end(&d, GW_END_STREAM, 200);
    ck_assert_int_eq(d.calls->n, 1);
    assert_unary_call(&d.calls->call[0], 1);
    ck_assert_int_eq(d.calls->call[0].start_ts, 100);
    ck_assert_int_eq(d.calls->call[0].end_ts, 200);
    const struct gw_grpc_stats *st = gw_grpc_session_stats(d.sess);
    ck_assert_uint_eq(st->calls, 1);
    ck_assert_uint_eq(st->non_grpc_streams, 0);
    ck_assert_uint_eq(st->messages[0], 1);
    ck_assert_uint_eq(st->messages[1], 1);
    direct_free(&d);
}
END_TEST

/* ---- driving through a real h2 connection ----------------------------------- */

struct wire {
    uint8_t *p[2];
    size_t n[2], cap[2];
    nghttp2_hd_deflater *enc[2];
};

static void wire_put(struct wire *w, int dir, const void *p, size_t n)
{
    if (w->n[dir] + n > w->cap[dir]) {
        size_t cap = w->cap[dir] ? w->cap[dir] : 1024;
        while (cap < w->n[dir] + n) cap *= 2;
        w->p[dir] = realloc(w->p[dir], cap);
        ck_assert_ptr_nonnull(w->p[dir]);
        w->cap[dir] = cap;
    }
    if (n) memcpy(w->p[dir] + w->n[dir], p, n);
    w->n[dir] += n;
}

static void wire_init(struct wire *w)
{
    memset(w, 0, sizeof *w);
    for (int d = 0; d < 2; d++) ck_assert_int_eq(nghttp2_hd_deflate_new(&w->enc[d], 4096), 0);
    wire_put(w, 0, GW_H2_PREFACE, GW_H2_PREFACE_LEN);
}

static void wire_free(struct wire *w)
{
    for (int d = 0; d < 2; d++) {
        free(w->p[d]);
        nghttp2_hd_deflate_del(w->enc[d]);
    }
}

static void wire_frame(struct wire *w, int dir, uint8_t type, uint8_t flags, uint32_t sid, const void *p,
                       size_t n)
{
    uint8_t h[9] = { (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n, type, flags,
                     (uint8_t)(sid >> 24), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8), (uint8_t)sid };
    wire_put(w, dir, h, 9);
    wire_put(w, dir, p, n);
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE }

static void wire_headers(struct wire *w, int dir, uint32_t sid, bool es, const nghttp2_nv *nv, size_t n)
{
    uint8_t block[4096];
    ssize_t k = nghttp2_hd_deflate_hd(w->enc[dir], block, sizeof block, nv, n);
    ck_assert_int_ge(k, 0);
    wire_frame(w, dir, 1, (uint8_t)(0x4 | (es ? 0x1 : 0)), sid, block, (size_t)k);
}

static void wire_data(struct wire *w, int dir, uint32_t sid, bool es, const uint8_t *p, size_t n)
{
    wire_frame(w, dir, 0, es ? 0x1 : 0, sid, p, n);
}

/* Feeds the client bytes, then the server bytes, then closes. */
static struct calls *wire_run(const struct wire *w, struct gw_grpc_stats *stats)
{
    struct calls *calls = calls_new();
    struct gw_grpc_session *sess = gw_grpc_session_create(NULL, collect, calls);
    struct gw_h2_conn *c = gw_h2_conn_create(NULL, gw_grpc_h2_callbacks(), sess);
    ck_assert_ptr_nonnull(c);
    for (int d = 0; d < 2; d++) ck_assert_int_eq(gw_h2_conn_feed(c, d, w->p[d], w->n[d], 10 + d), GW_OK);
    gw_h2_conn_destroy(c);
    if (stats) *stats = *gw_grpc_session_stats(sess);
    gw_grpc_session_destroy(sess);
    return calls;
}

static const nghttp2_nv unary_req[] = {
    NV(":method", "POST"), NV(":scheme", "http"), NV(":path", "/acme.billing.v1.Invoices/GetInvoice"),
    NV(":authority", "billing:50051"), NV("content-type", "application/grpc"), NV("te", "trailers"),
    NV("user-agent", "grpc-python/1.51.1 grpc-c/29.0.0 (linux; chttp2)"), NV("grpc-timeout", "1S"),
    NV("grpc-encoding", "identity"), NV("grpc-accept-encoding", "identity,deflate,gzip"),
    NV("authorization", SECRET_AUTH), NV("x-request-id", SECRET_RID), NV("trace-bin", SECRET_TRACE),
};
static const nghttp2_nv ok_resp[] = { NV(":status", "200"), NV("content-type", "application/grpc") };
static const nghttp2_nv ok_trailers[] = { NV("grpc-status", "0"), NV("grpc-message", "") };

/* The same, every block of the session and the connection from a pool. */
static struct calls *wire_run_pooled(const struct wire *w, struct gw_pool *pool)
{
    struct calls *calls = calls_new();
    struct gw_h2_limits lim = { .pool = pool };
    struct gw_grpc_session *sess = gw_grpc_session_create(pool, collect, calls);
    struct gw_h2_conn *c = gw_h2_conn_create(&lim, gw_grpc_h2_callbacks(), sess);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_ge(gw_pool_stats(pool)->in_use, 2);
    for (int d = 0; d < 2; d++) ck_assert_int_eq(gw_h2_conn_feed(c, d, w->p[d], w->n[d], 10 + d), GW_OK);
    gw_h2_conn_destroy(c);
    gw_grpc_session_destroy(sess);
    ck_assert_uint_eq(gw_pool_stats(pool)->in_use, 0);
    return calls;
}

START_TEST(test_unary_through_h2)
{
    struct wire w;
    uint8_t buf[64];
    wire_init(&w);
    wire_headers(&w, 0, 1, false, unary_req, GW_ARRAY_LEN(unary_req));
    wire_data(&w, 0, 1, true, buf, msg(buf, 7, 'q'));
    wire_headers(&w, 1, 1, false, ok_resp, GW_ARRAY_LEN(ok_resp));
    wire_data(&w, 1, 1, false, buf, msg(buf, 12, 'r'));
    wire_headers(&w, 1, 1, true, ok_trailers, GW_ARRAY_LEN(ok_trailers));
    struct gw_grpc_stats st;
    struct calls *calls = wire_run(&w, &st);
    ck_assert_int_eq(calls->n, 1);
    assert_unary_call(&calls->call[0], 1);
    ck_assert_uint_eq(st.calls, 1);
    free(calls);
    wire_free(&w);
}
END_TEST

/* Messages: 3 bytes, empty, 300 bytes, 70000 bytes (3 length bytes in use). */
static size_t build_messages(uint8_t *p)
{
    size_t n = 0;
    n += msg(p + n, 3, 'a');
    n += msg(p + n, 0, 0);
    n += msg(p + n, 300, 'b');
    n += msg(p + n, 70000, 'c');
    return n;
}

#define MSGS_LEN (4 * 5 + 3 + 0 + 300 + 70000)

START_TEST(test_pooled_connections_reuse_blocks)
{
    struct wire w;
    uint8_t buf[64];
    wire_init(&w);
    for (uint32_t sid = 1; sid <= 5; sid += 2) {
        wire_headers(&w, 0, sid, false, unary_req, GW_ARRAY_LEN(unary_req));
        wire_data(&w, 0, sid, true, buf, msg(buf, 7, 'q'));
        wire_headers(&w, 1, sid, false, ok_resp, GW_ARRAY_LEN(ok_resp));
        wire_data(&w, 1, sid, false, buf, msg(buf, 12, 'r'));
        wire_headers(&w, 1, sid, true, ok_trailers, GW_ARRAY_LEN(ok_trailers));
    }
    struct gw_pool *pool = gw_pool_create(8u << 20);
    struct calls *first = wire_run_pooled(&w, pool);
    uint64_t allocated = gw_pool_stats(pool)->allocated;
    ck_assert_uint_gt(allocated, 0);
    struct calls *second = wire_run_pooled(&w, pool);
    /* the second connection (streams, HPACK buffers, calls) ran on blocks
     * the first gave back */
    ck_assert_uint_eq(gw_pool_stats(pool)->allocated, allocated);
    ck_assert_uint_eq(gw_pool_stats(pool)->big, 0);
    struct calls *plain = wire_run(&w, NULL);
    ck_assert_int_eq(first->n, 3);
    ck_assert_int_eq(second->n, 3);
    ck_assert_int_eq(plain->n, 3);
    for (int i = 0; i < 3; i++) {
        assert_unary_call(&first->call[i], 1 + 2 * (uint32_t)i);
        assert_unary_call(&second->call[i], 1 + 2 * (uint32_t)i);
    }
    gw_pool_destroy(pool);
    free(first);
    free(second);
    free(plain);
    wire_free(&w);
}
END_TEST

START_TEST(test_messages_any_split_direct)
{
    static uint8_t p[MSGS_LEN];
    size_t n = build_messages(p);
    ck_assert_uint_eq(n, MSGS_LEN);
    /* every split point inside the prefixes and small bodies, and a stride
     * through the large body */
    for (size_t at = 0; at <= n; at += (at < 400 || at > n - 16) ? 1 : 997) {
        struct direct d;
        direct_begin(&d, 1, 0);
        hdr(&d, 0, "content-type", "application/grpc");
        hend(&d, 0, false);
        data(&d, 0, p, at);
        data(&d, 0, p + at, n - at);
        direct_end(&d, GW_END_EOF, 1);
        ck_assert_int_eq(d.calls->n, 1);
        ck_assert_uint_eq(d.calls->call[0].request_messages, 4);
        ck_assert_uint_eq(d.calls->call[0].request_bytes, n);
        direct_free(&d);
    }
    /* one byte at a time */
    struct direct d;
    direct_begin(&d, 1, 0);
    hdr(&d, 0, "content-type", "application/grpc");
    for (size_t i = 0; i < n; i++) data(&d, 0, p + i, 1);
    direct_end(&d, GW_END_EOF, 1);
    ck_assert_uint_eq(d.calls->call[0].request_messages, 4);
    ck_assert_uint_eq(d.calls->call[0].request_bytes, n);
    direct_free(&d);
}
END_TEST

START_TEST(test_messages_split_across_data_frames)
{
    static uint8_t p[MSGS_LEN];
    uint8_t small[128];
    /* small messages so every boundary is cheap: 3, 0, 40, 1 bytes */
    size_t n = 0;
    n += msg(small + n, 3, 'a');
    n += msg(small + n, 0, 0);
    n += msg(small + n, 40, 'b');
    n += msg(small + n, 1, 'c');
    for (size_t at = 0; at <= n; at++) {
        struct wire w;
        wire_init(&w);
        wire_headers(&w, 0, 1, false, unary_req, GW_ARRAY_LEN(unary_req));
        wire_data(&w, 0, 1, false, small, at);
        wire_data(&w, 0, 1, true, small + at, n - at);
        wire_headers(&w, 1, 1, false, ok_resp, GW_ARRAY_LEN(ok_resp));
        wire_headers(&w, 1, 1, true, ok_trailers, GW_ARRAY_LEN(ok_trailers));
        struct calls *calls = wire_run(&w, NULL);
        ck_assert_int_eq(calls->n, 1);
        ck_assert_uint_eq(calls->call[0].request_messages, 4);
        ck_assert_uint_eq(calls->call[0].request_bytes, n);
        ck_assert_uint_eq(calls->call[0].response_messages, 0);
        free(calls);
        wire_free(&w);
    }
    /* the large set in one DATA frame holding several messages (the frame
     * exceeds 16384 bytes: flagged by h2, decoded all the same) */
    size_t big = build_messages(p);
    struct wire w;
    wire_init(&w);
    wire_headers(&w, 0, 1, false, unary_req, GW_ARRAY_LEN(unary_req));
    wire_data(&w, 0, 1, true, p, big);
    struct calls *calls = wire_run(&w, NULL);
    ck_assert_int_eq(calls->n, 1);
    ck_assert_uint_eq(calls->call[0].request_messages, 4);
    ck_assert_uint_eq(calls->call[0].request_bytes, big);
    ck_assert_uint_eq(calls->call[0].ended_by, GW_END_CONN_CLOSED);
    free(calls);
    wire_free(&w);
}
END_TEST

START_TEST(test_huge_declared_length)
{
    /* A 4 GiB - 1 message: counted at its prefix, its body skipped as it
     * comes; a following prefix inside it is not a message. */
    struct direct d;
    uint8_t buf[64];
    direct_begin(&d, 1, 0);
    hdr(&d, 0, "content-type", "application/grpc+proto");
    size_t n = msg_prefix(buf, 1, 0xffffffffu);
    n += msg_prefix(buf + n, 0, 3);
    data(&d, 0, buf, n);
    direct_end(&d, GW_END_RST, 1);
    ck_assert_int_eq(d.calls->n, 1);
    ck_assert_uint_eq(d.calls->call[0].request_messages, 1);
    ck_assert_uint_eq(d.calls->call[0].ended_by, GW_END_RST);
    direct_free(&d);
}
END_TEST

START_TEST(test_server_streaming_eleven)
{
    struct wire w;
    static const nghttp2_nv req[] = {
        NV(":method", "POST"), NV(":scheme", "http"), NV(":path", "/feed.Ticker/Watch"),
        NV(":authority", "ticker"), NV("content-type", "application/grpc+proto"),
    };
    uint8_t buf[256];
    wire_init(&w);
    wire_headers(&w, 0, 1, false, req, GW_ARRAY_LEN(req));
    wire_data(&w, 0, 1, true, buf, msg(buf, 4, 'x'));
    wire_headers(&w, 1, 1, false, ok_resp, GW_ARRAY_LEN(ok_resp));
    /* 11 responses of 10 bytes: 4 frames of 2, one of 3 */
    size_t total = 0;
    for (int frame = 0; frame < 5; frame++) {
        int per = frame == 4 ? 3 : 2;
        size_t n = 0;
        for (int i = 0; i < per; i++) n += msg(buf + n, 10, (uint8_t)('0' + i));
        wire_data(&w, 1, 1, false, buf, n);
        total += n;
    }
    wire_headers(&w, 1, 1, true, ok_trailers, GW_ARRAY_LEN(ok_trailers));
    struct gw_grpc_stats st;
    struct calls *calls = wire_run(&w, &st);
    ck_assert_int_eq(calls->n, 1);
    const struct gw_grpc_call *c = &calls->call[0];
    ck_assert_uint_eq(c->request_messages, 1);
    ck_assert_uint_eq(c->response_messages, 11);
    ck_assert_uint_eq(c->response_bytes, total);
    ck_assert_str_eq(c->service, "feed.Ticker");
    ck_assert_str_eq(c->method, "Watch");
    ck_assert_str_eq(c->content_type.s, "application/grpc+proto");
    ck_assert_uint_eq(st.messages[1], 11);
    free(calls);
    wire_free(&w);
}
END_TEST

START_TEST(test_trailers_only)
{
    struct wire w;
    uint8_t buf[64];
    static const nghttp2_nv only[] = {
        NV(":status", "200"), NV("content-type", "application/grpc"), NV("grpc-status", "5"),
        NV("grpc-message", "invoice%20not%20found"),
    };
    wire_init(&w);
    wire_headers(&w, 0, 1, false, unary_req, GW_ARRAY_LEN(unary_req));
    wire_data(&w, 0, 1, true, buf, msg(buf, 7, 'q'));
    wire_headers(&w, 1, 1, true, only, GW_ARRAY_LEN(only));
    struct calls *calls = wire_run(&w, NULL);
    ck_assert_int_eq(calls->n, 1);
    const struct gw_grpc_call *c = &calls->call[0];
    ck_assert_int_eq(c->grpc_status, 5);
    ck_assert_int_eq(c->http_status, 200);
    ck_assert_str_eq(c->grpc_message.s, "invoice%20not%20found");
    ck_assert_uint_eq(c->response_messages, 0);
    ck_assert(c->request_end && c->response_end);
    ck_assert_uint_eq(c->ended_by, GW_END_STREAM);
    free(calls);
    wire_free(&w);
}
END_TEST

START_TEST(test_non_grpc_stream)
{
    struct wire w;
    static const nghttp2_nv req[] = {
        NV(":method", "GET"), NV(":scheme", "http"), NV(":path", "/index.html"), NV(":authority", "www"),
        NV("content-type", "text/html"),
    };
    static const nghttp2_nv resp[] = { NV(":status", "200"), NV("content-type", "application/grpc") };
    wire_init(&w);
    wire_headers(&w, 0, 1, true, req, GW_ARRAY_LEN(req));
    /* the response claims gRPC, but the request decides when it was seen */
    wire_headers(&w, 1, 1, true, resp, GW_ARRAY_LEN(resp));
    wire_headers(&w, 0, 3, true, unary_req, GW_ARRAY_LEN(unary_req));
    wire_headers(&w, 1, 3, true, ok_resp, GW_ARRAY_LEN(ok_resp));
    struct gw_grpc_stats st;
    struct calls *calls = wire_run(&w, &st);
    ck_assert_int_eq(calls->n, 1);
    ck_assert_uint_eq(calls->call[0].stream_id, 3);
    ck_assert_uint_eq(st.calls, 1);
    ck_assert_uint_eq(st.non_grpc_streams, 1);
    free(calls);
    wire_free(&w);
}
END_TEST

START_TEST(test_non_grpc_response_body)
{
    /* A gRPC request answered by a web server's HTML 404 page: the call is
     * reported, the page is counted in bytes but holds no messages. */
    struct wire w;
    uint8_t buf[64];
    static const nghttp2_nv page_resp[] = { NV(":status", "404"), NV("content-type", "text/html; charset=UTF-8") };
    static const char page[] = "<html><head><title>404 Not Found</title></head></html>";
    wire_init(&w);
    wire_headers(&w, 0, 1, false, unary_req, GW_ARRAY_LEN(unary_req));
    wire_data(&w, 0, 1, true, buf, msg(buf, 11, 'h'));
    wire_headers(&w, 1, 1, false, page_resp, GW_ARRAY_LEN(page_resp));
    wire_data(&w, 1, 1, true, (const uint8_t *)page, strlen(page));
    struct calls *calls = wire_run(&w, NULL);
    ck_assert_int_eq(calls->n, 1);
    const struct gw_grpc_call *c = &calls->call[0];
    ck_assert_int_eq(c->http_status, 404);
    ck_assert_int_eq(c->grpc_status, -1);
    ck_assert_uint_eq(c->request_messages, 1);
    ck_assert_uint_eq(c->response_messages, 0);
    ck_assert_uint_eq(c->response_bytes, strlen(page));
    ck_assert_str_eq(c->content_type.s, "application/grpc"); /* the request's */
    free(calls);
    wire_free(&w);
}
END_TEST

START_TEST(test_rst_stream_ends_call)
{
    struct wire w;
    uint8_t code[4] = { 0, 0, 0, 8 };
    wire_init(&w);
    wire_headers(&w, 0, 1, false, unary_req, GW_ARRAY_LEN(unary_req));
    wire_frame(&w, 0, 3, 0, 1, code, 4);
    struct calls *calls = wire_run(&w, NULL);
    ck_assert_int_eq(calls->n, 1);
    ck_assert_uint_eq(calls->call[0].ended_by, GW_END_RST);
    ck_assert(!calls->call[0].request_end && !calls->call[0].response_end);
    ck_assert_int_eq(calls->call[0].http_status, -1);
    ck_assert_int_eq(calls->call[0].grpc_status, -1);
    free(calls);
    wire_free(&w);
}
END_TEST

START_TEST(test_server_only_capture)
{
    /* No request headers seen: the response content-type marks the call. */
    struct direct d;
    direct_begin(&d, 7, 0);
    hdr(&d, 1, ":status", "200");
    hdr(&d, 1, "content-type", "application/grpc");
    hend(&d, 1, false);
    hdr(&d, 1, "grpc-status", "14");
    hend(&d, 1, true);
    direct_end(&d, GW_END_EOF, 1);
    ck_assert_int_eq(d.calls->n, 1);
    ck_assert(!d.calls->call[0].path_present);
    ck_assert_str_eq(d.calls->call[0].path, "");
    ck_assert_str_eq(d.calls->call[0].service, "");
    ck_assert_int_eq(d.calls->call[0].grpc_status, 14);
    ck_assert_str_eq(d.calls->call[0].content_type.s, "application/grpc");
    direct_free(&d);

    /* and a server-only non-gRPC stream is counted */
    direct_begin(&d, 9, 0);
    hdr(&d, 1, ":status", "200");
    hdr(&d, 1, "content-type", "text/plain");
    direct_end(&d, GW_END_EOF, 1);
    ck_assert_int_eq(d.calls->n, 0);
    ck_assert_uint_eq(gw_grpc_session_stats(d.sess)->non_grpc_streams, 1);
    direct_free(&d);
}
END_TEST

START_TEST(test_content_type_variants)
{
    static const struct {
        const char *ct;
        bool grpc;
    } cases[] = {
        { "application/grpc", true },       { "application/grpc+proto", true },
        { "APPLICATION/GRPC+json", true },  { "application/grpc-web+proto", true },
        { "application/json", false },      { "application/grp", false },
        { "text/application/grpc", false }, { "", false },
    };
    for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
        struct direct d;
        direct_begin(&d, 1, 0);
        hdr(&d, 0, ":path", "/a/b");
        hdr(&d, 0, "content-type", cases[i].ct);
        direct_end(&d, GW_END_STREAM, 1);
        ck_assert_msg(d.calls->n == (cases[i].grpc ? 1 : 0), "content-type '%s'", cases[i].ct);
        direct_free(&d);
    }
    /* request headers without a content-type: not gRPC, even if the response says so */
    struct direct d;
    direct_begin(&d, 1, 0);
    hdr(&d, 0, ":path", "/a/b");
    hend(&d, 0, true);
    hdr(&d, 1, "content-type", "application/grpc");
    direct_end(&d, GW_END_STREAM, 1);
    ck_assert_int_eq(d.calls->n, 0);
    direct_free(&d);
}
END_TEST

START_TEST(test_status_parsing)
{
    static const struct {
        const char *v;
        int32_t want;
    } cases[] = {
        { "0", 0 }, { "5", 5 }, { "16", 16 }, { "999", 999 }, { "1000", -1 }, { "", -1 },
        { "-1", -1 }, { "1a", -1 }, { " 1", -1 }, { "05", 5 },
    };
    for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
        struct direct d;
        direct_begin(&d, 1, 0);
        hdr(&d, 0, "content-type", "application/grpc");
        hdr(&d, 1, ":status", cases[i].v);
        hdr(&d, 1, "grpc-status", cases[i].v);
        direct_end(&d, GW_END_STREAM, 1);
        ck_assert_int_eq(d.calls->call[0].grpc_status, cases[i].want);
        ck_assert_int_eq(d.calls->call[0].http_status, cases[i].want);
        direct_free(&d);
    }
}
END_TEST

START_TEST(test_fields_first_and_last)
{
    struct direct d;
    direct_begin(&d, 1, 0);
    hdr(&d, 0, "host", "from-host:1");
    hdr(&d, 0, ":authority", "from-authority:2"); /* :authority wins over host */
    hdr(&d, 0, "host", "second-host:3");
    hdr(&d, 0, ":path", "/first.S/M");
    hdr(&d, 0, ":path", "/second.S/M");          /* a request field keeps its first value */
    hdr(&d, 0, "content-type", "application/grpc");
    hend(&d, 0, false);
    hdr(&d, 1, ":status", "100");
    hdr(&d, 1, ":status", "200");                 /* a response field keeps its last */
    hdr(&d, 1, "grpc-status", "0");
    hdr(&d, 1, "grpc-status", "13");
    direct_end(&d, GW_END_STREAM, 1);
    const struct gw_grpc_call *c = &d.calls->call[0];
    ck_assert_str_eq(c->authority.s, "from-authority:2");
    ck_assert_str_eq(c->path, "/first.S/M");
    ck_assert_int_eq(c->http_status, 200);
    ck_assert_int_eq(c->grpc_status, 13);
    ck_assert_uint_eq(c->n_metadata_keys, 0); /* host is the authority, not metadata */
    direct_free(&d);

    direct_begin(&d, 1, 0);
    hdr(&d, 0, "content-type", "application/grpc");
    hdr(&d, 0, "host", "only-host");
    direct_end(&d, GW_END_STREAM, 1);
    ck_assert_str_eq(d.calls->call[0].authority.s, "only-host");
    direct_free(&d);
}
END_TEST

START_TEST(test_metadata_caps)
{
    struct direct d;
    char name[128], longname[100];
    direct_begin(&d, 1, 0);
    hdr(&d, 0, "content-type", "application/grpc");
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "X-Key-%02d", i);
        hdr(&d, 0, name, "value");
        hdr(&d, 0, name, "value"); /* duplicates take no room */
    }
    direct_end(&d, GW_END_STREAM, 1);
    const struct gw_grpc_call *c = &d.calls->call[0];
    ck_assert_uint_eq(c->n_metadata_keys, GW_GRPC_MAX_KEYS);
    ck_assert(c->metadata_keys_truncated);
    for (int i = 0; i < GW_GRPC_MAX_KEYS; i++) {
        snprintf(name, sizeof name, "x-key-%02d", i);
        ck_assert_str_eq(c->metadata_keys[i], name);
    }
    direct_free(&d);

    direct_begin(&d, 1, 0);
    hdr(&d, 0, "content-type", "application/grpc");
    memset(longname, 'k', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    hdr(&d, 0, longname, "v");
    hdr(&d, 0, "short", "v");
    direct_end(&d, GW_END_STREAM, 1);
    c = &d.calls->call[0];
    ck_assert_uint_eq(c->n_metadata_keys, 2);
    ck_assert_uint_eq(strlen(c->metadata_keys[0]), GW_GRPC_KEY_MAX - 1);
    ck_assert_int_eq(strncmp(c->metadata_keys[0], longname, GW_GRPC_KEY_MAX - 1), 0);
    ck_assert_str_eq(c->metadata_keys[1], "short");
    ck_assert(c->metadata_keys_truncated);
    direct_free(&d);
}
END_TEST

START_TEST(test_string_truncation)
{
    struct direct d;
    static char longv[1000];
    memset(longv, 'm', sizeof longv - 1);
    longv[0] = '/';
    direct_begin(&d, 1, 0);
    gw_grpc_session_set_midstream(d.sess, true); /* applies to later streams only */
    hdr(&d, 0, "content-type", "application/grpc");
    hdr(&d, 0, ":path", longv);
    hdr(&d, 0, "user-agent", longv);
    hdr(&d, 1, "grpc-message", longv);
    direct_end(&d, GW_END_STREAM, 1);
    const struct gw_grpc_call *c = &d.calls->call[0];
    ck_assert(c->path_present && c->path_truncated);
    ck_assert_uint_eq(strlen(c->path), GW_GRPC_PATH_MAX - 1);
    ck_assert_str_eq(c->service, "");
    ck_assert_str_eq(c->method, "");
    ck_assert(c->user_agent.truncated && c->grpc_message.truncated);
    ck_assert_uint_eq(strlen(c->user_agent.s), GW_GRPC_FIELD_MAX - 1);
    ck_assert_uint_eq(strlen(c->grpc_message.s), GW_GRPC_FIELD_MAX - 1);
    ck_assert(!c->authority.present && !c->authority.truncated);
    ck_assert(!c->midstream);
    /* a stream begun after the flag was set */
    d.stream.app = NULL;
    d.cb->on_stream_begin(d.sess, &d.stream, 5);
    hdr(&d, 0, "content-type", "application/grpc");
    direct_end(&d, GW_END_STREAM, 6);
    ck_assert_int_eq(d.calls->n, 2);
    ck_assert(d.calls->call[1].midstream);
    direct_free(&d);
}
END_TEST

START_TEST(test_split_path)
{
    char svc[GW_GRPC_PATH_MAX], method[GW_GRPC_PATH_MAX];
    static const struct {
        const char *path;
        bool ok;
        const char *svc, *method;
    } cases[] = {
        { "/acme.v1.Svc/Do", true, "acme.v1.Svc", "Do" },
        { "/a/b", true, "a", "b" },
        { "svc/method", false, "", "" },    /* no leading slash */
        { "/svc/", false, "", "" },         /* empty method */
        { "//method", false, "", "" },      /* empty service */
        { "/a/b/c", false, "", "" },        /* extra slash */
        { "/svc/method/", false, "", "" },
        { "/svc", false, "", "" },
        { "/", false, "", "" },
        { "", false, "", "" },
    };
    for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
        memset(svc, 'z', sizeof svc);
        memset(method, 'z', sizeof method);
        ck_assert_msg(gw_grpc_split_path(cases[i].path, svc, method) == cases[i].ok, "%s", cases[i].path);
        ck_assert_str_eq(svc, cases[i].svc);
        ck_assert_str_eq(method, cases[i].method);
    }
    /* the longest path a call holds splits; one byte more does not */
    static char p[GW_GRPC_PATH_MAX + 1];
    memset(p, 's', GW_GRPC_PATH_MAX);
    p[0] = '/';
    p[GW_GRPC_PATH_MAX - 3] = '/';
    p[GW_GRPC_PATH_MAX - 1] = 0; /* 511 characters */
    ck_assert(gw_grpc_split_path(p, svc, method));
    ck_assert_uint_eq(strlen(svc), GW_GRPC_PATH_MAX - 4);
    ck_assert_str_eq(method, "s");
    p[GW_GRPC_PATH_MAX - 1] = 's';
    p[GW_GRPC_PATH_MAX] = 0; /* 512 characters */
    ck_assert(!gw_grpc_split_path(p, svc, method));
    ck_assert(!gw_grpc_split_path(NULL, svc, method));
}
END_TEST

START_TEST(test_is_metadata_key)
{
    static const char *const no[] = { "content-type", "te", "user-agent", "grpc-timeout",
                                      "grpc-encoding", "grpc-accept-encoding", ":path", ":authority", "" };
    static const char *const yes[] = { "authorization", "x-request-id", "trace-bin", "cookie", "tee",
                                       "grpc-status-details-bin", "content-types" };
    for (size_t i = 0; i < GW_ARRAY_LEN(no); i++) ck_assert_msg(!gw_grpc_is_metadata_key(no[i], strlen(no[i])), "%s", no[i]);
    for (size_t i = 0; i < GW_ARRAY_LEN(yes); i++) ck_assert_msg(gw_grpc_is_metadata_key(yes[i], strlen(yes[i])), "%s", yes[i]);
    /* the length is what counts, not a NUL */
    ck_assert(gw_grpc_is_metadata_key("tex", 3));
    ck_assert(!gw_grpc_is_metadata_key("tex", 2));
}
END_TEST

START_TEST(test_session_misc)
{
    const struct gw_h2_callbacks *cb = gw_grpc_h2_callbacks();
    ck_assert_ptr_eq(cb, gw_grpc_h2_callbacks());
    ck_assert_ptr_nonnull(cb->on_stream_begin);
    ck_assert_ptr_nonnull(cb->on_stream_end);
    ck_assert_ptr_null(gw_grpc_session_stats(NULL));
    gw_grpc_session_destroy(NULL);
    /* a session with no on_call still counts */
    struct gw_grpc_session *s = gw_grpc_session_create(NULL, NULL, NULL);
    struct gw_h2_stream st = { .id = 1 };
    cb->on_stream_begin(s, &st, 0);
    cb->on_header(s, &st, 0, (const uint8_t *)"content-type", 12, (const uint8_t *)"application/grpc", 16);
    cb->on_stream_end(s, &st, GW_END_STREAM, 1);
    ck_assert_uint_eq(gw_grpc_session_stats(s)->calls, 1);
    gw_grpc_session_destroy(s);
}
END_TEST

/* ---- mid-stream: unknown values, evidence, partial counts ------------------- */

/* A header whose value is unknown (mid-stream HPACK): value NULL. */
static void hdr_unknown(struct direct *d, int dir, const char *name)
{
    d->cb->on_header(d->sess, &d->stream, dir, (const uint8_t *)name, strlen(name), NULL, 0);
}

/* One DATA frame of n bytes, delivered in chunks of `chunk` bytes with the
 * frame position h2 gives on_data. */
static void data_frame(struct direct *d, int dir, const uint8_t *p, size_t n, size_t chunk)
{
    for (size_t off = 0; off < n; off += chunk) {
        size_t k = GW_MIN(chunk, n - off);
        d->stream.data_frame_len = (uint32_t)n;
        d->stream.data_frame_off = (uint32_t)off;
        data(d, dir, p + off, k);
    }
}

START_TEST(test_unknown_values_never_invented)
{
    /* :path, :authority, content-type unknown: nothing invented; the
     * metadata name is kept; the call is not gRPC on headers alone */
    struct direct d;
    uint8_t buf[64];
    direct_begin(&d, 1, 0);
    hdr(&d, 0, ":method", "POST");
    hdr_unknown(&d, 0, ":path");
    hdr_unknown(&d, 0, ":authority");
    hdr_unknown(&d, 0, "content-type");
    hdr_unknown(&d, 0, "authorization");
    hdr_unknown(&d, 0, "host");
    hend(&d, 0, false);
    direct_end(&d, GW_END_EOF, 1);
    ck_assert_int_eq(d.calls->n, 0); /* no evidence of gRPC at all */
    ck_assert_uint_eq(gw_grpc_session_stats(d.sess)->non_grpc_streams, 1);
    direct_free(&d);

    /* the same with request DATA in gRPC framing: a gRPC call, path unknown */
    direct_begin(&d, 1, 0);
    hdr_unknown(&d, 0, ":path");
    hdr_unknown(&d, 0, "content-type");
    hdr_unknown(&d, 0, "authorization");
    hend(&d, 0, false);
    data_frame(&d, 0, buf, msg(buf, 9, 'q'), 4);
    data_end(&d, 0);
    direct_end(&d, GW_END_STREAM, 2);
    ck_assert_int_eq(d.calls->n, 1);
    const struct gw_grpc_call *c = &d.calls->call[0];
    ck_assert(!c->path_present);
    ck_assert_str_eq(c->path, "");
    ck_assert(!c->authority.present && !c->content_type.present);
    ck_assert_uint_eq(c->n_metadata_keys, 1);
    ck_assert_str_eq(c->metadata_keys[0], "authorization");
    ck_assert(c->midstream);            /* a field of it was unknown */
    ck_assert_uint_eq(c->request_messages, 1);
    ck_assert_uint_eq(c->messages_partial, 0); /* its HEADERS came first */
    direct_free(&d);
}
END_TEST

START_TEST(test_grpc_evidence)
{
    struct direct d;
    uint8_t buf[64];
    size_t n;

    /* grpc-status of unknown value in the response: gRPC */
    direct_begin(&d, 3, 0);
    hdr(&d, 1, ":status", "200");
    hdr_unknown(&d, 1, "content-type");
    hend(&d, 1, false);
    hdr_unknown(&d, 1, "grpc-status");
    hend(&d, 1, true);
    direct_end(&d, GW_END_STREAM, 1);
    ck_assert_int_eq(d.calls->n, 1);
    ck_assert_int_eq(d.calls->call[0].grpc_status, -1);
    ck_assert_int_eq(d.calls->call[0].http_status, 200);
    direct_free(&d);

    /* no headers at all, request DATA framed as gRPC on an odd stream */
    direct_begin(&d, 5, 0);
    n = msg(buf, 3, 'a');
    n += msg(buf + n, 4, 'b');
    data_frame(&d, 0, buf, n, n);
    direct_end(&d, GW_END_EOF, 1);
    ck_assert_int_eq(d.calls->n, 1);
    ck_assert_uint_eq(d.calls->call[0].request_messages, 2);
    ck_assert_uint_eq(d.calls->call[0].messages_partial, GW_GRPC_PARTIAL_REQUEST);
    direct_free(&d);

    /* ... on an even stream it is not */
    direct_begin(&d, 6, 0);
    data_frame(&d, 0, buf, n, n);
    direct_end(&d, GW_END_EOF, 1);
    ck_assert_int_eq(d.calls->n, 0);
    direct_free(&d);

    /* response DATA framed as gRPC after response headers of unknown type */
    direct_begin(&d, 7, 0);
    hdr(&d, 1, ":status", "200");
    hdr_unknown(&d, 1, "content-type");
    hend(&d, 1, false);
    data_frame(&d, 1, buf, msg(buf, 20, 'r'), 7);
    direct_end(&d, GW_END_EOF, 1);
    ck_assert_int_eq(d.calls->n, 1);
    ck_assert_uint_eq(d.calls->call[0].response_messages, 1);
    ck_assert_uint_eq(d.calls->call[0].messages_partial, 0);
    direct_free(&d);

    /* DATA that is not gRPC framing (text) is no evidence */
    direct_begin(&d, 9, 0);
    hdr_unknown(&d, 0, "content-type");
    hend(&d, 0, false);
    data_frame(&d, 0, (const uint8_t *)"{\"json\":true}", 13, 13);
    direct_end(&d, GW_END_EOF, 1);
    ck_assert_int_eq(d.calls->n, 0);
    direct_free(&d);

    /* a framing whose message does not end at the frame end is no evidence */
    direct_begin(&d, 11, 0);
    n = msg(buf, 30, 'x');
    data_frame(&d, 0, buf, n - 3, n - 3);
    direct_end(&d, GW_END_EOF, 1);
    ck_assert_int_eq(d.calls->n, 0);
    direct_free(&d);

    /* request headers fully known without a content-type: not gRPC,
     * whatever the DATA looks like */
    direct_begin(&d, 13, 0);
    hdr(&d, 0, ":path", "/x");
    hend(&d, 0, false);
    data_frame(&d, 0, buf, msg(buf, 3, 'a'), 8);
    direct_end(&d, GW_END_EOF, 1);
    ck_assert_int_eq(d.calls->n, 0);
    direct_free(&d);
}
END_TEST

/* A response direction picked up mid-message: the message in progress is
 * never counted, later ones are once a message ends with a frame. */
START_TEST(test_partial_counts_lower_bound)
{
    struct direct d;
    static uint8_t big[200];
    uint8_t f2[64], f3[64];
    size_t n1 = msg(big, 150, 'm');
    size_t n2 = msg(f2, 10, 'n');
    size_t n3 = msg(f3, 4, 'o');
    n3 += msg(f3 + n3, 0, 0);
    n3 += msg(f3 + n3, 6, 'p');
    for (size_t chunk = 1; chunk <= 64; chunk++) {
        direct_begin(&d, 1, 0);
        hdr(&d, 0, "content-type", "application/grpc");
        hend(&d, 0, false);
        /* the tail of a 150-byte message, then one message, then three */
        data_frame(&d, 1, big + 40, n1 - 40, chunk);
        data_frame(&d, 1, f2, n2, chunk);
        data_frame(&d, 1, f3, n3, chunk);
        direct_end(&d, GW_END_EOF, 1);
        const struct gw_grpc_call *c = &d.calls->call[0];
        ck_assert_uint_eq(c->response_messages, 4); /* of 5 sent */
        ck_assert_uint_eq(c->messages_partial, GW_GRPC_PARTIAL_RESPONSE);
        ck_assert_uint_eq(c->response_bytes, (n1 - 40) + n2 + n3);
        direct_free(&d);
    }

    /* a frame start inside a message that looks like a prefix: held back,
     * and dropped when the next prefix has a bad flag */
    uint8_t fake[32];
    memset(fake, 'z', sizeof fake);
    fake[0] = 0;
    fake[1] = fake[2] = fake[3] = 0;
    fake[4] = 3; /* "a 3-byte message", then 'z' as the next flag byte */
    direct_begin(&d, 1, 0);
    data_frame(&d, 1, fake, sizeof fake, sizeof fake);
    data_frame(&d, 1, f2, n2, n2);
    direct_end(&d, GW_END_EOF, 1);
    ck_assert_uint_eq(d.calls->call[0].response_messages, 1);
    direct_free(&d);

    /* zero bytes (two empty messages in a row) and a length over 4 MiB are
     * not taken as framing */
    uint8_t zeros[10] = { 0 };
    uint8_t huge[8] = { 0, 0x00, 0x40, 0x00, 0x01, 'a', 'b', 'c' };
    direct_begin(&d, 1, 0);
    data_frame(&d, 1, zeros, sizeof zeros, sizeof zeros);
    data_frame(&d, 1, huge, sizeof huge, sizeof huge);
    direct_end(&d, GW_END_EOF, 1);
    ck_assert_int_eq(d.calls->n, 0); /* and so no evidence */
    direct_free(&d);

    /* after confirmation, a bad flag byte drops the framing again */
    uint8_t bad[16];
    memset(bad, 'q', sizeof bad);
    bad[0] = 7;
    direct_begin(&d, 1, 0);
    data_frame(&d, 1, f2, n2, n2);       /* confirmed: 1 */
    data_frame(&d, 1, bad, sizeof bad, 16); /* flag 7: lost */
    data_frame(&d, 1, f3, n3, 5);        /* found again: 3 */
    direct_end(&d, GW_END_EOF, 1);
    ck_assert_uint_eq(d.calls->call[0].response_messages, 4);
    direct_free(&d);
}
END_TEST

/* A stream h2 marks as seen mid-stream is reported so; one it does not mark
 * is not, even on a mid-stream connection. */
START_TEST(test_midstream_from_h2_stream)
{
    struct direct d;
    direct_begin(&d, 1, 0);
    d.stream.midstream = 1;
    hdr(&d, 0, "content-type", "application/grpc");
    direct_end(&d, GW_END_STREAM, 1);
    ck_assert(d.calls->call[0].midstream);
    direct_free(&d);
    direct_begin(&d, 1, 0);
    hdr(&d, 0, "content-type", "application/grpc");
    direct_end(&d, GW_END_STREAM, 1);
    ck_assert(!d.calls->call[0].midstream);
    direct_free(&d);
}
END_TEST

/* ---- gaps (h2.h "Gaps") ----------------------------------------------------- */

/* Feeds client bytes [0, from), a gap of the rest up to `to`, then [to, n);
 * then the server bytes with the same treatment (sfrom == sto: no gap);
 * then closes. Each run also returns the connection's stats. */
static struct calls *wire_run_gaps(const struct wire *w, size_t cfrom, size_t cto, size_t sfrom, size_t sto,
                                   struct gw_h2_stats *h2stats)
{
    struct calls *calls = calls_new();
    struct gw_grpc_session *sess = gw_grpc_session_create(NULL, collect, calls);
    struct gw_h2_conn *c = gw_h2_conn_create(NULL, gw_grpc_h2_callbacks(), sess);
    ck_assert_ptr_nonnull(c);
    size_t from[2] = { cfrom, sfrom }, to[2] = { cto, sto };
    for (int d = 0; d < 2; d++) {
        ck_assert_uint_le(to[d], w->n[d]);
        gw_h2_conn_feed(c, d, w->p[d], from[d], 10 + d);
        if (to[d] > from[d]) gw_h2_conn_gap(c, d, to[d] - from[d], 20 + d);
        gw_h2_conn_feed(c, d, w->p[d] + to[d], w->n[d] - to[d], 30 + d);
    }
    if (h2stats) *h2stats = *gw_h2_conn_stats(c);
    gw_h2_conn_destroy(c);
    gw_grpc_session_destroy(sess);
    return calls;
}

static const struct gw_grpc_call *call_on(const struct calls *calls, uint32_t sid)
{
    for (int i = 0; i < calls->n; i++)
        if (calls->call[i].stream_id == sid) return &calls->call[i];
    return NULL;
}

#define PATH_A "/shop.v1.Cart/WatchCart"
#define PATH_B "/shop.v1.Cart/Sync"
#define PATH_C "/shop.v1.Cart/BulkAdd"
static const nghttp2_nv req_a[] = { NV(":method", "POST"), NV(":scheme", "http"), NV(":path", PATH_A),
                                    NV(":authority", "cart:50051"), NV("content-type", "application/grpc"),
                                    NV("x-tenant", "acme") };
static const nghttp2_nv req_b[] = { NV(":method", "POST"), NV(":scheme", "http"), NV(":path", PATH_B),
                                    NV(":authority", "cart:50051"), NV("content-type", "application/grpc"),
                                    NV("x-tenant", "acme") };
static const nghttp2_nv req_c[] = { NV(":method", "POST"), NV(":scheme", "http"), NV(":path", PATH_C),
                                    NV(":authority", "cart:50051"), NV("content-type", "application/grpc"),
                                    NV("x-tenant", "acme") };
static const nghttp2_nv bad_trailers[] = { NV("grpc-status", "5"), NV("grpc-message", "nope") };

static void wire_response(struct wire *w, uint32_t sid, int nmsgs, const nghttp2_nv *tr, size_t ntr)
{
    uint8_t buf[64];
    wire_headers(w, 1, sid, false, ok_resp, GW_ARRAY_LEN(ok_resp));
    for (int i = 0; i < nmsgs; i++) wire_data(w, 1, sid, false, buf, msg(buf, 10, 'r'));
    wire_headers(w, 1, sid, true, tr, ntr);
}

/* Rule 1: a hole inside one DATA frame's payload costs only its bytes. */
START_TEST(test_gap_inside_data_payload)
{
    static uint8_t big[3000];
    uint8_t two[600];
    struct wire w;
    wire_init(&w);
    wire_headers(&w, 0, 1, false, req_a, GW_ARRAY_LEN(req_a));
    size_t data1 = w.n[0] + 9; /* first DATA payload: one 2000-byte message */
    wire_data(&w, 0, 1, false, big, msg(big, 2000, 'x'));
    size_t data2 = w.n[0] + 9; /* second: two 200-byte messages */
    size_t k = msg(two, 200, 'y');
    k += msg(two + k, 200, 'z');
    wire_data(&w, 0, 1, true, two, k);
    wire_headers(&w, 0, 3, true, req_b, GW_ARRAY_LEN(req_b)); /* literal path after the holes */
    wire_response(&w, 1, 1, ok_trailers, GW_ARRAY_LEN(ok_trailers));
    wire_response(&w, 3, 0, bad_trailers, GW_ARRAY_LEN(bad_trailers));

    /* inside the first message's body: framing provably kept, exact counts */
    struct gw_h2_stats hs;
    struct calls *calls = wire_run_gaps(&w, data1 + 100, data1 + 1100, 0, 0, &hs);
    const struct gw_grpc_call *c1 = call_on(calls, 1), *c3 = call_on(calls, 3);
    ck_assert_ptr_nonnull(c1);
    ck_assert_ptr_nonnull(c3);
    ck_assert_str_eq(c1->path, PATH_A);
    ck_assert_uint_eq(c1->request_messages, 3);
    ck_assert_uint_eq(c1->messages_partial, 0);
    ck_assert_int_eq(c1->grpc_status, 0);
    ck_assert_str_eq(c3->path, PATH_B); /* HPACK went on */
    ck_assert_int_eq(c3->grpc_status, 5);
    ck_assert_uint_eq(hs.gaps_skipped[0], 1);
    ck_assert_uint_eq(hs.gaps_resynced[0] + hs.gaps_stopped[0], 0);
    free(calls);

    /* across the second message's prefix: a lower bound, the prefixes before */
    calls = wire_run_gaps(&w, data2 + 150, data2 + 210, 0, 0, &hs);
    c1 = call_on(calls, 1);
    ck_assert_ptr_nonnull(c1);
    ck_assert_uint_eq(c1->request_messages, 2);
    ck_assert_uint_eq(c1->messages_partial, GW_GRPC_PARTIAL_REQUEST);
    ck_assert_uint_eq(c1->request_end, 1); /* the frame still ended where its header said */
    ck_assert_ptr_nonnull(call_on(calls, 3));
    ck_assert_str_eq(call_on(calls, 3)->path, PATH_B);
    ck_assert_uint_eq(hs.gaps_skipped[0], 1);
    free(calls);

    /* up to the frame's very end (the rest of its payload exactly) */
    calls = wire_run_gaps(&w, data2 + 300, data2 + k, 0, 0, &hs);
    c1 = call_on(calls, 1);
    ck_assert_ptr_nonnull(c1);
    ck_assert_uint_eq(c1->request_messages, 3); /* the third prefix came before the hole */
    ck_assert_uint_eq(c1->messages_partial, 0);   /* and the hole lies inside its body */
    ck_assert_uint_eq(c1->request_end, 1);
    ck_assert_uint_eq(hs.gaps_skipped[0], 1);
    free(calls);
    wire_free(&w);
}
END_TEST

/* Rule 2: a hole across a frame header. Decoding resumes at the next
 * boundary; a literal :path after it is known, a reference to an entry
 * inserted before it is unknown, never taken from the old table. */
START_TEST(test_gap_across_frame_header_resyncs)
{
    uint8_t buf[64];
    struct wire w;
    wire_init(&w);
    wire_headers(&w, 0, 1, false, req_a, GW_ARRAY_LEN(req_a));
    wire_data(&w, 0, 1, true, buf, msg(buf, 10, 'q'));
    size_t h3 = w.n[0];
    wire_headers(&w, 0, 3, false, req_b, GW_ARRAY_LEN(req_b));
    wire_data(&w, 0, 3, true, buf, msg(buf, 10, 'q'));
    wire_headers(&w, 0, 5, false, req_c, GW_ARRAY_LEN(req_c)); /* :authority etc. indexed */
    wire_data(&w, 0, 5, true, buf, msg(buf, 10, 'q'));
    wire_frame(&w, 0, 6, 0, 0, "pingping", 8);
    wire_response(&w, 1, 1, ok_trailers, GW_ARRAY_LEN(ok_trailers));
    wire_response(&w, 3, 1, bad_trailers, GW_ARRAY_LEN(bad_trailers));
    wire_response(&w, 5, 2, ok_trailers, GW_ARRAY_LEN(ok_trailers));

    struct gw_h2_stats hs;
    struct calls *calls = wire_run_gaps(&w, h3 - 3, h3 + 12, 0, 0, &hs);
    ck_assert_uint_eq(hs.gaps_resynced[0], 1);
    ck_assert_uint_eq(hs.gaps_stopped[0], 0);
    ck_assert_uint_gt(hs.unknown_values + hs.unknown_names, 0);
    const struct gw_grpc_call *c1 = call_on(calls, 1), *c3 = call_on(calls, 3), *c5 = call_on(calls, 5);
    ck_assert_ptr_nonnull(c1);
    ck_assert_str_eq(c1->path, PATH_A);
    ck_assert_uint_eq(c1->request_messages, 1); /* its prefix came before the hole */
    ck_assert_uint_eq(c1->messages_partial & GW_GRPC_PARTIAL_REQUEST, GW_GRPC_PARTIAL_REQUEST);
    ck_assert_ptr_nonnull(c3); /* proven gRPC by its response alone */
    ck_assert_uint_eq(c3->path_present, 0);
    ck_assert_int_eq(c3->grpc_status, 5);
    ck_assert_ptr_nonnull(c5);
    ck_assert_str_eq(c5->path, PATH_C);       /* a literal: known */
    ck_assert_uint_eq(c5->authority.present, 0); /* an old entry: unknown, not guessed */
    ck_assert_uint_eq(c5->request_messages, 1);
    ck_assert_uint_eq(c5->messages_partial, 0); /* its HEADERS came after the hole */
    ck_assert_uint_eq(c5->response_messages, 2);
    ck_assert_int_eq(calls->n, 3);
    free(calls);
    wire_free(&w);
}
END_TEST

/* A hole inside a header block split over HEADERS + CONTINUATION: the block
 * is dropped, its CONTINUATION skipped, the next block decoded. */
START_TEST(test_gap_inside_headers_block)
{
    uint8_t buf[64], block[1024];
    struct wire w;
    wire_init(&w);
    wire_headers(&w, 0, 1, false, req_a, GW_ARRAY_LEN(req_a));
    wire_data(&w, 0, 1, true, buf, msg(buf, 10, 'q'));
    ssize_t bl = nghttp2_hd_deflate_hd(w.enc[0], block, sizeof block, req_b, GW_ARRAY_LEN(req_b));
    ck_assert_int_gt(bl, 20);
    size_t half = (size_t)bl / 2;
    size_t h3 = w.n[0] + 9;
    wire_frame(&w, 0, 1, 0, 3, block, half);                            /* HEADERS, no END_HEADERS */
    wire_frame(&w, 0, 9, 0x4, 3, block + half, (size_t)bl - half);      /* CONTINUATION */
    wire_data(&w, 0, 3, true, buf, msg(buf, 10, 'q'));
    wire_headers(&w, 0, 5, false, req_c, GW_ARRAY_LEN(req_c));
    wire_data(&w, 0, 5, true, buf, msg(buf, 10, 'q'));
    wire_response(&w, 1, 1, ok_trailers, GW_ARRAY_LEN(ok_trailers));
    wire_response(&w, 5, 1, ok_trailers, GW_ARRAY_LEN(ok_trailers));

    struct gw_h2_stats hs;
    struct calls *calls = wire_run_gaps(&w, h3 + 2, h3 + half - 2, 0, 0, &hs);
    ck_assert_uint_eq(hs.gaps_resynced[0], 1);
    for (int i = 0; i < calls->n; i++)
        ck_assert(!calls->call[i].path_present || strcmp(calls->call[i].path, PATH_B) != 0);
    ck_assert_ptr_null(call_on(calls, 3)); /* nothing shows it: not reported */
    ck_assert_ptr_nonnull(call_on(calls, 5));
    ck_assert_str_eq(call_on(calls, 5)->path, PATH_C);
    ck_assert_str_eq(call_on(calls, 1)->path, PATH_A);
    free(calls);
    wire_free(&w);
}
END_TEST

/* A hole at every offset (and of several sizes) of a small exchange, in
 * either direction: nothing crashes, no path is reported that was not sent,
 * none on another stream than its own, no count above what was sent. */
START_TEST(test_gap_at_every_offset)
{
    uint8_t buf[64];
    struct wire w;
    wire_init(&w);
    wire_headers(&w, 0, 1, false, req_a, GW_ARRAY_LEN(req_a));
    wire_headers(&w, 0, 3, false, req_b, GW_ARRAY_LEN(req_b));
    wire_data(&w, 0, 1, false, buf, msg(buf, 10, 'a'));
    wire_data(&w, 0, 3, true, buf, msg(buf, 20, 'b'));
    wire_data(&w, 0, 1, true, buf, msg(buf, 30, 'c'));
    wire_headers(&w, 0, 5, false, req_a, GW_ARRAY_LEN(req_a)); /* :path A indexed */
    wire_data(&w, 0, 5, true, buf, msg(buf, 10, 'd'));
    wire_response(&w, 3, 1, bad_trailers, GW_ARRAY_LEN(bad_trailers));
    wire_response(&w, 1, 2, ok_trailers, GW_ARRAY_LEN(ok_trailers));
    wire_response(&w, 5, 1, ok_trailers, GW_ARRAY_LEN(ok_trailers));
    static const char *const path_of[6] = { NULL, PATH_A, NULL, PATH_B, NULL, PATH_A };
    static const int status_of[6] = { -1, 0, -1, 5, -1, 0 };
    static const uint64_t req_of[6] = { 0, 2, 0, 1, 0, 1 }, resp_of[6] = { 0, 2, 0, 1, 0, 1 };
    static const size_t sizes[] = { 1, 9, 40 };
    for (int d = 0; d < 2; d++) {
        for (size_t si = 0; si < GW_ARRAY_LEN(sizes); si++) {
            for (size_t off = 0; off + sizes[si] <= w.n[d]; off++) {
                size_t to = off + sizes[si];
                struct calls *calls = d == 0 ? wire_run_gaps(&w, off, to, 0, 0, NULL)
                                             : wire_run_gaps(&w, 0, 0, off, to, NULL);
                ck_assert_int_le(calls->n, 3);
                for (int i = 0; i < calls->n; i++) {
                    const struct gw_grpc_call *c = &calls->call[i];
                    ck_assert_msg(c->stream_id == 1 || c->stream_id == 3 || c->stream_id == 5,
                                  "dir %d off %zu: stream %u", d, off, c->stream_id);
                    if (c->path_present)
                        ck_assert_msg(strcmp(c->path, path_of[c->stream_id]) == 0,
                                      "dir %d off %zu len %zu: stream %u path %s", d, off, sizes[si],
                                      c->stream_id, c->path);
                    if (c->grpc_status >= 0) ck_assert_int_eq(c->grpc_status, status_of[c->stream_id]);
                    ck_assert_uint_le(c->request_messages, req_of[c->stream_id]);
                    ck_assert_uint_le(c->response_messages, resp_of[c->stream_id]);
                    for (int j = 0; j < i; j++) ck_assert_uint_ne(calls->call[j].stream_id, c->stream_id);
                }
                free(calls);
            }
        }
    }
    wire_free(&w);
}
END_TEST


/* gw_grpc_call_init on a struct full of garbage writes the record a zeroed
 * struct writes, and so does the same call filled in afterwards. */
START_TEST(test_call_init_reads_as_zeroed)
{
    static struct gw_grpc_call a, b;
    static char ja[65536], jb[65536];
    memset(&a, 0, sizeof a);
    memset(&b, 0xa5, sizeof b);
    gw_grpc_call_init(&b);
    for (int round = 0; round < 2; round++) {
        struct gw_json x, y;
        gw_json_init(&x, ja, sizeof ja);
        gw_json_init(&y, jb, sizeof jb);
        gw_json_object_begin(&x);
        gw_json_object_begin(&y);
        gw_record_grpc_object(&x, &a);
        gw_record_grpc_object(&y, &b);
        gw_json_object_end(&x);
        gw_json_object_end(&y);
        ck_assert(gw_json_finish(&x) && gw_json_finish(&y));
        ck_assert_uint_eq(x.len, y.len);
        ck_assert_mem_eq(ja, jb, x.len);
        gw_grpc_call_add_key(&a, "x-trace", 7, false);
        gw_grpc_call_add_key(&b, "x-trace", 7, false);
        a.grpc_status = b.grpc_status = 5;
    }
}
END_TEST

static Suite *grpc_suite(void)
{
    Suite *s = suite_create("grpc");
    TCase *tc = tcase_create("calls");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_unary_direct);
    tcase_add_test(tc, test_call_init_reads_as_zeroed);
    tcase_add_test(tc, test_unary_through_h2);
    tcase_add_test(tc, test_pooled_connections_reuse_blocks);
    tcase_add_test(tc, test_messages_any_split_direct);
    tcase_add_test(tc, test_messages_split_across_data_frames);
    tcase_add_test(tc, test_huge_declared_length);
    tcase_add_test(tc, test_server_streaming_eleven);
    tcase_add_test(tc, test_trailers_only);
    tcase_add_test(tc, test_non_grpc_stream);
    tcase_add_test(tc, test_non_grpc_response_body);
    tcase_add_test(tc, test_rst_stream_ends_call);
    tcase_add_test(tc, test_server_only_capture);
    tcase_add_test(tc, test_content_type_variants);
    tcase_add_test(tc, test_status_parsing);
    tcase_add_test(tc, test_fields_first_and_last);
    tcase_add_test(tc, test_metadata_caps);
    tcase_add_test(tc, test_string_truncation);
    tcase_add_test(tc, test_split_path);
    tcase_add_test(tc, test_is_metadata_key);
    tcase_add_test(tc, test_session_misc);
    tcase_add_test(tc, test_unknown_values_never_invented);
    tcase_add_test(tc, test_grpc_evidence);
    tcase_add_test(tc, test_partial_counts_lower_bound);
    tcase_add_test(tc, test_midstream_from_h2_stream);
    tcase_add_test(tc, test_gap_inside_data_payload);
    tcase_add_test(tc, test_gap_across_frame_header_resyncs);
    tcase_add_test(tc, test_gap_inside_headers_block);
    tcase_add_test(tc, test_gap_at_every_offset);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(grpc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
