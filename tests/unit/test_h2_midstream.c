/*
 * test_h2_midstream.c - HTTP/2 and gRPC picked up mid-stream, and captures
 * of one direction only.
 *
 * A realistic gRPC connection (both directions, 30 calls of four shapes,
 * repeated metadata so the HPACK dynamic table is used, a header block
 * split over CONTINUATION, a table reset to 0 at call 20, PINGs, SETTINGS,
 * WINDOW_UPDATEs) is built twice: once with nghttp2's HPACK encoder (which
 * never indexes :path) and once with the small indexing encoder below (which
 * indexes every field, :path included, as grpc-go's does). The capture is
 * then started at every byte of a long range of the timeline: each
 * direction is sniffed (gw_h2_sniff_feed on its growing buffer) and fed to a
 * mid-stream connection from the boundary found (gw_h2_conn_set_boundary),
 * or fed raw from the pickup point to a mid-stream connection that finds
 * the boundary itself; both must give what the oracle says.
 *
 * Expectations come from an oracle that knows the truth (what every call
 * sent) and reads the HPACK representations (RFC 7541 section 6) to tell
 * which fields a decoder that starts at the pickup can know: a reference is
 * known only if the entry it names was inserted by a block seen whole after
 * the pickup. The oracle never uses gw_hpack.
 *
 * The sniffer is also run on random bytes, HTTP/1.1 text and TLS records:
 * it must never accept them.
 */
#include "grpcwatch/grpc.h"
#include "grpcwatch/h2.h"

#include <check.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Check's ck_assert_* record every passing check (a write to the runner),
 * which the hundreds of thousands of checks below can not afford; these
 * report only failures. */
