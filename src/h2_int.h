/*
 * h2_int.h - the state of one passive HTTP/2 connection, shared by the
 * files that make up h2 (h2.c: frames and their receivers, gaps, the API;
 * h2stream.c: the stream table and when a stream ends; h2block.c: header
 * blocks and HPACK). Private: nothing
 * outside those files includes it.
 */
#ifndef GRPCWATCH_H2_INT_H
#define GRPCWATCH_H2_INT_H

#include "grpcwatch/h2.h"
#include "grpcwatch/hpack.h"
#include "grpcwatch/pool.h"

#define H2_FRAME_HEADER_LEN GW_H2_FRAME_HEADER_LEN
#define H2_DEFAULT_MAX_FRAME GW_H2_DEFAULT_MAX_FRAME
#define H2_LARGEST_MAX_FRAME GW_H2_LARGEST_MAX_FRAME
#define H2_DEFAULT_TABLE 4096u
#define H2_SETTINGS_ENTRY_LEN GW_H2_SETTINGS_ENTRY_LEN
#define H2_FIELD_OVERHEAD 32u /* RFC 9113 6.5.2 / RFC 7541 4.1 */

/* Defaults for zero fields in gw_h2_limits, and the hard cap on streams
 * (bounds the stream index at 2 * 65536 pointers). */
#define H2_DEFAULT_MAX_STREAMS 128u
#define H2_MAX_MAX_STREAMS 65536u
#define H2_DEFAULT_MAX_TABLE 65536u
#define H2_DEFAULT_MAX_LIST 65536u
#define H2_INITIAL_SLOT_BITS 3
#define H2_INITIAL_SLOTS (1u << H2_INITIAL_SLOT_BITS)

#define F_END_STREAM GW_H2_FLAG_END_STREAM
#define F_ACK GW_H2_FLAG_ACK
#define F_END_HEADERS GW_H2_FLAG_END_HEADERS
#define F_PADDED GW_H2_FLAG_PADDED

/* Mid-stream: odd stream ids remembered as begun (a power of two), and the
 * first size of a joined header block buffer. */
#define SEEN_IDS 1024u
#define BLK_INITIAL 1024u

/* After a gap: bytes held while looking for a frame boundary. The sniffer
 * decides within GW_H2_SNIFF_MAX_NEED bytes for frames of its default max. */
#define SYNC_HOLD_MAX GW_H2_SNIFF_MAX_NEED
#define SYNC_INITIAL 4096u

enum rx_state { RX_PREFACE, RX_FRAME_HEADER, RX_PAYLOAD, RX_SYNC, RX_FAILED };
enum rx_phase { PH_PREFIX, PH_BODY, PH_PAD };
enum body_kind { BODY_SKIP, BODY_DATA, BODY_BLOCK, BODY_SETTINGS };

struct h2_stream {
    struct gw_h2_stream pub; /* handed to the callbacks */
    struct h2_stream *prev, *next;
    bool pushed;             /* opened by PUSH_PROMISE */
    /* mid-stream: its first client frame was HEADERS (its opening); a
     * client frame was seen; a header field of it was unknown */
    bool start_seen, client_seen, unknown_seen;
    /* its client bytes may have been lost in a gap: the server's
     * END_STREAM ends it, once a client feed decoded after that END_STREAM
     * (client bytes held up by reassembly behind the hole come late) */
    bool client_lost;
    uint64_t server_end_feed; /* client_feeds at the server's END_STREAM */
};

/* The header block open in one direction (HEADERS/PUSH_PROMISE until
 * END_HEADERS). */
struct h2_block {
    bool open;
    bool end_stream;      /* END_STREAM of the HEADERS frame */
    bool over_limit;      /* header list cap hit: fields no longer reported */
    uint8_t field_dir;    /* direction reported with the fields */
    uint32_t frame_sid;   /* a CONTINUATION must carry this stream id */
    uint32_t target_sid;  /* stream the fields belong to; 0 = none */
    uint64_t list_size;   /* name + value + 32 per field so far */
};

