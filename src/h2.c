/*
 * h2.c - passive HTTP/2 (RFC 9113) for both directions of one connection.
 *
 * Each direction has its own incremental receiver (struct h2_rx): a fixed
 * struct holding the preface position, the 9-byte frame header being
 * collected, the current frame's fixed fields (pad length, priority,
 * promised id, RST/GOAWAY fields, one SETTINGS entry) and the open header
 * block. Bytes may arrive in any chunking; nothing but those few fixed
 * fields is ever copied. A frame payload is walked in three phases:
 *
 *     PREFIX (fixed fields) -> BODY (streamed) -> PAD (skipped)
 *
 * and a phase of length zero is passed through at once, so a frame whose
 * header completes the input is fully handled without waiting for more.
 *
 * Invariants:
 *  - A failed direction (state RX_FAILED) never changes again and never
 *    calls a callback; the other direction goes on.
 *  - Every header block fragment is fed to the inflater of its direction,
 *    even when its fields are not reported (unknown stream, refused stream,
 *    header list over the cap), so the HPACK dynamic table stays in step
 *    with the sender's encoder.
 *  - nghttp2_hd_inflate_change_table_size is only called between header
 *    blocks; a change that arrives while a block is open waits in
 *    hd_pending until the block ends.
 *  - SETTINGS_HEADER_TABLE_SIZE from one side governs the other side's
 *    encoder, hence the inflater of the opposite direction. A larger value
 *    applies at once (the encoder can not use it before seeing it); a
 *    smaller one applies when the encoder's side acknowledges the SETTINGS,
 *    as a real decoder does (RFC 9113 6.5.3), because encoder blocks sent
 *    before the ACK may legally predate the change. nghttp2's inflater then
 *    requires a table size update at the start of the next block and
 *    rejects any update above the size it was given.
 *  - Streams live in a linked list (for iteration) and an open-addressing
 *    index (linear probing, backward-shift deletion) keyed by stream id.
 *    At most limits.max_streams are open; each is one calloc, freed right
 *    after on_stream_end. The index grows by doubling up to twice the cap.
 *  - A PUSH_PROMISE's fields are the request of the promised stream: they
 *    are reported with dir GW_DIR_TO_SERVER and the block ends with
 *    end_stream set (the client never sends on a pushed stream).
 *  - Client-initiated stream ids only increase (RFC 9113 5.1.1): a client
 *    HEADERS on an odd id not above the highest seen is a closed or refused
 *    stream and is not begun again.
 *
 * Mid-stream connections (gw_h2_conn_create_midstream):
 *  - Each direction has a gw_hpack (lenient, started unknown) instead of an
 *    nghttp2 inflater (hd == NULL); SETTINGS_HEADER_TABLE_SIZE is not
 *    applied to it (it only bounds the encoder, whose real size is unknown;
 *    gw_hpack accepts updates up to limits.max_header_table).
 *  - Header block fragments are joined in rx->blk (at most max_header_list
 *    bytes, grown by doubling and kept for the connection) and decoded at
 *    END_HEADERS. A block that does not fit, or whose start was missed (a
 *    CONTINUATION with no block open), restarts the decoder as unknown:
 *    skipping its insertions any other way would shift every known index.
 *  - Odd stream ids begun are remembered in a ring of SEEN_IDS bits
 *    (seen_top = the highest); an id found there is closed or refused and
 *    is not begun again. Ids out of the window count as never seen.
 *  - A stream remembers whether its opening (a client HEADERS as its first
 *    frame) was seen; if not, END_STREAM from the server alone ends it.
 *
 * One-sided connections (gw_h2_conn_set_one_sided): END_STREAM in the present
 * direction ends a stream. stream_done() is the only place that decides when
 * a stream is complete, for every mode.
 *
 * Gaps (gw_h2_conn_gap, h2.h explains the rule):
 *  - A hole inside the DATA frame being read only moves that frame's
 *    counters on: the frame still ends where its header said.
 *  - Any other hole puts the direction in RX_SYNC: bytes go to sync_buf
 *    (at most SYNC_HOLD_MAX, freed once decided) and nothing is decoded or
 *    reported until gw_h2_sniff_feed confirms a frame boundary; then the
 *    held bytes from there are fed as usual. A direction that resyncs
 *    always decodes its header blocks with a fresh gw_hpack (unknown until
 *    proven), whatever it used before: an HPACK index is never resolved
 *    against a table that may have changed in the hole, which is what
 *    would put one call's :path on another. rx->lenient_start lets the
 *    leading CONTINUATIONs after such a boundary (or a pickup) be skipped.
 */
#include "grpcwatch/h2.h"

#include "grpcwatch/cursor.h"
#include "grpcwatch/h2frame.h"
#include "grpcwatch/hpack.h"

#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>

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
    /* HPACK decoding of this direction's header blocks: hd, or on a
     * mid-stream connection mhd with the joined block in blk */
    nghttp2_hd_inflater *hd;
    struct gw_hpack *mhd;
    uint8_t *blk;
    uint32_t blk_len, blk_cap;
    bool blk_overflow;      /* the open block did not fit in blk */
    bool saw_frame;         /* a frame other than CONTINUATION was read */
    uint32_t hd_size;       /* table size granted to the sender's encoder */
    uint32_t hd_pending;    /* hd_size not yet given to the inflater */
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
    struct gw_h2_limits lim;
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

static const uint8_t no_bytes[1];
static const char preface[] = GW_H2_PREFACE;


const char *gw_h2_anomaly_str(int code)
{
    switch (code) {
    case GW_H2_ANOM_BAD_PREFACE: return "bad_preface";
    case GW_H2_ANOM_FRAME_TOO_LARGE: return "frame_too_large";
    case GW_H2_ANOM_BAD_PADDING: return "bad_padding";
    case GW_H2_ANOM_BAD_FRAME: return "bad_frame";
    case GW_H2_ANOM_CONTINUATION_EXPECTED: return "continuation_expected";
    case GW_H2_ANOM_HPACK_ERROR: return "hpack_error";
    case GW_H2_ANOM_HEADER_LIST_TOO_LARGE: return "header_list_too_large";
    case GW_H2_ANOM_TOO_MANY_STREAMS: return "too_many_streams";
    case GW_H2_ANOM_GAP: return "gap";
    default: return "unknown";
    }
}

/* ---- anomalies and failure ------------------------------------------- */

static void anomaly(struct gw_h2_conn *c, int dir, int code, uint32_t sid)
{
    c->stats.anomalies++;
    if (c->cb->on_anomaly) c->cb->on_anomaly(c->user, dir, code, sid);
}

static bool rx_failed(const struct h2_rx *rx) { return rx->state == RX_FAILED; }

static void rx_fail(struct gw_h2_conn *c, int dir, int code, uint32_t sid, int err)
{
    struct h2_rx *rx = &c->rx[dir];
    if (rx_failed(rx)) return;
    anomaly(c, dir, code, sid);
    rx->state = RX_FAILED;
    rx->err = err;
}

/* ---- stream table ------------------------------------------------------ */

static uint32_t slot_home(const struct gw_h2_conn *c, uint32_t id)
{
    /* Fibonacci hashing (top bits of id * 2^32/phi): ids are chosen by the
     * peers, so the low bits alone are not trusted to spread. */
    return (uint32_t)(id * 2654435761u) >> (32 - c->slot_bits);
}

static uint32_t slot_find(const struct gw_h2_conn *c, uint32_t id)
{
    uint32_t i = slot_home(c, id);
    while (c->slots[i] && c->slots[i]->pub.id != id) i = (i + 1) & (c->nslots - 1);
    return i;
}

static struct h2_stream *stream_lookup(const struct gw_h2_conn *c, uint32_t id)
{
    if (id == 0) return NULL;
    return c->slots[slot_find(c, id)];
}