#define REQ(c)                                                                  \
    do {                                                                        \
        if (!(c)) ck_abort_msg("line %d: %s", __LINE__, #c);                   \
    } while (0)
#define REQ_MSG(c, ...)                                                         \
    do {                                                                        \
        if (!(c)) ck_abort_msg(__VA_ARGS__);                                   \
    } while (0)
#define REQ_OP(a, op, b)                                                        \
    do {                                                                        \
        long long a_ = (long long)(a), b_ = (long long)(b);                     \
        if (!(a_ op b_))                                                        \
            ck_abort_msg("line %d: %s %s %s (%lld, %lld)", __LINE__, #a, #op, #b, a_, b_); \
    } while (0)
#define REQ_STR(a, b)                                                           \
    do {                                                                        \
        if (strcmp((a), (b)) != 0)                                              \
            ck_abort_msg("line %d: \"%s\" != \"%s\"", __LINE__, (a), (b));  \
    } while (0)
#define REQ_EQ(a, b) REQ_OP(a, ==, b)
#define REQ_NE(a, b) REQ_OP(a, !=, b)
#define REQ_LT(a, b) REQ_OP(a, <, b)
#define REQ_LE(a, b) REQ_OP(a, <=, b)
#define REQ_GT(a, b) REQ_OP(a, >, b)
#define REQ_GE(a, b) REQ_OP(a, >=, b)
#define REQ_NONNULL(p) REQ((p) != NULL)

/* ---- growable bytes ------------------------------------------------------ */

struct bytes {
    uint8_t *p;
    size_t n, cap;
};

static void bytes_put(struct bytes *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n) cap *= 2;
        b->p = realloc(b->p, cap);
        REQ_NONNULL(b->p);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void bytes_free(struct bytes *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- a deterministic generator (xorshift64*) ---------------------------- */

static uint64_t rnd_next(uint64_t *st)
{
    uint64_t x = *st;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void rnd_fill(uint64_t *st, uint8_t *p, size_t n)
{
    while (n >= 8) {
        uint64_t v = rnd_next(st);
        memcpy(p, &v, 8);
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = rnd_next(st);
        memcpy(p, &v, n);
    }
}

/* ---- HPACK: RFC 7541 Appendix A and a small indexing encoder ------------ */

static const char *const static_table[61][2] = {
    { ":authority", "" }, { ":method", "GET" }, { ":method", "POST" }, { ":path", "/" },
    { ":path", "/index.html" }, { ":scheme", "http" }, { ":scheme", "https" }, { ":status", "200" },
    { ":status", "204" }, { ":status", "206" }, { ":status", "304" }, { ":status", "400" },
    { ":status", "404" }, { ":status", "500" }, { "accept-charset", "" }, { "accept-encoding", "gzip, deflate" },
    { "accept-language", "" }, { "accept-ranges", "" }, { "accept", "" }, { "access-control-allow-origin", "" },
    { "age", "" }, { "allow", "" }, { "authorization", "" }, { "cache-control", "" },
    { "content-disposition", "" }, { "content-encoding", "" }, { "content-language", "" }, { "content-length", "" },
    { "content-location", "" }, { "content-range", "" }, { "content-type", "" }, { "cookie", "" },
    { "date", "" }, { "etag", "" }, { "expect", "" }, { "expires", "" },
    { "from", "" }, { "host", "" }, { "if-match", "" }, { "if-modified-since", "" },
    { "if-none-match", "" }, { "if-range", "" }, { "if-unmodified-since", "" }, { "last-modified", "" },
    { "link", "" }, { "location", "" }, { "max-forwards", "" }, { "proxy-authenticate", "" },
    { "proxy-authorization", "" }, { "range", "" }, { "referer", "" }, { "refresh", "" },
    { "retry-after", "" }, { "server", "" }, { "set-cookie", "" }, { "strict-transport-security", "" },
    { "transfer-encoding", "" }, { "user-agent", "" }, { "vary", "" }, { "via", "" },
    { "www-authenticate", "" },
};

/* RFC 7541 5.1 */
static void hp_int(struct bytes *out, uint8_t first, unsigned prefix, uint32_t v)
{
    uint32_t max = (1u << prefix) - 1;
    if (v < max) {
        uint8_t b = (uint8_t)(first | v);
        bytes_put(out, &b, 1);
        return;
    }
    uint8_t b = (uint8_t)(first | max);
    bytes_put(out, &b, 1);
    v -= max;
    while (v >= 128) {
        b = (uint8_t)(0x80 | (v & 0x7f));
        bytes_put(out, &b, 1);
        v >>= 7;
    }
    b = (uint8_t)v;
    bytes_put(out, &b, 1);
}

static void hp_str(struct bytes *out, const char *s, size_t n)
{
    hp_int(out, 0, 7, (uint32_t)n); /* no Huffman */
    bytes_put(out, s, n);
}

#define IENC_MAX 128
#define IENC_TABLE 4096

/* Indexes every field (literal with incremental indexing), like grpc-go. */
struct ienc {
    char *name[IENC_MAX], *value[IENC_MAX]; /* [0] = newest */
    int n;
    size_t size;
    bool reset; /* a size update to 0 and back opens the next block */
};

static size_t entry_size(const char *n, const char *v) { return strlen(n) + strlen(v) + 32; }

static void ienc_evict_last(struct ienc *e)
{
    e->n--;
    e->size -= entry_size(e->name[e->n], e->value[e->n]);
    free(e->name[e->n]);
    free(e->value[e->n]);
}

static void ienc_insert(struct ienc *e, const char *n, const char *v)
{
    size_t sz = entry_size(n, v);
    while (e->n > 0 && (e->size + sz > IENC_TABLE || e->n == IENC_MAX)) ienc_evict_last(e);
    if (sz > IENC_TABLE) return;
    memmove(e->name + 1, e->name, (size_t)e->n * sizeof e->name[0]);
    memmove(e->value + 1, e->value, (size_t)e->n * sizeof e->value[0]);
    e->name[0] = strdup(n);
    e->value[0] = strdup(v);
    REQ(e->name[0] && e->value[0]);
    e->n++;
    e->size += sz;
}

static void ienc_clear(struct ienc *e)
{
    while (e->n > 0) ienc_evict_last(e);
}

static void ienc_field(struct ienc *e, struct bytes *out, const char *n, const char *v)
{
    uint32_t name_idx = 0;
    for (int i = 0; i < 61; i++) {
        if (strcmp(static_table[i][0], n) != 0) continue;
        if (strcmp(static_table[i][1], v) == 0) {
            hp_int(out, 0x80, 7, (uint32_t)i + 1);
            return;
        }
        if (!name_idx) name_idx = (uint32_t)i + 1;
    }
    for (int j = 0; j < e->n; j++) {
        if (strcmp(e->name[j], n) != 0) continue;
        if (strcmp(e->value[j], v) == 0) {
            hp_int(out, 0x80, 7, 62 + (uint32_t)j);
            return;
        }
        if (!name_idx) name_idx = 62 + (uint32_t)j;
    }
    hp_int(out, 0x40, 6, name_idx);
    if (!name_idx) hp_str(out, n, strlen(n));
    hp_str(out, v, strlen(v));
    ienc_insert(e, n, v);
}

/* ---- the connection under test --------------------------------------------- */

#define NCALLS 30
#define MAX_FIELDS 16
#define MAX_BLOCKS (NCALLS * 3)
#define MAX_CHUNKS 2048
#define MAX_DATA 16

#define F_END_STREAM 0x1
#define F_ACK 0x1
#define F_END_HEADERS 0x4

enum { BLK_REQ, BLK_RESP, BLK_TRAILERS };

struct truth_call {
    uint32_t sid;
    char path[64];
    uint64_t req_msgs, resp_msgs;
    int grpc_status;
    int block[3];                     /* index in conn.blocks, by BLK_* */
    size_t data_off[2][MAX_DATA];     /* DATA frame offsets, by dir */
    int ndata[2];
};

struct block {
    int dir, call, kind;
    size_t frame_off;                 /* its HEADERS frame, in its direction */
    struct bytes hpack;               /* the whole encoded block */
    int nfields;
    char name[MAX_FIELDS][32];
};

struct chunk {
    int dir;
    size_t off, len;                  /* in that direction's bytes */
};

struct conn {
    struct bytes dir[2];
    size_t frame_off[2][1024];        /* every frame start, by direction */
    int nframes[2];
    struct chunk chunk[MAX_CHUNKS];   /* the timeline: one per frame */
    int nchunks;
    struct block blocks[MAX_BLOCKS];
    int nblocks;
    struct truth_call calls[NCALLS];
    bool use_nghttp2;
    nghttp2_hd_deflater *nd[2];
    struct ienc ie[2];
};

static void conn_frame(struct conn *c, int dir, uint8_t type, uint8_t flags, uint32_t sid, const void *p,
                       size_t n)
{
    uint8_t h[9] = { (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n, type, flags,
                     (uint8_t)(sid >> 24), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8), (uint8_t)sid };
    REQ_LT(c->nframes[dir], 1024);
    REQ_LT(c->nchunks, MAX_CHUNKS);
    c->frame_off[dir][c->nframes[dir]++] = c->dir[dir].n;
    c->chunk[c->nchunks++] = (struct chunk){ dir, c->dir[dir].n, 9 + n };
    bytes_put(&c->dir[dir], h, 9);
    bytes_put(&c->dir[dir], p, n);
}

struct nv {
    const char *n, *v;
};

/* Encodes a header block with the connection's encoder of dir and writes
 * it as HEADERS (+ one CONTINUATION when split). */
static void conn_headers(struct conn *c, int dir, uint32_t sid, bool es, const struct nv *nv, int n, int call,
                         int kind, bool split)
{
    REQ_LT(c->nblocks, MAX_BLOCKS);
    REQ_LE(n, MAX_FIELDS);
    struct block *b = &c->blocks[c->nblocks];
    memset(b, 0, sizeof *b);
    b->dir = dir;
    b->call = call;
    b->kind = kind;
    b->nfields = n;
    for (int i = 0; i < n; i++) snprintf(b->name[i], sizeof b->name[i], "%s", nv[i].n);
    if (c->use_nghttp2) {
        nghttp2_nv v[MAX_FIELDS];
        for (int i = 0; i < n; i++)
            v[i] = (nghttp2_nv){ (uint8_t *)(uintptr_t)nv[i].n, (uint8_t *)(uintptr_t)nv[i].v, strlen(nv[i].n),
                                 strlen(nv[i].v), NGHTTP2_NV_FLAG_NONE };
        uint8_t buf[4096];
        ssize_t k = nghttp2_hd_deflate_hd(c->nd[dir], buf, sizeof buf, v, (size_t)n);
        REQ_GT(k, 0);
        bytes_put(&b->hpack, buf, (size_t)k);
    } else {
        struct ienc *e = &c->ie[dir];
        if (e->reset) {
            hp_int(&b->hpack, 0x20, 5, 0);
            hp_int(&b->hpack, 0x20, 5, IENC_TABLE);
            e->reset = false;
        }
        for (int i = 0; i < n; i++) ienc_field(e, &b->hpack, nv[i].n, nv[i].v);
    }
    b->frame_off = c->dir[dir].n;
    uint8_t esf = es ? F_END_STREAM : 0;
    if (split) {
        size_t half = b->hpack.n / 2;
        conn_frame(c, dir, GW_H2_HEADERS, esf, sid, b->hpack.p, half);
        conn_frame(c, dir, GW_H2_CONTINUATION, F_END_HEADERS, sid, b->hpack.p + half, b->hpack.n - half);
    } else {
        conn_frame(c, dir, GW_H2_HEADERS, (uint8_t)(esf | F_END_HEADERS), sid, b->hpack.p, b->hpack.n);
    }
    c->calls[call].block[kind] = c->nblocks++;
}

/* A protobuf-like message body: a string field of text. */
static size_t put_message(uint8_t *p, uint32_t len, int seed)
{
    p[0] = 0;
    p[1] = (uint8_t)(len >> 24);
    p[2] = (uint8_t)(len >> 16);
    p[3] = (uint8_t)(len >> 8);
    p[4] = (uint8_t)len;
    for (uint32_t i = 0; i < len; i++)
        p[5 + i] = i == 0 ? 0x0a : (uint8_t)('a' + (i * 7 + (uint32_t)seed) % 26);
    return 5 + len;
}

/* A DATA frame holding `count` messages of `len` bytes. */
static void conn_data(struct conn *c, int dir, int call, bool es, int count, uint32_t len)
{
    static uint8_t buf[3 * 16384];
    size_t n = 0;
    for (int i = 0; i < count; i++) n += put_message(buf + n, len, call * 31 + i);
    REQ_LE(n, 16384);
    struct truth_call *t = &c->calls[call];
    REQ_LT(t->ndata[dir], MAX_DATA);
    t->data_off[dir][t->ndata[dir]++] = c->dir[dir].n;
    conn_frame(c, dir, GW_H2_DATA, es ? F_END_STREAM : 0, t->sid, buf, n);
    if (dir == GW_DIR_TO_SERVER) t->req_msgs += (uint64_t)count;
    else t->resp_msgs += (uint64_t)count;
}

/* One message of `len` bytes spread over DATA frames of at most `frame`
 * bytes (writers cut messages at their flow-control window as well as at
 * the frame size). */
static void conn_big_message(struct conn *c, int dir, int call, bool es, uint32_t len, size_t frame)
{
    static uint8_t buf[5 + 40000];
    REQ_LE(len, 40000);
    size_t n = put_message(buf, len, call);
    struct truth_call *t = &c->calls[call];
    for (size_t off = 0; off < n; off += frame) {
        size_t k = GW_MIN(frame, n - off);
        REQ_LT(t->ndata[dir], MAX_DATA);
        t->data_off[dir][t->ndata[dir]++] = c->dir[dir].n;
        conn_frame(c, dir, GW_H2_DATA, (es && off + k == n) ? F_END_STREAM : 0, t->sid, buf + off, k);
    }
    if (dir == GW_DIR_TO_SERVER) t->req_msgs++;
    else t->resp_msgs++;
}

static void conn_settings(struct conn *c, int dir)
{
    /* MAX_CONCURRENT_STREAMS 100, INITIAL_WINDOW_SIZE 1 MiB */
    static const uint8_t p[12] = { 0, 3, 0, 0, 0, 100, 0, 4, 0, 0x10, 0, 0 };
    conn_frame(c, dir, GW_H2_SETTINGS, 0, 0, p, sizeof p);
}

static void conn_ping(struct conn *c, int call)
{
    uint8_t p[8] = { 'p', 'i', 'n', 'g', 0, 0, 0, (uint8_t)call };
    conn_frame(c, GW_DIR_TO_CLIENT, GW_H2_PING, 0, 0, p, 8);
    conn_frame(c, GW_DIR_TO_SERVER, GW_H2_PING, F_ACK, 0, p, 8);
}

static void conn_window_update(struct conn *c, int dir, uint32_t sid, uint32_t inc)
{
    uint8_t p[4] = { (uint8_t)(inc >> 24), (uint8_t)(inc >> 16), (uint8_t)(inc >> 8), (uint8_t)inc };
    conn_frame(c, dir, GW_H2_WINDOW_UPDATE, 0, sid, p, 4);
}

static void call_request_headers(struct conn *c, int i)
{
    struct truth_call *t = &c->calls[i];
    char rid[32], auth[48], tmo[16];
    snprintf(rid, sizeof rid, "req-%04d", i);
    snprintf(auth, sizeof auth, "Bearer tok-%d", i % 2);
    snprintf(tmo, sizeof tmo, "%dm", 100 + i % 4);
    const struct nv nv[] = {
        { ":method", "POST" },
        { ":scheme", "http" },
        { ":path", t->path },
        { ":authority", "billing.internal:50051" },
        { "content-type", "application/grpc" },
        { "user-agent", "grpc-go/1.62.0" },
        { "te", "trailers" },
        { "grpc-timeout", tmo },
        { "authorization", auth },
        { "x-request-id", rid },
        { "x-tenant", "tenant-blue" },
    };
    /* call 7's block is split over HEADERS + CONTINUATION */
    conn_headers(c, GW_DIR_TO_SERVER, t->sid, false, nv, (int)GW_ARRAY_LEN(nv), i, BLK_REQ, i == 7);
}

static void call_response_headers(struct conn *c, int i)
{
    const struct nv nv[] = { { ":status", "200" }, { "content-type", "application/grpc" },
                             { "grpc-encoding", "identity" } };
    conn_headers(c, GW_DIR_TO_CLIENT, c->calls[i].sid, false, nv, 3, i, BLK_RESP, false);
}

static void call_trailers(struct conn *c, int i)
{
    char st[8];
    c->calls[i].grpc_status = i % 5 == 4 ? 14 : 0;
    snprintf(st, sizeof st, "%d", c->calls[i].grpc_status);
    const struct nv nv[] = { { "grpc-status", st }, { "grpc-message", i % 5 == 4 ? "unavailable" : "" } };
    conn_headers(c, GW_DIR_TO_CLIENT, c->calls[i].sid, true, nv, 2, i, BLK_TRAILERS, false);
}

/* The request side of call i (shape by i % 4). */
static void call_request(struct conn *c, int i)
{
    call_request_headers(c, i);
    switch (i % 4) {
    case 2: /* client streaming: 1 + 2 + 1 messages */
        conn_data(c, GW_DIR_TO_SERVER, i, false, 1, 20);
        conn_data(c, GW_DIR_TO_SERVER, i, false, 2, 33);
        conn_data(c, GW_DIR_TO_SERVER, i, true, 1, 7);
        break;
    case 3:
        if (i == 3 || i == 27) {
            conn_big_message(c, GW_DIR_TO_SERVER, i, true, 2500, 1000);
            break;
        }
        conn_data(c, GW_DIR_TO_SERVER, i, true, 1, 0); /* an empty message */
        break;
    default:
        conn_data(c, GW_DIR_TO_SERVER, i, true, 1, 12 + (uint32_t)i);
    }
}

static void call_response(struct conn *c, int i)
{
    call_response_headers(c, i);
    if (i % 4 == 1) { /* server streaming: 1 + 2 + 1 messages */
        conn_data(c, GW_DIR_TO_CLIENT, i, false, 1, 40);
        conn_data(c, GW_DIR_TO_CLIENT, i, false, 2, 25);
        conn_data(c, GW_DIR_TO_CLIENT, i, false, 1, 9);
    } else {
        conn_data(c, GW_DIR_TO_CLIENT, i, false, 1, 30 + (uint32_t)i);
    }
    call_trailers(c, i);
}

static void conn_reset_tables(struct conn *c)
{
    for (int d = 0; d < 2; d++) {
        if (c->use_nghttp2) {
            REQ_EQ(nghttp2_hd_deflate_change_table_size(c->nd[d], 0), 0);
            REQ_EQ(nghttp2_hd_deflate_change_table_size(c->nd[d], 4096), 0);
        } else {
            ienc_clear(&c->ie[d]);
            c->ie[d].reset = true;
        }
    }
}

static void conn_build(struct conn *c, bool use_nghttp2)
{
    memset(c, 0, sizeof *c);
    c->use_nghttp2 = use_nghttp2;
    for (int d = 0; d < 2; d++)
        if (use_nghttp2) REQ_EQ(nghttp2_hd_deflate_new(&c->nd[d], 4096), 0);
    for (int i = 0; i < NCALLS; i++) {
        c->calls[i].sid = 1 + 2 * (uint32_t)i;
        snprintf(c->calls[i].path, sizeof c->calls[i].path, "/acme.billing.v%d.Invoices/Method%d", i % 2, i % 3);
        for (int k = 0; k < 3; k++) c->calls[i].block[k] = -1;
    }
    /* the client's preface is bytes of its direction, not a frame */
    bytes_put(&c->dir[GW_DIR_TO_SERVER], GW_H2_PREFACE, GW_H2_PREFACE_LEN);
    c->chunk[c->nchunks++] = (struct chunk){ GW_DIR_TO_SERVER, 0, GW_H2_PREFACE_LEN };
    conn_settings(c, GW_DIR_TO_SERVER);
    conn_settings(c, GW_DIR_TO_CLIENT);
    conn_frame(c, GW_DIR_TO_CLIENT, GW_H2_SETTINGS, F_ACK, 0, NULL, 0);
    conn_frame(c, GW_DIR_TO_SERVER, GW_H2_SETTINGS, F_ACK, 0, NULL, 0);
    for (int i = 0; i < NCALLS; i++) {
        if (i == 20) conn_reset_tables(c);
        if (i % 8 == 5) conn_ping(c, i);
        if (i % 10 == 0 && i + 1 < NCALLS) {
            /* two calls at once: both requests, then both responses */
            call_request(c, i);
            call_request(c, i + 1);
            call_response(c, i + 1);
            call_response(c, i);
            i++;
            continue;
        }
        call_request(c, i);
        if (i == 3 || i == 27) conn_window_update(c, GW_DIR_TO_CLIENT, 0, 2505);
        call_response(c, i);
    }
}

static void conn_free(struct conn *c)
{
    for (int d = 0; d < 2; d++) {
        bytes_free(&c->dir[d]);
        if (c->nd[d]) nghttp2_hd_deflate_del(c->nd[d]);
        ienc_clear(&c->ie[d]);
    }
    for (int i = 0; i < c->nblocks; i++) bytes_free(&c->blocks[i].hpack);
}

static size_t conn_total(const struct conn *c) { return c->dir[0].n + c->dir[1].n; }

/* ---- the oracle: which fields a decoder started at `boundary` knows ------ */

struct insertion {
    bool seen;       /* inserted by a block decoded whole */
    bool name_known;
};

struct field_known {
    bool name, value;
};

struct oracle_dir {
    struct insertion ins[4096];
    int n;
};

static uint32_t rd_int(const uint8_t *p, size_t n, size_t *pos, unsigned prefix)
{
    REQ_LT(*pos, n);
    uint32_t max = (1u << prefix) - 1;
    uint32_t v = p[(*pos)++] & max;
    if (v < max) return v;
    for (unsigned shift = 0;; shift += 7) {
        REQ_LT(*pos, n);
        uint8_t b = p[(*pos)++];
        v += (uint32_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
}

static void skip_str(const uint8_t *p, size_t n, size_t *pos)
{
    uint32_t len = rd_int(p, n, pos, 7);
    REQ_LE(*pos + len, n);
    *pos += len;
}

/* Entry named by index idx (> 61): what a decoder started late knows. */
static struct field_known dyn_entry(const struct oracle_dir *o, uint32_t idx)
{
    uint32_t j = idx - 62;
    REQ_LT((int)j, o->n);
    const struct insertion *e = &o->ins[o->n - 1 - (int)j];
    return (struct field_known){ e->seen && e->name_known, e->seen };
}

/* Walks one block's representations (RFC 7541 6.1-6.3) in order; fields
 * get what a decoder that saw the block (`seen`) knows of them. */
static void oracle_block(struct oracle_dir *o, const struct bytes *b, bool seen, struct field_known *out,
                         int nfields)
{
    size_t pos = 0;
    int f = 0;
    while (pos < b->n) {
        uint8_t first = b->p[pos];
        struct field_known k = { true, true };
        if (first & 0x80) {
            uint32_t idx = rd_int(b->p, b->n, &pos, 7);
            if (idx > 61) k = dyn_entry(o, idx);
        } else if ((first & 0xe0) == 0x20) {
            rd_int(b->p, b->n, &pos, 5); /* size update */
            continue;
        } else {
            bool indexing = (first & 0x40) != 0;
            uint32_t idx = rd_int(b->p, b->n, &pos, indexing ? 6 : 4);
            if (idx == 0) skip_str(b->p, b->n, &pos);
            else if (idx > 61) k.name = dyn_entry(o, idx).name;
            skip_str(b->p, b->n, &pos);
            if (indexing) {
                REQ_LT(o->n, 4096);
                o->ins[o->n++] = (struct insertion){ seen, k.name };
            }
        }
        REQ_LT(f, nfields);
        out[f++] = seen ? k : (struct field_known){ false, false };
    }
    REQ_EQ(f, nfields);
}

/* Per block: seen whole after the pickup, and what of it is known. */
struct block_view {
    bool seen, all_known;
    struct field_known field[MAX_FIELDS];
};

static int field_index(const struct block *b, const char *name)
{
    for (int i = 0; i < b->nfields; i++)
        if (strcmp(b->name[i], name) == 0) return i;
    return -1;
}

static void oracle_run(const struct conn *c, const size_t boundary[2], struct block_view *views)
{
    static struct oracle_dir od[2];
    od[0].n = od[1].n = 0;
    for (int i = 0; i < c->nblocks; i++) {
        const struct block *b = &c->blocks[i];
        struct block_view *v = &views[i];
        v->seen = b->frame_off >= boundary[b->dir];
        oracle_block(&od[b->dir], &b->hpack, v->seen, v->field, b->nfields);
        v->all_known = v->seen;
        for (int f = 0; f < b->nfields; f++) v->all_known = v->all_known && v->field[f].name && v->field[f].value;
    }
}

/* ---- running a pickup ----------------------------------------------------------- */

struct got {
    struct gw_grpc_call call[2 * NCALLS];
    int n;
    bool closing;
    int ended_before_close;
};

static void collect(void *user, struct gw_grpc_call *call)
{
    struct got *g = user;
    REQ_LT(g->n, 2 * NCALLS);
    g->call[g->n++] = *call;
    if (!g->closing) g->ended_before_close++;
}

struct pickup {
    size_t start[2];     /* first byte of each direction in the capture */
    size_t boundary[2];  /* where the sniffer confirmed frames (SIZE_MAX: never) */
    struct gw_h2_stats stats;
    struct got got;
};

/* First frame boundary at or after off in dir (SIZE_MAX if none). */
static size_t next_frame(const struct conn *c, int dir, size_t off)
{
    for (int i = 0; i < c->nframes[dir]; i++)
        if (c->frame_off[dir][i] >= off) return c->frame_off[dir][i];
    return SIZE_MAX;
}

/* How the sensor starts feeding (all must give the same calls):
 * HOLD_BOTH holds each direction until both are confirmed (or, for a
 * one-sided capture, the one is), then feeds what was held, client first;
 * EAGER starts with the first direction confirmed and feeds the other one
 * from its boundary once it is found (its held bytes in one call); RAW
 * creates the connection at the first byte and feeds every byte from the
 * pickup point, leaving the search to h2 (h2.h "Mid-stream pickup"). */
enum policy { HOLD_BOTH, EAGER, RAW };

struct feeder {
    const struct conn *c;
    enum policy policy;
    struct pickup *pk;
    struct gw_h2_sniff sniff[2];
    bool confirmed[2];
    struct gw_h2_conn *h2;
    struct gw_grpc_session *sess;
    int one_sided;  /* -1, or the only direction fed */
};

/* Bytes of dir in [from, to) of its buffer. */
static void feed_range(struct feeder *f, int dir, size_t from, size_t to)
{
    if (to <= from) return;
    int rc = gw_h2_conn_feed(f->h2, dir, f->c->dir[dir].p + from, to - from, 1000 + (gw_time_us)from);
    REQ_EQ(rc, GW_OK);
}

static void feeder_start_conn(struct feeder *f)
{
    f->sess = gw_grpc_session_create(NULL, collect, &f->pk->got);
    REQ_NONNULL(f->sess);
    f->h2 = gw_h2_conn_create_midstream(NULL, gw_grpc_h2_callbacks(), f->sess);
    REQ_NONNULL(f->h2);
    REQ(gw_h2_conn_is_midstream(f->h2));
    /* RAW feeds from the pickup point and lets h2 search; the others feed
     * from the boundary their own sniffer found */
    for (int d = 0; d < 2 && f->policy != RAW; d++) REQ_EQ(gw_h2_conn_set_boundary(f->h2, d), GW_OK);
    if (f->one_sided >= 0) gw_h2_conn_set_one_sided(f->h2, f->one_sided);
}

static void run_pickup(const struct conn *c, size_t g, int one_sided, enum policy policy, struct pickup *pk)
{
    struct feeder f;
    memset(&f, 0, sizeof f);
    /* not the call array: it is large and written before it is read */
    memset(&pk->stats, 0, sizeof pk->stats);
    pk->got.n = 0;
    pk->got.closing = false;
    pk->got.ended_before_close = 0;
    f.c = c;
    f.policy = policy;
    f.pk = pk;
    f.one_sided = one_sided;
    for (int d = 0; d < 2; d++) {
        gw_h2_sniff_init(&f.sniff[d], 0);
        pk->boundary[d] = SIZE_MAX;
        pk->start[d] = c->dir[d].n;
    }
    /* where each direction's capture starts: the timeline cut at byte g */
    size_t at = 0;
    int first = c->nchunks;
    for (int i = 0; i < c->nchunks; i++) {
        const struct chunk *ch = &c->chunk[i];
        if (at + ch->len > g) {
            first = i;
            break;
        }
        at += ch->len;
    }
    bool started[2] = { false, false };
    size_t held_to[2] = { 0, 0 };  /* end of the bytes delivered so far */
    for (int i = first; i < c->nchunks; i++) {
        const struct chunk *ch = &c->chunk[i];
        int d = ch->dir;
        size_t from = ch->off, to = ch->off + ch->len;
        if (i == first) from += g - at;
        if (one_sided >= 0 && d != one_sided) continue;
        if (!started[d]) {
            started[d] = true;
            pk->start[d] = from;
        }
        held_to[d] = to;
        if (policy == RAW) {
            if (!f.h2) feeder_start_conn(&f);
            feed_range(&f, d, from, to);
        }
        if (f.h2 && f.confirmed[d] && policy != RAW) {
            feed_range(&f, d, from, to);
            continue;
        }
        if (!f.confirmed[d]) {
            size_t off = 0;
            int rc = gw_h2_sniff_feed(&f.sniff[d], c->dir[d].p + pk->start[d], to - pk->start[d], &off);
            REQ_MSG(rc == GW_OK || rc == GW_ERR_NEED_MORE, "dir %d start %zu: rc %d", d, pk->start[d], rc);
            if (rc == GW_OK) {
                f.confirmed[d] = true;
                pk->boundary[d] = pk->start[d] + off;
                if (f.h2 && policy != RAW) feed_range(&f, d, pk->boundary[d], to); /* EAGER: the late one */
            }
        }
        bool ready = one_sided >= 0 ? f.confirmed[one_sided]
                     : policy == EAGER ? f.confirmed[0] || f.confirmed[1]
                                       : f.confirmed[0] && f.confirmed[1];
        if (ready && !f.h2) {
            feeder_start_conn(&f);
            for (int e = 0; e < 2; e++)
                if (f.confirmed[e]) feed_range(&f, e, pk->boundary[e], held_to[e]);
        }
    }
    /* end of input: a direction confirmed alone is still decoded */
    if (!f.h2 && (f.confirmed[0] || f.confirmed[1])) {
        feeder_start_conn(&f);
        for (int e = 0; e < 2; e++)
            if (f.confirmed[e]) feed_range(&f, e, pk->boundary[e], held_to[e]);
    }
    if (!f.h2) return;
    pk->stats = *gw_h2_conn_stats(f.h2);
    pk->got.closing = true;
    gw_h2_conn_close(f.h2, GW_END_EOF, 99999999);
    gw_h2_conn_destroy(f.h2);
    gw_grpc_session_destroy(f.sess);
}

/* ---- checking a pickup against the truth ------------------------------------------ */

static const struct truth_call *truth_of(const struct conn *c, uint32_t sid)
{
    for (int i = 0; i < NCALLS; i++)
        if (c->calls[i].sid == sid) return &c->calls[i];
    return NULL;
}

static bool data_seen(const struct truth_call *t, int dir, size_t boundary)
{
    for (int i = 0; i < t->ndata[dir]; i++)
        if (t->data_off[dir][i] >= boundary) return true;
    return false;
}

struct tally {
    int runs, calls, exact_paths, null_paths, midstream_calls, full_calls, partial_counts;
};

static void check_pickup(const struct conn *c, size_t g, const struct pickup *pk, int one_sided,
                         struct tally *tl)
{
    static struct block_view views[MAX_BLOCKS];
    bool reported[NCALLS] = { false };
    for (int d = 0; d < 2; d++) {
        if (one_sided >= 0 && d != one_sided) continue;
        size_t want = next_frame(c, d, pk->start[d]);
        if (pk->boundary[d] != SIZE_MAX)
            REQ_MSG(pk->boundary[d] == want, "g %zu dir %d: boundary %zu, first frame at %zu", g, d,
                          pk->boundary[d], want);
        else /* plenty of frames left must have been found */
            REQ_MSG(want == SIZE_MAX || c->dir[d].n - want < 200, "g %zu dir %d: no boundary", g, d);
    }
    size_t seen_from[2] = { pk->boundary[0], pk->boundary[1] };
    if (one_sided >= 0) seen_from[!one_sided] = SIZE_MAX;
    oracle_run(c, seen_from, views);
    REQ_EQ(pk->stats.anomalies, 0);
    tl->runs++;

    for (int k = 0; k < pk->got.n; k++) {
        const struct gw_grpc_call *call = &pk->got.call[k];
        const struct truth_call *t = truth_of(c, call->stream_id);
        REQ_MSG(t != NULL, "g %zu: call on stream %u never made", g, call->stream_id);
        int ci = (int)(t - c->calls);
        REQ_MSG(!reported[ci], "g %zu: stream %u reported twice", g, call->stream_id);
        reported[ci] = true;
        tl->calls++;

        const struct block_view *req = &views[t->block[BLK_REQ]];
        const struct block_view *resp = &views[t->block[BLK_RESP]];
        const struct block_view *trl = &views[t->block[BLK_TRAILERS]];
        const struct block *reqb = &c->blocks[t->block[BLK_REQ]];
        int pf = field_index(reqb, ":path");
        bool path_known = req->seen && req->field[pf].name && req->field[pf].value;

        /* the path: exact when knowable, else null; never another one */
        if (call->path_present) REQ_STR(call->path, t->path);
        REQ_MSG(call->path_present == path_known, "g %zu sid %u: path_present %d, knowable %d", g, t->sid,
                      call->path_present, path_known);
        if (path_known) tl->exact_paths++;
        else tl->null_paths++;

        /* midstream: start unseen, or an unknown field in a block seen */
        bool unknown = (req->seen && !req->all_known) || (resp->seen && !resp->all_known) ||
                       (trl->seen && !trl->all_known);
        bool expect_mid = !req->seen || unknown;
        REQ_MSG(call->midstream == expect_mid, "g %zu sid %u: midstream %d, expected %d", g, t->sid,
                      call->midstream, expect_mid);
        if (!path_known) REQ(call->midstream);
        if (expect_mid) tl->midstream_calls++;
        else tl->full_calls++;

        /* message counts: exact when the direction's HEADERS were seen,
         * never above the truth */
        REQ_LE(call->request_messages, t->req_msgs);
        REQ_LE(call->response_messages, t->resp_msgs);
        if (req->seen) REQ_EQ(call->request_messages, t->req_msgs);
        if (resp->seen) REQ_EQ(call->response_messages, t->resp_msgs);
        bool req_partial = !req->seen && data_seen(t, 0, seen_from[0]);
        bool resp_partial = !resp->seen && data_seen(t, 1, seen_from[1]);
        REQ_EQ(call->messages_partial,
                          (req_partial ? GW_GRPC_PARTIAL_REQUEST : 0) | (resp_partial ? GW_GRPC_PARTIAL_RESPONSE : 0));
        if (call->messages_partial) tl->partial_counts++;

        /* grpc-status: exact when its value is knowable */
        int sf = field_index(&c->blocks[t->block[BLK_TRAILERS]], "grpc-status");
        if (trl->seen && trl->field[sf].name && trl->field[sf].value) REQ_EQ(call->grpc_status, t->grpc_status);
        else REQ_EQ(call->grpc_status, -1);
    }
    /* calls that had to be found: request headers seen (path or DATA
     * framing says gRPC), or a response seen with a message in it */
    for (int i = 0; i < NCALLS; i++) {
        const struct truth_call *t = &c->calls[i];
        bool must = views[t->block[BLK_REQ]].seen ||
                    (views[t->block[BLK_RESP]].seen && t->resp_msgs > 0);
        if (must) REQ_MSG(reported[i], "g %zu: call on stream %u not reported", g, t->sid);
    }
}

/* Pickup points: every byte of the first part (preface, SETTINGS, the first
 * four calls: inside frame headers and payloads, between the HEADERS and
 * DATA of a call, inside a message spanning frames), then every 17th byte
 * (a stride prime to every frame length pattern here, so it still lands in
 * headers, payloads and the split block of call 7). */
#define PICKUP_EVERY_BYTE 1000
static bool pickup_point(size_t g, size_t total)
{
    if (g + 600 > total) return false;
    return g < PICKUP_EVERY_BYTE || g % 17 == 0;
}

static void run_all_pickups(bool use_nghttp2)
{
    static struct conn c;
    static struct pickup pk;
    struct tally tl = { 0 };
    conn_build(&c, use_nghttp2);
    size_t total = conn_total(&c);
    for (size_t g = 0; g < total; g++) {
        if (!pickup_point(g, total)) continue;
        run_pickup(&c, g, -1, (enum policy)(g % 3), &pk);
        check_pickup(&c, g, &pk, -1, &tl);
    }
    /* the sweep covered what it is meant to */
    REQ_GT(tl.runs, PICKUP_EVERY_BYTE + 500);
    REQ_GT(tl.exact_paths, 0);
    REQ_GT(tl.full_calls, 0);
    REQ_GT(tl.midstream_calls, 0);
    REQ_GT(tl.partial_counts, 0);
    if (!use_nghttp2) REQ_GT(tl.null_paths, 0); /* nghttp2 never indexes :path */
    conn_free(&c);
}

/* ---- tests: the fixture itself ------------------------------------------------------ */

/* Decoded from its start with the ordinary connection, the fixture gives
 * every call exactly: the truth the mid-stream runs are held to. */
static void check_fixture(bool use_nghttp2)
{
    static struct conn c;
    static struct got got;
    memset(&got, 0, sizeof got);
    conn_build(&c, use_nghttp2);
    struct gw_grpc_session *sess = gw_grpc_session_create(NULL, collect, &got);
    struct gw_h2_conn *h2 = gw_h2_conn_create(NULL, gw_grpc_h2_callbacks(), sess);
    REQ_NONNULL(h2);
    for (int i = 0; i < c.nchunks; i++) {
        const struct chunk *ch = &c.chunk[i];
        REQ_EQ(gw_h2_conn_feed(h2, ch->dir, c.dir[ch->dir].p + ch->off, ch->len, i), GW_OK);
    }
    REQ_EQ(gw_h2_conn_stats(h2)->anomalies, 0);
    gw_h2_conn_destroy(h2);
    gw_grpc_session_destroy(sess);
    REQ_EQ(got.n, NCALLS);
    REQ_EQ(got.ended_before_close, NCALLS);
    for (int i = 0; i < got.n; i++) {
        const struct gw_grpc_call *call = &got.call[i];
        const struct truth_call *t = truth_of(&c, call->stream_id);
        REQ_NONNULL(t);
        REQ_STR(call->path, t->path);
        REQ_EQ(call->request_messages, t->req_msgs);
        REQ_EQ(call->response_messages, t->resp_msgs);
        REQ_EQ(call->grpc_status, t->grpc_status);
        REQ(!call->midstream && !call->messages_partial);
        REQ_EQ(call->n_metadata_keys, 3); /* authorization, x-request-id, x-tenant */
    }
    /* the dynamic table is really used: later request blocks are short */
    REQ_LT(c.blocks[c.calls[NCALLS - 2].block[BLK_REQ]].hpack.n * 2,
                      c.blocks[c.calls[0].block[BLK_REQ]].hpack.n);
    conn_free(&c);
}

START_TEST(test_fixture_nghttp2)
{
    check_fixture(true);
}
END_TEST

START_TEST(test_fixture_indexing)
{
    check_fixture(false);
}
END_TEST

/* ---- tests: every pickup point --------------------------------------------------------- */

START_TEST(test_pickup_everywhere_nghttp2)
{
    run_all_pickups(true);
}
END_TEST

START_TEST(test_pickup_everywhere_indexing)
{
    run_all_pickups(false);
}
END_TEST

/* After the table reset (call 20), calls are seen in full: exact paths,
 * not midstream, exact counts, even with the pickup long before. */
START_TEST(test_recovery_after_table_reset)
{
    static struct conn c;
    static struct pickup pk;
    conn_build(&c, false);
    /* pick up inside call 2's request HEADERS frame */
    const struct block *b = &c.blocks[c.calls[2].block[BLK_REQ]];
    size_t g = 0;
    for (int i = 0; i < c.nchunks; i++) {
        if (c.chunk[i].dir == GW_DIR_TO_SERVER && c.chunk[i].off == b->frame_off) break;
        g += c.chunk[i].len;
    }
    run_pickup(&c, g + 4, -1, HOLD_BOTH, &pk);
    int full = 0, mid = 0;
    for (int k = 0; k < pk.got.n; k++) {
        const struct gw_grpc_call *call = &pk.got.call[k];
        const struct truth_call *t = truth_of(&c, call->stream_id);
        REQ_NONNULL(t);
        if (t >= &c.calls[20]) {
            REQ(!call->midstream);
            REQ(call->path_present);
            REQ_STR(call->path, t->path);
            REQ_STR(call->authority.s, "billing.internal:50051");
            REQ_STR(call->content_type.s, "application/grpc");
            REQ_EQ(call->n_metadata_keys, 3);
            REQ_EQ(call->request_messages, t->req_msgs);
            REQ_EQ(call->response_messages, t->resp_msgs);
            REQ_EQ(call->grpc_status, t->grpc_status);
            full++;
        } else if (call->midstream) {
            mid++;
        }
    }
    REQ_EQ(full, NCALLS - 20);
    REQ_GT(mid, 0); /* before the reset, indexed paths are unknown */
    conn_free(&c);
}
END_TEST

/* ---- tests: one direction only --------------------------------------------------------- */

/* The client direction alone, from its start: exact calls, each ended at
 * its request's END_STREAM once the sensor says the server is absent. */
START_TEST(test_client_only_from_start)
{
    static struct conn c;
    static struct got got;
    memset(&got, 0, sizeof got);
    conn_build(&c, false);
    struct gw_grpc_session *sess = gw_grpc_session_create(NULL, collect, &got);
    struct gw_h2_conn *h2 = gw_h2_conn_create(NULL, gw_grpc_h2_callbacks(), sess);
    gw_h2_conn_set_one_sided(h2, GW_DIR_TO_SERVER);
    const struct bytes *d = &c.dir[GW_DIR_TO_SERVER];
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_SERVER, d->p, d->n, 1), GW_OK);
    REQ_EQ(got.n, NCALLS); /* all ended before the close */
    REQ_EQ(gw_h2_conn_stats(h2)->open_streams, 0);
    gw_h2_conn_destroy(h2);
    gw_grpc_session_destroy(sess);
    for (int i = 0; i < got.n; i++) {
        const struct gw_grpc_call *call = &got.call[i];
        const struct truth_call *t = truth_of(&c, call->stream_id);
        REQ_NONNULL(t);
        REQ_STR(call->path, t->path);
        REQ_EQ(call->n_metadata_keys, 3);
        REQ_STR(call->metadata_keys[0], "authorization");
        REQ_EQ(call->request_messages, t->req_msgs);
        REQ_EQ(call->response_messages, 0);
        REQ_EQ(call->grpc_status, -1);
        REQ_EQ(call->ended_by, GW_END_STREAM);
        REQ(call->request_end && !call->response_end);
    }
    conn_free(&c);
}
END_TEST

/* Without set_one_sided the same capture still gives every call, at the end. */
START_TEST(test_client_only_without_hint)
{
    static struct conn c;
    static struct got got;
    memset(&got, 0, sizeof got);
    conn_build(&c, true);
    struct gw_grpc_session *sess = gw_grpc_session_create(NULL, collect, &got);
    struct gw_h2_conn *h2 = gw_h2_conn_create(NULL, gw_grpc_h2_callbacks(), sess);
    const struct bytes *d = &c.dir[GW_DIR_TO_SERVER];
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_SERVER, d->p, d->n, 1), GW_OK);
    REQ_EQ(got.n, 0);
    REQ_EQ(gw_h2_conn_stats(h2)->open_streams, NCALLS);
    /* the hint, late: every stream already has its request END_STREAM */
    gw_h2_conn_set_one_sided(h2, GW_DIR_TO_SERVER);
    REQ_EQ(got.n, NCALLS);
    for (int i = 0; i < got.n; i++) REQ_EQ(got.call[i].ended_by, GW_END_STREAM);
    gw_h2_conn_destroy(h2);
    gw_grpc_session_destroy(sess);
    conn_free(&c);
}
END_TEST

/* The server direction alone, from its start: each call ends at its
 * trailers, with status and response messages, and no path. */
START_TEST(test_server_only_from_start)
{
    static struct conn c;
    static struct got got;
    memset(&got, 0, sizeof got);
    conn_build(&c, false);
    struct gw_grpc_session *sess = gw_grpc_session_create(NULL, collect, &got);
    struct gw_h2_conn *h2 = gw_h2_conn_create(NULL, gw_grpc_h2_callbacks(), sess);
    gw_h2_conn_set_one_sided(h2, GW_DIR_TO_CLIENT);
    const struct bytes *d = &c.dir[GW_DIR_TO_CLIENT];
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_CLIENT, d->p, d->n, 1), GW_OK);
    REQ_EQ(got.n, NCALLS);
    REQ_EQ(gw_h2_conn_stats(h2)->anomalies, 0);
    gw_h2_conn_destroy(h2);
    gw_grpc_session_destroy(sess);
    for (int i = 0; i < got.n; i++) {
        const struct gw_grpc_call *call = &got.call[i];
        const struct truth_call *t = truth_of(&c, call->stream_id);
        REQ_NONNULL(t);
        REQ(!call->path_present);
        REQ_EQ(call->grpc_status, t->grpc_status);
        REQ_EQ(call->http_status, 200);
        REQ_EQ(call->response_messages, t->resp_msgs);
        REQ_EQ(call->request_messages, 0);
        REQ_STR(call->content_type.s, "application/grpc");
        REQ_EQ(call->ended_by, GW_END_STREAM);
        REQ(!call->messages_partial);
    }
    conn_free(&c);
}
END_TEST

