/*
 * test_decode.c - unit tests for the link/IP/TCP decoder (src/decode.c).
 *
 * Packets are built byte by byte from the wire formats (IEEE 802.3/802.1Q,
 * Linux cooked SLL/SLL2, BSD loopback, RFC 791, RFC 8200, RFC 4302,
 * RFC 9293) and expected offsets are sums of the header sizes those specs
 * define, never values read back from the decoder. Every decode runs on a
 * heap copy of exactly caplen bytes, so AddressSanitizer flags any read past
 * the captured data.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "grpcwatch/decode.h"

/* Link types (pcap/dlt.h, LINKTYPE_ values from the tcpdump.org registry). */
enum {
    LT_NULL = 0, LT_EN10MB = 1, LT_RAW = 12, LT_RAW_OPENBSD = 14, LT_LINKTYPE_RAW = 101,
    LT_LOOP = 108, LT_LINUX_SLL = 113, LT_IPV4 = 228, LT_IPV6 = 229, LT_LINUX_SLL2 = 276
};

/* Header sizes from the specs. */
enum { ETH = 14, VLAN = 4, SLL = 16, SLL2 = 20, AFH = 4, IP4 = 20, IP6 = 40, TCP = 20 };

#define SPORT 43210
#define DPORT 50051
#define SEQ 0x01020304u
#define ACK 0xa0b0c0d0u
#define FLAGS (GW_TCP_PSH | GW_TCP_ACK)
#define WINDOW 0x7531
#define TS ((gw_time_us)1700000000123456LL)