/* Grows the index to keep it at most half full; the size is bounded by
 * twice max_streams rounded up to a power of two. */
static bool slots_reserve(struct gw_h2_conn *c, uint32_t count)
{
    if ((uint64_t)count * 2 <= c->nslots) return true;
    uint32_t n = c->nslots * 2;
    struct h2_stream **slots = calloc(n, sizeof *slots);
    if (!slots) return false;
    free(c->slots);
    c->slots = slots;
    c->nslots = n;
    c->slot_bits++;
    for (struct h2_stream *s = c->live; s; s = s->next) c->slots[slot_find(c, s->pub.id)] = s;
    return true;
}

static void slot_remove(struct gw_h2_conn *c, uint32_t id)
{
    uint32_t mask = c->nslots - 1;
    uint32_t i = slot_find(c, id);
    if (!c->slots[i]) return;
    c->slots[i] = NULL;
    /* Backward-shift deletion: pull later members of the probe run into
     * the hole unless their home lies cyclically in (hole, their slot]. */
    for (uint32_t j = (i + 1) & mask; c->slots[j]; j = (j + 1) & mask) {
        uint32_t home = slot_home(c, c->slots[j]->pub.id);
        bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (stays) continue;
        c->slots[i] = c->slots[j];
        c->slots[j] = NULL;
        i = j;
    }
}

static void seen_mark(struct gw_h2_conn *c, uint32_t id);

static struct h2_stream *stream_open(struct gw_h2_conn *c, int dir, uint32_t id)
{
    /* odd ids begun are remembered in every mode: after a client-direction
     * hole, they tell a stream opened in the hole from a closed one */
    if (id & 1) seen_mark(c, id);
    struct h2_stream *s = NULL;
    if (c->stats.open_streams < c->lim.max_streams && slots_reserve(c, c->stats.open_streams + 1))
        s = calloc(1, sizeof *s);
    if (!s) {
        /* Over the cap (or out of memory): the stream's frames are ignored. */
        anomaly(c, dir, GW_H2_ANOM_TOO_MANY_STREAMS, id);
        return NULL;
    }
    s->pub.id = id;
    /* a client stream begun by the server after client bytes were lost:
     * its opening, and maybe its END_STREAM, were in the hole */
    s->client_lost = dir == GW_DIR_TO_CLIENT && (id & 1) && c->rx[GW_DIR_TO_SERVER].gaps > 0;
    s->next = c->live;
    if (c->live) c->live->prev = s;
    c->live = s;
    c->slots[slot_find(c, id)] = s;
    c->stats.open_streams++;
    if (c->stats.open_streams > c->stats.max_open_streams)
        c->stats.max_open_streams = c->stats.open_streams;
    if (c->cb->on_stream_begin) c->cb->on_stream_begin(c->user, &s->pub, c->now);
    return s;
}

static void stream_end(struct gw_h2_conn *c, struct h2_stream *s, int reason, gw_time_us ts)
{
    /* its client HEADERS, if they come late, must not begin it again */
    if (s->client_lost && !c->midstream && (s->pub.id & 1) && s->pub.id > c->max_client_sid)
        c->max_client_sid = s->pub.id;
    slot_remove(c, s->pub.id);
    if (s->prev) s->prev->next = s->next;
    else c->live = s->next;
    if (s->next) s->next->prev = s->prev;
    c->stats.open_streams--;
    if (c->cb->on_stream_end) c->cb->on_stream_end(c->user, &s->pub, reason, ts);
    free(s);
}

/* Whether the stream has nothing more to show: END_STREAM both ways; or in
 * the only direction present; or, for a stream picked up after its
 * opening, from the server (the request may have ended before the capture,
 * and a response's END_STREAM ends an HTTP exchange and a gRPC call). The
 * last rule waits until the client direction has been fed at all: each
 * direction is picked up on its own, and the client's bytes (its HEADERS
 * for this very stream, perhaps) may be fed after the server's. */
static bool stream_done(const struct gw_h2_conn *c, const struct h2_stream *s)
{
    const uint8_t *es = s->pub.end_stream;
    if (es[GW_DIR_TO_SERVER] && es[GW_DIR_TO_CLIENT]) return true;
    if (c->one_sided >= 0 && es[c->one_sided]) return true;
    if (s->client_lost && es[GW_DIR_TO_CLIENT] &&
        (c->client_feeds > s->server_end_feed || rx_failed(&c->rx[GW_DIR_TO_SERVER])))
        return true;
    return c->midstream && c->fed[GW_DIR_TO_SERVER] && !s->start_seen && !s->pushed && es[GW_DIR_TO_CLIENT];
}

/* Ends every open stream that is done (after a rule of stream_done
 * changed). */
static void streams_sweep(struct gw_h2_conn *c)
{
    struct h2_stream *next;
    for (struct h2_stream *s = c->live; s; s = next) {
        next = s->next;
        if (stream_done(c, s)) stream_end(c, s, GW_END_STREAM, c->now);
    }
}

/* What the consumer is told of how the stream was seen. */
static void stream_update_midstream(const struct gw_h2_conn *c, struct h2_stream *s)
{
    s->pub.midstream = (c->midstream && !s->start_seen) || s->unknown_seen;
}

static void stream_mark_end(struct gw_h2_conn *c, struct h2_stream *s, int dir)
{
    s->pub.end_stream[dir] = 1;
    if (dir == GW_DIR_TO_CLIENT && s->client_lost) {
        s->server_end_feed = c->client_feeds;
        c->lost_waiting = true;
    }
    if (stream_done(c, s)) stream_end(c, s, GW_END_STREAM, c->now);
}

/* ---- mid-stream: odd ids already begun ------------------------------------ */

static uint32_t seen_bit(uint32_t id) { return (id >> 1) & (SEEN_IDS - 1); }

static bool seen_test(const struct gw_h2_conn *c, uint32_t id)
{
    if (id > c->seen_top || (c->seen_top - id) / 2 >= SEEN_IDS) return false;
    uint32_t b = seen_bit(id);
    return (c->seen[b / 64] >> (b % 64)) & 1u;
}

static void seen_mark(struct gw_h2_conn *c, uint32_t id)
{
    if (id > c->seen_top) {
        /* ids between the old top and id leave the window's far end */
        uint32_t steps = GW_MIN((id - c->seen_top) / 2, SEEN_IDS);
        for (uint32_t k = 1; k <= steps; k++) {
            uint32_t b = seen_bit(id - 2 * (k - 1));
            c->seen[b / 64] &= ~((uint64_t)1 << (b % 64));
        }
        c->seen_top = id;
    } else if ((c->seen_top - id) / 2 >= SEEN_IDS) {
        return; /* too old to remember */
    }
    uint32_t b = seen_bit(id);
    c->seen[b / 64] |= (uint64_t)1 << (b % 64);
}

/* Mid-stream: the open stream sid, or a new one begun by this frame of
 * direction dir (HEADERS, DATA or RST_STREAM); NULL when the id is closed,
 * refused, even, or the table is full. A client HEADERS that is the
 * stream's first client frame is its opening, even when a server frame was
 * fed first (each direction is picked up on its own, so their order across
 * directions is loose). */
static struct h2_stream *midstream_stream(struct gw_h2_conn *c, int dir, uint32_t sid, bool headers)
{
    struct h2_stream *s = stream_lookup(c, sid);
    if (!s) {
        if (sid == 0 || (sid & 1) == 0 || seen_test(c, sid)) return NULL;
        seen_mark(c, sid); /* also when refused: it is not retried */
        s = stream_open(c, dir, sid);
        if (!s) return NULL;
    }
    if (dir == GW_DIR_TO_SERVER && !s->client_seen) {
        s->client_seen = true;
        s->start_seen = headers;
    }
    stream_update_midstream(c, s);
    return s;
}