/* One direction, picked up mid-stream, at many points. */
static void one_sided_pickups(int dir, bool use_nghttp2)
{
    static struct conn c;
    static struct pickup pk;
    struct tally tl = { 0 };
    conn_build(&c, use_nghttp2);
    size_t total = conn_total(&c);
    int with_status = 0;
    for (size_t g = 0; g + 600 < total; g += 71) {
        run_pickup(&c, g, dir, (g / 71) % 2 ? RAW : HOLD_BOTH, &pk);
        check_pickup(&c, g, &pk, dir, &tl);
        /* calls end as their present direction does, not at the close */
        REQ_GE(pk.got.ended_before_close, pk.got.n - 2);
        for (int k = 0; k < pk.got.n; k++) {
            if (dir == GW_DIR_TO_CLIENT) REQ(!pk.got.call[k].path_present);
            if (pk.got.call[k].grpc_status >= 0) with_status++;
        }
    }
    REQ_GT(tl.calls, 50);
    if (dir == GW_DIR_TO_CLIENT) REQ_GT(with_status, 0);
    if (dir == GW_DIR_TO_SERVER) REQ_GT(tl.exact_paths, 50);
    conn_free(&c);
}

START_TEST(test_client_only_midstream)
{
    one_sided_pickups(GW_DIR_TO_SERVER, false);
    one_sided_pickups(GW_DIR_TO_SERVER, true);
}
END_TEST

