/*
 * test_defrag.c - unit tests for IP fragment reassembly (src/defrag.c):
 * first the module on its own (gw_defrag_*: results, first copy wins, caps,
 * timeouts, the completion buffer), then through the decoder: IPv4 (RFC
 * 791, RFC 815), IPv6 (RFC 8200 4.5), the evasion cases of RFC 1858 and
 * RFC 3128, memory caps and timeouts, and fragments inside and around
 * tunnels.
 *
 * Every fragment is cut from a datagram built here byte by byte; the
 * expected reassembly is computed independently: the original datagram, or
 * for overlaps a first-wins model that writes each fragment's bytes where
 * nothing was written yet, in arrival order. Every decode runs on a heap
 * copy of exactly caplen bytes, so AddressSanitizer flags any read past it.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "grpcwatch/decode.h"
#include "grpcwatch/defrag.h"

enum { LT_EN10MB = 1 };
enum { ETH = 14, IP4 = 20, IP6 = 40, FRAG6 = 8, TCP = 20, UDP = 8, GRE = 4, VXLAN_H = 8 };

#define MF 0x2000u
#define SPORT 43210
#define DPORT 50051
#define SEQ 0x01020304u
#define ACK 0xa0b0c0d0u
#define FLAGS 0x18 /* PSH ACK */
#define WINDOW 0x7531
#define TS0 ((gw_time_us)1700000000000000LL)
#define SEC ((gw_time_us)1000000)