/* ---- HPACK -------------------------------------------------------------- */

static void hd_apply(struct gw_h2_conn *c, int dir, uint32_t size)
{
    struct h2_rx *rx = &c->rx[dir];
    if (!rx->hd) return; /* mid-stream: gw_hpack takes any size up to its cap */
    if (rx->block.open) {
        rx->hd_pending = size;
        rx->hd_has_pending = true;
        return;
    }
    rx->hd_has_pending = false;
    int rv = nghttp2_hd_inflate_change_table_size(rx->hd, size);
    if (rv != 0) rx_fail(c, dir, GW_H2_ANOM_HPACK_ERROR, 0, GW_ERR_NOMEM);
}

/* SETTINGS_HEADER_TABLE_SIZE for the encoder whose blocks travel in dir. */
static void hd_advertised(struct gw_h2_conn *c, int dir, uint32_t value)
{
    struct h2_rx *rx = &c->rx[dir];
    uint32_t size = GW_MIN(value, c->lim.max_header_table);
    if (rx_failed(rx)) return;
    if (size >= rx->hd_size) {
        rx->hd_has_shrink = false;
        rx->hd_size = size;
        hd_apply(c, dir, size);
    } else {
        rx->hd_shrink = size;
        rx->hd_has_shrink = true;
    }
}

/* dir acknowledged the other side's SETTINGS. */
static void settings_acked(struct gw_h2_conn *c, int dir)
{
    struct h2_rx *rx = &c->rx[dir];
    if (!rx->hd_has_shrink) return;
    rx->hd_has_shrink = false;
    rx->hd_size = rx->hd_shrink;
    hd_apply(c, dir, rx->hd_shrink);
}

/* One decoded field of the open block. name NULL: unknown name (mid-stream
 * only), counted and not reported; value NULL: unknown value, reported as
 * such. Sizes count toward the header list cap as RFC 9113 counts them,
 * unknown parts as zero bytes. */
static void emit_field(struct gw_h2_conn *c, int dir, const uint8_t *name, size_t namelen,
                       const uint8_t *value, size_t valuelen)
{
    struct h2_block *b = &c->rx[dir].block;
    struct h2_stream *s = stream_lookup(c, b->target_sid);
    if (!name || !value) {
        if (!name) c->stats.unknown_names++;
        else c->stats.unknown_values++;
        if (s) {
            s->unknown_seen = true;
            stream_update_midstream(c, s);
            if (!name && s->pub.unknown_names[b->field_dir] < UINT16_MAX) s->pub.unknown_names[b->field_dir]++;
        }
        if (!name) return;
    }
    b->list_size += (uint64_t)namelen + valuelen + H2_FIELD_OVERHEAD;
    if (b->over_limit) return;
    if (b->list_size > c->lim.max_header_list) {
        b->over_limit = true;
        anomaly(c, dir, GW_H2_ANOM_HEADER_LIST_TOO_LARGE, b->target_sid ? b->target_sid : b->frame_sid);
        return;
    }
    if (s && c->cb->on_header) c->cb->on_header(c->user, &s->pub, b->field_dir, name, namelen, value, valuelen);
}

/* Streams a fragment into the inflater; final marks the end of the block. */
static void inflate_feed(struct gw_h2_conn *c, int dir, const uint8_t *p, size_t n, bool final)
{
    struct h2_rx *rx = &c->rx[dir];
    if (n == 0) p = no_bytes;
    for (;;) {
        nghttp2_nv nv;
        int flags = 0;
        ssize_t rv = nghttp2_hd_inflate_hd2(rx->hd, &nv, &flags, p, n, final);
        if (rv < 0) {
            rx_fail(c, dir, GW_H2_ANOM_HPACK_ERROR, rx->block.frame_sid,
                    rv == NGHTTP2_ERR_NOMEM ? GW_ERR_NOMEM : GW_ERR_MALFORMED);
            return;
        }
        p += rv;
        n -= (size_t)rv;
        /* NULL means "unknown" to emit_field; nghttp2 knows every field */
        if (flags & NGHTTP2_HD_INFLATE_EMIT)
            emit_field(c, dir, nv.name ? nv.name : no_bytes, nv.namelen, nv.value ? nv.value : no_bytes, nv.valuelen);
        if (flags & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(rx->hd);
            return;
        }
        if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && n == 0) return;
    }
}

/* Mid-stream: appends a fragment to the joined block, within the cap. */
static void blk_append(struct gw_h2_conn *c, int dir, const uint8_t *p, size_t n)
{
    struct h2_rx *rx = &c->rx[dir];
    uint32_t cap = c->lim.max_header_list;
    if (rx->blk_overflow || n == 0) return;
    if (n > cap - rx->blk_len) {
        rx->blk_overflow = true;
        return;
    }
    uint32_t need = rx->blk_len + (uint32_t)n;
    if (need > rx->blk_cap) {
        uint32_t want = rx->blk_cap ? rx->blk_cap : GW_MIN(BLK_INITIAL, cap);
        while (want < need) want = want > cap / 2 ? cap : want * 2;
        uint8_t *nb = realloc(rx->blk, want);
        if (!nb) {
            rx->blk_overflow = true;
            return;
        }
        rx->blk = nb;
        rx->blk_cap = want;
    }
    memcpy(rx->blk + rx->blk_len, p, n);
    rx->blk_len = need;
}

/* Mid-stream: this direction's table can no longer be followed; start over
 * with everything unknown. */
static void mhd_restart(struct gw_h2_conn *c, int dir)
{
    struct h2_rx *rx = &c->rx[dir];
    if (rx->mhd) gw_hpack_destroy(rx->mhd);
    rx->mhd = gw_hpack_create(c->lim.max_header_table, false);
    c->stats.hpack_resets++;
    if (!rx->mhd) rx_fail(c, dir, GW_H2_ANOM_HPACK_ERROR, 0, GW_ERR_NOMEM);
}

struct field_ctx {
    struct gw_h2_conn *c;
    int dir;
};

static void mhd_field(void *user, const uint8_t *name, size_t namelen, const uint8_t *value, size_t valuelen,
                      unsigned flags)
{
    struct field_ctx *fc = user;
    /* the flags are authoritative; a known empty string may come as NULL */
    if (!(flags & GW_HPACK_NAME_UNKNOWN) && !name) name = no_bytes;
    if (!(flags & GW_HPACK_VALUE_UNKNOWN) && !value) value = no_bytes;
    if (flags & GW_HPACK_NAME_UNKNOWN) name = NULL;
    if (flags & GW_HPACK_VALUE_UNKNOWN) value = NULL;
    emit_field(fc->c, fc->dir, name, name ? namelen : 0, value, value ? valuelen : 0);
}

/* Mid-stream: decodes the joined block at END_HEADERS. */
static void mhd_decode(struct gw_h2_conn *c, int dir)
{
    struct h2_rx *rx = &c->rx[dir];
    if (rx->blk_overflow) {
        anomaly(c, dir, GW_H2_ANOM_HEADER_LIST_TOO_LARGE,
                rx->block.target_sid ? rx->block.target_sid : rx->block.frame_sid);
        mhd_restart(c, dir);
    } else {
        struct field_ctx fc = { c, dir };
        int rv = gw_hpack_decode_block(rx->mhd, rx->blk ? rx->blk : no_bytes, rx->blk_len, mhd_field, &fc);
        if (rv != GW_OK)
            rx_fail(c, dir, GW_H2_ANOM_HPACK_ERROR, rx->block.frame_sid,
                    rv == GW_ERR_NOMEM ? GW_ERR_NOMEM : GW_ERR_MALFORMED);
    }
    rx->blk_len = 0;
    rx->blk_overflow = false;
}

