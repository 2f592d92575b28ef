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
 * After a fatal error in one direction (HPACK failure, malformed frame)
 * that direction stops decoding; the other goes on. gw_h2_conn_gap() tells
 * the parser bytes are missing: see "Gaps" below for how it recovers.
 *
 * Mid-stream pickup (a connection seen without its start): gw_h2_sniff_*
 * finds a frame boundary in the bytes of one direction, and a connection
 * made by gw_h2_conn_create_midstream() is fed from that boundary. See the
 * section "Mid-stream pickup" below for what changes in that mode.
 *
 * One direction only: gw_h2_conn_set_one_sided() says the other direction
 * will never be seen, so streams end on the END_STREAM of the present one.
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
};

struct gw_h2_stats {
    uint64_t frames[2];
    uint64_t frames_by_type[10];
    uint64_t headers_blocks, anomalies;
    uint32_t open_streams, max_open_streams;
    /* mid-stream connections: fields dropped for an unknown name, fields
     * reported with an unknown value, HPACK decoders restarted as unknown
     * (a header block too large to join, or one begun before the capture) */
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
 *    literals always are), blocks joined as described under "Mid-stream
 *    pickup", leading CONTINUATION frames skipped. A stream whose client
 *    bytes may have been lost (open at a client-direction hole, or begun
 *    by the server's HEADERS after one) ends on the server's END_STREAM
 *    alone. With no boundary found within GW_H2_SNIFF_MAX_NEED bytes, or
 *    memory short, the direction stops (gaps_stopped, dir_ok false);
 *  - a hole in a direction that had stopped counts in gaps_stopped.
 * Fields are never attributed to another stream than the frame's: after a
 * hole nothing is decoded until a boundary is confirmed, and no HPACK
 * index is resolved against entries that predate it. */

const struct gw_h2_stats *gw_h2_conn_stats(const struct gw_h2_conn *c);

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
 * Finding HTTP/2 in the bytes of one direction without the connection
 * start: a candidate offset is confirmed when GW_H2_SNIFF_FRAMES (3)
 * consecutive frame headers starting there are well formed, or when 2 are
 * and they start at offset 0 and the second frame ends exactly at the end of
 * the buffer (a pickup at a segment start whose segment holds whole frames,
 * as in a client-only unary call: HEADERS + DATA). Well formed: known type
 * (0..9); only the flags defined for the type; reserved bit clear; length at
 * most max_frame; stream 0 for SETTINGS, PING, GOAWAY and non-zero for DATA,
 * HEADERS, PRIORITY, RST_STREAM, PUSH_PROMISE, CONTINUATION; lengths PRIORITY
 * 5, RST_STREAM 4, PING 8, WINDOW_UPDATE 4, GOAWAY >= 8, SETTINGS a multiple
 * of 6 (0 with ACK); room for pad length / priority / promised id; DATA,
 * HEADERS and CONTINUATION on odd (client-initiated) streams only (gRPC
 * never pushes); no empty HEADERS, PUSH_PROMISE or CONTINUATION fragment
 * and no empty DATA without END_STREAM (nobody sends those); a
 * CONTINUATION only after a HEADERS, PUSH_PROMISE or CONTINUATION without
 * END_HEADERS on the same stream (or first), and such a frame followed only
 * by its CONTINUATION; and where the payload bytes are at hand, pad length <
 * payload, WINDOW_UPDATE increment != 0, PRIORITY not on itself, SETTINGS
 * values in range.
 *
 * max_frame: 16384 (GW_H2_SNIFF_MAX_FRAME, the initial and by far the usual
 * SETTINGS_MAX_FRAME_SIZE: gRPC implementations write frames of at most
 * 16 KiB unless the receiver raised it, which a mid-stream capture can not
 * see). A larger value finds streams with bigger frames but weakens the
 * length test (each doubling halves its selectivity) and widens the window
 * below. Random bytes pass one header test with probability about 2^-23
 * (length 2^-10, then type, flags, stream-id rules about 2^-13) and the
 * three-header chain about 2^-69 per offset; text never passes (its first
 * byte makes the length >= 0x090000). A real stream can hide a frame-like
 * 9 bytes just before a boundary (an empty frame is mostly zeros), hence
 * the rules of practice above (odd streams for DATA, HEADERS, CONTINUATION;
 * no empty header block fragment; an empty DATA frame has END_STREAM).
 *
 * The earliest frame boundary lies within max_frame + 8 bytes of any pickup
 * point, so only offsets 0..max_frame+8 are candidates: when all of them are
 * ruled out the answer is GW_ERR_UNSUPPORTED. Worst case to a decision:
 * GW_H2_SNIFF_MAX_NEED bytes (the last candidate, two whole frames and a
 * third header; a caller holding less may give up on streams of full-size
 * frames picked up at their worst point).
 *
 * Incremental: the caller keeps a struct gw_h2_sniff per direction and
 * calls gw_h2_sniff_feed with the whole buffer so far (the same bytes, grown
 * at the end) after each arrival. Each offset is examined once, apart from
 * at most GW_H2_SNIFF_PENDING undecided candidates re-examined per call, so
 * the total work is linear in the bytes. No allocation. Act on the first
 * GW_OK: later calls with more bytes normally repeat it but may, rarely,
 * disprove it (payload checks of the third frame). */
#define GW_H2_SNIFF_FRAMES 3
#define GW_H2_SNIFF_MAX_FRAME 16384u
#define GW_H2_SNIFF_PENDING 8
#define GW_H2_SNIFF_MAX_NEED (3u * GW_H2_SNIFF_MAX_FRAME + 35u)

struct gw_h2_sniff {
    uint32_t max_frame;
    size_t next;       /* every offset below next is ruled out or pending */
    uint32_t npending;
    size_t pending[GW_H2_SNIFF_PENDING]; /* undecided offsets, ascending */
};

/* max_frame 0 means GW_H2_SNIFF_MAX_FRAME; it is clamped to 16384..2^24-1. */
void gw_h2_sniff_init(struct gw_h2_sniff *s, uint32_t max_frame);

/* Returns GW_OK with *frame_offset = the earliest confirmed boundary,
 * GW_ERR_NEED_MORE while a candidate is undecided, GW_ERR_UNSUPPORTED when
 * no offset can be a boundary (not HTTP/2), GW_ERR_ARG for bad arguments.
 * p/n: all bytes of the direction since the pickup point. */
int gw_h2_sniff_feed(struct gw_h2_sniff *s, const uint8_t *p, size_t n, size_t *frame_offset);

/* One-shot form: gw_h2_sniff_feed with a fresh state and the default max. */
int gw_h2_sniff(const uint8_t *p, size_t n, size_t *frame_offset);

/* Which side sent these frames (p starts at a frame boundary): looks at the
 * first field of up to 16 HEADERS blocks, which even mid-stream is a static
 * table reference: :method/:scheme/:path/:authority -> GW_DIR_TO_SERVER (a
 * client's request), :status or a PUSH_PROMISE -> GW_DIR_TO_CLIENT. -1 when
 * nothing tells. For orienting a flow picked up without its SYN. */
int gw_h2_sniff_role(const uint8_t *p, size_t n);

/* A connection picked up mid-stream. Differences from gw_h2_conn_create:
 *  - both directions start at a frame boundary (no preface expected): feed
 *    each from the offset gw_h2_sniff_feed found for it;
 *  - header blocks are decoded by gw_hpack (known_from_start = false, table
 *    capped at limits.max_header_table) instead of nghttp2's inflater, which
 *    would fail on references to entries from before the capture. Blocks are
 *    joined (HEADERS + CONTINUATION) in a per-direction buffer of at most
 *    limits.max_header_list bytes, grown on demand and kept; a larger block
 *    is reported as GW_H2_ANOM_HEADER_LIST_TOO_LARGE and that direction's
 *    decoder restarts as unknown (its insertions were not followed). Fields
 *    are reported at the end of the block, before on_headers_end;
 *    unknown names and values as described at on_header;
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

#endif
