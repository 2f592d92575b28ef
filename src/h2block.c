/*
 * h2block.c - the header blocks of one passive HTTP/2 connection: HPACK
 * decoding per direction (gw_hpack: known from the connection start, or
 * started unknown mid-stream), field reporting and the header list cap.
 *
 * Why gw_hpack and not nghttp2's inflater from the start too: on the
 * first 60,000 packets of the bench's worst case a (short gRPC
 * connections, 1000 open at once; cachegrind, 2 MiB LL), nghttp2's
 * inflater (its table of rcbufs, cut from a per-connection 8 KiB arena)
 * took 852k LL data misses and 263.3M instructions, gw_hpack 724k and
 * 249.5M (-15%, -5%; 670k and 248.5M once its entries shared one store):
 * a Huffman symbol per table lookup, no rcbuf copies. One decoder also
 * means one code path for both kinds of connection. nghttp2 stays the
 * reference: the tests and fuzz_hpack decode the same blocks with its
 * inflater and demand the same fields.
 *
 * Invariants:
 *  - Every header block is decoded by the decoder of its direction, even
 *    when its fields are not reported (unknown stream, refused stream,
 *    header list over the cap), so the HPACK dynamic table stays in step
 *    with the sender's encoder.
 *  - gw_hpack_set_ceiling is only called between header blocks; a change
 *    that arrives while a block is open waits in hd_pending until the
 *    block ends.
 *  - SETTINGS_HEADER_TABLE_SIZE from one side governs the other side's
 *    encoder, hence the decoder of the opposite direction, while it is
 *    exact (it has seen the connection from its start). A larger value
 *    applies at once (the encoder can not use it before seeing it); a
 *    smaller one applies when the encoder's side acknowledges the SETTINGS,
 *    as a real decoder does (RFC 9113 6.5.3), because encoder blocks sent
 *    before the ACK may legally predate the change. The decoder then
 *    requires a table size update at the start of the next block and
 *    rejects any update above the size it was given, as nghttp2's does.
 *  - Mid-stream connections, and any direction after a restart: the
 *    decoder started unknown and is not exact; SETTINGS_HEADER_TABLE_SIZE
 *    is not applied to it (it only bounds the encoder, whose real size is
 *    unknown; gw_hpack accepts updates up to limits.max_header_table).
 *  - Header block fragments are decoded as they arrive; a representation a
 *    fragment cuts is carried in rx->blk (at most max_header_list bytes,
 *    grown by doubling and kept for the connection) until the next
 *    fragment completes it. One that does not fit (reported at once), or a
 *    block whose start was missed (a CONTINUATION with no block open, a
 *    frame skipped as bad), restarts the decoder as unknown: skipping its
 *    insertions any other way would shift every known index.
 */
#include "h2_int.h"

#include <stdlib.h>
#include <string.h>

const uint8_t h2_no_bytes[1];

/* ---- HPACK -------------------------------------------------------------- */

void h2_hd_apply(struct gw_h2_conn *c, int dir, uint32_t size)
{
    struct h2_rx *rx = &c->rx[dir];
    if (!rx->hd_exact) return; /* started unknown: takes any size up to its cap */
    if (rx->block.open) {
        rx->hd_pending = size;
        rx->hd_has_pending = true;
        return;
    }
    rx->hd_has_pending = false;
    gw_hpack_set_ceiling(rx->hd, size);
}

/* SETTINGS_HEADER_TABLE_SIZE for the encoder whose blocks travel in dir. */
void h2_hd_advertised(struct gw_h2_conn *c, int dir, uint32_t value)
{
    struct h2_rx *rx = &c->rx[dir];
    uint32_t size = GW_MIN(value, c->lim.max_header_table);
    if (rx_failed(rx)) return;
    if (size >= rx->hd_size) {
        rx->hd_has_shrink = false;
        rx->hd_size = size;
        h2_hd_apply(c, dir, size);
    } else {
        rx->hd_shrink = size;
        rx->hd_has_shrink = true;
    }
}

