/*
 * hpack.c - the HPACK (RFC 7541) decoder, for connections seen from their start
 * and for those picked up mid-stream.
 *
 * Model. The encoder's dynamic table, newest first, is
 *
 *     [ entries inserted since the pickup ] ++ [ entries from before it ]
 *
 * because every insertion goes to the front and every eviction takes the
 * oldest. We keep K, the newest since-pickup entries, as copies (a ring,
 * newest = dynamic index 62). Everything past K (pre-pickup entries, and
 * since-pickup entries we had to forget) is "the unknown tail".
 *
 * Invariants:
 *  - K is always a contiguous newest run of the since-pickup insertions:
 *    every literal with incremental indexing is inserted into K, even when
 *    its name is an unknown reference (the entry keeps a name_unknown flag),
 *    and entries only ever leave K from its oldest end. If an entry can not
 *    be kept (memory cap, malloc failure) all of K is dropped with it.
 *    Hence dynamic index 62 + j with j < |K| is K[j], whatever the real
 *    maximum size is: a valid encoder only uses indices its table holds,
 *    the true table is the newest r entries of the same history, so j < r
 *    names the same entry in both. A larger index is reported as unknown,
 *    never as something else.
 *  - Sizes are RFC 7541 4.1 sizes (name + value + 32). An entry whose name
 *    is unknown counts value + 32: a lower bound. Lower bounds make our
 *    evictions happen no earlier than the encoder's, so K stays a superset
 *    (as a newest-prefix) of what the encoder still holds; and any proof
 *    below that uses them stays valid with the true, larger sizes.
 *  - tail_gone: the encoder's table holds nothing outside K. It becomes true
 *    only from facts about a known maximum size M (max_known):
 *      - a size update to S with size(K) + 32 > S (S = 0 included): after
 *        it the table fits in S, and holding anything outside K would mean
 *        holding all of K plus one more entry of >= 32 bytes;
 *      - an insertion of e with size(K) + size(e) + 32 > M: same argument;
 *      - an insertion of e with size(e) > M: the RFC empties the table.
 *    Before any size update the maximum is only assumed to be the protocol
 *    default (4096): the encoder may have been allowed more, so evictions
 *    under the assumption prove nothing (they merely forget, which is
 *    sound). tail_gone implies max_known. Once tail_gone, an index past K
 *    is GW_ERR_MALFORMED, as in a real decoder. gw_hpack_fully_known() is
 *    tail_gone with no name_unknown entry left in K.
 *  - With a known maximum M (tail or not), an index j >= M / 32 past K is
 *    GW_ERR_MALFORMED: no table of M bytes holds that many entries.
 *  - Memory, all of it from the pool given at create: known bytes (sizes of
 *    K) never exceed max_table; past that the oldest known entries are
 *    forgotten and tail_gone drops to false. K's entries (name and value
 *    copied: they are needed after the input is gone) lie in one store,
 *    oldest to newest, circularly: an insertion goes after the newest (or
 *    to the store's start), an eviction only moves the oldest mark, so
 *    forgetting everything and destroying walk nothing. An entry takes
 *    less than its RFC size, so the store needs at most twice max_table
 *    (it grows by doubling from 512 bytes, compacting). The ring of store
 *    offsets grows by doubling up to max_table / 32 + 1 slots. Huffman
 *    strings are decoded into one scratch buffer of the object (one
 *    field's name and value: 512 bytes to start), grown on demand (never
 *    shrunk) up to twice GW_HPACK_MAX_STRING; raw strings are
 *    not copied.
 *  - expect_update: gw_hpack_set_ceiling() cut the maximum below what the
 *    encoder had; until a size update arrives the next block must start
 *    with one (RFC 7541 4.2; nghttp2 insists too).
 *  - A size update may set at most max(max_table, 4096): max_table stands
 *    for the SETTINGS_HEADER_TABLE_SIZE the decoder side sent, and the
 *    protocol default stays legal even when the memory cap is smaller (the
 *    cap then forgets, it does not reject). Above that: GW_ERR_MALFORMED.
 *  - After any decoding error the rest of the block was not applied, so the
 *    table no longer matches the encoder's: K is dropped and the decoder
 *    restarts as a mid-stream pickup (unknown tail, assumed maximum).
 *  - No global mutable state; the static and Huffman tables are constant.
 */
#include "grpcwatch/hpack.h"

#include "grpcwatch/cursor.h"
#include "grpcwatch/pool.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

#define HP_ENTRY_OVERHEAD 32u   /* RFC 7541 4.1 */
#define HP_STATIC_COUNT 61u     /* RFC 7541 Appendix A */
#define HP_INT_MAX_CONT 5u      /* continuation bytes: 5 * 7 bits cover 2^32 */
#define HP_RING_MIN 16u
#define HP_SCRATCH_MIN 512u
#define HP_SCRATCH_MAX (2u * GW_HPACK_MAX_STRING)

/* ---- static table (RFC 7541 Appendix A) -------------------------------- */

struct hp_static {
    const char *name, *value;
    uint8_t namelen, valuelen;
};