static const uint8_t V4_SRC[4] = { 192, 0, 2, 1 };      /* RFC 5737 TEST-NET-1 */
static const uint8_t V4_DST[4] = { 198, 51, 100, 7 };   /* RFC 5737 TEST-NET-2 */
static const uint8_t V6_SRC[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
static const uint8_t V6_DST[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };

/* ---- packet builder ---------------------------------------------------- */

struct pkt {
    uint8_t b[4096];
    size_t n;
};

static void put8(struct pkt *p, uint8_t v)
{
    ck_assert_uint_lt(p->n, sizeof p->b);
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

static void put_le32(struct pkt *p, uint32_t v)
{
    put16(p, (uint16_t)(((v & 0xff) << 8) | ((v >> 8) & 0xff)));
    put16(p, (uint16_t)((((v >> 16) & 0xff) << 8) | (v >> 24)));
}

static void put_fill(struct pkt *p, size_t k, uint8_t v)
{
    for (size_t i = 0; i < k; i++) put8(p, v);
}

static void put_bytes(struct pkt *p, const uint8_t *src, size_t k)
{
    for (size_t i = 0; i < k; i++) put8(p, src[i]);
}

static void patch16(struct pkt *p, size_t off, uint16_t v)
{
    p->b[off] = (uint8_t)(v >> 8);
    p->b[off + 1] = (uint8_t)v;
}

static void put_eth(struct pkt *p, uint16_t type)
{
    static const uint8_t dst[6] = { 0x02, 0, 0, 0, 0, 0x01 }, src[6] = { 0x02, 0, 0, 0, 0, 0x02 };
    put_bytes(p, dst, 6);
    put_bytes(p, src, 6);
    put16(p, type);
}

static void put_vlan(struct pkt *p, uint16_t vid, uint16_t next_type)
{
    put16(p, (uint16_t)((3u << 13) | vid)); /* PCP 3, DEI 0 */
    put16(p, next_type);
}

static void put_sll(struct pkt *p, uint16_t proto)
{
    put16(p, 0);          /* packet type: to us */
    put16(p, 1);          /* ARPHRD_ETHER */
    put16(p, 6);          /* address length */
    put_fill(p, 8, 0xaa); /* address, padded to 8 */
    put16(p, proto);
}

static void put_sll2(struct pkt *p, uint16_t proto)
{
    put16(p, proto);
    put16(p, 0);          /* reserved */
    put32(p, 3);          /* interface index */
    put16(p, 1);          /* ARPHRD_ETHER */
    put8(p, 4);           /* packet type: outgoing */
    put8(p, 6);           /* address length */
    put_fill(p, 8, 0xbb);
}

static void put_af(struct pkt *p, uint32_t af, int big_endian)
{
    if (big_endian) put32(p, af);
    else put_le32(p, af);
}

/* IPv4 header with opt_words 32-bit words of options; total length patched
 * by finish_ipv4. Returns the header offset. */
static size_t put_ipv4(struct pkt *p, uint8_t proto, unsigned opt_words, uint16_t frag)
{
    size_t start = p->n;
    put8(p, (uint8_t)(0x40 | (5 + opt_words)));
    put8(p, 0);
    put16(p, 0);          /* total length, patched */
    put16(p, 0x1234);     /* identification */
    put16(p, frag);
    put8(p, 64);
    put8(p, proto);
    put16(p, 0);          /* checksum: not verified */
    put_bytes(p, V4_SRC, 4);
    put_bytes(p, V4_DST, 4);
    if (opt_words > 0) {  /* Router Alert (RFC 2113), then NOPs */
        put8(p, 148); put8(p, 4); put16(p, 0);
        put_fill(p, (opt_words - 1) * 4, 1);
    }
    return start;
}

static void finish_ipv4(struct pkt *p, size_t start)
{
    patch16(p, start + 2, (uint16_t)(p->n - start));
}

static size_t put_ipv6(struct pkt *p, uint8_t next)
{
    size_t start = p->n;
    put32(p, 0x60012345); /* version 6, traffic class 0, flow label */
    put16(p, 0);          /* payload length, patched */
    put8(p, next);
    put8(p, 64);
    put_bytes(p, V6_SRC, 16);
    put_bytes(p, V6_DST, 16);
    return start;
}

static void finish_ipv6(struct pkt *p, size_t start)
{
    patch16(p, start + 4, (uint16_t)(p->n - start - IP6));
}

/* Hop-by-hop or destination options header of (len+1)*8 bytes, all PadN. */
static void put_opts_hdr(struct pkt *p, uint8_t next, uint8_t len)
{
    size_t pad = (size_t)(len + 1) * 8 - 2;
    put8(p, next);
    put8(p, len);
    put8(p, 1);           /* PadN */
    put8(p, (uint8_t)(pad - 2));
    put_fill(p, pad - 2, 0);
}

/* Routing header (RFC 8200 4.4), experimental type 253, segments left 0. */
static void put_routing_hdr(struct pkt *p, uint8_t next, uint8_t len)
{
    put8(p, next);
    put8(p, len);
    put8(p, 253);
    put8(p, 0);
    put_fill(p, (size_t)(len + 1) * 8 - 4, 0);
}

static void put_frag_hdr(struct pkt *p, uint8_t next, uint16_t offset_units, int more)
{
    put8(p, next);
    put8(p, 0);
    put16(p, (uint16_t)((offset_units << 3) | (more ? 1 : 0)));
    put32(p, 0xdeadbeef); /* identification */
}

/* AH (RFC 4302): (len+2)*4 bytes: 12 fixed bytes, then the ICV. */
static void put_ah_hdr(struct pkt *p, uint8_t next, uint8_t len)
{
    put8(p, next);
    put8(p, len);
    put16(p, 0);
    put32(p, 0x100);      /* SPI */
    put32(p, 7);          /* sequence number */
    put_fill(p, (size_t)(len + 2) * 4 - 12, 0xcc);
}

/* TCP header with opt_words words of options (NOP NOP timestamp first). */
static void put_tcp(struct pkt *p, unsigned opt_words)
{
    put16(p, SPORT);
    put16(p, DPORT);
    put32(p, SEQ);
    put32(p, ACK);
    put8(p, (uint8_t)((5 + opt_words) << 4));
    put8(p, FLAGS);
    put16(p, WINDOW);
    put16(p, 0);
    put16(p, 0);
    size_t left = (size_t)opt_words * 4;
    if (left >= 12) {
        put8(p, 1); put8(p, 1); put8(p, 8); put8(p, 10);
        put32(p, 111); put32(p, 222);
        left -= 12;
    }
    put_fill(p, left, 1);
}

static uint8_t payload_byte(size_t i)
{
    return (uint8_t)('A' + i % 26);
}

static void put_payload(struct pkt *p, size_t k)
{
    for (size_t i = 0; i < k; i++) put8(p, payload_byte(i));
}

/* Ethernet / IPv4 / TCP: the shape most tests start from. */
static void build_eth_v4(struct pkt *p, size_t payload)
{
    p->n = 0;
    put_eth(p, 0x0800);
    size_t ip = put_ipv4(p, 6, 0, 0x4000);
    put_tcp(p, 0);
    put_payload(p, payload);
    finish_ipv4(p, ip);
}

static void build_eth_v6(struct pkt *p, size_t payload)
{
    p->n = 0;
    put_eth(p, 0x86dd);
    size_t ip = put_ipv6(p, 6);
    put_tcp(p, 0);
    put_payload(p, payload);
    finish_ipv6(p, ip);
}

/* ---- decoding helpers --------------------------------------------------- */

struct run {
    int result;
    struct gw_segment seg;
    uint8_t *buf;   /* exact-size copy the segment points into; free it */
};

static struct run decode_cut(struct gw_decoder *d, int linktype, const struct pkt *p,
                             size_t caplen, size_t wirelen)
{
    struct run r;
    r.buf = malloc(caplen);
    ck_assert(caplen == 0 || r.buf != NULL);
    if (caplen > 0) memcpy(r.buf, p->b, caplen);
    struct gw_packet pkt = {
        .ts = TS, .linktype = linktype, .data = r.buf,
        .caplen = (uint32_t)caplen, .wirelen = (uint32_t)wirelen, .number = 1,
    };
    memset(&r.seg, 0x5a, sizeof r.seg); /* stale garbage the decoder must overwrite */
    r.result = gw_decoder_decode(d, &pkt, &r.seg);
    return r;
}

static struct run decode_full(struct gw_decoder *d, int linktype, const struct pkt *p)
{
    return decode_cut(d, linktype, p, p->n, p->n);
}

static void assert_addr(const struct gw_addr *a, int family, const uint8_t *bytes)
{
    size_t len = family == 4 ? 4 : 16;
    ck_assert_int_eq(a->family, family);
    ck_assert_mem_eq(a->bytes, bytes, len);
    for (size_t i = len; i < sizeof a->bytes; i++) ck_assert_uint_eq(a->bytes[i], 0);
}

/* Every field of a TCP result built by put_tcp. */
static void assert_tcp(const struct run *r, int family, size_t payload_off, size_t payload_len,
                       size_t wire_len)
{
    ck_assert_int_eq(r->result, GW_DECODE_TCP);
    const struct gw_segment *s = &r->seg;
    ck_assert(s->ts == TS);
    assert_addr(&s->src, family, family == 4 ? V4_SRC : V6_SRC);
    assert_addr(&s->dst, family, family == 4 ? V4_DST : V6_DST);
    ck_assert_uint_eq(s->sport, SPORT);
    ck_assert_uint_eq(s->dport, DPORT);
    ck_assert_uint_eq(s->seq, SEQ);
    ck_assert_uint_eq(s->ack, ACK);
    ck_assert_uint_eq(s->flags, FLAGS);
    ck_assert_uint_eq(s->window, WINDOW);
    ck_assert_ptr_eq(s->payload, r->buf + payload_off);
    ck_assert_uint_eq(s->payload_len, payload_len);
    ck_assert_uint_eq(s->payload_wire_len, wire_len);
    ck_assert_int_eq(s->tunnel.type, GW_TUNNEL_NONE);
    for (size_t i = 0; i < payload_len; i++) ck_assert_uint_eq(s->payload[i], payload_byte(i));
}

static void assert_stats_sum(const struct gw_decode_stats *st)
{
    ck_assert_uint_eq(st->packets,
                      st->tcp + st->other + st->truncated + st->malformed + st->unsupported);
}

/* Decodes p once on a fresh decoder and returns the result only. */
static int result_of(int linktype, const struct pkt *p, size_t caplen, size_t wirelen)
{
    struct gw_decoder *d = gw_decoder_create();
    ck_assert_ptr_nonnull(d);
    struct run r = decode_cut(d, linktype, p, caplen, wirelen);
    const struct gw_decode_stats *st = gw_decoder_stats(d);
    ck_assert_uint_eq(st->packets, 1);
    assert_stats_sum(st);
    free(r.buf);
    gw_decoder_destroy(d);
    return r.result;
}

static int result_full(int linktype, const struct pkt *p)
{
    return result_of(linktype, p, p->n, p->n);
}

/* ---- link types ---------------------------------------------------------- */

START_TEST(test_ethernet_ipv4)
{
    struct pkt p;
    build_eth_v4(&p, 33);
    struct gw_decoder *d = gw_decoder_create();
    struct run r = decode_full(d, LT_EN10MB, &p);
    assert_tcp(&r, 4, ETH + IP4 + TCP, 33, 33);
    const struct gw_decode_stats *st = gw_decoder_stats(d);
    ck_assert_uint_eq(st->packets, 1);
    ck_assert_uint_eq(st->tcp, 1);
    ck_assert_uint_eq(st->ipv4, 1);
    ck_assert_uint_eq(st->ipv6, 0);
    ck_assert_uint_eq(st->vlan, 0);
    ck_assert_uint_eq(st->snapped, 0);
    free(r.buf);
    gw_decoder_destroy(d);
}
END_TEST

START_TEST(test_ethernet_ipv6)
{
    struct pkt p;
    build_eth_v6(&p, 17);
    struct gw_decoder *d = gw_decoder_create();
    struct run r = decode_full(d, LT_EN10MB, &p);
    assert_tcp(&r, 6, ETH + IP6 + TCP, 17, 17);
    ck_assert_uint_eq(gw_decoder_stats(d)->ipv6, 1);
    ck_assert_uint_eq(gw_decoder_stats(d)->ipv4, 0);
    free(r.buf);
    gw_decoder_destroy(d);
}
END_TEST

START_TEST(test_tcp_flags_and_empty_payload)
{
    struct pkt p;
    build_eth_v4(&p, 0);
    p.b[ETH + IP4 + 13] = GW_TCP_SYN | GW_TCP_FIN | GW_TCP_RST;
    struct gw_decoder *d = gw_decoder_create();
    struct run r = decode_full(d, LT_EN10MB, &p);
    ck_assert_int_eq(r.result, GW_DECODE_TCP);
    ck_assert_uint_eq(r.seg.flags, GW_TCP_SYN | GW_TCP_FIN | GW_TCP_RST);
    ck_assert_ptr_eq(r.seg.payload, r.buf + ETH + IP4 + TCP);
    ck_assert_uint_eq(r.seg.payload_len, 0);
    ck_assert_uint_eq(r.seg.payload_wire_len, 0);
    free(r.buf);
    gw_decoder_destroy(d);
}
END_TEST

/* Tags: outer TPID in the Ethernet type field, each tag then carries the
 * next type (IEEE 802.1Q; 0x88a8 is 802.1ad, 0x9100 the pre-standard QinQ). */
static void check_vlan_stack(const uint16_t *tpids, size_t ntags)
{
    struct pkt p = { .n = 0 };
    put_eth(&p, ntags ? tpids[0] : 0x0800);
    for (size_t i = 0; i < ntags; i++)
        put_vlan(&p, (uint16_t)(100 + i), i + 1 < ntags ? tpids[i + 1] : 0x0800);
    size_t ip = put_ipv4(&p, 6, 0, 0);
    put_tcp(&p, 0);
    put_payload(&p, 10);
    finish_ipv4(&p, ip);

    struct gw_decoder *d = gw_decoder_create();
    struct run r = decode_full(d, LT_EN10MB, &p);
    assert_tcp(&r, 4, ETH + ntags * VLAN + IP4 + TCP, 10, 10);
    ck_assert_uint_eq(gw_decoder_stats(d)->vlan, ntags ? 1 : 0); /* per packet, not per tag */
    free(r.buf);
    gw_decoder_destroy(d);
}

START_TEST(test_vlan_single)
{
    static const uint16_t t[] = { 0x8100 };
    check_vlan_stack(t, 1);
}
END_TEST

START_TEST(test_vlan_qinq_88a8)
{
    static const uint16_t t[] = { 0x88a8, 0x8100 };
    check_vlan_stack(t, 2);
}
END_TEST

START_TEST(test_vlan_9100)
{
    static const uint16_t t[] = { 0x9100 };
    check_vlan_stack(t, 1);
    static const uint16_t t2[] = { 0x9100, 0x8100 };
    check_vlan_stack(t2, 2);
}
END_TEST

START_TEST(test_vlan_eight_deep_ok_nine_unsupported)
{
    static const uint16_t t[9] = { 0x88a8, 0x8100, 0x9100, 0x8100, 0x8100, 0x88a8, 0x8100, 0x8100, 0x8100 };
    check_vlan_stack(t, 8);

    struct pkt p = { .n = 0 };
    put_eth(&p, 0x8100);
    for (int i = 0; i < 9; i++) put_vlan(&p, 5, i < 8 ? 0x8100 : 0x0800);
    size_t ip = put_ipv4(&p, 6, 0, 0);
    put_tcp(&p, 0);
    finish_ipv4(&p, ip);
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_UNSUPPORTED);
}
END_TEST

START_TEST(test_vlan_inner_ipv6)
{
    struct pkt p = { .n = 0 };
    put_eth(&p, 0x8100);
    put_vlan(&p, 42, 0x86dd);
    size_t ip = put_ipv6(&p, 6);
    put_tcp(&p, 3);
    put_payload(&p, 5);
    finish_ipv6(&p, ip);
    struct gw_decoder *d = gw_decoder_create();
    struct run r = decode_full(d, LT_EN10MB, &p);
    assert_tcp(&r, 6, ETH + VLAN + IP6 + TCP + 12, 5, 5);
    free(r.buf);
    gw_decoder_destroy(d);
}
END_TEST

START_TEST(test_linux_sll)
{
    struct pkt p = { .n = 0 };
    put_sll(&p, 0x0800);
    size_t ip = put_ipv4(&p, 6, 0, 0);
    put_tcp(&p, 0);
    put_payload(&p, 9);
    finish_ipv4(&p, ip);
    struct gw_decoder *d = gw_decoder_create();
    struct run r = decode_full(d, LT_LINUX_SLL, &p);
    assert_tcp(&r, 4, SLL + IP4 + TCP, 9, 9);
    free(r.buf);

    p.n = 0;
    put_sll(&p, 0x86dd);
    ip = put_ipv6(&p, 6);
    put_tcp(&p, 0);
    put_payload(&p, 4);
    finish_ipv6(&p, ip);
    r = decode_full(d, LT_LINUX_SLL, &p);
    assert_tcp(&r, 6, SLL + IP6 + TCP, 4, 4);
    free(r.buf);

    /* libpcap re-inserts a stripped VLAN tag after the SLL header. */
    p.n = 0;
    put_sll(&p, 0x8100);
    put_vlan(&p, 7, 0x0800);
    ip = put_ipv4(&p, 6, 0, 0);
    put_tcp(&p, 0);
    put_payload(&p, 3);
    finish_ipv4(&p, ip);
    r = decode_full(d, LT_LINUX_SLL, &p);
    assert_tcp(&r, 4, SLL + VLAN + IP4 + TCP, 3, 3);
    ck_assert_uint_eq(gw_decoder_stats(d)->vlan, 1);
    free(r.buf);
    gw_decoder_destroy(d);
}
END_TEST

START_TEST(test_linux_sll2)
{
    struct pkt p = { .n = 0 };
    put_sll2(&p, 0x86dd);
    size_t ip = put_ipv6(&p, 6);
    put_tcp(&p, 3);
    put_payload(&p, 21);
    finish_ipv6(&p, ip);
    struct gw_decoder *d = gw_decoder_create();
    struct run r = decode_full(d, LT_LINUX_SLL2, &p);
    assert_tcp(&r, 6, SLL2 + IP6 + TCP + 12, 21, 21);
    free(r.buf);

    p.n = 0;
    put_sll2(&p, 0x0800);
    ip = put_ipv4(&p, 6, 0, 0);
    put_tcp(&p, 0);
    put_payload(&p, 1);
    finish_ipv4(&p, ip);
    r = decode_full(d, LT_LINUX_SLL2, &p);
    assert_tcp(&r, 4, SLL2 + IP4 + TCP, 1, 1);
    free(r.buf);

    /* SLL2 with a non-IP protocol (ARP) is not TCP. */
    p.n = 0;
    put_sll2(&p, 0x0806);
    put_fill(&p, 28, 0);
    ck_assert_int_eq(result_full(LT_LINUX_SLL2, &p), GW_DECODE_OTHER);
    gw_decoder_destroy(d);
}
END_TEST

static void check_af(int linktype, uint32_t af, int big_endian, int family)
{
    struct pkt p = { .n = 0 };
    put_af(&p, af, big_endian);
    size_t ip = family == 4 ? put_ipv4(&p, 6, 0, 0) : put_ipv6(&p, 6);
    put_tcp(&p, 0);
    put_payload(&p, 6);
    if (family == 4) finish_ipv4(&p, ip);
    else finish_ipv6(&p, ip);
    struct gw_decoder *d = gw_decoder_create();
    struct run r = decode_full(d, linktype, &p);
    assert_tcp(&r, family, AFH + (family == 4 ? IP4 : IP6) + TCP, 6, 6);
    free(r.buf);
    gw_decoder_destroy(d);
}

START_TEST(test_null_and_loop_families)
{
    /* AF_INET6: Linux 10, NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30. */
    static const uint32_t inet6[] = { 10, 24, 28, 30 };
    static const int linktypes[] = { LT_NULL, LT_LOOP };
    for (size_t l = 0; l < 2; l++) {
        for (int be = 0; be <= 1; be++) {
            check_af(linktypes[l], 2, be, 4);
            for (size_t i = 0; i < GW_ARRAY_LEN(inet6); i++) check_af(linktypes[l], inet6[i], be, 6);
        }
    }
}
END_TEST

START_TEST(test_null_unknown_family_and_mismatch)
{
    struct pkt p = { .n = 0 };
    put_af(&p, 7, 0); /* AF_ISO-ish: not IP */
    put_fill(&p, 40, 0x45);
    ck_assert_int_eq(result_full(LT_NULL, &p), GW_DECODE_UNSUPPORTED);

    /* Family says IPv4, packet is IPv6: the version check catches it. */
    p.n = 0;
    put_af(&p, 2, 1);
    size_t ip = put_ipv6(&p, 6);
    put_tcp(&p, 0);
    finish_ipv6(&p, ip);
    ck_assert_int_eq(result_full(LT_LOOP, &p), GW_DECODE_MALFORMED);
}
END_TEST

START_TEST(test_raw_link_types)
{
    static const int raw[] = { LT_RAW, LT_RAW_OPENBSD, LT_LINKTYPE_RAW };
    for (size_t i = 0; i < GW_ARRAY_LEN(raw); i++) {
        struct pkt p = { .n = 0 };
        size_t ip = put_ipv4(&p, 6, 0, 0);
        put_tcp(&p, 0);
        put_payload(&p, 8);
        finish_ipv4(&p, ip);
        struct gw_decoder *d = gw_decoder_create();
        struct run r = decode_full(d, raw[i], &p);
        assert_tcp(&r, 4, IP4 + TCP, 8, 8);
        free(r.buf);

        p.n = 0;
        ip = put_ipv6(&p, 6);
        put_tcp(&p, 0);
        put_payload(&p, 8);
        finish_ipv6(&p, ip);
        r = decode_full(d, raw[i], &p);
        assert_tcp(&r, 6, IP6 + TCP, 8, 8);
        free(r.buf);

        p.b[0] = 0x50; /* version 5 */
        ck_assert_int_eq(result_full(raw[i], &p), GW_DECODE_MALFORMED);
        gw_decoder_destroy(d);
    }
}
END_TEST

START_TEST(test_ipv4_ipv6_link_types)
{
    struct pkt p4 = { .n = 0 }, p6 = { .n = 0 };
    size_t ip = put_ipv4(&p4, 6, 0, 0);
    put_tcp(&p4, 0);
    put_payload(&p4, 2);
    finish_ipv4(&p4, ip);
    ip = put_ipv6(&p6, 6);
    put_tcp(&p6, 0);
    put_payload(&p6, 2);
    finish_ipv6(&p6, ip);

    struct gw_decoder *d = gw_decoder_create();
    struct run r = decode_full(d, LT_IPV4, &p4);
    assert_tcp(&r, 4, IP4 + TCP, 2, 2);
    free(r.buf);
    r = decode_full(d, LT_IPV6, &p6);
    assert_tcp(&r, 6, IP6 + TCP, 2, 2);
    free(r.buf);
    gw_decoder_destroy(d);

    /* Each link type insists on its own version. */
    ck_assert_int_eq(result_full(LT_IPV4, &p6), GW_DECODE_MALFORMED);
    ck_assert_int_eq(result_full(LT_IPV6, &p4), GW_DECODE_MALFORMED);
}
END_TEST

START_TEST(test_unknown_linktype)
{
    struct pkt p;
    build_eth_v4(&p, 4);
    ck_assert_int_eq(result_full(105, &p), GW_DECODE_UNSUPPORTED); /* IEEE 802.11 */
    ck_assert_int_eq(result_full(147, &p), GW_DECODE_UNSUPPORTED); /* USER0 */
    ck_assert_int_eq(result_full(-1, &p), GW_DECODE_UNSUPPORTED);
    struct gw_decoder *d = gw_decoder_create();
    struct run r = decode_full(d, 9999, &p);
    ck_assert_int_eq(r.result, GW_DECODE_UNSUPPORTED);
    ck_assert_uint_eq(gw_decoder_stats(d)->unsupported, 1);
    free(r.buf);
    gw_decoder_destroy(d);
}
END_TEST

/* ---- IPv4 ----------------------------------------------------------------- */

START_TEST(test_ipv4_options_and_tcp_options)
{
    struct pkt p = { .n = 0 };
    put_eth(&p, 0x0800);
    size_t ip = put_ipv4(&p, 6, 3, 0);   /* IHL 8: 12 option bytes */
    put_tcp(&p, 5);                      /* data offset 10: 20 option bytes */
    put_payload(&p, 40);
    finish_ipv4(&p, ip);
    struct gw_decoder *d = gw_decoder_create();
    struct run r = decode_full(d, LT_EN10MB, &p);
    assert_tcp(&r, 4, ETH + IP4 + 12 + TCP + 20, 40, 40);
    free(r.buf);

    /* Maximum IHL (15 -> 40 option bytes) and maximum data offset (15). */
    p.n = 0;
    put_eth(&p, 0x0800);
    ip = put_ipv4(&p, 6, 10, 0);
    put_tcp(&p, 10);
    put_payload(&p, 3);
    finish_ipv4(&p, ip);
    r = decode_full(d, LT_EN10MB, &p);
    assert_tcp(&r, 4, ETH + 60 + 60, 3, 3);
    free(r.buf);
    gw_decoder_destroy(d);
}
END_TEST

START_TEST(test_ethernet_trailer_ignored)
{
    /* 14 + 20 + 20 + 2 = 56 bytes: the NIC pads the frame to 60 and the
     * capture may keep the 4-byte FCS too. Neither is TCP payload. */
    struct pkt p;
    build_eth_v4(&p, 2);
    put_fill(&p, 4, 0xee);
    ck_assert_uint_eq(p.n, 60);
    struct gw_decoder *d = gw_decoder_create();
    struct run r = decode_full(d, LT_EN10MB, &p);
    assert_tcp(&r, 4, ETH + IP4 + TCP, 2, 2);
    free(r.buf);

    put_fill(&p, 4, 0x12); /* FCS */
    r = decode_full(d, LT_EN10MB, &p);
    assert_tcp(&r, 4, ETH + IP4 + TCP, 2, 2);
    free(r.buf);

    /* Zero-length payload with padding: still no payload. */
    build_eth_v4(&p, 0);
    put_fill(&p, 6, 0xee);
    r = decode_full(d, LT_EN10MB, &p);
    assert_tcp(&r, 4, ETH + IP4 + TCP, 0, 0);
    free(r.buf);

    /* IPv6 payload length bounds the segment the same way. */
    build_eth_v6(&p, 3);
    put_fill(&p, 8, 0xee);
    r = decode_full(d, LT_EN10MB, &p);
    assert_tcp(&r, 6, ETH + IP6 + TCP, 3, 3);
    free(r.buf);

    ck_assert_uint_eq(gw_decoder_stats(d)->snapped, 0);
    gw_decoder_destroy(d);
}
END_TEST

START_TEST(test_ipv4_fragments_are_other)
{
    struct gw_decoder *d = gw_decoder_create();
    /* frag field: flags (reserved, DF 0x4000, MF 0x2000) and 13-bit offset in 8-byte units */
    static const struct { uint16_t frag; int result; } cases[] = {
        { 0x2000, GW_DECODE_OTHER },       /* first fragment: MF, offset 0 */
        { 0x2000 | 185, GW_DECODE_OTHER }, /* middle fragment */
        { 185, GW_DECODE_OTHER },          /* last fragment */
        { 0x4000, GW_DECODE_TCP },         /* DF alone is not a fragment */
        { 0x0000, GW_DECODE_TCP },
    };
    uint64_t frags = 0;
    for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
        struct pkt p = { .n = 0 };
        put_eth(&p, 0x0800);
        size_t ip = put_ipv4(&p, 6, 0, cases[i].frag);
        put_tcp(&p, 0);
        put_payload(&p, 16);
        finish_ipv4(&p, ip);
        struct run r = decode_full(d, LT_EN10MB, &p);
        ck_assert_int_eq(r.result, cases[i].result);
        if (cases[i].result == GW_DECODE_OTHER) frags++;
        ck_assert_uint_eq(gw_decoder_stats(d)->fragments, frags);
        free(r.buf);
    }
    ck_assert_uint_eq(gw_decoder_stats(d)->other, 3);
    ck_assert_uint_eq(gw_decoder_stats(d)->tcp, 2);
    gw_decoder_destroy(d);
}
END_TEST

