/*
 * test_hpack.c - unit tests for the mid-stream HPACK decoder (src/hpack.c).
 *
 * Expectations come from RFC 7541 (Appendix B's code table, Appendix C's
 * examples) and from nghttp2's own deflater and inflater, never from our
 * decoder's output. The mid-stream tests encode a connection with nghttp2,
 * decode it all with nghttp2 for the truth, and start our decoder late.
 */
#include "grpcwatch/hpack.h"

#include <check.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Silent unless it fails (a passing ck_assert costs a syscall). */
#define REQUIRE(c) do { if (!(c)) ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #c); } while (0)

#define UNKNOWN_BOTH (GW_HPACK_NAME_UNKNOWN | GW_HPACK_VALUE_UNKNOWN)

/* ---- growable bytes ------------------------------------------------------ */

struct buf {
    uint8_t *p;
    size_t n, cap;
};

static void buf_reserve(struct buf *b, size_t more)
{
    if (b->n + more <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + more) cap *= 2;
    b->p = realloc(b->p, cap);
    ck_assert_ptr_nonnull(b->p);
    b->cap = cap;
}

static void buf_put(struct buf *b, const void *p, size_t n)
{
    buf_reserve(b, n + 1);
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void buf_byte(struct buf *b, uint8_t c) { buf_put(b, &c, 1); }
static void buf_free(struct buf *b) { free(b->p); memset(b, 0, sizeof *b); }

static void buf_hex(struct buf *b, const char *hex)
{
    int hi = -1;
    for (const char *s = hex; *s; s++) {
        int v;
        if (*s >= '0' && *s <= '9') v = *s - '0';
        else if (*s >= 'a' && *s <= 'f') v = *s - 'a' + 10;
        else continue;
        if (hi < 0) hi = v;
        else {
            buf_byte(b, (uint8_t)(hi << 4 | v));
            hi = -1;
        }
    }
    REQUIRE(hi < 0);
}

/* ---- an independent encoder (RFC 7541 5.1, 5.2, Appendix B) --------------- */

/* Values above 2^32 too, to build overflowing encodings. */
static void put_int(struct buf *b, uint8_t first, unsigned prefix, uint64_t v)
{
    uint64_t max = (1u << prefix) - 1;
    if (v < max) {
        buf_byte(b, (uint8_t)(first | v));
        return;
    }
    buf_byte(b, (uint8_t)(first | max));
    v -= max;
    while (v >= 128) {
        buf_byte(b, (uint8_t)(v % 128 + 128));
        v /= 128;
    }
    buf_byte(b, (uint8_t)v);
}

/* RFC 7541 Appendix B: (code, bit length) of symbols 0..255 and EOS. */
static const struct { uint32_t code; uint8_t len; } rfc_huff[257] = {
    {0x1ff8, 13}, {0x7fffd8, 23}, {0xfffffe2, 28}, {0xfffffe3, 28}, {0xfffffe4, 28},
    {0xfffffe5, 28}, {0xfffffe6, 28}, {0xfffffe7, 28}, {0xfffffe8, 28}, {0xffffea, 24},
    {0x3ffffffc, 30}, {0xfffffe9, 28}, {0xfffffea, 28}, {0x3ffffffd, 30}, {0xfffffeb, 28},
    {0xfffffec, 28}, {0xfffffed, 28}, {0xfffffee, 28}, {0xfffffef, 28}, {0xffffff0, 28},
    {0xffffff1, 28}, {0xffffff2, 28}, {0x3ffffffe, 30}, {0xffffff3, 28}, {0xffffff4, 28},
    {0xffffff5, 28}, {0xffffff6, 28}, {0xffffff7, 28}, {0xffffff8, 28}, {0xffffff9, 28},
    {0xffffffa, 28}, {0xffffffb, 28}, {0x14, 6}, {0x3f8, 10}, {0x3f9, 10},
    {0xffa, 12}, {0x1ff9, 13}, {0x15, 6}, {0xf8, 8}, {0x7fa, 11},
    {0x3fa, 10}, {0x3fb, 10}, {0xf9, 8}, {0x7fb, 11}, {0xfa, 8},
    {0x16, 6}, {0x17, 6}, {0x18, 6}, {0x0, 5}, {0x1, 5},
    {0x2, 5}, {0x19, 6}, {0x1a, 6}, {0x1b, 6}, {0x1c, 6},
    {0x1d, 6}, {0x1e, 6}, {0x1f, 6}, {0x5c, 7}, {0xfb, 8},
    {0x7ffc, 15}, {0x20, 6}, {0xffb, 12}, {0x3fc, 10}, {0x1ffa, 13},
    {0x21, 6}, {0x5d, 7}, {0x5e, 7}, {0x5f, 7}, {0x60, 7},
    {0x61, 7}, {0x62, 7}, {0x63, 7}, {0x64, 7}, {0x65, 7},
    {0x66, 7}, {0x67, 7}, {0x68, 7}, {0x69, 7}, {0x6a, 7},
    {0x6b, 7}, {0x6c, 7}, {0x6d, 7}, {0x6e, 7}, {0x6f, 7},
    {0x70, 7}, {0x71, 7}, {0x72, 7}, {0xfc, 8}, {0x73, 7},
    {0xfd, 8}, {0x1ffb, 13}, {0x7fff0, 19}, {0x1ffc, 13}, {0x3ffc, 14},
    {0x22, 6}, {0x7ffd, 15}, {0x3, 5}, {0x23, 6}, {0x4, 5},
    {0x24, 6}, {0x5, 5}, {0x25, 6}, {0x26, 6}, {0x27, 6},
    {0x6, 5}, {0x74, 7}, {0x75, 7}, {0x28, 6}, {0x29, 6},
    {0x2a, 6}, {0x7, 5}, {0x2b, 6}, {0x76, 7}, {0x2c, 6},
    {0x8, 5}, {0x9, 5}, {0x2d, 6}, {0x77, 7}, {0x78, 7},
    {0x79, 7}, {0x7a, 7}, {0x7b, 7}, {0x7ffe, 15}, {0x7fc, 11},
    {0x3ffd, 14}, {0x1ffd, 13}, {0xffffffc, 28}, {0xfffe6, 20}, {0x3fffd2, 22},
    {0xfffe7, 20}, {0xfffe8, 20}, {0x3fffd3, 22}, {0x3fffd4, 22}, {0x3fffd5, 22},
    {0x7fffd9, 23}, {0x3fffd6, 22}, {0x7fffda, 23}, {0x7fffdb, 23}, {0x7fffdc, 23},
    {0x7fffdd, 23}, {0x7fffde, 23}, {0xffffeb, 24}, {0x7fffdf, 23}, {0xffffec, 24},
    {0xffffed, 24}, {0x3fffd7, 22}, {0x7fffe0, 23}, {0xffffee, 24}, {0x7fffe1, 23},
    {0x7fffe2, 23}, {0x7fffe3, 23}, {0x7fffe4, 23}, {0x1fffdc, 21}, {0x3fffd8, 22},
    {0x7fffe5, 23}, {0x3fffd9, 22}, {0x7fffe6, 23}, {0x7fffe7, 23}, {0xffffef, 24},
    {0x3fffda, 22}, {0x1fffdd, 21}, {0xfffe9, 20}, {0x3fffdb, 22}, {0x3fffdc, 22},
    {0x7fffe8, 23}, {0x7fffe9, 23}, {0x1fffde, 21}, {0x7fffea, 23}, {0x3fffdd, 22},
    {0x3fffde, 22}, {0xfffff0, 24}, {0x1fffdf, 21}, {0x3fffdf, 22}, {0x7fffeb, 23},
    {0x7fffec, 23}, {0x1fffe0, 21}, {0x1fffe1, 21}, {0x3fffe0, 22}, {0x1fffe2, 21},
    {0x7fffed, 23}, {0x3fffe1, 22}, {0x7fffee, 23}, {0x7fffef, 23}, {0xfffea, 20},
    {0x3fffe2, 22}, {0x3fffe3, 22}, {0x3fffe4, 22}, {0x7ffff0, 23}, {0x3fffe5, 22},
    {0x3fffe6, 22}, {0x7ffff1, 23}, {0x3ffffe0, 26}, {0x3ffffe1, 26}, {0xfffeb, 20},
    {0x7fff1, 19}, {0x3fffe7, 22}, {0x7ffff2, 23}, {0x3fffe8, 22}, {0x1ffffec, 25},
    {0x3ffffe2, 26}, {0x3ffffe3, 26}, {0x3ffffe4, 26}, {0x7ffffde, 27}, {0x7ffffdf, 27},
    {0x3ffffe5, 26}, {0xfffff1, 24}, {0x1ffffed, 25}, {0x7fff2, 19}, {0x1fffe3, 21},
    {0x3ffffe6, 26}, {0x7ffffe0, 27}, {0x7ffffe1, 27}, {0x3ffffe7, 26}, {0x7ffffe2, 27},
    {0xfffff2, 24}, {0x1fffe4, 21}, {0x1fffe5, 21}, {0x3ffffe8, 26}, {0x3ffffe9, 26},
    {0xffffffd, 28}, {0x7ffffe3, 27}, {0x7ffffe4, 27}, {0x7ffffe5, 27}, {0xfffec, 20},
    {0xfffff3, 24}, {0xfffed, 20}, {0x1fffe6, 21}, {0x3fffe9, 22}, {0x1fffe7, 21},
    {0x1fffe8, 21}, {0x7ffff3, 23}, {0x3fffea, 22}, {0x3fffeb, 22}, {0x1ffffee, 25},
    {0x1ffffef, 25}, {0xfffff4, 24}, {0xfffff5, 24}, {0x3ffffea, 26}, {0x7ffff4, 23},
    {0x3ffffeb, 26}, {0x7ffffe6, 27}, {0x3ffffec, 26}, {0x3ffffed, 26}, {0x7ffffe7, 27},
    {0x7ffffe8, 27}, {0x7ffffe9, 27}, {0x7ffffea, 27}, {0x7ffffeb, 27}, {0xffffffe, 28},
    {0x7ffffec, 27}, {0x7ffffed, 27}, {0x7ffffee, 27}, {0x7ffffef, 27}, {0x7fffff0, 27},
    {0x3ffffee, 26}, {0x3fffffff, 30},
};

static void huff_encode(struct buf *b, const uint8_t *s, size_t n)
{
    uint64_t acc = 0;
    unsigned nbits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << rfc_huff[s[i]].len) | rfc_huff[s[i]].code;
        nbits += rfc_huff[s[i]].len;
        while (nbits >= 8) {
            nbits -= 8;
            buf_byte(b, (uint8_t)(acc >> nbits));
            acc &= (1ull << nbits) - 1;
        }
    }
    if (nbits) /* pad with the most significant bits of EOS: ones */
        buf_byte(b, (uint8_t)((acc << (8 - nbits)) | ((1u << (8 - nbits)) - 1)));
}

static void put_str(struct buf *b, bool huffman, const void *s, size_t n)
{
    if (!huffman) {
        put_int(b, 0x00, 7, n);
        buf_put(b, s, n);
        return;
    }
    struct buf h = { 0 };
    huff_encode(&h, s, n);
    put_int(b, 0x80, 7, h.n);
    buf_put(b, h.p, h.n);
    buf_free(&h);
}

/* Literal with incremental indexing, new name. */
static void put_lit_inc(struct buf *b, const char *name, const char *value)
{
    buf_byte(b, 0x40);
    put_str(b, false, name, strlen(name));
    put_str(b, false, value, strlen(value));
}

/* ---- recorded fields ------------------------------------------------------ */

struct rfield {
    uint8_t *name, *value;
    size_t namelen, valuelen;
    bool name_null, value_null;
    unsigned flags;
};

