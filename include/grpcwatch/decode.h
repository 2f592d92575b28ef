/*
 * decode.h - link layer, IP and TCP decoding: one captured packet in, one TCP
 * segment view out.
 *
 * The decoder never copies payload: gw_segment.payload points into the packet
 * buffer the caller passed and is valid as long as that buffer is. It never
 * reads past caplen. A packet cut by the snap length still yields its headers
 * when they fit; payload_len is then the captured part and payload_wire_len
 * what the TCP segment really carried, so reassembly treats the rest as
 * missing data.
 *
 * Link types (DLT values as in pcap/dlt.h, LINKTYPE_ values where they
 * differ): EN10MB (1) with 802.1Q/QinQ tags 0x8100, 0x88a8, 0x9100 (any
 * depth up to 8), LINUX_SLL (113), LINUX_SLL2 (276), NULL (0) and LOOP (108,
 * family in host or network byte order), RAW (12, 14, 101: IPv4 or IPv6 by
 * version nibble), IPV4 (228), IPV6 (229).
 *
 * Encapsulations (at most GW_DECODE_MAX_ENCAPS nested, deeper is
 * UNSUPPORTED): MPLS (ethertypes 0x8847, 0x8848; IPv4, IPv6 or an RFC 4385
 * pseudowire with control word carrying Ethernet below the stack), GRE
 * version 0 (IP proto 47; payloads IPv4, IPv6, Ethernet 0x6558, MPLS, ERSPAN
 * type I and II 0x88be, type III 0x22eb), VXLAN (UDP port 4789 or 8472),
 * Geneve (UDP port 6081), IPv4/IPv6 in IPv4/IPv6 (protocols 4 and 41). The
 * segment is the innermost TCP; gw_segment.tunnel describes the outermost
 * tunnel.
 *
 * IPv4 and IPv6 fragments are reassembled by the decoder's reassembler
 * (defrag.h), within the caps of struct gw_decode_config, at every level of
 * encapsulation. A
 * fragment that completes a datagram returns the result of decoding the
 * whole datagram (GW_DECODE_TCP for a TCP segment); one that does not
 * returns GW_DECODE_OTHER (held, duplicate or dropped: the reassembler's
 * counters, gw_decoder_defrag_stats, say which). The payload of a segment decoded from a reassembled datagram
 * points into a buffer owned by the decoder, valid until the next
 * gw_decoder_decode or gw_decoder_destroy call on that decoder; otherwise it
 * points into the caller's packet buffer as above.
 */
#ifndef GRPCWATCH_DECODE_H
#define GRPCWATCH_DECODE_H

#include "grpcwatch/common.h"

/* Incomplete here on purpose: stats.h includes record.h, which includes
 * this header, so neither stats.h nor defrag.h (which includes stats.h)
 * can be included from it. */
struct gw_stat_field;
struct gw_defrag_stats;

/* TCP flag bits as on the wire. */
#define GW_TCP_FIN 0x01
#define GW_TCP_SYN 0x02
#define GW_TCP_RST 0x04
#define GW_TCP_PSH 0x08
#define GW_TCP_ACK 0x10

enum gw_tunnel_type {
    GW_TUNNEL_NONE = 0, GW_TUNNEL_GRE, GW_TUNNEL_ERSPAN2, GW_TUNNEL_ERSPAN3,
    GW_TUNNEL_VXLAN, GW_TUNNEL_GENEVE, GW_TUNNEL_IPIP, GW_TUNNEL_MPLS
};

/* The outermost tunnel a segment arrived in. ERSPAN type I (no ERSPAN
 * header) is reported as GW_TUNNEL_ERSPAN2 with id 0. Outer addresses are
 * those of the IP header carrying the tunnel (family 0 for MPLS straight on
 * the link layer). */
struct gw_tunnel {
    uint8_t type;        /* enum gw_tunnel_type */
    struct gw_addr outer_src, outer_dst;
    uint32_t id;         /* VNI, GRE key, ERSPAN session id, MPLS top label; 0 if none */
};

/* One captured packet as the capture stage hands it on. */
struct gw_packet {
    gw_time_us ts;
    int linktype;          /* DLT_* */
    const uint8_t *data;
    uint32_t caplen;       /* bytes in data */
    uint32_t wirelen;      /* bytes on the wire */
    uint64_t number;       /* 1-based position in the capture, for messages */
};

