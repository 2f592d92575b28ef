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
 * The decoder is an object so later stages of work (IP fragment reassembly,
 * tunnel state) can keep bounded state in it; today it holds only counters.
 */
#ifndef GRPCWATCH_DECODE_H
#define GRPCWATCH_DECODE_H

#include "grpcwatch/common.h"

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

/* The outermost tunnel a segment arrived in (reserved for tunnel decoding). */
struct gw_tunnel {
    uint8_t type;        /* enum gw_tunnel_type */
    struct gw_addr outer_src, outer_dst;
    uint32_t id;         /* VNI, GRE key, ERSPAN session id; 0 if none */
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
    struct gw_tunnel tunnel;
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
    uint64_t fragments;     /* IPv4/IPv6 fragments (returned as OTHER: not reassembled yet) */
};

struct gw_decoder;

struct gw_decoder *gw_decoder_create(void);
void gw_decoder_destroy(struct gw_decoder *d);

/* Decodes pkt into *out. Returns an enum gw_decode_result. */
int gw_decoder_decode(struct gw_decoder *d, const struct gw_packet *pkt, struct gw_segment *out);

const struct gw_decode_stats *gw_decoder_stats(const struct gw_decoder *d);
const char *gw_decode_result_str(int result);

#endif
