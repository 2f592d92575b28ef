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
 */
#include "grpcwatch/h2.h"

#include "grpcwatch/cursor.h"

#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>

#define H2_FRAME_HEADER_LEN 9
#define H2_DEFAULT_MAX_FRAME 16384u
#define H2_LARGEST_MAX_FRAME 16777215u
#define H2_DEFAULT_TABLE 4096u
#define H2_SETTINGS_ENTRY_LEN 6
#define H2_FIELD_OVERHEAD 32u /* RFC 9113 6.5.2 / RFC 7541 4.1 */

/* Defaults for zero fields in gw_h2_limits, and the hard cap on streams
 * (bounds the stream index at 2 * 65536 pointers). */
#define H2_DEFAULT_MAX_STREAMS 128u
#define H2_MAX_MAX_STREAMS 65536u
#define H2_DEFAULT_MAX_TABLE 65536u
#define H2_DEFAULT_MAX_LIST 65536u
#define H2_INITIAL_SLOT_BITS 3
#define H2_INITIAL_SLOTS (1u << H2_INITIAL_SLOT_BITS)

#define F_END_STREAM 0x1
#define F_ACK 0x1
#define F_END_HEADERS 0x4
#define F_PADDED 0x8
#define F_PRIORITY 0x20

#define SETTINGS_HEADER_TABLE_SIZE 0x1
#define SETTINGS_MAX_FRAME_SIZE 0x5

enum rx_state { RX_PREFACE, RX_FRAME_HEADER, RX_PAYLOAD, RX_FAILED };
enum rx_phase { PH_PREFIX, PH_BODY, PH_PAD };
enum body_kind { BODY_SKIP, BODY_DATA, BODY_BLOCK, BODY_SETTINGS };

struct h2_stream {
    struct gw_h2_stream pub; /* handed to the callbacks */
    struct h2_stream *prev, *next;
    bool pushed;             /* opened by PUSH_PROMISE */
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
    uint32_t pad;           /* padding after the body */
    uint8_t fix[8];         /* fixed fields / one SETTINGS entry */
    uint8_t fix_need, fix_have;
    struct h2_block block;
    /* HPACK decoding of this direction's header blocks */
    nghttp2_hd_inflater *hd;
    uint32_t hd_size;       /* table size granted to the sender's encoder */
    uint32_t hd_pending;    /* hd_size not yet given to the inflater */
    bool hd_has_pending;
    uint32_t hd_shrink;     /* smaller size waiting for this side's SETTINGS ACK */
    bool hd_has_shrink;
    uint32_t max_frame;     /* largest frame the receiver advertised */
    int err;                /* why the direction failed */
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
};

static const uint8_t no_bytes[1];
static const char preface[] = GW_H2_PREFACE;

const char *gw_h2_stream_end_str(int reason)
{
    switch (reason) {
    case GW_H2_END_STREAM: return "end_stream";
    case GW_H2_END_RST: return "rst_stream";
    case GW_H2_END_GOAWAY: return "goaway";
    case GW_H2_END_CONN_CLOSED: return "conn_closed";
    case GW_H2_END_EVICTED: return "evicted";
    case GW_H2_END_EOF: return "eof";
    default: return "unknown";
    }
}

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

static struct h2_stream *stream_open(struct gw_h2_conn *c, int dir, uint32_t id)
{
    struct h2_stream *s = NULL;
    if (c->stats.open_streams < c->lim.max_streams && slots_reserve(c, c->stats.open_streams + 1))
        s = calloc(1, sizeof *s);
    if (!s) {
        /* Over the cap (or out of memory): the stream's frames are ignored. */
        anomaly(c, dir, GW_H2_ANOM_TOO_MANY_STREAMS, id);
        return NULL;
    }
    s->pub.id = id;
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
    slot_remove(c, s->pub.id);
    if (s->prev) s->prev->next = s->next;
    else c->live = s->next;
    if (s->next) s->next->prev = s->prev;
    c->stats.open_streams--;
    if (c->cb->on_stream_end) c->cb->on_stream_end(c->user, &s->pub, reason, ts);
    free(s);
}