START_TEST(test_ipv4_malformed)
{
    struct pkt p;
    build_eth_v4(&p, 10);
    p.b[ETH] = 0x44; /* IHL 4 < 5 */
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_MALFORMED);

    build_eth_v4(&p, 10);
    p.b[ETH] = 0x40; /* IHL 0 */
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_MALFORMED);

    build_eth_v4(&p, 10);
    p.b[ETH] = 0x55; /* version 5 */
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_MALFORMED);

    build_eth_v4(&p, 10);
    p.b[ETH] = 0x65; /* version 6 behind an IPv4 ethertype */
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_MALFORMED);

    build_eth_v4(&p, 10);
    patch16(&p, ETH + 2, 19); /* total length < header length */
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_MALFORMED);

    build_eth_v4(&p, 10);
    patch16(&p, ETH + 2, 0);  /* zero total length */
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_MALFORMED);

    build_eth_v4(&p, 10);
    p.b[ETH] = 0x46;          /* IHL 6 (24 bytes) but total length 22 */
    patch16(&p, ETH + 2, 22);
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_MALFORMED);

    /* Total length larger than the frame although nothing was cut by the
     * snap length (caplen == wirelen): the header lies. */
    build_eth_v4(&p, 10);
    patch16(&p, ETH + 2, IP4 + TCP + 11);
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_MALFORMED);
    /* ...while the same header on a frame cut by the snap length is a snap. */
    ck_assert_int_eq(result_of(LT_EN10MB, &p, p.n, p.n + 1), GW_DECODE_TCP);

    /* IP payload too short for a TCP header. */
    build_eth_v4(&p, 10);
    patch16(&p, ETH + 2, IP4 + TCP - 1);
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_MALFORMED);
}
END_TEST

