/*
 * stream.h - between the flow table and the application layer: the
 * opening window, per-direction reassembly, and explicit actions.
 *
 * On a SPAN port or a multi-queue capture card the packets of one
 * connection do not arrive in capture order: the server's first data can
 * sit ahead of the SYN and SYN-ACK, the client's second segment ahead of
 * its first. Deciding from the first packet alone would fix the wrong
 * client, or the wrong initial sequence number (and lose the bytes before
 * it). So a flow opens with a window:
 *  - a direction delivers only once its start is known (its SYN or SYN-ACK
 *    was seen) and the flow's orientation is known (a SYN or a SYN-ACK);
 *    until then its segments are held, in arrival order;
 *  - a SYN (the client's) or SYN-ACK (the server's) that arrives late
 *    corrects the orientation: gw_stream_segment returns GW_STREAM_SWAP |
 *    GW_STREAM_RETRY before it takes the segment; the caller swaps the flow
 *    (gw_flow_set_client), calls gw_stream_swapped and hands the segment
 *    again with the direction flipped;
 *  - the window closes (everything held is delivered, each direction in
 *    sequence order, the directions interleaved as they arrived) when both
 *    starts are known, or at GW_STREAM_WINDOW_PACKETS held segments or
 *    window_bytes held bytes, when the memory budget refuses, on a RST, or
 *    when the flow ends. Held bytes are charged to the reassembly budget.
 * A connection whose SYN and SYN-ACK come first (the usual case) holds
 * nothing: segments go straight to reassembly.
 *
 * Delivery is to a gw_stream_consumer (the application layer): in-order
 * bytes, gaps, FINs, each with the segment's timestamp. Its callbacks
 * return actions (GW_STREAM_BYPASS: stop reassembling this flow;
 * GW_STREAM_SWAP: the side taken for the server is the client). The stream
 * applies a bypass itself once the delivery returns; a swap asked for
 * during a delivery re-maps the directions of the rest of that delivery at
 * once (gw_stream_roles_swapped says so to whoever writes records) and is
 * returned to the caller to apply to the flow, then gw_stream_swapped.
 *
 * A segment with SYN and RST, or SYN and FIN, is no segment an endpoint
 * accepts (RFC 9293 processes a SYN only in states where RST/FIN make it
 * void): it is dropped (GW_STREAM_DROPPED) and ends nothing, so one crafted
 * packet past the tap can not end a connection the endpoints keep using.
 *
 * The stream never reaches back: it returns actions; the flow table's
 * owner applies them.
 */
#ifndef GRPCWATCH_STREAM_H
#define GRPCWATCH_STREAM_H

#include "grpcwatch/common.h"
#include "grpcwatch/decode.h"
#include "grpcwatch/flow.h"
#include "grpcwatch/pool.h"
#include "grpcwatch/reasm.h"
#include "grpcwatch/stats.h"

#define GW_STREAM_WINDOW_PACKETS 16
#define GW_STREAM_WINDOW_BYTES (32 * 1024)

enum gw_stream_action {
    GW_STREAM_CONTINUE = 0,
    GW_STREAM_BYPASS = 1u << 0, /* stop reassembling the flow */
    GW_STREAM_SWAP = 1u << 1,   /* swap the flow's client and server, then gw_stream_swapped */
    GW_STREAM_RETRY = 1u << 2,  /* the segment was not taken: hand it again (direction flipped) */
    GW_STREAM_DROPPED = 1u << 3 /* the segment is not TCP any endpoint accepts: ignored */
};

struct gw_stream_consumer {
    unsigned (*data)(void *user, int dir, const uint8_t *p, size_t n, gw_time_us ts);
    unsigned (*gap)(void *user, int dir, size_t len, gw_time_us ts);
    unsigned (*fin)(void *user, int dir, gw_time_us ts);
};

struct gw_stream_config {
    struct gw_reasm_limits reasm;  /* budget: held window bytes are charged to it */
    uint32_t window_bytes;         /* 0: GW_STREAM_WINDOW_BYTES */
    struct gw_pool *pool;          /* held window segments' memory (pool.h); NULL: malloc */
};

struct gw_stream_stats {
    uint64_t windows;          /* flows that had to hold segments before delivering */
    uint64_t held_segments;    /* segments held by opening windows */
    uint64_t reordered;        /* held segments delivered out of their arrival order */
    uint64_t swaps_late_syn;   /* orientations corrected by a late SYN or SYN-ACK */
    uint64_t swaps_app;        /* orientations corrected by the application layer */
    uint64_t window_refused;   /* windows closed early: budget or size */
    uint64_t late_syn_ignored; /* a SYN contradicting an orientation already in use */
    uint64_t invalid_flags;    /* SYN with RST or FIN: dropped, nothing ended by it */
};

struct gw_stream;

struct gw_stream *gw_stream_create(const struct gw_stream_config *cfg);
void gw_stream_destroy(struct gw_stream *s);

/* One TCP segment of flow f in direction dir (relative to f's client). */
unsigned gw_stream_segment(struct gw_stream *s, struct gw_flow *f, int dir,
                           const struct gw_segment *seg, const struct gw_stream_consumer *c,
                           void *user);

/* The flow's client and server were swapped (gw_flow_set_client) after
 * GW_STREAM_SWAP: re-maps what the window holds, clears the pending swap. */
void gw_stream_swapped(struct gw_flow *f);

/* True during a delivery whose consumer asked for a swap not applied yet. */
bool gw_stream_roles_swapped(const struct gw_flow *f);

/* True once the connection's start was seen: a SYN or SYN-ACK (the
 * orientation is then certain, not guessed from ports). */
bool gw_stream_start_seen(const struct gw_flow *f);

/* True while the opening window holds segments of the flow. Such a flow is
 * worth keeping for the few packets the window lasts: a flood of new flows
 * must not push it out before it is classified (the sensor ranks it MID). */
bool gw_stream_holding(const struct gw_flow *f);

/* The flow ends: what the window and reassembly hold is delivered (holes as
 * gaps). Safe to call twice. */
void gw_stream_flush(struct gw_stream *s, struct gw_flow *f, const struct gw_stream_consumer *c,
                     void *user);
/* Frees what the flow holds without delivering it. */
void gw_stream_release(struct gw_stream *s, struct gw_flow *f);

const struct gw_stream_stats *gw_stream_stats(const struct gw_stream *s);
extern const struct gw_stat_field gw_stream_stat_fields[];
extern const size_t gw_stream_stat_fields_len;

#endif