#define S(n, v) { n, v, sizeof(n) - 1, sizeof(v) - 1 }
static const struct hp_static hp_static_table[HP_STATIC_COUNT] = {
    S(":authority", ""), S(":method", "GET"), S(":method", "POST"),
    S(":path", "/"), S(":path", "/index.html"), S(":scheme", "http"),
    S(":scheme", "https"), S(":status", "200"), S(":status", "204"),
    S(":status", "206"), S(":status", "304"), S(":status", "400"),
    S(":status", "404"), S(":status", "500"), S("accept-charset", ""),
    S("accept-encoding", "gzip, deflate"), S("accept-language", ""),
    S("accept-ranges", ""), S("accept", ""), S("access-control-allow-origin", ""),
    S("age", ""), S("allow", ""), S("authorization", ""), S("cache-control", ""),
    S("content-disposition", ""), S("content-encoding", ""),
    S("content-language", ""), S("content-length", ""), S("content-location", ""),
    S("content-range", ""), S("content-type", ""), S("cookie", ""), S("date", ""),
    S("etag", ""), S("expect", ""), S("expires", ""), S("from", ""), S("host", ""),
    S("if-match", ""), S("if-modified-since", ""), S("if-none-match", ""),
    S("if-range", ""), S("if-unmodified-since", ""), S("last-modified", ""),
    S("link", ""), S("location", ""), S("max-forwards", ""),
    S("proxy-authenticate", ""), S("proxy-authorization", ""), S("range", ""),
    S("referer", ""), S("refresh", ""), S("retry-after", ""), S("server", ""),
    S("set-cookie", ""), S("strict-transport-security", ""),
    S("transfer-encoding", ""), S("user-agent", ""), S("vary", ""), S("via", ""),
    S("www-authenticate", ""),
};
#undef S

/* ---- Huffman code (RFC 7541 Appendix B) -------------------------------- */

/* The code is canonical: codes of one length are consecutive and assigned
 * in symbol order, and each length's first code follows the last code of
 * the previous length, shifted. So the number of codes of each length and
 * the symbols sorted by (length, symbol) define it completely. 256 = EOS. */
#define HP_HUFF_MAX_LEN 30u
#define HP_HUFF_MIN_LEN 5u
#define HP_HUFF_EOS 256u

static const uint8_t hp_huff_count[HP_HUFF_MAX_LEN + 1] = {
    0, 0, 0, 0, 0, 10, 26, 32, 6, 0, 5, 3, 2, 6, 2, 3,
    0, 0, 0, 3, 8, 13, 26, 29, 12, 4, 15, 19, 29, 0, 4,
};

static const uint16_t hp_huff_symbols[257] = {
    /*  5 bits */ 48, 49, 50, 97, 99, 101, 105, 111, 115, 116,
    /*  6 bits */ 32, 37, 45, 46, 47, 51, 52, 53, 54, 55, 56, 57, 61, 65, 95, 98, 100,
    102, 103, 104, 108, 109, 110, 112, 114, 117,
    /*  7 bits */ 58, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81,
    82, 83, 84, 85, 86, 87, 89, 106, 107, 113, 118, 119, 120, 121, 122,
    /*  8 bits */ 38, 42, 44, 59, 88, 90,
    /* 10 bits */ 33, 34, 40, 41, 63,
    /* 11 bits */ 39, 43, 124,
    /* 12 bits */ 35, 62,
    /* 13 bits */ 0, 36, 64, 91, 93, 126,
    /* 14 bits */ 94, 125,
    /* 15 bits */ 60, 96, 123,
    /* 19 bits */ 92, 195, 208,
    /* 20 bits */ 128, 130, 131, 162, 184, 194, 224, 226,
    /* 21 bits */ 153, 161, 167, 172, 176, 177, 179, 209, 216, 217, 227, 229, 230,
    /* 22 bits */ 129, 132, 133, 134, 136, 146, 154, 156, 160, 163, 164, 169, 170,
    173, 178, 181, 185, 186, 187, 189, 190, 196, 198, 228, 232, 233,
    /* 23 bits */ 1, 135, 137, 138, 139, 140, 141, 143, 147, 149, 150, 151, 152, 155,
    157, 158, 165, 166, 168, 174, 175, 180, 182, 183, 188, 191, 197, 231, 239,
    /* 24 bits */ 9, 142, 144, 145, 148, 159, 171, 206, 215, 225, 236, 237,
    /* 25 bits */ 199, 207, 234, 235,
    /* 26 bits */ 192, 193, 200, 201, 202, 205, 210, 213, 218, 219, 238, 240, 242,
    243, 255,
    /* 27 bits */ 203, 204, 211, 212, 214, 221, 222, 223, 241, 244, 245, 246, 247,
    248, 250, 251, 252, 253, 254,
    /* 28 bits */ 2, 3, 4, 5, 6, 7, 8, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24,
    25, 26, 27, 28, 29, 30, 31, 127, 220, 249,
    /* 30 bits */ 10, 13, 22, 256,
};

/* The symbol whose code starts the 30-bit window; its length in *len. The
 * code is complete (Kraft sum 1), so every window starts with some code. */
static unsigned huff_match(uint32_t window, unsigned *len)
{
    uint32_t first = 0, index = 0;
    for (unsigned l = HP_HUFF_MIN_LEN; l <= HP_HUFF_MAX_LEN; l++) {
        uint32_t code = window >> (HP_HUFF_MAX_LEN - l);
        uint32_t count = hp_huff_count[l];
        if (code - first < count) { /* code < first wraps: no match */
            *len = l;
            return hp_huff_symbols[index + (code - first)];
        }
        index += count;
        first = (first + count) << 1;
    }
    *len = HP_HUFF_MAX_LEN + 1; /* unreachable with a complete code */
    return HP_HUFF_EOS;
}

