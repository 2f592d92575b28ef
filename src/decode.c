/*
 * decode.c - link layer, IPv4/IPv6 and TCP header decoding: one captured
 * packet in, one TCP segment view out.
 *
 * Invariants:
 *  - Every read goes through a gw_cursor bounded by caplen, and inside an IP
 *    datagram by min(IP length, captured bytes): nothing past the buffer is
 *    read whatever the headers claim, and link trailers (Ethernet padding,
 *    FCS) after the IP length are never taken for payload.
 *  - Two lengths are tracked inside a datagram: what the IP header says it
 *    carried ("wire") and what was captured. A header that does not fit the
 *    wire length is MALFORMED; one that fits it but not the capture is
 *    TRUNCATED. An IP length larger than the frame on the wire (caplen and
 *    wirelen both say the frame ended earlier) is MALFORMED, not snapped.
 *  - Payload is never copied; gw_segment.payload points into pkt->data.
 *  - Every call counts the packet once in `packets` and once in exactly one
 *    result counter (tcp, other, truncated, malformed, unsupported). `vlan`
 *    counts packets with at least one tag, `ipv4`/`ipv6` packets whose IP
 *    header was complete and valid, `fragments` IP fragments, `snapped` TCP
 *    segments whose payload was cut by the snap length.
 *  - No allocation after gw_decoder_create; no state besides the counters.
 *  - Checksums are not verified: captures taken on the sending host see
 *    checksum-offloaded packets whose checksums are not filled in yet.
 */
#include "grpcwatch/decode.h"

#include <stdlib.h>

#include "grpcwatch/cursor.h"

/* Link types: DLT values from pcap/dlt.h and the LINKTYPE_ values that
 * differ. Spelled out so the decoder does not depend on the platform's
 * choice for DLT_RAW (12 on most systems, 14 on OpenBSD). */
enum {
    LT_NULL = 0, LT_EN10MB = 1, LT_RAW_12 = 12, LT_RAW_14 = 14,
    LT_LINKTYPE_RAW = 101, LT_LOOP = 108, LT_LINUX_SLL = 113,
    LT_IPV4 = 228, LT_IPV6 = 229, LT_LINUX_SLL2 = 276
};

enum {
    ETH_HDR_LEN = 14, VLAN_TAG_LEN = 4, SLL_HDR_LEN = 16, SLL2_HDR_LEN = 20,
    IPV4_MIN_HDR = 20, IPV6_HDR_LEN = 40, TCP_MIN_HDR = 20,
    IPV6_FRAG_HDR_LEN = 8
};

enum {
    ETHERTYPE_IPV4 = 0x0800, ETHERTYPE_IPV6 = 0x86dd,
    ETHERTYPE_VLAN = 0x8100, ETHERTYPE_QINQ = 0x88a8, ETHERTYPE_QINQ_OLD = 0x9100,
    ETHERTYPE_MAX_8023_LEN = 1500 /* values up to this are an 802.3 length */
};

enum {
    IPPROTO_NUM_HOPOPTS = 0, IPPROTO_NUM_TCP = 6, IPPROTO_NUM_ROUTING = 43,
    IPPROTO_NUM_FRAGMENT = 44, IPPROTO_NUM_AH = 51, IPPROTO_NUM_NONE = 59,
    IPPROTO_NUM_DSTOPTS = 60
};

/* Hostile input can stack tags or extension headers without end; real
 * traffic uses a handful. Past these caps a packet is UNSUPPORTED. */
#define MAX_VLAN_TAGS 8
#define MAX_IPV6_EXT_HDRS 16

#define IPV4_MF 0x2000u
#define IPV4_FRAG_OFFSET_MASK 0x1fffu

/* Internal "keep going" value, distinct from every gw_decode_result. */
#define STEP_OK (-1)

struct gw_decoder {
    struct gw_decode_stats stats;
};