static void block_feed(struct gw_h2_conn *c, int dir, const uint8_t *p, size_t n)
{
    if (c->rx[dir].hd) inflate_feed(c, dir, p, n, false);
    else blk_append(c, dir, p, n);
}

static void block_open(struct gw_h2_conn *c, int dir, uint32_t target, int field_dir, bool end_stream)
{
    struct h2_rx *rx = &c->rx[dir];
    struct h2_block *b = &rx->block;
    memset(b, 0, sizeof *b);
    b->open = true;
    b->frame_sid = rx->sid;
    b->target_sid = target;
    b->field_dir = (uint8_t)field_dir;
    b->end_stream = end_stream;
    rx->blk_len = 0;
    rx->blk_overflow = false;
}

static void block_finish(struct gw_h2_conn *c, int dir)
{
    struct h2_rx *rx = &c->rx[dir];
    struct h2_block b;
    if (rx->hd) inflate_feed(c, dir, NULL, 0, true);
    else mhd_decode(c, dir);
    if (rx_failed(rx)) return;
    b = rx->block;
    rx->block.open = false;
    c->stats.headers_blocks++;
    if (rx->hd_has_pending) hd_apply(c, dir, rx->hd_pending);
    struct h2_stream *s = stream_lookup(c, b.target_sid);
    if (!s) return;
    if (c->cb->on_headers_end) c->cb->on_headers_end(c->user, &s->pub, b.field_dir, b.end_stream);
    if (b.end_stream) stream_mark_end(c, s, b.field_dir);
}

/* ---- frames -------------------------------------------------------------- */

/* An odd id at or below the highest the client opened that may still be
 * new: the client direction lost bytes since that id could have been
 * opened, and the id was never begun (its HEADERS were in the hole; the
 * server's answer is the first sign of it). */
static bool opened_in_client_hole(const struct gw_h2_conn *c, uint32_t sid)
{
    return c->rx[GW_DIR_TO_SERVER].gaps > 0 && sid > c->gap_client_sid && !seen_test(c, sid);
}

/* The stream a HEADERS frame's fields go to, begun if new; 0 = none. */
static uint32_t headers_target(struct gw_h2_conn *c, int dir, uint32_t sid)
{
    if (c->rx[dir].report & GW_H2_CHK_SID) {
        GW_ASSERT(sid == 0);
        /* Still decoded below, to keep the HPACK table in step. */
        anomaly(c, dir, GW_H2_ANOM_BAD_FRAME, sid);
        return 0;
    }
    if (c->midstream) {
        struct h2_stream *s = midstream_stream(c, dir, sid, true);
        return s ? sid : 0;
    }
    if (stream_lookup(c, sid)) return sid;
    if ((sid & 1) == 0) return 0;                /* even ids open by PUSH_PROMISE */
    if (sid <= c->max_client_sid && !opened_in_client_hole(c, sid)) return 0; /* closed or refused */
    /* Only the client's HEADERS advance it: a server answers in any order. */
    if (dir == GW_DIR_TO_SERVER) c->max_client_sid = sid;
    return stream_open(c, dir, sid) ? sid : 0;
}

static uint32_t push_target(struct gw_h2_conn *c, int dir, uint32_t promised)
{
    struct h2_rx *rx = &c->rx[dir];
    if (dir != GW_DIR_TO_CLIENT || (rx->report & GW_H2_CHK_SID) || promised == 0 || (promised & 1)) {
        anomaly(c, dir, GW_H2_ANOM_BAD_FRAME, rx->sid);
        return 0;
    }
    if (stream_lookup(c, promised)) return promised;
    if (promised <= c->max_promised_sid) return 0;
    c->max_promised_sid = promised;
    struct h2_stream *s = stream_open(c, dir, promised);
    if (!s) return 0;
    s->pushed = true;
    return promised;
}

static void on_rst(struct gw_h2_conn *c, int dir, uint32_t code)
{
    uint32_t sid = c->rx[dir].sid;
    struct h2_stream *s = c->midstream ? midstream_stream(c, dir, sid, false) : stream_lookup(c, sid);
    if (!s) return;
    s->pub.rst = 1;
    if (c->cb->on_rst_stream) c->cb->on_rst_stream(c->user, &s->pub, dir, code);
    stream_end(c, s, GW_END_RST, c->now);
}

static void on_goaway(struct gw_h2_conn *c, int dir, uint32_t last_sid, uint32_t code)
{
    /* The receiver of a GOAWAY sent toward the client is the client, whose
     * streams are odd; toward the server, the server's (pushed) even ones. */
    uint32_t parity = dir == GW_DIR_TO_CLIENT ? 1 : 0;
    if (c->cb->on_goaway) c->cb->on_goaway(c->user, dir, last_sid, code);
    struct h2_stream *next;
    for (struct h2_stream *s = c->live; s; s = next) {
        next = s->next;
        if ((s->pub.id & 1) == parity && s->pub.id > last_sid) stream_end(c, s, GW_END_GOAWAY, c->now);
    }
}

static void settings_entry(struct gw_h2_conn *c, int dir, const uint8_t *e)
{
    struct gw_cursor cur = gw_cursor_make(e, H2_SETTINGS_ENTRY_LEN);
    uint16_t id = gw_get_be16(&cur);
    uint32_t value = gw_get_be32(&cur);
    int other = !dir;
    /* only the two settings that change how we read are checked: the
     * others are the endpoints' business */
    if (id == GW_H2_SETTINGS_HEADER_TABLE_SIZE) {
        hd_advertised(c, other, value);
    } else if (id == GW_H2_SETTINGS_MAX_FRAME_SIZE) {
        if (!gw_h2_setting_ok(id, value))
            anomaly(c, dir, GW_H2_ANOM_BAD_FRAME, 0);
        else
            c->rx[other].max_frame = value; /* limits what the other side sends */
    }
}

static void frame_done(struct gw_h2_conn *c, int dir)
{
    struct h2_rx *rx = &c->rx[dir];
    if (rx_failed(rx)) return;
    rx->state = RX_FRAME_HEADER;
    if (rx->type == GW_H2_DATA && (rx->flags & F_END_STREAM)) {
        struct h2_stream *s = stream_lookup(c, rx->sid);
        if (!s) return;
        if (c->cb->on_data_end) c->cb->on_data_end(c->user, &s->pub, dir);
        stream_mark_end(c, s, dir);
    } else if (rx->type == GW_H2_SETTINGS && (rx->flags & F_ACK)) {
        settings_acked(c, dir);
    }
}

static void enter_pad(struct gw_h2_conn *c, int dir)
{
    struct h2_rx *rx = &c->rx[dir];
    if (rx_failed(rx)) return;
    rx->phase = PH_PAD;
    rx->left = rx->pad;
    if (rx->left == 0) frame_done(c, dir);
}

static void body_done(struct gw_h2_conn *c, int dir)
{
    struct h2_rx *rx = &c->rx[dir];
    if (rx_failed(rx)) return;
    if (rx->body_kind == BODY_BLOCK && (rx->flags & F_END_HEADERS)) block_finish(c, dir);
    enter_pad(c, dir);
}

static void enter_body(struct gw_h2_conn *c, int dir, uint32_t body_len)
{
    struct h2_rx *rx = &c->rx[dir];
    if (rx_failed(rx)) return;
    rx->phase = PH_BODY;
    rx->left = body_len;
    rx->body_len = body_len;
    rx->fix_have = 0; /* SETTINGS entries are collected in fix */
    if (rx->left == 0) body_done(c, dir);
}

/* PADDED, on a type that defines it. */
static bool frame_is_padded(const struct h2_rx *rx)
{
    const struct gw_h2_frame_rule *r = gw_h2_frame_rule(rx->type);
    return r && (rx->flags & r->flags & F_PADDED);
}