/* hp_huff_byte[b]: the code that byte b begins with, when that code is at
 * most 8 bits long, as (length << 9) | symbol; 0 when it is longer (only
 * 0xfe and 0xff begin a code of 10 to 30 bits). Written out from the two
 * tables above; test_huffman_every_pair decodes every 8-bit code followed
 * by every other code, so each entry is checked. One load decodes a symbol
 * of every letter, digit and common punctuation mark; the rest go through
 * huff_match. */
static const uint16_t hp_huff_byte[256] = {
    0x0a30, 0x0a30, 0x0a30, 0x0a30, 0x0a30, 0x0a30, 0x0a30, 0x0a30,
    0x0a31, 0x0a31, 0x0a31, 0x0a31, 0x0a31, 0x0a31, 0x0a31, 0x0a31,
    0x0a32, 0x0a32, 0x0a32, 0x0a32, 0x0a32, 0x0a32, 0x0a32, 0x0a32,
    0x0a61, 0x0a61, 0x0a61, 0x0a61, 0x0a61, 0x0a61, 0x0a61, 0x0a61,
    0x0a63, 0x0a63, 0x0a63, 0x0a63, 0x0a63, 0x0a63, 0x0a63, 0x0a63,
    0x0a65, 0x0a65, 0x0a65, 0x0a65, 0x0a65, 0x0a65, 0x0a65, 0x0a65,
    0x0a69, 0x0a69, 0x0a69, 0x0a69, 0x0a69, 0x0a69, 0x0a69, 0x0a69,
    0x0a6f, 0x0a6f, 0x0a6f, 0x0a6f, 0x0a6f, 0x0a6f, 0x0a6f, 0x0a6f,
    0x0a73, 0x0a73, 0x0a73, 0x0a73, 0x0a73, 0x0a73, 0x0a73, 0x0a73,
    0x0a74, 0x0a74, 0x0a74, 0x0a74, 0x0a74, 0x0a74, 0x0a74, 0x0a74,
    0x0c20, 0x0c20, 0x0c20, 0x0c20, 0x0c25, 0x0c25, 0x0c25, 0x0c25,
    0x0c2d, 0x0c2d, 0x0c2d, 0x0c2d, 0x0c2e, 0x0c2e, 0x0c2e, 0x0c2e,
    0x0c2f, 0x0c2f, 0x0c2f, 0x0c2f, 0x0c33, 0x0c33, 0x0c33, 0x0c33,
    0x0c34, 0x0c34, 0x0c34, 0x0c34, 0x0c35, 0x0c35, 0x0c35, 0x0c35,
    0x0c36, 0x0c36, 0x0c36, 0x0c36, 0x0c37, 0x0c37, 0x0c37, 0x0c37,
    0x0c38, 0x0c38, 0x0c38, 0x0c38, 0x0c39, 0x0c39, 0x0c39, 0x0c39,
    0x0c3d, 0x0c3d, 0x0c3d, 0x0c3d, 0x0c41, 0x0c41, 0x0c41, 0x0c41,
    0x0c5f, 0x0c5f, 0x0c5f, 0x0c5f, 0x0c62, 0x0c62, 0x0c62, 0x0c62,
    0x0c64, 0x0c64, 0x0c64, 0x0c64, 0x0c66, 0x0c66, 0x0c66, 0x0c66,
    0x0c67, 0x0c67, 0x0c67, 0x0c67, 0x0c68, 0x0c68, 0x0c68, 0x0c68,
    0x0c6c, 0x0c6c, 0x0c6c, 0x0c6c, 0x0c6d, 0x0c6d, 0x0c6d, 0x0c6d,
    0x0c6e, 0x0c6e, 0x0c6e, 0x0c6e, 0x0c70, 0x0c70, 0x0c70, 0x0c70,
    0x0c72, 0x0c72, 0x0c72, 0x0c72, 0x0c75, 0x0c75, 0x0c75, 0x0c75,
    0x0e3a, 0x0e3a, 0x0e42, 0x0e42, 0x0e43, 0x0e43, 0x0e44, 0x0e44,
    0x0e45, 0x0e45, 0x0e46, 0x0e46, 0x0e47, 0x0e47, 0x0e48, 0x0e48,
    0x0e49, 0x0e49, 0x0e4a, 0x0e4a, 0x0e4b, 0x0e4b, 0x0e4c, 0x0e4c,
    0x0e4d, 0x0e4d, 0x0e4e, 0x0e4e, 0x0e4f, 0x0e4f, 0x0e50, 0x0e50,
    0x0e51, 0x0e51, 0x0e52, 0x0e52, 0x0e53, 0x0e53, 0x0e54, 0x0e54,
    0x0e55, 0x0e55, 0x0e56, 0x0e56, 0x0e57, 0x0e57, 0x0e59, 0x0e59,
    0x0e6a, 0x0e6a, 0x0e6b, 0x0e6b, 0x0e71, 0x0e71, 0x0e76, 0x0e76,
    0x0e77, 0x0e77, 0x0e78, 0x0e78, 0x0e79, 0x0e79, 0x0e7a, 0x0e7a,
    0x1026, 0x102a, 0x102c, 0x103b, 0x1058, 0x105a, 0x0000, 0x0000,
};

#define HUFF_BYTE_LEN(e) ((unsigned)(e) >> 9)
#define HUFF_BYTE_SYM(e) ((unsigned)(e) & 0x1ffu)

/* Refills acc (the unconsumed bits, left-aligned: the next one is bit 63;
 * the bits below the nbits counted are the input's next bits or zero) to at
 * least 57 bits, or to the end of the input. With 8 bytes left it is one
 * big-endian load: the bytes it does not count are counted on the next
 * refill, which ORs in the same bits. */
static uint64_t load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return be64toh(v);
}