/* Per-call state handed down the layers. */
struct decode_ctx {
    struct gw_decode_stats *st;
    struct gw_segment *out;
    size_t frame_wire_len; /* bytes of the frame on the wire: max(caplen, wirelen) */
};

/* The bytes an IP header says follow it. cap covers the captured part only;
 * wire is the length the IP header announced (always >= cap.n). */
struct ip_body {
    struct gw_cursor cap;
    size_t wire;
};

/* Ethertypes that never carry IP: OTHER rather than UNSUPPORTED, so the
 * unsupported counter points at traffic that may hide TCP (MPLS, PPPoE...). */
static const uint16_t non_ip_ethertypes[] = {
    0x0806, /* ARP */
    0x0842, /* Wake-on-LAN */
    0x8035, /* RARP */
    0x80f3, /* AppleTalk ARP */
    0x8137, /* IPX */
    0x8808, /* Ethernet flow control */
    0x8809, /* slow protocols (LACP) */
    0x888e, /* EAPOL */
    0x88cc, /* LLDP */
    0x88f7, /* PTP */
    0x8902, /* CFM */
    0x9000, /* configuration test protocol (loopback) */
};

/* Room for k more bytes in an IP body? The announced length is checked
 * first: a header that overruns it is malformed even when also cut short. */
static int body_need(const struct ip_body *b, size_t k)
{
    if (b->wire - b->cap.off < k) return GW_DECODE_MALFORMED;
    if (gw_cursor_left(&b->cap) < k) return GW_DECODE_TRUNCATED;
    return STEP_OK;
}

/* Splits the ip_len bytes announced by an IP header starting at ip_start
 * (header included) into the body after its hdr_len-byte header. The caller
 * has consumed the header from c. */
static int make_body(const struct decode_ctx *x, const struct gw_cursor *c, size_t ip_start,
                     size_t hdr_len, size_t ip_len, struct ip_body *b)
{
    /* The frame cannot have carried more than it had on the wire; a bigger
     * IP length is a lie, not a snap-length cut. */
    if (ip_len > x->frame_wire_len - ip_start) return GW_DECODE_MALFORMED;
    size_t captured = GW_MIN(ip_len, c->n - ip_start);
    b->cap = gw_cursor_make(c->p + ip_start + hdr_len, captured - hdr_len);
    b->wire = ip_len - hdr_len;
    return STEP_OK;
}

static void copy_addr(struct gw_addr *a, uint8_t family, const uint8_t *bytes, size_t len)
{
    a->family = family;
    for (size_t i = 0; i < len; i++) a->bytes[i] = bytes[i];
}

static int decode_tcp(struct decode_ctx *x, struct ip_body *b)
{
    int r = body_need(b, TCP_MIN_HDR);
    if (r != STEP_OK) return r;

    struct gw_segment *s = x->out;
    struct gw_cursor *c = &b->cap;
    s->sport = gw_get_be16(c);
    s->dport = gw_get_be16(c);
    s->seq = gw_get_be32(c);
    s->ack = gw_get_be32(c);
    size_t hdr_len = (size_t)(gw_get_u8(c) >> 4) * 4;
    s->flags = gw_get_u8(c);
    s->window = gw_get_be16(c);
    gw_skip(c, 4); /* checksum, urgent pointer */
    if (hdr_len < TCP_MIN_HDR) return GW_DECODE_MALFORMED;

    r = body_need(b, hdr_len - TCP_MIN_HDR);
    if (r != STEP_OK) return r;
    gw_skip(c, hdr_len - TCP_MIN_HDR); /* options: nothing later stages need */

    s->payload = gw_cursor_ptr(c);
    s->payload_len = (uint32_t)gw_cursor_left(c);
    s->payload_wire_len = (uint32_t)(b->wire - c->off);
    if (s->payload_len < s->payload_wire_len) x->st->snapped++;
    return GW_DECODE_TCP;
}