struct h2_rx {
    uint8_t state, phase, body_kind;
    uint8_t preface_have;
    uint8_t hdr[H2_FRAME_HEADER_LEN];
    uint8_t hdr_have;
    /* current frame */
    uint8_t type, flags;
    uint32_t len, sid;
    uint32_t left;          /* bytes still to come in the current phase */
    uint32_t body_len;      /* length of the current frame's body phase */
    uint32_t pad;           /* padding after the body */
    uint8_t fix[8];         /* fixed fields / one SETTINGS entry */
    uint8_t fix_need, fix_have;
    uint8_t report;         /* GW_H2_CHK_* the frame breaks, reported but decoded */
    struct h2_block block;
    /* HPACK decoding of this direction's header blocks (joined in blk):
     * hd_exact while hd has followed the connection from its start, so
     * the SETTINGS that bound its encoder apply to it */
    struct gw_hpack *hd;
    bool hd_exact;
    uint8_t *blk;
    uint32_t blk_len, blk_cap;
    bool blk_overflow;      /* the open block did not fit in blk */
    bool saw_frame;         /* a frame other than CONTINUATION was read */
    uint32_t hd_size;       /* table size granted to the sender's encoder */
    uint32_t hd_pending;    /* hd_size not yet given to the decoder */
    bool hd_has_pending;
    uint32_t hd_shrink;     /* smaller size waiting for this side's SETTINGS ACK */
    bool hd_has_shrink;
    uint32_t max_frame;     /* largest frame the receiver advertised */
    int err;                /* why the direction failed */
    /* leading CONTINUATIONs (a block begun before a pickup or in a gap)
     * are skipped quietly */
    bool lenient_start;
    /* RX_SYNC: bytes since the gap, the boundary search, gaps not yet
     * resolved; gaps: the holes that lost this direction's framing */
    uint8_t *sync_buf;
    uint32_t sync_len, sync_cap;
    struct gw_h2_sniff sniff;
    bool pickup;            /* RX_SYNC for the first boundary since the pickup, not a gap */
    uint32_t gaps_pending;
    uint64_t gaps;
};

struct gw_h2_conn {
    struct gw_h2_limits lim;     /* lim.pool: where its memory comes from */
    const struct gw_h2_callbacks *cb;
    void *user;
    struct h2_rx rx[2];
    struct h2_stream *live;      /* every open stream */
    struct h2_stream **slots;    /* index by id; NULL = empty */
    uint32_t nslots;             /* power of two */
    uint8_t slot_bits;           /* log2(nslots) */
    uint32_t max_client_sid;     /* highest odd id a client HEADERS opened */
    uint32_t max_promised_sid;   /* highest even id a PUSH_PROMISE opened */
    gw_time_us now;              /* timestamp of the latest input */
    struct gw_h2_stats stats;
    bool midstream;
    bool fed[2];                 /* a byte of that direction was fed */
    int8_t one_sided;            /* the only direction present, or -1 */
    uint32_t seen_top;           /* mid-stream: highest odd id begun, 0 = none */
    uint64_t client_feeds;       /* client feeds that ended decoding (not held, not failed) */
    uint32_t gap_client_sid;     /* max_client_sid at the latest client-direction hole */
    bool lost_waiting;           /* a client_lost stream waits for a client feed */
    uint64_t seen[SEEN_IDS / 64];
};

extern const uint8_t h2_no_bytes[1]; /* a non-NULL pointer for empty strings */

static inline bool rx_failed(const struct h2_rx *rx) { return rx->state == RX_FAILED; }

/* h2.c */
void h2_anomaly(struct gw_h2_conn *c, int dir, int code, uint32_t sid);
void h2_rx_fail(struct gw_h2_conn *c, int dir, int code, uint32_t sid, int err);

/* h2stream.c */
struct h2_stream *h2_stream_lookup(const struct gw_h2_conn *c, uint32_t id);
struct h2_stream *h2_stream_open(struct gw_h2_conn *c, int dir, uint32_t id);
void h2_stream_end(struct gw_h2_conn *c, struct h2_stream *s, int reason, gw_time_us ts);
void h2_streams_sweep(struct gw_h2_conn *c);
void h2_stream_update_midstream(const struct gw_h2_conn *c, struct h2_stream *s);
void h2_stream_mark_end(struct gw_h2_conn *c, struct h2_stream *s, int dir);
bool h2_seen_test(const struct gw_h2_conn *c, uint32_t id);
struct h2_stream *h2_midstream_stream(struct gw_h2_conn *c, int dir, uint32_t sid, bool headers);

/* h2block.c */
void h2_hd_apply(struct gw_h2_conn *c, int dir, uint32_t size);
void h2_hd_advertised(struct gw_h2_conn *c, int dir, uint32_t value);
void h2_settings_acked(struct gw_h2_conn *c, int dir);
void h2_hd_restart(struct gw_h2_conn *c, int dir);
void h2_block_open(struct gw_h2_conn *c, int dir, uint32_t target, int field_dir, bool end_stream);
void h2_block_feed(struct gw_h2_conn *c, int dir, const uint8_t *p, size_t n);
void h2_block_finish(struct gw_h2_conn *c, int dir);

#endif