struct flist {
    struct rfield *v;
    size_t n, cap;
};

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n + 1);
    ck_assert_ptr_nonnull(d);
    if (n) memcpy(d, p, n);
    return d;
}

static void on_field(void *user, const uint8_t *name, size_t namelen, const uint8_t *value,
                     size_t valuelen, unsigned flags)
{
    struct flist *l = user;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        ck_assert_ptr_nonnull(l->v);
    }
    struct rfield *f = &l->v[l->n++];
    f->name_null = name == NULL;
    f->value_null = value == NULL;
    f->name = dup_bytes(name, namelen);
    f->value = dup_bytes(value, valuelen);
    f->namelen = namelen;
    f->valuelen = valuelen;
    f->flags = flags;
}

static void flist_clear(struct flist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].value);
    }
    l->n = 0;
}

static void flist_free(struct flist *l)
{
    flist_clear(l);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static bool bytes_eq(const uint8_t *a, size_t an, const void *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static bool field_is(const struct rfield *f, const char *name, const char *value)
{
    return f->flags == 0 && !f->name_null && !f->value_null &&
           bytes_eq(f->name, f->namelen, name, strlen(name)) &&
           bytes_eq(f->value, f->valuelen, value, strlen(value));
}

static bool fields_equal(const struct rfield *a, const struct rfield *b)
{
    return a->flags == b->flags && bytes_eq(a->name, a->namelen, b->name, b->namelen) &&
           bytes_eq(a->value, a->valuelen, b->value, b->valuelen);
}

static int decode(struct gw_hpack *h, const struct buf *b, struct flist *out)
{
    return gw_hpack_decode_block(h, b->p, b->n, on_field, out);
}

static int decode_hex(struct gw_hpack *h, const char *hex, struct flist *out)
{
    struct buf b = { 0 };
    buf_hex(&b, hex);
    int rv = decode(h, &b, out);
    buf_free(&b);
    return rv;
}

static uint32_t rnd_below(uint64_t *s, uint32_t n);

/* The block fed in pieces of 1..max_piece bytes (seeded), as h2block.c
 * feeds fragments: what a piece leaves undecoded is carried in front of
 * the next one. */
static int decode_pieces(struct gw_hpack *h, const struct buf *b, uint64_t *seed, size_t max_piece,
                         struct flist *out)
{
    struct buf carry = { 0 };
    size_t off = 0, used;
    int rv = GW_OK;
    gw_hpack_block_begin(h);
    while (off < b->n && rv == GW_OK) {
        size_t k = 1 + rnd_below(seed, (uint32_t)max_piece);
        if (k > b->n - off) k = b->n - off;
        buf_put(&carry, b->p + off, k);
        off += k;
        rv = gw_hpack_block_feed(h, carry.p, carry.n, &used, on_field, out);
        if (rv == GW_OK) {
            memmove(carry.p, carry.p + used, carry.n - used);
            carry.n -= used;
        }
    }
    if (rv == GW_OK) rv = gw_hpack_block_end(h, carry.n);
    buf_free(&carry);
    return rv;
}

static bool entry_is(const struct gw_hpack *h, uint32_t j, const char *name, const char *value)
{
    const uint8_t *n, *v;
    size_t nl, vl;
    unsigned flags;
    if (!gw_hpack_known_entry(h, j, &n, &nl, &v, &vl, &flags)) return false;
    return flags == 0 && n != NULL && bytes_eq(n, nl, name, strlen(name)) &&
           bytes_eq(v, vl, value, strlen(value));
}

/* ---- deterministic PRNG (xorshift64*) --------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static uint32_t rnd_below(uint64_t *s, uint32_t n) { return (uint32_t)(rnd(s) % n); }

/* ---- nghttp2 as the reference ---------------------------------------------- */

static void ng_deflate(nghttp2_hd_deflater *d, nghttp2_nv *nva, size_t n, struct buf *out)
{
    size_t bound = nghttp2_hd_deflate_bound(d, nva, n);
    out->n = 0;
    buf_reserve(out, bound + 1);
    ssize_t rv = nghttp2_hd_deflate_hd(d, out->p, bound, nva, n);
    REQUIRE(rv >= 0);
    out->n = (size_t)rv;
}

/* false if nghttp2 refuses the block (the inflater is then spoiled) */
static bool ng_inflate_ok(nghttp2_hd_inflater *inf, const struct buf *in, struct flist *out)
{
    static const uint8_t none[1] = { 0 };
    const uint8_t *p = in->p ? in->p : none;
    size_t left = in->n;
    for (;;) {
        nghttp2_nv nv;
        int fl = 0;
        ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &fl, p, left, 1);
        if (rv < 0) return false;
        p += rv;
        left -= (size_t)rv;
        if (fl & NGHTTP2_HD_INFLATE_EMIT) on_field(out, nv.name, nv.namelen, nv.value, nv.valuelen, 0);
        if (fl & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(inf);
            break;
        }
        if (!(fl & NGHTTP2_HD_INFLATE_EMIT) && left == 0) break;
    }
    return true;
}

static void ng_inflate(nghttp2_hd_inflater *inf, const struct buf *in, struct flist *out)
{
    REQUIRE(ng_inflate_ok(inf, in, out));
}

/* Our table must equal the inflater's entry for entry. */
static void require_same_table(const struct gw_hpack *h, nghttp2_hd_inflater *inf)
{
    size_t n = nghttp2_hd_inflate_get_num_table_entries(inf) - 61;
    REQUIRE(gw_hpack_known_entries(h) == n);
    REQUIRE(gw_hpack_known_size(h) == nghttp2_hd_inflate_get_dynamic_table_size(inf));
    for (uint32_t j = 0; j < n; j++) {
        const nghttp2_nv *nv = nghttp2_hd_inflate_get_table_entry(inf, 62 + j);
        const uint8_t *name, *value;
        size_t nl, vl;
        unsigned flags;
        REQUIRE(nv != NULL);
        REQUIRE(gw_hpack_known_entry(h, j, &name, &nl, &value, &vl, &flags));
        REQUIRE(flags == 0);
        REQUIRE(bytes_eq(name, nl, nv->name, nv->namelen));
        REQUIRE(bytes_eq(value, vl, nv->value, nv->valuelen));
    }
}

/* ---- RFC 7541 Appendix C ----------------------------------------------------- */

struct rfc_step {
    const char *hex;
    const char *fields[6][2];
    size_t nfields;
    const char *table[5][2]; /* newest first */
    size_t ntable;
    uint32_t size;
};

static void run_rfc_steps(struct gw_hpack *h, const struct rfc_step *steps, size_t nsteps)
{
    struct flist l = { 0 };
    for (size_t s = 0; s < nsteps; s++) {
        const struct rfc_step *st = &steps[s];
        flist_clear(&l);
        ck_assert_int_eq(decode_hex(h, st->hex, &l), GW_OK);
        ck_assert_uint_eq(l.n, st->nfields);
        for (size_t i = 0; i < st->nfields; i++)
            ck_assert_msg(field_is(&l.v[i], st->fields[i][0], st->fields[i][1]),
                          "step %zu field %zu: want %s: %s", s, i, st->fields[i][0], st->fields[i][1]);
        ck_assert_uint_eq(gw_hpack_known_entries(h), st->ntable);
        for (size_t j = 0; j < st->ntable; j++)
            ck_assert_msg(entry_is(h, (uint32_t)j, st->table[j][0], st->table[j][1]),
                          "step %zu entry %zu", s, j);
        ck_assert_uint_eq(gw_hpack_known_size(h), st->size);
        ck_assert(gw_hpack_fully_known(h));
    }
    flist_free(&l);
}

START_TEST(test_rfc_c2_fields)
{
    static const struct rfc_step steps[] = {
        /* C.2.1 literal with indexing */
        { "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
          { { "custom-key", "custom-header" } }, 1,
          { { "custom-key", "custom-header" } }, 1, 55 },
        /* C.2.2 literal without indexing */
        { "040c 2f73 616d 706c 652f 7061 7468", { { ":path", "/sample/path" } }, 1, { { 0 } }, 0, 0 },
        /* C.2.3 literal never indexed */
        { "1008 7061 7373 776f 7264 0673 6563 7265 74", { { "password", "secret" } }, 1,
          { { 0 } }, 0, 0 },
        /* C.2.4 indexed */
        { "82", { { ":method", "GET" } }, 1, { { 0 } }, 0, 0 },
    };
    for (size_t i = 0; i < GW_ARRAY_LEN(steps); i++) {
        struct gw_hpack *h = gw_hpack_create(4096, true);
        ck_assert_ptr_nonnull(h);
        run_rfc_steps(h, &steps[i], 1);
        gw_hpack_destroy(h);
    }
}
END_TEST

#define REQ1 { { ":method", "GET" }, { ":scheme", "http" }, { ":path", "/" }, \
               { ":authority", "www.example.com" } }, 4
#define REQ2 { { ":method", "GET" }, { ":scheme", "http" }, { ":path", "/" }, \
               { ":authority", "www.example.com" }, { "cache-control", "no-cache" } }, 5
#define REQ3 { { ":method", "GET" }, { ":scheme", "https" }, { ":path", "/index.html" }, \
               { ":authority", "www.example.com" }, { "custom-key", "custom-value" } }, 5
#define REQT1 { { ":authority", "www.example.com" } }, 1, 57
#define REQT2 { { "cache-control", "no-cache" }, { ":authority", "www.example.com" } }, 2, 110
#define REQT3 { { "custom-key", "custom-value" }, { "cache-control", "no-cache" }, \
                { ":authority", "www.example.com" } }, 3, 164

START_TEST(test_rfc_c3_requests)
{
    static const struct rfc_step steps[] = {
        { "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", REQ1, REQT1 },
        { "8286 84be 5808 6e6f 2d63 6163 6865", REQ2, REQT2 },
        { "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65", REQ3, REQT3 },
    };
    struct gw_hpack *h = gw_hpack_create(4096, true);
    run_rfc_steps(h, steps, GW_ARRAY_LEN(steps));
    gw_hpack_destroy(h);
}
END_TEST

START_TEST(test_rfc_c4_requests_huffman)
{
    static const struct rfc_step steps[] = {
        { "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", REQ1, REQT1 },
        { "8286 84be 5886 a8eb 1064 9cbf", REQ2, REQT2 },
        { "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf", REQ3, REQT3 },
    };
    struct gw_hpack *h = gw_hpack_create(4096, true);
    run_rfc_steps(h, steps, GW_ARRAY_LEN(steps));
    gw_hpack_destroy(h);
}
END_TEST

#define DATE1 "Mon, 21 Oct 2013 20:13:21 GMT"
#define DATE2 "Mon, 21 Oct 2013 20:13:22 GMT"
#define LOC "https://www.example.com"
#define COOKIE "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"
#define RESP1 { { ":status", "302" }, { "cache-control", "private" }, { "date", DATE1 }, \
                { "location", LOC } }, 4, \
              { { "location", LOC }, { "date", DATE1 }, { "cache-control", "private" }, \
                { ":status", "302" } }, 4, 222
#define RESP2 { { ":status", "307" }, { "cache-control", "private" }, { "date", DATE1 }, \
                { "location", LOC } }, 4, \
              { { ":status", "307" }, { "location", LOC }, { "date", DATE1 }, \
                { "cache-control", "private" } }, 4, 222
#define RESP3 { { ":status", "200" }, { "cache-control", "private" }, { "date", DATE2 }, \
                { "location", LOC }, { "content-encoding", "gzip" }, { "set-cookie", COOKIE } }, 6, \
              { { "set-cookie", COOKIE }, { "content-encoding", "gzip" }, { "date", DATE2 } }, 3, 215

