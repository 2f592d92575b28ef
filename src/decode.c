/*
 * decode.c - link layer, IPv4/IPv6, tunnel and TCP header decoding: one
 * captured packet in, one TCP segment view out. IP fragments are handed to
 * the reassembler (defrag.c) and the datagrams it completes decoded here.
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
 *  - A tunnel payload is decoded as a new frame cut from the rest of the
 *    outer body (descend): its captured part and its wire length are both
 *    bounded by the outer ones, so the two-length rules hold at every level.
 *    One exception: a frame an ERSPAN mirror says it truncated (T bit) has
 *    an unknown wire length, so inner lengths past it read as a snap.
 *  - At most GW_DECODE_MAX_ENCAPS encapsulations are entered per packet, so
 *    the recursion link -> IP -> tunnel -> link ... is bounded. The first
 *    tunnel entered (the outermost) is written to out->tunnel, never later
 *    ones.
 *  - Payload is never copied, except for fragments, which go to the
 *    reassembler (defrag.c) with their key; a completed datagram is decoded
 *    from the reassembler's buffer as a body of its own. A segment's payload
 *    points into pkt->data or into that buffer. The outer headers of an
 *    inner fragment were copied out (addresses, tunnel) before it is handed
 *    on, and nothing reads the outer datagram again, so the reassembler may
 *    reuse its one buffer.
 *  - Every call counts the packet once in `packets` and once in exactly one
 *    result counter (tcp, other, truncated, malformed, unsupported). `vlan`,
 *    `ipv4`, `ipv6` and `tunnels` count packets (at most once each); the
 *    per-type tunnel counters (and the reassembler's `received`) count
 *    headers at every level; `snapped` TCP segments whose payload was cut by
 *    the snap length. The legacy frag_* copies change only when the
 *    reassembler ran (an add, or a tick that expired something).
 *  - Checksums are not verified: captures taken on the sending host see
 *    checksum-offloaded packets whose checksums are not filled in yet.
 */
#include "grpcwatch/decode.h"

#include <stdlib.h>
#include <string.h>

#include "grpcwatch/cursor.h"
#include "grpcwatch/defrag.h"
#include "grpcwatch/stats.h"

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
    IPV6_FRAG_HDR_LEN = 8, UDP_HDR_LEN = 8, PW_CONTROL_WORD_LEN = 4,
    GRE_HDR_LEN = 4, GRE_OPTION_LEN = 4, ERSPAN2_HDR_LEN = 8, ERSPAN3_HDR_LEN = 12,
    ERSPAN3_SUBHDR_LEN = 8, VXLAN_HDR_LEN = 8, GENEVE_HDR_LEN = 8
};

enum {
    ETHERTYPE_IPV4 = 0x0800, ETHERTYPE_IPV6 = 0x86dd,
    ETHERTYPE_VLAN = 0x8100, ETHERTYPE_QINQ = 0x88a8, ETHERTYPE_QINQ_OLD = 0x9100,
    ETHERTYPE_MPLS = 0x8847, ETHERTYPE_MPLS_MCAST = 0x8848,
    ETHERTYPE_TEB = 0x6558,     /* transparent Ethernet bridging (GRE, Geneve) */
    ETHERTYPE_ERSPAN2 = 0x88be, /* also type I: told apart by the GRE S bit */
    ETHERTYPE_ERSPAN3 = 0x22eb,
    ETHERTYPE_MAX_8023_LEN = 1500 /* values up to this are an 802.3 length */
};

enum {
    IPPROTO_NUM_HOPOPTS = 0, IPPROTO_NUM_IPIP = 4, IPPROTO_NUM_TCP = 6, IPPROTO_NUM_UDP = 17,
    IPPROTO_NUM_IPV6 = 41, IPPROTO_NUM_ROUTING = 43, IPPROTO_NUM_FRAGMENT = 44,
    IPPROTO_NUM_GRE = 47, IPPROTO_NUM_AH = 51, IPPROTO_NUM_DSTOPTS = 60
};

enum { UDP_PORT_VXLAN = 4789, UDP_PORT_VXLAN_LINUX = 8472, UDP_PORT_GENEVE = 6081 };

/* GRE flags and version (RFC 2784, RFC 2890; R from RFC 1701). */
#define GRE_C 0x8000u
#define GRE_R 0x4000u
#define GRE_K 0x2000u
#define GRE_S 0x1000u
#define GRE_VERSION_MASK 0x0007u