static void huff_refill(const uint8_t *p, size_t n, size_t *i, uint64_t *acc, unsigned *nbits)
{
    if (n - *i >= 8) {
        uint64_t w = load_be64(p + *i);
        *acc |= w >> *nbits;
        *i += (63 - *nbits) >> 3;
        *nbits |= 56;
        return;
    }
    while (*nbits <= 56 && *i < n) {
        *acc |= (uint64_t)p[(*i)++] << (56 - *nbits);
        *nbits += 8;
    }
}

long gw_hpack_huffman_decode(const uint8_t *p, size_t n, uint8_t *out, size_t outcap)
{
    uint64_t acc = 0;
    unsigned nbits = 0;
    size_t i = 0, o = 0;
    if ((p == NULL && n > 0) || (out == NULL && outcap > 0)) return -1;
    for (;;) {
        if (nbits < HP_HUFF_MAX_LEN) {
            huff_refill(p, n, &i, &acc, &nbits);
            if (nbits == 0) break;
        }
        unsigned len, sym;
        uint16_t e = hp_huff_byte[acc >> 56];
        if (e) {
            len = HUFF_BYTE_LEN(e);
            sym = HUFF_BYTE_SYM(e);
        } else {
            sym = huff_match((uint32_t)(acc >> (64 - HP_HUFF_MAX_LEN)), &len);
        }
        if (len > nbits) {
            /* The input is exhausted (nbits < 30, so the refill found no
             * more): what is left must be padding, i.e. a prefix of EOS
             * (all ones) of at most 7 bits. */
            uint64_t ones = (1ull << nbits) - 1;
            if (nbits > 7 || (acc >> (64 - nbits)) != ones) return -1;
            break;
        }
        if (sym == HP_HUFF_EOS || o >= outcap) return -1;
        out[o++] = (uint8_t)sym;
        acc <<= len;
        nbits -= len;
    }
    return (long)o;
}

/* ---- the decoder object ------------------------------------------------- */

/* An entry of K, in the store at a 4-byte aligned offset. */
struct hp_entry {
    uint32_t namelen;  /* 0 when the name is unknown */
    uint32_t valuelen;
    bool name_unknown;
    uint8_t bytes[];   /* name, then value */
};

#define HP_STORE_MIN 512u

struct gw_hpack {
    uint32_t max_table;     /* cap on known bytes */
    uint32_t ceiling;       /* largest size update: max(max_table, 4096) */
    uint32_t cur_max;       /* the encoder's maximum size: known or assumed */
    bool max_known;         /* cur_max is a fact (start, size update) */
    bool tail_gone;         /* nothing outside K in the encoder's table */
    uint32_t *ring;         /* K: store offsets, ring[(oldest + i) % ring_cap], i < count */
    uint32_t ring_cap, oldest, count;
    uint8_t *store;         /* K's entries, oldest to newest, circularly */
    uint32_t store_cap;
    uint32_t head;          /* where the newest entry ends (0 when K is empty) */
    uint32_t store_live;    /* bytes of K's entries in the store */
    uint32_t known_size;    /* sum of K's sizes (lower bounds, see top) */
    uint32_t name_unknown_count;
    bool expect_update;     /* the next block must open with a size update */
    uint32_t min_ceiling;   /* smallest cut by a ceiling since the last size update */
    bool at_start;          /* no field of the open block decoded yet */
    uint64_t huffman_in;    /* Huffman-coded bytes decoded, for tests and stats */
    uint8_t *scratch;       /* Huffman-decoded strings of the current field */
    size_t scratch_cap, scratch_used;
    struct gw_pool *pool;   /* every allocation of the decoder */
};

static uint32_t entry_size(const struct hp_entry *e)
{
    return e->namelen + e->valuelen + HP_ENTRY_OVERHEAD;
}

/* The ring slot of K's i-th oldest entry, i <= count (count: the next
 * free slot). oldest < ring_cap and count <= ring_cap, so one wrap is
 * enough; ring_cap <= 2^27 + 1, so the sum does not overflow. */
static uint32_t ring_slot(const struct gw_hpack *h, uint32_t i)
{
    uint32_t k = h->oldest + i;
    return k >= h->ring_cap ? k - h->ring_cap : k;
}

static struct hp_entry *entry_in(const struct gw_hpack *h, uint32_t off)
{
    return (struct hp_entry *)(void *)(h->store + off);
}

/* K[j], j = 0 the newest. */
static struct hp_entry *entry_at(const struct gw_hpack *h, uint32_t j)
{
    return entry_in(h, h->ring[ring_slot(h, h->count - 1 - j)]);
}

/* Bytes an entry takes in the store (always less than its RFC size). */
static uint32_t footprint(size_t namelen, size_t valuelen)
{
    size_t n = offsetof(struct hp_entry, bytes) + namelen + valuelen;
    return (uint32_t)((n + 3) & ~(size_t)3);
}

/* Removes the oldest entry of K. The caller decides what it means (an RFC
 * eviction, or forgetting: then it also clears tail_gone). */
static void drop_oldest(struct gw_hpack *h)
{
    struct hp_entry *e = entry_in(h, h->ring[h->oldest]);
    h->known_size -= entry_size(e);
    h->store_live -= footprint(e->namelen, e->valuelen);
    if (e->name_unknown) h->name_unknown_count--;
    h->oldest = ring_slot(h, 1);
    if (--h->count == 0) h->oldest = h->head = 0;
}