/* The fixed fields are in; act on them and move on to the body. */
static void prefix_done(struct gw_h2_conn *c, int dir)
{
    struct h2_rx *rx = &c->rx[dir];
    struct gw_cursor cur = gw_cursor_make(rx->fix, rx->fix_need);
    uint32_t rest = rx->len - rx->fix_need;
    if (frame_is_padded(rx)) {
        rx->pad = gw_get_u8(&cur);
        if (rx->pad > rest) {
            rx_fail(c, dir, GW_H2_ANOM_BAD_PADDING, rx->sid, GW_ERR_MALFORMED);
            return;
        }
    }
    switch (rx->type) {
    case GW_H2_HEADERS:
        /* priority fields, if any, are skipped unread */
        block_open(c, dir, headers_target(c, dir, rx->sid), dir, (rx->flags & F_END_STREAM) != 0);
        break;
    case GW_H2_PUSH_PROMISE: {
        uint32_t promised = gw_get_be32(&cur) & GW_H2_SID_MASK;
        /* A promise carries the request of the pushed stream: report it as
         * request headers, complete in themselves. */
        block_open(c, dir, push_target(c, dir, promised), GW_DIR_TO_SERVER, true);
        break;
    }
    case GW_H2_RST_STREAM:
        on_rst(c, dir, gw_get_be32(&cur));
        break;
    case GW_H2_GOAWAY: {
        uint32_t last = gw_get_be32(&cur) & GW_H2_SID_MASK;
        on_goaway(c, dir, last, gw_get_be32(&cur));
        break;
    }
    default:
        break;
    }
    enter_body(c, dir, rest - rx->pad);
}

static void enter_prefix(struct gw_h2_conn *c, int dir)
{
    struct h2_rx *rx = &c->rx[dir];
    rx->phase = PH_PREFIX;
    rx->fix_have = 0;
    rx->pad = 0;
    if (rx->fix_need == 0) prefix_done(c, dir);
}

/* Marks the frame malformed and skips its payload. */
static void frame_skip_bad(struct gw_h2_conn *c, int dir)
{
    struct h2_rx *rx = &c->rx[dir];
    anomaly(c, dir, GW_H2_ANOM_BAD_FRAME, rx->sid);
    rx->body_kind = BODY_SKIP;
    rx->fix_need = 0;
    rx->type = 0xff; /* as an unknown type: no type-specific handling after this */
}

/* A CONTINUATION with no block open. Mid-stream, the first frames of a
 * direction may finish a block begun before the capture: skipped quietly.
 * Anywhere else it is malformed. Either way its fields are lost, and on a
 * mid-stream connection so are its table insertions: past the leading
 * frames (when entries may be known) the decoder starts over as unknown. */
static void orphan_continuation(struct gw_h2_conn *c, int dir)
{
    struct h2_rx *rx = &c->rx[dir];
    if (rx->lenient_start && !rx->saw_frame) {
        rx->body_kind = BODY_SKIP;
        rx->type = 0xff;
        return;
    }
    frame_skip_bad(c, dir);
    if (rx->mhd) mhd_restart(c, dir);
}

static uint8_t body_kind_of(const struct gw_h2_frame_rule *r, uint8_t flags)
{
    switch (r->body) {
    case GW_H2_BODY_DATA: return BODY_DATA;
    case GW_H2_BODY_BLOCK: return BODY_BLOCK;
    case GW_H2_BODY_SETTINGS: return (flags & F_ACK) ? BODY_SKIP : BODY_SETTINGS;
    default: return BODY_SKIP;
    }
}

/* Decides how the payload of the frame whose header just completed is
 * walked, by the rules of gw_h2_frame_rules (the parser's columns).
 * Returns false when the direction failed. */
static bool frame_setup(struct gw_h2_conn *c, int dir, const struct gw_h2_frame_header *h)
{
    struct h2_rx *rx = &c->rx[dir];
    const struct gw_h2_frame_rule *r = gw_h2_frame_rule(h->type);
    rx->fix_need = 0;
    rx->body_kind = BODY_SKIP;
    rx->report = 0;
    if (!r) return true; /* unknown types are ignored (RFC 9113 4.1) */
    unsigned bad = gw_h2_frame_check(h);
    uint32_t prefix = gw_h2_frame_prefix(h);
    GW_ASSERT(prefix <= sizeof rx->fix);
    rx->fix_need = (uint8_t)prefix;
    rx->body_kind = body_kind_of(r, h->flags);
    rx->report = (uint8_t)(bad & r->parser_report);
    if (bad & r->parser_fail) {
        /* The block can not be found, so HPACK would fall out of step. */
        rx_fail(c, dir, GW_H2_ANOM_BAD_FRAME, rx->sid, GW_ERR_MALFORMED);
        return false;
    }
    if (bad & r->parser_skip) {
        frame_skip_bad(c, dir);
        return true;
    }
    if (h->type == GW_H2_DATA && c->midstream) midstream_stream(c, dir, rx->sid, false);
    else if (h->type == GW_H2_CONTINUATION && !rx->block.open) orphan_continuation(c, dir);
    return true;
}

static void frame_begin(struct gw_h2_conn *c, int dir)
{
    struct h2_rx *rx = &c->rx[dir];
    struct gw_h2_frame_header h;
    gw_h2_frame_unpack(&h, rx->hdr);
    rx->len = h.length;
    rx->type = h.type;
    rx->flags = h.flags;
    rx->sid = h.stream_id;
    rx->hdr_have = 0;
    if (rx->type != GW_H2_CONTINUATION) rx->saw_frame = true;
    c->stats.frames[dir]++;
    if (rx->type < GW_ARRAY_LEN(c->stats.frames_by_type)) c->stats.frames_by_type[rx->type]++;
    if (c->cb->on_frame)
        c->cb->on_frame(c->user, dir, rx->type, rx->flags, rx->sid, rx->len, c->now);

    if (rx->block.open && !(rx->type == GW_H2_CONTINUATION && rx->sid == rx->block.frame_sid)) {
        rx_fail(c, dir, GW_H2_ANOM_CONTINUATION_EXPECTED, rx->sid, GW_ERR_MALFORMED);
        return;
    }
    /* We only watch: the receiver may have taken the frame anyway, and its
     * real length (24 bits, so at most 16 MiB) still frames the next one. */
    if (rx->len > rx->max_frame) anomaly(c, dir, GW_H2_ANOM_FRAME_TOO_LARGE, rx->sid);
    rx->state = RX_PAYLOAD;
    if (frame_setup(c, dir, &h)) enter_prefix(c, dir);
}

/* ---- byte-level receivers ---------------------------------------------- */

static void rx_preface(struct gw_h2_conn *c, int dir, struct gw_cursor *cur)
{
    struct h2_rx *rx = &c->rx[dir];
    size_t k = GW_MIN(gw_cursor_left(cur), (size_t)(GW_H2_PREFACE_LEN - rx->preface_have));
    const uint8_t *p = gw_get_bytes(cur, k);
    if (memcmp(p, preface + rx->preface_have, k) != 0) {
        rx_fail(c, dir, GW_H2_ANOM_BAD_PREFACE, 0, GW_ERR_MALFORMED);
        return;
    }
    rx->preface_have = (uint8_t)(rx->preface_have + k);
    if (rx->preface_have == GW_H2_PREFACE_LEN) rx->state = RX_FRAME_HEADER;
}

