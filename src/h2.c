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
 *  - A PUSH_PROMISE's fields are the request of the promised stream: they
 *    are reported with dir GW_DIR_TO_SERVER and the block ends with
 *    end_stream set (the client never sends on a pushed stream).
 *  - Client-initiated stream ids only increase (RFC 9113 5.1.1): a client
 *    HEADERS on an odd id not above the highest seen is a closed or refused
 *    stream and is not begun again.
 *
 * Mid-stream connections (gw_h2_conn_create_midstream): each direction
 * starts in RX_SYNC with `pickup` set, the state a gap leads to, so the
 * first frame boundary is found by the same search with the same bounded
 * hold; a pickup differs from a gap only in what it costs (no anomaly, no
 * gap counted, no HPACK restart: nothing was decoded before it), and a
 * hole before the boundary just restarts the search.
 *
 * Streams (the table, the rules of their end): h2stream.c; header blocks
 * (HPACK, fields, caps): h2block.c; both share this file's state through
 * h2_int.h, nghttp2-style (one connection struct, one file per concern).
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
#include "h2_int.h"

#include "grpcwatch/cursor.h"

#include <stdlib.h>
#include <string.h>

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

void h2_anomaly(struct gw_h2_conn *c, int dir, int code, uint32_t sid)
{
    c->stats.anomalies++;
    if (c->cb->on_anomaly) c->cb->on_anomaly(c->user, dir, code, sid);
}

void h2_rx_fail(struct gw_h2_conn *c, int dir, int code, uint32_t sid, int err)
{
    struct h2_rx *rx = &c->rx[dir];
    if (rx_failed(rx)) return;
    h2_anomaly(c, dir, code, sid);
    rx->state = RX_FAILED;
    rx->err = err;
}

/* ---- frames -------------------------------------------------------------- */

/* An odd id at or below the highest the client opened that may still be
 * new: the client direction lost bytes since that id could have been
 * opened, and the id was never begun (its HEADERS were in the hole; the
 * server's answer is the first sign of it). */
static bool opened_in_client_hole(const struct gw_h2_conn *c, uint32_t sid)
{
    return c->rx[GW_DIR_TO_SERVER].gaps > 0 && sid > c->gap_client_sid && !h2_seen_test(c, sid);
}

/* The stream a HEADERS frame's fields go to, begun if new; 0 = none. */
static uint32_t headers_target(struct gw_h2_conn *c, int dir, uint32_t sid)
{
    if (c->rx[dir].report & GW_H2_CHK_SID) {
        GW_ASSERT(sid == 0);
        /* Still decoded below, to keep the HPACK table in step. */
        h2_anomaly(c, dir, GW_H2_ANOM_BAD_FRAME, sid);
        return 0;
    }
    if (c->midstream) {
        struct h2_stream *s = h2_midstream_stream(c, dir, sid, true);
        return s ? sid : 0;
    }
    if (h2_stream_lookup(c, sid)) return sid;
    if ((sid & 1) == 0) return 0;                /* even ids open by PUSH_PROMISE */
    if (sid <= c->max_client_sid && !opened_in_client_hole(c, sid)) return 0; /* closed or refused */
    /* Only the client's HEADERS advance it: a server answers in any order. */
    if (dir == GW_DIR_TO_SERVER) c->max_client_sid = sid;
    return h2_stream_open(c, dir, sid) ? sid : 0;
}

static uint32_t push_target(struct gw_h2_conn *c, int dir, uint32_t promised)
{
    struct h2_rx *rx = &c->rx[dir];
    if (dir != GW_DIR_TO_CLIENT || (rx->report & GW_H2_CHK_SID) || promised == 0 || (promised & 1)) {
        h2_anomaly(c, dir, GW_H2_ANOM_BAD_FRAME, rx->sid);
        return 0;
    }
    if (h2_stream_lookup(c, promised)) return promised;
    if (promised <= c->max_promised_sid) return 0;
    c->max_promised_sid = promised;
    struct h2_stream *s = h2_stream_open(c, dir, promised);
    if (!s) return 0;
    s->pushed = true;
    return promised;
}