/* Everything in K goes at once: the store is kept, nothing is walked. */
static void forget_all(struct gw_hpack *h)
{
    h->count = h->oldest = h->head = 0;
    h->known_size = h->store_live = h->name_unknown_count = 0;
    h->tail_gone = false;
}

static bool ring_reserve(struct gw_hpack *h)
{
    if (h->count < h->ring_cap) return true;
    uint32_t limit = h->max_table / HP_ENTRY_OVERHEAD + 1;
    uint32_t cap = h->ring_cap ? h->ring_cap * 2 : HP_RING_MIN;
    if (cap > limit) cap = limit;
    if (cap <= h->count) return false;
    uint32_t *r = gw_pool_calloc(h->pool, cap, sizeof *r);
    if (!r) return false;
    for (uint32_t i = 0; i < h->count; i++) r[i] = h->ring[ring_slot(h, i)];
    gw_pool_free(h->pool, h->ring);
    h->ring = r;
    h->ring_cap = cap;
    h->oldest = 0;
    return true;
}

/* A dynamic table size update to s (s <= ceiling), or the caller's word
 * that the maximum is s. Proof of tail_gone: see the top comment. */
static void apply_max_size(struct gw_hpack *h, uint32_t s)
{
    if ((uint64_t)h->known_size + HP_ENTRY_OVERHEAD > s) h->tail_gone = true;
    while (h->count > 0 && h->known_size > s) drop_oldest(h);
    h->cur_max = s;
    h->max_known = true;
}

/* RFC 7541 4.4 eviction before adding an entry of (lower-bound) size s;
 * returns false when the RFC adds nothing (s > the known maximum). */
static bool evict_for(struct gw_hpack *h, uint64_t s)
{
    if (h->max_known && s > h->cur_max) {
        forget_all(h);
        h->tail_gone = true; /* the RFC empties the whole table */
        return false;
    }
    if (h->max_known && h->known_size + s + HP_ENTRY_OVERHEAD > h->cur_max) h->tail_gone = true;
    /* Under an assumed maximum this only forgets: tail_gone is false. */
    while (h->count > 0 && h->known_size + s > h->cur_max) drop_oldest(h);
    return true;
}

/* K copied into a new store of cap bytes, oldest entry at 0. The old
 * store (NULL if none) goes to *old, not freed: a name being inserted may
 * lie in it. false: out of memory, nothing changed. */
static bool store_compact(struct gw_hpack *h, uint32_t cap, uint8_t **old)
{
    uint8_t *n = gw_pool_alloc(h->pool, cap);
    if (!n) return false;
    uint32_t at = 0;
    for (uint32_t i = 0; i < h->count; i++) {
        uint32_t slot = ring_slot(h, i);
        const struct hp_entry *e = entry_in(h, h->ring[slot]);
        uint32_t f = footprint(e->namelen, e->valuelen);
        memcpy(n + at, e, f);
        h->ring[slot] = at;
        at += f;
    }
    *old = h->store;
    h->store = n;
    h->store_cap = cap;
    h->head = at;
    return true;
}

/* Where f more bytes go after the newest entry: at the head, or at the
 * store's start when the run of entries does not reach it; else in a
 * larger (or the same size, compacted) store. *old is the store to free
 * once the entry is written (NULL: none). false: out of memory. The store
 * never needs more than twice max_table: K's entries take less than their
 * RFC sizes, whose sum is at most max_table. */
static bool store_place(struct gw_hpack *h, uint32_t f, uint32_t *off, uint8_t **old)
{
    *old = NULL;
    if (h->count > 0) {
        uint32_t tail = h->ring[h->oldest], newest = h->ring[ring_slot(h, h->count - 1)];
        if (newest >= tail) { /* one run [tail, head) */
            if (h->store_cap - h->head >= f) { *off = h->head; return true; }
            if (tail >= f) { *off = 0; return true; }
        } else if (tail - h->head >= f) { /* wrapped: [tail, ...) and [0, head) */
            *off = h->head;
            return true;
        }
    } else if (h->store_cap >= f) {
        *off = 0;
        return true;
    }
    uint64_t limit = 2 * (uint64_t)h->max_table + HP_STORE_MIN;
    uint64_t cap = GW_MAX((uint64_t)h->store_cap * 2, HP_STORE_MIN);
    if (cap > limit) cap = limit;
    if (cap < (uint64_t)h->store_live + f) cap = (uint64_t)h->store_live + f;
    if (!store_compact(h, (uint32_t)cap, old)) return false;
    *off = h->head;
    return true;
}

/* Adds a literal with incremental indexing to K (name NULL when unknown).
 * The name may be an entry's, even one evicted here: the bytes of evicted
 * entries stay until overwritten, the new entry's name is moved in first
 * (memmove: it may overlap), and a replaced store is freed last. */
static void insert(struct gw_hpack *h, const uint8_t *name, size_t namelen,
                   const uint8_t *value, size_t valuelen)
{
    bool unknown = name == NULL;
    if (unknown) namelen = 0;
    if (value == NULL && valuelen > 0) { /* never: a literal value is bytes */
        forget_all(h);
        return;
    }
    uint64_t s = (uint64_t)namelen + valuelen + HP_ENTRY_OVERHEAD;
    if (!evict_for(h, s)) return;
    /* Memory cap: older known entries become part of the unknown tail. */
    while (h->count > 0 && h->known_size + s > h->max_table) {
        drop_oldest(h);
        h->tail_gone = false;
    }
    uint32_t f, off;
    uint8_t *old;
    if (s > h->max_table || !ring_reserve(h) ||
        !store_place(h, f = footprint(namelen, valuelen), &off, &old)) {
        forget_all(h); /* the newest entry is lost: K can not skip it */
        return;
    }
    struct hp_entry *e = entry_in(h, off);
    if (namelen) memmove(e->bytes, name, namelen);
    if (valuelen) memcpy(e->bytes + namelen, value, valuelen);
    e->namelen = (uint32_t)namelen;
    e->valuelen = (uint32_t)valuelen;
    e->name_unknown = unknown;
    gw_pool_free(h->pool, old);
    h->ring[ring_slot(h, h->count)] = off;
    h->count++;
    h->head = off + f;
    h->store_live += f;
    h->known_size += (uint32_t)s;
    if (unknown) h->name_unknown_count++;
}