static void rx_frame_header(struct gw_h2_conn *c, int dir, struct gw_cursor *cur)
{
    struct h2_rx *rx = &c->rx[dir];
    size_t k = GW_MIN(gw_cursor_left(cur), (size_t)(H2_FRAME_HEADER_LEN - rx->hdr_have));
    memcpy(rx->hdr + rx->hdr_have, gw_get_bytes(cur, k), k);
    rx->hdr_have = (uint8_t)(rx->hdr_have + k);
    if (rx->hdr_have == H2_FRAME_HEADER_LEN) frame_begin(c, dir);
}

static void rx_prefix_bytes(struct gw_h2_conn *c, int dir, struct gw_cursor *cur)
{
    struct h2_rx *rx = &c->rx[dir];
    size_t k = GW_MIN(gw_cursor_left(cur), (size_t)(rx->fix_need - rx->fix_have));
    memcpy(rx->fix + rx->fix_have, gw_get_bytes(cur, k), k);
    rx->fix_have = (uint8_t)(rx->fix_have + k);
    if (rx->fix_have == rx->fix_need) prefix_done(c, dir);
}

static void settings_bytes(struct gw_h2_conn *c, int dir, const uint8_t *p, size_t n)
{
    struct h2_rx *rx = &c->rx[dir];
    while (n > 0) {
        size_t k = GW_MIN(n, (size_t)(H2_SETTINGS_ENTRY_LEN - rx->fix_have));
        memcpy(rx->fix + rx->fix_have, p, k);
        rx->fix_have = (uint8_t)(rx->fix_have + k);
        p += k;
        n -= k;
        if (rx->fix_have == H2_SETTINGS_ENTRY_LEN) {
            settings_entry(c, dir, rx->fix);
            rx->fix_have = 0;
        }
    }
}

static void rx_body_bytes(struct gw_h2_conn *c, int dir, struct gw_cursor *cur)
{
    struct h2_rx *rx = &c->rx[dir];
    size_t k = GW_MIN(gw_cursor_left(cur), (size_t)rx->left);
    const uint8_t *p = gw_get_bytes(cur, k);
    rx->left -= (uint32_t)k;
    switch (rx->body_kind) {
    case BODY_DATA: {
        struct h2_stream *s = stream_lookup(c, rx->sid);
        if (!s || !c->cb->on_data || k == 0) break;
        s->pub.data_frame_len = rx->body_len;
        s->pub.data_frame_off = rx->body_len - rx->left - (uint32_t)k;
        c->cb->on_data(c->user, &s->pub, dir, p, k);
        break;
    }
    case BODY_BLOCK:
        block_feed(c, dir, p, k);
        break;
    case BODY_SETTINGS:
        settings_bytes(c, dir, p, k);
        break;
    default:
        break;
    }
    if (rx->left == 0) body_done(c, dir);
}

static void rx_pad_bytes(struct gw_h2_conn *c, int dir, struct gw_cursor *cur)
{
    struct h2_rx *rx = &c->rx[dir];
    size_t k = GW_MIN(gw_cursor_left(cur), (size_t)rx->left);
    gw_skip(cur, k);
    rx->left -= (uint32_t)k;
    if (rx->left == 0) frame_done(c, dir);
}

static void rx_payload(struct gw_h2_conn *c, int dir, struct gw_cursor *cur)
{
    switch (c->rx[dir].phase) {
    case PH_PREFIX: rx_prefix_bytes(c, dir, cur); break;
    case PH_BODY: rx_body_bytes(c, dir, cur); break;
    default: rx_pad_bytes(c, dir, cur); break;
    }
}

/* ---- gaps ------------------------------------------------------------------ */

/* Bytes of a stream's DATA body were lost (len of them; unknown: maybe,
 * and how many is not known). */
static void stream_data_lost(struct h2_stream *s, int dir, uint64_t len, bool unknown)
{
    s->pub.data_gaps[dir]++;
    s->pub.data_gap_bytes[dir] += len;
    if (unknown) s->pub.data_gaps_unknown[dir]++;
}

/* A hole of len bytes provably inside the payload (body or padding) of the
 * DATA frame being read: skip them and keep framing. False, changing
 * nothing, when it is not provably so (len 0 means unknown). */
static bool gap_inside_data(struct gw_h2_conn *c, int dir, size_t len)
{
    struct h2_rx *rx = &c->rx[dir];
    if (rx->state != RX_PAYLOAD || rx->type != GW_H2_DATA || rx->body_kind != BODY_DATA) return false;
    if (rx->phase == PH_PREFIX || len == 0) return false; /* the pad length may be in the hole */
    uint64_t remaining = rx->phase == PH_BODY ? (uint64_t)rx->left + rx->pad : rx->left;
    if (len > remaining) return false;
    if (rx->phase == PH_BODY) {
        uint32_t k = (uint32_t)GW_MIN(len, (size_t)rx->left);
        struct h2_stream *s = stream_lookup(c, rx->sid);
        rx->left -= k;
        len -= k;
        if (s && k > 0) stream_data_lost(s, dir, k, false);
        if (rx->left > 0) return true;
        body_done(c, dir); /* to the padding, or the frame's end */
    }
    if (len > 0 && !rx_failed(rx)) {
        /* the rest lies in the padding (len <= remaining) */
        rx->left -= (uint32_t)len;
        if (rx->left == 0) frame_done(c, dir);
    }
    return true;
}

/* The held bytes are no longer needed (a boundary found, or given up). */
static void sync_release(struct h2_rx *rx)
{
    free(rx->sync_buf);
    rx->sync_buf = NULL;
    rx->sync_len = rx->sync_cap = 0;
}

/* Any other hole: the frame boundary and the HPACK table are lost. Mark
 * what the hole may have cut, drop the open header block, restart the
 * direction's decoder as unknown and look for the next frame boundary. */
static void gap_resync(struct gw_h2_conn *c, int dir)
{
    struct h2_rx *rx = &c->rx[dir];
    rx->gaps++;
    anomaly(c, dir, GW_H2_ANOM_GAP, rx->state == RX_PAYLOAD ? rx->sid : 0);
    if (dir == GW_DIR_TO_SERVER) c->gap_client_sid = c->max_client_sid;
    for (struct h2_stream *s = c->live; s; s = s->next) {
        if (s->pub.end_stream[dir]) continue;
        stream_data_lost(s, dir, 0, true);
        if (dir == GW_DIR_TO_SERVER && (s->pub.id & 1)) s->client_lost = true;
    }
    /* a header block cut by the hole is dropped: its fields can not be
     * decoded, nor told apart from those of the next block */
    memset(&rx->block, 0, sizeof rx->block);
    rx->blk_len = 0;
    rx->blk_overflow = false;
    rx->hd_has_pending = false;
    if (rx->hd) {
        nghttp2_hd_inflate_del(rx->hd);
        rx->hd = NULL;
    }
    mhd_restart(c, dir);
    if (rx_failed(rx)) {
        sync_release(rx);
        c->stats.gaps_stopped[dir] += rx->gaps_pending + 1;
        rx->gaps_pending = 0;
        return;
    }
    rx->state = RX_SYNC;
    rx->hdr_have = 0;
    rx->saw_frame = false;
    rx->lenient_start = true;
    rx->sync_len = 0;
    rx->gaps_pending++;
    gw_h2_sniff_init(&rx->sniff, 0);
}

/* The search after a gap failed: the direction stops. */
static void sync_give_up(struct gw_h2_conn *c, int dir, int err)
{
    struct h2_rx *rx = &c->rx[dir];
    sync_release(rx);
    c->stats.gaps_stopped[dir] += rx->gaps_pending;
    rx->gaps_pending = 0;
    rx->pickup = false;
    /* the gap was reported already (a pickup has none); no second anomaly */
    rx->state = RX_FAILED;
    rx->err = err;
    /* no client feed will decode again: waiting streams end now */
    if (dir == GW_DIR_TO_SERVER) streams_sweep(c);
}