static void on_rst(struct gw_h2_conn *c, int dir, uint32_t code)
{
    uint32_t sid = c->rx[dir].sid;
    struct h2_stream *s = c->midstream ? h2_midstream_stream(c, dir, sid, false) : h2_stream_lookup(c, sid);
    if (!s) return;
    s->pub.rst = 1;
    if (c->cb->on_rst_stream) c->cb->on_rst_stream(c->user, &s->pub, dir, code);
    h2_stream_end(c, s, GW_END_RST, c->now);
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
        if ((s->pub.id & 1) == parity && s->pub.id > last_sid) h2_stream_end(c, s, GW_END_GOAWAY, c->now);
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
        h2_hd_advertised(c, other, value);
    } else if (id == GW_H2_SETTINGS_MAX_FRAME_SIZE) {
        if (!gw_h2_setting_ok(id, value))
            h2_anomaly(c, dir, GW_H2_ANOM_BAD_FRAME, 0);
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
        struct h2_stream *s = h2_stream_lookup(c, rx->sid);
        if (!s) return;
        if (c->cb->on_data_end) c->cb->on_data_end(c->user, &s->pub, dir);
        h2_stream_mark_end(c, s, dir);
    } else if (rx->type == GW_H2_SETTINGS && (rx->flags & F_ACK)) {
        h2_settings_acked(c, dir);
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
    if (rx->body_kind == BODY_BLOCK && (rx->flags & F_END_HEADERS)) h2_block_finish(c, dir);
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
            h2_rx_fail(c, dir, GW_H2_ANOM_BAD_PADDING, rx->sid, GW_ERR_MALFORMED);
            return;
        }
    }
    switch (rx->type) {
    case GW_H2_HEADERS:
        /* priority fields, if any, are skipped unread */
        h2_block_open(c, dir, headers_target(c, dir, rx->sid), dir, (rx->flags & F_END_STREAM) != 0);
        break;
    case GW_H2_PUSH_PROMISE: {
        uint32_t promised = gw_get_be32(&cur) & GW_H2_SID_MASK;
        /* A promise carries the request of the pushed stream: report it as
         * request headers, complete in themselves. */
        h2_block_open(c, dir, push_target(c, dir, promised), GW_DIR_TO_SERVER, true);
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
    h2_anomaly(c, dir, GW_H2_ANOM_BAD_FRAME, rx->sid);
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
    h2_hd_restart(c, dir);
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
        h2_rx_fail(c, dir, GW_H2_ANOM_BAD_FRAME, rx->sid, GW_ERR_MALFORMED);
        return false;
    }
    if (bad & r->parser_skip) {
        frame_skip_bad(c, dir);
        return true;
    }
    if (h->type == GW_H2_DATA && c->midstream) h2_midstream_stream(c, dir, rx->sid, false);
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
        h2_rx_fail(c, dir, GW_H2_ANOM_CONTINUATION_EXPECTED, rx->sid, GW_ERR_MALFORMED);
        return;
    }
    /* We only watch: the receiver may have taken the frame anyway, and its
     * real length (24 bits, so at most 16 MiB) still frames the next one. */
    if (rx->len > rx->max_frame) h2_anomaly(c, dir, GW_H2_ANOM_FRAME_TOO_LARGE, rx->sid);
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
        h2_rx_fail(c, dir, GW_H2_ANOM_BAD_PREFACE, 0, GW_ERR_MALFORMED);
        return;
    }
    rx->preface_have = (uint8_t)(rx->preface_have + k);
    if (rx->preface_have == GW_H2_PREFACE_LEN) rx->state = RX_FRAME_HEADER;
}

static void rx_frame_header(struct gw_h2_conn *c, int dir, struct gw_cursor *cur)
{
    struct h2_rx *rx = &c->rx[dir];
    GW_ASSERT(rx->hdr_have < H2_FRAME_HEADER_LEN);
    size_t k = GW_MIN(gw_cursor_left(cur), (size_t)(H2_FRAME_HEADER_LEN - rx->hdr_have));
    memcpy(rx->hdr + rx->hdr_have, gw_get_bytes(cur, k), k);
    rx->hdr_have = (uint8_t)(rx->hdr_have + k);
    if (rx->hdr_have == H2_FRAME_HEADER_LEN) frame_begin(c, dir);
}