#define VXLAN_FLAG_I 0x08u
#define MPLS_BOTTOM_OF_STACK 0x100u
#define ERSPAN_SESSION_MASK 0x3ffu
#define ERSPAN_T_BIT 0x400u       /* the mirrored frame was truncated */
#define ERSPAN2_VERSION 1u
#define ERSPAN3_VERSION 2u
#define ERSPAN3_FT_ETHERNET 0u
#define ERSPAN3_FT_IP 2u

/* Hostile input can stack tags, labels or extension headers without end;
 * real traffic uses a handful. Past these caps a packet is UNSUPPORTED. */
#define MAX_VLAN_TAGS 8
#define MAX_IPV6_EXT_HDRS 16
#define MAX_MPLS_LABELS 8

#define IPV4_MF 0x2000u
#define IPV4_FRAG_OFFSET_MASK 0x1fffu
#define IP_MAX_LEN GW_DEFRAG_MAX_LEN

/* A mirror that truncated the frame (ERSPAN T bit) does not say how long it
 * was: anything up to an IP datagram's maximum is a snap, not a lie. */
#define UNKNOWN_FRAME_WIRE_LEN ((size_t)IP_MAX_LEN * 2)

/* Internal "keep going" value, distinct from every gw_decode_result. */
#define STEP_OK (-1)

struct gw_decoder {
    struct gw_decode_stats stats;
    struct gw_defrag *defrag;   /* created with the decoder; allocates on the first fragment */
    bool no_fast_path;          /* tests: every frame the general way */
};

/* Today's `stats` keys and order under "decoder" (before "fragments"). */
static const struct gw_stat_field decode_stat_fields[] = {
    GW_STAT_FIELD(struct gw_decode_stats, packets, "packets"),
    GW_STAT_FIELD(struct gw_decode_stats, tcp, "tcp"),
    GW_STAT_FIELD(struct gw_decode_stats, other, "other"),
    GW_STAT_FIELD(struct gw_decode_stats, truncated, "truncated"),
    GW_STAT_FIELD(struct gw_decode_stats, malformed, "malformed"),
    GW_STAT_FIELD(struct gw_decode_stats, unsupported, "unsupported"),
    GW_STAT_FIELD(struct gw_decode_stats, snapped, "snapped"),
    GW_STAT_FIELD(struct gw_decode_stats, ipv4, "ipv4"),
    GW_STAT_FIELD(struct gw_decode_stats, ipv6, "ipv6"),
    GW_STAT_FIELD(struct gw_decode_stats, vlan, "vlan"),
    GW_STAT_FIELD(struct gw_decode_stats, tunnels, "tunnels.encapsulated"),
    GW_STAT_FIELD(struct gw_decode_stats, tunnel_mpls, "tunnels.mpls"),
    GW_STAT_FIELD(struct gw_decode_stats, tunnel_gre, "tunnels.gre"),
    GW_STAT_FIELD(struct gw_decode_stats, tunnel_erspan, "tunnels.erspan"),
    GW_STAT_FIELD(struct gw_decode_stats, tunnel_vxlan, "tunnels.vxlan"),
    GW_STAT_FIELD(struct gw_decode_stats, tunnel_geneve, "tunnels.geneve"),
    GW_STAT_FIELD(struct gw_decode_stats, tunnel_ipip, "tunnels.ipip"),
};
const struct gw_stat_field *const gw_decode_stat_fields = decode_stat_fields;
const size_t gw_decode_stat_fields_len = GW_ARRAY_LEN(decode_stat_fields);

/* Per-call state handed down the layers. */
struct decode_ctx {
    struct gw_decoder *d;
    struct gw_decode_stats *st;
    struct gw_segment *out;
    size_t frame_wire_len; /* bytes of the current frame on the wire (from its first byte) */
    int encaps;            /* tunnels entered so far */
    bool seen_vlan, seen_ipv4, seen_ipv6;
};

/* The bytes an IP header says follow it. cap covers the captured part only;
 * wire is the length the IP header announced (always >= cap.n). */
struct ip_body {
    struct gw_cursor cap;
    size_t wire;
};

/* Ethertypes that never carry IP: OTHER rather than UNSUPPORTED, so the
 * unsupported counter points at traffic that may hide TCP (PPPoE...). */
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