/* C.5/C.6 assume SETTINGS_HEADER_TABLE_SIZE 256 with no size update. */
START_TEST(test_rfc_c5_responses)
{
    static const struct rfc_step steps[] = {
        { "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133"
          "2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70"
          "6c65 2e63 6f6d", RESP1 },
        { "4803 3330 37c1 c0bf", RESP2 },
        { "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d"
          "54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049"
          "5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e"
          "3d31", RESP3 },
    };
    struct gw_hpack *h = gw_hpack_create(4096, true);
    ck_assert_int_eq(gw_hpack_set_max_size(h, 256), GW_OK);
    run_rfc_steps(h, steps, GW_ARRAY_LEN(steps));
    gw_hpack_destroy(h);
}
END_TEST

START_TEST(test_rfc_c6_responses_huffman)
{
    static const struct rfc_step steps[] = {
        { "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6"
          "2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3", RESP1 },
        { "4883 640e ffc1 c0bf", RESP2 },
        { "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab"
          "77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f"
          "9587 3160 65c0 03ed 4ee5 b106 3d50 07", RESP3 },
    };
    /* Here the cap is the table size itself: nothing may be forgotten. */
    struct gw_hpack *h = gw_hpack_create(256, true);
    ck_assert_int_eq(gw_hpack_set_max_size(h, 256), GW_OK);
    run_rfc_steps(h, steps, GW_ARRAY_LEN(steps));
    ck_assert_int_eq(gw_hpack_set_max_size(h, 4097), GW_ERR_ARG); /* the default is allowed */
    gw_hpack_destroy(h);
}
END_TEST

/* The same responses with the size announced in-band (RFC 7541 6.3). */
START_TEST(test_rfc_c5_with_size_update)
{
    static const struct rfc_step steps[] = {
        { "3fe1 01" /* size update to 256 */
          "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133"
          "2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70"
          "6c65 2e63 6f6d", RESP1 },
        { "4803 3330 37c1 c0bf", RESP2 },
    };
    struct gw_hpack *h = gw_hpack_create(4096, true);
    run_rfc_steps(h, steps, GW_ARRAY_LEN(steps));
    gw_hpack_destroy(h);
}
END_TEST

/* ---- Huffman ------------------------------------------------------------------- */

static bool huff_decodes_to(const char *hex, const char *want)
{
    struct buf in = { 0 };
    uint8_t out[128];
    buf_hex(&in, hex);
    long n = gw_hpack_huffman_decode(in.p, in.n, out, sizeof out);
    buf_free(&in);
    return n >= 0 && bytes_eq(out, (size_t)n, want, strlen(want));
}

static long huff_hex(const char *hex)
{
    struct buf in = { 0 };
    uint8_t out[128];
    buf_hex(&in, hex);
    long n = gw_hpack_huffman_decode(in.p, in.n, out, sizeof out);
    buf_free(&in);
    return n;
}

START_TEST(test_huffman_rfc_strings)
{
    /* The Huffman-coded strings of RFC 7541 C.4 and C.6. */
    ck_assert(huff_decodes_to("f1e3 c2e5 f23a 6ba0 ab90 f4ff", "www.example.com"));
    ck_assert(huff_decodes_to("a8eb 1064 9cbf", "no-cache"));
    ck_assert(huff_decodes_to("25a8 49e9 5ba9 7d7f", "custom-key"));
    ck_assert(huff_decodes_to("25a8 49e9 5bb8 e8b4 bf", "custom-value"));
    ck_assert(huff_decodes_to("6402", "302"));
    ck_assert(huff_decodes_to("640e ff", "307"));
    ck_assert(huff_decodes_to("aec3 771a 4b", "private"));
    ck_assert(huff_decodes_to("d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff", DATE1));
    ck_assert(huff_decodes_to("d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff", DATE2));
    ck_assert(huff_decodes_to("9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3", LOC));
    ck_assert(huff_decodes_to("9bd9 ab", "gzip"));
    ck_assert(huff_decodes_to("94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1"
                              "ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07", COOKIE));
    ck_assert(huff_decodes_to("", ""));
    ck_assert(huff_decodes_to("1f", "a")); /* 00011 + 111 padding */
}
END_TEST

START_TEST(test_huffman_invalid)
{
    ck_assert_int_eq(huff_hex("ff"), -1);             /* 8 bits of padding */
    ck_assert_int_eq(huff_hex("1fff"), -1);           /* "a" + 11 bits of padding */
    ck_assert_int_eq(huff_hex("1fffffff"), -1);       /* "a" + 27 bits of padding */
    ck_assert_int_eq(huff_hex("18"), -1);             /* "a" + padding 000 */
    ck_assert_int_eq(huff_hex("1e"), -1);             /* "a" + padding 110 */
    ck_assert_int_eq(huff_hex("00"), -1);             /* "0" + padding 000 */
    ck_assert_int_eq(huff_hex("ffff ffff fc"), -1);   /* EOS then "?" */
    ck_assert_int_eq(huff_hex("ffff ffff"), -1);      /* EOS then 2 bits of padding */
    ck_assert_int_eq(huff_hex("1fff ffff ff"), -1);   /* "a", EOS, 5 bits of padding */
    ck_assert_int_eq(huff_hex("ff9f ffff ff"), -1);   /* 29 bits of padding-like ones */
    ck_assert_int_eq(huff_hex("52bc 30ff ffff ff"), -1); /* ends inside a long code */
    ck_assert_int_eq(huff_hex("fe"), -1);             /* 7 bits, not all ones, of a long code */
    /* Output capacity: "www.example.com" needs 15 bytes. */
    struct buf in = { 0 };
    uint8_t out[15];
    buf_hex(&in, "f1e3 c2e5 f23a 6ba0 ab90 f4ff");
    ck_assert_int_eq(gw_hpack_huffman_decode(in.p, in.n, out, 14), -1);
    ck_assert_int_eq(gw_hpack_huffman_decode(in.p, in.n, out, 15), 15);
    buf_free(&in);
    /* A bad Huffman string inside a block is MALFORMED. */
    struct gw_hpack *h = gw_hpack_create(4096, true);
    struct flist l = { 0 };
    ck_assert_int_eq(decode_hex(h, "0001 61 81 ff", &l), GW_ERR_MALFORMED);
    ck_assert_int_eq(decode_hex(h, "0081 ff 01 61", &l), GW_ERR_MALFORMED);
    ck_assert_int_eq(decode_hex(h, "0001 61 81 1f", &l), GW_OK);
    ck_assert_uint_eq(l.n, 1);
    ck_assert(field_is(&l.v[0], "a", "a"));
    flist_free(&l);
    gw_hpack_destroy(h);
}
END_TEST

/* s encoded with the RFC's table decodes back to s. */
static bool huff_roundtrips(const uint8_t *s, size_t len)
{
    uint8_t out[128];
    struct buf e = { 0 };
    huff_encode(&e, s, len);
    long n = gw_hpack_huffman_decode(e.p, e.n, out, sizeof out);
    buf_free(&e);
    return len <= sizeof out && n == (long)len && memcmp(out, s, len) == 0;
}

/* Every symbol, with the RFC's table as the encoder. */
START_TEST(test_huffman_every_byte_rfc_table)
{
    uint8_t s[64];
    uint64_t seed = 0x1234567;
    for (unsigned b = 0; b < 256; b++) {
        for (size_t len = 1; len <= 9; len += 4) {
            memset(s, (int)b, len);
            ck_assert_msg(huff_roundtrips(s, len), "byte %u x %zu", b, len);
        }
    }
    for (int i = 0; i < 2000; i++) {
        size_t len = rnd_below(&seed, sizeof s + 1);
        for (size_t k = 0; k < len; k++) s[k] = (uint8_t)rnd(&seed);
        REQUIRE(huff_roundtrips(s, len));
    }
}
END_TEST

/* Every symbol followed by every symbol: each code of at most 8 bits is
 * decoded by one table entry per possible next bits, so this reaches every
 * entry of the decoder's byte table. Once alone (the end of the input is
 * near: byte refills) and once before ten more symbols (8-byte refills). */
START_TEST(test_huffman_every_pair)
{
    uint8_t s[12];
    memset(s, 'x', sizeof s);
    for (unsigned a = 0; a < 256; a++) {
        for (unsigned b = 0; b < 256; b++) {
            s[0] = (uint8_t)a;
            s[1] = (uint8_t)b;
            for (size_t len = 2; len <= sizeof s; len += sizeof s - 2) REQUIRE(huff_roundtrips(s, len));
        }
    }
}
END_TEST

/* Every symbol again, Huffman-coded by nghttp2 (its own table): a rare byte
 * between common letters keeps the Huffman form the shorter one. */
START_TEST(test_huffman_every_byte_nghttp2)
{
    nghttp2_hd_deflater *d;
    ck_assert_int_eq(nghttp2_hd_deflate_new(&d, 4096), 0);
    struct gw_hpack *h = gw_hpack_create(4096, true);
    struct buf blk = { 0 };
    struct flist l = { 0 };
    for (unsigned b = 0; b < 256; b++) {
        uint8_t value[33];
        memset(value, 'e', sizeof value);
        value[16] = (uint8_t)b;
        nghttp2_nv nv = { (uint8_t *)"x-v", value, 3, sizeof value, NGHTTP2_NV_FLAG_NO_INDEX };
        ng_deflate(d, &nv, 1, &blk);
        REQUIRE(blk.n < 1 + 1 + 3 + 1 + sizeof value - 4); /* Huffman was used */
        flist_clear(&l);
        ck_assert_int_eq(decode(h, &blk, &l), GW_OK);
        ck_assert_uint_eq(l.n, 1);
        ck_assert_msg(bytes_eq(l.v[0].value, l.v[0].valuelen, value, sizeof value), "byte %u", b);
    }
    flist_free(&l);
    buf_free(&blk);
    gw_hpack_destroy(h);
    nghttp2_hd_deflate_del(d);
}
END_TEST

/* A field announced longer than GW_HPACK_MAX_STRING is refused as soon as
 * its length is read, not after its bytes: a sensor must not buffer a
 * megabyte to find out (nghttp2 refuses it the same way). A string cut
 * by the end of the bytes so far is only incomplete. */
START_TEST(test_feed_refuses_huge_string_at_its_length)
{
    struct gw_hpack *h = gw_hpack_create(4096, true);
    struct buf b = { 0 };
    struct flist l = { 0 };
    size_t used = 99;
    buf_byte(&b, 0x00);
    put_str(&b, false, "x-huge", 6);
    put_int(&b, 0x00, 7, GW_HPACK_MAX_STRING); /* the largest allowed: incomplete */
    buf_put(&b, "abc", 3);
    gw_hpack_block_begin(h);
    ck_assert_int_eq(gw_hpack_block_feed(h, b.p, b.n, &used, on_field, &l), GW_OK);
    ck_assert_uint_eq(used, 0);
    ck_assert_uint_eq(l.n, 0);
    ck_assert_int_eq(gw_hpack_block_end(h, b.n - used), GW_ERR_MALFORMED); /* cut by the block's end */
    b.n = 0;
    buf_byte(&b, 0x00);
    put_str(&b, false, "x-huge", 6);
    put_int(&b, 0x00, 7, GW_HPACK_MAX_STRING + 1);
    gw_hpack_block_begin(h);
    ck_assert_int_eq(gw_hpack_block_feed(h, b.p, b.n, &used, on_field, &l), GW_ERR_MALFORMED);
    flist_free(&l);
    buf_free(&b);
    gw_hpack_destroy(h);
}
END_TEST

/* A block fed a byte at a time decodes each Huffman string once: a cut
 * representation is only checked for completeness, so a long Huffman
 * name whose value trickles in costs one decoding, not one per piece. */
