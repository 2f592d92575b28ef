/*
 * fuzz_hpack.c - the lenient HPACK decoder (hpack.c), differentially
 * against nghttp2's inflater.
 *
 * Input:
 *   byte 0   bit 0     known_from_start
 *            bits 1-3  max_table: 0, 64, 256, 1024, 4096, 16384, 65536, 33
 *   then operations, each a control byte c:
 *            c & 3 == 0  a header block of (next 2 bytes, big-endian) bytes
 *            c & 3 == 1  gw_hpack_set_max_size(next 2 bytes), or with
 *                        c & 4 gw_hpack_set_ceiling (to nghttp2:
 *                        nghttp2_hd_inflate_change_table_size)
 *            c & 3 == 2  a header block of (next byte) bytes
 *            c & 3 == 3  the rest of the input is one header block
 *            for a block, c >> 2: 0 decodes it whole, k > 0 feeds it in
 *                        pieces of k bytes (gw_hpack_block_feed, the
 *                        undecoded rest carried in front of the next)
 *
 * The same blocks go through nghttp2_hd_inflate_hd2 (settings maximum =
 * what hpack.c accepts: max(max_table, 4096)); a set_max_size is given to
 * nghttp2 as a block holding just that size update. The input is the whole
 * history of the encoder, so every field hpack.c reports as known must be
 * the one nghttp2 decodes at the same position; unknown parts are allowed
 * anywhere (that is the point of the decoder). Once nghttp2 fails, its
 * inflater is unusable and the comparison stops. Checked besides:
 *  - callback contract: NULL name (value) exactly when NAME (VALUE)_UNKNOWN,
 *    lengths within GW_HPACK_MAX_STRING, no other flag bits;
 *  - when the decoder can not forget (known_from_start, max_table >= 4096)
 *    and has not failed: it stays fully known, nothing is reported unknown,
 *    and it accepts exactly the blocks nghttp2 accepts;
 *  - known_size <= max_table; known entries enumerable, and not beyond.
 */
#include "fuzz_common.h"

#include "grpcwatch/hpack.h"

#include <nghttp2/nghttp2.h>

static const uint32_t max_tables[8] = { 0, 64, 256, 1024, 4096, 16384, 65536, 33 };

/* Bytes of decoded fields kept per block; fields past it are not compared.
 * Static: a fresh megabyte per input would cost more than the decoding. */
#define LOG_CAP (256u * 1024)
static uint8_t log_storage[LOG_CAP];

/* Fields hpack.c reported for one block: [flags][namelen][name][valuelen][value]... */
struct field_log {
    uint8_t *buf;
    size_t len, read;
    size_t fields;
    bool overflow;
    bool unknown_seen;
};

static void put(struct field_log *l, const void *p, size_t n)
{
    if (l->overflow || n > LOG_CAP - l->len) {
        l->overflow = true;
        return;
    }
    if (n) memcpy(l->buf + l->len, p, n);
    l->len += n;
}

static void on_field(void *user, const uint8_t *name, size_t namelen, const uint8_t *value,
                     size_t valuelen, unsigned flags)
{
    struct field_log *l = user;
    FZ_CHECK((flags & ~(unsigned)(GW_HPACK_NAME_UNKNOWN | GW_HPACK_VALUE_UNKNOWN)) == 0,
             "flags 0x%x", flags);
    FZ_CHECK((name == NULL) == ((flags & GW_HPACK_NAME_UNKNOWN) != 0), "name %p flags %u",
             (const void *)name, flags);
    FZ_CHECK((value == NULL) == ((flags & GW_HPACK_VALUE_UNKNOWN) != 0), "value %p flags %u",
             (const void *)value, flags);
    FZ_CHECK(name || namelen == 0, "unknown name with length %zu", namelen);
    FZ_CHECK(value || valuelen == 0, "unknown value with length %zu", valuelen);
    FZ_CHECK(namelen <= GW_HPACK_MAX_STRING && valuelen <= GW_HPACK_MAX_STRING, "string too long");
    if (flags) l->unknown_seen = true;
    uint8_t f = (uint8_t)flags;
    uint32_t nl = (uint32_t)namelen, vl = (uint32_t)valuelen;
    put(l, &f, 1);
    put(l, &nl, 4);
    put(l, name, namelen);
    put(l, &vl, 4);
    put(l, value, valuelen);
    if (!l->overflow) l->fields++;
}