static int decode_ipv4(struct decode_ctx *x, struct gw_cursor *c);
static int decode_ipv6(struct decode_ctx *x, struct gw_cursor *c);
static int decode_ethernet(struct decode_ctx *x, struct gw_cursor *c);
static int decode_ethertype(struct decode_ctx *x, struct gw_cursor *c, uint16_t type);
static int decode_ip_by_version(struct decode_ctx *x, struct gw_cursor *c);

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
    if (ip_start > x->frame_wire_len || ip_len > x->frame_wire_len - ip_start)
        return GW_DECODE_MALFORMED;
    GW_ASSERT(c->off == ip_start + hdr_len && ip_len >= hdr_len && !c->err);
    b->cap = gw_cursor_window(c, ip_len - hdr_len);
    b->wire = ip_len - hdr_len;
    return STEP_OK;
}

/* The rest of a body as a new frame for the encapsulated packet: what it
 * may claim is bounded by what the outer header announced. */
static struct gw_cursor descend(struct decode_ctx *x, const struct ip_body *b)
{
    GW_ASSERT(!b->cap.err); /* every header read before was checked by body_need */
    x->frame_wire_len = b->wire - b->cap.off;
    return gw_cursor_window(&b->cap, SIZE_MAX);
}

/* The next len bytes of b as a body of their own (a UDP payload). */
static struct ip_body sub_body(const struct ip_body *b, size_t len)
{
    struct ip_body s;
    GW_ASSERT(!b->cap.err);
    s.cap = gw_cursor_window(&b->cap, len);
    s.wire = len;
    return s;
}

/* Zero-fills the unused bytes: an inner IPv4 address must not keep the
 * tail of an outer IPv6 one. */
static void copy_addr(struct gw_addr *a, uint8_t family, const uint8_t *bytes, size_t len)
{
    GW_ASSERT(len <= sizeof a->bytes);
    a->family = family;
    memset(a->bytes, 0, sizeof a->bytes);
    memcpy(a->bytes, bytes, len);
}

/* ---- TCP and tunnels ------------------------------------------------------ */

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

static void count_tunnel_type(struct gw_decode_stats *st, uint8_t type)
{
    switch (type) {
    case GW_TUNNEL_MPLS: st->tunnel_mpls++; break;
    case GW_TUNNEL_GRE: st->tunnel_gre++; break;
    case GW_TUNNEL_ERSPAN2:
    case GW_TUNNEL_ERSPAN3: st->tunnel_erspan++; break;
    case GW_TUNNEL_VXLAN: st->tunnel_vxlan++; break;
    case GW_TUNNEL_GENEVE: st->tunnel_geneve++; break;
    default: st->tunnel_ipip++; break;
    }
}

/* Called when a tunnel header has been accepted, before its payload. The
 * outer addresses are those of the IP header decoded last: the one that
 * carries the tunnel (none for MPLS on the link layer). */
static int enter_tunnel(struct decode_ctx *x, uint8_t type, uint32_t id)
{
    if (++x->encaps > GW_DECODE_MAX_ENCAPS) return GW_DECODE_UNSUPPORTED;
    count_tunnel_type(x->st, type);
    struct gw_tunnel *t = &x->out->tunnel;
    if (t->type == GW_TUNNEL_NONE) {
        x->st->tunnels++;
        t->type = type;
        t->outer_src = x->out->src;
        t->outer_dst = x->out->dst;
        t->id = id;
    }
    return STEP_OK;
}

/* The tunnel decoders below call back into the IP and link decoders: a
 * recursion by design (a tunnel payload is a packet of its own), bounded by
 * GW_DECODE_MAX_ENCAPS through descend(), as in Suricata's DecodeTunnel. */
/* NOLINTBEGIN(misc-no-recursion) */
/* Enters a tunnel (type, id) whose payload is the rest of b, told by an
 * ethertype: ETHERTYPE_TEB for an Ethernet frame. */
static int tunnel_payload(struct decode_ctx *x, struct ip_body *b, uint8_t type, uint32_t id,
                          uint16_t ethertype)
{
    int r = enter_tunnel(x, type, id);
    if (r != STEP_OK) return r;
    struct gw_cursor inner = descend(x, b);
    if (ethertype == ETHERTYPE_TEB) return decode_ethernet(x, &inner);
    return decode_ethertype(x, &inner, ethertype);
}