static int decode_ipv4(struct decode_ctx *x, struct gw_cursor *c)
{
    size_t start = c->off;
    uint8_t ver_ihl = gw_get_u8(c);
    gw_skip(c, 1); /* DSCP/ECN */
    size_t total_len = gw_get_be16(c);
    gw_skip(c, 2); /* identification */
    uint16_t frag = gw_get_be16(c);
    gw_skip(c, 1); /* TTL */
    uint8_t proto = gw_get_u8(c);
    gw_skip(c, 2); /* header checksum */
    const uint8_t *src = gw_get_bytes(c, 4);
    const uint8_t *dst = gw_get_bytes(c, 4);
    if (c->err) return GW_DECODE_TRUNCATED;

    size_t hdr_len = (size_t)(ver_ihl & 0x0f) * 4;
    if ((ver_ihl >> 4) != 4 || hdr_len < IPV4_MIN_HDR || total_len < hdr_len)
        return GW_DECODE_MALFORMED;
    if (!gw_skip(c, hdr_len - IPV4_MIN_HDR)) return GW_DECODE_TRUNCATED; /* options */

    struct ip_body body;
    int r = make_body(x, c, start, hdr_len, total_len, &body);
    if (r != STEP_OK) return r;
    x->st->ipv4++;
    copy_addr(&x->out->src, 4, src, 4);
    copy_addr(&x->out->dst, 4, dst, 4);

    /* Only a first fragment holds the TCP header and even it lacks the rest
     * of the segment; until fragments are reassembled none is a segment. */
    if ((frag & IPV4_MF) || (frag & IPV4_FRAG_OFFSET_MASK)) {
        x->st->fragments++;
        return GW_DECODE_OTHER;
    }
    if (proto != IPPROTO_NUM_TCP) return GW_DECODE_OTHER;
    return decode_tcp(x, &body);
}

/* Length of the extension header of type nh whose first two bytes are
 * (next header, length field), per RFC 8200 section 4 and RFC 4302 for AH. */
static size_t ipv6_ext_len(uint8_t nh, uint8_t len_field)
{
    if (nh == IPPROTO_NUM_AH) return ((size_t)len_field + 2) * 4;
    return ((size_t)len_field + 1) * 8;
}

/* Walks the extension header chain from nh to TCP. */
static int decode_ipv6_chain(struct decode_ctx *x, struct ip_body *b, uint8_t nh)
{
    for (int i = 0; i <= MAX_IPV6_EXT_HDRS; i++) {
        switch (nh) {
        case IPPROTO_NUM_TCP:
            return decode_tcp(x, b);
        case IPPROTO_NUM_HOPOPTS:
        case IPPROTO_NUM_ROUTING:
        case IPPROTO_NUM_DSTOPTS:
        case IPPROTO_NUM_AH:
        case IPPROTO_NUM_FRAGMENT: {
            int r = body_need(b, 2);
            if (r != STEP_OK) return r;
            struct gw_cursor peek = b->cap;
            uint8_t next = gw_get_u8(&peek);
            size_t len = nh == IPPROTO_NUM_FRAGMENT ? IPV6_FRAG_HDR_LEN
                                                    : ipv6_ext_len(nh, gw_get_u8(&peek));
            r = body_need(b, len);
            if (r != STEP_OK) return r;
            if (nh == IPPROTO_NUM_FRAGMENT) {
                gw_skip(&peek, 1); /* reserved */
                uint16_t off_flags = gw_get_be16(&peek);
                /* Offset 0 without M is an atomic fragment (RFC 6946): a
                 * whole packet, decoded as such. */
                if ((off_flags >> 3) != 0 || (off_flags & 1)) {
                    x->st->fragments++;
                    return GW_DECODE_OTHER;
                }
            }
            gw_skip(&b->cap, len);
            nh = next;
            break;
        }
        default: /* no next header (59), UDP, ICMPv6, ESP... */
            return GW_DECODE_OTHER;
        }
    }
    return GW_DECODE_UNSUPPORTED;
}