/* dir acknowledged the other side's SETTINGS. */
void h2_settings_acked(struct gw_h2_conn *c, int dir)
{
    struct h2_rx *rx = &c->rx[dir];
    if (!rx->hd_has_shrink) return;
    rx->hd_has_shrink = false;
    rx->hd_size = rx->hd_shrink;
    h2_hd_apply(c, dir, rx->hd_shrink);
}

/* One decoded field of the open block. name NULL: unknown name (mid-stream
 * only), counted and not reported; value NULL: unknown value, reported as
 * such. Sizes count toward the header list cap as RFC 9113 counts them,
 * unknown parts as zero bytes. */
static void emit_field(struct gw_h2_conn *c, int dir, const uint8_t *name, size_t namelen,
                       const uint8_t *value, size_t valuelen)
{
    struct h2_block *b = &c->rx[dir].block;
    struct h2_stream *s = h2_stream_lookup(c, b->target_sid);
    if (!name || !value) {
        if (!name) c->stats.unknown_names++;
        else c->stats.unknown_values++;
        if (s) {
            s->unknown_seen = true;
            h2_stream_update_midstream(c, s);
            if (!name && s->pub.unknown_names[b->field_dir] < UINT16_MAX) s->pub.unknown_names[b->field_dir]++;
        }
        if (!name) return;
    }
    b->list_size += (uint64_t)namelen + valuelen + H2_FIELD_OVERHEAD;
    if (b->over_limit) return;
    if (b->list_size > c->lim.max_header_list) {
        b->over_limit = true;
        h2_anomaly(c, dir, GW_H2_ANOM_HEADER_LIST_TOO_LARGE, b->target_sid ? b->target_sid : b->frame_sid);
        return;
    }
    if (s && c->cb->on_header) c->cb->on_header(c->user, &s->pub, b->field_dir, name, namelen, value, valuelen);
}

/* The carried bytes can not be decoded: told at once (the block's end may
 * never come), the table restarted at its end. */
static void blk_overflowed(struct gw_h2_conn *c, int dir)
{
    struct h2_rx *rx = &c->rx[dir];
    rx->blk_overflow = true;
    h2_anomaly(c, dir, GW_H2_ANOM_HEADER_LIST_TOO_LARGE,
            rx->block.target_sid ? rx->block.target_sid : rx->block.frame_sid);
}

/* Appends to the carried bytes, within the cap. */
static void blk_append(struct gw_h2_conn *c, int dir, const uint8_t *p, size_t n)
{
    struct h2_rx *rx = &c->rx[dir];
    uint32_t cap = c->lim.max_header_list;
    if (rx->blk_overflow || n == 0) return;
    if (n > cap - rx->blk_len) {
        blk_overflowed(c, dir);
        return;
    }
    uint32_t need = rx->blk_len + (uint32_t)n;
    if (need > rx->blk_cap) {
        uint32_t want = rx->blk_cap ? rx->blk_cap : GW_MIN(BLK_INITIAL, cap);
        while (want < need) want = want > cap / 2 ? cap : want * 2;
        uint8_t *nb = gw_pool_realloc(c->lim.pool, rx->blk, want);
        if (!nb) {
            blk_overflowed(c, dir);
            return;
        }
        rx->blk = nb;
        rx->blk_cap = want;
    }
    memcpy(rx->blk + rx->blk_len, p, n);
    rx->blk_len = need;
}

/* This direction's table can no longer be followed; start over with
 * everything unknown. */
void h2_hd_restart(struct gw_h2_conn *c, int dir)
{
    struct h2_rx *rx = &c->rx[dir];
    gw_hpack_destroy(rx->hd);
    rx->hd = gw_hpack_create_in(c->lim.pool, c->lim.max_header_table, false);
    rx->hd_exact = false;
    c->stats.hpack_resets++;
    if (!rx->hd) h2_rx_fail(c, dir, GW_H2_ANOM_HPACK_ERROR, 0, GW_ERR_NOMEM);
}