static void rx_prefix_bytes(struct gw_h2_conn *c, int dir, struct gw_cursor *cur)
{
    struct h2_rx *rx = &c->rx[dir];
    GW_ASSERT(rx->fix_have < rx->fix_need && rx->fix_need <= sizeof rx->fix);
    size_t k = GW_MIN(gw_cursor_left(cur), (size_t)(rx->fix_need - rx->fix_have));
    memcpy(rx->fix + rx->fix_have, gw_get_bytes(cur, k), k);
    rx->fix_have = (uint8_t)(rx->fix_have + k);
    if (rx->fix_have == rx->fix_need) prefix_done(c, dir);
}

/* SETTINGS entries, collected in rx->fix across chunks. */
static void settings_bytes(struct gw_h2_conn *c, int dir, struct gw_cursor cur)
{
    struct h2_rx *rx = &c->rx[dir];
    while (gw_cursor_left(&cur) > 0) {
        GW_ASSERT(rx->fix_have < H2_SETTINGS_ENTRY_LEN);
        size_t k = GW_MIN(gw_cursor_left(&cur), (size_t)(H2_SETTINGS_ENTRY_LEN - rx->fix_have));
        memcpy(rx->fix + rx->fix_have, gw_get_bytes(&cur, k), k);
        rx->fix_have = (uint8_t)(rx->fix_have + k);
        if (rx->fix_have == H2_SETTINGS_ENTRY_LEN) {
            settings_entry(c, dir, rx->fix);
            rx->fix_have = 0;
        }
    }
}