START_TEST(test_feed_in_pieces_decodes_each_string_once)
{
    uint8_t name[3000], value[3000];
    memset(name, 'a', sizeof name);
    memset(value, 'v', sizeof value);
    struct buf b = { 0 }, hn = { 0 };
    huff_encode(&hn, name, sizeof name);
    buf_byte(&b, 0x00); /* literal, new name, no indexing */
    put_str(&b, true, name, sizeof name);
    put_str(&b, false, value, sizeof value);
    struct gw_hpack *h = gw_hpack_create(4096, true);
    struct flist l = { 0 };
    uint64_t seed = 1;
    ck_assert_int_eq(decode_pieces(h, &b, &seed, 1, &l), GW_OK);
    ck_assert_uint_eq(l.n, 1);
    ck_assert(bytes_eq(l.v[0].name, l.v[0].namelen, name, sizeof name));
    ck_assert(bytes_eq(l.v[0].value, l.v[0].valuelen, value, sizeof value));
    ck_assert_uint_eq(gw_hpack_huffman_in(h), hn.n); /* once, not once per piece */
    flist_free(&l);
    buf_free(&hn);
    buf_free(&b);
    gw_hpack_destroy(h);
}
END_TEST

/* gw_hpack_set_ceiling against nghttp2_hd_inflate_change_table_size on the
 * same blocks: an update above the ceiling is refused, a cut below the
 * encoder's maximum demands an update first in the next block (an empty
 * block included), the cut evicts, the first update after several changes
 * is at most their smallest, and after the update fields decode again.
 * Each scenario: steps that must decode, then the one checked. */
#define UPD(v) (0x100000u | (v)) /* a dynamic table size update to v */
#define CEIL(v) (0x200000u | (v)) /* gw_hpack_set_ceiling(v) before the next block */
#define INSERT_AB 0x300000u       /* the field a: b, with incremental indexing */
#define END 0u                    /* ends a block */
static void ceiling_block(struct buf *b, const uint32_t *ops, size_t *i)
{
    for (; ops[*i] != END; (*i)++) {
        uint32_t op = ops[*i];
        if ((op >> 20) == 1) put_int(b, 0x20, 5, op & 0xfffff);
        else if (op == INSERT_AB) buf_hex(b, "40 01 61 01 62");
        else buf_byte(b, (uint8_t)op); /* an indexed field: 0x82, 0xbe... */
    }
}

START_TEST(test_ceiling_as_nghttp2)
{
    static const struct {
        uint32_t ops[12];
        bool last_ok;
    } sc[] = {
        { { CEIL(4096), UPD(8192), 0x82, END }, false },             /* above the ceiling */
        { { CEIL(8192), UPD(8192), 0x82, END }, true },
        { { INSERT_AB, END, CEIL(256), 0x82, END }, false },         /* the update must come first */
        { { INSERT_AB, END, CEIL(256), END }, false },               /* an empty block owes it too */
        { { INSERT_AB, END, CEIL(256), UPD(257), 0x82, END }, false },
        { { INSERT_AB, END, CEIL(256), UPD(256), 0x82, 0xbe, END }, true }, /* a: b kept */
        { { INSERT_AB, END, CEIL(256), UPD(0), UPD(256), 0xbe, END }, false }, /* emptied */
        { { INSERT_AB, END, CEIL(16), UPD(16), END, 0xbe, END }, false },     /* the cut evicted it */
        { { INSERT_AB, END, CEIL(256), UPD(100), END, 0x82, END }, true },    /* owed no more */
        { { CEIL(256), CEIL(8192), UPD(8192), END }, false },        /* 256 must be signalled first */
        { { CEIL(256), CEIL(8192), UPD(256), UPD(8192), 0x82, END }, true },
        { { CEIL(8192), UPD(8192), END, CEIL(8192), UPD(8192), END }, true }, /* a raise owes nothing */
        { { CEIL(8192), UPD(2048), END, CEIL(3000), CEIL(8192), UPD(4096), 0x82, END }, true }, /* nor
          a ceiling above the table's maximum: it cut nothing */
    };
    for (size_t k = 0; k < GW_ARRAY_LEN(sc); k++) {
        nghttp2_hd_inflater *inf;
        ck_assert_int_eq(nghttp2_hd_inflate_new(&inf), 0);
        struct gw_hpack *h = gw_hpack_create(65536, true);
        gw_hpack_follow_settings(h);
        size_t i = 0;
        for (;;) {
            while ((sc[k].ops[i] >> 20) == 2) {
                gw_hpack_set_ceiling(h, sc[k].ops[i] & 0xfffff);
                ck_assert_int_eq(nghttp2_hd_inflate_change_table_size(inf, sc[k].ops[i] & 0xfffff), 0);
                i++;
            }
            struct buf b = { 0 };
            struct flist l = { 0 };
            ceiling_block(&b, sc[k].ops, &i);
            bool last = i + 1 >= GW_ARRAY_LEN(sc[k].ops) || sc[k].ops[i + 1] == END;
            bool ours = decode(h, &b, &l) == GW_OK;
            struct flist ref = { 0 };
            bool theirs = ng_inflate_ok(inf, &b, &ref);
            flist_free(&ref);
            ck_assert_msg(ours == theirs, "scenario %zu: hpack.c %d, nghttp2 %d", k, ours, theirs);
            ck_assert_msg(ours == (last ? sc[k].last_ok : true), "scenario %zu block ending at %zu", k, i);
            if (!ours) ck_assert_uint_eq(l.n, 0); /* each fails before its first field */
            flist_free(&l);
            buf_free(&b);
            if (last) break;
            i++;
        }
        gw_hpack_destroy(h);
        nghttp2_hd_inflate_del(inf);
    }
}
END_TEST
#undef UPD
#undef CEIL
#undef INSERT_AB
#undef END

/* The table's store (one buffer, entries oldest to newest, circularly):
 * an insertion whose name is the entry it evicts (RFC 7541 4.4), entries
 * of every size wrapping around the store's end and the store growing and
 * compacting, all against nghttp2's table after every block. */
START_TEST(test_store_wraps_and_keeps_evicted_names)
{
    nghttp2_hd_inflater *inf;
    ck_assert_int_eq(nghttp2_hd_inflate_new(&inf), 0);
    struct gw_hpack *h = gw_hpack_create(4096, true);
    struct buf b = { 0 };
    struct flist ours = { 0 }, ref = { 0 };
    uint8_t v[2048]; /* values up to half the largest table */
    memset(v, 'w', sizeof v);
    put_int(&b, 0x20, 5, 128); /* a 128-byte table */
    buf_byte(&b, 0x40);
    put_str(&b, false, "x-aaaaaaaa", 10);
    put_str(&b, false, v, 40); /* 82 bytes */
    ck_assert_int_eq(decode(h, &b, &ours), GW_OK);
    ng_inflate(inf, &b, &ref);
    b.n = 0;
    put_int(&b, 0x40, 6, 62); /* name of dynamic entry 62, the one evicted */
    put_str(&b, false, v, 60); /* 102 bytes: 82 + 102 > 128 */
    ck_assert_int_eq(decode(h, &b, &ours), GW_OK);
    ng_inflate(inf, &b, &ref);
    ck_assert_uint_eq(gw_hpack_known_entries(h), 1);
    require_same_table(h, inf);
    ck_assert(field_is(&ours.v[1], "x-aaaaaaaa", "wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww"));
    /* tables of 256 and 4096 bytes, entries of 33 bytes up to half the
     * table, names from the table (half of the time its oldest entry,
     * which the insertion may evict) or new: they wrap around the store's
     * end, and the store grows and compacts */
    uint64_t seed = 0x5eed;
    for (int i = 0; i < 4000; i++) {
        uint32_t table = i < 3200 ? 256 : 4096; /* 256: many entries near the gap's size */
        b.n = 0;
        if (i == 0 || i == 3200) put_int(&b, 0x20, 5, table);
        size_t n = gw_hpack_known_entries(h);
        if (n && rnd_below(&seed, 2)) {
            put_int(&b, 0x40, 6, 61 + n); /* the oldest entry's name */
        } else {
            char name[16];
            int k = snprintf(name, sizeof name, "x-%d", i);
            buf_byte(&b, 0x40);
            put_str(&b, false, name, (size_t)k);
        }
        put_str(&b, rnd_below(&seed, 2), v, rnd_below(&seed, i < 1600 ? 48 : table / 2));
        flist_clear(&ours);
        flist_clear(&ref);
        ck_assert_int_eq(decode(h, &b, &ours), GW_OK);
        ng_inflate(inf, &b, &ref);
        ck_assert_uint_eq(ours.n, 1);
        ck_assert(fields_equal(&ours.v[0], &ref.v[0]));
        require_same_table(h, inf);
    }
    flist_free(&ours);
    flist_free(&ref);
    buf_free(&b);
    gw_hpack_destroy(h);
    nghttp2_hd_inflate_del(inf);
}
END_TEST

/* ---- cross-check with nghttp2 -------------------------------------------------- */

static size_t random_bytes(uint64_t *seed, uint8_t *out, size_t max, bool binary)
{
    size_t n = rnd_below(seed, (uint32_t)max + 1);
    for (size_t i = 0; i < n; i++)
        out[i] = binary ? (uint8_t)rnd(seed) : (uint8_t)('a' + rnd_below(seed, 26));
    return n;
}

struct pool {
    uint8_t names[24][24];
    size_t namelen[24];
    uint8_t values[48][1600];
    size_t valuelen[48];
};

static void pool_fill(struct pool *p, uint64_t *seed)
{
    static const char *common[] = { ":path", ":authority", "content-type", "user-agent",
                                    "grpc-timeout", "authorization", "te", "x-trace-bin" };
    for (size_t i = 0; i < 24; i++) {
        if (i < GW_ARRAY_LEN(common)) {
            p->namelen[i] = strlen(common[i]);
            memcpy(p->names[i], common[i], p->namelen[i]);
        } else {
            p->namelen[i] = random_bytes(seed, p->names[i], sizeof p->names[i], i % 2 == 0);
        }
    }
    for (size_t i = 0; i < 48; i++) {
        size_t max = i % 8 == 0 ? sizeof p->values[i] : 40;
        p->valuelen[i] = random_bytes(seed, p->values[i], max, i % 3 == 0);
    }
}