/* ERSPAN types II and III: a mirrored Ethernet frame (or, type III, IP). */
static int decode_erspan(struct decode_ctx *x, struct ip_body *b, bool type3)
{
    int r = body_need(b, type3 ? ERSPAN3_HDR_LEN : ERSPAN2_HDR_LEN);
    if (r != STEP_OK) return r;
    struct gw_cursor *c = &b->cap;
    uint32_t word0 = gw_get_be32(c); /* ver 4, VLAN 12, COS 3, En/BSO 2, T 1, session 10 */
    gw_skip(c, 4);                   /* II: reserved, index; III: timestamp */
    uint8_t frame_type = ERSPAN3_FT_ETHERNET;
    if ((word0 >> 28) != (type3 ? ERSPAN3_VERSION : ERSPAN2_VERSION)) return GW_DECODE_UNSUPPORTED;
    if (type3) {
        gw_skip(c, 2);               /* security group tag */
        uint8_t p_ft_hw = gw_get_u8(c);
        uint8_t hw_d_gra_o = gw_get_u8(c);
        frame_type = (p_ft_hw >> 2) & 0x1f;
        if (hw_d_gra_o & 1) {        /* O: platform-specific subheader follows */
            r = body_need(b, ERSPAN3_SUBHDR_LEN);
            if (r != STEP_OK) return r;
            gw_skip(c, ERSPAN3_SUBHDR_LEN);
        }
        if (frame_type != ERSPAN3_FT_ETHERNET && frame_type != ERSPAN3_FT_IP)
            return GW_DECODE_UNSUPPORTED;
    }
    r = enter_tunnel(x, type3 ? GW_TUNNEL_ERSPAN3 : GW_TUNNEL_ERSPAN2, word0 & ERSPAN_SESSION_MASK);
    if (r != STEP_OK) return r;
    struct gw_cursor inner = descend(x, b);
    if (word0 & ERSPAN_T_BIT) x->frame_wire_len = UNKNOWN_FRAME_WIRE_LEN;
    if (frame_type == ERSPAN3_FT_IP) return decode_ip_by_version(x, &inner);
    return decode_ethernet(x, &inner);
}

/* GRE version 0 (RFC 2784 with RFC 2890's key and sequence number). */
static int decode_gre(struct decode_ctx *x, struct ip_body *b)
{
    int r = body_need(b, GRE_HDR_LEN);
    if (r != STEP_OK) return r;
    struct gw_cursor *c = &b->cap;
    uint16_t flags = gw_get_be16(c);
    uint16_t proto = gw_get_be16(c);
    /* Version 1 is PPTP's enhanced GRE; routing (RFC 1701) is obsolete. */
    if ((flags & GRE_VERSION_MASK) != 0 || (flags & GRE_R)) return GW_DECODE_UNSUPPORTED;

    size_t options = ((flags & GRE_C) ? GRE_OPTION_LEN : 0) +
                     ((flags & GRE_K) ? GRE_OPTION_LEN : 0) +
                     ((flags & GRE_S) ? GRE_OPTION_LEN : 0);
    r = body_need(b, options);
    if (r != STEP_OK) return r;
    if (flags & GRE_C) gw_skip(c, GRE_OPTION_LEN); /* checksum, reserved */
    uint32_t key = (flags & GRE_K) ? gw_get_be32(c) : 0;
    if (flags & GRE_S) gw_skip(c, GRE_OPTION_LEN);

    if (proto == ETHERTYPE_ERSPAN2 && (flags & GRE_S)) return decode_erspan(x, b, false);
    if (proto == ETHERTYPE_ERSPAN3) return decode_erspan(x, b, true);
    if (proto == ETHERTYPE_ERSPAN2) /* type I: the bare mirrored frame */
        return tunnel_payload(x, b, GW_TUNNEL_ERSPAN2, 0, ETHERTYPE_TEB);
    return tunnel_payload(x, b, GW_TUNNEL_GRE, key, proto);
}

/* VXLAN (RFC 7348): flags, reserved, VNI, reserved, then Ethernet. */
static int decode_vxlan(struct decode_ctx *x, struct ip_body *b)
{
    int r = body_need(b, VXLAN_HDR_LEN);
    if (r != STEP_OK) return r;
    struct gw_cursor *c = &b->cap;
    uint8_t flags = gw_get_u8(c);
    gw_skip(c, 3);
    uint32_t vni = gw_get_be24(c);
    gw_skip(c, 1);
    if (!(flags & VXLAN_FLAG_I)) return GW_DECODE_MALFORMED;
    return tunnel_payload(x, b, GW_TUNNEL_VXLAN, vni, ETHERTYPE_TEB);
}