/* The next logged field against one nghttp2 decoded. false at the log's end. */
static bool match_next(struct field_log *l, const nghttp2_nv *nv, size_t index)
{
    if (l->read >= l->len) return false;
    uint8_t f;
    uint32_t nl, vl;
    memcpy(&f, l->buf + l->read, 1);
    memcpy(&nl, l->buf + l->read + 1, 4);
    const uint8_t *name = l->buf + l->read + 5;
    memcpy(&vl, name + nl, 4);
    const uint8_t *value = name + nl + 4;
    l->read += 9 + (size_t)nl + vl;
    if (!(f & GW_HPACK_NAME_UNKNOWN))
        FZ_CHECK(nl == nv->namelen && memcmp(name, nv->name, nl) == 0,
                 "field %zu: name '%.*s', nghttp2 says '%.*s'", index, (int)nl, (const char *)name,
                 (int)nv->namelen, (const char *)nv->name);
    if (!(f & GW_HPACK_VALUE_UNKNOWN))
        FZ_CHECK(vl == nv->valuelen && memcmp(value, nv->value, vl) == 0,
                 "field %zu (%.*s): value '%.*s', nghttp2 says '%.*s'", index, (int)nv->namelen,
                 (const char *)nv->name, (int)vl, (const char *)value, (int)nv->valuelen,
                 (const char *)nv->value);
    return true;
}

/* Runs the block through nghttp2, comparing with the log. Returns true if
 * nghttp2 accepted the whole block. */
static bool nghttp2_block(nghttp2_hd_inflater *inf, const uint8_t *p, size_t n, struct field_log *l,
                          bool compare)
{
    size_t index = 0;
    for (;;) {
        nghttp2_nv nv;
        int flags = 0;
        ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &flags, p, n, 1);
        if (rv < 0) return false;
        p += rv;
        n -= (size_t)rv;
        if (flags & NGHTTP2_HD_INFLATE_EMIT) {
            if (compare && !match_next(l, &nv, index))
                FZ_CHECK(l->overflow, "nghttp2 decoded field %zu (%.*s), hpack.c only %zu", index,
                         (int)nv.namelen, (const char *)nv.name, l->fields);
            index++;
        }
        if (flags & NGHTTP2_HD_INFLATE_FINAL) break;
        if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && n == 0) break;
    }
    nghttp2_hd_inflate_end_headers(inf);
    return true;
}

struct state {
    struct gw_hpack *h;
    nghttp2_hd_inflater *inf;  /* NULL once nghttp2 failed */
    uint32_t max_table;
    bool exact;                /* the decoder can not forget and has not failed */
    struct field_log log;
};

static void check_table(const struct state *st)
{
    FZ_CHECK(gw_hpack_known_size(st->h) <= st->max_table, "known size %u > max_table %u",
             gw_hpack_known_size(st->h), st->max_table);
    uint32_t k = gw_hpack_known_entries(st->h);
    const uint8_t *name, *value;
    size_t nl, vl;
    unsigned flags;
    if (k) FZ_CHECK(gw_hpack_known_entry(st->h, k - 1, &name, &nl, &value, &vl, &flags), "entry %u", k - 1);
    FZ_CHECK(!gw_hpack_known_entry(st->h, k, &name, &nl, &value, &vl, &flags), "entry %u past the end", k);
    if (st->exact) FZ_CHECK(gw_hpack_fully_known(st->h), "a decoder that can not forget lost track");
}

/* The block in pieces of `piece` bytes, as h2block.c feeds fragments. */
static int decode_in_pieces(struct gw_hpack *h, const uint8_t *p, size_t n, size_t piece,
                            struct field_log *l)
{
    static uint8_t carry[1u << 16]; /* blocks are at most 65535 bytes here */
    size_t clen = 0, used;
    gw_hpack_block_begin(h);
    for (size_t off = 0; off < n;) {
        size_t k = GW_MIN(piece, n - off);
        memcpy(carry + clen, p + off, k);
        clen += k;
        off += k;
        int rc = gw_hpack_block_feed(h, carry, clen, &used, on_field, l);
        if (rc != GW_OK) return rc;
        FZ_CHECK(used <= clen, "used %zu of %zu", used, clen);
        memmove(carry, carry + used, clen - used);
        clen -= used;
    }
    return gw_hpack_block_end(h, clen);
}