static void cross_check(uint64_t seed)
{
    static struct pool pool;
    pool_fill(&pool, &seed);
    nghttp2_hd_deflater *d;
    nghttp2_hd_inflater *inf;
    ck_assert_int_eq(nghttp2_hd_deflate_new(&d, 4096), 0);
    ck_assert_int_eq(nghttp2_hd_inflate_new(&inf), 0);
    struct gw_hpack *h = gw_hpack_create(4096, true);
    struct gw_hpack *hp = gw_hpack_create(4096, true); /* the same blocks in pieces */
    struct buf blk = { 0 };
    struct flist ours = { 0 }, ref = { 0 }, pieces = { 0 };
    uint8_t fresh[12][64];
    for (int block = 0; block < 250; block++) {
        if (rnd_below(&seed, 12) == 0) {
            nghttp2_hd_deflate_change_table_size(d, rnd_below(&seed, 4097));
            if (rnd_below(&seed, 2)) nghttp2_hd_deflate_change_table_size(d, rnd_below(&seed, 4097));
        }
        nghttp2_nv nva[12];
        size_t n = 1 + rnd_below(&seed, 12);
        for (size_t i = 0; i < n; i++) {
            size_t ni = rnd_below(&seed, 24);
            nva[i].name = pool.names[ni];
            nva[i].namelen = pool.namelen[ni];
            if (rnd_below(&seed, 4) == 0) { /* a value never seen before */
                nva[i].value = fresh[i];
                nva[i].valuelen = random_bytes(&seed, fresh[i], sizeof fresh[i], rnd_below(&seed, 2));
            } else {
                size_t vi = rnd_below(&seed, 48);
                nva[i].value = pool.values[vi];
                nva[i].valuelen = pool.valuelen[vi];
            }
            nva[i].flags = rnd_below(&seed, 10) == 0 ? NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE;
        }
        ng_deflate(d, nva, n, &blk);
        flist_clear(&ours);
        flist_clear(&ref);
        flist_clear(&pieces);
        ck_assert_int_eq(decode(h, &blk, &ours), GW_OK);
        ck_assert_int_eq(decode_pieces(hp, &blk, &seed, block % 2 ? 3 : 40, &pieces), GW_OK);
        ng_inflate(inf, &blk, &ref);
        ck_assert_uint_eq(ours.n, ref.n);
        ck_assert_uint_eq(ours.n, n);
        ck_assert_uint_eq(pieces.n, n);
        for (size_t i = 0; i < n; i++) {
            ck_assert_msg(fields_equal(&ours.v[i], &ref.v[i]), "block %d field %zu", block, i);
            ck_assert_msg(fields_equal(&pieces.v[i], &ref.v[i]), "block %d field %zu in pieces", block, i);
        }
        require_same_table(h, inf);
        require_same_table(hp, inf);
        REQUIRE(gw_hpack_fully_known(h));
    }
    flist_free(&ours);
    flist_free(&ref);
    flist_free(&pieces);
    buf_free(&blk);
    gw_hpack_destroy(h);
    gw_hpack_destroy(hp);
    nghttp2_hd_inflate_del(inf);
    nghttp2_hd_deflate_del(d);
}

START_TEST(test_cross_check_nghttp2)
{
    for (uint64_t i = 0; i < 3; i++) cross_check(0x9e3779b97f4a7c15ull + i);
}
END_TEST

/* Every static table entry (RFC 7541 Appendix A), as nghttp2 knows it. */
START_TEST(test_static_table_matches_nghttp2)
{
    nghttp2_hd_inflater *inf;
    ck_assert_int_eq(nghttp2_hd_inflate_new(&inf), 0);
    struct gw_hpack *h = gw_hpack_create(4096, true);
    struct buf blk = { 0 };
    struct flist ours = { 0 }, ref = { 0 };
    for (unsigned i = 1; i <= 61; i++) put_int(&blk, 0x80, 7, i);
    ck_assert_int_eq(decode(h, &blk, &ours), GW_OK);
    ng_inflate(inf, &blk, &ref);
    ck_assert_uint_eq(ours.n, 61);
    ck_assert_uint_eq(ref.n, 61);
    for (size_t i = 0; i < 61; i++) ck_assert_msg(fields_equal(&ours.v[i], &ref.v[i]), "index %zu", i + 1);
    ck_assert(field_is(&ours.v[0], ":authority", ""));
    ck_assert(field_is(&ours.v[15], "accept-encoding", "gzip, deflate"));
    ck_assert(field_is(&ours.v[60], "www-authenticate", ""));
    flist_free(&ours);
    flist_free(&ref);
    buf_free(&blk);
    gw_hpack_destroy(h);
    nghttp2_hd_inflate_del(inf);
}
END_TEST

/* ---- mid-stream soundness --------------------------------------------------------- */

#define NBLOCKS 50
#define MAXPAIRS 512

struct pair {
    uint8_t name[16], value[700];
    size_t namelen, valuelen;
    int first_block; /* the block that carried it first */
};

struct stream {
    struct buf blk[NBLOCKS];
    struct flist truth[NBLOCKS];
    struct pair pairs[MAXPAIRS];
    size_t npairs;
};

struct stream_opts {
    uint64_t seed;
    size_t deflate_max;  /* deflater's own cap */
    size_t first_size;   /* table size announced in block 0 (0: none) */
    int reset_block;     /* block starting with updates to 0 and back, -1: none */
    size_t reset_size;   /* the size set back after 0 */
};

static void make_pair(struct stream *s, uint64_t *seed, int block)
{
    static const char *names[] = { ":path", "x-a", "x-b", "grpc-timeout", "x-c-bin", "x-d" };
    REQUIRE(s->npairs < MAXPAIRS);
    struct pair *p = &s->pairs[s->npairs];
    const char *nm = names[rnd_below(seed, GW_ARRAY_LEN(names))];
    p->namelen = strlen(nm);
    memcpy(p->name, nm, p->namelen);
    int w = snprintf((char *)p->value, sizeof p->value, "b%d-%zu-", block, s->npairs);
    REQUIRE(w > 0);
    size_t extra = rnd_below(seed, 10) == 0 ? 300 + rnd_below(seed, 350) : rnd_below(seed, 40);
    for (size_t i = 0; i < extra; i++) p->value[(size_t)w + i] = (uint8_t)rnd(seed);
    p->valuelen = (size_t)w + extra;
    p->first_block = block;
    s->npairs++;
}

static void make_stream(struct stream *s, const struct stream_opts *o)
{
    uint64_t seed = o->seed;
    nghttp2_hd_deflater *d;
    nghttp2_hd_inflater *inf;
    memset(s, 0, sizeof *s);
    ck_assert_int_eq(nghttp2_hd_deflate_new(&d, o->deflate_max), 0);
    ck_assert_int_eq(nghttp2_hd_inflate_new(&inf), 0);
    ck_assert_int_eq(nghttp2_hd_inflate_change_table_size(inf, 65536), 0);
    if (o->first_size) nghttp2_hd_deflate_change_table_size(d, o->first_size);
    for (int b = 0; b < NBLOCKS; b++) {
        if (b == o->reset_block) {
            nghttp2_hd_deflate_change_table_size(d, 0);
            nghttp2_hd_deflate_change_table_size(d, o->reset_size);
        }
        nghttp2_nv nva[8];
        size_t n = 2 + rnd_below(&seed, 7);
        for (size_t i = 0; i < n; i++) {
            size_t pi;
            if (s->npairs > 0 && rnd_below(&seed, 10) < 6) {
                /* reuse, biased to recent pairs: more of them are still indexed */
                size_t span = s->npairs < 40 || rnd_below(&seed, 3) == 0 ? s->npairs : 40;
                pi = s->npairs - 1 - rnd_below(&seed, (uint32_t)span);
            } else {
                make_pair(s, &seed, b);
                pi = s->npairs - 1;
            }
            struct pair *p = &s->pairs[pi];
            nva[i] = (nghttp2_nv){ p->name, p->value, p->namelen, p->valuelen,
                                   rnd_below(&seed, 10) == 0 ? NGHTTP2_NV_FLAG_NO_INDEX
                                                              : NGHTTP2_NV_FLAG_NONE };
        }
        ng_deflate(d, nva, n, &s->blk[b]);
        ng_inflate(inf, &s->blk[b], &s->truth[b]);
        REQUIRE(s->truth[b].n == n);
    }
    nghttp2_hd_inflate_del(inf);
    nghttp2_hd_deflate_del(d);
}

static void free_stream(struct stream *s)
{
    for (int b = 0; b < NBLOCKS; b++) {
        buf_free(&s->blk[b]);
        flist_free(&s->truth[b]);
    }
}

/* Whether (name[, value]) was carried by a block before k. */
static bool seen_before(const struct stream *s, int k, const struct rfield *t, bool with_value)
{
    for (size_t i = 0; i < s->npairs; i++) {
        const struct pair *p = &s->pairs[i];
        if (p->first_block >= k || !bytes_eq(t->name, t->namelen, p->name, p->namelen)) continue;
        if (!with_value || bytes_eq(t->value, t->valuelen, p->value, p->valuelen)) return true;
    }
    return false;
}

struct midstream_check {
    uint32_t cap;
    bool strong;    /* unknown must mean "from before the pickup" */
    bool exact_after_reset;
};

/* Decodes blocks k.. with a pickup decoder; returns how many fields were
 * (partly) unknown. A known name or value is always the true one. */
static size_t run_pickup(const struct stream *s, const struct stream_opts *o, int k,
                         const struct midstream_check *mc)
{
    struct gw_hpack *h = gw_hpack_create(mc->cap, false);
    struct flist got = { 0 };
    size_t unknown = 0;
    ck_assert_ptr_nonnull(h);
    for (int b = k; b < NBLOCKS; b++) {
        flist_clear(&got);
        ck_assert_msg(decode(h, &s->blk[b], &got) == GW_OK, "k %d block %d", k, b);
        REQUIRE(got.n == s->truth[b].n);
        bool after_reset = o->reset_block >= 0 && k <= o->reset_block && b >= o->reset_block;
        for (size_t i = 0; i < got.n; i++) {
            const struct rfield *f = &got.v[i], *t = &s->truth[b].v[i];
            REQUIRE((f->flags & ~(unsigned)UNKNOWN_BOTH) == 0);
            if (f->flags & GW_HPACK_NAME_UNKNOWN) REQUIRE(f->name_null && f->namelen == 0);
            else REQUIRE(!f->name_null && bytes_eq(f->name, f->namelen, t->name, t->namelen));
            if (f->flags & GW_HPACK_VALUE_UNKNOWN) REQUIRE(f->value_null && f->valuelen == 0);
            else REQUIRE(!f->value_null && bytes_eq(f->value, f->valuelen, t->value, t->valuelen));
            /* An unknown value comes with an unknown name (indexed field). */
            if (f->flags & GW_HPACK_VALUE_UNKNOWN) REQUIRE(f->flags & GW_HPACK_NAME_UNKNOWN);
            if (f->flags == 0) continue;
            unknown++;
            if (mc->strong)
                ck_assert_msg(seen_before(s, k, t, f->flags & GW_HPACK_VALUE_UNKNOWN),
                              "k %d block %d field %zu unknown but not from before the pickup", k, b, i);
            if (after_reset && mc->exact_after_reset)
                ck_abort_msg("k %d block %d field %zu unknown after the reset", k, b, i);
        }
        if (after_reset && mc->exact_after_reset) REQUIRE(gw_hpack_fully_known(h));
        if (!after_reset && k > 0 && o->first_size > GW_HPACK_DEFAULT_TABLE)
            REQUIRE(!gw_hpack_fully_known(h)); /* the true maximum was never seen */
        REQUIRE(gw_hpack_known_size(h) <= mc->cap);
    }
    flist_free(&got);
    gw_hpack_destroy(h);
    return unknown;
}

static const int pickups[] = { 0, 1, 2, 4, 8, 15, 22, 29, 30, 31, 40, 49 };

static void midstream_soundness(uint64_t seed)
{
    static struct stream s;
    struct stream_opts o = { seed, 4096, 0, 30, 4096 };
    make_stream(&s, &o);
    const struct midstream_check checks[] = {
        { 65536, true, true }, { 4096, true, true }, { 300, false, false }, { 0, false, false },
    };
    for (size_t c = 0; c < GW_ARRAY_LEN(checks); c++) {
        size_t unknown_before_reset = 0;
        for (size_t i = 0; i < GW_ARRAY_LEN(pickups); i++) {
            size_t u = run_pickup(&s, &o, pickups[i], &checks[c]);
            if (pickups[i] == 0 && checks[c].strong) ck_assert_uint_eq(u, 0);
            if (pickups[i] > 0 && pickups[i] < 30) unknown_before_reset += u;
        }
        /* The stream does reuse entries from before the pickups. */
        ck_assert_uint_gt(unknown_before_reset, 0);
    }
    free_stream(&s);
}

START_TEST(test_midstream_soundness)
{
    for (uint64_t i = 0; i < 3; i++) midstream_soundness(0x51f15eedull + i * 7919);
}
END_TEST

