/*
 * flow.h - the bidirectional flow table.
 *
 * Invariants:
 *  - Both directions of a TCP connection map to one gw_flow (the key is the
 *    5-tuple with the endpoints in canonical order).
 *  - flow->client / flow->server say who initiated: the SYN sender; without a
 *    SYN a later stage may call gw_flow_set_client() once it knows better
 *    (the side that sent an HTTP/2 preface or a ClientHello); failing both,
 *    the higher port is the client.
 *  - The table holds at most `max_flows`; inserting into a full table evicts
 *    the least recently used flow of the lowest value present (see
 *    enum gw_flow_value), so a flood of new flows can not push out a live
 *    gRPC connection while a flow of lower value is left. The hash is seeded
 *    at create time so an attacker can not aim for one bucket.
 *  - Every eviction, timeout and destroy calls on_end(user, flow, reason)
 *    exactly once before the flow's memory is reused; the callback frees what
 *    it hung on flow->app and may write records.
 *  - A gw_flow has a fixed size; nothing in this module allocates per packet.
 */
#ifndef GRPCWATCH_FLOW_H
#define GRPCWATCH_FLOW_H

#include "grpcwatch/common.h"
#include "grpcwatch/decode.h"
#include "grpcwatch/reasm.h"
#include "grpcwatch/stats.h"

enum gw_flow_end {
    GW_FLOW_END_TIMEOUT = 0, /* idle longer than its timeout */
    GW_FLOW_END_EVICTED,     /* made room for a new flow */
    GW_FLOW_END_CLOSED,      /* both directions saw FIN, or RST, and the close timeout passed */
    GW_FLOW_END_SHUTDOWN     /* end of input or exit */
};

/* What losing a flow would cost: the sensor raises it with
 * gw_flow_set_value() as it learns what the flow carries. A closed flow
 * ranks LOW whatever its value (its calls were written when it closed). */
enum gw_flow_value {
    GW_FLOW_VALUE_LOW = 0,  /* new, undecided or not HTTP/2: the default */
    GW_FLOW_VALUE_MID = 1,  /* HTTP/2 or TLS */
    GW_FLOW_VALUE_HIGH = 2, /* HTTP/2 carrying gRPC */
    GW_FLOW_VALUE_COUNT
};

struct gw_flow {
    /* identity */
    uint64_t id;                 /* flow_id for records: < 2^53 */
    struct gw_addr client, server;
    uint16_t client_port, server_port;
    uint8_t saw_syn;             /* orientation came from a SYN */
    uint8_t closed;              /* FIN both ways or RST seen */
    uint8_t value;               /* enum gw_flow_value; set with gw_flow_set_value() */
    gw_time_us first_ts, last_ts;
    uint64_t pkts[2], bytes[2];  /* by enum gw_dir */
    struct gw_tunnel tunnel;     /* tunnel of the first segment */
    /* per-direction TCP reassembly, by enum gw_dir */
    struct gw_reasm_dir reasm[2];
    /* the opening window and pending actions: private to stream.c */
    struct gw_stream_state {
        uint8_t flags;
        uint8_t held_segments;
        uint32_t held_bytes;
        struct gw_stream_held *held;   /* in arrival order */
    } stream;
    /* owned by the stage that set it; freed in on_end */
    void *app;
    /* private to flow.c */
    struct gw_flow *hnext, *lprev, *lnext;
    uint32_t hash;
    uint8_t lru;                 /* which LRU list holds the flow; none while it ends */
};

typedef void (*gw_flow_end_fn)(void *user, struct gw_flow *f, int reason);

struct gw_flow_config {
    uint32_t max_flows;          /* table cap (>= 1) */
    uint32_t timeout_new_s;      /* no data yet, or only a SYN */
    uint32_t timeout_established_s;
    uint32_t timeout_closed_s;   /* after FIN both ways / RST */
    struct gw_reasm_limits reasm; /* held segments are released with these when a flow ends */
};

struct gw_flow_stats {
    uint64_t created, evicted, timed_out, closed, active, max_active;
    /* evicted, split by the rank the flow had when it went (closed = LOW) */
    uint64_t evicted_by_value[GW_FLOW_VALUE_COUNT];
    uint64_t table_bytes;    /* gw_flow_table_memory, fixed at create */
};

/* For the stats registry (prefix "flow"): the table's counters come in two
 * parts so the application layer's flow counters sit between them, where
 * the stats record has always had them. */
extern const struct gw_stat_field gw_flow_stat_fields[];
extern const size_t gw_flow_stat_fields_len;
extern const struct gw_stat_field gw_flow_stat_fields_tail[];
extern const size_t gw_flow_stat_fields_tail_len;

struct gw_flow_table;

struct gw_flow_table *gw_flow_table_create(const struct gw_flow_config *cfg,
                                           gw_flow_end_fn on_end, void *user);
/* Ends every flow with GW_FLOW_END_SHUTDOWN; the table stays usable. */
void gw_flow_table_end_all(struct gw_flow_table *t);
/* Ends every flow with GW_FLOW_END_SHUTDOWN, then frees. */
void gw_flow_table_destroy(struct gw_flow_table *t);

/* Finds or creates the flow of a segment and sets *dir to the segment's
 * direction relative to the flow's client. Returns NULL only if a flow
 * could not be created (zero-capacity table). Updates counters and LRU. */
struct gw_flow *gw_flow_lookup(struct gw_flow_table *t, const struct gw_segment *s,
                               int *dir);

/* Swaps client and server (and the reasm states with them) so that the side
 * that sent direction `dir` becomes the client. No-op if dir is TO_SERVER.
 * Not from inside a gw_reasm_push() deliver callback of this flow: the reasm
 * states move under the running push. Note the decision, call it after. */
void gw_flow_set_client(struct gw_flow *f, int dir);

/* Marks the flow closed (FIN both ways or RST); it ends after timeout_closed_s. */
void gw_flow_mark_closed(struct gw_flow_table *t, struct gw_flow *f);

/* Sets the flow's value (values past HIGH count as HIGH). Call it on a
 * packet of the flow: the flow counts as used now. Safe from inside a
 * deliver callback, and from on_end (the value is then only recorded). */
void gw_flow_set_value(struct gw_flow_table *t, struct gw_flow *f, uint8_t value);

/* Ends flows idle past their timeout as of `now`. Cheap: walks the LRU tail. */
void gw_flow_expire(struct gw_flow_table *t, gw_time_us now);

const struct gw_flow_stats *gw_flow_table_stats(const struct gw_flow_table *t);

/* Bytes the table allocated at create time (table, buckets, every flow
 * struct); fixed for its life. Memory hung on flow->app or held by
 * reassembly is counted by its owners. */
size_t gw_flow_table_memory(const struct gw_flow_table *t);

#endif