START_TEST(test_tcp_malformed)
{
    struct pkt p;
    build_eth_v4(&p, 10);
    p.b[ETH + IP4 + 12] = 0x40; /* data offset 4 */
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_MALFORMED);

    build_eth_v4(&p, 10);
    p.b[ETH + IP4 + 12] = 0x00; /* data offset 0 */
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_MALFORMED);

    /* Data offset 15 (60 bytes) but the IP payload holds 30 bytes. */
    build_eth_v4(&p, 10);
    p.b[ETH + IP4 + 12] = 0xf0;
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_MALFORMED);

    /* Same with a capture long enough to hold 60 bytes: trailer bytes must
     * not be taken for TCP options. */
    build_eth_v4(&p, 10);
    p.b[ETH + IP4 + 12] = 0xf0;
    put_fill(&p, 40, 1);
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_MALFORMED);
}
END_TEST

/* ---- IPv6 ----------------------------------------------------------------- */

START_TEST(test_ipv6_extension_chain)
{
    struct pkt p = { .n = 0 };
    put_eth(&p, 0x86dd);
    size_t ip = put_ipv6(&p, 0);       /* -> hop-by-hop */
    put_opts_hdr(&p, 60, 0);           /* HBH, 8 bytes -> dest opts */
    put_opts_hdr(&p, 43, 1);           /* dest opts, 16 bytes -> routing */
    put_routing_hdr(&p, 60, 2);        /* routing, 24 bytes -> dest opts */
    put_opts_hdr(&p, 6, 0);            /* dest opts, 8 bytes -> TCP */
    put_tcp(&p, 3);
    put_payload(&p, 77);
    finish_ipv6(&p, ip);
    struct gw_decoder *d = gw_decoder_create();
    struct run r = decode_full(d, LT_EN10MB, &p);
    assert_tcp(&r, 6, ETH + IP6 + 8 + 16 + 24 + 8 + TCP + 12, 77, 77);
    free(r.buf);
    gw_decoder_destroy(d);
}
END_TEST