static void run_block(struct state *st, const uint8_t *p, size_t n, size_t piece)
{
    struct field_log *l = &st->log;
    l->len = l->read = l->fields = 0;
    l->overflow = l->unknown_seen = false;
    bool was_exact = st->exact;
    int rc = piece ? decode_in_pieces(st->h, p, n, piece, l) : gw_hpack_decode_block(st->h, p, n, on_field, l);
    FZ_CHECK(rc == GW_OK || rc == GW_ERR_MALFORMED || rc == GW_ERR_NOMEM, "rc %d", rc);
    FZ_CHECK(!was_exact || !l->unknown_seen, "a fully known decoder reported an unknown field");
    if (rc != GW_OK) st->exact = false;
    if (st->inf) {
        bool ok = nghttp2_block(st->inf, p, n, l, true);
        if (ok && rc == GW_OK && !l->overflow)
            FZ_CHECK(l->read == l->len, "hpack.c decoded more fields than nghttp2 (%zu)", l->fields);
        if (was_exact && rc != GW_ERR_NOMEM)
            FZ_CHECK(ok == (rc == GW_OK), "nghttp2 %s the block, hpack.c returned %d",
                     ok ? "accepts" : "rejects", rc);
        if (!ok) {
            nghttp2_hd_inflate_del(st->inf);
            st->inf = NULL;
        }
    }
    check_table(st);
}

/* The encoder announced a new maximum: to nghttp2, a block with just a size update. */
static void run_set_max(struct state *st, uint32_t size)
{
    int rc = gw_hpack_set_max_size(st->h, size);
    FZ_CHECK(rc == GW_OK || rc == GW_ERR_ARG, "set_max_size rc %d", rc);
    if (rc == GW_OK && st->inf) {
        uint8_t upd[8];
        size_t k = 0;
        if (size < 31) {
            upd[k++] = (uint8_t)(0x20 | size);
        } else {
            upd[k++] = 0x3f;
            for (uint32_t v = size - 31; ; v >>= 7) {
                upd[k++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
                if (v < 0x80) break;
            }
        }
        struct field_log empty = { 0 };
        if (!nghttp2_block(st->inf, upd, k, &empty, false)) {
            FZ_CHECK(!st->exact, "nghttp2 refuses a size update hpack.c took (%u)", size);
            nghttp2_hd_inflate_del(st->inf);
            st->inf = NULL;
        }
    }
    check_table(st);
}

/* The decoder's side settled SETTINGS_HEADER_TABLE_SIZE: both decoders
 * get it. Above max_table hpack.c may have to forget. */
static void run_set_ceiling(struct state *st, uint32_t size)
{
    gw_hpack_set_ceiling(st->h, size);
    if (size > st->max_table) st->exact = false;
    if (st->inf)
        FZ_CHECK(nghttp2_hd_inflate_change_table_size(st->inf, size) == 0, "change_table_size %u", size);
    check_table(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = fz_in_make(data, size);
    uint8_t flags = fz_u8(&in);
    struct state st;
    memset(&st, 0, sizeof st);
    bool known = flags & 1;
    st.max_table = max_tables[(flags >> 1) & 7];
    st.h = gw_hpack_create(st.max_table, known);
    FZ_CHECK(st.h != NULL, "gw_hpack_create");
    FZ_CHECK(gw_hpack_fully_known(st.h) == known, "fully_known %d at start", gw_hpack_fully_known(st.h));
    st.exact = known && st.max_table >= GW_HPACK_DEFAULT_TABLE;
    FZ_CHECK(nghttp2_hd_inflate_new(&st.inf) == 0, "nghttp2_hd_inflate_new");
    FZ_CHECK(nghttp2_hd_inflate_change_table_size(st.inf, GW_MAX(st.max_table, GW_HPACK_DEFAULT_TABLE)) == 0,
             "change_table_size");
    st.log.buf = log_storage;

    while (fz_left(&in) > 0) {
        uint8_t c = fz_u8(&in);
        size_t want, got;
        switch (c & 3) {
        case 0: want = fz_be16(&in); break;
        case 1:
            if (c & 4) run_set_ceiling(&st, fz_be16(&in));
            else run_set_max(&st, fz_be16(&in));
            continue;
        case 2: want = fz_u8(&in); break;
        default: want = fz_left(&in); break;
        }
        const uint8_t *p = fz_bytes(&in, want, &got);
        run_block(&st, p, got, (size_t)(c >> 2));
    }

    if (st.inf) nghttp2_hd_inflate_del(st.inf);
    gw_hpack_destroy(st.h);
    return 0;
}
