/*
 * h2.h - passive HTTP/2 decoding of both directions of one connection.
 *
 * nghttp2's session API is an endpoint state machine and can not follow both
 * sides of someone else's connection, so this module has its own 9-byte
 * frame parser (RFC 9113 section 4) per direction and uses nghttp2's HPACK
 * inflater (nghttp2_hd_inflate_*) only, one per direction.
 *
 * Feeding: gw_h2_conn_feed(conn, dir, p, n) takes reassembled bytes of one
 * direction in any chunking (a frame may arrive one byte at a time); the
 * parser is an incremental state machine that copies only the 9-byte frame
 * header and small fixed fields (SETTINGS entries, priority, pad length)
 * into per-direction state; header block fragments are streamed into the
 * inflater as they arrive, DATA payload is handed on in place.
 *
 * The client direction must start with the 24-byte connection preface,
 * which the parser consumes; the server direction starts with frames.
 *
 * Streams: a table per connection, at most limits.max_streams open at once
 * (more are refused and reported as an anomaly). Each stream carries a
 * `void *app` slot for the consumer. on_stream_end is called exactly once
 * for every stream on_stream_begin was called for, with the reason.
 *
 * SETTINGS_HEADER_TABLE_SIZE sent by one side limits the other side's HPACK
 * encoder, so it is applied to the inflater of the opposite direction,
 * capped at limits.max_header_table. Decoded header lists are capped at
 * limits.max_header_list bytes (name + value + 32 per field, as RFC 9113's
 * SETTINGS_MAX_HEADER_LIST_SIZE counts them).
 *
 * After a fatal error in one direction (HPACK failure, malformed frame,
 * a gap) that direction stops decoding; the other goes on. gw_h2_conn_gap()
 * tells the parser bytes are missing; today it stops that direction.
 */
#ifndef GRPCWATCH_H2_H
#define GRPCWATCH_H2_H

#include "grpcwatch/common.h"

#define GW_H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define GW_H2_PREFACE_LEN 24

enum gw_h2_frame_type {
    GW_H2_DATA = 0, GW_H2_HEADERS = 1, GW_H2_PRIORITY = 2, GW_H2_RST_STREAM = 3,
    GW_H2_SETTINGS = 4, GW_H2_PUSH_PROMISE = 5, GW_H2_PING = 6, GW_H2_GOAWAY = 7,
    GW_H2_WINDOW_UPDATE = 8, GW_H2_CONTINUATION = 9
};

/* Why a stream ended. */
enum gw_h2_stream_end {
    GW_H2_END_STREAM = 0,   /* END_STREAM seen both ways */
    GW_H2_END_RST,          /* RST_STREAM */
    GW_H2_END_GOAWAY,       /* GOAWAY covered it (id > last_stream_id) */
    GW_H2_END_CONN_CLOSED,  /* connection closed / direction failed with the stream open */
    GW_H2_END_EVICTED,      /* flow evicted or stream table full */
    GW_H2_END_EOF           /* end of input */
};
const char *gw_h2_stream_end_str(int reason);

/* Anomalies the parser reports (also counted). */
enum gw_h2_anomaly {
    GW_H2_ANOM_BAD_PREFACE = 1,
    GW_H2_ANOM_FRAME_TOO_LARGE,    /* length > the receiver's advertised SETTINGS_MAX_FRAME_SIZE */
    GW_H2_ANOM_BAD_PADDING,        /* pad length >= payload */
    GW_H2_ANOM_BAD_FRAME,          /* wrong length for the type, stream id rules broken */
    GW_H2_ANOM_CONTINUATION_EXPECTED,
    GW_H2_ANOM_HPACK_ERROR,
    GW_H2_ANOM_HEADER_LIST_TOO_LARGE,
    GW_H2_ANOM_TOO_MANY_STREAMS,
    GW_H2_ANOM_GAP                 /* bytes missing in a direction */
};
const char *gw_h2_anomaly_str(int code);

struct gw_h2_stream {
    uint32_t id;
    uint8_t end_stream[2];   /* END_STREAM seen, by enum gw_dir */
    uint8_t rst;             /* RST_STREAM seen */
    void *app;               /* the consumer's */
};

struct gw_h2_callbacks {
    /* A client-initiated stream (odd id) or pushed stream starts (first HEADERS/PUSH_PROMISE). */
    void (*on_stream_begin)(void *user, struct gw_h2_stream *s, gw_time_us ts);
    /* One decoded header field of the header block in direction dir. Pointers
     * are valid only during the call. Pseudo-headers arrive with their ':'. */
    void (*on_header)(void *user, struct gw_h2_stream *s, int dir,
                      const uint8_t *name, size_t namelen,
                      const uint8_t *value, size_t valuelen);
    /* The header block ended (END_HEADERS); end_stream is the END_STREAM flag. */
    void (*on_headers_end)(void *user, struct gw_h2_stream *s, int dir, bool end_stream);
    /* DATA payload (padding removed); may be called several times per frame. */
    void (*on_data)(void *user, struct gw_h2_stream *s, int dir,
                    const uint8_t *p, size_t n);
    /* END_STREAM on a DATA frame in direction dir. */
    void (*on_data_end)(void *user, struct gw_h2_stream *s, int dir);
    void (*on_rst_stream)(void *user, struct gw_h2_stream *s, int dir, uint32_t error_code);
    /* Called once per begun stream; s->app must be released here. */
    void (*on_stream_end)(void *user, struct gw_h2_stream *s, int reason, gw_time_us ts);
    void (*on_goaway)(void *user, int dir, uint32_t last_stream_id, uint32_t error_code);
    void (*on_anomaly)(void *user, int dir, int code, uint32_t stream_id);
    /* Every frame header as it is read, before the payload (may be NULL):
     * for rate-based detection (floods, rapid reset) outside this module. */
    void (*on_frame)(void *user, int dir, uint8_t type, uint8_t flags,
                     uint32_t stream_id, uint32_t length, gw_time_us ts);
};

struct gw_h2_limits {
    uint32_t max_streams;        /* open streams per connection */
    uint32_t max_header_table;   /* cap on any HPACK dynamic table size */
    uint32_t max_header_list;    /* decoded header list bytes per block */
};

struct gw_h2_stats {
    uint64_t frames[2];
    uint64_t frames_by_type[10];
    uint64_t headers_blocks, anomalies;
    uint32_t open_streams, max_open_streams;
};

struct gw_h2_conn;

struct gw_h2_conn *gw_h2_conn_create(const struct gw_h2_limits *lim,
                                     const struct gw_h2_callbacks *cb, void *user);
/* Ends open streams with GW_H2_END_CONN_CLOSED (or the reason given to
 * gw_h2_conn_close) and frees. */
void gw_h2_conn_destroy(struct gw_h2_conn *c);

/* Feeds n bytes of direction dir, observed at ts. Returns GW_OK, or a
 * negative gw_err once the direction has failed (further bytes ignored). */
int gw_h2_conn_feed(struct gw_h2_conn *c, int dir, const uint8_t *p, size_t n, gw_time_us ts);

/* Tells the parser that len bytes of direction dir are missing. */
void gw_h2_conn_gap(struct gw_h2_conn *c, int dir, size_t len, gw_time_us ts);

/* Ends every open stream with `reason` (enum gw_h2_stream_end). */
void gw_h2_conn_close(struct gw_h2_conn *c, int reason, gw_time_us ts);

/* True while direction dir still decodes (no fatal error). */
bool gw_h2_conn_dir_ok(const struct gw_h2_conn *c, int dir);

const struct gw_h2_stats *gw_h2_conn_stats(const struct gw_h2_conn *c);

#endif