/* A hole before a pickup's first boundary: nothing was decoded, so nothing
 * is lost but the bytes held; the search starts again after it. */
static void pickup_restart(struct h2_rx *rx)
{
    GW_ASSERT(rx->state == RX_SYNC && rx->gaps_pending == 0);
    sync_release(rx);
    gw_h2_sniff_init(&rx->sniff, 0);
}

static bool sync_reserve(struct h2_rx *rx, uint32_t need)
{
    if (need <= rx->sync_cap) return true;
    uint32_t want = rx->sync_cap ? rx->sync_cap : SYNC_INITIAL;
    while (want < need) want = want > SYNC_HOLD_MAX / 2 ? SYNC_HOLD_MAX : want * 2;
    uint8_t *nb = realloc(rx->sync_buf, want);
    if (!nb) return false;
    rx->sync_buf = nb;
    rx->sync_cap = want;
    return true;
}

static void rx_sync(struct gw_h2_conn *c, int dir, struct gw_cursor *cur);

/* rx_run -> rx_sync -> sync_found -> rx_run recurses once at most: the held
 * bytes are fed in state RX_FRAME_HEADER and only a gap (never a byte) enters
 * RX_SYNC again. */
/* NOLINTBEGIN(misc-no-recursion) */

/* Feeds the bytes of cur through the receiver of direction dir. Re-entered
 * once at most, by sync_found (which can not lead back to RX_SYNC). */
static void rx_run(struct gw_h2_conn *c, int dir, struct gw_cursor *cur)
{
    struct h2_rx *rx = &c->rx[dir];
    while (!rx_failed(rx) && gw_cursor_left(cur) > 0) {
        switch (rx->state) {
        case RX_PREFACE: rx_preface(c, dir, cur); break;
        case RX_FRAME_HEADER: rx_frame_header(c, dir, cur); break;
        case RX_SYNC: rx_sync(c, dir, cur); break;
        default: rx_payload(c, dir, cur); break;
        }
    }
}

/* A boundary at off of the held bytes: decode from there. */
static void sync_found(struct gw_h2_conn *c, int dir, size_t off)
{
    struct h2_rx *rx = &c->rx[dir];
    uint8_t *held = rx->sync_buf;
    uint32_t len = rx->sync_len;
    /* detached first: the bytes fed below are read from it */
    rx->sync_buf = NULL;
    rx->sync_len = rx->sync_cap = 0;
    c->stats.gaps_resynced[dir] += rx->gaps_pending;
    rx->gaps_pending = 0;
    rx->pickup = false;
    rx->state = RX_FRAME_HEADER;
    c->fed[dir] = true; /* its first decoded byte, on a pickup */
    struct gw_cursor sub = gw_cursor_make(held + off, len - off);
    rx_run(c, dir, &sub);
    free(held);
}

/* RX_SYNC: hold the bytes and look for a frame boundary in them. */
static void rx_sync(struct gw_h2_conn *c, int dir, struct gw_cursor *cur)
{
    struct h2_rx *rx = &c->rx[dir];
    size_t k = GW_MIN(gw_cursor_left(cur), (size_t)(SYNC_HOLD_MAX - rx->sync_len));
    if (!sync_reserve(rx, rx->sync_len + (uint32_t)k)) {
        sync_give_up(c, dir, GW_ERR_NOMEM);
        return;
    }
    memcpy(rx->sync_buf + rx->sync_len, gw_get_bytes(cur, k), k);
    rx->sync_len += (uint32_t)k;
    size_t off = 0;
    int rc = gw_h2_sniff_feed(&rx->sniff, rx->sync_buf, rx->sync_len, &off);
    if (rc == GW_OK && off < rx->sync_len) {
        sync_found(c, dir, off);
    } else if (rc != GW_ERR_NEED_MORE || rx->sync_len == SYNC_HOLD_MAX) {
        sync_give_up(c, dir, GW_ERR_TRUNCATED);
    }
}

/* NOLINTEND(misc-no-recursion) */

/* ---- public API --------------------------------------------------------- */

static bool rx_init(struct h2_rx *rx, int dir, bool midstream, uint32_t max_table)
{
    memset(rx, 0, sizeof *rx);
    rx->hd_size = H2_DEFAULT_TABLE;
    if (!midstream) {
        rx->state = dir == GW_DIR_TO_SERVER ? RX_PREFACE : RX_FRAME_HEADER;
        rx->max_frame = H2_DEFAULT_MAX_FRAME;
        return nghttp2_hd_inflate_new(&rx->hd) == 0;
    }
    /* fed from any point: the first boundary is searched for as after a
     * gap; the receiver's SETTINGS are unknown */
    rx->state = RX_SYNC;
    rx->pickup = true;
    gw_h2_sniff_init(&rx->sniff, 0);
    rx->max_frame = H2_LARGEST_MAX_FRAME;
    rx->lenient_start = true;
    rx->mhd = gw_hpack_create(max_table, false);
    return rx->mhd != NULL;
}

static struct gw_h2_limits limits_or_defaults(const struct gw_h2_limits *lim)
{
    struct gw_h2_limits l = { 0, 0, 0 };
    if (lim) l = *lim;
    if (l.max_streams == 0) l.max_streams = H2_DEFAULT_MAX_STREAMS;
    if (l.max_streams > H2_MAX_MAX_STREAMS) l.max_streams = H2_MAX_MAX_STREAMS;
    if (l.max_header_table == 0) l.max_header_table = H2_DEFAULT_MAX_TABLE;
    if (l.max_header_list == 0) l.max_header_list = H2_DEFAULT_MAX_LIST;
    return l;
}

static struct gw_h2_conn *conn_create(const struct gw_h2_limits *lim, const struct gw_h2_callbacks *cb,
                                      void *user, bool midstream)
{
    if (!cb) return NULL;
    struct gw_h2_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->lim = limits_or_defaults(lim);
    c->cb = cb;
    c->user = user;
    c->midstream = midstream;
    c->one_sided = -1;
    c->nslots = H2_INITIAL_SLOTS;
    c->slot_bits = H2_INITIAL_SLOT_BITS;
    c->slots = calloc(c->nslots, sizeof *c->slots);
    bool ok = c->slots != NULL;
    for (int d = 0; d < 2; d++) ok = rx_init(&c->rx[d], d, midstream, c->lim.max_header_table) && ok;
    if (!ok) {
        gw_h2_conn_destroy(c);
        return NULL;
    }
    return c;
}

struct gw_h2_conn *gw_h2_conn_create(const struct gw_h2_limits *lim,
                                     const struct gw_h2_callbacks *cb, void *user)
{
    return conn_create(lim, cb, user, false);
}

struct gw_h2_conn *gw_h2_conn_create_midstream(const struct gw_h2_limits *lim,
                                               const struct gw_h2_callbacks *cb, void *user)
{
    return conn_create(lim, cb, user, true);
}

bool gw_h2_conn_is_midstream(const struct gw_h2_conn *c)
{
    return c && c->midstream;
}

int gw_h2_conn_set_boundary(struct gw_h2_conn *c, int dir)
{
    if (!c || (dir != GW_DIR_TO_SERVER && dir != GW_DIR_TO_CLIENT)) return GW_ERR_ARG;
    struct h2_rx *rx = &c->rx[dir];
    if (!rx->pickup || rx->sync_len > 0) return GW_ERR_ARG;
    GW_ASSERT(rx->state == RX_SYNC);
    sync_release(rx);
    rx->pickup = false;
    rx->state = RX_FRAME_HEADER;
    return GW_OK;
}