/* The encoder was allowed, and took, a larger table before the pickup: the
 * assumed 4096 must not be treated as a fact. */
START_TEST(test_midstream_larger_encoder_table)
{
    static struct stream s;
    for (uint64_t seed = 0; seed < 2; seed++) {
        struct stream_opts o = { 0xb16b00b5ull + seed, 65536, 16384, 35, 16384 };
        make_stream(&s, &o);
        const struct midstream_check weak = { 65536, false, true };
        for (size_t i = 0; i < GW_ARRAY_LEN(pickups); i++) run_pickup(&s, &o, pickups[i], &weak);
        free_stream(&s);
    }
}
END_TEST

/* A smaller table than assumed: we keep entries the encoder dropped, which
 * it then never references. Unknown still means "from before". */
START_TEST(test_midstream_smaller_encoder_table)
{
    static struct stream s;
    for (uint64_t seed = 0; seed < 2; seed++) {
        struct stream_opts o = { 0x5eed5eedull + seed, 4096, 512, -1, 0 };
        make_stream(&s, &o);
        const struct midstream_check strong = { 4096, true, false };
        for (size_t i = 0; i < GW_ARRAY_LEN(pickups); i++) run_pickup(&s, &o, pickups[i], &strong);
        free_stream(&s);
    }
}
END_TEST

/* ---- table bookkeeping, hand-built ---------------------------------------------------- */

START_TEST(test_unknown_name_entry_kept)
{
    struct gw_hpack *h = gw_hpack_create(4096, false);
    struct flist l = { 0 };
    struct buf b = { 0 };
    /* literal with incremental indexing, name = dynamic index 67 (unknown) */
    put_int(&b, 0x40, 6, 67);
    put_str(&b, false, "v1", 2);
    buf_byte(&b, 0xbe); /* index 62: the entry just added */
    buf_byte(&b, 0xbf); /* index 63: what was 62 before, unknown */
    ck_assert_int_eq(decode(h, &b, &l), GW_OK);
    ck_assert_uint_eq(l.n, 3);
    ck_assert_uint_eq(l.v[0].flags, GW_HPACK_NAME_UNKNOWN);
    ck_assert(l.v[0].name_null);
    ck_assert(bytes_eq(l.v[0].value, l.v[0].valuelen, "v1", 2));
    ck_assert_uint_eq(l.v[1].flags, GW_HPACK_NAME_UNKNOWN);
    ck_assert(bytes_eq(l.v[1].value, l.v[1].valuelen, "v1", 2));
    ck_assert_uint_eq(l.v[2].flags, UNKNOWN_BOTH);
    ck_assert(l.v[2].name_null && l.v[2].value_null);
    ck_assert_uint_eq(gw_hpack_known_entries(h), 1);
    ck_assert_uint_eq(gw_hpack_known_size(h), 2 + 32); /* a lower bound */
    const uint8_t *name, *value;
    size_t nl, vl;
    unsigned flags;
    ck_assert(gw_hpack_known_entry(h, 0, &name, &nl, &value, &vl, &flags));
    ck_assert_ptr_null(name);
    ck_assert_uint_eq(flags, GW_HPACK_NAME_UNKNOWN);
    ck_assert(!gw_hpack_known_entry(h, 1, &name, &nl, &value, &vl, &flags));
    ck_assert(!gw_hpack_fully_known(h));
    /* Size update to 0: everything is gone, and then known. */
    flist_clear(&l);
    ck_assert_int_eq(decode_hex(h, "20 3f e1 1f 82", &l), GW_OK);
    ck_assert(gw_hpack_fully_known(h));
    ck_assert_uint_eq(gw_hpack_known_entries(h), 0);
    ck_assert_int_eq(decode_hex(h, "be", &l), GW_ERR_MALFORMED);
    flist_free(&l);
    buf_free(&b);
    gw_hpack_destroy(h);
}
END_TEST

START_TEST(test_pickup_index_reports_unknown)
{
    struct gw_hpack *h = gw_hpack_create(4096, false);
    struct flist l = { 0 };
    ck_assert(!gw_hpack_fully_known(h));
    ck_assert_int_eq(decode_hex(h, "be ff 80 01 82", &l), GW_OK); /* 62, 255, 2 */
    ck_assert_uint_eq(l.n, 3);
    ck_assert_uint_eq(l.v[0].flags, UNKNOWN_BOTH);
    ck_assert_uint_eq(l.v[1].flags, UNKNOWN_BOTH);
    ck_assert(field_is(&l.v[2], ":method", "GET"));
    /* literal without indexing, unknown name: the value is still a fact */
    flist_clear(&l);
    ck_assert_int_eq(decode_hex(h, "0f 2f 03 616263", &l), GW_OK); /* name index 62 */
    ck_assert_uint_eq(l.n, 1);
    ck_assert_uint_eq(l.v[0].flags, GW_HPACK_NAME_UNKNOWN);
    ck_assert(bytes_eq(l.v[0].value, l.v[0].valuelen, "abc", 3));
    ck_assert_uint_eq(gw_hpack_known_entries(h), 0);
    /* A known maximum bounds the entry count: 4096 / 32 = 128 entries. */
    flist_clear(&l);
    ck_assert_int_eq(decode_hex(h, "3fe1 1f", &l), GW_OK); /* size update 4096 */
    ck_assert(!gw_hpack_fully_known(h)); /* the old entries may remain */
    struct buf b = { 0 };
    put_int(&b, 0x80, 7, 62 + 127);
    ck_assert_int_eq(decode(h, &b, &l), GW_OK);
    ck_assert_uint_eq(l.v[0].flags, UNKNOWN_BOTH);
    b.n = 0;
    put_int(&b, 0x80, 7, 62 + 128);
    ck_assert_int_eq(decode(h, &b, &l), GW_ERR_MALFORMED);
    buf_free(&b);
    flist_free(&l);
    gw_hpack_destroy(h);
}
END_TEST

static void insert_n(struct gw_hpack *h, int n, size_t valuelen, char tag)
{
    struct buf b = { 0 };
    struct flist l = { 0 };
    char value[2048];
    REQUIRE(valuelen < sizeof value);
    for (int i = 0; i < n; i++) {
        memset(value, tag + i, valuelen);
        value[valuelen] = '\0';
        put_lit_inc(&b, "k", value);
    }
    ck_assert_int_eq(decode(h, &b, &l), GW_OK);
    ck_assert_uint_eq(l.n, (size_t)n);
    flist_free(&l);
    buf_free(&b);
}

START_TEST(test_eviction_proves_tail_gone)
{
    /* Entry size: 1 + 967 + 32 = 1000. */
    struct gw_hpack *h = gw_hpack_create(65536, false);
    insert_n(h, 6, 967, 'a');
    /* The assumed 4096 holds 4 of them, but proves nothing. */
    ck_assert_uint_eq(gw_hpack_known_entries(h), 4);
    ck_assert(!gw_hpack_fully_known(h));
    struct flist l = { 0 };
    ck_assert_int_eq(decode_hex(h, "c2", &l), GW_OK); /* index 66: past K */
    ck_assert_uint_eq(l.v[0].flags, UNKNOWN_BOTH);
    /* Now a known maximum: 4000 + 32 <= 4096, an old entry could remain. */
    flist_clear(&l);
    ck_assert_int_eq(decode_hex(h, "3fe1 1f", &l), GW_OK);
    ck_assert(!gw_hpack_fully_known(h));
    /* Adding one: 4000 + 1000 + 32 > 4096: only K's newest 3 and it remain. */
    insert_n(h, 1, 967, 'x');
    ck_assert(gw_hpack_fully_known(h));
    ck_assert_uint_eq(gw_hpack_known_entries(h), 4);
    ck_assert_uint_eq(gw_hpack_known_size(h), 4000);
    ck_assert_int_eq(decode_hex(h, "c2", &l), GW_ERR_MALFORMED);
    gw_hpack_destroy(h);

    /* A size update that leaves no room beside K (100 + 32 > 120). */
    h = gw_hpack_create(65536, false);
    insert_n(h, 1, 67, 'a');
    ck_assert_int_eq(gw_hpack_set_max_size(h, 132), GW_OK);
    ck_assert(!gw_hpack_fully_known(h));
    ck_assert_int_eq(gw_hpack_set_max_size(h, 131), GW_OK);
    ck_assert(gw_hpack_fully_known(h));
    ck_assert_uint_eq(gw_hpack_known_entries(h), 1);
    gw_hpack_destroy(h);

    /* An entry larger than a known maximum empties the table (RFC 7541 4.4). */
    h = gw_hpack_create(65536, false);
    flist_clear(&l);
    ck_assert_int_eq(decode_hex(h, "3f45", &l), GW_OK); /* size update 100 */
    insert_n(h, 1, 100, 'a');
    ck_assert(gw_hpack_fully_known(h));
    ck_assert_uint_eq(gw_hpack_known_entries(h), 0);
    flist_free(&l);
    gw_hpack_destroy(h);
}
END_TEST

START_TEST(test_eviction_keeps_referenced_name)
{
    /* RFC 7541 4.4: the new entry may name an entry it evicts. */
    struct gw_hpack *h = gw_hpack_create(4096, true);
    struct flist l = { 0 };
    ck_assert_int_eq(decode_hex(h, "3f45", &l), GW_OK); /* size update 100 */
    struct buf b = { 0 };
    put_lit_inc(&b, "abcdefghij", "012345678901234567890123456789"); /* 72 */
    buf_byte(&b, 0x7e); /* incremental, name = index 62 */
    put_str(&b, true, "0123456789012345678901234567890123456789", 40);
    ck_assert_int_eq(decode(h, &b, &l), GW_OK);
    ck_assert_uint_eq(gw_hpack_known_entries(h), 1);
    ck_assert(entry_is(h, 0, "abcdefghij", "0123456789012345678901234567890123456789"));
    ck_assert_uint_eq(gw_hpack_known_size(h), 82);
    ck_assert(field_is(&l.v[1], "abcdefghij", "0123456789012345678901234567890123456789"));
    ck_assert(gw_hpack_fully_known(h));
    flist_free(&l);
    buf_free(&b);
    gw_hpack_destroy(h);
}
END_TEST

START_TEST(test_memory_cap_forgets)
{
    /* Cap 200, maximum 4096: entries of 1 + 67 + 32 = 100 bytes. */
    struct gw_hpack *h = gw_hpack_create(200, true);
    insert_n(h, 2, 67, 'a');
    ck_assert(gw_hpack_fully_known(h));
    ck_assert_uint_eq(gw_hpack_known_size(h), 200);
    insert_n(h, 1, 67, 'c');
    ck_assert(!gw_hpack_fully_known(h)); /* 'a' is forgotten, still in the table */
    ck_assert_uint_eq(gw_hpack_known_entries(h), 2);
    ck_assert_uint_le(gw_hpack_known_size(h), 200);
    struct flist l = { 0 };
    ck_assert_int_eq(decode_hex(h, "be bf c0", &l), GW_OK);
    ck_assert_uint_eq(l.v[0].flags, 0);
    ck_assert_uint_eq(l.v[0].value[0], 'c');
    ck_assert_uint_eq(l.v[1].value[0], 'b');
    ck_assert_uint_eq(l.v[2].flags, UNKNOWN_BOTH);
    /* An entry above the cap: nothing can be kept. */
    insert_n(h, 1, 300, 'z');
    ck_assert_uint_eq(gw_hpack_known_entries(h), 0);
    flist_clear(&l);
    ck_assert_int_eq(decode_hex(h, "be", &l), GW_OK);
    ck_assert_uint_eq(l.v[0].flags, UNKNOWN_BOTH);
    /* A size update may exceed the cap up to the protocol default. */
    ck_assert_int_eq(decode_hex(h, "3fe2 1f", &l), GW_ERR_MALFORMED); /* 4097 */
    ck_assert_int_eq(decode_hex(h, "3fe1 1f", &l), GW_OK);            /* 4096 */
    ck_assert_int_eq(decode_hex(h, "3f 8c 01", &l), GW_OK);           /* 171 */
    ck_assert(!gw_hpack_fully_known(h)); /* 171 leaves room beside K (empty) */
    ck_assert_int_eq(decode_hex(h, "34", &l), GW_OK);                 /* 20 < 32 */
    ck_assert(gw_hpack_fully_known(h));
    flist_free(&l);
    gw_hpack_destroy(h);

    h = gw_hpack_create(0, false); /* no memory at all: nothing known */
    insert_n(h, 3, 10, 'a');
    ck_assert_uint_eq(gw_hpack_known_entries(h), 0);
    gw_hpack_destroy(h);
}
END_TEST