START_TEST(test_server_only_midstream)
{
    one_sided_pickups(GW_DIR_TO_CLIENT, false);
    one_sided_pickups(GW_DIR_TO_CLIENT, true);
}
END_TEST

/* ---- tests: the sniffer ------------------------------------------------------------------- */

static void frame_to(struct bytes *b, uint8_t type, uint8_t flags, uint32_t sid, const void *p, size_t n)
{
    uint8_t h[9] = { (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n, type, flags,
                     (uint8_t)(sid >> 24), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8), (uint8_t)sid };
    bytes_put(b, h, 9);
    bytes_put(b, p, n);
}

START_TEST(test_sniff_rules)
{
    static const uint8_t zero8[8] = { 0 };
    static const uint8_t inc[4] = { 0, 0, 1, 0 };
    static const uint8_t block[3] = { 0x82, 0x86, 0x84 };
    struct bytes b = { 0 };
    size_t off = 77;

    /* three good frames at 0: confirmed there */
    frame_to(&b, GW_H2_SETTINGS, 0, 0, NULL, 0);
    frame_to(&b, GW_H2_PING, 0, 0, zero8, 8);
    frame_to(&b, GW_H2_WINDOW_UPDATE, 0, 0, inc, 4);
    REQ_EQ(gw_h2_sniff(b.p, b.n, &off), GW_OK);
    REQ_EQ(off, 0);
    /* behind 5 bytes of a previous frame's payload: found at 5 */
    struct bytes b2 = { 0 };
    bytes_put(&b2, "\x41\x42\x43\x44\x45", 5);
    bytes_put(&b2, b.p, b.n);
    REQ_EQ(gw_h2_sniff(b2.p, b2.n, &off), GW_OK);
    REQ_EQ(off, 5);
    /* two frames ending the buffer: enough only from offset 0 */
    REQ_EQ(gw_h2_sniff(b.p, 9 + 17, &off), GW_OK);
    REQ_EQ(off, 0);
    REQ_EQ(gw_h2_sniff(b2.p, 5 + 9 + 17, &off), GW_ERR_NEED_MORE);
    /* one frame is never enough */
    REQ_EQ(gw_h2_sniff(b.p, 9, &off), GW_ERR_NEED_MORE);
    bytes_free(&b);
    bytes_free(&b2);

    /* each rule, broken in the middle frame of three, rejects offset 0 */
    struct {
        uint8_t type, flags;
        uint32_t sid;
        size_t len;
        const char *why;
    } bad[] = {
        { 10, 0, 1, 4, "unknown type" },
        { GW_H2_DATA, 0x2, 1, 4, "undefined flag" },
        { GW_H2_DATA, 0, 0, 4, "DATA on stream 0" },
        { GW_H2_HEADERS, F_END_HEADERS, 0, 3, "HEADERS on stream 0" },
        { GW_H2_PING, 0, 1, 8, "PING on a stream" },
        { GW_H2_PING, 0, 0, 7, "PING of 7" },
        { GW_H2_SETTINGS, 0, 0, 5, "SETTINGS of 5" },
        { GW_H2_SETTINGS, F_ACK, 0, 6, "SETTINGS ACK with entries" },
        { GW_H2_RST_STREAM, 0, 1, 5, "RST_STREAM of 5" },
        { GW_H2_PRIORITY, 0, 1, 4, "PRIORITY of 4" },
        { GW_H2_WINDOW_UPDATE, 0, 0, 3, "WINDOW_UPDATE of 3" },
        { GW_H2_GOAWAY, 0, 0, 7, "GOAWAY of 7" },
        { GW_H2_GOAWAY, 0, 3, 8, "GOAWAY on a stream" },
        { GW_H2_CONTINUATION, F_END_HEADERS, 1, 3, "CONTINUATION after nothing" },
        { GW_H2_DATA, 0x8, 1, 0, "PADDED without a pad length" },
        { GW_H2_DATA, 0, 0x80000001u, 4, "reserved bit" },
        { GW_H2_DATA, 0, 1, 16385, "longer than 16384" },
    };
    static uint8_t payload[16385];
    for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++) {
        struct bytes t = { 0 };
        frame_to(&t, GW_H2_SETTINGS, 0, 0, NULL, 0);
        uint8_t h[9] = { (uint8_t)(bad[i].len >> 16), (uint8_t)(bad[i].len >> 8), (uint8_t)bad[i].len,
                         bad[i].type, bad[i].flags, (uint8_t)(bad[i].sid >> 24), (uint8_t)(bad[i].sid >> 16),
                         (uint8_t)(bad[i].sid >> 8), (uint8_t)bad[i].sid };
        bytes_put(&t, h, 9);
        bytes_put(&t, payload, bad[i].len);
        frame_to(&t, GW_H2_PING, 0, 0, zero8, 8);
        frame_to(&t, GW_H2_PING, F_ACK, 0, zero8, 8);
        int rc = gw_h2_sniff(t.p, t.n, &off);
        REQ_MSG(rc != GW_OK || off != 0, "%s: accepted at 0", bad[i].why);
        bytes_free(&t);
    }

    /* payload rules: pad length, WINDOW_UPDATE 0, PRIORITY on itself,
     * SETTINGS values, HEADERS without END_HEADERS then not CONTINUATION */
    struct {
        uint8_t type, flags;
        uint32_t sid;
        uint8_t p[8];
        size_t len;
        const char *why;
    } badp[] = {
        { GW_H2_DATA, 0x8, 1, { 3, 'a', 'b' }, 3, "pad length over the payload" },
        { GW_H2_WINDOW_UPDATE, 0, 1, { 0, 0, 0, 0 }, 4, "WINDOW_UPDATE of 0" },
        { GW_H2_PRIORITY, 0, 5, { 0, 0, 0, 5, 16 }, 5, "PRIORITY on itself" },
        { GW_H2_SETTINGS, 0, 0, { 0, 2, 0, 0, 0, 2 }, 6, "ENABLE_PUSH 2" },
        { GW_H2_SETTINGS, 0, 0, { 0, 5, 0, 0, 0x10, 0 }, 6, "MAX_FRAME_SIZE 4096" },
        { GW_H2_HEADERS, 0, 1, { 0x82, 0x86 }, 2, "open block then PING" },
    };
    for (size_t i = 0; i < GW_ARRAY_LEN(badp); i++) {
        struct bytes t = { 0 };
        frame_to(&t, GW_H2_SETTINGS, 0, 0, NULL, 0);
        frame_to(&t, badp[i].type, badp[i].flags, badp[i].sid, badp[i].p, badp[i].len);
        frame_to(&t, GW_H2_PING, 0, 0, zero8, 8);
        frame_to(&t, GW_H2_PING, F_ACK, 0, zero8, 8);
        int rc = gw_h2_sniff(t.p, t.n, &off);
        REQ_MSG(rc != GW_OK || off != 0, "%s: accepted at 0", badp[i].why);
        bytes_free(&t);
    }

    /* a header block over HEADERS + CONTINUATION + CONTINUATION is fine */
    struct bytes t = { 0 };
    frame_to(&t, GW_H2_HEADERS, 0, 3, block, 1);
    frame_to(&t, GW_H2_CONTINUATION, 0, 3, block + 1, 1);
    frame_to(&t, GW_H2_CONTINUATION, F_END_HEADERS, 3, block + 2, 1);
    REQ_EQ(gw_h2_sniff(t.p, t.n, &off), GW_OK);
    REQ_EQ(off, 0);
    /* but a CONTINUATION on another stream is not */
    t.p[9 + 1 + 8] = 5;
    REQ(gw_h2_sniff(t.p, t.n, &off) != GW_OK || off != 0);
    bytes_free(&t);

    /* arguments */
    REQ_EQ(gw_h2_sniff(NULL, 5, &off), GW_ERR_ARG);
    REQ_EQ(gw_h2_sniff(zero8, 8, NULL), GW_ERR_ARG);
    REQ_EQ(gw_h2_sniff_feed(NULL, zero8, 8, &off), GW_ERR_ARG);
    REQ_EQ(gw_h2_sniff(NULL, 0, &off), GW_ERR_NEED_MORE);
}
END_TEST

