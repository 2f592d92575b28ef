/*
 * decode.c - link layer, IPv4/IPv6, tunnel and TCP header decoding, and IP
 * fragment reassembly: one captured packet in, one TCP segment view out.
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
 *  - Payload is never copied, except for fragments: their bytes are copied
 *    into the reassembly table, and a completed datagram into the decoder's
 *    completion buffer. A segment's payload points into pkt->data or into
 *    that buffer. One buffer serves every level of encapsulation: when an
 *    inner fragment read from a completed outer datagram completes its own
 *    datagram, its bytes are already in the table, the outer headers were
 *    copied out (addresses, tunnel), and nothing reads the outer datagram
 *    again, so overwriting it is safe.
 *  - Every call counts the packet once in `packets` and once in exactly one
 *    result counter (tcp, other, truncated, malformed, unsupported). `vlan`,
 *    `ipv4`, `ipv6` and `tunnels` count packets (at most once each);
 *    `fragments` and the per-type tunnel counters count headers at every
 *    level; `snapped` TCP segments whose payload was cut by the snap length.
 *  - Checksums are not verified: captures taken on the sending host see
 *    checksum-offloaded packets whose checksums are not filled in yet.
 *
 * Fragment reassembly invariants:
 *  - Nothing is allocated until the first fragment: packets that are not
 *    fragments only test `live` (for expiry) and never enter this code.
 *  - A datagram in progress is in exactly one hash chain and in the age
 *    list (oldest first, by packet time of its first fragment, which is the
 *    decoder's clock: the maximum timestamp seen, so the list stays sorted);
 *    a free slot is on the free stack only. At most frag_max_datagrams live.
 *  - Bytes live in 2 KiB chunks holding a bitmap of the 8-byte units
 *    received (fragment offsets are multiples of 8 and every fragment but
 *    the last a multiple of 8 long, so units are exact). Chunks are taken
 *    from a free list, allocated only while fewer than frag_max_bytes /
 *    sizeof(chunk) exist, and go back to the free list, never to malloc,
 *    until the decoder is destroyed: steady state allocates nothing.
 *  - First wins: a unit already received is never overwritten; a later copy
 *    is compared and counted (frag_overlaps, frag_conflicts).
 *  - A datagram is complete when its last fragment set its length and every
 *    unit below that length is held; no byte past that length is ever held.
 *  - Expiry runs at the start of every call while datagrams are live and
 *    stops at the first one still young: O(1) when nothing expires.
 */
#include "grpcwatch/decode.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

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
#define IP_MAX_LEN 65535u

/* A mirror that truncated the frame (ERSPAN T bit) does not say how long it
 * was: anything up to an IP datagram's maximum is a snap, not a lie. */
#define UNKNOWN_FRAME_WIRE_LEN ((size_t)IP_MAX_LEN * 2)

/* Internal "keep going" value, distinct from every gw_decode_result. */
#define STEP_OK (-1)

/* ---- fragment table layout ---------------------------------------------- */

enum {
    FRAG_UNIT = 8,                /* fragment offsets count 8-byte units */
    FRAG_CHUNK_SIZE = 2048,
    FRAG_UNITS_PER_CHUNK = FRAG_CHUNK_SIZE / FRAG_UNIT,
    FRAG_CHUNKS = (IP_MAX_LEN + FRAG_CHUNK_SIZE - 1) / FRAG_CHUNK_SIZE,
    FRAG_BITMAP_WORDS = FRAG_UNITS_PER_CHUNK / 64,
    FRAG_MAX_DATAGRAMS = 65536
};
#define FRAG_MAX_BYTES ((uint64_t)1 << 30)
#define FRAG_NONE (-1)

struct frag_chunk {
    struct frag_chunk *next_free;
    uint64_t have[FRAG_BITMAP_WORDS]; /* units of data[] received */
    uint8_t data[FRAG_CHUNK_SIZE];
};