static void stream_mark_end(struct gw_h2_conn *c, struct h2_stream *s, int dir)
{
    s->pub.end_stream[dir] = 1;
    if (s->pub.end_stream[GW_DIR_TO_SERVER] && s->pub.end_stream[GW_DIR_TO_CLIENT])
        stream_end(c, s, GW_H2_END_STREAM, c->now);
}

/* ---- HPACK -------------------------------------------------------------- */

static void hd_apply(struct gw_h2_conn *c, int dir, uint32_t size)
{
    struct h2_rx *rx = &c->rx[dir];
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

static void emit_field(struct gw_h2_conn *c, int dir, const nghttp2_nv *nv)
{
    struct h2_block *b = &c->rx[dir].block;
    b->list_size += (uint64_t)nv->namelen + nv->valuelen + H2_FIELD_OVERHEAD;
    if (b->over_limit) return;
    if (b->list_size > c->lim.max_header_list) {
        b->over_limit = true;
        anomaly(c, dir, GW_H2_ANOM_HEADER_LIST_TOO_LARGE, b->target_sid ? b->target_sid : b->frame_sid);
        return;
    }
    struct h2_stream *s = stream_lookup(c, b->target_sid);
    if (s && c->cb->on_header)
        c->cb->on_header(c->user, &s->pub, b->field_dir, nv->name, nv->namelen, nv->value, nv->valuelen);
}

/* Streams a fragment into the inflater; final marks the end of the block. */
static void block_feed(struct gw_h2_conn *c, int dir, const uint8_t *p, size_t n, bool final)
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
        if (flags & NGHTTP2_HD_INFLATE_EMIT) emit_field(c, dir, &nv);
        if (flags & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(rx->hd);
            return;
        }
        if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && n == 0) return;
    }
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
}