static void rx_body_bytes(struct gw_h2_conn *c, int dir, struct gw_cursor *cur)
{
    struct h2_rx *rx = &c->rx[dir];
    GW_ASSERT(rx->left > 0); /* an empty body was passed through at once */
    size_t k = GW_MIN(gw_cursor_left(cur), (size_t)rx->left);
    const uint8_t *p = gw_get_bytes(cur, k);
    rx->left -= (uint32_t)k;
    switch (rx->body_kind) {
    case BODY_DATA: {
        struct h2_stream *s = h2_stream_lookup(c, rx->sid);
        if (!s || !c->cb->on_data || k == 0) break;
        s->pub.data_frame_len = rx->body_len;
        s->pub.data_frame_off = rx->body_len - rx->left - (uint32_t)k;
        c->cb->on_data(c->user, &s->pub, dir, p, k);
        break;
    }
    case BODY_BLOCK:
        h2_block_feed(c, dir, p, k);
        break;
    case BODY_SETTINGS:
        settings_bytes(c, dir, gw_cursor_make(p, k));
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
        struct h2_stream *s = h2_stream_lookup(c, rx->sid);
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
static void sync_release(struct gw_h2_conn *c, struct h2_rx *rx)
{
    gw_pool_free(c->lim.pool, rx->sync_buf);
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
    h2_anomaly(c, dir, GW_H2_ANOM_GAP, rx->state == RX_PAYLOAD ? rx->sid : 0);
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
    h2_hd_restart(c, dir);
    if (rx_failed(rx)) {
        sync_release(c, rx);
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
    sync_release(c, rx);
    c->stats.gaps_stopped[dir] += rx->gaps_pending;
    rx->gaps_pending = 0;
    rx->pickup = false;
    /* the gap was reported already (a pickup has none); no second anomaly */
    rx->state = RX_FAILED;
    rx->err = err;
    /* no client feed will decode again: waiting streams end now */
    if (dir == GW_DIR_TO_SERVER) h2_streams_sweep(c);
}

/* A hole before a pickup's first boundary: nothing was decoded, so nothing
 * is lost but the bytes held; the search starts again after it. */
static void pickup_restart(struct gw_h2_conn *c, struct h2_rx *rx)
{
    GW_ASSERT(rx->state == RX_SYNC && rx->gaps_pending == 0);
    sync_release(c, rx);
    gw_h2_sniff_init(&rx->sniff, 0);
}

static bool sync_reserve(struct gw_h2_conn *c, struct h2_rx *rx, uint32_t need)
{
    if (need <= rx->sync_cap) return true;
    uint32_t want = rx->sync_cap ? rx->sync_cap : SYNC_INITIAL;
    while (want < need) want = want > SYNC_HOLD_MAX / 2 ? SYNC_HOLD_MAX : want * 2;
    uint8_t *nb = gw_pool_realloc(c->lim.pool, rx->sync_buf, want);
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
    gw_pool_free(c->lim.pool, held);
}

/* RX_SYNC: hold the bytes and look for a frame boundary in them. */
static void rx_sync(struct gw_h2_conn *c, int dir, struct gw_cursor *cur)
{
    struct h2_rx *rx = &c->rx[dir];
    GW_ASSERT(rx->sync_len < SYNC_HOLD_MAX); /* a full hold was given up on */
    size_t k = GW_MIN(gw_cursor_left(cur), (size_t)(SYNC_HOLD_MAX - rx->sync_len));
    if (!sync_reserve(c, rx, rx->sync_len + (uint32_t)k)) {
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

static bool rx_init(struct h2_rx *rx, int dir, bool midstream, uint32_t max_table, struct gw_pool *pool)
{
    memset(rx, 0, sizeof *rx);
    rx->hd_size = H2_DEFAULT_TABLE;
    rx->hd = gw_hpack_create_in(pool, max_table, !midstream);
    if (!rx->hd) return false;
    if (!midstream) {
        rx->state = dir == GW_DIR_TO_SERVER ? RX_PREFACE : RX_FRAME_HEADER;
        rx->max_frame = H2_DEFAULT_MAX_FRAME;
        rx->hd_exact = true;
        gw_hpack_follow_settings(rx->hd);
        return true;
    }
    /* fed from any point: the first boundary is searched for as after a
     * gap; the receiver's SETTINGS are unknown */
    rx->state = RX_SYNC;
    rx->pickup = true;
    gw_h2_sniff_init(&rx->sniff, 0);
    rx->max_frame = H2_LARGEST_MAX_FRAME;
    rx->lenient_start = true;
    return true;
}

static struct gw_h2_limits limits_or_defaults(const struct gw_h2_limits *lim)
{
    struct gw_h2_limits l = { 0, 0, 0, NULL };
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
    struct gw_pool *pool = lim ? lim->pool : NULL;
    struct gw_h2_conn *c = gw_pool_calloc(pool, 1, sizeof *c);
    if (!c) return NULL;
    c->lim = limits_or_defaults(lim);
    c->cb = cb;
    c->user = user;
    c->midstream = midstream;
    c->one_sided = -1;
    c->nslots = H2_INITIAL_SLOTS;
    c->slot_bits = H2_INITIAL_SLOT_BITS;
    c->slots = gw_pool_calloc(pool, c->nslots, sizeof *c->slots);
    bool ok = c->slots != NULL;
    for (int d = 0; d < 2; d++) ok = rx_init(&c->rx[d], d, midstream, c->lim.max_header_table, pool) && ok;
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
    sync_release(c, rx);
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
    if (rx->hd_exact && !rx_failed(rx) && rx->hd_size < c->lim.max_header_table) {
        rx->hd_has_shrink = false;
        rx->hd_size = c->lim.max_header_table;
        h2_hd_apply(c, dir_present, rx->hd_size);
    }
    h2_streams_sweep(c);
}

void gw_h2_conn_close(struct gw_h2_conn *c, int reason, gw_time_us ts)
{
    if (!c) return;
    c->now = ts;
    while (c->live) h2_stream_end(c, c->live, reason, ts);
}

void gw_h2_conn_destroy(struct gw_h2_conn *c)
{
    if (!c) return;
    if (c->slots) gw_h2_conn_close(c, GW_END_CONN_CLOSED, c->now);
    for (int d = 0; d < 2; d++) {
        gw_hpack_destroy(c->rx[d].hd);
        gw_pool_free(c->lim.pool, c->rx[d].blk);
        gw_pool_free(c->lim.pool, c->rx[d].sync_buf);
    }
    gw_pool_free(c->lim.pool, c->slots);
    gw_pool_free(c->lim.pool, c);
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
            h2_streams_sweep(c);
        }
    }
    /* Mid-stream, server END_STREAMs that came before any client byte can
     * end their streams now, unless these bytes held frames of them. */
    bool first_client_bytes = dir == GW_DIR_TO_SERVER && !was_fed && c->fed[dir];
    if (first_client_bytes && c->midstream && !rx_failed(rx)) h2_streams_sweep(c);
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
        pickup_restart(c, rx);
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
    gw_stats_fold(gw_h2_stat_fields, gw_h2_stat_fields_len, total, conn);
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