START_TEST(test_ipv6_ah_and_atomic_fragment)
{
    struct pkt p = { .n = 0 };
    put_eth(&p, 0x86dd);
    size_t ip = put_ipv6(&p, 0);
    put_opts_hdr(&p, 44, 0);           /* HBH 8 -> fragment */
    put_frag_hdr(&p, 51, 0, 0);        /* atomic fragment (RFC 6946), 8 -> AH */
    put_ah_hdr(&p, 6, 4);              /* AH (4+2)*4 = 24 -> TCP */
    put_tcp(&p, 0);
    put_payload(&p, 12);
    finish_ipv6(&p, ip);
    struct gw_decoder *d = gw_decoder_create();
    struct run r = decode_full(d, LT_EN10MB, &p);
    assert_tcp(&r, 6, ETH + IP6 + 8 + 8 + 24 + TCP, 12, 12);
    ck_assert_uint_eq(gw_decoder_stats(d)->fragments, 0);
    free(r.buf);
    gw_decoder_destroy(d);
}
END_TEST

START_TEST(test_ipv6_fragments_are_other)
{
    static const struct { uint16_t offset; int more; } frags[] = { { 0, 1 }, { 100, 1 }, { 100, 0 } };
    struct gw_decoder *d = gw_decoder_create();
    for (size_t i = 0; i < GW_ARRAY_LEN(frags); i++) {
        struct pkt p = { .n = 0 };
        put_eth(&p, 0x86dd);
        size_t ip = put_ipv6(&p, 44);
        put_frag_hdr(&p, 6, frags[i].offset, frags[i].more);
        put_tcp(&p, 0);
        put_payload(&p, 30);
        finish_ipv6(&p, ip);
        struct run r = decode_full(d, LT_EN10MB, &p);
        ck_assert_int_eq(r.result, GW_DECODE_OTHER);
        ck_assert_uint_eq(gw_decoder_stats(d)->fragments, i + 1);
        free(r.buf);
    }
    ck_assert_uint_eq(gw_decoder_stats(d)->other, 3);
    gw_decoder_destroy(d);
}
END_TEST

START_TEST(test_ipv6_no_next_and_others)
{
    struct pkt p = { .n = 0 };
    put_eth(&p, 0x86dd);
    size_t ip = put_ipv6(&p, 59);     /* no next header */
    finish_ipv6(&p, ip);
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_OTHER);

    p.n = 0;
    put_eth(&p, 0x86dd);
    ip = put_ipv6(&p, 60);
    put_opts_hdr(&p, 59, 0);          /* dest opts -> no next header */
    finish_ipv6(&p, ip);
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_OTHER);

    p.n = 0;
    put_eth(&p, 0x86dd);
    ip = put_ipv6(&p, 58);            /* ICMPv6 echo request */
    put8(&p, 128); put8(&p, 0); put16(&p, 0); put32(&p, 1);
    finish_ipv6(&p, ip);
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_OTHER);

    p.n = 0;
    put_eth(&p, 0x86dd);
    ip = put_ipv6(&p, 0);
    put_opts_hdr(&p, 17, 0);          /* HBH -> UDP */
    put16(&p, 5353); put16(&p, 5353); put16(&p, 8); put16(&p, 0);
    finish_ipv6(&p, ip);
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_OTHER);
}
END_TEST

