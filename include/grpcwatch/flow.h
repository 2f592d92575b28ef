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
 *  - A gw_flow has a fixed size (224 bytes, plus 8 of index per flow of
 *    max_flows); nothing in this module allocates per packet, and a packet
 *    writes no other flow's memory but, once an epoch (~65 ms) of the
 *    flow's, its two LRU neighbours'.
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
    /* identity and counters: what every packet reads or writes, first */
    uint64_t id;                 /* flow_id for records: < 2^53 */
    gw_time_us last_ts;
    uint64_t bytes[2];           /* payload bytes on the wire, by enum gw_dir */
    uint32_t pkts[2];            /* by enum gw_dir; stops at UINT32_MAX */
    struct gw_addr client, server;
    uint16_t client_port, server_port;
    uint8_t saw_syn;             /* orientation came from a SYN */
    uint8_t closed;              /* FIN both ways or RST seen */
    uint8_t value;               /* enum gw_flow_value; set with gw_flow_set_value() */
    uint8_t app_done;            /* the app layer is finished with the flow: never again */
    uint8_t app_park;            /* parked by the app layer: its token, resumed on data */
    uint8_t lru;                 /* private to flow.c: the LRU list; none while it ends */
    /* the opening window and pending actions: private to stream.c */
    struct gw_stream_state {
        uint8_t flags;
        uint8_t held_segments;
        uint32_t held_bytes;
        struct gw_stream_held *held;   /* in arrival order */
    } stream;
    /* tunnel of the first segment: never NULL (type NONE when not tunnelled);
     * points into the table's cold array, written only for tunnelled flows */
    const struct gw_tunnel *tunnel;
    /* owned by the stage that set it; freed in on_end */
    void *app;
    /* private to flow.c: LRU neighbours, flow indices (GW_FLOW_NONE) */
    uint32_t lprev, lnext;
    /* per-direction TCP reassembly, by enum gw_dir */
    struct gw_reasm_dir reasm[2];
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

#define GW_FLOW_NONE UINT32_MAX
#define GW_FLOW_KEY_WORDS 10

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

/* For tests and the bench: replaces the hash key (table still empty), the
 * longest probe distance in the index now, and the hash itself. */
void gw_flow_table_set_key(struct gw_flow_table *t, const uint32_t key[GW_FLOW_KEY_WORDS]);
uint32_t gw_flow_table_max_probe(const struct gw_flow_table *t);
uint32_t gw_flow_tuple_hash(const uint32_t key[GW_FLOW_KEY_WORDS], const struct gw_addr *src,
                            uint16_t sport, const struct gw_addr *dst, uint16_t dport);

/* Bytes the table allocated at create time (table, buckets, every flow
 * struct); fixed for its life. Memory hung on flow->app or held by
 * reassembly is counted by its owners. */
size_t gw_flow_table_memory(const struct gw_flow_table *t);

#endif
