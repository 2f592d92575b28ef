/*
 * reasm.h - TCP reassembly for one direction of one connection.
 *
 * The state is a fixed-size struct embedded in the flow; only out-of-order
 * segments live on the heap, bounded per direction (limits->ooo_max_bytes,
 * limits->ooo_max_segments) and charged to a shared budget (limits->budget)
 * so total reassembly memory has a cap.
 *
 * Delivery: gw_reasm_push() calls deliver() zero or more times, in stream
 * order. In-order data is handed straight from the packet (no copy); held
 * segments are handed from their copies once the hole before them fills.
 *  - GW_REASM_DATA: bytes at the next stream offset.
 *  - GW_REASM_GAP:  `len` bytes are missing and will never come (the
 *    out-of-order store overflowed, the hole outlived its chance, or the
 *    segment was cut by the snap length). The parser must resynchronise or
 *    stop. data is NULL.
 *  - GW_REASM_FIN / GW_REASM_RST: the direction ended (once).
 *
 * Rules: the first copy of a byte wins; retransmitted and overlapping bytes
 * are dropped (and counted; conflicting overlaps counted separately);
 * sequence numbers compare with wrap-around (RFC 1982 style). Without a SYN,
 * the first segment seen sets the initial sequence (mid-stream pickup).
 */
#ifndef GRPCWATCH_REASM_H
#define GRPCWATCH_REASM_H

#include "grpcwatch/common.h"
#include "grpcwatch/pool.h"

enum gw_reasm_event { GW_REASM_DATA = 0, GW_REASM_GAP, GW_REASM_FIN, GW_REASM_RST };

typedef void (*gw_reasm_deliver_fn)(void *user, int event, const uint8_t *data, uint32_t len);

/* Shared accounting of held bytes across all flows. */
struct gw_reasm_budget {
    uint64_t cap;      /* max bytes held across all flows */
    uint64_t used;
    uint64_t refused;  /* segments not held because the budget was full */
};

/* A zero per-direction limit means the built-in cap (16 MiB, 65535 segments);
 * larger values are clamped to it. */
struct gw_reasm_limits {
    uint32_t ooo_max_bytes;    /* held bytes per direction */
    uint32_t ooo_max_segments; /* held segments per direction */
    struct gw_reasm_budget *budget; /* may be NULL: no global cap */
    struct gw_pool *pool;      /* held segments' memory (pool.h); NULL: malloc */
};

struct gw_reasm_seg; /* private: a held out-of-order segment */

struct gw_reasm_dir {
    uint32_t next_seq;       /* sequence number of the next byte to deliver */
    uint8_t state;           /* private */
    uint8_t ended;           /* FIN or RST delivered */
    uint16_t held_segments;
    uint32_t held_bytes;
    uint32_t fin_seq;        /* private: where a pending FIN ends the stream */
    struct gw_reasm_seg *held; /* sorted by seq, non-overlapping */
    /* counters, for records and stats (what was delivered is the flow's
     * business: next_seq moves with it) */
    uint64_t gap_bytes;
    uint64_t dup_bytes;       /* retransmitted or overlapping bytes dropped */
    uint32_t conflicts;       /* overlaps whose bytes differed from the first copy */
    uint32_t gaps;            /* number of GAP events */
};

/* A zeroed struct is a valid initial state; init is memset for clarity. */
void gw_reasm_init(struct gw_reasm_dir *d);

/* Feeds one segment (flags are GW_TCP_*). payload_len captured bytes at seq;
 * wire_len >= payload_len is what the segment carried: the difference is a gap.
 * deliver() may call gw_reasm_bypass() or gw_reasm_release() on this same
 * direction (the push then stops delivering), but must not move the struct
 * (e.g. gw_flow_set_client() swaps the reasm states: defer it until the push
 * returns). */
void gw_reasm_push(struct gw_reasm_dir *d, const struct gw_reasm_limits *lim,
                   uint32_t seq, uint8_t flags, const uint8_t *payload,
                   uint32_t payload_len, uint32_t wire_len,
                   gw_reasm_deliver_fn deliver, void *user);

/* Delivers everything held as if the holes were gaps (connection end,
 * eviction, end of input), then frees. Safe to call twice. */
void gw_reasm_flush(struct gw_reasm_dir *d, const struct gw_reasm_limits *lim,
                    gw_reasm_deliver_fn deliver, void *user);

/* Frees held segments without delivering them (returns budget). */
void gw_reasm_release(struct gw_reasm_dir *d, const struct gw_reasm_limits *lim);

/* Stop reassembling this direction (flow is TLS or not HTTP/2): frees what is
 * held; later pushes only track sequence numbers and FIN/RST. */
void gw_reasm_bypass(struct gw_reasm_dir *d, const struct gw_reasm_limits *lim);

/* Checks the invariants (held list sorted, non-overlapping, after next_seq,
 * counters equal to its contents). For tests and fuzzing; O(held). */
bool gw_reasm_check(const struct gw_reasm_dir *d);

#endif