static int decode_ipv6(struct decode_ctx *x, struct gw_cursor *c)
{
    size_t start = c->off;
    uint32_t ver_tc_fl = gw_get_be32(c);
    size_t payload_len = gw_get_be16(c);
    uint8_t nh = gw_get_u8(c);
    gw_skip(c, 1); /* hop limit */
    const uint8_t *src = gw_get_bytes(c, 16);
    const uint8_t *dst = gw_get_bytes(c, 16);
    if (c->err) return GW_DECODE_TRUNCATED;
    if ((ver_tc_fl >> 28) != 6) return GW_DECODE_MALFORMED;

    struct ip_body body;
    int r = make_body(x, c, start, IPV6_HDR_LEN, IPV6_HDR_LEN + payload_len, &body);
    if (r != STEP_OK) return r;
    x->st->ipv6++;
    copy_addr(&x->out->src, 6, src, 16);
    copy_addr(&x->out->dst, 6, dst, 16);
    return decode_ipv6_chain(x, &body, nh);
}

/* IP by version nibble, for link types that carry bare IP. */
static int decode_ip_by_version(struct decode_ctx *x, struct gw_cursor *c)
{
    struct gw_cursor peek = *c;
    uint8_t first = gw_get_u8(&peek);
    if (peek.err) return GW_DECODE_TRUNCATED;
    switch (first >> 4) {
    case 4: return decode_ipv4(x, c);
    case 6: return decode_ipv6(x, c);
    default: return GW_DECODE_MALFORMED;
    }
}

static bool is_vlan_tpid(uint16_t type)
{
    return type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ || type == ETHERTYPE_QINQ_OLD;
}

static bool is_non_ip_ethertype(uint16_t type)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(non_ip_ethertypes); i++)
        if (non_ip_ethertypes[i] == type) return true;
    return false;
}

/* Dispatches on an ethertype (Ethernet, SLL, SLL2), peeling VLAN tags. SLL
 * gets tags too: libpcap puts the tag the kernel stripped back in. */
static int decode_ethertype(struct decode_ctx *x, struct gw_cursor *c, uint16_t type)
{
    int tags = 0;
    while (is_vlan_tpid(type)) {
        if (++tags > MAX_VLAN_TAGS) return GW_DECODE_UNSUPPORTED;
        if (tags == 1) x->st->vlan++;
        gw_skip(c, VLAN_TAG_LEN - 2); /* PCP, DEI, VLAN id */
        type = gw_get_be16(c);
        if (c->err) return GW_DECODE_TRUNCATED;
    }
    if (type == ETHERTYPE_IPV4) return decode_ipv4(x, c);
    if (type == ETHERTYPE_IPV6) return decode_ipv6(x, c);
    if (type <= ETHERTYPE_MAX_8023_LEN || is_non_ip_ethertype(type)) return GW_DECODE_OTHER;
    return GW_DECODE_UNSUPPORTED;
}

static int decode_ethernet(struct decode_ctx *x, struct gw_cursor *c)
{
    gw_skip(c, ETH_HDR_LEN - 2); /* destination and source MAC */
    uint16_t type = gw_get_be16(c);
    if (c->err) return GW_DECODE_TRUNCATED;
    return decode_ethertype(x, c, type);
}

static int decode_sll(struct decode_ctx *x, struct gw_cursor *c)
{
    gw_skip(c, SLL_HDR_LEN - 2); /* packet type, ARPHRD type, address length, address */
    uint16_t proto = gw_get_be16(c);
    if (c->err) return GW_DECODE_TRUNCATED;
    return decode_ethertype(x, c, proto);
}

static int decode_sll2(struct decode_ctx *x, struct gw_cursor *c)
{
    uint16_t proto = gw_get_be16(c);
    gw_skip(c, SLL2_HDR_LEN - 2); /* reserved, ifindex, ARPHRD, type, address */
    if (c->err) return GW_DECODE_TRUNCATED;
    return decode_ethertype(x, c, proto);
}