/* What identifies a datagram: RFC 791 (source, destination, protocol,
 * identification) and RFC 8200 (source, destination, identification), plus
 * the outermost tunnel, since tenants behind different VNIs reuse addresses. */
struct frag_key {
    struct gw_addr src, dst;
    uint32_t id;
    uint8_t proto;        /* IPv4 protocol; 0 for IPv6, whose key lacks it */
    uint8_t tunnel_type;
    uint32_t tunnel_id;
};

struct frag_dgram {
    struct frag_key key;
    gw_time_us created;         /* decoder clock at the first fragment */
    int32_t hash_next;          /* chain in a bucket, or the free stack */
    int32_t older, newer;       /* age list */
    uint32_t total;             /* payload length, once have_last */
    uint32_t max_end;           /* furthest end of an accepted fragment */
    uint16_t units_held;
    uint8_t next;               /* IPv6: next header of the offset-0 fragment */
    bool have_last;
    struct frag_chunk *chunks[FRAG_CHUNKS];
};

struct frag_table {
    struct frag_dgram *slots;   /* max_datagrams of them, NULL until the first fragment */
    int32_t *buckets;
    uint32_t bucket_mask;
    int32_t free_slot;
    int32_t oldest, newest;
    uint32_t live;
    uint32_t max_datagrams;
    uint64_t max_chunks;        /* frag_max_bytes / sizeof(struct frag_chunk) */
    uint64_t chunks_allocated;
    uint64_t chunks_held;
    struct frag_chunk *free_chunks;
    gw_time_us timeout_us;
    uint64_t hash_seed;
    uint8_t *completed;         /* IP_MAX_LEN bytes, allocated on the first completion */
};

struct gw_decoder {
    struct gw_decode_stats stats;
    gw_time_us now;             /* the latest packet time seen */
    struct frag_table frag;
};

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

/* One fragment as the IP layer hands it to the reassembly. */
struct frag_piece {
    size_t offset;          /* in bytes */
    bool more;              /* MF / M flag */
    bool trim_unaligned;    /* IPv4: cut a non-last fragment to a multiple of 8 */
    bool carries_tcp;       /* protocol / next header of the fragment is TCP */
    const uint8_t *data;
    size_t cap_len;         /* captured data bytes */
    size_t wire_len;        /* data bytes the fragment carried */
    size_t limit;           /* the datagram's payload may not end past this */
    uint8_t next;           /* IPv6 next header after the fragment header */
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
static bool frag_add(struct decode_ctx *x, const struct frag_key *key,
                     const struct frag_piece *pc, struct ip_body *whole, uint8_t *next);

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
    size_t captured = GW_MIN(ip_len, c->n - ip_start);
    b->cap = gw_cursor_make(c->p + ip_start + hdr_len, captured - hdr_len);
    b->wire = ip_len - hdr_len;
    return STEP_OK;
}

/* The rest of a body as a new frame for the encapsulated packet: what it
 * may claim is bounded by what the outer header announced. */
static struct gw_cursor descend(struct decode_ctx *x, const struct ip_body *b)
{
    x->frame_wire_len = b->wire - b->cap.off;
    return gw_cursor_make(gw_cursor_ptr(&b->cap), gw_cursor_left(&b->cap));
}

/* The next len bytes of b as a body of their own (a UDP payload). */
static struct ip_body sub_body(const struct ip_body *b, size_t len)
{
    struct ip_body s;
    s.cap = gw_cursor_make(gw_cursor_ptr(&b->cap), GW_MIN(len, gw_cursor_left(&b->cap)));
    s.wire = len;
    return s;
}

/* Zero-fills the unused bytes: an inner IPv4 address must not keep the
 * tail of an outer IPv6 one. */