/* Geneve (RFC 8926): version 0, options, then Ethernet or IP. */
static int decode_geneve(struct decode_ctx *x, struct ip_body *b)
{
    int r = body_need(b, GENEVE_HDR_LEN);
    if (r != STEP_OK) return r;
    struct gw_cursor *c = &b->cap;
    uint8_t ver_optlen = gw_get_u8(c);
    gw_skip(c, 1); /* O, C, reserved */
    uint16_t proto = gw_get_be16(c);
    uint32_t vni = gw_get_be24(c);
    gw_skip(c, 1);
    if ((ver_optlen >> 6) != 0) return GW_DECODE_UNSUPPORTED;
    size_t options = (size_t)(ver_optlen & 0x3f) * 4;
    r = body_need(b, options);
    if (r != STEP_OK) return r;
    gw_skip(c, options);
    if (proto != ETHERTYPE_TEB && proto != ETHERTYPE_IPV4 && proto != ETHERTYPE_IPV6)
        return GW_DECODE_UNSUPPORTED;
    return tunnel_payload(x, b, GW_TUNNEL_GENEVE, vni, proto);
}

/* UDP matters only as a tunnel carrier; the UDP length bounds the tunnel. */
static int decode_udp(struct decode_ctx *x, struct ip_body *b)
{
    int r = body_need(b, UDP_HDR_LEN);
    if (r != STEP_OK) return r;
    struct gw_cursor *c = &b->cap;
    size_t start = c->off;
    gw_skip(c, 2); /* source port: entropy for ECMP in tunnels */
    uint16_t dport = gw_get_be16(c);
    size_t len = gw_get_be16(c);
    gw_skip(c, 2); /* checksum */
    bool vxlan = dport == UDP_PORT_VXLAN || dport == UDP_PORT_VXLAN_LINUX;
    if (!vxlan && dport != UDP_PORT_GENEVE) return GW_DECODE_OTHER;
    if (len < UDP_HDR_LEN || len > b->wire - start) return GW_DECODE_MALFORMED;
    struct ip_body payload = sub_body(b, len - UDP_HDR_LEN);
    return vxlan ? decode_vxlan(x, &payload) : decode_geneve(x, &payload);
}

static int decode_ip_in_ip(struct decode_ctx *x, uint8_t proto, struct ip_body *b)
{
    return tunnel_payload(x, b, GW_TUNNEL_IPIP, 0,
                          proto == IPPROTO_NUM_IPIP ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);
}

/* What an IP header (or the last IPv6 extension header) says follows. */
static int decode_l4(struct decode_ctx *x, uint8_t proto, struct ip_body *b)
{
    switch (proto) {
    case IPPROTO_NUM_TCP: return decode_tcp(x, b);
    case IPPROTO_NUM_UDP: return decode_udp(x, b);
    case IPPROTO_NUM_GRE: return decode_gre(x, b);
    case IPPROTO_NUM_IPIP:
    case IPPROTO_NUM_IPV6: return decode_ip_in_ip(x, proto, b);
    default: return GW_DECODE_OTHER; /* UDP elsewhere, ICMP, ESP, no next header... */
    }
}

/* ---- IP ------------------------------------------------------------------- */

/* Hands the rest of body b (after the IP or fragment header) to the
 * reassembler as fragment pc (offset, flags, limit set by the caller) of
 * datagram (id, proto) of the IP header just decoded, whose addresses are
 * in out. True when it completed the datagram, which is then *whole. */
static bool reassemble(struct decode_ctx *x, const struct ip_body *b, uint32_t id, uint8_t proto,
                       struct gw_defrag_frag *pc, struct ip_body *whole, uint8_t *first_next)
{
    struct gw_defrag_key key;
    memset(&key, 0, sizeof key);
    key.src = x->out->src;
    key.dst = x->out->dst;
    key.id = id;
    key.proto = proto;
    key.tunnel_type = x->out->tunnel.type;
    key.tunnel_id = x->out->tunnel.id;
    pc->data = gw_cursor_ptr(&b->cap);
    pc->cap_len = gw_cursor_left(&b->cap);
    pc->wire_len = b->wire - b->cap.off;
    struct gw_defrag_datagram dg;
    int r = gw_defrag_add(x->d->defrag, &key, pc, &dg);
    if (r != GW_DEFRAG_COMPLETE) return false;
    whole->cap = gw_cursor_make(dg.data, dg.len);
    whole->wire = dg.len;
    *first_next = dg.next;
    return true;
}