struct gw_hpack *gw_hpack_create_in(struct gw_pool *pool, uint32_t max_table, bool known_from_start)
{
    struct gw_hpack *h = gw_pool_calloc(pool, 1, sizeof *h);
    if (!h) return NULL;
    h->pool = pool;
    h->scratch = gw_pool_alloc(pool, HP_SCRATCH_MIN);
    if (!h->scratch) {
        gw_pool_free(pool, h);
        return NULL;
    }
    h->scratch_cap = HP_SCRATCH_MIN;
    h->max_table = max_table;
    h->ceiling = GW_MAX(max_table, GW_HPACK_DEFAULT_TABLE);
    h->cur_max = GW_HPACK_DEFAULT_TABLE;
    h->max_known = known_from_start;
    h->tail_gone = known_from_start;
    h->at_start = true;
    h->min_ceiling = UINT32_MAX;
    return h;
}

struct gw_hpack *gw_hpack_create(uint32_t max_table, bool known_from_start)
{
    return gw_hpack_create_in(NULL, max_table, known_from_start);
}

void gw_hpack_destroy(struct gw_hpack *h)
{
    if (!h) return;
    gw_pool_free(h->pool, h->ring);
    gw_pool_free(h->pool, h->store);
    gw_pool_free(h->pool, h->scratch);
    gw_pool_free(h->pool, h);
}

bool gw_hpack_fully_known(const struct gw_hpack *h)
{
    return h && h->tail_gone && h->name_unknown_count == 0;
}

uint32_t gw_hpack_known_entries(const struct gw_hpack *h) { return h ? h->count : 0; }
uint32_t gw_hpack_known_size(const struct gw_hpack *h) { return h ? h->known_size : 0; }
uint64_t gw_hpack_huffman_in(const struct gw_hpack *h) { return h ? h->huffman_in : 0; }

void gw_hpack_follow_settings(struct gw_hpack *h)
{
    if (h) h->ceiling = GW_HPACK_DEFAULT_TABLE;
}

void gw_hpack_set_ceiling(struct gw_hpack *h, uint32_t size)
{
    if (!h) return;
    h->ceiling = size;
    if (h->cur_max > size) {
        /* the encoder must come down to it: at the latest its next block
         * says so, and meanwhile nothing it holds can be above it. RFC
         * 7541 4.2: its first update signals the smallest such cut of the
         * interval (nghttp2 checks it: min_hd_table_bufsize_max) */
        apply_max_size(h, size);
        h->expect_update = true;
        h->min_ceiling = GW_MIN(h->min_ceiling, size);
    }
}

int gw_hpack_set_max_size(struct gw_hpack *h, uint32_t size)
{
    if (!h || size > h->ceiling || size > h->min_ceiling) return GW_ERR_ARG;
    apply_max_size(h, size);
    h->expect_update = false;
    h->min_ceiling = UINT32_MAX;
    return GW_OK;
}

bool gw_hpack_known_entry(const struct gw_hpack *h, uint32_t j, const uint8_t **name,
                          size_t *namelen, const uint8_t **value, size_t *valuelen,
                          unsigned *flags)
{
    if (!h || j >= h->count) return false;
    const struct hp_entry *e = entry_at(h, j);
    if (name) *name = e->name_unknown ? NULL : e->bytes;
    if (namelen) *namelen = e->namelen;
    if (value) *value = e->bytes + e->namelen;
    if (valuelen) *valuelen = e->valuelen;
    if (flags) *flags = e->name_unknown ? GW_HPACK_NAME_UNKNOWN : 0;
    return true;
}

/* ---- decoding ----------------------------------------------------------- */

/* A name or value: bytes in the input, a table, or the scratch buffer (by
 * offset: the buffer may move when it grows for the next string). */
struct hp_str {
    const uint8_t *p; /* NULL: in scratch at off, or unknown (see flags) */
    size_t off, len;
    bool in_scratch;
};

struct hp_field {
    struct hp_str name, value;
    unsigned flags;
};

static const uint8_t *str_ptr(const struct gw_hpack *h, const struct hp_str *s)
{
    return s->in_scratch ? h->scratch + s->off : s->p;
}

int gw_hpack_int(struct gw_cursor *c, unsigned prefix_bits, uint32_t *out)
{
    GW_ASSERT(prefix_bits >= 1 && prefix_bits <= 8);
    uint32_t prefix_max = (1u << prefix_bits) - 1;
    uint64_t v = gw_get_u8(c) & prefix_max;
    if (c->err) return GW_ERR_TRUNCATED;
    if (v < prefix_max) {
        *out = (uint32_t)v;
        return GW_OK;
    }
    for (unsigned i = 0; i < HP_INT_MAX_CONT; i++) {
        uint8_t b = gw_get_u8(c);
        if (c->err) return GW_ERR_TRUNCATED;
        v += (uint64_t)(b & 0x7f) << (7 * i);
        if (v > UINT32_MAX) return GW_ERR_MALFORMED;
        if (!(b & 0x80)) {
            *out = (uint32_t)v;
            return GW_OK;
        }
    }
    return GW_ERR_MALFORMED;
}

