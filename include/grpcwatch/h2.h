/*
 * h2.h - passive HTTP/2 decoding of both directions of one connection.
 *
 * nghttp2's session API is an endpoint state machine and can not follow both
 * sides of someone else's connection, so this module has its own 9-byte
 * frame parser (RFC 9113 section 4) per direction and an HPACK decoder
 * (hpack.h, checked against nghttp2's inflater) per direction.
 *
 * Feeding: gw_h2_conn_feed(conn, dir, p, n) takes reassembled bytes of one
 * direction in any chunking (a frame may arrive one byte at a time); the
 * parser is an incremental state machine that copies only the 9-byte frame
 * header and small fixed fields (SETTINGS entries, priority, pad length)
 * into per-direction state; header block fragments are streamed into the
 * decoder as they arrive, DATA payload is handed on in place.
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
 * encoder, so it is applied to the decoder of the opposite direction,
 * capped at limits.max_header_table. Decoded header lists are capped at
 * limits.max_header_list bytes (name + value + 32 per field, as RFC 9113's
 * SETTINGS_MAX_HEADER_LIST_SIZE counts them). A header block is decoded
 * as its fragments arrive, fields reported as they are decoded (before
 * on_headers_end); a field cut by a fragment boundary is carried in a
 * per-direction buffer of at most limits.max_header_list bytes until the
 * next fragment completes it. One that does not fit is reported at once
 * as GW_H2_ANOM_HEADER_LIST_TOO_LARGE and that direction's decoder
 * restarts as unknown at the block's end (its insertions were not
 * followed); a string announced over 64 KiB is an HPACK error at once.
 *
 * After a fatal error in one direction (HPACK failure, malformed frame)
 * that direction stops decoding; the other goes on. gw_h2_conn_gap() tells
 * the parser bytes are missing: see "Gaps" below for how it recovers.
 *
 * Mid-stream pickup (a connection seen without its start): a connection
 * made by gw_h2_conn_create_midstream() takes the bytes of each direction
 * from any point and finds the first frame boundary itself, with the
 * search of h2sniff.h. See "Mid-stream pickup" below for what changes in
 * that mode.
 *
 * One direction only: gw_h2_conn_set_one_sided() says the other direction
 * will never be seen, so streams end on the END_STREAM of the present one.
 */
#ifndef GRPCWATCH_H2_H
#define GRPCWATCH_H2_H

#include "grpcwatch/common.h"
#include "grpcwatch/pool.h"
#include "grpcwatch/h2frame.h"
#include "grpcwatch/h2sniff.h"
#include "grpcwatch/stats.h"

#define GW_H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define GW_H2_PREFACE_LEN 24

/* Frame types, flags and the per-type rules: h2frame.h. */

/* Why a stream ended: enum gw_end (common.h). */

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
    /* Mid-stream connections: the stream's start (the client's opening
     * HEADERS) was not seen; any connection: a field of one of its header
     * blocks could not be decoded (only mid-stream or after a gap: see
     * "Gaps"). Final when on_stream_end runs. */
    uint8_t midstream;
    /* Header fields of this stream whose NAME could not be decoded (they are
     * not passed to on_header), by direction. Mid-stream or after a gap. */
    uint16_t unknown_names[2];
    /* During on_data only: the DATA frame's body length (padding excluded)
     * and the offset of this chunk in it, so a consumer can tell where
     * frames start (data_frame_off == 0) and end (off + n == len). */
    uint32_t data_frame_len, data_frame_off;
    /* DATA lost in gaps (see "Gaps"), by direction. data_gaps: holes that
     * took bytes of this stream's DATA bodies, or may have (a counter:
     * compare it with the value seen last; a change means the DATA bytes
     * before this on_data, or before the stream's end, are not contiguous
     * with those of the previous on_data). data_gap_bytes: bytes of those
     * holes known to lie inside its DATA bodies. data_gaps_unknown: those
     * of them that lost a frame boundary, so how much they took (maybe
     * nothing) is unknown. */
    uint32_t data_gaps[2];
    uint32_t data_gaps_unknown[2];
    uint64_t data_gap_bytes[2];
};

struct gw_h2_callbacks {
    /* A client-initiated stream (odd id) or pushed stream starts (first HEADERS/PUSH_PROMISE). */
    void (*on_stream_begin)(void *user, struct gw_h2_stream *s, gw_time_us ts);
    /* One decoded header field of the header block in direction dir. Pointers
     * are valid only during the call. Pseudo-headers arrive with their ':'.
     * On a mid-stream connection a field whose value is a reference to an
     * HPACK entry from before the capture arrives with value == NULL and
     * valuelen 0: value NULL means "unknown", never "empty" (an empty value
     * is a non-NULL pointer with length 0). A field whose name is unknown is
     * not reported (counted in gw_h2_stream.unknown_names). */
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
    /* where a connection's memory comes from: its struct, stream index,
     * streams, held bytes and nghttp2's HPACK buffers (pool.h; it must
     * outlive every connection); NULL: malloc */
    struct gw_pool *pool;
};