START_TEST(test_error_restarts_as_pickup)
{
    struct gw_hpack *h = gw_hpack_create(4096, true);
    struct flist l = { 0 };
    insert_n(h, 2, 5, 'a');
    ck_assert(gw_hpack_fully_known(h));
    /* A field, then index 0: the field was reported, then the error. */
    ck_assert_int_eq(decode_hex(h, "82 80", &l), GW_ERR_MALFORMED);
    ck_assert_uint_eq(l.n, 1);
    ck_assert(!gw_hpack_fully_known(h));
    ck_assert_uint_eq(gw_hpack_known_entries(h), 0);
    flist_clear(&l);
    ck_assert_int_eq(decode_hex(h, "be", &l), GW_OK);
    ck_assert_uint_eq(l.v[0].flags, UNKNOWN_BOTH);
    flist_free(&l);
    gw_hpack_destroy(h);
}
END_TEST

/* ---- hostile input ---------------------------------------------------------------------- */

START_TEST(test_integers)
{
    struct gw_hpack *h = gw_hpack_create(UINT32_MAX, true);
    struct flist l = { 0 };
    struct buf b = { 0 };
    /* RFC 7541 C.1.2: 1337 on a 5-bit prefix is 1f 9a 0a. */
    ck_assert_int_eq(decode_hex(h, "3f 9a 0a", &l), GW_OK);
    put_int(&b, 0x20, 5, UINT32_MAX); /* the largest integer */
    ck_assert_int_eq(decode(h, &b, &l), GW_OK);
    b.n = 0;
    put_int(&b, 0x20, 5, (uint64_t)UINT32_MAX + 1);
    ck_assert_int_eq(decode(h, &b, &l), GW_ERR_MALFORMED);
    b.n = 0;
    put_int(&b, 0x80, 7, 1ull << 40);
    ck_assert_int_eq(decode(h, &b, &l), GW_ERR_MALFORMED);
    /* Redundant zero groups: five continuation bytes fit, six do not. */
    ck_assert_int_eq(decode_hex(h, "3f 80 80 80 80 00", &l), GW_OK);
    ck_assert_int_eq(decode_hex(h, "3f 80 80 80 80 80 00", &l), GW_ERR_MALFORMED);
    ck_assert_int_eq(decode_hex(h, "ff ff ff ff ff 0f", &l), GW_ERR_MALFORMED); /* > 2^32 - 1 */
    /* Truncated integers. */
    ck_assert_int_eq(decode_hex(h, "ff", &l), GW_ERR_MALFORMED);
    ck_assert_int_eq(decode_hex(h, "ff 80", &l), GW_ERR_MALFORMED);
    ck_assert_int_eq(decode_hex(h, "00 7f", &l), GW_ERR_MALFORMED);
    /* A string length past the block. */
    ck_assert_int_eq(decode_hex(h, "00 05 6162", &l), GW_ERR_MALFORMED);
    ck_assert_int_eq(decode_hex(h, "00 01 61 7f ff ff ff ff 0f", &l), GW_ERR_MALFORMED);
    ck_assert_uint_eq(l.n, 0);
    gw_hpack_destroy(h);

    /* Indices with continuation bytes: 124 entries of 33 bytes fill 4096. */
    h = gw_hpack_create(4096, true);
    b.n = 0;
    for (int i = 0; i < 124; i++) {
        char v[8];
        snprintf(v, sizeof v, "%d", i % 10);
        put_lit_inc(&b, "", v); /* 0 + 1 + 32 */
    }
    ck_assert_int_eq(decode(h, &b, &l), GW_OK);
    ck_assert_uint_eq(gw_hpack_known_entries(h), 124);
    flist_clear(&l);
    b.n = 0;
    put_int(&b, 0x80, 7, 62);       /* the newest: i = 123 */
    put_int(&b, 0x80, 7, 62 + 123); /* the oldest: i = 0 */
    put_int(&b, 0x80, 7, 62 + 124);
    ck_assert_int_eq(decode(h, &b, &l), GW_ERR_MALFORMED);
    ck_assert_uint_eq(l.n, 2);
    ck_assert(field_is(&l.v[0], "", "3"));
    ck_assert(field_is(&l.v[1], "", "0"));
    flist_free(&l);
    buf_free(&b);
    gw_hpack_destroy(h);
}
END_TEST

/* Decodes hex with a fresh decoder that saw the connection start. */
static int decode_fresh(const char *hex)
{
    struct gw_hpack *h = gw_hpack_create(4096, true);
    struct flist l = { 0 };
    int rv = decode_hex(h, hex, &l);
    flist_free(&l);
    gw_hpack_destroy(h);
    return rv;
}

START_TEST(test_index_rules)
{
    ck_assert_int_eq(decode_fresh("80"), GW_ERR_MALFORMED);       /* index 0 */
    ck_assert_int_eq(decode_fresh("be"), GW_ERR_MALFORMED);       /* empty dynamic table */
    ck_assert_int_eq(decode_fresh("7e 01 61"), GW_ERR_MALFORMED); /* name index 62 */
    ck_assert_int_eq(decode_fresh("0f 2f 01 61"), GW_ERR_MALFORMED);
    ck_assert_int_eq(decode_fresh(""), GW_OK);
    struct gw_hpack *h = gw_hpack_create(4096, true);
    struct flist l = { 0 };
    ck_assert_int_eq(decode_hex(h, "bd", &l), GW_OK); /* 61, the last static entry */
    ck_assert_uint_eq(l.n, 1);
    ck_assert(field_is(&l.v[0], "www-authenticate", ""));
    ck_assert(!l.v[0].value_null); /* known and empty is not unknown */
    ck_assert_int_eq(gw_hpack_decode_block(h, NULL, 0, NULL, NULL), GW_OK);
    ck_assert_int_eq(gw_hpack_decode_block(h, NULL, 1, NULL, NULL), GW_ERR_ARG);
    ck_assert_int_eq(gw_hpack_decode_block(NULL, (const uint8_t *)"\x82", 1, NULL, NULL), GW_ERR_ARG);
    flist_free(&l);
    gw_hpack_destroy(h);
}
END_TEST

START_TEST(test_size_update_rules)
{
    ck_assert_int_eq(decode_fresh("3fe2 1f"), GW_ERR_MALFORMED);   /* 4097 > max */
    ck_assert_int_eq(decode_fresh("82 20"), GW_ERR_MALFORMED);     /* after a field */
    ck_assert_int_eq(decode_fresh("82 3fe1 1f"), GW_ERR_MALFORMED);
    ck_assert_int_eq(decode_fresh("20 3f45 3fe1 1f 82"), GW_OK);   /* several at the start */
    ck_assert_int_eq(decode_fresh("20"), GW_OK);                   /* alone */
    struct gw_hpack *h = gw_hpack_create(4096, true);
    struct flist l = { 0 };
    ck_assert_int_eq(decode_hex(h, "82 82", &l), GW_OK);
    ck_assert_int_eq(decode_hex(h, "3f45 82", &l), GW_OK); /* the start of each block */
    ck_assert_uint_eq(l.n, 3);
    flist_free(&l);
    gw_hpack_destroy(h);
    /* A larger max_table allows larger updates. */
    h = gw_hpack_create(65536, true);
    ck_assert_int_eq(decode_hex(h, "3fe1 ff 03", &l), GW_OK); /* 65536 */
    ck_assert_int_eq(decode_hex(h, "3fe2 ff 03", &l), GW_ERR_MALFORMED);
    flist_free(&l);
    gw_hpack_destroy(h);
}
END_TEST

START_TEST(test_long_literals)
{
    size_t big = 70 * 1024, max = GW_HPACK_MAX_STRING;
    uint8_t *s = malloc(big);
    ck_assert_ptr_nonnull(s);
    memset(s, 'a', big);
    struct gw_hpack *h = gw_hpack_create(4096, true);
    struct flist l = { 0 };
    for (int huffman = 0; huffman < 2; huffman++) {
        struct buf b = { 0 };
        buf_byte(&b, 0x00);
        put_str(&b, huffman, "n", 1);
        put_str(&b, huffman, s, max); /* exactly the cap: accepted */
        flist_clear(&l);
        ck_assert_int_eq(decode(h, &b, &l), GW_OK);
        ck_assert_uint_eq(l.v[0].valuelen, max);
        ck_assert(memcmp(l.v[0].value, s, max) == 0);
        b.n = 0;
        buf_byte(&b, 0x00);
        put_str(&b, huffman, s, max + 1);
        ck_assert_int_eq(decode(h, &b, &l), GW_ERR_MALFORMED);
        b.n = 0;
        buf_byte(&b, 0x00);
        put_str(&b, huffman, s, big); /* a 70 KiB name */
        put_str(&b, false, "v", 1);
        ck_assert_int_eq(decode(h, &b, &l), GW_ERR_MALFORMED);
        b.n = 0;
        buf_byte(&b, 0x40); /* and both at the cap, Huffman and indexed */
        put_str(&b, huffman, s, max);
        put_str(&b, huffman, s, max);
        flist_clear(&l);
        ck_assert_int_eq(decode(h, &b, &l), GW_OK);
        ck_assert_uint_eq(l.v[0].namelen + l.v[0].valuelen, 2 * max);
        ck_assert_uint_eq(gw_hpack_known_entries(h), 0); /* larger than the table */
        buf_free(&b);
    }
    /* The wire length is capped too: 30-bit codes make 17500 bytes into
     * 65625 on the wire (17000 into 63750). */
    memset(s, '\n', big);
    for (size_t len = 17000; len <= 17500; len += 500) {
        struct buf b = { 0 };
        buf_byte(&b, 0x00);
        put_str(&b, false, "n", 1);
        put_str(&b, true, s, len);
        flist_clear(&l);
        ck_assert_int_eq(decode(h, &b, &l), len == 17000 ? GW_OK : GW_ERR_MALFORMED);
        if (len == 17000) ck_assert(l.n == 1 && bytes_eq(l.v[0].value, l.v[0].valuelen, s, len));
        buf_free(&b);
    }
    flist_free(&l);
    free(s);
    gw_hpack_destroy(h);
}
END_TEST