static void block_finish(struct gw_h2_conn *c, int dir)
{
    struct h2_rx *rx = &c->rx[dir];
    struct h2_block b;
    block_feed(c, dir, NULL, 0, true);
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

/* The stream a HEADERS frame's fields go to, begun if new; 0 = none. */
static uint32_t headers_target(struct gw_h2_conn *c, int dir, uint32_t sid)
{
    if (sid == 0) {
        /* Still decoded below, to keep the HPACK table in step. */
        anomaly(c, dir, GW_H2_ANOM_BAD_FRAME, sid);
        return 0;
    }
    if (stream_lookup(c, sid)) return sid;
    if ((sid & 1) == 0) return 0;                /* even ids open by PUSH_PROMISE */
    if (sid <= c->max_client_sid) return 0;      /* closed or refused */
    if (dir == GW_DIR_TO_SERVER) c->max_client_sid = sid;
    return stream_open(c, dir, sid) ? sid : 0;
}

static uint32_t push_target(struct gw_h2_conn *c, int dir, uint32_t promised)
{
    struct h2_rx *rx = &c->rx[dir];
    if (dir != GW_DIR_TO_CLIENT || rx->sid == 0 || promised == 0 || (promised & 1)) {
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
    struct h2_stream *s = stream_lookup(c, c->rx[dir].sid);
    if (!s) return;
    s->pub.rst = 1;
    if (c->cb->on_rst_stream) c->cb->on_rst_stream(c->user, &s->pub, dir, code);
    stream_end(c, s, GW_H2_END_RST, c->now);
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
        if ((s->pub.id & 1) == parity && s->pub.id > last_sid) stream_end(c, s, GW_H2_END_GOAWAY, c->now);
    }
}

static void settings_entry(struct gw_h2_conn *c, int dir, const uint8_t *e)
{
    struct gw_cursor cur = gw_cursor_make(e, H2_SETTINGS_ENTRY_LEN);
    uint16_t id = gw_get_be16(&cur);
    uint32_t value = gw_get_be32(&cur);
    int other = !dir;
    if (id == SETTINGS_HEADER_TABLE_SIZE) {
        hd_advertised(c, other, value);
    } else if (id == SETTINGS_MAX_FRAME_SIZE) {
        if (value < H2_DEFAULT_MAX_FRAME || value > H2_LARGEST_MAX_FRAME)
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
    rx->fix_have = 0; /* SETTINGS entries are collected in fix */
    if (rx->left == 0) body_done(c, dir);
}

static bool frame_is_padded(const struct h2_rx *rx)
{
    return (rx->flags & F_PADDED) &&
           (rx->type == GW_H2_DATA || rx->type == GW_H2_HEADERS || rx->type == GW_H2_PUSH_PROMISE);
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
        uint32_t promised = gw_get_be32(&cur) & 0x7fffffffu;
        /* A promise carries the request of the pushed stream: report it as
         * request headers, complete in themselves. */
        block_open(c, dir, push_target(c, dir, promised), GW_DIR_TO_SERVER, true);
        break;
    }
    case GW_H2_RST_STREAM:
        on_rst(c, dir, gw_get_be32(&cur));
        break;
    case GW_H2_GOAWAY: {
        uint32_t last = gw_get_be32(&cur) & 0x7fffffffu;
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

/* Decides how the payload of the frame whose header just completed is
 * walked. Returns false when the direction failed. */
static bool frame_setup(struct gw_h2_conn *c, int dir)
{
    struct h2_rx *rx = &c->rx[dir];
    uint8_t pad_field = (rx->flags & F_PADDED) ? 1 : 0;
    rx->fix_need = 0;
    rx->body_kind = BODY_SKIP;
    switch (rx->type) {
    case GW_H2_DATA:
        rx->fix_need = pad_field;
        rx->body_kind = BODY_DATA;
        if (rx->sid == 0 || rx->len < rx->fix_need) frame_skip_bad(c, dir);
        return true;
    case GW_H2_HEADERS:
    case GW_H2_PUSH_PROMISE:
        rx->fix_need = (uint8_t)(pad_field + (rx->type == GW_H2_PUSH_PROMISE ? 4 : 0) +
                                 (rx->type == GW_H2_HEADERS && (rx->flags & F_PRIORITY) ? 5 : 0));
        rx->body_kind = BODY_BLOCK;
        if (rx->len < rx->fix_need) {
            /* The block can not be found, so HPACK would fall out of step. */
            rx_fail(c, dir, GW_H2_ANOM_BAD_FRAME, rx->sid, GW_ERR_MALFORMED);
            return false;
        }
        return true;
    case GW_H2_CONTINUATION:
        rx->body_kind = BODY_BLOCK;
        if (!rx->block.open) frame_skip_bad(c, dir);
        return true;
    case GW_H2_PRIORITY:
        if (rx->len != 5 || rx->sid == 0) frame_skip_bad(c, dir);
        return true;
    case GW_H2_RST_STREAM:
        rx->fix_need = 4;
        if (rx->len != 4 || rx->sid == 0) frame_skip_bad(c, dir);
        return true;
    case GW_H2_SETTINGS:
        rx->body_kind = (rx->flags & F_ACK) ? BODY_SKIP : BODY_SETTINGS;
        if (rx->sid != 0 || ((rx->flags & F_ACK) ? rx->len != 0 : rx->len % H2_SETTINGS_ENTRY_LEN != 0))
            frame_skip_bad(c, dir);
        return true;
    case GW_H2_PING:
        if (rx->len != 8 || rx->sid != 0) frame_skip_bad(c, dir);
        return true;
    case GW_H2_GOAWAY:
        rx->fix_need = 8;
        if (rx->len < 8 || rx->sid != 0) frame_skip_bad(c, dir);
        return true;
    case GW_H2_WINDOW_UPDATE:
        if (rx->len != 4) frame_skip_bad(c, dir);
        return true;
    default:
        return true; /* unknown types are ignored (RFC 9113 4.1) */
    }
}

static void frame_begin(struct gw_h2_conn *c, int dir)
{
    struct h2_rx *rx = &c->rx[dir];
    struct gw_cursor cur = gw_cursor_make(rx->hdr, H2_FRAME_HEADER_LEN);
    rx->len = gw_get_be24(&cur);
    rx->type = gw_get_u8(&cur);
    rx->flags = gw_get_u8(&cur);
    rx->sid = gw_get_be32(&cur) & 0x7fffffffu;
    rx->hdr_have = 0;
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
    if (frame_setup(c, dir)) enter_prefix(c, dir);
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
        if (s && c->cb->on_data) c->cb->on_data(c->user, &s->pub, dir, p, k);
        break;
    }
    case BODY_BLOCK:
        block_feed(c, dir, p, k, false);
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

/* ---- public API --------------------------------------------------------- */

static bool rx_init(struct h2_rx *rx, int dir)
{
    memset(rx, 0, sizeof *rx);
    rx->state = dir == GW_DIR_TO_SERVER ? RX_PREFACE : RX_FRAME_HEADER;
    rx->hd_size = H2_DEFAULT_TABLE;
    rx->max_frame = H2_DEFAULT_MAX_FRAME;
    return nghttp2_hd_inflate_new(&rx->hd) == 0;
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

struct gw_h2_conn *gw_h2_conn_create(const struct gw_h2_limits *lim,
                                     const struct gw_h2_callbacks *cb, void *user)
{
    if (!cb) return NULL;
    struct gw_h2_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->lim = limits_or_defaults(lim);
    c->cb = cb;
    c->user = user;
    c->nslots = H2_INITIAL_SLOTS;
    c->slot_bits = H2_INITIAL_SLOT_BITS;
    c->slots = calloc(c->nslots, sizeof *c->slots);
    bool ok = c->slots != NULL;
    for (int d = 0; d < 2; d++) ok = rx_init(&c->rx[d], d) && ok;
    if (!ok) {
        gw_h2_conn_destroy(c);
        return NULL;
    }
    return c;
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
    if (c->slots) gw_h2_conn_close(c, GW_H2_END_CONN_CLOSED, c->now);
    for (int d = 0; d < 2; d++)
        if (c->rx[d].hd) nghttp2_hd_inflate_del(c->rx[d].hd);
    free(c->slots);
    free(c);
}

int gw_h2_conn_feed(struct gw_h2_conn *c, int dir, const uint8_t *p, size_t n, gw_time_us ts)
{
    if (!c || (dir != GW_DIR_TO_SERVER && dir != GW_DIR_TO_CLIENT) || (!p && n)) return GW_ERR_ARG;
    struct h2_rx *rx = &c->rx[dir];
    struct gw_cursor cur = gw_cursor_make(p, n);
    c->now = ts;
    while (!rx_failed(rx) && gw_cursor_left(&cur) > 0) {
        switch (rx->state) {
        case RX_PREFACE: rx_preface(c, dir, &cur); break;
        case RX_FRAME_HEADER: rx_frame_header(c, dir, &cur); break;
        default: rx_payload(c, dir, &cur); break;
        }
    }
    return rx_failed(rx) ? rx->err : GW_OK;
}

void gw_h2_conn_gap(struct gw_h2_conn *c, int dir, size_t len, gw_time_us ts)
{
    GW_UNUSED(len);
    if (!c || (dir != GW_DIR_TO_SERVER && dir != GW_DIR_TO_CLIENT)) return;
    c->now = ts;
    /* Frame boundaries and the HPACK table are lost with the bytes. */
    rx_fail(c, dir, GW_H2_ANOM_GAP, 0, GW_ERR_TRUNCATED);
}

bool gw_h2_conn_dir_ok(const struct gw_h2_conn *c, int dir)
{
    if (!c || (dir != GW_DIR_TO_SERVER && dir != GW_DIR_TO_CLIENT)) return false;
    return !rx_failed(&c->rx[dir]);
}

const struct gw_h2_stats *gw_h2_conn_stats(const struct gw_h2_conn *c)
{
    return c ? &c->stats : NULL;
}