/* Counters of one connection, or summed over connections
 * (gw_h2_stats_add); every member a uint64_t, for the stats registry. */
struct gw_h2_stats {
    uint64_t frames[2];
    uint64_t frames_by_type[GW_H2_FRAME_TYPES];
    uint64_t headers_blocks, anomalies;
    /* open_streams: a gauge (summed: streams open in the connections
     * added); max_open_streams: the most open at once in one connection */
    uint64_t open_streams, max_open_streams;
    /* mid-stream decoding: fields dropped for an unknown name, fields
     * reported with an unknown value, HPACK decoders restarted as unknown
     * (a field too large to carry across fragments, or a block begun
     * before the capture or skipped) */
    uint64_t unknown_names, unknown_values, hpack_resets;
    /* gw_h2_conn_gap calls by direction: holes inside one DATA frame's
     * payload (skipped: framing and HPACK kept); holes after which a frame
     * boundary was found again (resynchronised); holes after which the
     * direction stopped decoding (it had failed already, or no boundary was
     * found). A hole whose search is still going on is in none of them. */
    uint64_t gaps_skipped[2], gaps_resynced[2], gaps_stopped[2];
};

struct gw_h2_conn;

struct gw_h2_conn *gw_h2_conn_create(const struct gw_h2_limits *lim,
                                     const struct gw_h2_callbacks *cb, void *user);
/* Ends open streams with GW_END_CONN_CLOSED (or the reason given to
 * gw_h2_conn_close) and frees. */
void gw_h2_conn_destroy(struct gw_h2_conn *c);

/* Feeds n bytes of direction dir, observed at ts. Returns GW_OK, or a
 * negative gw_err once the direction has failed (further bytes ignored). */
int gw_h2_conn_feed(struct gw_h2_conn *c, int dir, const uint8_t *p, size_t n, gw_time_us ts);

/* Tells the parser that len bytes of direction dir are missing (0: an
 * unknown number). See "Gaps" below. */
void gw_h2_conn_gap(struct gw_h2_conn *c, int dir, size_t len, gw_time_us ts);

/* Ends every open stream with `reason` (enum gw_end). */
void gw_h2_conn_close(struct gw_h2_conn *c, int reason, gw_time_us ts);

/* True while direction dir has not stopped decoding (no fatal error). A
 * direction looking for a frame boundary after a gap is still ok. */
bool gw_h2_conn_dir_ok(const struct gw_h2_conn *c, int dir);

/* Gaps of direction dir after which decoding resynchronised (found a frame
 * boundary again): stats.gaps_resynced[dir]. For the record's loss object
 * ("decoding_resynced"); 0 for bad arguments. */
uint64_t gw_h2_conn_dir_resynced(const struct gw_h2_conn *c, int dir);

/* ---- Gaps ----------------------------------------------------------------
 *
 * A SPAN port loses segments. gw_h2_conn_gap(c, dir, len) recovers so:
 *  - a hole that lies inside the payload of the DATA frame being read
 *    (0 < len <= the bytes of body and padding still to come) costs only
 *    those bytes: they are skipped, the frame ends where its header said,
 *    framing and HPACK go on. The stream's data_gaps/data_gap_bytes in that
 *    direction tell the consumer (grpc counts messages as a lower bound
 *    unless the hole lies provably inside one message's body);
 *  - any other hole loses the frame boundary and the HPACK table of that
 *    direction (GW_H2_ANOM_GAP is reported). Every stream still open in
 *    that direction (no END_STREAM from it yet) gets data_gaps and
 *    data_gaps_unknown; a header block cut by the hole is dropped (fields
 *    already reported stay, none more; no on_headers_end). The bytes that
 *    follow are held (at most GW_H2_SNIFF_MAX_NEED, freed once decided)
 *    and searched for a frame boundary with gw_h2_sniff_feed (default
 *    max_frame); from there decoding goes on as on a mid-stream pickup of
 *    that direction: its header blocks are decoded by gw_hpack, unknown
 *    until proven (references to entries inserted before the hole are
 *    reported unknown, never guessed; entries inserted after are known;
 *    literals always are), leading CONTINUATION frames skipped. A stream whose client
 *    bytes may have been lost (open at a client-direction hole, or begun
 *    by the server's HEADERS after one) ends on the server's END_STREAM
 *    alone. With no boundary found within GW_H2_SNIFF_MAX_NEED bytes, or
 *    memory short, the direction stops (gaps_stopped, dir_ok false);
 *  - a hole in a direction that had stopped counts in gaps_stopped.
 * Fields are never attributed to another stream than the frame's: after a
 * hole nothing is decoded until a boundary is confirmed, and no HPACK
 * index is resolved against entries that predate it. */