/* The representation's first byte, not consumed (the integer it starts
 * is read by gw_hpack_int). */
static bool peek_u8(const struct gw_cursor *c, uint8_t *b)
{
    if (c->err || gw_cursor_left(c) == 0) return false;
    *b = *gw_cursor_ptr(c);
    return true;
}

static bool scratch_reserve(struct gw_hpack *h, size_t need)
{
    if (need <= h->scratch_cap) return true;
    size_t cap = h->scratch_cap * 2;
    if (cap < need) cap = need;
    if (cap > HP_SCRATCH_MAX) cap = HP_SCRATCH_MAX;
    if (cap < need) return false;
    uint8_t *s = gw_pool_realloc(h->pool, h->scratch, cap);
    if (!s) return false;
    h->scratch = s;
    h->scratch_cap = cap;
    return true;
}

/* RFC 7541 5.2: a string literal, Huffman-decoded into scratch if coded. */
static int read_string(struct gw_hpack *h, struct gw_cursor *c, struct hp_str *s)
{
    uint8_t first;
    uint32_t len;
    if (!peek_u8(c, &first)) return GW_ERR_TRUNCATED;
    int rv = gw_hpack_int(c, 7, &len);
    if (rv != GW_OK) return rv;
    /* The cap applies to the wire length too (as nghttp2's does): a sane
     * encoder only Huffman-codes what gets shorter. Checked before the
     * bytes are there: a field announced larger is refused at once. */
    if (len > GW_HPACK_MAX_STRING) return GW_ERR_MALFORMED;
    const uint8_t *raw = gw_get_bytes(c, len);
    if (!raw) return GW_ERR_TRUNCATED;
    memset(s, 0, sizeof *s);
    if (!(first & 0x80)) {
        s->p = raw;
        s->len = len;
        return GW_OK;
    }
    /* Codes are at least 5 bits: len bytes decode to at most len * 8 / 5. */
    size_t room = GW_MIN((size_t)len * 8 / 5, (size_t)GW_HPACK_MAX_STRING);
    if (!scratch_reserve(h, h->scratch_used + room)) return GW_ERR_NOMEM;
    h->huffman_in += len;
    long got = gw_hpack_huffman_decode(raw, len, h->scratch + h->scratch_used, room);
    if (got < 0) return GW_ERR_MALFORMED; /* bad code, or longer than the cap */
    s->in_scratch = true;
    s->off = h->scratch_used;
    s->len = (size_t)got;
    h->scratch_used += (size_t)got;
    return GW_OK;
}

/* Looks up index idx (>= 1) into f's name and value. */
static int lookup(const struct gw_hpack *h, uint32_t idx, struct hp_field *f)
{
    if (idx == 0) return GW_ERR_MALFORMED;
    if (idx <= HP_STATIC_COUNT) {
        const struct hp_static *st = &hp_static_table[idx - 1];
        f->name.p = (const uint8_t *)st->name;
        f->name.len = st->namelen;
        f->value.p = (const uint8_t *)st->value;
        f->value.len = st->valuelen;
        return GW_OK;
    }
    uint32_t j = idx - HP_STATIC_COUNT - 1;
    if (j < h->count) {
        const struct hp_entry *e = entry_at(h, j);
        if (e->name_unknown) f->flags |= GW_HPACK_NAME_UNKNOWN;
        else f->name.p = e->bytes;
        f->name.len = e->namelen;
        f->value.p = e->bytes + e->namelen;
        f->value.len = e->valuelen;
        return GW_OK;
    }
    if (h->tail_gone) return GW_ERR_MALFORMED;
    /* A table of maximum size M holds at most M / 32 entries. */
    if (h->max_known && j >= h->cur_max / HP_ENTRY_OVERHEAD) return GW_ERR_MALFORMED;
    f->flags |= GW_HPACK_NAME_UNKNOWN | GW_HPACK_VALUE_UNKNOWN;
    return GW_OK;
}

static void emit(const struct gw_hpack *h, const struct hp_field *f, gw_hpack_field_fn cb,
                 void *user)
{
    static const uint8_t empty[1] = { 0 };
    if (!cb) return;
    const uint8_t *name = NULL, *value = NULL;
    size_t namelen = 0, valuelen = 0;
    if (!(f->flags & GW_HPACK_NAME_UNKNOWN)) {
        namelen = f->name.len;
        name = namelen ? str_ptr(h, &f->name) : empty;
    }
    if (!(f->flags & GW_HPACK_VALUE_UNKNOWN)) {
        valuelen = f->value.len;
        value = valuelen ? str_ptr(h, &f->value) : empty;
    }
    cb(user, name, namelen, value, valuelen, f->flags);
}

/* RFC 7541 6.2: a literal field; its name is an index (prefix bits) or a
 * string. The cursor is at the representation's first byte. */
/* A string literal's length and bytes are all there (nothing decoded). */
static int string_present(struct gw_cursor *c)
{
    uint32_t len;
    int rv = gw_hpack_int(c, 7, &len);
    if (rv != GW_OK) return rv;
    if (len > GW_HPACK_MAX_STRING) return GW_ERR_MALFORMED;
    return gw_skip(c, len) ? GW_OK : GW_ERR_TRUNCATED;
}