static int decode_ipv4_fragment(struct decode_ctx *x, struct ip_body *b, uint16_t id,
                                uint16_t frag, uint8_t proto, size_t hdr_len)
{
    struct gw_defrag_frag pc = {
        .offset = (size_t)(frag & IPV4_FRAG_OFFSET_MASK) * GW_DEFRAG_UNIT,
        .more = (frag & IPV4_MF) != 0,
        .trim_unaligned = true,
        .carries_tcp = proto == IPPROTO_NUM_TCP,
        .limit = IP_MAX_LEN - hdr_len,
    };
    struct ip_body whole;
    uint8_t unused;
    if (!reassemble(x, b, id, proto, &pc, &whole, &unused)) return GW_DECODE_OTHER;
    return decode_l4(x, proto, &whole);
}

static int decode_ipv4(struct decode_ctx *x, struct gw_cursor *c)
{
    size_t start = c->off;
    uint8_t ver_ihl = gw_get_u8(c);
    gw_skip(c, 1); /* DSCP/ECN */
    size_t total_len = gw_get_be16(c);
    uint16_t id = gw_get_be16(c);
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
    if (!x->seen_ipv4) x->st->ipv4++;
    x->seen_ipv4 = true;
    copy_addr(&x->out->src, 4, src, 4);
    copy_addr(&x->out->dst, 4, dst, 4);

    if ((frag & IPV4_MF) || (frag & IPV4_FRAG_OFFSET_MASK))
        return decode_ipv4_fragment(x, &body, id, frag, proto, hdr_len);
    return decode_l4(x, proto, &body);
}

/* Length of the extension header of type nh whose first two bytes are
 * (next header, length field), per RFC 8200 section 4 and RFC 4302 for AH. */
static size_t ipv6_ext_len(uint8_t nh, uint8_t len_field)
{
    if (nh == IPPROTO_NUM_AH) return ((size_t)len_field + 2) * 4;
    return ((size_t)len_field + 1) * 8;
}

static bool is_ipv6_ext_hdr(uint8_t nh)
{
    return nh == IPPROTO_NUM_HOPOPTS || nh == IPPROTO_NUM_ROUTING || nh == IPPROTO_NUM_DSTOPTS ||
           nh == IPPROTO_NUM_AH || nh == IPPROTO_NUM_FRAGMENT;
}

static int decode_ipv6_chain(struct decode_ctx *x, struct ip_body *b, uint8_t nh,
                             bool reassembled);

/* b is positioned after the fragment header; what precedes it in the body
 * is the unfragmentable part (RFC 8200 4.5), which counts toward 65535. */
static int decode_ipv6_fragment(struct decode_ctx *x, struct ip_body *b, uint8_t next,
                                uint16_t off_flags, uint32_t id, size_t unfragmentable)
{
    struct gw_defrag_frag pc = {
        .offset = (size_t)(off_flags >> 3) * GW_DEFRAG_UNIT,
        .more = (off_flags & 1) != 0,
        .trim_unaligned = false,
        .carries_tcp = next == IPPROTO_NUM_TCP,
        .limit = IP_MAX_LEN - unfragmentable,
        .next = next,
    };
    struct ip_body whole;
    uint8_t first_next;
    if (!reassemble(x, b, id, 0, &pc, &whole, &first_next)) return GW_DECODE_OTHER;
    return decode_ipv6_chain(x, &whole, first_next, true);
}

/* Walks the extension header chain from nh to the upper layer. A
 * reassembled datagram may not hold another fragment header. */
static int decode_ipv6_chain(struct decode_ctx *x, struct ip_body *b, uint8_t nh,
                             bool reassembled)
{
    for (int i = 0; i <= MAX_IPV6_EXT_HDRS; i++) {
        if (!is_ipv6_ext_hdr(nh)) return decode_l4(x, nh, b);
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
            uint32_t id = gw_get_be32(&peek);
            /* Offset 0 without M is an atomic fragment (RFC 6946): a
             * whole packet, decoded as such. */
            if ((off_flags >> 3) != 0 || (off_flags & 1)) {
                if (reassembled) return GW_DECODE_MALFORMED;
                size_t unfragmentable = b->cap.off;
                gw_skip(&b->cap, len);
                return decode_ipv6_fragment(x, b, next, off_flags, id, unfragmentable);
            }
        }
        gw_skip(&b->cap, len);
        nh = next;
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
    if (!x->seen_ipv6) x->st->ipv6++;
    x->seen_ipv6 = true;
    copy_addr(&x->out->src, 6, src, 16);
    copy_addr(&x->out->dst, 6, dst, 16);
    return decode_ipv6_chain(x, &body, nh, false);
}