/* Random bytes, HTTP/1.1 and TLS are never taken for HTTP/2; past
 * GW_H2_SNIFF_MAX_NEED bytes the answer is final. */
static void assert_rejected(const uint8_t *p, size_t n, const char *what, int i)
{
    size_t off = 0;
    int rc = gw_h2_sniff(p, n, &off);
    REQ_MSG(rc != GW_OK, "%s %d (%zu bytes): accepted at %zu", what, i, n, off);
    if (n >= GW_H2_SNIFF_MAX_NEED) REQ_MSG(rc == GW_ERR_UNSUPPORTED, "%s %d: rc %d", what, i, rc);
}

START_TEST(test_sniff_random_never)
{
    static uint8_t buf[65536];
    uint64_t st = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 10000; i++) {
        size_t n = 1 + (size_t)(rnd_next(&st) % sizeof buf);
        rnd_fill(&st, buf, n);
        assert_rejected(buf, n, "random", i);
    }
}
END_TEST

START_TEST(test_sniff_http1_never)
{
    static const char *const methods[] = { "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS" };
    static const char *const bodies[] = {
        "", "{\"id\":12,\"name\":\"alice\",\"tags\":[\"a\",\"b\"]}", "<html><body>Hello</body></html>",
        "a=1&b=2&c=%20three",
    };
    uint64_t st = 42;
    struct bytes b = { 0 };
    for (int i = 0; i < 2000; i++) {
        b.n = 0;
        /* a keep-alive conversation: requests and responses back to back */
        int reqs = 1 + (int)(rnd_next(&st) % 40);
        for (int k = 0; k < reqs; k++) {
            char line[512];
            const char *body = bodies[rnd_next(&st) % GW_ARRAY_LEN(bodies)];
            int len = snprintf(line, sizeof line,
                               "%s /api/v%d/items/%llu?q=%d HTTP/1.1\r\nHost: svc-%d.internal:8080\r\n"
                               "User-Agent: curl/8.%d\r\nAccept: */*\r\nContent-Length: %zu\r\n\r\n%s",
                               methods[rnd_next(&st) % GW_ARRAY_LEN(methods)], k % 3,
                               (unsigned long long)(rnd_next(&st) % 100000), k, i % 7, k, strlen(body), body);
            bytes_put(&b, line, (size_t)len);
            len = snprintf(line, sizeof line,
                           "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                           "Date: Mon, 23 Nov 2026 11:0%d:00 GMT\r\n\r\n%s",
                           strlen(body), k % 10, body);
            bytes_put(&b, line, (size_t)len);
        }
        /* every starting point of the conversation */
        size_t from = (size_t)(rnd_next(&st) % b.n);
        assert_rejected(b.p + from, b.n - from, "http/1.1", i);
    }
    bytes_free(&b);
}
END_TEST