static const uint8_t V4_SRC[4] = { 192, 0, 2, 1 };      /* RFC 5737 */
static const uint8_t V4_DST[4] = { 198, 51, 100, 7 };
static const uint8_t OUT4_SRC[4] = { 203, 0, 113, 10 };
static const uint8_t OUT4_DST[4] = { 203, 0, 113, 20 };
static const uint8_t V6_SRC[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
static const uint8_t V6_DST[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };

/* Check writes a mark for every passing ck_assert; in loops that run
 * millions of times that costs seconds, so hot paths test with this,
 * which only calls into Check on failure. */
#define REQUIRE(cond, ...)                                   \
    do {                                                     \
        if (!(cond)) ck_abort_msg("failed: " #cond " " __VA_ARGS__); \
    } while (0)

static uint32_t xorshift32(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* ---- packet builder ---------------------------------------------------- */

struct pkt {
    uint8_t b[2048];
    size_t n;
};

static void put8(struct pkt *p, uint8_t v)
{
    REQUIRE(p->n < sizeof p->b);
    p->b[p->n++] = v;
}

static void put16(struct pkt *p, uint16_t v)
{
    put8(p, (uint8_t)(v >> 8));
    put8(p, (uint8_t)v);
}

static void put32(struct pkt *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p, (uint16_t)v);
}

static void put_bytes(struct pkt *p, const uint8_t *src, size_t k)
{
    for (size_t i = 0; i < k; i++) put8(p, src[i]);
}

static void patch16(uint8_t *b, size_t off, uint16_t v)
{
    b[off] = (uint8_t)(v >> 8);
    b[off + 1] = (uint8_t)v;
}

static void put_eth(struct pkt *p, uint16_t type)
{
    for (int i = 0; i < 12; i++) put8(p, (uint8_t)(i < 6 ? 0x02 : 0x04));
    put16(p, type);
}

/* IPv4 header, no options; total length patched by finish_ipv4. */
static size_t put_ipv4(struct pkt *p, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                       uint16_t id, uint16_t frag)
{
    size_t start = p->n;
    put8(p, 0x45);
    put8(p, 0);
    put16(p, 0);
    put16(p, id);
    put16(p, frag);
    put8(p, 64);
    put8(p, proto);
    put16(p, 0);
    put_bytes(p, src, 4);
    put_bytes(p, dst, 4);
    return start;
}

static void finish_ipv4(struct pkt *p, size_t start)
{
    patch16(p->b, start + 2, (uint16_t)(p->n - start));
}

static size_t put_ipv6(struct pkt *p, uint8_t next)
{
    size_t start = p->n;
    put32(p, 0x60000000);
    put16(p, 0);
    put8(p, next);
    put8(p, 64);
    put_bytes(p, V6_SRC, 16);
    put_bytes(p, V6_DST, 16);
    return start;
}

static void finish_ipv6(struct pkt *p, size_t start)
{
    patch16(p->b, start + 4, (uint16_t)(p->n - start - IP6));
}

/* ---- datagrams ------------------------------------------------------------ */

/* An IP payload to fragment, on the heap so it can be 64 KiB. */
struct dgram {
    uint8_t *b;
    size_t n;
};

/* A byte pattern with no short period, so a misplaced unit shows. */
static uint8_t pattern(size_t i, uint32_t salt)
{
    uint32_t x = (uint32_t)i * 2654435761u ^ salt;
    x ^= x >> 15;
    return (uint8_t)(x * 2246822519u >> 24);
}

/* TCP header (RFC 9293) with opt_words words of NOP options, then payload. */
static struct dgram make_tcp(size_t payload, unsigned opt_words, uint32_t salt)
{
    struct dgram g = { malloc(TCP + opt_words * 4 + payload), TCP + opt_words * 4 + payload };
    ck_assert_ptr_nonnull(g.b);
    uint8_t *h = g.b;
    patch16(h, 0, SPORT);
    patch16(h, 2, DPORT);
    patch16(h, 4, (uint16_t)(SEQ >> 16));
    patch16(h, 6, (uint16_t)SEQ);
    patch16(h, 8, (uint16_t)(ACK >> 16));
    patch16(h, 10, (uint16_t)ACK);
    h[12] = (uint8_t)((5 + opt_words) << 4);
    h[13] = FLAGS;
    patch16(h, 14, WINDOW);
    patch16(h, 16, 0);
    patch16(h, 18, 0);
    memset(h + TCP, 1, opt_words * 4);
    for (size_t i = 0; i < payload; i++) g.b[TCP + opt_words * 4 + i] = pattern(i, salt);
    return g;
}

/* One fragment of a datagram: its bytes [off, off + len) and MF. */
struct frag {
    size_t off, len;
    int more;
};

/* Fragments of n bytes: pieces of `size` bytes (a multiple of 8), the last
 * one shorter. Returns the count. */
static size_t split(size_t n, size_t size, struct frag *out, size_t max)
{
    size_t k = 0;
    for (size_t off = 0; off < n; off += size) {
        ck_assert_uint_lt(k, max);
        out[k].off = off;
        out[k].len = GW_MIN(size, n - off);
        out[k].more = off + size < n;
        k++;
    }
    return k;
}

/* Ethernet / IPv4 fragment carrying data (the fragment's own bytes). */
static void build_v4_frag(struct pkt *p, uint16_t id, uint8_t proto, const struct frag *f,
                          const uint8_t *data)
{
    p->n = 0;
    put_eth(p, 0x0800);
    size_t ip = put_ipv4(p, V4_SRC, V4_DST, proto, id,
                         (uint16_t)((f->more ? MF : 0) | (f->off / 8)));
    put_bytes(p, data, f->len);
    finish_ipv4(p, ip);
}

/* ---- decoding ---------------------------------------------------------------- */

struct res {
    int result;
    struct gw_segment seg; /* a reassembled payload lives in the decoder */
};

static struct res feed_cut(struct gw_decoder *d, const struct pkt *p, gw_time_us ts, size_t caplen)
{
    uint8_t *buf = malloc(caplen ? caplen : 1);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, p->b, caplen);
    struct gw_packet pkt = { .ts = ts, .linktype = LT_EN10MB, .data = buf,
                             .caplen = (uint32_t)caplen, .wirelen = (uint32_t)p->n, .number = 1 };
    struct res r;
    memset(&r.seg, 0x5a, sizeof r.seg);
    r.result = gw_decoder_decode(d, &pkt, &r.seg);
    /* Freed before the payload is read: a segment pointing into the
     * packet would be a use after free under ASan. Every reassembled
     * segment must point into the decoder's own buffer. */
    free(buf);
    return r;
}

static struct res feed(struct gw_decoder *d, const struct pkt *p, gw_time_us ts)
{
    return feed_cut(d, p, ts, p->n);
}

static struct res feed_v4(struct gw_decoder *d, const struct dgram *g, uint16_t id,
                          const struct frag *f)
{
    struct pkt p;
    build_v4_frag(&p, id, 6, f, g->b + f->off);
    return feed(d, &p, TS0);
}

static void assert_addr(const struct gw_addr *a, int family, const uint8_t *bytes)
{
    size_t len = family == 4 ? 4 : 16;
    ck_assert_int_eq(a->family, family);
    ck_assert_mem_eq(a->bytes, bytes, len);
    for (size_t i = len; i < sizeof a->bytes; i++) ck_assert_uint_eq(a->bytes[i], 0);
}

/* The segment carries the TCP datagram `want` (header hdr bytes long). */
static void assert_reassembled(const struct res *r, int family, const uint8_t *want, size_t n,
                               size_t hdr)
{
    ck_assert_msg(r->result == GW_DECODE_TCP, "result %s", gw_decode_result_str(r->result));
    const struct gw_segment *s = &r->seg;
    assert_addr(&s->src, family, family == 4 ? V4_SRC : V6_SRC);
    assert_addr(&s->dst, family, family == 4 ? V4_DST : V6_DST);
    ck_assert_uint_eq(s->sport, (uint16_t)(want[0] << 8 | want[1]));
    ck_assert_uint_eq(s->dport, (uint16_t)(want[2] << 8 | want[3]));
    ck_assert_uint_eq(s->flags, want[13]);
    ck_assert_uint_eq(s->window, (uint16_t)(want[14] << 8 | want[15]));
    ck_assert_uint_eq(s->payload_len, n - hdr);
    ck_assert_uint_eq(s->payload_wire_len, n - hdr);
    ck_assert_mem_eq(s->payload, want + hdr, n - hdr);
}

static void assert_nothing_held(const struct gw_defrag_stats *st)
{
    ck_assert_uint_eq(st->datagrams_held, 0);
    ck_assert_uint_eq(st->bytes_held, 0);
}

/* Sends frags[order[i]] for every i; all but the last must be held. */
static struct res send_order(struct gw_decoder *d, const struct dgram *g, uint16_t id,
                             const struct frag *frags, const size_t *order, size_t k)
{
    struct res r = { 0 };
    for (size_t i = 0; i < k; i++) {
        r = feed_v4(d, g, id, &frags[order[i]]);
        if (i + 1 < k)
            REQUIRE(r.result == GW_DECODE_OTHER, "fragment %zu of %zu: %s", i, k,
                    gw_decode_result_str(r.result));
    }
    return r;
}

/* ---- IPv4 -------------------------------------------------------------------- */

START_TEST(test_v4_in_order)
{
    struct dgram g = make_tcp(3000, 0, 1);
    struct frag f[8] = { { 0, 0, 0 } };
    size_t k = split(g.n, 1480, f, 8);
    ck_assert_uint_eq(k, 3);
    size_t order[3] = { 0, 1, 2 };
    struct gw_decoder *d = gw_decoder_create();
    struct res r = send_order(d, &g, 77, f, order, k);
    assert_reassembled(&r, 4, g.b, g.n, TCP);
    ck_assert_uint_eq(r.seg.seq, SEQ);
    ck_assert_uint_eq(r.seg.ack, ACK);
    ck_assert(r.seg.ts == TS0);
    ck_assert_int_eq(r.seg.tunnel.type, GW_TUNNEL_NONE);
    const struct gw_defrag_stats *st = gw_decoder_defrag_stats(d);
    ck_assert_uint_eq(st->received, 3);
    ck_assert_uint_eq(st->reassembled, 1);
    ck_assert_uint_eq(gw_decoder_stats(d)->other, 2);
    ck_assert_uint_eq(gw_decoder_stats(d)->tcp, 1);
    ck_assert_uint_eq(gw_decoder_stats(d)->packets, 3);
    ck_assert_uint_eq(st->overlaps + st->invalid + st->tiny + st->evicted, 0);
    assert_nothing_held(st);
    gw_decoder_destroy(d);
    free(g.b);
}
END_TEST

START_TEST(test_v4_held_counts_memory)
{
    struct dgram g = make_tcp(3000, 0, 2);
    struct frag f[4] = { { 0, 0, 0 } };
    split(g.n, 1480, f, 4);
    struct gw_decoder *d = gw_decoder_create();
    const struct gw_defrag_stats *st = gw_decoder_defrag_stats(d);
    ck_assert_int_eq(feed_v4(d, &g, 1, &f[0]).result, GW_DECODE_OTHER);
    ck_assert_uint_eq(st->datagrams_held, 1);
    ck_assert_uint_gt(st->bytes_held, 1480);         /* at least the bytes themselves */
    ck_assert_uint_le(st->bytes_held, GW_DECODE_DEFAULT_FRAG_BYTES);
    ck_assert_int_eq(feed_v4(d, &g, 2, &f[0]).result, GW_DECODE_OTHER); /* another id */
    ck_assert_uint_eq(st->datagrams_held, 2);
    gw_decoder_destroy(d); /* LeakSanitizer: held fragments are freed */
    free(g.b);
}
END_TEST

START_TEST(test_v4_reverse_order)
{
    struct dgram g = make_tcp(5000, 3, 3);
    struct frag f[8] = { { 0, 0, 0 } };
    size_t k = split(g.n, 1480, f, 8);
    size_t order[8];
    for (size_t i = 0; i < k; i++) order[i] = k - 1 - i;
    struct gw_decoder *d = gw_decoder_create();
    struct res r = send_order(d, &g, 9, f, order, k);
    assert_reassembled(&r, 4, g.b, g.n, TCP + 12);
    assert_nothing_held(gw_decoder_defrag_stats(d));
    gw_decoder_destroy(d);
    free(g.b);
}
END_TEST

START_TEST(test_v4_shuffled)
{
    struct dgram g = make_tcp(4000, 0, 4);
    struct frag f[64] = { { 0, 0, 0 } };
    size_t k = split(g.n, 96, f, 64);
    struct gw_decoder *d = gw_decoder_create();
    uint32_t seed = 12345;
    for (uint16_t round = 0; round < 30; round++) {
        size_t order[64];
        for (size_t i = 0; i < k; i++) order[i] = i;
        for (size_t i = k - 1; i > 0; i--) { /* Fisher-Yates */
            size_t j = xorshift32(&seed) % (i + 1);
            size_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        struct res r = send_order(d, &g, round, f, order, k);
        assert_reassembled(&r, 4, g.b, g.n, TCP);
    }
    const struct gw_defrag_stats *st = gw_decoder_defrag_stats(d);
    ck_assert_uint_eq(st->reassembled, 30);
    ck_assert_uint_eq(st->overlaps, 0);
    assert_nothing_held(st);
    gw_decoder_destroy(d);
    free(g.b);
}
END_TEST

/* Interleaved fragments of datagrams that differ in one key field each
 * (identification, protocol, source) never mix. */
START_TEST(test_v4_keys_kept_apart)
{
    struct dgram a = make_tcp(2000, 0, 5), b = make_tcp(2000, 0, 6);
    struct frag f[4] = { { 0, 0, 0 } };
    size_t k = split(a.n, 1480, f, 4);
    ck_assert_uint_eq(k, 2);
    struct gw_decoder *d = gw_decoder_create();
    ck_assert_int_eq(feed_v4(d, &a, 100, &f[0]).result, GW_DECODE_OTHER);
    ck_assert_int_eq(feed_v4(d, &b, 101, &f[0]).result, GW_DECODE_OTHER);
    struct res r = feed_v4(d, &b, 101, &f[1]);
    assert_reassembled(&r, 4, b.b, b.n, TCP);
    r = feed_v4(d, &a, 100, &f[1]);
    assert_reassembled(&r, 4, a.b, a.n, TCP);

    /* Same identification, another protocol (UDP, 17): not the same datagram. */
    struct pkt p;
    build_v4_frag(&p, 200, 17, &f[0], b.b);
    ck_assert_int_eq(feed(d, &p, TS0).result, GW_DECODE_OTHER);
    ck_assert_int_eq(feed_v4(d, &a, 200, &f[1]).result, GW_DECODE_OTHER);
    /* Same identification, another source. */
    build_v4_frag(&p, 200, 6, &f[0], a.b);
    p.b[ETH + 15] ^= 1;
    ck_assert_int_eq(feed(d, &p, TS0).result, GW_DECODE_OTHER);
    ck_assert_uint_eq(gw_decoder_defrag_stats(d)->datagrams_held, 3);
    r = feed_v4(d, &a, 200, &f[0]);
    assert_reassembled(&r, 4, a.b, a.n, TCP);
    ck_assert_uint_eq(gw_decoder_defrag_stats(d)->datagrams_held, 2);
    gw_decoder_destroy(d);
    free(a.b);
    free(b.b);
}
END_TEST

START_TEST(test_v4_duplicates)
{
    struct dgram g = make_tcp(3000, 0, 7);
    struct frag f[4] = { { 0, 0, 0 } };
    size_t k = split(g.n, 1480, f, 4);
    ck_assert_uint_eq(k, 3);
    struct gw_decoder *d = gw_decoder_create();
    const struct gw_defrag_stats *st = gw_decoder_defrag_stats(d);
    ck_assert_int_eq(feed_v4(d, &g, 5, &f[0]).result, GW_DECODE_OTHER);
    ck_assert_int_eq(feed_v4(d, &g, 5, &f[0]).result, GW_DECODE_OTHER);
    ck_assert_int_eq(feed_v4(d, &g, 5, &f[1]).result, GW_DECODE_OTHER);
    ck_assert_int_eq(feed_v4(d, &g, 5, &f[1]).result, GW_DECODE_OTHER);
    ck_assert_uint_eq(st->overlaps, 2);
    ck_assert_uint_eq(st->conflicts, 0);
    struct res r = feed_v4(d, &g, 5, &f[2]);
    assert_reassembled(&r, 4, g.b, g.n, TCP);
    /* A copy arriving after completion starts a new datagram, which is
     * held and never completes: the call is not reported twice. */
    ck_assert_int_eq(feed_v4(d, &g, 5, &f[2]).result, GW_DECODE_OTHER);
    ck_assert_uint_eq(st->datagrams_held, 1);
    ck_assert_uint_eq(st->reassembled, 1);
    gw_decoder_destroy(d);
    free(g.b);
}
END_TEST

/* Sends (off, len, more, source bytes) pieces of a datagram of n bytes and
 * writes into model, first wins, the bytes the reassembly must keep. */
struct piece {
    size_t off, len;
    int more;
    const uint8_t *src; /* the fragment's bytes, src[0] at off */
};

static struct res send_pieces(struct gw_decoder *d, uint16_t id, const struct piece *pc, size_t k,
                              uint8_t *model, uint8_t *have)
{
    struct res r = { 0 };
    for (size_t i = 0; i < k; i++) {
        for (size_t j = 0; j < pc[i].len; j++) {
            if (have[pc[i].off + j]) continue;
            model[pc[i].off + j] = pc[i].src[j];
            have[pc[i].off + j] = 1;
        }
        struct frag f = { pc[i].off, pc[i].len, pc[i].more };
        struct pkt p;
        build_v4_frag(&p, id, 6, &f, pc[i].src);
        r = feed(d, &p, TS0);
        if (i + 1 < k) ck_assert_int_eq(r.result, GW_DECODE_OTHER);
    }
    return r;
}

START_TEST(test_v4_overlap_first_wins)
{
    struct dgram g = make_tcp(3000, 0, 8);
    uint8_t bogus[1000];
    memset(bogus, 'Z', sizeof bogus);
    uint8_t model[3020], have[3020] = { 0 };
    /* [0,1480) real; [1000,2000) bogus: overlaps the first, then adds
     * [1480,2000); [1480,3020) real, last: overlaps the bogus range. */
    const struct piece pc[] = {
        { 0, 1480, 1, g.b },
        { 1000, 1000, 1, bogus },
        { 1480, 1540, 0, g.b + 1480 },
    };
    struct gw_decoder *d = gw_decoder_create();
    struct res r = send_pieces(d, 1, pc, 3, model, have);
    for (size_t i = 0; i < g.n; i++) ck_assert(have[i]);
    /* The model, checked against the spec by hand: */
    ck_assert_mem_eq(model, g.b, 1480);
    ck_assert_uint_eq(model[1480], 'Z');
    ck_assert_uint_eq(model[1999], 'Z');
    ck_assert_mem_eq(model + 2000, g.b + 2000, 1020);
    assert_reassembled(&r, 4, model, g.n, TCP);
    const struct gw_defrag_stats *st = gw_decoder_defrag_stats(d);
    ck_assert_uint_eq(st->overlaps, 2);
    ck_assert_uint_eq(st->conflicts, 2);
    assert_nothing_held(st);

    /* The same pieces in another order: the bogus bytes come first for
     * [1000,1480) too and are kept there. */
    const struct piece pc2[] = { pc[1], pc[0], pc[2] };
    memset(have, 0, sizeof have);
    r = send_pieces(d, 2, pc2, 3, model, have);
    ck_assert_uint_eq(model[1000], 'Z');
    ck_assert_mem_eq(model, g.b, 1000);
    assert_reassembled(&r, 4, model, g.n, TCP);
    gw_decoder_destroy(d);
    free(g.b);
}
END_TEST

/* RFC 1858 / RFC 3128 overlapping fragment attack: a fragment at offset 8
 * (fragment offset 1) rewrites the TCP header after the first one passed
 * a filter. First wins: whoever arrived first decides the header. */
START_TEST(test_v4_tcp_header_rewrite)
{
    struct dgram g = make_tcp(100, 0, 9);
    uint8_t evil[112];
    memcpy(evil, g.b + 8, sizeof evil);
    evil[13 - 8] = 0x02;           /* flags: SYN */
    evil[14 - 8] = 0x00;           /* window */
    evil[15 - 8] = 0x01;
    const struct piece pc[] = {
        { 0, 24, 1, g.b },         /* the real header and 4 payload bytes */
        { 8, 112, 0, evil },       /* from offset 8 to the end, header rewritten */
    };
    uint8_t model[120], have[120] = { 0 };
    struct gw_decoder *d = gw_decoder_create();
    struct res r = send_pieces(d, 1, pc, 2, model, have);
    ck_assert_mem_eq(model, g.b, 120); /* first wins: the real header */
    assert_reassembled(&r, 4, model, 120, TCP);
    ck_assert_uint_eq(r.seg.flags, FLAGS);
    ck_assert_uint_eq(r.seg.window, WINDOW);
    ck_assert_uint_eq(gw_decoder_defrag_stats(d)->overlaps, 1);
    ck_assert_uint_eq(gw_decoder_defrag_stats(d)->conflicts, 1);

    /* Rewrite first: its header bytes are the ones kept. */
    const struct piece pc2[] = { pc[1], pc[0] };
    memset(have, 0, sizeof have);
    r = send_pieces(d, 2, pc2, 2, model, have);
    assert_reassembled(&r, 4, model, 120, TCP);
    ck_assert_uint_eq(r.seg.flags, 0x02);
    ck_assert_uint_eq(r.seg.window, 1);
    ck_assert_uint_eq(r.seg.dport, DPORT); /* bytes 0..7 only the first piece had */
    ck_assert_uint_eq(gw_decoder_defrag_stats(d)->conflicts, 2);
    gw_decoder_destroy(d);
    free(g.b);
}
END_TEST

/* RFC 1858 tiny fragment: the first fragment cannot hold the TCP header.
 * Counted, and the datagram still reassembles. */
START_TEST(test_v4_tiny_first_fragment)
{
    struct dgram g = make_tcp(200, 0, 10);
    const struct frag f[] = { { 0, 8, 1 }, { 8, 212, 0 } };
    struct gw_decoder *d = gw_decoder_create();
    const struct gw_defrag_stats *st = gw_decoder_defrag_stats(d);
    ck_assert_int_eq(feed_v4(d, &g, 1, &f[0]).result, GW_DECODE_OTHER);
    ck_assert_uint_eq(st->tiny, 1);
    struct res r = feed_v4(d, &g, 1, &f[1]);
    assert_reassembled(&r, 4, g.b, g.n, TCP);

    /* 24 bytes hold the fixed header but not its 12 bytes of options. */
    struct dgram h = make_tcp(200, 3, 11);
    const struct frag f2[] = { { 0, 24, 1 }, { 24, h.n - 24, 0 } };
    ck_assert_int_eq(feed_v4(d, &h, 2, &f2[0]).result, GW_DECODE_OTHER);
    ck_assert_uint_eq(st->tiny, 2);
    r = feed_v4(d, &h, 2, &f2[1]);
    assert_reassembled(&r, 4, h.b, h.n, TCP + 12);

    /* A first fragment of 32 bytes holds the whole 32-byte header. */
    const struct frag f3[] = { { 0, 32, 1 }, { 32, h.n - 32, 0 } };
    ck_assert_int_eq(feed_v4(d, &h, 3, &f3[0]).result, GW_DECODE_OTHER);
    ck_assert_uint_eq(st->tiny, 2);

    /* Only TCP cares: an 8-byte first fragment of UDP is not tiny. */
    struct pkt p;
    build_v4_frag(&p, 4, 17, &f[0], g.b);
    ck_assert_int_eq(feed(d, &p, TS0).result, GW_DECODE_OTHER);
    ck_assert_uint_eq(st->tiny, 2);
    gw_decoder_destroy(d);
    free(g.b);
    free(h.b);
}
END_TEST

/* The largest IPv4 datagram: 65535 bytes with a 20-byte header, so 65515
 * of payload. One byte more is invalid, and dropped without harm. */
START_TEST(test_v4_max_size_and_past_65535)
{
    struct dgram g = make_tcp(65515 - TCP, 0, 12);
    ck_assert_uint_eq(g.n, 65515);
    struct frag f[64] = { { 0, 0, 0 } };
    size_t k = split(g.n, 1480, f, 64);
    struct gw_decoder *d = gw_decoder_create();
    const struct gw_defrag_stats *st = gw_decoder_defrag_stats(d);

    /* Fragments whose end passes 65515: one at the last offset, one that
     * extends the real last fragment by 8 bytes. */
    uint8_t junk[1488];
    memset(junk, 0xee, sizeof junk);
    struct pkt p;
    struct frag over = { 8189 * 8, 16, 0 };         /* 65512 + 16 */
    build_v4_frag(&p, 1, 6, &over, junk);
    ck_assert_int_eq(feed(d, &p, TS0).result, GW_DECODE_OTHER);
    struct frag longer = f[k - 1];
    longer.len += 8;
    build_v4_frag(&p, 1, 6, &longer, junk);
    ck_assert_int_eq(feed(d, &p, TS0).result, GW_DECODE_OTHER);
    ck_assert_uint_eq(st->invalid, 2);

    size_t order[64];
    for (size_t i = 0; i < k; i++) order[i] = (i * 7) % k; /* k = 45: 7 is coprime */
    struct res r = send_order(d, &g, 1, f, order, k);
    assert_reassembled(&r, 4, g.b, g.n, TCP);
    ck_assert_uint_eq(r.seg.payload_len, 65495);
    ck_assert_uint_eq(st->invalid, 2);
    assert_nothing_held(st);
    gw_decoder_destroy(d);
    free(g.b);
}
END_TEST

/* Two last fragments that disagree, and fragments past the end the last
 * one set, are invalid and dropped; the consistent datagram completes. */
START_TEST(test_v4_inconsistent_end)
{
    struct dgram g = make_tcp(1980, 0, 13);   /* 2000 bytes */
    uint8_t junk[1000];
    memset(junk, 0xab, sizeof junk);
    struct gw_decoder *d = gw_decoder_create();
    const struct gw_defrag_stats *st = gw_decoder_defrag_stats(d);
    struct frag last = { 1480, 520, 0 };
    ck_assert_int_eq(feed_v4(d, &g, 1, &last).result, GW_DECODE_OTHER);
    struct pkt p;
    struct frag other_last = { 1480, 600, 0 };
    build_v4_frag(&p, 1, 6, &other_last, junk);
    ck_assert_int_eq(feed(d, &p, TS0).result, GW_DECODE_OTHER);
    struct frag beyond = { 1600, 800, 1 };
    build_v4_frag(&p, 1, 6, &beyond, junk);
    ck_assert_int_eq(feed(d, &p, TS0).result, GW_DECODE_OTHER);
    ck_assert_uint_eq(st->invalid, 2);
    /* An empty fragment that is not the last adds nothing: dropped. */
    struct frag empty = { 8, 0, 1 };
    build_v4_frag(&p, 9, 6, &empty, junk);
    ck_assert_int_eq(feed(d, &p, TS0).result, GW_DECODE_OTHER);
    ck_assert_uint_eq(st->invalid, 3);
    ck_assert_uint_eq(st->datagrams_held, 1);
    struct frag first = { 0, 1480, 1 };
    struct res r = feed_v4(d, &g, 1, &first);
    assert_reassembled(&r, 4, g.b, g.n, TCP);

    /* Bytes held past the end a late last fragment claims: the last
     * fragment is the one dropped (the held bytes came first). */
    struct frag long_mid = { 1480, 800, 1 };
    build_v4_frag(&p, 2, 6, &long_mid, junk);
    ck_assert_int_eq(feed(d, &p, TS0).result, GW_DECODE_OTHER);
    ck_assert_int_eq(feed_v4(d, &g, 2, &last).result, GW_DECODE_OTHER);
    ck_assert_uint_eq(st->invalid, 4);
    ck_assert_int_eq(feed_v4(d, &g, 2, &first).result, GW_DECODE_OTHER);
    ck_assert_uint_eq(st->reassembled, 1);
    gw_decoder_destroy(d);
    free(g.b);
}
END_TEST

/* A non-last IPv4 fragment whose length is not a multiple of 8: the next
 * offset decides where its data ends, so the tail is cut (as Linux does),
 * not kept first-wins over the next fragment. */
START_TEST(test_v4_unaligned_fragment_trimmed)
{
    struct dgram g = make_tcp(1980, 0, 14);
    uint8_t first[1483];
    memcpy(first, g.b, 1480);
    memset(first + 1480, 'X', 3);
    struct pkt p;
    struct frag f0 = { 0, 1483, 1 };
    build_v4_frag(&p, 3, 6, &f0, first);
    struct gw_decoder *d = gw_decoder_create();
    ck_assert_int_eq(feed(d, &p, TS0).result, GW_DECODE_OTHER);
    ck_assert_uint_eq(gw_decoder_defrag_stats(d)->invalid, 1);
    struct frag f1 = { 1480, 520, 0 };
    struct res r = feed_v4(d, &g, 3, &f1);
    assert_reassembled(&r, 4, g.b, g.n, TCP);
    ck_assert_uint_eq(gw_decoder_defrag_stats(d)->overlaps, 0);
    gw_decoder_destroy(d);
    free(g.b);
}
END_TEST

/* A reassembled datagram that is not TCP: decoded as such, memory freed. */
START_TEST(test_v4_reassembled_udp_is_other)
{
    struct dgram g = make_tcp(2000, 0, 15); /* any bytes: UDP to port 50051 */
    struct frag f[2] = { { 0, 0, 0 } };
    split(g.n, 1480, f, 2);
    struct gw_decoder *d = gw_decoder_create();
    for (size_t i = 0; i < 2; i++) {
        struct pkt p;
        build_v4_frag(&p, 8, 17, &f[i], g.b + f[i].off);
        ck_assert_int_eq(feed(d, &p, TS0).result, GW_DECODE_OTHER);
    }
    ck_assert_uint_eq(gw_decoder_defrag_stats(d)->reassembled, 1);
    assert_nothing_held(gw_decoder_defrag_stats(d));
    gw_decoder_destroy(d);
    free(g.b);
}
END_TEST

/* A fragment cut by the snap length has bytes nobody saw: its datagram
 * cannot complete, and nothing past the capture is read. */
START_TEST(test_v4_snapped_fragment)
{
    struct dgram g = make_tcp(2000, 0, 16);
    struct frag f[2] = { { 0, 0, 0 } };
    split(g.n, 1480, f, 2);
    struct pkt p;
    build_v4_frag(&p, 4, 6, &f[0], g.b);
    struct gw_decoder *d = gw_decoder_create();
    ck_assert_int_eq(feed_cut(d, &p, TS0, p.n - 100).result, GW_DECODE_OTHER);
    ck_assert_int_eq(feed_v4(d, &g, 4, &f[1]).result, GW_DECODE_OTHER);
    ck_assert_uint_eq(gw_decoder_defrag_stats(d)->reassembled, 0);
    /* The whole fragment fills the hole. */
    struct res r = feed_v4(d, &g, 4, &f[0]);
    assert_reassembled(&r, 4, g.b, g.n, TCP);
    gw_decoder_destroy(d);
    free(g.b);
}
END_TEST

/* ---- time and memory caps ------------------------------------------------------ */

static void build_plain_tcp(struct pkt *p)
{
    p->n = 0;
    put_eth(p, 0x0800);
    size_t ip = put_ipv4(p, V4_SRC, V4_DST, 6, 1, 0x4000);
    struct dgram g = make_tcp(10, 0, 0);
    put_bytes(p, g.b, g.n);
    finish_ipv4(p, ip);
    free(g.b);
}

START_TEST(test_timeout_frees_memory)
{
    struct dgram g = make_tcp(2000, 0, 17);
    struct frag f[2] = { { 0, 0, 0 } };
    split(g.n, 1480, f, 2);
    struct pkt frag0, frag1, plain;
    build_v4_frag(&frag0, 6, 6, &f[0], g.b);
    build_v4_frag(&frag1, 6, 6, &f[1], g.b + f[1].off);
    build_plain_tcp(&plain);

    struct gw_decoder *d = gw_decoder_create();
    const struct gw_defrag_stats *st = gw_decoder_defrag_stats(d);
    ck_assert_int_eq(feed(d, &frag0, TS0).result, GW_DECODE_OTHER);
    ck_assert_uint_gt(st->bytes_held, 0);
    /* Any packet moves the clock; just under the default 30 s: kept. */
    ck_assert_int_eq(feed(d, &plain, TS0 + 30 * SEC - 1).result, GW_DECODE_TCP);
    ck_assert_uint_eq(st->datagrams_held, 1);
    /* A timestamp from the past does not move the clock back. */
    ck_assert_int_eq(feed(d, &plain, TS0 - 100 * SEC).result, GW_DECODE_TCP);
    ck_assert_uint_eq(st->datagrams_held, 1);
    ck_assert_int_eq(feed(d, &plain, TS0 + 30 * SEC).result, GW_DECODE_TCP);
    ck_assert_uint_eq(st->timeouts, 1);
    assert_nothing_held(st);
    /* Too late: the rest starts a datagram of its own. */
    ck_assert_int_eq(feed(d, &frag1, TS0 + 30 * SEC).result, GW_DECODE_OTHER);
    ck_assert_uint_eq(st->reassembled, 0);
    gw_decoder_destroy(d);

    /* A configured timeout; fragments inside it complete. */
    struct gw_decode_config cfg = { .frag_timeout_s = 2 };
    d = gw_decoder_create2(&cfg);
    st = gw_decoder_defrag_stats(d);
    ck_assert_int_eq(feed(d, &frag0, TS0).result, GW_DECODE_OTHER);
    struct res r = feed(d, &frag1, TS0 + 2 * SEC - 1);
    assert_reassembled(&r, 4, g.b, g.n, TCP);
    ck_assert_int_eq(feed(d, &frag0, TS0 + 10 * SEC).result, GW_DECODE_OTHER);
    ck_assert_int_eq(feed(d, &frag1, TS0 + 12 * SEC).result, GW_DECODE_OTHER);
    ck_assert_uint_eq(st->timeouts, 1);
    ck_assert_uint_eq(st->datagrams_held, 1); /* frag1's own datagram */
    gw_decoder_destroy(d);
    free(g.b);
}
END_TEST

/* n distinct incomplete datagrams, each one fragment of len bytes at off:
 * held datagrams and bytes never exceed the caps. Decodes from one
 * exact-size buffer patched in place (identification, source). */
static void flood(struct gw_decoder *d, uint32_t n, size_t off, size_t len, uint64_t max_bytes,
                  uint64_t max_datagrams)
{
    struct dgram g = make_tcp(off + len, 0, 18);
    struct frag f = { off, len, 1 };
    struct pkt p;
    build_v4_frag(&p, 0, 6, &f, g.b + off);
    uint8_t *buf = malloc(p.n);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, p.b, p.n);
    struct gw_packet pkt = { .ts = TS0, .linktype = LT_EN10MB, .data = buf,
                             .caplen = (uint32_t)p.n, .wirelen = (uint32_t)p.n };
    const struct gw_defrag_stats *st = gw_decoder_defrag_stats(d);
    uint64_t peak_bytes = 0, peak_datagrams = 0;
    for (uint32_t i = 0; i < n; i++) {
        patch16(buf, ETH + 4, (uint16_t)i);            /* identification */
        buf[ETH + 14] = (uint8_t)(i >> 16);           /* source address, 3rd byte */
        struct gw_segment seg;
        REQUIRE(gw_decoder_decode(d, &pkt, &seg) == GW_DECODE_OTHER);
        peak_bytes = GW_MAX(peak_bytes, st->bytes_held);
        peak_datagrams = GW_MAX(peak_datagrams, st->datagrams_held);
    }
    ck_assert_uint_le(peak_bytes, max_bytes);
    ck_assert_uint_le(peak_datagrams, max_datagrams);
    ck_assert_uint_gt(peak_bytes, 0);
    ck_assert_uint_eq(st->evicted, n - st->datagrams_held);
    free(buf);
    free(g.b);
}

/* After a flood, a real datagram still gets through. */
static void assert_still_reassembles(struct gw_decoder *d)
{
    struct dgram g = make_tcp(3000, 0, 19);
    struct frag f[4] = { { 0, 0, 0 } };
    size_t k = split(g.n, 1480, f, 4);
    size_t order[4] = { 2, 0, 1 };
    struct res r = send_order(d, &g, 4242, f, order, k);
    assert_reassembled(&r, 4, g.b, g.n, TCP);
    free(g.b);
}

START_TEST(test_flood_datagram_cap)
{
    struct gw_decoder *d = gw_decoder_create();
    flood(d, 100000, 0, 1480, GW_DECODE_DEFAULT_FRAG_BYTES, GW_DECODE_DEFAULT_FRAG_DATAGRAMS);
    ck_assert_uint_eq(gw_decoder_defrag_stats(d)->datagrams_held, GW_DECODE_DEFAULT_FRAG_DATAGRAMS);
    assert_still_reassembles(d);
    gw_decoder_destroy(d);
}
END_TEST

START_TEST(test_flood_byte_cap)
{
    /* Fragments at offset 1480 straddle two 2 KiB buffer chunks: the byte
     * cap binds long before the datagram cap. */
    struct gw_decode_config cfg = { .frag_max_bytes = 256 * 1024, .frag_max_datagrams = 1024 };
    struct gw_decoder *d = gw_decoder_create2(&cfg);
    ck_assert_ptr_nonnull(d);
    flood(d, 100000, 1480, 1480, cfg.frag_max_bytes, cfg.frag_max_datagrams);
    ck_assert_uint_lt(gw_decoder_defrag_stats(d)->datagrams_held, 1024);
    assert_still_reassembles(d);
    gw_decoder_destroy(d);
}
END_TEST

/* A datagram bigger than the byte cap cannot complete; it is dropped
 * without exceeding the cap, and smaller ones still work. */
START_TEST(test_datagram_larger_than_byte_cap)
{
    struct gw_decode_config cfg = { .frag_max_bytes = 16 * 1024 };
    struct gw_decoder *d = gw_decoder_create2(&cfg);
    struct dgram g = make_tcp(40000, 0, 20);
    struct frag f[32] = { { 0, 0, 0 } };
    size_t k = split(g.n, 1480, f, 32);
    const struct gw_defrag_stats *st = gw_decoder_defrag_stats(d);
    for (size_t i = 0; i < k; i++) {
        ck_assert_int_eq(feed_v4(d, &g, 1, &f[i]).result, GW_DECODE_OTHER);
        ck_assert_uint_le(st->bytes_held, cfg.frag_max_bytes);
    }
    ck_assert_uint_gt(st->evicted, 0);
    ck_assert_uint_eq(st->reassembled, 0);
    assert_still_reassembles(d);
    gw_decoder_destroy(d);
    free(g.b);
}
END_TEST

START_TEST(test_unfragmented_traffic_holds_nothing)
{
    struct pkt plain;
    build_plain_tcp(&plain);
    struct gw_decoder *d = gw_decoder_create();
    for (int i = 0; i < 100; i++) ck_assert_int_eq(feed(d, &plain, TS0 + i).result, GW_DECODE_TCP);
    const struct gw_defrag_stats *st = gw_decoder_defrag_stats(d);
    ck_assert_uint_eq(st->received, 0);
    ck_assert_uint_eq(st->reassembled + st->evicted + st->timeouts, 0);
    assert_nothing_held(st);
    gw_decoder_destroy(d);
}
END_TEST

/* ---- IPv6 ---------------------------------------------------------------------- */

/* Ethernet / IPv6 / hop-by-hop (unfragmentable) / fragment header / data:
 * the fragmentable part of the datagram. */
static void build_v6_frag(struct pkt *p, uint32_t id, uint8_t next, const struct frag *f,
                          const uint8_t *data)
{
    p->n = 0;
    put_eth(p, 0x86dd);
    size_t ip = put_ipv6(p, 0);
    put8(p, 44);                 /* hop-by-hop -> fragment */
    put8(p, 0);
    put8(p, 1);                  /* PadN, 4 bytes of padding */
    put8(p, 4);
    put32(p, 0);
    put8(p, next);
    put8(p, 0);
    put16(p, (uint16_t)(f->off | (f->more ? 1 : 0))); /* offset is in 8-byte units << 3 */
    put32(p, id);
    put_bytes(p, data, f->len);
    finish_ipv6(p, ip);
}

/* The fragmentable part: destination options (8 bytes), TCP, payload. */
static struct dgram make_v6_fragmentable(size_t payload, uint32_t salt)
{
    struct dgram t = make_tcp(payload, 0, salt);
    struct dgram g = { malloc(8 + t.n), 8 + t.n };
    ck_assert_ptr_nonnull(g.b);
    const uint8_t dstopts[8] = { 6, 0, 1, 4, 0, 0, 0, 0 };
    memcpy(g.b, dstopts, 8);
    memcpy(g.b + 8, t.b, t.n);
    free(t.b);
    return g;
}

START_TEST(test_v6_in_order_and_shuffled)
{
    struct dgram g = make_v6_fragmentable(3000, 21);
    struct frag f[8] = { { 0, 0, 0 } };
    size_t k = split(g.n, 1232, f, 8);
    ck_assert_uint_eq(k, 3);
    struct gw_decoder *d = gw_decoder_create();
    static const size_t orders[3][3] = { { 0, 1, 2 }, { 2, 1, 0 }, { 1, 2, 0 } };
    for (uint32_t o = 0; o < 3; o++) {
        struct res r = { 0 };
        for (size_t i = 0; i < k; i++) {
            struct pkt p;
            const struct frag *fr = &f[orders[o][i]];
            /* Only the first fragment's next header counts (RFC 8200
             * 4.5): the others say UDP and must not be believed. */
            build_v6_frag(&p, 0x80000000u + o, fr->off == 0 ? 60 : 17, fr, g.b + fr->off);
            r = feed(d, &p, TS0);
            if (i + 1 < k) ck_assert_int_eq(r.result, GW_DECODE_OTHER);
        }
        assert_reassembled(&r, 6, g.b + 8, g.n - 8, TCP);
    }
    const struct gw_defrag_stats *st = gw_decoder_defrag_stats(d);
    ck_assert_uint_eq(st->reassembled, 3);
    ck_assert_uint_eq(st->received, 9);
    assert_nothing_held(st);
    gw_decoder_destroy(d);
    free(g.b);
}
END_TEST

START_TEST(test_v6_invalid_fragments)
{
    struct dgram g = make_v6_fragmentable(3000, 22);
    struct gw_decoder *d = gw_decoder_create();
    const struct gw_defrag_stats *st = gw_decoder_defrag_stats(d);
    struct pkt p;
    /* RFC 8200 4.5: a non-last fragment not a multiple of 8 long is
     * discarded (not trimmed as IPv4 is). */
    struct frag odd = { 0, 1233, 1 };
    build_v6_frag(&p, 1, 60, &odd, g.b);
    ck_assert_int_eq(feed(d, &p, TS0).result, GW_DECODE_OTHER);
    ck_assert_uint_eq(st->invalid, 1);
    ck_assert_uint_eq(st->datagrams_held, 0);
    /* Ends at 65528: fits 65535 alone, not with the 8 bytes of the
     * unfragmentable hop-by-hop header (RFC 8200 4.5). */
    struct frag over = { 65520, 8, 0 };
    build_v6_frag(&p, 1, 60, &over, g.b);
    ck_assert_int_eq(feed(d, &p, TS0).result, GW_DECODE_OTHER);
    ck_assert_uint_eq(st->invalid, 2);
    /* Tiny: an 8-byte first fragment whose next header is TCP. */
    struct frag tiny = { 0, 8, 1 };
    build_v6_frag(&p, 2, 6, &tiny, g.b + 8);
    ck_assert_int_eq(feed(d, &p, TS0).result, GW_DECODE_OTHER);
    ck_assert_uint_eq(st->tiny, 1);
    gw_decoder_destroy(d);
    free(g.b);
}
END_TEST

/* A reassembled IPv6 datagram that holds another (non-atomic) fragment
 * header: nested fragmentation does not exist, the packet is malformed. */
START_TEST(test_v6_fragment_header_inside_reassembled)
{
    struct dgram g = { malloc(2000), 2000 };
    ck_assert_ptr_nonnull(g.b);
    memset(g.b, 0, g.n);
    g.b[0] = 6;                       /* fragment header -> TCP */
    g.b[3] = 0x01;                    /* offset 0, M */
    struct frag f[2] = { { 0, 0, 0 } };
    split(g.n, 1232, f, 2);
    struct gw_decoder *d = gw_decoder_create();
    struct pkt p;
    build_v6_frag(&p, 3, 44, &f[0], g.b);
    ck_assert_int_eq(feed(d, &p, TS0).result, GW_DECODE_OTHER);
    build_v6_frag(&p, 3, 44, &f[1], g.b + f[1].off);
    ck_assert_int_eq(feed(d, &p, TS0).result, GW_DECODE_MALFORMED);
    assert_nothing_held(gw_decoder_defrag_stats(d));
    gw_decoder_destroy(d);
    free(g.b);
}
END_TEST

/* ---- fragments and tunnels ------------------------------------------------------- */

/* Ethernet / IPv4 (outer) / UDP / VXLAN (vni) / Ethernet / IPv4 fragment. */
static void build_vxlan_inner_frag(struct pkt *p, uint32_t vni, uint16_t id, const struct frag *f,
                                   const uint8_t *data)
{
    p->n = 0;
    put_eth(p, 0x0800);
    size_t outer = put_ipv4(p, OUT4_SRC, OUT4_DST, 17, 0x5555, 0x4000);
    size_t udp = p->n;
    put16(p, 50000);
    put16(p, 4789);
    put16(p, 0);
    put16(p, 0);
    put8(p, 0x08);
    put8(p, 0);
    put16(p, 0);
    put8(p, (uint8_t)(vni >> 16));
    put16(p, (uint16_t)vni);
    put8(p, 0);
    put_eth(p, 0x0800);
    size_t inner = put_ipv4(p, V4_SRC, V4_DST, 6, id, (uint16_t)((f->more ? MF : 0) | (f->off / 8)));
    put_bytes(p, data, f->len);
    finish_ipv4(p, inner);
    patch16(p->b, udp + 4, (uint16_t)(p->n - udp));
    finish_ipv4(p, outer);
}

START_TEST(test_fragments_inside_vxlan)
{
    struct dgram g = make_tcp(2500, 0, 23);
    struct frag f[2] = { { 0, 0, 0 } };
    split(g.n, 1400, f, 2);
    struct gw_decoder *d = gw_decoder_create();
    struct pkt p;
    build_vxlan_inner_frag(&p, 0x1234, 7, &f[1], g.b + f[1].off);
    ck_assert_int_eq(feed(d, &p, TS0).result, GW_DECODE_OTHER);
    /* The same inner datagram key in another VNI is another tenant. */
    build_vxlan_inner_frag(&p, 0x9999, 7, &f[0], g.b);
    ck_assert_int_eq(feed(d, &p, TS0).result, GW_DECODE_OTHER);
    ck_assert_uint_eq(gw_decoder_defrag_stats(d)->datagrams_held, 2);
    build_vxlan_inner_frag(&p, 0x1234, 7, &f[0], g.b);
    struct res r = feed(d, &p, TS0);
    assert_reassembled(&r, 4, g.b, g.n, TCP);
    ck_assert_int_eq(r.seg.tunnel.type, GW_TUNNEL_VXLAN);
    ck_assert_uint_eq(r.seg.tunnel.id, 0x1234);
    assert_addr(&r.seg.tunnel.outer_src, 4, OUT4_SRC);
    assert_addr(&r.seg.tunnel.outer_dst, 4, OUT4_DST);
    ck_assert_uint_eq(gw_decoder_defrag_stats(d)->datagrams_held, 1);
    gw_decoder_destroy(d);
    free(g.b);
}
END_TEST

/* The GRE packet carrying the inner datagram: GRE header, then the inner
 * IPv4 header (id, frag) and data. */
static struct dgram make_gre_payload(uint16_t inner_id, uint16_t inner_frag, const uint8_t *data,
                                     size_t len)
{
    struct dgram o = { malloc(GRE + IP4 + len), GRE + IP4 + len };
    ck_assert_ptr_nonnull(o.b);
    struct pkt h = { .n = 0 };
    put16(&h, 0);
    put16(&h, 0x0800);
    size_t inner = put_ipv4(&h, V4_SRC, V4_DST, 6, inner_id, inner_frag);
    patch16(h.b, inner + 2, (uint16_t)(IP4 + len));
    memcpy(o.b, h.b, h.n);
    memcpy(o.b + h.n, data, len);
    return o;
}

/* Sends outer datagram o (IPv4, protocol 47) in fragments of `size`. */
static struct res send_outer(struct gw_decoder *d, const struct dgram *o, uint16_t outer_id,
                             size_t size, int reverse)
{
    struct frag f[8] = { { 0, 0, 0 } };
    size_t k = split(o->n, size, f, 8);
    struct res r = { 0 };
    for (size_t j = 0; j < k; j++) {
        const struct frag *fr = &f[reverse ? k - 1 - j : j];
        struct pkt p = { .n = 0 };
        put_eth(&p, 0x0800);
        size_t ip = put_ipv4(&p, OUT4_SRC, OUT4_DST, 47, outer_id,
                             (uint16_t)((fr->more ? MF : 0) | (fr->off / 8)));
        put_bytes(&p, o->b + fr->off, fr->len);
        finish_ipv4(&p, ip);
        r = feed(d, &p, TS0);
        if (j + 1 < k) ck_assert_int_eq(r.result, GW_DECODE_OTHER);
    }
    return r;
}

START_TEST(test_outer_fragments_of_gre)
{
    struct dgram g = make_tcp(2000, 0, 24);
    struct dgram o = make_gre_payload(1, 0x4000, g.b, g.n);
    struct gw_decoder *d = gw_decoder_create();
    for (int reverse = 0; reverse <= 1; reverse++) {
        struct res r = send_outer(d, &o, (uint16_t)(300 + reverse), 1480, reverse);
        assert_reassembled(&r, 4, g.b, g.n, TCP);
        ck_assert_int_eq(r.seg.tunnel.type, GW_TUNNEL_GRE);
        assert_addr(&r.seg.tunnel.outer_src, 4, OUT4_SRC);
        assert_addr(&r.seg.tunnel.outer_dst, 4, OUT4_DST);
    }
    ck_assert_uint_eq(gw_decoder_defrag_stats(d)->reassembled, 2);
    gw_decoder_destroy(d);
    free(o.b);
    free(g.b);
}
END_TEST

/* Both levels fragmented: each inner fragment rides in its own outer
 * datagram, itself fragmented. The second outer datagram completes inside
 * the decoder and its inner fragment completes the inner datagram, so two
 * completed buffers are in use at once. */
START_TEST(test_fragments_at_both_levels)
{
    struct dgram g = make_tcp(2600, 0, 25);
    struct frag in[2] = { { 0, 0, 0 } };
    split(g.n, 1312, in, 2);
    struct gw_decoder *d = gw_decoder_create();
    struct res r = { 0 };
    for (size_t i = 0; i < 2; i++) {
        struct dgram o = make_gre_payload(
            77, (uint16_t)((in[i].more ? MF : 0) | (in[i].off / 8)), g.b + in[i].off, in[i].len);
        r = send_outer(d, &o, (uint16_t)(500 + i), 800, (int)i);
        if (i == 0) ck_assert_int_eq(r.result, GW_DECODE_OTHER);
        free(o.b);
    }
    assert_reassembled(&r, 4, g.b, g.n, TCP);
    ck_assert_int_eq(r.seg.tunnel.type, GW_TUNNEL_GRE);
    const struct gw_defrag_stats *st = gw_decoder_defrag_stats(d);
    ck_assert_uint_eq(st->reassembled, 3);
    ck_assert_uint_eq(st->received, 2 * 2 + 2); /* outer pieces, and two inner fragments */
    assert_nothing_held(st);
    gw_decoder_destroy(d);
    free(g.b);
}
END_TEST

/* ---- a differential check against a first-wins model ---------------------------- */

/* Random valid fragments (aligned, inside the datagram, random bytes that
 * conflict) of one datagram at a time, until the model says it is whole:
 * the decoder must complete on exactly that fragment, with the model's
 * bytes, and hold nothing afterwards. */
START_TEST(test_random_fragments_match_model)
{
    struct gw_decoder *d = gw_decoder_create();
    const struct gw_defrag_stats *st = gw_decoder_defrag_stats(d);
    uint32_t seed = 0xfeedbeef;
    uint8_t *model = malloc(6000), *have = malloc(6000), *data = malloc(6000);
    ck_assert(model && have && data);
    for (uint16_t id = 0; id < 300; id++) {
        size_t total = 40 + xorshift32(&seed) % 5000;
        size_t split_at = (total - 1) / 8 * 8; /* aligned, below total */
        memset(have, 0, total);
        size_t held = 0;
        bool last_sent = false;
        size_t finish_pos = 0;
        for (int sent = 0;; sent++) {
            size_t start = 8 * (xorshift32(&seed) % ((total + 7) / 8));
            size_t len = 8 * (1 + xorshift32(&seed) % 200); /* (GW_MIN evaluates twice) */
            size_t end = GW_MIN(total, start + len);
            int more = end < total || xorshift32(&seed) % 4 == 0;
            if (sent >= 60) { /* finish it: in-order pieces, then the last */
                start = finish_pos;
                end = finish_pos < split_at ? GW_MIN(finish_pos + 1480, split_at) : total;
                more = end < total;
                finish_pos = end;
            }
            if (end == total && total % 8 != 0) more = 0; /* an unaligned end is the last */
            if (start == 0 && !more) {                    /* else it is no fragment at all */
                end = split_at;
                more = 1;
            }
            for (size_t i = start; i < end; i++) data[i] = (uint8_t)xorshift32(&seed);
            if (start <= 12 && 12 < end) data[12] = 0x50; /* a valid TCP data offset */
            for (size_t i = start; i < end; i++) {
                if (have[i]) continue;
                have[i] = 1;
                model[i] = data[i];
                held++;
            }
            last_sent = last_sent || !more;
            struct frag f = { start, end - start, more };
            struct pkt p;
            build_v4_frag(&p, id, 6, &f, data + start);
            struct res r = feed(d, &p, TS0);
            if (held == total && last_sent) {
                ck_assert_msg(r.result == GW_DECODE_TCP, "id %u sent %d: %s", id, sent,
                              gw_decode_result_str(r.result));
                ck_assert_uint_eq(r.seg.payload_len, total - TCP);
                ck_assert_mem_eq(r.seg.payload, model + TCP, total - TCP);
                ck_assert_uint_eq(r.seg.sport, (uint16_t)(model[0] << 8 | model[1]));
                break;
            }
            REQUIRE(r.result == GW_DECODE_OTHER, "id %u sent %d: %s", id, sent,
                    gw_decode_result_str(r.result));
        }
        ck_assert_uint_eq(st->datagrams_held, 0);
    }
    ck_assert_uint_eq(st->reassembled, 300);
    ck_assert_uint_eq(st->invalid, 0);
    ck_assert_uint_gt(st->conflicts, 0);
    free(model);
    free(have);
    free(data);
    gw_decoder_destroy(d);
}
END_TEST


/* ---- the module on its own --------------------------------------------------- */

/* A fragment of datagram bytes b: [off, off + len), wholly captured. */
static struct gw_defrag_frag piece_of(const uint8_t *b, size_t off, size_t len, bool more)
{
    struct gw_defrag_frag pc = {
        .offset = off, .more = more, .trim_unaligned = true, .carries_tcp = false,
        .data = b + off, .cap_len = len, .wire_len = len, .limit = 65535 - IP4,
    };
    return pc;
}

static struct gw_defrag_key key_of(uint32_t id)
{
    struct gw_defrag_key k;
    memset(&k, 0, sizeof k);
    k.src.family = k.dst.family = 4;
    memcpy(k.src.bytes, V4_SRC, 4);
    memcpy(k.dst.bytes, V4_DST, 4);
    k.id = id;
    k.proto = 6;
    return k;
}

static int add_piece(struct gw_defrag *f, uint32_t id, const uint8_t *b, size_t off, size_t len,
                     bool more, struct gw_defrag_datagram *out)
{
    struct gw_defrag_key k = key_of(id);
    struct gw_defrag_frag pc = piece_of(b, off, len, more);
    return gw_defrag_add(f, &k, &pc, out);
}

START_TEST(test_api_held_then_complete)
{
    uint8_t b[40];
    for (size_t i = 0; i < sizeof b; i++) b[i] = pattern(i, 31);
    struct gw_defrag *f = gw_defrag_create(NULL);
    ck_assert_ptr_nonnull(f);
    const struct gw_defrag_stats *st = gw_defrag_stats(f);
    struct gw_defrag_datagram out = { NULL, 12345, 0 };
    gw_defrag_tick(f, TS0);
    ck_assert_int_eq(add_piece(f, 1, b, 16, 24, false, &out), GW_DEFRAG_HELD);
    ck_assert_uint_eq(out.len, 12345); /* untouched unless complete */
    ck_assert_uint_eq(st->datagrams_held, 1);
    ck_assert_uint_gt(st->bytes_held, 0);
    ck_assert_int_eq(add_piece(f, 1, b, 0, 16, true, &out), GW_DEFRAG_COMPLETE);
    ck_assert_uint_eq(out.len, sizeof b);
    ck_assert_mem_eq(out.data, b, sizeof b);
    ck_assert_uint_eq(st->received, 2);
    ck_assert_uint_eq(st->reassembled, 1);
    ck_assert_uint_eq(st->datagrams_held, 0);
    ck_assert_uint_eq(st->bytes_held, 0);
    ck_assert_str_eq(gw_defrag_result_str(GW_DEFRAG_COMPLETE), "complete");
    ck_assert_str_eq(gw_defrag_result_str(GW_DEFRAG_HELD), "held");
    ck_assert_str_eq(gw_defrag_result_str(GW_DEFRAG_DROPPED), "dropped");
    ck_assert_str_eq(gw_defrag_result_str(99), "unknown");
    gw_defrag_destroy(f);
}
END_TEST

/* First copy wins, unit by unit: a later copy never replaces held bytes,
 * whether it agrees (overlap) or not (overlap and conflict). */
START_TEST(test_api_first_copy_wins)
{
    uint8_t a[32], z[32], want[32];
    memset(a, 'A', sizeof a);
    memset(z, 'Z', sizeof z);
    struct gw_defrag *f = gw_defrag_create(NULL);
    const struct gw_defrag_stats *st = gw_defrag_stats(f);
    struct gw_defrag_datagram out;
    ck_assert_int_eq(add_piece(f, 7, a, 0, 16, true, &out), GW_DEFRAG_HELD);
    ck_assert_int_eq(add_piece(f, 7, a, 0, 16, true, &out), GW_DEFRAG_HELD); /* same bytes */
    ck_assert_uint_eq(st->overlaps, 1);
    ck_assert_uint_eq(st->conflicts, 0);
    ck_assert_int_eq(add_piece(f, 7, z, 8, 16, true, &out), GW_DEFRAG_HELD); /* [8,16) differ */
    ck_assert_uint_eq(st->overlaps, 2);
    ck_assert_uint_eq(st->conflicts, 1);
    ck_assert_int_eq(add_piece(f, 7, a, 16, 16, false, &out), GW_DEFRAG_COMPLETE);
    memset(want, 'A', sizeof want);
    memset(want + 16, 'Z', 8);          /* only Z had [16,24) first */
    ck_assert_uint_eq(out.len, 32);
    ck_assert_mem_eq(out.data, want, 32);
    ck_assert_uint_eq(st->overlaps, 3);
    ck_assert_uint_eq(st->conflicts, 2);
    gw_defrag_destroy(f);
}
END_TEST

START_TEST(test_api_invalid_fragments)
{
    uint8_t b[64] = { 0 };
    struct gw_defrag *f = gw_defrag_create(NULL);
    const struct gw_defrag_stats *st = gw_defrag_stats(f);
    struct gw_defrag_datagram out;
    struct gw_defrag_key k = key_of(3);
    struct gw_defrag_frag pc = piece_of(b, 0, 16, true);
    pc.limit = 15;                                      /* past the datagram's maximum */
    ck_assert_int_eq(gw_defrag_add(f, &k, &pc, &out), GW_DEFRAG_DROPPED);
    ck_assert_uint_eq(st->invalid, 1);
    pc = piece_of(b, 0, 13, true);
    pc.trim_unaligned = false;                          /* IPv6: discarded */
    ck_assert_int_eq(gw_defrag_add(f, &k, &pc, &out), GW_DEFRAG_DROPPED);
    ck_assert_uint_eq(st->invalid, 2);
    pc.trim_unaligned = true;                           /* IPv4: cut to 8, kept */
    ck_assert_int_eq(gw_defrag_add(f, &k, &pc, &out), GW_DEFRAG_HELD);
    ck_assert_uint_eq(st->invalid, 3);
    pc = piece_of(b, 8, 0, true);                       /* empty, not the last */
    ck_assert_int_eq(gw_defrag_add(f, &k, &pc, &out), GW_DEFRAG_DROPPED);
    ck_assert_uint_eq(st->invalid, 4);
    ck_assert_uint_eq(st->datagrams_held, 1);
    ck_assert_uint_eq(st->received, 4);
    gw_defrag_destroy(f);
}
END_TEST

/* Bytes cut by the snap length are not held, so their datagram never
 * completes (it times out instead of being reported with a hole). */
START_TEST(test_api_snapped_never_completes)
{
    uint8_t b[32] = { 0 };
    struct gw_defrag *f = gw_defrag_create(NULL);
    struct gw_defrag_datagram out;
    struct gw_defrag_key k = key_of(4);
    struct gw_defrag_frag pc = piece_of(b, 0, 16, true);
    pc.cap_len = 12;
    ck_assert_int_eq(gw_defrag_add(f, &k, &pc, &out), GW_DEFRAG_HELD);
    ck_assert_int_eq(add_piece(f, 4, b, 16, 16, false, &out), GW_DEFRAG_HELD);
    ck_assert_uint_eq(gw_defrag_stats(f)->reassembled, 0);
    ck_assert_int_eq(add_piece(f, 4, b, 0, 16, true, &out), GW_DEFRAG_COMPLETE); /* the rest */
    gw_defrag_destroy(f);
}
END_TEST

START_TEST(test_api_timeout_and_clock)
{
    uint8_t b[16] = { 0 };
    struct gw_defrag_config cfg = { .timeout_s = 1 };
    struct gw_defrag *f = gw_defrag_create(&cfg);
    const struct gw_defrag_stats *st = gw_defrag_stats(f);
    struct gw_defrag_datagram out;
    ck_assert_uint_eq(gw_defrag_tick(f, TS0), 0);
    ck_assert_int_eq(add_piece(f, 1, b, 0, 8, true, &out), GW_DEFRAG_HELD);
    ck_assert_uint_eq(gw_defrag_tick(f, TS0 + SEC - 1), 0);
    ck_assert_uint_eq(gw_defrag_tick(f, TS0 - 50 * SEC), 0); /* the clock never goes back */
    ck_assert_uint_eq(gw_defrag_tick(f, TS0 + SEC), 1);
    ck_assert_uint_eq(st->timeouts, 1);
    ck_assert_uint_eq(st->datagrams_held, 0);
    ck_assert_uint_eq(st->bytes_held, 0);
    /* Created at the clock (TS0 + 1 s), not at the stale timestamp. */
    gw_defrag_tick(f, TS0);
    ck_assert_int_eq(add_piece(f, 2, b, 0, 8, true, &out), GW_DEFRAG_HELD);
    ck_assert_uint_eq(gw_defrag_tick(f, TS0 + SEC + SEC / 2), 0);
    /* Oldest first, stopping at the first young one. */
    ck_assert_int_eq(add_piece(f, 3, b, 0, 8, true, &out), GW_DEFRAG_HELD);
    ck_assert_uint_eq(gw_defrag_tick(f, TS0 + 2 * SEC), 1);
    ck_assert_uint_eq(st->datagrams_held, 1);
    ck_assert_uint_eq(gw_defrag_tick(f, TS0 + 3 * SEC), 1);
    ck_assert_uint_eq(st->timeouts, 3);
    gw_defrag_destroy(f);
}
END_TEST

/* At max_datagrams a new datagram evicts the oldest, which is gone: its
 * remaining fragment starts a datagram of its own. */
START_TEST(test_api_datagram_cap_evicts_oldest)
{
    uint8_t b[16] = { 0 };
    struct gw_defrag_config cfg = { .max_datagrams = 4 };
    struct gw_defrag *f = gw_defrag_create(&cfg);
    const struct gw_defrag_stats *st = gw_defrag_stats(f);
    struct gw_defrag_datagram out;
    for (uint32_t id = 0; id < 5; id++)
        ck_assert_int_eq(add_piece(f, id, b, 0, 8, true, &out), GW_DEFRAG_HELD);
    ck_assert_uint_eq(st->evicted, 1);
    ck_assert_uint_eq(st->datagrams_held, 4);
    ck_assert_int_eq(add_piece(f, 4, b, 8, 8, false, &out), GW_DEFRAG_COMPLETE);
    ck_assert_int_eq(add_piece(f, 1, b, 8, 8, false, &out), GW_DEFRAG_COMPLETE);
    ck_assert_int_eq(add_piece(f, 0, b, 8, 8, false, &out), GW_DEFRAG_HELD); /* evicted */
    ck_assert_uint_eq(st->evicted, 1);
    ck_assert_uint_eq(st->datagrams_held, 3);
    gw_defrag_destroy(f);
}
END_TEST

/* The byte cap counts whole 2 KiB chunks: room for two here. A third
 * datagram evicts the oldest; one that needs three chunks alone is
 * dropped, and nothing is held past the cap at any point. */
START_TEST(test_api_byte_cap)
{
    static uint8_t b[8192];
    struct gw_defrag_config cfg = { .max_bytes = 5000 };
    struct gw_defrag *f = gw_defrag_create(&cfg);
    const struct gw_defrag_stats *st = gw_defrag_stats(f);
    struct gw_defrag_datagram out;
    ck_assert_int_eq(add_piece(f, 1, b, 0, 8, true, &out), GW_DEFRAG_HELD);
    ck_assert_int_eq(add_piece(f, 2, b, 0, 8, true, &out), GW_DEFRAG_HELD);
    ck_assert_uint_le(st->bytes_held, cfg.max_bytes);
    ck_assert_uint_eq(st->evicted, 0);
    ck_assert_int_eq(add_piece(f, 3, b, 0, 8, true, &out), GW_DEFRAG_HELD);
    ck_assert_uint_eq(st->evicted, 1);
    ck_assert_uint_le(st->bytes_held, cfg.max_bytes);
    ck_assert_int_eq(add_piece(f, 4, b, 0, 6144, true, &out), GW_DEFRAG_DROPPED);
    ck_assert_uint_eq(st->evicted, 4); /* 2 and 3 made room, then 4 itself */
    ck_assert_uint_eq(st->datagrams_held, 0);
    ck_assert_uint_eq(st->bytes_held, 0);
    /* Two chunks, the whole cap, for a datagram that fits it. */
    ck_assert_int_eq(add_piece(f, 5, b, 0, 4096, false, &out), GW_DEFRAG_COMPLETE);
    ck_assert_uint_eq(out.len, 4096);
    ck_assert_int_eq(add_piece(f, 6, b, 8, 8, false, &out), GW_DEFRAG_HELD);
    ck_assert_int_eq(add_piece(f, 6, b, 0, 8, true, &out), GW_DEFRAG_COMPLETE);
    gw_defrag_destroy(f);
}
END_TEST

/* A fragment read out of the completion buffer (an inner fragment of a
 * reassembled outer datagram) completes its own datagram correctly. */
START_TEST(test_api_fragment_from_completion_buffer)
{
    uint8_t inner[24], outer[40];
    for (size_t i = 0; i < sizeof inner; i++) inner[i] = pattern(i, 41);
    memset(outer, 0xee, sizeof outer);
    memcpy(outer + 16, inner + 8, 16);     /* the outer datagram carries inner [8,24) */
    struct gw_defrag *f = gw_defrag_create(NULL);
    struct gw_defrag_datagram out;
    ck_assert_int_eq(add_piece(f, 9, inner, 0, 8, true, &out), GW_DEFRAG_HELD);
    ck_assert_int_eq(add_piece(f, 10, outer, 0, 16, true, &out), GW_DEFRAG_HELD);
    ck_assert_int_eq(add_piece(f, 10, outer, 16, 24, false, &out), GW_DEFRAG_COMPLETE);
    struct gw_defrag_key k = key_of(9);
    struct gw_defrag_frag pc = { .offset = 8, .data = out.data + 16, .cap_len = 16,
                                 .wire_len = 16, .limit = 65515 };
    ck_assert_int_eq(gw_defrag_add(f, &k, &pc, &out), GW_DEFRAG_COMPLETE);
    ck_assert_uint_eq(out.len, sizeof inner);
    ck_assert_mem_eq(out.data, inner, sizeof inner);
    gw_defrag_destroy(f);
}
END_TEST

START_TEST(test_api_create_limits)
{
    struct gw_defrag_config cfg = { .max_datagrams = GW_DEFRAG_MAX_DATAGRAMS + 1 };
    ck_assert_ptr_null(gw_defrag_create(&cfg));
    cfg.max_datagrams = GW_DEFRAG_MAX_DATAGRAMS;
    cfg.max_bytes = GW_DEFRAG_MAX_BYTES + 1;
    ck_assert_ptr_null(gw_defrag_create(&cfg));
    cfg.max_bytes = GW_DEFRAG_MAX_BYTES;
    struct gw_defrag *f = gw_defrag_create(&cfg);
    ck_assert_ptr_nonnull(f);
    gw_defrag_destroy(f);
    gw_defrag_destroy(NULL);
    ck_assert_ptr_null(gw_defrag_stats(NULL));
    /* A cap below one chunk holds nothing, and says so. */
    cfg.max_bytes = 1;
    f = gw_defrag_create(&cfg);
    uint8_t b[8] = { 0 };
    struct gw_defrag_datagram out;
    ck_assert_int_eq(add_piece(f, 1, b, 0, 8, true, &out), GW_DEFRAG_DROPPED);
    ck_assert_uint_eq(gw_defrag_stats(f)->evicted, 1);
    gw_defrag_destroy(f);
}
END_TEST

/* The decoder hands out its reassembler's counters. */
START_TEST(test_decoder_defrag_stats)
{
    struct dgram g = make_tcp(3000, 0, 42);
    struct frag f[4] = { { 0, 0, 0 } };
    size_t k = split(g.n, 1480, f, 4);
    struct gw_decoder *d = gw_decoder_create();
    size_t order[4] = { 1, 0, 1, 2 };
    send_order(d, &g, 5, f, order, k + 1);
    feed_v4(d, &g, 6, &f[0]);
    struct pkt plain;
    build_plain_tcp(&plain);
    feed(d, &plain, TS0 + 31 * SEC);                     /* times out id 6 */
    const struct gw_defrag_stats *fs = gw_decoder_defrag_stats(d);
    ck_assert_uint_eq(fs->received, 5);
    ck_assert_uint_eq(fs->timeouts, 1);
    ck_assert_uint_eq(fs->reassembled, 1);
    ck_assert_ptr_null(gw_decoder_defrag_stats(NULL));
    gw_decoder_destroy(d);
    free(g.b);
}
END_TEST

static Suite *defrag_suite(void)
{
    Suite *s = suite_create("defrag");
    TCase *api = tcase_create("api");
    tcase_add_test(api, test_api_held_then_complete);
    tcase_add_test(api, test_api_first_copy_wins);
    tcase_add_test(api, test_api_invalid_fragments);
    tcase_add_test(api, test_api_snapped_never_completes);
    tcase_add_test(api, test_api_timeout_and_clock);
    tcase_add_test(api, test_api_datagram_cap_evicts_oldest);
    tcase_add_test(api, test_api_byte_cap);
    tcase_add_test(api, test_api_fragment_from_completion_buffer);
    tcase_add_test(api, test_api_create_limits);
    tcase_add_test(api, test_decoder_defrag_stats);
    suite_add_tcase(s, api);

    TCase *v4 = tcase_create("ipv4");
    tcase_add_test(v4, test_v4_in_order);
    tcase_add_test(v4, test_v4_held_counts_memory);
    tcase_add_test(v4, test_v4_reverse_order);
    tcase_add_test(v4, test_v4_shuffled);
    tcase_add_test(v4, test_v4_keys_kept_apart);
    tcase_add_test(v4, test_v4_duplicates);
    tcase_add_test(v4, test_v4_overlap_first_wins);
    tcase_add_test(v4, test_v4_tcp_header_rewrite);
    tcase_add_test(v4, test_v4_tiny_first_fragment);
    tcase_add_test(v4, test_v4_max_size_and_past_65535);
    tcase_add_test(v4, test_v4_inconsistent_end);
    tcase_add_test(v4, test_v4_unaligned_fragment_trimmed);
    tcase_add_test(v4, test_v4_reassembled_udp_is_other);
    tcase_add_test(v4, test_v4_snapped_fragment);
    tcase_add_test(v4, test_random_fragments_match_model);
    suite_add_tcase(s, v4);

    TCase *caps = tcase_create("caps");
    tcase_add_test(caps, test_timeout_frees_memory);
    tcase_add_test(caps, test_flood_datagram_cap);
    tcase_add_test(caps, test_flood_byte_cap);
    tcase_add_test(caps, test_datagram_larger_than_byte_cap);
    tcase_add_test(caps, test_unfragmented_traffic_holds_nothing);
    suite_add_tcase(s, caps);

    TCase *v6 = tcase_create("ipv6");
    tcase_add_test(v6, test_v6_in_order_and_shuffled);
    tcase_add_test(v6, test_v6_invalid_fragments);
    tcase_add_test(v6, test_v6_fragment_header_inside_reassembled);
    suite_add_tcase(s, v6);

    TCase *tun = tcase_create("tunnel");
    tcase_add_test(tun, test_fragments_inside_vxlan);
    tcase_add_test(tun, test_outer_fragments_of_gre);
    tcase_add_test(tun, test_fragments_at_both_levels);
    suite_add_tcase(s, tun);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(defrag_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