/* The whole literal representation at c is there. Checked before anything
 * is decoded: a block fed in pieces (gw_hpack_block_feed) offers a cut
 * representation again with each piece, and Huffman-decoding its name
 * each time would make a 40 KB name whose value comes a byte per segment
 * cost 20 s instead of a millisecond. */
static int literal_present(struct gw_cursor c, unsigned prefix_bits)
{
    uint32_t idx;
    int rv = gw_hpack_int(&c, prefix_bits, &idx);
    if (rv != GW_OK) return rv;
    if (idx == 0 && (rv = string_present(&c)) != GW_OK) return rv;
    return string_present(&c);
}

static int decode_literal(struct gw_hpack *h, struct gw_cursor *c, unsigned prefix_bits, bool indexing, gw_hpack_field_fn cb, void *user)
{
    struct hp_field f;
    uint32_t idx;
    int rv = literal_present(*c, prefix_bits);
    if (rv != GW_OK) return rv;
    memset(&f, 0, sizeof f);
    if ((rv = gw_hpack_int(c, prefix_bits, &idx)) != GW_OK) return rv;
    rv = idx ? lookup(h, idx, &f) : read_string(h, c, &f.name);
    if (rv != GW_OK) return rv;
    f.flags &= ~(unsigned)GW_HPACK_VALUE_UNKNOWN; /* the value is a literal */
    if ((rv = read_string(h, c, &f.value)) != GW_OK) return rv;
    emit(h, &f, cb, user);
    if (indexing) {
        const uint8_t *name = (f.flags & GW_HPACK_NAME_UNKNOWN) ? NULL : str_ptr(h, &f.name);
        insert(h, name, f.name.len, str_ptr(h, &f.value), f.value.len);
    }
    return GW_OK;
}

static int decode_indexed(struct gw_hpack *h, struct gw_cursor *c, gw_hpack_field_fn cb, void *user)
{
    struct hp_field f;
    uint32_t idx;
    memset(&f, 0, sizeof f);
    int rv = gw_hpack_int(c, 7, &idx);
    if (rv != GW_OK) return rv;
    rv = lookup(h, idx, &f);
    if (rv != GW_OK) return rv;
    emit(h, &f, cb, user);
    return GW_OK;
}

static int decode_size_update(struct gw_hpack *h, struct gw_cursor *c)
{
    uint32_t size;
    int rv = gw_hpack_int(c, 5, &size);
    if (rv != GW_OK) return rv;
    if (size > h->ceiling || size > h->min_ceiling) return GW_ERR_MALFORMED;
    apply_max_size(h, size);
    h->expect_update = false;
    h->min_ceiling = UINT32_MAX;
    return GW_OK;
}

/* One field representation (RFC 7541 6), or a size update at the block's
 * start. GW_ERR_TRUNCATED when the input ends inside it: nothing of it was
 * applied then (every side effect follows the last read). */
static int decode_one(struct gw_hpack *h, struct gw_cursor *c, gw_hpack_field_fn cb, void *user)
{
    uint8_t b;
    if (!peek_u8(c, &b)) return GW_ERR_TRUNCATED;
    h->scratch_used = 0;
    if ((b & 0xe0) == 0x20) { /* 001xxxxx: dynamic table size update */
        if (!h->at_start) return GW_ERR_MALFORMED;
        return decode_size_update(h, c);
    }
    if (h->expect_update) return GW_ERR_MALFORMED; /* the update must come first */
    int rv;
    if (b & 0x80) rv = decode_indexed(h, c, cb, user);            /* 1xxxxxxx */
    else if (b & 0x40) rv = decode_literal(h, c, 6, true, cb, user); /* 01xxxxxx */
    else rv = decode_literal(h, c, 4, false, cb, user);          /* 0000xxxx, 0001xxxx */
    if (rv == GW_OK) h->at_start = false;
    return rv;
}

/* After any error the table no longer matches the encoder's. */
static int fail(struct gw_hpack *h, int rv)
{
    forget_all(h);
    h->max_known = false;
    h->expect_update = false;
    h->min_ceiling = UINT32_MAX;
    return rv;
}

void gw_hpack_block_begin(struct gw_hpack *h)
{
    if (h) h->at_start = true;
}

int gw_hpack_block_feed(struct gw_hpack *h, const uint8_t *p, size_t n, size_t *used,
                        gw_hpack_field_fn cb, void *user)
{
    if (!h || (!p && n > 0) || !used) return GW_ERR_ARG;
    size_t off = 0;
    while (off < n) {
        struct gw_cursor c = gw_cursor_make(p + off, n - off);
        int rv = decode_one(h, &c, cb, user);
        if (rv == GW_ERR_TRUNCATED) break;
        if (rv != GW_OK) {
            *used = off;
            return fail(h, rv);
        }
        off += c.off;
    }
    *used = off;
    return GW_OK;
}

int gw_hpack_block_end(struct gw_hpack *h, size_t unused)
{
    if (!h) return GW_ERR_ARG;
    /* a representation cut by the block's end, or an update still owed
     * (an empty block included, as nghttp2 has it) */
    if (unused > 0 || h->expect_update) return fail(h, GW_ERR_MALFORMED);
    return GW_OK;
}

int gw_hpack_decode_block(struct gw_hpack *h, const uint8_t *p, size_t n,
                          gw_hpack_field_fn cb, void *user)
{
    if (!h || (!p && n > 0)) return GW_ERR_ARG;
    size_t used = 0;
    gw_hpack_block_begin(h);
    int rv = gw_hpack_block_feed(h, p, n, &used, cb, user);
    if (rv != GW_OK) return rv;
    return gw_hpack_block_end(h, n - used);
}