START_TEST(test_sniff_tls_never)
{
    static uint8_t rec[16384 + 5 + 256];
    uint64_t st = 7;
    struct bytes b = { 0 };
    for (int i = 0; i < 2000; i++) {
        b.n = 0;
        size_t want = 1 + (size_t)(rnd_next(&st) % 65536);
        while (b.n < want) {
            /* application data (or now and then a handshake / alert record) */
            uint8_t type = (rnd_next(&st) % 10) == 0 ? 0x16 : (rnd_next(&st) % 20) == 0 ? 0x15 : 0x17;
            size_t len = 1 + (size_t)(rnd_next(&st) % (16384 + 256));
            rec[0] = type;
            rec[1] = 3;
            rec[2] = 3;
            rec[3] = (uint8_t)(len >> 8);
            rec[4] = (uint8_t)len;
            rnd_fill(&st, rec + 5, len);
            bytes_put(&b, rec, 5 + len);
        }
        size_t from = (size_t)(rnd_next(&st) % 64); /* picked up anywhere near a record start */
        assert_rejected(b.p + from, GW_MIN(b.n - from, want), "tls", i);
    }
    bytes_free(&b);
}
END_TEST

/* Feeding the buffer as it grows gives what one call on the whole does,
 * and the work done stays linear. */
START_TEST(test_sniff_incremental_matches)
{
    static struct conn c;
    conn_build(&c, true);
    uint64_t st = 99;
    const struct bytes *d = &c.dir[GW_DIR_TO_CLIENT];
    for (int i = 0; i < 300; i++) {
        size_t from = (size_t)(rnd_next(&st) % (d->n / 2));
        const uint8_t *p = d->p + from;
        size_t n = d->n - from;
        struct gw_h2_sniff s;
        gw_h2_sniff_init(&s, 0);
        size_t have = 0, off = 0, off1 = 0;
        int rc = GW_ERR_NEED_MORE;
        while (rc == GW_ERR_NEED_MORE && have < n) {
            have = GW_MIN(n, have + 1 + (size_t)(rnd_next(&st) % 200));
            rc = gw_h2_sniff_feed(&s, p, have, &off);
        }
        REQ_EQ(rc, GW_OK);
        /* the same answer from scratch on the same bytes */
        REQ_EQ(gw_h2_sniff(p, have, &off1), GW_OK);
        REQ_EQ(off, off1);
        REQ_EQ(from + off, next_frame(&c, GW_DIR_TO_CLIENT, from));
        /* and it stays the answer */
        REQ_EQ(gw_h2_sniff_feed(&s, p, have, &off1), GW_OK);
        REQ_EQ(off, off1);
    }
    conn_free(&c);
}
END_TEST

START_TEST(test_sniff_role)
{
    static struct conn c;
    for (int v = 0; v < 2; v++) {
        conn_build(&c, v == 0);
        for (int d = 0; d < 2; d++) {
            /* from every frame boundary past the SETTINGS exchange */
            for (int i = 2; i < c.nframes[d] - 8; i++) {
                size_t off = c.frame_off[d][i];
                int role = gw_h2_sniff_role(c.dir[d].p + off, c.dir[d].n - off);
                REQ_MSG(role == d, "variant %d dir %d frame %d: role %d", v, d, i, role);
            }
        }
        conn_free(&c);
    }
    REQ_EQ(gw_h2_sniff_role(NULL, 0), -1);
    REQ_EQ(gw_h2_sniff_role((const uint8_t *)"GET / HTTP/1.1\r\n", 16), -1);
}
END_TEST

/* ---- tests: h2 mid-stream details ---------------------------------------------------------- */

struct rec {
    int begins, ends, headers, unknown_value_headers, data_calls;
    uint32_t last_sid;
    int end_reason;
    uint8_t midstream;
    uint16_t unknown_names[2];
};

static void r_begin(void *u, struct gw_h2_stream *s, gw_time_us ts)
{
    struct rec *r = u;
    (void)ts;
    r->begins++;
    r->last_sid = s->id;
}

static void r_header(void *u, struct gw_h2_stream *s, int dir, const uint8_t *n, size_t nl, const uint8_t *v,
                     size_t vl)
{
    struct rec *r = u;
    (void)s;
    (void)dir;
    REQ_NONNULL(n);
    REQ_GT(nl, 0);
    r->headers++;
    if (!v) {
        REQ_EQ(vl, 0);
        r->unknown_value_headers++;
    }
}

static void r_data(void *u, struct gw_h2_stream *s, int dir, const uint8_t *p, size_t n)
{
    struct rec *r = u;
    (void)dir;
    (void)p;
    REQ_LE((uint64_t)s->data_frame_off + n, s->data_frame_len);
    r->data_calls++;
}

static void r_end(void *u, struct gw_h2_stream *s, int reason, gw_time_us ts)
{
    struct rec *r = u;
    (void)ts;
    r->ends++;
    r->end_reason = reason;
    r->midstream = s->midstream;
    r->unknown_names[0] = s->unknown_names[0];
    r->unknown_names[1] = s->unknown_names[1];
}

static const struct gw_h2_callbacks rec_cb = {
    .on_stream_begin = r_begin, .on_header = r_header, .on_data = r_data, .on_stream_end = r_end,
};

/* A mid-stream connection fed from frame boundaries the test built: the
 * search is skipped in both directions. */
static struct gw_h2_conn *mid_conn(const struct gw_h2_limits *lim, struct rec *r)
{
    struct gw_h2_conn *h2 = gw_h2_conn_create_midstream(lim, &rec_cb, r);
    REQ_NONNULL(h2);
    for (int d = 0; d < 2; d++) REQ_EQ(gw_h2_conn_set_boundary(h2, d), GW_OK);
    return h2;
}

/* A stream known only by its DATA begins on it; a later RST or
 * WINDOW_UPDATE for it once closed begins nothing. */
START_TEST(test_midstream_stream_rules)
{
    struct rec r;
    memset(&r, 0, sizeof r);
    struct gw_h2_conn *h2 = mid_conn(NULL, &r);
    struct bytes b = { 0 };
    uint8_t msg[8] = { 0, 0, 0, 0, 3, 'a', 'b', 'c' };
    uint8_t rst[4] = { 0, 0, 0, 8 };
    uint8_t inc[4] = { 0, 0, 4, 0 };
    frame_to(&b, GW_H2_DATA, F_END_STREAM, 9, msg, 8);
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_SERVER, b.p, b.n, 1), GW_OK);
    REQ_EQ(r.begins, 1);
    REQ_EQ(r.last_sid, 9);
    /* the server's END_STREAM alone ends it: its start was not seen */
    b.n = 0;
    frame_to(&b, GW_H2_DATA, F_END_STREAM, 9, msg, 8);
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_CLIENT, b.p, b.n, 2), GW_OK);
    REQ_EQ(r.ends, 1);
    REQ_EQ(r.end_reason, GW_END_STREAM);
    REQ_EQ(r.midstream, 1);
    /* late control frames of the closed stream begin nothing */
    b.n = 0;
    frame_to(&b, GW_H2_WINDOW_UPDATE, 0, 9, inc, 4);
    frame_to(&b, GW_H2_RST_STREAM, 0, 9, rst, 4);
    frame_to(&b, GW_H2_DATA, 0, 9, msg, 8);
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_SERVER, b.p, b.n, 3), GW_OK);
    REQ_EQ(r.begins, 1);
    /* an older stream never seen (long-lived, from before) can begin, by RST */
    b.n = 0;
    frame_to(&b, GW_H2_WINDOW_UPDATE, 0, 3, inc, 4); /* but not by WINDOW_UPDATE */
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_CLIENT, b.p, b.n, 4), GW_OK);
    REQ_EQ(r.begins, 1);
    b.n = 0;
    frame_to(&b, GW_H2_RST_STREAM, 0, 3, rst, 4);
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_SERVER, b.p, b.n, 5), GW_OK);
    REQ_EQ(r.begins, 2);
    REQ_EQ(r.ends, 2);
    REQ_EQ(r.end_reason, GW_END_RST);
    /* frames larger than 16384 pass without an anomaly: SETTINGS unknown */
    static uint8_t big[20000];
    b.n = 0;
    frame_to(&b, GW_H2_DATA, 0, 11, big, sizeof big);
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_SERVER, b.p, b.n, 6), GW_OK);
    REQ_EQ(gw_h2_conn_stats(h2)->anomalies, 0);
    REQ_EQ(r.begins, 3);
    gw_h2_conn_destroy(h2);
    REQ_EQ(r.ends, 3);
    bytes_free(&b);
}
END_TEST