static void build_v6_dstopts_chain(struct pkt *p, int count)
{
    p->n = 0;
    put_eth(p, 0x86dd);
    size_t ip = put_ipv6(p, 60);
    for (int i = 0; i < count; i++) put_opts_hdr(p, i + 1 < count ? 60 : 6, 0);
    put_tcp(p, 0);
    put_payload(p, 4);
    finish_ipv6(p, ip);
}

START_TEST(test_ipv6_extension_header_cap)
{
    struct pkt p;
    build_v6_dstopts_chain(&p, 16);
    struct gw_decoder *d = gw_decoder_create();
    struct run r = decode_full(d, LT_EN10MB, &p);
    assert_tcp(&r, 6, ETH + IP6 + 16 * 8 + TCP, 4, 4);
    free(r.buf);
    gw_decoder_destroy(d);

    build_v6_dstopts_chain(&p, 17);
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_UNSUPPORTED);
}
END_TEST

START_TEST(test_ipv6_malformed)
{
    struct pkt p;
    build_eth_v6(&p, 10);
    p.b[ETH] = 0x40; /* version 4 behind the IPv6 ethertype */
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_MALFORMED);

    build_eth_v6(&p, 10);
    p.b[ETH] = 0x70; /* version 7 */
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_MALFORMED);

    /* Payload length larger than the whole (uncut) frame. */
    build_eth_v6(&p, 10);
    patch16(&p, ETH + 4, TCP + 11);
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_MALFORMED);

    /* Payload length too short for the TCP header. */
    build_eth_v6(&p, 10);
    patch16(&p, ETH + 4, TCP - 1);
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_MALFORMED);

    /* Extension header longer than the payload length allows, in a frame
     * long enough that only the payload length can tell. */
    p.n = 0;
    put_eth(&p, 0x86dd);
    size_t ip = put_ipv6(&p, 60);
    put_opts_hdr(&p, 6, 0);
    put_tcp(&p, 0);
    finish_ipv6(&p, ip);
    p.b[ETH + IP6 + 1] = 200;          /* claims (200+1)*8 bytes */
    put_fill(&p, 2000, 0);
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_MALFORMED);
}
END_TEST

/* ---- non-TCP and non-IP ----------------------------------------------------- */

START_TEST(test_not_tcp_is_other)
{
    struct pkt p = { .n = 0 };
    put_eth(&p, 0x0800);
    size_t ip = put_ipv4(&p, 17, 0, 0); /* UDP */
    put16(&p, 53); put16(&p, 53); put16(&p, 12); put16(&p, 0);
    put_fill(&p, 4, 0);
    finish_ipv4(&p, ip);
    struct gw_decoder *d = gw_decoder_create();
    struct run r = decode_full(d, LT_EN10MB, &p);
    ck_assert_int_eq(r.result, GW_DECODE_OTHER);
    ck_assert_uint_eq(gw_decoder_stats(d)->other, 1);
    ck_assert_uint_eq(gw_decoder_stats(d)->ipv4, 1);
    free(r.buf);
    gw_decoder_destroy(d);

    p.n = 0;
    put_eth(&p, 0x0800);
    ip = put_ipv4(&p, 1, 0, 0);         /* ICMP */
    put8(&p, 8); put8(&p, 0); put16(&p, 0); put32(&p, 1);
    finish_ipv4(&p, ip);
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_OTHER);

    p.n = 0;
    put_eth(&p, 0x0806);                /* ARP request */
    put16(&p, 1); put16(&p, 0x0800); put8(&p, 6); put8(&p, 4); put16(&p, 1);
    put_fill(&p, 20, 0);
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_OTHER);

    p.n = 0;
    put_eth(&p, 0x88cc);                /* LLDP */
    put_fill(&p, 30, 0);
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_OTHER);

    /* IEEE 802.3 length field instead of an ethertype (LLC/STP). */
    p.n = 0;
    put_eth(&p, 38);
    put8(&p, 0x42); put8(&p, 0x42); put8(&p, 0x03);
    put_fill(&p, 35, 0);
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_OTHER);
    patch16(&p, 12, 1500);
    ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_OTHER);
}
END_TEST

START_TEST(test_unknown_ethertype_unsupported)
{
    static const uint16_t types[] = { 0x88b5, 0x8847 /* MPLS */, 0x8864 /* PPPoE */, 0x05dd };
    for (size_t i = 0; i < GW_ARRAY_LEN(types); i++) {
        struct pkt p = { .n = 0 };
        put_eth(&p, types[i]);
        put_fill(&p, 46, 0x45);
        ck_assert_int_eq(result_full(LT_EN10MB, &p), GW_DECODE_UNSUPPORTED);
    }
}
END_TEST

/* ---- snap length and truncation ------------------------------------------- */

START_TEST(test_snapped_payload)
{
    struct pkt p;
    build_eth_v4(&p, 100);
    size_t hdr = ETH + IP4 + TCP;
    struct gw_decoder *d = gw_decoder_create();
    struct run r = decode_cut(d, LT_EN10MB, &p, hdr + 30, p.n);
    assert_tcp(&r, 4, hdr, 30, 100);
    ck_assert_uint_eq(gw_decoder_stats(d)->snapped, 1);
    free(r.buf);

    /* Cut exactly after the TCP header: no payload captured. */
    r = decode_cut(d, LT_EN10MB, &p, hdr, p.n);
    assert_tcp(&r, 4, hdr, 0, 100);
    ck_assert_uint_eq(gw_decoder_stats(d)->snapped, 2);
    free(r.buf);

    /* Whole packet: not snapped. */
    r = decode_full(d, LT_EN10MB, &p);
    assert_tcp(&r, 4, hdr, 100, 100);
    ck_assert_uint_eq(gw_decoder_stats(d)->snapped, 2);
    ck_assert_uint_eq(gw_decoder_stats(d)->tcp, 3);
    free(r.buf);

    build_eth_v6(&p, 64);
    r = decode_cut(d, LT_EN10MB, &p, ETH + IP6 + TCP + 1, p.n);
    assert_tcp(&r, 6, ETH + IP6 + TCP, 1, 64);
    ck_assert_uint_eq(gw_decoder_stats(d)->snapped, 3);
    free(r.buf);
    gw_decoder_destroy(d);
}
END_TEST

START_TEST(test_tcp_header_cut_truncated)
{
    struct pkt p = { .n = 0 };
    put_eth(&p, 0x0800);
    size_t ip = put_ipv4(&p, 6, 0, 0);
    put_tcp(&p, 3);
    put_payload(&p, 50);
    finish_ipv4(&p, ip);
    struct gw_decoder *d = gw_decoder_create();
    /* Inside the options, then inside the fixed header. */
    struct run r = decode_cut(d, LT_EN10MB, &p, ETH + IP4 + TCP + 8, p.n);
    ck_assert_int_eq(r.result, GW_DECODE_TRUNCATED);
    free(r.buf);
    r = decode_cut(d, LT_EN10MB, &p, ETH + IP4 + 13, p.n);
    ck_assert_int_eq(r.result, GW_DECODE_TRUNCATED);
    free(r.buf);
    const struct gw_decode_stats *st = gw_decoder_stats(d);
    ck_assert_uint_eq(st->truncated, 2);
    ck_assert_uint_eq(st->tcp, 0);
    ck_assert_uint_eq(st->snapped, 0);
    gw_decoder_destroy(d);
}
END_TEST