const struct gw_h2_stats *gw_h2_conn_stats(const struct gw_h2_conn *c);

/* total += conn, counter by counter (max_open_streams: the larger). */
void gw_h2_stats_add(struct gw_h2_stats *total, const struct gw_h2_stats *conn);

/* struct gw_h2_stats for the registry, paths relative to "http2": first
 * the keys the stats record has always had (frames_to_server,
 * frames_to_client, header_blocks, anomalies), then the rest. */
extern const struct gw_stat_field gw_h2_stat_fields[];
extern const size_t gw_h2_stat_fields_len;

/* ---- One direction only -------------------------------------------------
 *
 * The sensor calls this when it knows only direction dir_present will ever
 * be seen (for instance after some kilobytes or seconds with no byte the
 * other way: the decision is the caller's). From then on a stream ends
 * (GW_END_STREAM) as soon as it has END_STREAM in the present direction
 * (for a server-only capture: the trailers), and open streams that already
 * have it end now, at the time of the latest input. Also, the present
 * direction's HPACK decoder accepts table sizes up to limits.max_header_table,
 * since the SETTINGS that bound them travel the absent way. Sticky: bytes
 * fed later in the other direction are still decoded, but streams already
 * ended stay ended. dir_present other than 0 or 1 is ignored. */
void gw_h2_conn_set_one_sided(struct gw_h2_conn *c, int dir_present);

/* ---- Mid-stream pickup --------------------------------------------------
 *
 * Finding frame boundaries and the sender's role in bytes seen without the
 * connection start: h2sniff.h (gw_h2_sniff*, the one boundary search). */

/* A connection picked up mid-stream. Differences from gw_h2_conn_create:
 *  - no preface is expected, and each direction may be fed from any
 *    point: until a frame boundary is found it is in the search a gap
 *    starts (see "Gaps": bytes held up to GW_H2_SNIFF_MAX_NEED, freed once
 *    decided; nothing decoded or reported meanwhile), and decoding starts
 *    at the boundary. A gap before it restarts the search (no anomaly, no
 *    gap counted: nothing was decoded yet); no boundary within
 *    GW_H2_SNIFF_MAX_NEED bytes stops the direction (dir_ok false). For
 *    the rules below, a direction is "fed" once bytes from its boundary
 *    were decoded;
 *  - header blocks are decoded by a gw_hpack started unknown (known_from_start
 *    = false, table capped at limits.max_header_table), which reports
 *    references to entries from before the capture as unknown, and
 *    SETTINGS_HEADER_TABLE_SIZE is not applied to it; unknown names and
 *    values as described at on_header;
 *  - leading CONTINUATION frames (a block begun before the pickup) are
 *    skipped without an anomaly;
 *  - a client stream (odd id) begins on its first HEADERS, DATA or
 *    RST_STREAM in either direction, since its opening HEADERS may predate
 *    the capture; WINDOW_UPDATE and PRIORITY begin nothing (they carry no
 *    call content and routinely follow a stream's close). The last 1024 odd
 *    ids begun are remembered so a closed stream is not begun again; older
 *    ids, and ids below the first one seen, can begin (a long-lived stream
 *    from before the capture). Even ids only through PUSH_PROMISE;
 *  - a stream whose opening HEADERS was not seen ends on the server's
 *    END_STREAM alone (the request side may have ended before the capture),
 *    but not before the client direction has been fed at all: the sensor
 *    may start feeding the server's bytes first, and the client's first
 *    feed (its held bytes, in one call) may still hold the stream's HEADERS;
 *    what such a rule left waiting ends right after that first client feed.
 *    Other streams end as usual;
 *  - frame length limits are not known until a SETTINGS_MAX_FRAME_SIZE is
 *    seen, so frames up to 2^24-1 are taken without an anomaly until then;
 *  - gw_h2_stream.midstream and unknown_names are maintained. */
struct gw_h2_conn *gw_h2_conn_create_midstream(const struct gw_h2_limits *lim,
                                               const struct gw_h2_callbacks *cb, void *user);

bool gw_h2_conn_is_midstream(const struct gw_h2_conn *c);

/* Mid-stream: the caller knows the next byte of dir starts a frame (it
 * found the boundary itself, or built the bytes): the search is skipped.
 * Only before any byte of dir was fed (and no gap); GW_ERR_ARG otherwise. */
int gw_h2_conn_set_boundary(struct gw_h2_conn *c, int dir);

#endif