/* Unknown dynamic references: a name-unknown field is dropped and counted,
 * a value-unknown one comes with value NULL; a size update to 0 recovers. */
START_TEST(test_midstream_unknown_fields)
{
    struct rec r;
    memset(&r, 0, sizeof r);
    struct gw_h2_conn *h2 = mid_conn(NULL, &r);
    struct bytes blk = { 0 }, b = { 0 };
    /* :method POST (static), then dynamic 62 (unknown: fully indexed),
     * then a literal whose name is dynamic 63 (unknown name), then
     * x-known: yes literal with indexing (known), then :path with the
     * value of unknown entry... as a literal name ref to static 4 (known). */
    hp_int(&blk, 0x80, 7, 3);
    hp_int(&blk, 0x80, 7, 62);
    hp_int(&blk, 0x00, 4, 63);
    hp_str(&blk, "v", 1);
    hp_int(&blk, 0x40, 6, 0);
    hp_str(&blk, "x-known", 7);
    hp_str(&blk, "yes", 3);
    hp_int(&blk, 0x80, 7, 62); /* now names x-known: yes, which is known */
    frame_to(&b, GW_H2_HEADERS, F_END_HEADERS, 1, blk.p, blk.n);
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_SERVER, b.p, b.n, 1), GW_OK);
    REQ_EQ(r.begins, 1);
    REQ_EQ(r.headers, 3); /* :method, x-known, x-known again */
    REQ_EQ(r.unknown_value_headers, 0);
    const struct gw_h2_stats *st = gw_h2_conn_stats(h2);
    REQ_EQ(st->unknown_names, 2);
    gw_h2_conn_close(h2, GW_END_EOF, 2);
    REQ_EQ(r.ends, 1);
    REQ_EQ(r.midstream, 1);
    REQ_EQ(r.unknown_names[0], 2);
    REQ_EQ(r.unknown_names[1], 0);

    /* a table size update to 0 then 4096 makes everything known again */
    memset(&r, 0, sizeof r);
    blk.n = 0;
    b.n = 0;
    hp_int(&blk, 0x20, 5, 0);
    hp_int(&blk, 0x20, 5, 4096);
    hp_int(&blk, 0x80, 7, 3);
    hp_int(&blk, 0x80, 7, 6);
    hp_int(&blk, 0x40, 6, 4);
    hp_str(&blk, "/a.B/C", 6);
    frame_to(&b, GW_H2_HEADERS, F_END_HEADERS | F_END_STREAM, 3, blk.p, blk.n);
    blk.n = 0;
    hp_int(&blk, 0x80, 7, 8);
    frame_to(&b, GW_H2_HEADERS, F_END_HEADERS | F_END_STREAM, 3, blk.p, blk.n);
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_SERVER, b.p, 9 + 3 + 2 + 1 + 1 + 7, 3), GW_OK);
    /* the response block comes the other way: that table is still unknown
     * but a static :status is known */
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_CLIENT, b.p + 9 + 3 + 2 + 1 + 1 + 7, 10, 4), GW_OK);
    REQ_EQ(r.ends, 1);
    REQ_EQ(r.midstream, 0); /* fully seen */
    REQ_EQ(r.headers, 4);
    gw_h2_conn_destroy(h2);
    bytes_free(&blk);
    bytes_free(&b);
}
END_TEST

/* A header block larger than the list cap restarts that direction's
 * decoder as unknown, with an anomaly; the connection goes on. */
START_TEST(test_midstream_block_too_large)
{
    struct rec r;
    memset(&r, 0, sizeof r);
    struct gw_h2_limits lim = { .max_header_list = 64 };
    struct gw_h2_conn *h2 = mid_conn(&lim, &r);
    struct bytes blk = { 0 }, b = { 0 };
    hp_int(&blk, 0x40, 6, 0);
    hp_str(&blk, "x-big", 5);
    char val[100];
    memset(val, 'v', sizeof val);
    hp_str(&blk, val, sizeof val);
    frame_to(&b, GW_H2_HEADERS, 0, 1, blk.p, 50);
    frame_to(&b, GW_H2_CONTINUATION, F_END_HEADERS, 1, blk.p + 50, blk.n - 50);
    blk.n = 0;
    hp_int(&blk, 0x80, 7, 62); /* the entry that block inserted: now unknown */
    hp_int(&blk, 0x80, 7, 3);
    frame_to(&b, GW_H2_HEADERS, F_END_HEADERS, 3, blk.p, blk.n);
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_SERVER, b.p, b.n, 1), GW_OK);
    const struct gw_h2_stats *st = gw_h2_conn_stats(h2);
    REQ_EQ(st->anomalies, 1);
    REQ_EQ(st->hpack_resets, 1);
    REQ_EQ(st->unknown_names, 1);
    REQ_EQ(r.headers, 1); /* :method of stream 3 */
    REQ(gw_h2_conn_dir_ok(h2, GW_DIR_TO_SERVER));
    gw_h2_conn_destroy(h2);
    bytes_free(&blk);
    bytes_free(&b);
}
END_TEST

/* A direction picked up inside a split header block: the leading
 * CONTINUATION is skipped quietly; an orphan one later is an anomaly. */
START_TEST(test_midstream_leading_continuation)
{
    struct rec r;
    memset(&r, 0, sizeof r);
    struct gw_h2_conn *h2 = mid_conn(NULL, &r);
    struct bytes b = { 0 };
    uint8_t frag[2] = { 0x40, 0x01 };
    uint8_t post = 0x83;
    frame_to(&b, GW_H2_CONTINUATION, 0, 5, frag, 2);
    frame_to(&b, GW_H2_CONTINUATION, F_END_HEADERS, 5, frag, 2);
    frame_to(&b, GW_H2_HEADERS, F_END_HEADERS, 7, &post, 1);
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_SERVER, b.p, b.n, 1), GW_OK);
    REQ_EQ(gw_h2_conn_stats(h2)->anomalies, 0);
    REQ_EQ(r.begins, 1);
    REQ_EQ(r.headers, 1);
    b.n = 0;
    frame_to(&b, GW_H2_CONTINUATION, F_END_HEADERS, 7, frag, 2);
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_SERVER, b.p, b.n, 2), GW_OK);
    REQ_EQ(gw_h2_conn_stats(h2)->anomalies, 1);
    REQ_EQ(gw_h2_conn_stats(h2)->hpack_resets, 1);
    gw_h2_conn_destroy(h2);
    bytes_free(&b);
}
END_TEST

/* A server END_STREAM on a stream whose start was not seen waits for the
 * client direction's first bytes (they may hold its HEADERS), and a client
 * direction that failed before any byte never calls back. */
START_TEST(test_midstream_server_end_waits_for_client)
{
    struct rec r;
    uint8_t body[8] = { 0, 0, 0, 0, 3, 'a', 'b', 'c' };
    uint8_t post = 0x83;
    struct bytes srv = { 0 }, cli = { 0 };
    frame_to(&srv, GW_H2_DATA, F_END_STREAM, 5, body, 8);
    frame_to(&cli, GW_H2_HEADERS, F_END_HEADERS, 5, &post, 1);
    frame_to(&cli, GW_H2_DATA, F_END_STREAM, 5, body, 8);

    /* the client's HEADERS come after the server's END_STREAM: one stream,
     * its start seen, ended by both END_STREAMs */
    memset(&r, 0, sizeof r);
    struct gw_h2_conn *h2 = mid_conn(NULL, &r);
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_CLIENT, srv.p, srv.n, 1), GW_OK);
    REQ_EQ(r.ends, 0);
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_SERVER, cli.p, cli.n, 2), GW_OK);
    REQ_EQ(r.begins, 1);
    REQ_EQ(r.ends, 1);
    REQ_EQ(r.headers, 1);
    REQ_EQ(r.midstream, 0);
    gw_h2_conn_destroy(h2);

    /* the client's first bytes hold nothing of it: it ends right after them */
    memset(&r, 0, sizeof r);
    h2 = mid_conn(NULL, &r);
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_CLIENT, srv.p, srv.n, 1), GW_OK);
    uint8_t ping[17] = { 0, 0, 8, GW_H2_PING };
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_SERVER, ping, sizeof ping, 2), GW_OK);
    REQ_EQ(r.ends, 1);
    REQ_EQ(r.end_reason, GW_END_STREAM);
    REQ_EQ(r.midstream, 1);
    gw_h2_conn_destroy(h2);

    /* a gap before the client's first byte: it looks for a frame boundary
     * (h2.h "Gaps") instead of stopping, and the stream still ends once */
    memset(&r, 0, sizeof r);
    h2 = mid_conn(NULL, &r);
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_CLIENT, srv.p, srv.n, 1), GW_OK);
    gw_h2_conn_gap(h2, GW_DIR_TO_SERVER, 100, 2);
    REQ(gw_h2_conn_dir_ok(h2, GW_DIR_TO_SERVER));
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_SERVER, cli.p, cli.n, 3), GW_OK);
    REQ(r.ends <= 1);
    gw_h2_conn_destroy(h2);
    REQ_EQ(r.ends, 1);
    bytes_free(&srv);
    bytes_free(&cli);
}
END_TEST

/* ---- tests: h2 finds the first boundary itself ---------------------------------------- */

/* One call on stream 3 after the tail of a DATA frame of stream 1: the
 * client's request (HEADERS, DATA with END_STREAM, a PING), the server's
 * answer (HEADERS, DATA, trailers). */
struct raw_call {
    struct bytes cli, srv;
    size_t cli_first, srv_first; /* offset of the first whole frame */
};