/* Decodes p cut at every caplen from 0 to p->n (wirelen p->n): headers end
 * at hdr_end and the IP datagram at ip_end (<= p->n; the rest is trailer).
 * Every cut inside the headers is TRUNCATED, every other one TCP with the
 * captured part of the payload. */
static void sweep(int linktype, const struct pkt *p, size_t hdr_end, size_t ip_end)
{
    struct gw_decoder *d = gw_decoder_create();
    uint64_t snapped = 0;
    for (size_t caplen = 0; caplen <= p->n; caplen++) {
        struct run r = decode_cut(d, linktype, p, caplen, p->n);
        if (caplen < hdr_end) {
            ck_assert_msg(r.result == GW_DECODE_TRUNCATED, "caplen %zu: result %s", caplen,
                          gw_decode_result_str(r.result));
        } else {
            size_t got = GW_MIN(caplen, ip_end) - hdr_end;
            ck_assert_msg(r.result == GW_DECODE_TCP, "caplen %zu", caplen);
            ck_assert_ptr_eq(r.seg.payload, r.buf + hdr_end);
            ck_assert_uint_eq(r.seg.payload_len, got);
            ck_assert_uint_eq(r.seg.payload_wire_len, ip_end - hdr_end);
            ck_assert_uint_eq(r.seg.seq, SEQ);
            if (got < ip_end - hdr_end) snapped++;
        }
        free(r.buf);
    }
    const struct gw_decode_stats *st = gw_decoder_stats(d);
    ck_assert_uint_eq(st->packets, p->n + 1);
    ck_assert_uint_eq(st->truncated, hdr_end);
    ck_assert_uint_eq(st->tcp, p->n + 1 - hdr_end);
    ck_assert_uint_eq(st->snapped, snapped);
    ck_assert_uint_eq(st->malformed + st->other + st->unsupported, 0);
    gw_decoder_destroy(d);
}

START_TEST(test_truncation_sweep_ethernet_qinq_v4)
{
    struct pkt p = { .n = 0 };
    put_eth(&p, 0x88a8);
    put_vlan(&p, 10, 0x8100);
    put_vlan(&p, 20, 0x0800);
    size_t ip = put_ipv4(&p, 6, 2, 0);
    put_tcp(&p, 3);
    put_payload(&p, 25);
    finish_ipv4(&p, ip);
    sweep(LT_EN10MB, &p, ETH + 2 * VLAN + IP4 + 8 + TCP + 12, p.n);
}
END_TEST

START_TEST(test_truncation_sweep_ethernet_trailer)
{
    struct pkt p;
    build_eth_v4(&p, 3);
    size_t ip_end = p.n;
    put_fill(&p, 7, 0xee);
    sweep(LT_EN10MB, &p, ETH + IP4 + TCP, ip_end);
}
END_TEST

START_TEST(test_truncation_sweep_sll2_v6_chain)
{
    struct pkt p = { .n = 0 };
    put_sll2(&p, 0x86dd);
    size_t ip = put_ipv6(&p, 0);
    put_opts_hdr(&p, 43, 1);
    put_routing_hdr(&p, 44, 0);
    put_frag_hdr(&p, 51, 0, 0);
    put_ah_hdr(&p, 60, 4);
    put_opts_hdr(&p, 6, 0);
    put_tcp(&p, 2);
    put_payload(&p, 19);
    finish_ipv6(&p, ip);
    sweep(LT_LINUX_SLL2, &p, SLL2 + IP6 + 16 + 8 + 8 + 24 + 8 + TCP + 8, p.n);
}
END_TEST

START_TEST(test_truncation_sweep_other_links)
{
    struct pkt p = { .n = 0 };
    put_sll(&p, 0x0800);
    size_t ip = put_ipv4(&p, 6, 0, 0);
    put_tcp(&p, 0);
    put_payload(&p, 9);
    finish_ipv4(&p, ip);
    sweep(LT_LINUX_SLL, &p, SLL + IP4 + TCP, p.n);

    p.n = 0;
    put_af(&p, 30, 0);
    ip = put_ipv6(&p, 6);
    put_tcp(&p, 1);
    put_payload(&p, 9);
    finish_ipv6(&p, ip);
    sweep(LT_NULL, &p, AFH + IP6 + TCP + 4, p.n);

    p.n = 0;
    put_af(&p, 2, 1);
    ip = put_ipv4(&p, 6, 1, 0);
    put_tcp(&p, 0);
    put_payload(&p, 9);
    finish_ipv4(&p, ip);
    sweep(LT_LOOP, &p, AFH + IP4 + 4 + TCP, p.n);

    p.n = 0;
    ip = put_ipv6(&p, 6);
    put_tcp(&p, 0);
    put_payload(&p, 9);
    finish_ipv6(&p, ip);
    sweep(LT_LINKTYPE_RAW, &p, IP6 + TCP, p.n);
    sweep(LT_IPV6, &p, IP6 + TCP, p.n);
}
END_TEST

/* Random mutations of valid packets, on exact-size buffers: whatever the
 * bytes, the decoder stays inside the buffer (ASan) and its output is
 * self-consistent. Deterministic: fixed-seed xorshift. */