/* Every prefix of real blocks: an error or a prefix of the true fields. */
START_TEST(test_every_prefix)
{
    static struct stream s;
    struct stream_opts o = { 0xabcdefull, 4096, 0, -1, 0 };
    make_stream(&s, &o);
    struct flist got = { 0 };
    for (int b = 0; b < 6; b++) {
        for (size_t len = 0; len <= s.blk[b].n; len++) {
            struct gw_hpack *h = gw_hpack_create(4096, true);
            struct gw_hpack *p = gw_hpack_create(4096, false);
            for (int prev = 0; prev < b; prev++)
                REQUIRE(gw_hpack_decode_block(h, s.blk[prev].p, s.blk[prev].n, NULL, NULL) == GW_OK);
            flist_clear(&got);
            int rv = gw_hpack_decode_block(h, s.blk[b].p, len, on_field, &got);
            REQUIRE(rv == GW_OK || rv == GW_ERR_MALFORMED);
            REQUIRE(got.n <= s.truth[b].n);
            for (size_t i = 0; i < got.n; i++) REQUIRE(fields_equal(&got.v[i], &s.truth[b].v[i]));
            if (len == s.blk[b].n) REQUIRE(rv == GW_OK && got.n == s.truth[b].n);
            rv = gw_hpack_decode_block(p, s.blk[b].p, len, NULL, NULL);
            REQUIRE(rv == GW_OK || rv == GW_ERR_MALFORMED);
            gw_hpack_destroy(h);
            gw_hpack_destroy(p);
        }
    }
    flist_free(&got);
    free_stream(&s);
}
END_TEST

static void require_sane(const struct gw_hpack *h, uint32_t cap)
{
    uint32_t n = gw_hpack_known_entries(h), sum = 0;
    REQUIRE(gw_hpack_known_size(h) <= cap);
    for (uint32_t j = 0; j < n; j++) {
        size_t nl, vl;
        REQUIRE(gw_hpack_known_entry(h, j, NULL, &nl, NULL, &vl, NULL));
        sum += (uint32_t)(nl + vl + 32);
    }
    REQUIRE(sum == gw_hpack_known_size(h));
}

START_TEST(test_random_bytes)
{
    uint64_t seed = 0xfeedface;
    struct gw_hpack *h[3] = { gw_hpack_create(4096, true), gw_hpack_create(65536, false),
                              gw_hpack_create(100, true) };
    const uint32_t cap[3] = { 4096, 65536, 100 };
    struct flist l = { 0 };
    uint8_t blk[96];
    for (int i = 0; i < 6000; i++) {
        size_t n = rnd_below(&seed, sizeof blk + 1);
        for (size_t k = 0; k < n; k++) blk[k] = (uint8_t)rnd(&seed);
        if (n > 0 && i % 3 == 0) blk[0] = (uint8_t)(0x40 | (blk[0] & 0x3f)); /* more insertions */
        for (int d = 0; d < 3; d++) {
            flist_clear(&l);
            int rv = gw_hpack_decode_block(h[d], blk, n, on_field, &l);
            REQUIRE(rv == GW_OK || rv == GW_ERR_MALFORMED);
            for (size_t f = 0; f < l.n; f++) REQUIRE((l.v[f].flags & ~(unsigned)UNKNOWN_BOTH) == 0);
            require_sane(h[d], cap[d]);
        }
    }
    flist_free(&l);
    for (int d = 0; d < 3; d++) gw_hpack_destroy(h[d]);
}
END_TEST

/* Bit flips in real blocks, on a decoder in step with the stream. */
START_TEST(test_mutated_blocks)
{
    static struct stream s;
    struct stream_opts o = { 0x0ddba11ull, 4096, 0, -1, 0 };
    uint64_t seed = 42;
    make_stream(&s, &o);
    for (int b = 1; b < NBLOCKS; b += 4) {
        for (int t = 0; t < 20; t++) {
            struct gw_hpack *h = gw_hpack_create(4096, rnd_below(&seed, 2));
            for (int prev = 0; prev < b; prev++)
                gw_hpack_decode_block(h, s.blk[prev].p, s.blk[prev].n, NULL, NULL);
            struct buf m = { 0 };
            buf_put(&m, s.blk[b].p, s.blk[b].n);
            for (int f = 0; f < 3; f++)
                m.p[rnd_below(&seed, (uint32_t)m.n)] ^= (uint8_t)(1u << rnd_below(&seed, 8));
            int rv = gw_hpack_decode_block(h, m.p, m.n, NULL, NULL);
            REQUIRE(rv == GW_OK || rv == GW_ERR_MALFORMED);
            require_sane(h, 4096);
            buf_free(&m);
            gw_hpack_destroy(h);
        }
    }
    free_stream(&s);
}
END_TEST

/* ---- gw_hpack_int: RFC 7541 5.1 ------------------------------------------------------ */

/* Encodes v with an n-bit prefix after the representation bits `rep`
 * (RFC 7541 5.1 pseudocode); returns the length. */
static size_t int_encode(uint8_t *out, uint8_t rep, unsigned n, uint64_t v)
{
    uint64_t max = (1u << n) - 1;
    size_t k = 0;
    if (v < max) {
        out[k++] = (uint8_t)(rep | v);
        return k;
    }
    out[k++] = (uint8_t)(rep | max);
    v -= max;
    while (v >= 128) {
        out[k++] = (uint8_t)(v % 128 + 128);
        v /= 128;
    }
    out[k++] = (uint8_t)v;
    return k;
}

static int int_decode(const uint8_t *p, size_t n, unsigned prefix, uint32_t *v, size_t *used)
{
    struct gw_cursor c = gw_cursor_make(p, n);
    int rc = gw_hpack_int(&c, prefix, v);
    *used = c.off;
    return rc;
}

START_TEST(test_int_rfc_examples)
{
    uint32_t v = 0;
    size_t used;
    const uint8_t c11[] = { 0xea }; /* C.1.1: 10, 5-bit prefix, above it 111 */
    ck_assert_int_eq(int_decode(c11, 1, 5, &v, &used), GW_OK);
    ck_assert_uint_eq(v, 10);
    ck_assert_uint_eq(used, 1);
    const uint8_t c12[] = { 0x1f, 0x9a, 0x0a, 0x55 }; /* C.1.2: 1337, then another byte */
    ck_assert_int_eq(int_decode(c12, sizeof c12, 5, &v, &used), GW_OK);
    ck_assert_uint_eq(v, 1337);
    ck_assert_uint_eq(used, 3);
    const uint8_t c13[] = { 0x2a }; /* C.1.3: 42 at an octet boundary */
    ck_assert_int_eq(int_decode(c13, 1, 8, &v, &used), GW_OK);
    ck_assert_uint_eq(v, 42);
}
END_TEST

/* Every prefix size HPACK uses (4..7, and 5.1's limits 1 and 8): values
 * around the prefix maximum and each continuation byte count, up to
 * 2^32 - 1, round-trip; 2^32 and above are refused. */
START_TEST(test_int_prefixes_and_max)
{
    for (unsigned n = 1; n <= 8; n++) {
        uint64_t max = (1u << n) - 1;
        uint64_t vals[] = { 0, max - 1, max, max + 1, max + 127, max + 128, 16383, 16384 + max,
                            (1u << 21) + max, (1u << 28) + 5, UINT32_MAX - 1, UINT32_MAX };
        uint8_t rep = (uint8_t)(n == 8 ? 0 : 0xff << n); /* representation bits all set */
        for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
            uint8_t buf[16];
            uint32_t v = 0;
            size_t used;
            size_t k = int_encode(buf, rep, n, vals[i]);
            ck_assert_int_eq(int_decode(buf, k, n, &v, &used), GW_OK);
            ck_assert_uint_eq(v, vals[i]);
            ck_assert_uint_eq(used, k);
            /* cut anywhere inside: truncated, never a value */
            for (size_t cut = 0; cut < k; cut++)
                ck_assert_int_eq(int_decode(buf, cut, n, &v, &used), GW_ERR_TRUNCATED);
        }
        uint8_t buf[16];
        uint32_t v;
        size_t used;
        size_t k = int_encode(buf, rep, n, (uint64_t)UINT32_MAX + 1);
        ck_assert_int_eq(int_decode(buf, k, n, &v, &used), GW_ERR_MALFORMED);
    }
}
END_TEST

/* Padding with zero-valued continuation bytes is legal up to the five a
 * 32-bit value may need; a sixth is refused, as is a fifth that overflows. */
START_TEST(test_int_continuation_limit)
{
    uint32_t v;
    size_t used;
    const uint8_t five[] = { 0x0f, 0x81, 0x80, 0x80, 0x80, 0x00 }; /* 15 + 1, padded */
    ck_assert_int_eq(int_decode(five, sizeof five, 4, &v, &used), GW_OK);
    ck_assert_uint_eq(v, 16);
    ck_assert_uint_eq(used, 6);
    const uint8_t six[] = { 0x0f, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00 };
    ck_assert_int_eq(int_decode(six, sizeof six, 4, &v, &used), GW_ERR_MALFORMED);
    const uint8_t over[] = { 0x7f, 0xff, 0xff, 0xff, 0xff, 0x0f }; /* 127 + 2^32 - 1 */
    ck_assert_int_eq(int_decode(over, sizeof over, 7, &v, &used), GW_ERR_MALFORMED);
    struct gw_cursor c = gw_cursor_make(NULL, 0);
    ck_assert_int_eq(gw_hpack_int(&c, 7, &v), GW_ERR_TRUNCATED);
    /* the decoder uses it: a block whose index never ends is malformed */
    struct gw_hpack *h = gw_hpack_create(4096, true);
    ck_assert_int_eq(gw_hpack_decode_block(h, six, sizeof six, NULL, NULL), GW_ERR_MALFORMED);
    const uint8_t idx[] = { 0xff, 0x80 }; /* indexed, cut in its continuation */
    ck_assert_int_eq(gw_hpack_decode_block(h, idx, sizeof idx, NULL, NULL), GW_ERR_MALFORMED);
    gw_hpack_destroy(h);
}
END_TEST


static Suite *hpack_suite(void)
{
    Suite *s = suite_create("hpack");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rfc_c2_fields);
    tcase_add_test(tc, test_int_rfc_examples);
    tcase_add_test(tc, test_int_prefixes_and_max);
    tcase_add_test(tc, test_int_continuation_limit);
    tcase_add_test(tc, test_rfc_c3_requests);
    tcase_add_test(tc, test_rfc_c4_requests_huffman);
    tcase_add_test(tc, test_rfc_c5_responses);
    tcase_add_test(tc, test_rfc_c6_responses_huffman);
    tcase_add_test(tc, test_rfc_c5_with_size_update);
    tcase_add_test(tc, test_huffman_rfc_strings);
    tcase_add_test(tc, test_huffman_invalid);
    tcase_add_test(tc, test_huffman_every_byte_rfc_table);
    tcase_add_test(tc, test_huffman_every_pair);
    tcase_add_test(tc, test_feed_refuses_huge_string_at_its_length);
    tcase_add_test(tc, test_feed_in_pieces_decodes_each_string_once);
    tcase_add_test(tc, test_ceiling_as_nghttp2);
    tcase_add_test(tc, test_store_wraps_and_keeps_evicted_names);
    tcase_add_test(tc, test_huffman_every_byte_nghttp2);
    tcase_add_test(tc, test_cross_check_nghttp2);
    tcase_add_test(tc, test_static_table_matches_nghttp2);
    tcase_add_test(tc, test_midstream_soundness);
    tcase_add_test(tc, test_midstream_larger_encoder_table);
    tcase_add_test(tc, test_midstream_smaller_encoder_table);
    tcase_add_test(tc, test_unknown_name_entry_kept);
    tcase_add_test(tc, test_pickup_index_reports_unknown);
    tcase_add_test(tc, test_eviction_proves_tail_gone);
    tcase_add_test(tc, test_eviction_keeps_referenced_name);
    tcase_add_test(tc, test_memory_cap_forgets);
    tcase_add_test(tc, test_error_restarts_as_pickup);
    tcase_add_test(tc, test_integers);
    tcase_add_test(tc, test_index_rules);
    tcase_add_test(tc, test_size_update_rules);
    tcase_add_test(tc, test_long_literals);
    tcase_add_test(tc, test_every_prefix);
    tcase_add_test(tc, test_random_bytes);
    tcase_add_test(tc, test_mutated_blocks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hpack_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