static void raw_call_build(struct raw_call *rc)
{
    uint8_t filler[40];
    uint8_t msg[8] = { 0, 0, 0, 0, 3, 'a', 'b', 'c' };
    uint8_t ping[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    struct bytes blk = { 0 };
    memset(rc, 0, sizeof *rc);
    memset(filler, 'x', sizeof filler); /* 'x' 'x' 'x' is no frame length */
    frame_to(&rc->cli, GW_H2_DATA, 0, 1, filler, sizeof filler);
    rc->cli_first = rc->cli.n;
    hp_int(&blk, 0x80, 7, 3); /* :method POST */
    hp_int(&blk, 0x80, 7, 6); /* :scheme http */
    hp_int(&blk, 0x00, 4, 4); /* :path, literal value */
    hp_str(&blk, "/svc/M", 6);
    frame_to(&rc->cli, GW_H2_HEADERS, F_END_HEADERS, 3, blk.p, blk.n);
    frame_to(&rc->cli, GW_H2_DATA, F_END_STREAM, 3, msg, sizeof msg);
    frame_to(&rc->cli, GW_H2_PING, 0, 0, ping, sizeof ping);
    frame_to(&rc->srv, GW_H2_DATA, 0, 1, filler, 30);
    rc->srv_first = rc->srv.n;
    blk.n = 0;
    hp_int(&blk, 0x80, 7, 8); /* :status 200 */
    frame_to(&rc->srv, GW_H2_HEADERS, F_END_HEADERS, 3, blk.p, blk.n);
    frame_to(&rc->srv, GW_H2_DATA, 0, 3, msg, sizeof msg);
    blk.n = 0;
    hp_int(&blk, 0x00, 4, 0);
    hp_str(&blk, "grpc-status", 11);
    hp_str(&blk, "0", 1);
    frame_to(&rc->srv, GW_H2_HEADERS, F_END_HEADERS | F_END_STREAM, 3, blk.p, blk.n);
    bytes_free(&blk);
}

static void raw_call_free(struct raw_call *rc)
{
    bytes_free(&rc->cli);
    bytes_free(&rc->srv);
}

/* Feeds p[from, n) in chunks of `step`; every feed must succeed. */
static void feed_chunks(struct gw_h2_conn *h2, int dir, const uint8_t *p, size_t from, size_t n, size_t step)
{
    for (size_t at = from; at < n; at += step)
        REQ_EQ(gw_h2_conn_feed(h2, dir, p + at, GW_MIN(step, n - at), (gw_time_us)at), GW_OK);
}

static void check_raw_call(struct gw_h2_conn *h2, const struct rec *r)
{
    const struct gw_h2_stats *st = gw_h2_conn_stats(h2);
    REQ_EQ(r->begins, 1);
    REQ_EQ(r->last_sid, 3);
    REQ_EQ(r->headers, 3 + 1 + 1); /* request, :status, grpc-status */
    REQ_EQ(r->data_calls, 2);
    REQ_EQ(r->ends, 1);
    REQ_EQ(r->end_reason, GW_END_STREAM);
    REQ_EQ(r->midstream, 0); /* its opening HEADERS was seen */
    REQ_EQ(st->anomalies, 0);
    for (int d = 0; d < 2; d++) {
        REQ(gw_h2_conn_dir_ok(h2, d));
        REQ_EQ(gw_h2_conn_dir_resynced(h2, d), 0); /* a pickup is not a gap */
        REQ_EQ(st->gaps_resynced[d] + st->gaps_stopped[d] + st->gaps_skipped[d], 0);
    }
}

/* Both directions picked up inside a frame, fed in small chunks from there:
 * nothing before the boundary is reported, everything after it is. */
START_TEST(test_pickup_raw_inside_frame)
{
    struct raw_call rc;
    raw_call_build(&rc);
    for (size_t step = 1; step <= 23; step += 11) {
        struct rec r;
        memset(&r, 0, sizeof r);
        struct gw_h2_conn *h2 = gw_h2_conn_create_midstream(NULL, &rec_cb, &r);
        REQ_NONNULL(h2);
        /* up to just before the client's HEADERS ends: still searching */
        feed_chunks(h2, GW_DIR_TO_SERVER, rc.cli.p, 9 + 13, rc.cli_first + 12, step);
        REQ_EQ(r.begins + r.headers + r.data_calls, 0);
        REQ(gw_h2_conn_dir_ok(h2, GW_DIR_TO_SERVER));
        feed_chunks(h2, GW_DIR_TO_SERVER, rc.cli.p, rc.cli_first + 12, rc.cli.n, step);
        REQ_EQ(r.begins, 1);
        REQ_EQ(r.headers, 3);
        REQ_EQ(gw_h2_conn_set_boundary(h2, GW_DIR_TO_SERVER), GW_ERR_ARG); /* too late */
        feed_chunks(h2, GW_DIR_TO_CLIENT, rc.srv.p, 9 + 5, rc.srv.n, step);
        check_raw_call(h2, &r);
        gw_h2_conn_destroy(h2);
    }
    raw_call_free(&rc);
}
END_TEST

/* A gap before the first boundary restarts the search: 10000 bytes of text,
 * a hole, 10000 more and then frames. Searched as one run, the frames
 * would lie past the candidate window (max_frame + 8) and the direction
 * would stop; searched afresh after the hole they are found. */
START_TEST(test_pickup_gap_before_boundary)
{
    struct raw_call rc;
    raw_call_build(&rc);
    static uint8_t text[10000];
    memset(text, 'x', sizeof text);
    struct rec r;
    memset(&r, 0, sizeof r);
    struct gw_h2_conn *h2 = gw_h2_conn_create_midstream(NULL, &rec_cb, &r);
    REQ_NONNULL(h2);
    feed_chunks(h2, GW_DIR_TO_SERVER, text, 0, sizeof text, 1000);
    gw_h2_conn_gap(h2, GW_DIR_TO_SERVER, 500, 1);
    REQ(gw_h2_conn_dir_ok(h2, GW_DIR_TO_SERVER));
    feed_chunks(h2, GW_DIR_TO_SERVER, text, 0, sizeof text, 1000);
    feed_chunks(h2, GW_DIR_TO_SERVER, rc.cli.p, rc.cli_first, rc.cli.n, 64);
    gw_h2_conn_gap(h2, GW_DIR_TO_CLIENT, 0, 2); /* unknown length, before any byte */
    feed_chunks(h2, GW_DIR_TO_CLIENT, rc.srv.p, 3, rc.srv.n, 64);
    check_raw_call(h2, &r);
    REQ_EQ(gw_h2_conn_stats(h2)->hpack_resets, 0);
    gw_h2_conn_destroy(h2);

    /* the same bytes without the hole: no boundary in the window, stopped */
    memset(&r, 0, sizeof r);
    h2 = gw_h2_conn_create_midstream(NULL, &rec_cb, &r);
    gw_h2_conn_feed(h2, GW_DIR_TO_SERVER, text, sizeof text, 1);
    gw_h2_conn_feed(h2, GW_DIR_TO_SERVER, text, sizeof text, 2);
    gw_h2_conn_feed(h2, GW_DIR_TO_SERVER, rc.cli.p + rc.cli_first, rc.cli.n - rc.cli_first, 3);
    REQ(!gw_h2_conn_dir_ok(h2, GW_DIR_TO_SERVER));
    REQ_EQ(r.begins, 0);
    gw_h2_conn_destroy(h2);
    raw_call_free(&rc);
}
END_TEST

/* Bytes that never sync: the direction stops within GW_H2_SNIFF_MAX_NEED
 * bytes, calls nothing back, refuses what follows; the other direction
 * goes on. Random bytes (often candidate headers), and text. */
START_TEST(test_pickup_garbage_never_syncs)
{
    struct raw_call rc;
    raw_call_build(&rc);
    static uint8_t junk[2][GW_H2_SNIFF_MAX_NEED + 4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof junk[0]; i++) {
        x = x * 1103515245u + 12345u;
        junk[0][i] = (uint8_t)(x >> 24);
        /* mostly-zero bytes with a small length field pass the quick test */
        if (i % 9 == 0) junk[0][i] = 0;
    }
    memset(junk[1], 'x', sizeof junk[1]);
    for (int k = 0; k < 2; k++) {
        struct rec r;
        memset(&r, 0, sizeof r);
        struct gw_h2_conn *h2 = gw_h2_conn_create_midstream(NULL, &rec_cb, &r);
        REQ_NONNULL(h2);
        size_t at = 0;
        int rc1 = GW_OK;
        while (at < sizeof junk[k] && rc1 == GW_OK) {
            size_t n = GW_MIN((size_t)1000, sizeof junk[k] - at);
            rc1 = gw_h2_conn_feed(h2, GW_DIR_TO_SERVER, junk[k] + at, n, (gw_time_us)at);
            at += n;
        }
        REQ_NE(rc1, GW_OK);
        REQ_LE(at, (size_t)GW_H2_SNIFF_MAX_NEED + 1000);
        REQ(!gw_h2_conn_dir_ok(h2, GW_DIR_TO_SERVER));
        /* stopped for good: even real frames are refused now */
        REQ_NE(gw_h2_conn_feed(h2, GW_DIR_TO_SERVER, rc.cli.p + rc.cli_first, rc.cli.n - rc.cli_first, 5),
               GW_OK);
        REQ_EQ(r.begins + r.headers + r.data_calls, 0);
        REQ_EQ(gw_h2_conn_stats(h2)->anomalies, 0);
        /* the server's side is decoded all the same */
        feed_chunks(h2, GW_DIR_TO_CLIENT, rc.srv.p, rc.srv_first, rc.srv.n, 64);
        REQ(gw_h2_conn_dir_ok(h2, GW_DIR_TO_CLIENT));
        REQ_EQ(r.begins, 1);
        REQ_EQ(r.headers, 2);
        gw_h2_conn_destroy(h2);
        REQ_EQ(r.ends, 1);
    }
    /* set_boundary: only on a mid-stream direction that has taken nothing */
    struct rec r;
    memset(&r, 0, sizeof r);
    struct gw_h2_conn *h2 = gw_h2_conn_create(NULL, &rec_cb, &r);
    REQ_EQ(gw_h2_conn_set_boundary(h2, GW_DIR_TO_CLIENT), GW_ERR_ARG);
    gw_h2_conn_destroy(h2);
    h2 = gw_h2_conn_create_midstream(NULL, &rec_cb, &r);
    REQ_EQ(gw_h2_conn_set_boundary(h2, 2), GW_ERR_ARG);
    REQ_EQ(gw_h2_conn_feed(h2, GW_DIR_TO_CLIENT, rc.srv.p, 5, 1), GW_OK);
    REQ_EQ(gw_h2_conn_set_boundary(h2, GW_DIR_TO_CLIENT), GW_ERR_ARG);
    REQ_EQ(gw_h2_conn_set_boundary(h2, GW_DIR_TO_SERVER), GW_OK);
    REQ_EQ(gw_h2_conn_set_boundary(h2, GW_DIR_TO_SERVER), GW_ERR_ARG);
    gw_h2_conn_destroy(h2);
    raw_call_free(&rc);
}
END_TEST

static Suite *midstream_suite(void)
{
    Suite *s = suite_create("h2_midstream");
    TCase *tc = tcase_create("midstream");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fixture_nghttp2);
    tcase_add_test(tc, test_fixture_indexing);
    tcase_add_test(tc, test_pickup_everywhere_nghttp2);
    tcase_add_test(tc, test_pickup_everywhere_indexing);
    tcase_add_test(tc, test_recovery_after_table_reset);
    tcase_add_test(tc, test_client_only_from_start);
    tcase_add_test(tc, test_client_only_without_hint);
    tcase_add_test(tc, test_server_only_from_start);
    tcase_add_test(tc, test_client_only_midstream);
    tcase_add_test(tc, test_server_only_midstream);
    tcase_add_test(tc, test_midstream_stream_rules);
    tcase_add_test(tc, test_midstream_unknown_fields);
    tcase_add_test(tc, test_midstream_block_too_large);
    tcase_add_test(tc, test_midstream_leading_continuation);
    tcase_add_test(tc, test_midstream_server_end_waits_for_client);
    tcase_add_test(tc, test_pickup_raw_inside_frame);
    tcase_add_test(tc, test_pickup_gap_before_boundary);
    tcase_add_test(tc, test_pickup_garbage_never_syncs);
    suite_add_tcase(s, tc);
    TCase *sn = tcase_create("sniff");
    tcase_set_timeout(sn, 120);
    tcase_add_test(sn, test_sniff_rules);
    tcase_add_test(sn, test_sniff_random_never);
    tcase_add_test(sn, test_sniff_http1_never);
    tcase_add_test(sn, test_sniff_tls_never);
    tcase_add_test(sn, test_sniff_incremental_matches);
    tcase_add_test(sn, test_sniff_role);
    suite_add_tcase(s, sn);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(midstream_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