/* A decoded TCP segment. */
struct gw_segment {
    gw_time_us ts;
    struct gw_addr src, dst;
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;            /* GW_TCP_* */
    uint16_t window;
    const uint8_t *payload;   /* into the packet buffer */
    uint32_t payload_len;     /* captured payload bytes */
    uint32_t payload_wire_len;/* payload bytes the segment carried (>= payload_len) */
    struct gw_tunnel tunnel;  /* type GW_TUNNEL_NONE when not tunnelled */
};

enum gw_decode_result {
    GW_DECODE_TCP = 0,    /* out holds a TCP segment */
    GW_DECODE_OTHER,      /* well-formed, not TCP (UDP, ARP, ICMP...): ignored */
    GW_DECODE_TRUNCATED,  /* headers cut by the snap length or packet end */
    GW_DECODE_MALFORMED,  /* a header is invalid (bad lengths, bad version) */
    GW_DECODE_UNSUPPORTED /* unknown link type or ethertype */
};

struct gw_decode_stats {
    uint64_t packets, tcp, other, truncated, malformed, unsupported;
    uint64_t snapped;       /* TCP segments whose payload was cut by the snap length */
    uint64_t vlan, ipv4, ipv6;
    /* Encapsulations: `tunnels` counts packets with at least one, the others
     * each layer of their kind (VXLAN in GRE counts one of each). */
    uint64_t tunnels;
    uint64_t tunnel_mpls, tunnel_gre, tunnel_erspan, tunnel_vxlan, tunnel_geneve, tunnel_ipip;
};

/* Nested encapsulations decoded; one more is UNSUPPORTED. */
#define GW_DECODE_MAX_ENCAPS 4

/* Caps of the fragment reassembly. Zero fields take the defaults. */
struct gw_decode_config {
    uint32_t frag_max_datagrams; /* in progress at once; default 1024, at most 65536 */
    uint64_t frag_max_bytes;     /* buffered for them; default 4 MiB, at most 1 GiB */
    uint32_t frag_timeout_s;     /* packet time from the first fragment; default 30 */
};

/* The reassembler's defaults, by their decoder names (defrag.h defines them:
 * include it where these are used). */
#define GW_DECODE_DEFAULT_FRAG_DATAGRAMS GW_DEFRAG_DEFAULT_DATAGRAMS
#define GW_DECODE_DEFAULT_FRAG_BYTES GW_DEFRAG_DEFAULT_BYTES
#define GW_DECODE_DEFAULT_FRAG_TIMEOUT_S GW_DEFRAG_DEFAULT_TIMEOUT_S

struct gw_decoder;

/* gw_decoder_create() uses the defaults. gw_decoder_create2 returns NULL
 * when out of memory or when a field is over its maximum. Memory: the
 * reassembly state is allocated on the first fragment: a table of about
 * 350 bytes per datagram (frag_max_datagrams of them), buffers up to
 * frag_max_bytes, and one 64 KiB buffer on the first completed datagram. */
struct gw_decoder *gw_decoder_create(void);
struct gw_decoder *gw_decoder_create2(const struct gw_decode_config *cfg);
void gw_decoder_destroy(struct gw_decoder *d);

/* Decodes pkt into *out. Returns an enum gw_decode_result. */
int gw_decoder_decode(struct gw_decoder *d, const struct gw_packet *pkt, struct gw_segment *out);

/* The common frame (Ethernet, IPv4, TCP) has a fast path with the same
 * results; tests turn it off to compare. On by default. */
void gw_decoder_set_fast_path(struct gw_decoder *d, bool on);
const struct gw_decode_stats *gw_decoder_stats(const struct gw_decoder *d);
/* The reassembler's counters; the pointer is stable for the decoder's life. */
const struct gw_defrag_stats *gw_decoder_defrag_stats(const struct gw_decoder *d);

/* gw_decode_stats for the stats registry, paths relative to "decoder"
 * (packets ... tunnels.ipip). The fragment counters are the reassembler's:
 * gw_defrag_stat_fields over gw_decoder_defrag_stats(), registered under
 * "decoder.fragments" right after this table. A pointer, not an array
 * as in defrag.h: an array of an incomplete type cannot be declared, and
 * the include cycle above keeps struct gw_stat_field incomplete here. */
extern const struct gw_stat_field *const gw_decode_stat_fields;
extern const size_t gw_decode_stat_fields_len;
const char *gw_decode_result_str(int result);

#endif