struct field_ctx {
    struct gw_h2_conn *c;
    int dir;
};

static void on_field(void *user, const uint8_t *name, size_t namelen, const uint8_t *value, size_t valuelen,
                      unsigned flags)
{
    struct field_ctx *fc = user;
    /* the flags are authoritative; a known empty string may come as NULL */
    if (!(flags & GW_HPACK_NAME_UNKNOWN) && !name) name = h2_no_bytes;
    if (!(flags & GW_HPACK_VALUE_UNKNOWN) && !value) value = h2_no_bytes;
    if (flags & GW_HPACK_NAME_UNKNOWN) name = NULL;
    if (flags & GW_HPACK_VALUE_UNKNOWN) value = NULL;
    emit_field(fc->c, fc->dir, name, name ? namelen : 0, value, value ? valuelen : 0);
}

static void hpack_failed(struct gw_h2_conn *c, int dir, int rv)
{
    h2_rx_fail(c, dir, GW_H2_ANOM_HPACK_ERROR, c->rx[dir].block.frame_sid,
            rv == GW_ERR_NOMEM ? GW_ERR_NOMEM : GW_ERR_MALFORMED);
}

/* Decodes a fragment of the open block as it arrives. A representation the
 * fragment cuts is carried in blk until the next one completes it; with
 * nothing carried (nearly always) the fragment is decoded in place. */
void h2_block_feed(struct gw_h2_conn *c, int dir, const uint8_t *p, size_t n)
{
    struct h2_rx *rx = &c->rx[dir];
    struct field_ctx fc = { c, dir };
    size_t used = 0;
    int rv;
    if (rx->blk_overflow || n == 0) return;
    if (rx->blk_len == 0) {
        rv = gw_hpack_block_feed(rx->hd, p, n, &used, on_field, &fc);
        if (rv == GW_OK) blk_append(c, dir, p + used, n - used);
    } else {
        blk_append(c, dir, p, n);
        if (rx->blk_overflow) return;
        rv = gw_hpack_block_feed(rx->hd, rx->blk, rx->blk_len, &used, on_field, &fc);
        if (rv == GW_OK) {
            memmove(rx->blk, rx->blk + used, rx->blk_len - used);
            rx->blk_len -= (uint32_t)used;
        }
    }
    if (rv != GW_OK) hpack_failed(c, dir, rv);
}

/* END_HEADERS: what is still carried is a representation the block cut. */
static void block_end(struct gw_h2_conn *c, int dir)
{
    struct h2_rx *rx = &c->rx[dir];
    if (rx->blk_overflow) {
        h2_hd_restart(c, dir); /* told when it overflowed */
    } else {
        int rv = gw_hpack_block_end(rx->hd, rx->blk_len);
        if (rv != GW_OK) hpack_failed(c, dir, rv);
    }
    rx->blk_len = 0;
    rx->blk_overflow = false;
}

void h2_block_open(struct gw_h2_conn *c, int dir, uint32_t target, int field_dir, bool end_stream)
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
    gw_hpack_block_begin(rx->hd);
}

void h2_block_finish(struct gw_h2_conn *c, int dir)
{
    struct h2_rx *rx = &c->rx[dir];
    struct h2_block b;
    block_end(c, dir);
    if (rx_failed(rx)) return;
    b = rx->block;
    rx->block.open = false;
    c->stats.headers_blocks++;
    if (rx->hd_has_pending) h2_hd_apply(c, dir, rx->hd_pending);
    struct h2_stream *s = h2_stream_lookup(c, b.target_sid);
    if (!s) return;
    if (c->cb->on_headers_end) c->cb->on_headers_end(c->user, &s->pub, b.field_dir, b.end_stream);
    if (b.end_stream) h2_stream_mark_end(c, s, b.field_dir);
}