/* AF_INET6 differs per OS: Linux 10, NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30. */
static bool is_af_inet6(uint32_t af)
{
    return af == 10 || af == 24 || af == 28 || af == 30;
}

/* NULL and LOOP: a 4-byte address family. NULL writes it in the capturing
 * host's byte order, LOOP in network order, and files travel between hosts,
 * so both orders are accepted for both; the byte-swapped value of every
 * family we know is far out of range, so the two readings cannot collide. */
static int decode_null(struct decode_ctx *x, struct gw_cursor *c)
{
    struct gw_cursor peek = *c;
    uint32_t le = gw_get_le32(&peek);
    uint32_t be = gw_get_be32(c);
    if (c->err) return GW_DECODE_TRUNCATED;
    if (le == 2 || be == 2) return decode_ipv4(x, c);
    if (is_af_inet6(le) || is_af_inet6(be)) return decode_ipv6(x, c);
    return GW_DECODE_UNSUPPORTED;
}

static int decode_link(struct decode_ctx *x, struct gw_cursor *c, int linktype)
{
    switch (linktype) {
    case LT_EN10MB: return decode_ethernet(x, c);
    case LT_LINUX_SLL: return decode_sll(x, c);
    case LT_LINUX_SLL2: return decode_sll2(x, c);
    case LT_NULL:
    case LT_LOOP: return decode_null(x, c);
    case LT_RAW_12:
    case LT_RAW_14:
    case LT_LINKTYPE_RAW: return decode_ip_by_version(x, c);
    case LT_IPV4: return decode_ipv4(x, c);
    case LT_IPV6: return decode_ipv6(x, c);
    default: return GW_DECODE_UNSUPPORTED;
    }
}

static void count_result(struct gw_decode_stats *st, int result)
{
    st->packets++;
    switch (result) {
    case GW_DECODE_TCP: st->tcp++; break;
    case GW_DECODE_OTHER: st->other++; break;
    case GW_DECODE_TRUNCATED: st->truncated++; break;
    case GW_DECODE_MALFORMED: st->malformed++; break;
    default: st->unsupported++; break;
    }
}

struct gw_decoder *gw_decoder_create(void)
{
    return calloc(1, sizeof(struct gw_decoder));
}

void gw_decoder_destroy(struct gw_decoder *d)
{
    free(d);
}

int gw_decoder_decode(struct gw_decoder *d, const struct gw_packet *pkt, struct gw_segment *out)
{
    if (d == NULL || pkt == NULL || out == NULL) return GW_DECODE_MALFORMED;

    /* Zeroing the output gives unset fields (tunnel, the unused 12 bytes of
     * an IPv4 address) a defined value whatever the result. */
    *out = (struct gw_segment){ .ts = pkt->ts, .tunnel = { .type = GW_TUNNEL_NONE } };
    size_t caplen = pkt->data != NULL ? pkt->caplen : 0;
    struct decode_ctx x = {
        .st = &d->stats,
        .out = out,
        .frame_wire_len = GW_MAX(caplen, (size_t)pkt->wirelen),
    };
    struct gw_cursor c = gw_cursor_make(pkt->data, caplen);
    int result = decode_link(&x, &c, pkt->linktype);
    count_result(&d->stats, result);
    return result;
}

const struct gw_decode_stats *gw_decoder_stats(const struct gw_decoder *d)
{
    return d != NULL ? &d->stats : NULL;
}

const char *gw_decode_result_str(int result)
{
    switch (result) {
    case GW_DECODE_TCP: return "tcp";
    case GW_DECODE_OTHER: return "other";
    case GW_DECODE_TRUNCATED: return "truncated";
    case GW_DECODE_MALFORMED: return "malformed";
    case GW_DECODE_UNSUPPORTED: return "unsupported";
    default: return "unknown";
    }
}