static uint32_t xorshift32(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

START_TEST(test_mutations_stay_in_bounds)
{
    struct pkt base[4];
    static const int lts[4] = { LT_EN10MB, LT_LINUX_SLL2, LT_NULL, LT_RAW };
    base[0].n = 0;
    put_eth(&base[0], 0x8100);
    put_vlan(&base[0], 1, 0x0800);
    size_t ip = put_ipv4(&base[0], 6, 1, 0);
    put_tcp(&base[0], 3);
    put_payload(&base[0], 20);
    finish_ipv4(&base[0], ip);
    base[1].n = 0;
    put_sll2(&base[1], 0x86dd);
    ip = put_ipv6(&base[1], 0);
    put_opts_hdr(&base[1], 44, 0);
    put_frag_hdr(&base[1], 6, 0, 0);
    put_tcp(&base[1], 1);
    put_payload(&base[1], 20);
    finish_ipv6(&base[1], ip);
    base[2].n = 0;
    put_af(&base[2], 24, 0);
    ip = put_ipv6(&base[2], 6);
    put_tcp(&base[2], 0);
    put_payload(&base[2], 20);
    finish_ipv6(&base[2], ip);
    base[3].n = 0;
    ip = put_ipv4(&base[3], 6, 0, 0);
    put_tcp(&base[3], 0);
    put_payload(&base[3], 20);
    finish_ipv4(&base[3], ip);

    struct gw_decoder *d = gw_decoder_create();
    uint32_t seed = 0x9e3779b9u;
    for (int iter = 0; iter < 20000; iter++) {
        size_t k = (size_t)iter % 4;
        struct pkt p = base[k];
        int flips = 1 + (int)(xorshift32(&seed) % 4);
        for (int f = 0; f < flips; f++)
            p.b[xorshift32(&seed) % p.n] = (uint8_t)xorshift32(&seed);
        size_t caplen = xorshift32(&seed) % (p.n + 1);
        size_t wirelen = caplen + xorshift32(&seed) % 3 * (xorshift32(&seed) % 64);
        struct run r = decode_cut(d, lts[k], &p, caplen, wirelen);
        ck_assert_int_ge(r.result, GW_DECODE_TCP);
        ck_assert_int_le(r.result, GW_DECODE_UNSUPPORTED);
        if (r.result == GW_DECODE_TCP) {
            ck_assert(r.seg.payload >= r.buf && r.seg.payload <= r.buf + caplen);
            ck_assert_uint_le((size_t)(r.seg.payload - r.buf) + r.seg.payload_len, caplen);
            ck_assert_uint_le(r.seg.payload_len, r.seg.payload_wire_len);
            ck_assert(r.seg.src.family == 4 || r.seg.src.family == 6);
        }
        free(r.buf);
    }
    const struct gw_decode_stats *st = gw_decoder_stats(d);
    ck_assert_uint_eq(st->packets, 20000);
    assert_stats_sum(st);
    ck_assert_uint_gt(st->tcp, 0); /* the mutations do not all miss */
    gw_decoder_destroy(d);
}
END_TEST

/* ---- API odds and ends ------------------------------------------------------ */

START_TEST(test_stats_accounting)
{
    struct gw_decoder *d = gw_decoder_create();
    ck_assert_ptr_nonnull(d);
    const struct gw_decode_stats *st = gw_decoder_stats(d);
    ck_assert_uint_eq(st->packets, 0);

    struct pkt v4, v6, vl;
    build_eth_v4(&v4, 10);
    build_eth_v6(&v6, 10);
    vl.n = 0;
    put_eth(&vl, 0x8100);
    put_vlan(&vl, 3, 0x0806);
    put_fill(&vl, 28, 0);

    struct run r[6];
    r[0] = decode_full(d, LT_EN10MB, &v4);                 /* tcp, ipv4 */
    r[1] = decode_full(d, LT_EN10MB, &v6);                 /* tcp, ipv6 */
    r[2] = decode_cut(d, LT_EN10MB, &v4, ETH + 3, v4.n);   /* truncated */
    r[3] = decode_full(d, LT_EN10MB, &vl);                 /* other, vlan */
    r[4] = decode_full(d, 4242, &v4);                      /* unsupported */
    r[5] = decode_cut(d, LT_EN10MB, &v6, ETH + IP6 + TCP + 2, v6.n); /* tcp, snapped, ipv6 */
    for (int i = 0; i < 6; i++) free(r[i].buf);

    ck_assert_uint_eq(st->packets, 6);
    ck_assert_uint_eq(st->tcp, 3);
    ck_assert_uint_eq(st->truncated, 1);
    ck_assert_uint_eq(st->other, 1);
    ck_assert_uint_eq(st->unsupported, 1);
    ck_assert_uint_eq(st->malformed, 0);
    ck_assert_uint_eq(st->vlan, 1);
    ck_assert_uint_eq(st->ipv4, 1);
    ck_assert_uint_eq(st->ipv6, 2);
    ck_assert_uint_eq(st->snapped, 1);
    ck_assert_uint_eq(st->fragments, 0);
    assert_stats_sum(st);
    gw_decoder_destroy(d);
}
END_TEST

START_TEST(test_null_data_and_api)
{
    struct gw_decoder *d = gw_decoder_create();
    struct gw_packet pkt = { .ts = TS, .linktype = LT_EN10MB, .data = NULL, .caplen = 0, .wirelen = 60 };
    struct gw_segment seg;
    ck_assert_int_eq(gw_decoder_decode(d, &pkt, &seg), GW_DECODE_TRUNCATED);
    ck_assert(seg.ts == TS);
    ck_assert_uint_eq(gw_decoder_stats(d)->truncated, 1);
    ck_assert_ptr_null(gw_decoder_stats(NULL));
    gw_decoder_destroy(d);
    gw_decoder_destroy(NULL);
}
END_TEST

START_TEST(test_result_names)
{
    const char *names[5];
    for (int i = GW_DECODE_TCP; i <= GW_DECODE_UNSUPPORTED; i++) {
        names[i] = gw_decode_result_str(i);
        ck_assert_ptr_nonnull(names[i]);
        ck_assert_uint_gt(strlen(names[i]), 0);
        for (int j = 0; j < i; j++) ck_assert_str_ne(names[i], names[j]);
    }
    ck_assert_str_eq(gw_decode_result_str(GW_DECODE_TCP), "tcp");
    ck_assert_str_eq(gw_decode_result_str(GW_DECODE_TRUNCATED), "truncated");
    ck_assert_ptr_nonnull(gw_decode_result_str(-3));
    ck_assert_ptr_nonnull(gw_decode_result_str(99));
    ck_assert_str_ne(gw_decode_result_str(99), "tcp");
}
END_TEST

static Suite *decode_suite(void)
{
    Suite *s = suite_create("decode");
    TCase *link = tcase_create("link");
    tcase_add_test(link, test_ethernet_ipv4);
    tcase_add_test(link, test_ethernet_ipv6);
    tcase_add_test(link, test_tcp_flags_and_empty_payload);
    tcase_add_test(link, test_vlan_single);
    tcase_add_test(link, test_vlan_qinq_88a8);
    tcase_add_test(link, test_vlan_9100);
    tcase_add_test(link, test_vlan_eight_deep_ok_nine_unsupported);
    tcase_add_test(link, test_vlan_inner_ipv6);
    tcase_add_test(link, test_linux_sll);
    tcase_add_test(link, test_linux_sll2);
    tcase_add_test(link, test_null_and_loop_families);
    tcase_add_test(link, test_null_unknown_family_and_mismatch);
    tcase_add_test(link, test_raw_link_types);
    tcase_add_test(link, test_ipv4_ipv6_link_types);
    tcase_add_test(link, test_unknown_linktype);
    tcase_add_test(link, test_not_tcp_is_other);
    tcase_add_test(link, test_unknown_ethertype_unsupported);
    suite_add_tcase(s, link);

    TCase *ip = tcase_create("ip");
    tcase_add_test(ip, test_ipv4_options_and_tcp_options);
    tcase_add_test(ip, test_ethernet_trailer_ignored);
    tcase_add_test(ip, test_ipv4_fragments_are_other);
    tcase_add_test(ip, test_ipv4_malformed);
    tcase_add_test(ip, test_tcp_malformed);
    tcase_add_test(ip, test_ipv6_extension_chain);
    tcase_add_test(ip, test_ipv6_ah_and_atomic_fragment);
    tcase_add_test(ip, test_ipv6_fragments_are_other);
    tcase_add_test(ip, test_ipv6_no_next_and_others);
    tcase_add_test(ip, test_ipv6_extension_header_cap);
    tcase_add_test(ip, test_ipv6_malformed);
    suite_add_tcase(s, ip);

    TCase *cut = tcase_create("truncation");
    tcase_add_test(cut, test_snapped_payload);
    tcase_add_test(cut, test_tcp_header_cut_truncated);
    tcase_add_test(cut, test_truncation_sweep_ethernet_qinq_v4);
    tcase_add_test(cut, test_truncation_sweep_ethernet_trailer);
    tcase_add_test(cut, test_truncation_sweep_sll2_v6_chain);
    tcase_add_test(cut, test_truncation_sweep_other_links);
    tcase_add_test(cut, test_mutations_stay_in_bounds);
    suite_add_tcase(s, cut);

    TCase *api = tcase_create("api");
    tcase_add_test(api, test_stats_accounting);
    tcase_add_test(api, test_null_data_and_api);
    tcase_add_test(api, test_result_names);
    suite_add_tcase(s, api);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(decode_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