static void copy_addr(struct gw_addr *a, uint8_t family, const uint8_t *bytes, size_t len)
{
    a->family = family;
    for (size_t i = 0; i < sizeof a->bytes; i++) a->bytes[i] = i < len ? bytes[i] : 0;
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
    if (frame_type == ERSPAN3_FT_IP) {
        struct gw_cursor peek = inner;
        uint8_t first = gw_get_u8(&peek);
        if (peek.err) return GW_DECODE_TRUNCATED;
        if ((first >> 4) == 4) return decode_ipv4(x, &inner);
        if ((first >> 4) == 6) return decode_ipv6(x, &inner);
        return GW_DECODE_MALFORMED;
    }
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
    if (proto == ETHERTYPE_ERSPAN2) { /* type I: the bare mirrored frame */
        r = enter_tunnel(x, GW_TUNNEL_ERSPAN2, 0);
        if (r != STEP_OK) return r;
        struct gw_cursor inner = descend(x, b);
        return decode_ethernet(x, &inner);
    }
    r = enter_tunnel(x, GW_TUNNEL_GRE, key);
    if (r != STEP_OK) return r;
    struct gw_cursor inner = descend(x, b);
    if (proto == ETHERTYPE_TEB) return decode_ethernet(x, &inner);
    return decode_ethertype(x, &inner, proto);
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
    r = enter_tunnel(x, GW_TUNNEL_VXLAN, vni);
    if (r != STEP_OK) return r;
    struct gw_cursor inner = descend(x, b);
    return decode_ethernet(x, &inner);
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
    r = enter_tunnel(x, GW_TUNNEL_GENEVE, vni);
    if (r != STEP_OK) return r;
    struct gw_cursor inner = descend(x, b);
    if (proto == ETHERTYPE_TEB) return decode_ethernet(x, &inner);
    return decode_ethertype(x, &inner, proto);
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
    int r = enter_tunnel(x, GW_TUNNEL_IPIP, 0);
    if (r != STEP_OK) return r;
    struct gw_cursor inner = descend(x, b);
    return proto == IPPROTO_NUM_IPIP ? decode_ipv4(x, &inner) : decode_ipv6(x, &inner);
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

/* The reassembly key of the IP header just decoded (addresses are in out). */
static void make_frag_key(const struct decode_ctx *x, uint32_t id, uint8_t proto,
                          struct frag_key *k)
{
    memset(k, 0, sizeof *k);
    k->src = x->out->src;
    k->dst = x->out->dst;
    k->id = id;
    k->proto = proto;
    k->tunnel_type = x->out->tunnel.type;
    k->tunnel_id = x->out->tunnel.id;
}

static int decode_ipv4_fragment(struct decode_ctx *x, struct ip_body *b, uint16_t id,
                                uint16_t frag, uint8_t proto, size_t hdr_len)
{
    x->st->fragments++;
    struct frag_piece pc = {
        .offset = (size_t)(frag & IPV4_FRAG_OFFSET_MASK) * FRAG_UNIT,
        .more = (frag & IPV4_MF) != 0,
        .trim_unaligned = true,
        .carries_tcp = proto == IPPROTO_NUM_TCP,
        .data = gw_cursor_ptr(&b->cap),
        .cap_len = gw_cursor_left(&b->cap),
        .wire_len = b->wire,
        .limit = IP_MAX_LEN - hdr_len,
    };
    struct frag_key key;
    make_frag_key(x, id, proto, &key);
    struct ip_body whole;
    uint8_t unused;
    if (!frag_add(x, &key, &pc, &whole, &unused)) return GW_DECODE_OTHER;
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
    x->st->fragments++;
    struct frag_piece pc = {
        .offset = (size_t)(off_flags >> 3) * FRAG_UNIT,
        .more = (off_flags & 1) != 0,
        .trim_unaligned = false,
        .carries_tcp = next == IPPROTO_NUM_TCP,
        .data = gw_cursor_ptr(&b->cap),
        .cap_len = gw_cursor_left(&b->cap),
        .wire_len = b->wire - b->cap.off,
        .limit = IP_MAX_LEN - unfragmentable,
        .next = next,
    };
    struct frag_key key;
    make_frag_key(x, id, 0, &key);
    struct ip_body whole;
    uint8_t first_next;
    if (!frag_add(x, &key, &pc, &whole, &first_next)) return GW_DECODE_OTHER;
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
    struct gw_cursor peek = *c;
    uint8_t first = gw_get_u8(&peek);
    if (peek.err) return GW_DECODE_TRUNCATED;
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
    struct gw_cursor peek = *c;
    uint8_t first = gw_get_u8(&peek);
    if (peek.err) return GW_DECODE_TRUNCATED;
    uint8_t nibble = first >> 4;
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

/* ---- fragment reassembly ---------------------------------------------------- */

/* A keyed mix (seed drawn at create time) so a sender cannot aim every
 * datagram at one chain; chains are bounded by max_datagrams anyway. */
static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}

static uint32_t frag_hash(const struct frag_table *ft, const struct frag_key *k)
{
    uint64_t h = ft->hash_seed;
    h = mix64(h ^ load64(k->src.bytes));
    h = mix64(h ^ load64(k->src.bytes + 8));
    h = mix64(h ^ load64(k->dst.bytes));
    h = mix64(h ^ load64(k->dst.bytes + 8));
    h = mix64(h ^ ((uint64_t)k->id << 32 | (uint64_t)k->proto << 24 | (uint64_t)k->tunnel_type << 16 |
                   k->src.family));
    h = mix64(h ^ k->tunnel_id);
    return (uint32_t)(h & ft->bucket_mask);
}

static bool frag_key_eq(const struct frag_key *a, const struct frag_key *b)
{
    return a->id == b->id && a->proto == b->proto && a->tunnel_type == b->tunnel_type &&
           a->tunnel_id == b->tunnel_id && gw_addr_cmp(&a->src, &b->src) == 0 &&
           gw_addr_cmp(&a->dst, &b->dst) == 0;
}

static void frag_update_gauges(struct gw_decoder *d)
{
    d->stats.frag_datagrams_held = d->frag.live;
    d->stats.frag_bytes_held = d->frag.chunks_held * sizeof(struct frag_chunk);
}

/* Allocates the slot table and hash on the first fragment. */
static bool frag_table_ready(struct gw_decoder *d)
{
    struct frag_table *ft = &d->frag;
    if (ft->slots) return true;
    uint32_t nbuckets = 1;
    while (nbuckets < ft->max_datagrams * 2) nbuckets <<= 1;
    ft->slots = calloc(ft->max_datagrams, sizeof *ft->slots);
    ft->buckets = malloc(nbuckets * sizeof *ft->buckets);
    if (!ft->slots || !ft->buckets) {
        free(ft->slots);
        free(ft->buckets);
        ft->slots = NULL;
        ft->buckets = NULL;
        return false;
    }
    ft->bucket_mask = nbuckets - 1;
    for (uint32_t i = 0; i < nbuckets; i++) ft->buckets[i] = FRAG_NONE;
    ft->free_slot = FRAG_NONE;
    for (uint32_t i = ft->max_datagrams; i-- > 0;) {
        ft->slots[i].hash_next = ft->free_slot;
        ft->free_slot = (int32_t)i;
    }
    ft->oldest = ft->newest = FRAG_NONE;
    return true;
}

static void frag_unlink_age(struct frag_table *ft, struct frag_dgram *g)
{
    if (g->older != FRAG_NONE) ft->slots[g->older].newer = g->newer;
    else ft->oldest = g->newer;
    if (g->newer != FRAG_NONE) ft->slots[g->newer].older = g->older;
    else ft->newest = g->older;
}

static void frag_unlink_hash(struct frag_table *ft, int32_t i)
{
    int32_t *link = &ft->buckets[frag_hash(ft, &ft->slots[i].key)];
    while (*link != i) link = &ft->slots[*link].hash_next;
    *link = ft->slots[i].hash_next;
}

/* Forgets datagram i: its chunks go back to the free list, its slot to the
 * free stack. */
static void frag_release(struct gw_decoder *d, int32_t i)
{
    struct frag_table *ft = &d->frag;
    struct frag_dgram *g = &ft->slots[i];
    for (size_t k = 0; k < FRAG_CHUNKS; k++) {
        struct frag_chunk *ch = g->chunks[k];
        if (!ch) continue;
        memset(ch->have, 0, sizeof ch->have);
        ch->next_free = ft->free_chunks;
        ft->free_chunks = ch;
        ft->chunks_held--;
        g->chunks[k] = NULL;
    }
    frag_unlink_hash(ft, i);
    frag_unlink_age(ft, g);
    g->hash_next = ft->free_slot;
    ft->free_slot = i;
    ft->live--;
    frag_update_gauges(d);
}

static void frag_expire(struct gw_decoder *d)
{
    struct frag_table *ft = &d->frag;
    /* Unsigned difference: the clock never goes back, so now >= created,
     * and hostile timestamps cannot overflow a signed subtraction. */
    while (ft->live > 0 &&
           (uint64_t)d->now - (uint64_t)ft->slots[ft->oldest].created >= (uint64_t)ft->timeout_us) {
        frag_release(d, ft->oldest);
        d->stats.frag_timeouts++;
    }
}

static int32_t frag_find(const struct frag_table *ft, const struct frag_key *k)
{
    for (int32_t i = ft->buckets[frag_hash(ft, k)]; i != FRAG_NONE; i = ft->slots[i].hash_next)
        if (frag_key_eq(&ft->slots[i].key, k)) return i;
    return FRAG_NONE;
}

/* The datagram of key k, created (evicting the oldest when all slots are
 * taken) if new. */
static int32_t frag_find_or_create(struct gw_decoder *d, const struct frag_key *k)
{
    struct frag_table *ft = &d->frag;
    int32_t i = frag_find(ft, k);
    if (i != FRAG_NONE) return i;
    if (ft->free_slot == FRAG_NONE) {
        frag_release(d, ft->oldest);
        d->stats.frag_evicted++;
    }
    i = ft->free_slot;
    struct frag_dgram *g = &ft->slots[i];
    ft->free_slot = g->hash_next;
    memset(g, 0, sizeof *g);
    g->key = *k;
    g->created = d->now;
    uint32_t h = frag_hash(ft, k);
    g->hash_next = ft->buckets[h];
    ft->buckets[h] = i;
    g->newer = FRAG_NONE;
    g->older = ft->newest;
    if (ft->newest != FRAG_NONE) ft->slots[ft->newest].newer = i;
    else ft->oldest = i;
    ft->newest = i;
    ft->live++;
    frag_update_gauges(d);
    return i;
}

/* A chunk for datagram keep: from the free list, newly allocated under the
 * cap, or freed by evicting the oldest other datagrams. NULL if none. */
static struct frag_chunk *frag_chunk_get(struct gw_decoder *d, int32_t keep)
{
    struct frag_table *ft = &d->frag;
    for (;;) {
        struct frag_chunk *ch = ft->free_chunks;
        if (ch) {
            ft->free_chunks = ch->next_free;
        } else if (ft->chunks_allocated < ft->max_chunks) {
            ch = calloc(1, sizeof *ch);
            if (!ch) return NULL;
            ft->chunks_allocated++;
        }
        if (ch) {
            ft->chunks_held++;
            frag_update_gauges(d);
            return ch;
        }
        int32_t victim = ft->oldest != keep ? ft->oldest : ft->slots[keep].newer;
        if (victim == FRAG_NONE) return NULL;
        frag_release(d, victim);
        d->stats.frag_evicted++;
    }
}

/* Checks a fragment ending at end against the datagram's known length and
 * records the length when this is the last fragment. */
static bool frag_end_consistent(struct frag_dgram *g, bool more, size_t end)
{
    if (more) return !g->have_last || end <= g->total;
    if (g->have_last) return end == g->total;   /* a copy of the last fragment */
    if (end < g->max_end) return false;         /* bytes already held past it */
    g->have_last = true;
    g->total = (uint32_t)end;
    return true;
}

/* RFC 1858: an offset-0 TCP fragment that cannot hold the whole TCP header
 * lets a later fragment supply ports or flags a filter never saw. */
static bool frag_is_tiny(const struct frag_piece *pc)
{
    if (pc->offset != 0 || !pc->carries_tcp) return false;
    size_t need = TCP_MIN_HDR;
    if (pc->cap_len > 12) need = GW_MAX(need, (size_t)(pc->data[12] >> 4) * 4);
    return pc->wire_len < need;
}

/* Copies the units of [start, end) captured in data (cap bytes) that are
 * not held yet; compares those that are. Returns false if out of memory. */
static bool frag_copy(struct gw_decoder *d, int32_t i, const struct frag_piece *pc, size_t end,
                      bool *overlap, bool *conflict)
{
    struct frag_dgram *g = &d->frag.slots[i];
    size_t avail = pc->offset + GW_MIN(pc->cap_len, end - pc->offset);
    for (size_t pos = pc->offset; pos < end; pos += FRAG_UNIT) {
        size_t n = GW_MIN((size_t)FRAG_UNIT, end - pos); /* < 8 only at the datagram's end */
        if (pos + n > avail) break;                       /* cut by the snap length */
        size_t unit = pos / FRAG_UNIT;
        size_t k = unit / FRAG_UNITS_PER_CHUNK, bit = unit % FRAG_UNITS_PER_CHUNK;
        if (!g->chunks[k] && !(g->chunks[k] = frag_chunk_get(d, i))) return false;
        struct frag_chunk *ch = g->chunks[k];
        uint8_t *dst = ch->data + bit * FRAG_UNIT;
        const uint8_t *src = pc->data + (pos - pc->offset);
        uint64_t mask = (uint64_t)1 << (bit % 64);
        if (ch->have[bit / 64] & mask) {
            *overlap = true;
            if (memcmp(dst, src, n) != 0) *conflict = true;
            continue;
        }
        memcpy(dst, src, n);
        ch->have[bit / 64] |= mask;
        g->units_held++;
        if (unit == 0) g->next = pc->next;
    }
    if (end > g->max_end) g->max_end = (uint32_t)end;
    return true;
}

/* Copies complete datagram i into the completion buffer as *whole. */
static bool frag_complete(struct gw_decoder *d, int32_t i, struct ip_body *whole, uint8_t *next)
{
    struct frag_table *ft = &d->frag;
    struct frag_dgram *g = &ft->slots[i];
    if (!ft->completed && !(ft->completed = malloc(IP_MAX_LEN))) return false;
    size_t total = g->total;
    for (size_t k = 0; k * FRAG_CHUNK_SIZE < total; k++)
        memcpy(ft->completed + k * FRAG_CHUNK_SIZE, g->chunks[k]->data,
               GW_MIN((size_t)FRAG_CHUNK_SIZE, total - k * FRAG_CHUNK_SIZE));
    *next = g->next;
    whole->cap = gw_cursor_make(ft->completed, total);
    whole->wire = total;
    return true;
}

/* Validates fragment pc and sets *end to the end of the bytes it may add.
 * Returns false if the fragment is dropped. */
static bool frag_accepted_end(struct gw_decode_stats *st, const struct frag_piece *pc, size_t *end)
{
    *end = pc->offset + pc->wire_len;
    if (*end > pc->limit) {                 /* would make a datagram over 65535 bytes */
        st->frag_invalid++;
        return false;
    }
    if (!pc->more) return true;
    if (pc->wire_len % FRAG_UNIT != 0) {
        st->frag_invalid++;
        if (!pc->trim_unaligned) return false; /* RFC 8200 4.5: discard */
        *end -= pc->wire_len % FRAG_UNIT;      /* IPv4: the next offset decides; Linux trims */
        return *end > pc->offset;
    }
    if (pc->wire_len == 0) {                /* adds nothing, would only take a slot */
        st->frag_invalid++;
        return false;
    }
    return true;
}

/* Adds one fragment. Returns true when it completed its datagram, which
 * is then in *whole (*next: IPv6 next header of the first fragment). */
static bool frag_add(struct decode_ctx *x, const struct frag_key *key, const struct frag_piece *pc,
                     struct ip_body *whole, uint8_t *next)
{
    struct gw_decoder *d = x->d;
    struct gw_decode_stats *st = x->st;
    if (frag_is_tiny(pc)) st->frag_tiny++;
    size_t end;
    if (!frag_accepted_end(st, pc, &end)) return false;
    if (!frag_table_ready(d)) {
        st->frag_evicted++;
        return false;
    }
    int32_t i = frag_find_or_create(d, key);
    struct frag_dgram *g = &d->frag.slots[i];
    if (!frag_end_consistent(g, pc->more, end)) {
        st->frag_invalid++;
        return false;
    }
    bool overlap = false, conflict = false;
    bool stored = frag_copy(d, i, pc, end, &overlap, &conflict);
    if (overlap) st->frag_overlaps++;
    if (conflict) st->frag_conflicts++;
    if (!stored) {
        frag_release(d, i);
        st->frag_evicted++;
        return false;
    }
    if (!g->have_last || g->units_held != (g->total + FRAG_UNIT - 1) / FRAG_UNIT) return false;
    bool done = frag_complete(d, i, whole, next);
    frag_release(d, i);
    if (done) st->frag_reassembled++;
    else st->frag_evicted++;
    return done;
}

static void frag_table_free(struct gw_decoder *d)
{
    struct frag_table *ft = &d->frag;
    while (ft->live > 0) frag_release(d, ft->oldest);
    while (ft->free_chunks) {
        struct frag_chunk *ch = ft->free_chunks;
        ft->free_chunks = ch->next_free;
        free(ch);
    }
    free(ft->completed);
    free(ft->slots);
    free(ft->buckets);
}

static uint64_t random_seed(const void *salt)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)salt;
    return seed;
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
    if (c.frag_max_datagrams == 0) c.frag_max_datagrams = GW_DECODE_DEFAULT_FRAG_DATAGRAMS;
    if (c.frag_max_bytes == 0) c.frag_max_bytes = GW_DECODE_DEFAULT_FRAG_BYTES;
    if (c.frag_timeout_s == 0) c.frag_timeout_s = GW_DECODE_DEFAULT_FRAG_TIMEOUT_S;
    if (c.frag_max_datagrams > FRAG_MAX_DATAGRAMS || c.frag_max_bytes > FRAG_MAX_BYTES) return NULL;

    struct gw_decoder *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->now = INT64_MIN;
    d->frag.max_datagrams = c.frag_max_datagrams;
    d->frag.max_chunks = c.frag_max_bytes / sizeof(struct frag_chunk);
    d->frag.timeout_us = (gw_time_us)c.frag_timeout_s * 1000000;
    d->frag.hash_seed = random_seed(d);
    return d;
}

struct gw_decoder *gw_decoder_create(void)
{
    return gw_decoder_create2(NULL);
}

void gw_decoder_destroy(struct gw_decoder *d)
{
    if (!d) return;
    frag_table_free(d);
    free(d);
}

int gw_decoder_decode(struct gw_decoder *d, const struct gw_packet *pkt, struct gw_segment *out)
{
    if (d == NULL || pkt == NULL || out == NULL) return GW_DECODE_MALFORMED;

    if (pkt->ts > d->now) d->now = pkt->ts;
    if (d->frag.live > 0) frag_expire(d);

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