void gw_h2_conn_set_one_sided(struct gw_h2_conn *c, int dir_present)
{
    if (!c || (dir_present != GW_DIR_TO_SERVER && dir_present != GW_DIR_TO_CLIENT)) return;
    c->one_sided = (int8_t)dir_present;
    /* the SETTINGS bounding this direction's encoder travel the other way */
    struct h2_rx *rx = &c->rx[dir_present];
    if (rx->hd && !rx_failed(rx) && rx->hd_size < c->lim.max_header_table) {
        rx->hd_has_shrink = false;
        rx->hd_size = c->lim.max_header_table;
        hd_apply(c, dir_present, rx->hd_size);
    }
    streams_sweep(c);
}

void gw_h2_conn_close(struct gw_h2_conn *c, int reason, gw_time_us ts)
{
    if (!c) return;
    c->now = ts;
    while (c->live) stream_end(c, c->live, reason, ts);
}

void gw_h2_conn_destroy(struct gw_h2_conn *c)
{
    if (!c) return;
    if (c->slots) gw_h2_conn_close(c, GW_END_CONN_CLOSED, c->now);
    for (int d = 0; d < 2; d++) {
        if (c->rx[d].hd) nghttp2_hd_inflate_del(c->rx[d].hd);
        if (c->rx[d].mhd) gw_hpack_destroy(c->rx[d].mhd);
        free(c->rx[d].blk);
        free(c->rx[d].sync_buf);
    }
    free(c->slots);
    free(c);
}

int gw_h2_conn_feed(struct gw_h2_conn *c, int dir, const uint8_t *p, size_t n, gw_time_us ts)
{
    if (!c || (dir != GW_DIR_TO_SERVER && dir != GW_DIR_TO_CLIENT) || (!p && n)) return GW_ERR_ARG;
    struct h2_rx *rx = &c->rx[dir];
    struct gw_cursor cur = gw_cursor_make(p, n);
    bool was_fed = c->fed[dir];
    c->now = ts;
    /* fed: bytes were decoded, not only held by the search for the first
     * boundary (sync_found sets it then) */
    if (n > 0 && !rx_failed(rx) && rx->state != RX_SYNC) c->fed[dir] = true;
    rx_run(c, dir, &cur);
    if (dir == GW_DIR_TO_SERVER && n > 0 && rx->state != RX_SYNC && !rx_failed(rx)) {
        c->client_feeds++;
        if (c->lost_waiting) {
            c->lost_waiting = false;
            streams_sweep(c);
        }
    }
    /* Mid-stream, server END_STREAMs that came before any client byte can
     * end their streams now, unless these bytes held frames of them. */
    bool first_client_bytes = dir == GW_DIR_TO_SERVER && !was_fed && c->fed[dir];
    if (first_client_bytes && c->midstream && !rx_failed(rx)) streams_sweep(c);
    return rx_failed(rx) ? rx->err : GW_OK;
}

void gw_h2_conn_gap(struct gw_h2_conn *c, int dir, size_t len, gw_time_us ts)
{
    if (!c || (dir != GW_DIR_TO_SERVER && dir != GW_DIR_TO_CLIENT)) return;
    struct h2_rx *rx = &c->rx[dir];
    c->now = ts;
    if (rx_failed(rx)) {
        c->stats.gaps_stopped[dir]++;
        return;
    }
    if (rx->pickup) {
        pickup_restart(rx);
        return;
    }
    if (gap_inside_data(c, dir, len)) {
        c->stats.gaps_skipped[dir]++;
        return;
    }
    gap_resync(c, dir);
}

bool gw_h2_conn_dir_ok(const struct gw_h2_conn *c, int dir)
{
    if (!c || (dir != GW_DIR_TO_SERVER && dir != GW_DIR_TO_CLIENT)) return false;
    return !rx_failed(&c->rx[dir]);
}

uint64_t gw_h2_conn_dir_resynced(const struct gw_h2_conn *c, int dir)
{
    if (!c || (dir != GW_DIR_TO_SERVER && dir != GW_DIR_TO_CLIENT)) return 0;
    return c->stats.gaps_resynced[dir];
}

const struct gw_h2_stats *gw_h2_conn_stats(const struct gw_h2_conn *c)
{
    return c ? &c->stats : NULL;
}

void gw_h2_stats_add(struct gw_h2_stats *total, const struct gw_h2_stats *conn)
{
    if (!total || !conn) return;
    for (int d = 0; d < 2; d++) {
        total->frames[d] += conn->frames[d];
        total->gaps_skipped[d] += conn->gaps_skipped[d];
        total->gaps_resynced[d] += conn->gaps_resynced[d];
        total->gaps_stopped[d] += conn->gaps_stopped[d];
    }
    for (size_t i = 0; i < GW_ARRAY_LEN(conn->frames_by_type); i++)
        total->frames_by_type[i] += conn->frames_by_type[i];
    total->headers_blocks += conn->headers_blocks;
    total->anomalies += conn->anomalies;
    total->open_streams += conn->open_streams;
    total->max_open_streams = GW_MAX(total->max_open_streams, conn->max_open_streams);
    total->unknown_names += conn->unknown_names;
    total->unknown_values += conn->unknown_values;
    total->hpack_resets += conn->hpack_resets;
}

#define H2_STAT(member, path) GW_STAT_FIELD(struct gw_h2_stats, member, path)

/* The first four are the stats record's keys since the start, in order. */
const struct gw_stat_field gw_h2_stat_fields[] = {
    H2_STAT(frames[GW_DIR_TO_SERVER], "frames_to_server"),
    H2_STAT(frames[GW_DIR_TO_CLIENT], "frames_to_client"),
    H2_STAT(headers_blocks, "header_blocks"),
    H2_STAT(anomalies, "anomalies"),
    H2_STAT(frames_by_type[GW_H2_DATA], "frames_by_type.data"),
    H2_STAT(frames_by_type[GW_H2_HEADERS], "frames_by_type.headers"),
    H2_STAT(frames_by_type[GW_H2_PRIORITY], "frames_by_type.priority"),
    H2_STAT(frames_by_type[GW_H2_RST_STREAM], "frames_by_type.rst_stream"),
    H2_STAT(frames_by_type[GW_H2_SETTINGS], "frames_by_type.settings"),
    H2_STAT(frames_by_type[GW_H2_PUSH_PROMISE], "frames_by_type.push_promise"),
    H2_STAT(frames_by_type[GW_H2_PING], "frames_by_type.ping"),
    H2_STAT(frames_by_type[GW_H2_GOAWAY], "frames_by_type.goaway"),
    H2_STAT(frames_by_type[GW_H2_WINDOW_UPDATE], "frames_by_type.window_update"),
    H2_STAT(frames_by_type[GW_H2_CONTINUATION], "frames_by_type.continuation"),
    H2_STAT(open_streams, "open_streams"),
    GW_STAT_FIELD_MAX(struct gw_h2_stats, max_open_streams, "max_open_streams"),
    H2_STAT(unknown_names, "midstream.unknown_names"),
    H2_STAT(unknown_values, "midstream.unknown_values"),
    H2_STAT(hpack_resets, "midstream.hpack_resets"),
    H2_STAT(gaps_skipped[GW_DIR_TO_SERVER], "gaps.skipped.to_server"),
    H2_STAT(gaps_skipped[GW_DIR_TO_CLIENT], "gaps.skipped.to_client"),
    H2_STAT(gaps_resynced[GW_DIR_TO_SERVER], "gaps.resynced.to_server"),
    H2_STAT(gaps_resynced[GW_DIR_TO_CLIENT], "gaps.resynced.to_client"),
    H2_STAT(gaps_stopped[GW_DIR_TO_SERVER], "gaps.stopped.to_server"),
    H2_STAT(gaps_stopped[GW_DIR_TO_CLIENT], "gaps.stopped.to_client"),
};
const size_t gw_h2_stat_fields_len = GW_ARRAY_LEN(gw_h2_stat_fields);