/* IP by version nibble, for link types that carry bare IP. */
static int decode_ip_by_version(struct decode_ctx *x, struct gw_cursor *c)
{
    int first = gw_peek_u8(c, 0);
    if (first < 0) return GW_DECODE_TRUNCATED;
    switch (first >> 4) {
    case 4: return decode_ipv4(x, c);
    case 6: return decode_ipv6(x, c);
    default: return GW_DECODE_MALFORMED;
    }
}

/* ---- link layer ------------------------------------------------------------ */

/* MPLS (RFC 3032): labels down to bottom of stack, then the payload told
 * by its first nibble, as switches and Wireshark do: 4 IPv4, 6 IPv6, 0 a
 * pseudowire control word (RFC 4385) before an Ethernet frame, 1 the
 * associated channel (RFC 5586: OAM, no user traffic). */
static int decode_mpls(struct decode_ctx *x, struct gw_cursor *c)
{
    uint32_t top_label = 0;
    for (int i = 0;; i++) {
        if (i == MAX_MPLS_LABELS) return GW_DECODE_UNSUPPORTED;
        uint32_t entry = gw_get_be32(c);
        if (c->err) return GW_DECODE_TRUNCATED;
        if (i == 0) top_label = entry >> 12;
        if (entry & MPLS_BOTTOM_OF_STACK) break;
    }
    int first = gw_peek_u8(c, 0);
    if (first < 0) return GW_DECODE_TRUNCATED;
    uint8_t nibble = (uint8_t)(first >> 4);
    if (nibble == 1) return GW_DECODE_OTHER;
    if (nibble != 4 && nibble != 6 && nibble != 0) return GW_DECODE_UNSUPPORTED;
    int r = enter_tunnel(x, GW_TUNNEL_MPLS, top_label);
    if (r != STEP_OK) return r;
    if (nibble == 4) return decode_ipv4(x, c);
    if (nibble == 6) return decode_ipv6(x, c);
    if (!gw_skip(c, PW_CONTROL_WORD_LEN)) return GW_DECODE_TRUNCATED;
    return decode_ethernet(x, c);
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

/* Dispatches on an ethertype (Ethernet, SLL, SLL2, GRE, Geneve), peeling
 * VLAN tags. SLL gets tags too: libpcap puts the tag the kernel stripped
 * back in. */
static int decode_ethertype(struct decode_ctx *x, struct gw_cursor *c, uint16_t type)
{
    int tags = 0;
    while (is_vlan_tpid(type)) {
        if (++tags > MAX_VLAN_TAGS) return GW_DECODE_UNSUPPORTED;
        if (!x->seen_vlan) x->st->vlan++;
        x->seen_vlan = true;
        gw_skip(c, VLAN_TAG_LEN - 2); /* PCP, DEI, VLAN id */
        type = gw_get_be16(c);
        if (c->err) return GW_DECODE_TRUNCATED;
    }
    if (type == ETHERTYPE_IPV4) return decode_ipv4(x, c);
    if (type == ETHERTYPE_IPV6) return decode_ipv6(x, c);
    if (type == ETHERTYPE_MPLS || type == ETHERTYPE_MPLS_MCAST) return decode_mpls(x, c);
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

/* NOLINTEND(misc-no-recursion) */

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

/* ---- public ---------------------------------------------------------------- */

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

struct gw_decoder *gw_decoder_create2(const struct gw_decode_config *cfg)
{
    struct gw_decode_config c = cfg ? *cfg : (struct gw_decode_config){ 0 };
    struct gw_defrag_config fc = {
        .max_datagrams = c.frag_max_datagrams,
        .max_bytes = c.frag_max_bytes,
        .timeout_s = c.frag_timeout_s,
    };
    struct gw_decoder *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->defrag = gw_defrag_create(&fc); /* NULL also for a field over its maximum */
    if (!d->defrag) {
        free(d);
        return NULL;
    }
    return d;
}

struct gw_decoder *gw_decoder_create(void)
{
    return gw_decoder_create2(NULL);
}

void gw_decoder_destroy(struct gw_decoder *d)
{
    if (!d) return;
    gw_defrag_destroy(d->defrag);
    free(d);
}

static uint16_t be16_at(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static uint32_t be32_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The common frame, Ethernet + IPv4 without options or fragments + TCP with
 * its header captured, decoded with one bounds check up front: most of a
 * SPAN port's packets, at a quarter of the general path's cost. Anything
 * else, or anything the general path would call malformed or truncated,
 * returns -1 and goes the general way, so results and counters are the
 * same whichever path a frame takes (test_decode checks both). */
static int decode_fast(struct decode_ctx *x, const struct gw_packet *pkt)
{
    enum { IP = ETH_HDR_LEN, TCP = ETH_HDR_LEN + IPV4_MIN_HDR };
    const uint8_t *p = pkt->data;
    if (pkt->linktype != LT_EN10MB || pkt->caplen < TCP + TCP_MIN_HDR) return -1;
    if (be16_at(p + 12) != ETHERTYPE_IPV4 || p[IP] != 0x45 || p[IP + 9] != IPPROTO_NUM_TCP)
        return -1;
    size_t ip_len = be16_at(p + IP + 2);
    if ((be16_at(p + IP + 6) & (IPV4_MF | IPV4_FRAG_OFFSET_MASK)) ||
        ip_len < IPV4_MIN_HDR + TCP_MIN_HDR || ip_len > x->frame_wire_len - IP)
        return -1;
    size_t body_cap = GW_MIN(pkt->caplen - TCP, ip_len - IPV4_MIN_HDR);
    size_t tcp_hdr = (size_t)(p[TCP + 12] >> 4) * 4;
    if (tcp_hdr < TCP_MIN_HDR || tcp_hdr > body_cap) return -1;

    struct gw_segment *s = x->out;
    x->st->ipv4++;
    copy_addr(&s->src, 4, p + IP + 12, 4);
    copy_addr(&s->dst, 4, p + IP + 16, 4);
    const uint8_t *t = p + TCP;
    s->sport = be16_at(t);
    s->dport = be16_at(t + 2);
    s->seq = be32_at(t + 4);
    s->ack = be32_at(t + 8);
    s->flags = t[13];
    s->window = be16_at(t + 14);
    s->payload = t + tcp_hdr;
    s->payload_len = (uint32_t)(body_cap - tcp_hdr);
    s->payload_wire_len = (uint32_t)(ip_len - IPV4_MIN_HDR - tcp_hdr);
    if (s->payload_len < s->payload_wire_len) x->st->snapped++;
    return GW_DECODE_TCP;
}

int gw_decoder_decode(struct gw_decoder *d, const struct gw_packet *pkt, struct gw_segment *out)
{
    if (d == NULL || pkt == NULL || out == NULL) return GW_DECODE_MALFORMED;

    gw_defrag_tick(d->defrag, pkt->ts);

    /* Zeroing the output gives unset fields (tunnel, the unused 12 bytes of
     * an IPv4 address) a defined value whatever the result. */
    *out = (struct gw_segment){ .ts = pkt->ts, .tunnel = { .type = GW_TUNNEL_NONE } };
    size_t caplen = pkt->data != NULL ? pkt->caplen : 0;
    struct decode_ctx x = {
        .d = d,
        .st = &d->stats,
        .out = out,
        .frame_wire_len = GW_MAX(caplen, (size_t)pkt->wirelen),
    };
    int result = caplen && !d->no_fast_path ? decode_fast(&x, pkt) : -1;
    if (result < 0) {
        struct gw_cursor c = gw_cursor_make(pkt->data, caplen);
        result = decode_link(&x, &c, pkt->linktype);
    }
    count_result(&d->stats, result);
    return result;
}

void gw_decoder_set_fast_path(struct gw_decoder *d, bool on)
{
    if (d) d->no_fast_path = !on;
}

const struct gw_decode_stats *gw_decoder_stats(const struct gw_decoder *d)
{
    return d != NULL ? &d->stats : NULL;
}

const struct gw_defrag_stats *gw_decoder_defrag_stats(const struct gw_decoder *d)
{
    return d != NULL ? gw_defrag_stats(d->defrag) : NULL;
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
