/*
 * h2sniff.c - the mid-stream frame-boundary search and the role probe.
 *
 * Invariants:
 *  - Header rules come from gw_h2_frame_rules (the `sniff` column) through
 *    gw_h2_frame_check; only the payload rules that need bytes, and the
 *    sequence rules of a chain (a CONTINUATION after its block's frame),
 *    live here.
 *  - Offsets are decided in ascending order; every offset below s->next is
 *    ruled out or among the (at most GW_H2_SNIFF_PENDING) pending ones,
 *    which stay ascending. A ruled-out offset stays ruled out with more
 *    bytes (every test that failed still fails), so the incremental and
 *    one-shot forms agree on the same bytes.
 *  - Nothing is allocated; every read is through a cursor over the bytes
 *    at hand.
 */
#include "grpcwatch/h2sniff.h"

#include "grpcwatch/cursor.h"
#include "grpcwatch/h2frame.h"
#include "grpcwatch/hpack.h"

#include <string.h>

enum chain_verdict { CHAIN_BAD, CHAIN_PENDING, CHAIN_OK };

/* The two tests that rule out nearly every offset, on the raw bytes of a
 * header (GW_H2_FRAME_HEADER_LEN of them at p: the callers check). */
static bool quick_reject(const uint8_t *p, uint32_t max_frame)
{
    struct gw_cursor c = gw_cursor_make(p, GW_H2_FRAME_HEADER_LEN);
    uint32_t len = gw_get_be24(&c);
    return gw_get_u8(&c) >= GW_H2_FRAME_TYPES || len > max_frame;
}

static bool header_ok(const struct gw_h2_frame_header *f, uint32_t max_frame)
{
    const struct gw_h2_frame_rule *r = gw_h2_frame_rule(f->type);
    if (!r || f->length > max_frame) return false;
    return (gw_h2_frame_check(f) & r->sniff) == 0;
}

static bool settings_entries_ok(struct gw_cursor *cur)
{
    while (gw_cursor_left(cur) >= GW_H2_SETTINGS_ENTRY_LEN) {
        uint16_t id = gw_get_be16(cur);
        uint32_t v = gw_get_be32(cur);
        if (!gw_h2_setting_ok(id, v)) return false;
    }
    return true;
}

/* The payload rules that need its bytes, on the avail bytes at hand (the
 * header passed header_ok, so only types that define PADDED carry it). */
static bool payload_ok(const struct gw_h2_frame_header *f, const uint8_t *p, size_t avail)
{
    struct gw_cursor cur = gw_cursor_make(p, avail);
    uint32_t fixed = gw_h2_frame_prefix(f);
    if (f->flags & GW_H2_FLAG_PADDED) {
        if (avail < 1) return true;
        uint32_t pad = gw_get_u8(&cur);
        if (pad > f->length - fixed) return false;
        /* a header block fragment is not all padding */
        if (f->type != GW_H2_DATA && pad == f->length - fixed) return false;
    }
    switch (f->type) {
    case GW_H2_HEADERS:
        if (!(f->flags & GW_H2_FLAG_PRIORITY) || gw_cursor_left(&cur) < 4) return true;
        return (gw_get_be32(&cur) & GW_H2_SID_MASK) != f->stream_id; /* not on itself */
    case GW_H2_PRIORITY:
        if (avail < 4) return true;
        return (gw_get_be32(&cur) & GW_H2_SID_MASK) != f->stream_id;
    case GW_H2_PUSH_PROMISE: {
        if (gw_cursor_left(&cur) < 4) return true;
        uint32_t promised = gw_get_be32(&cur) & GW_H2_SID_MASK;
        return promised != 0 && (promised & 1) == 0;
    }
    case GW_H2_WINDOW_UPDATE:
        if (avail < 4) return true;
        return (gw_get_be32(&cur) & GW_H2_SID_MASK) != 0;
    case GW_H2_SETTINGS: return settings_entries_ok(&cur);
    default: return true;
    }
}

/* Follows frames from off. OK: GW_H2_SNIFF_FRAMES headers are well formed,
 * or two are, from offset 0, and the second frame ends the buffer. */
static enum chain_verdict chain_check(const uint8_t *p, size_t n, size_t off, uint32_t max_frame)
{
    size_t pos = off;
    bool block_open = false; /* a header block waits for its CONTINUATION */
    uint32_t block_sid = 0;
    for (unsigned k = 0; k < GW_H2_SNIFF_FRAMES; k++) {
        if (pos > n || n - pos < GW_H2_FRAME_HEADER_LEN) {
            if (k == 2 && pos == n && off == 0) return CHAIN_OK;
            return CHAIN_PENDING;
        }
        struct gw_h2_frame_header f;
        if (quick_reject(p + pos, max_frame)) return CHAIN_BAD;
        gw_h2_frame_unpack(&f, p + pos);
        if (!header_ok(&f, max_frame)) return CHAIN_BAD;
        bool cont = f.type == GW_H2_CONTINUATION;
        if (cont ? (k > 0 && (!block_open || f.stream_id != block_sid)) : block_open) return CHAIN_BAD;
        size_t body = pos + GW_H2_FRAME_HEADER_LEN;
        if (!payload_ok(&f, p + body, GW_MIN((size_t)f.length, n - body))) return CHAIN_BAD;
        if (gw_h2_frame_rules[f.type].body == GW_H2_BODY_BLOCK) {
            block_open = !(f.flags & GW_H2_FLAG_END_HEADERS);
            block_sid = f.stream_id;
        }
        pos = body + f.length;
    }
    return CHAIN_OK;
}

void gw_h2_sniff_init(struct gw_h2_sniff *s, uint32_t max_frame)
{
    if (!s) return;
    memset(s, 0, sizeof *s);
    if (max_frame == 0) max_frame = GW_H2_SNIFF_MAX_FRAME;
    s->max_frame = GW_MAX(GW_MIN(max_frame, GW_H2_LARGEST_MAX_FRAME), GW_H2_DEFAULT_MAX_FRAME);
}

/* Re-examines the undecided offsets, dropping the ruled-out ones; returns
 * the index of the first confirmed one, or -1. */
static int sniff_pending(struct gw_h2_sniff *s, const uint8_t *p, size_t n)
{
    uint32_t keep = 0;
    int found = -1;
    for (uint32_t i = 0; i < s->npending; i++) {
        GW_ASSERT(i == 0 || s->pending[i - 1] < s->pending[i]);
        enum chain_verdict v = chain_check(p, n, s->pending[i], s->max_frame);
        if (v == CHAIN_BAD) continue;
        if (v == CHAIN_OK && found < 0) found = (int)keep;
        s->pending[keep++] = s->pending[i];
    }
    s->npending = keep;
    return found;
}

int gw_h2_sniff_feed(struct gw_h2_sniff *s, const uint8_t *p, size_t n, size_t *frame_offset)
{
    if (!s || (!p && n) || !frame_offset || s->max_frame == 0) return GW_ERR_ARG;
    GW_ASSERT(s->npending <= GW_H2_SNIFF_PENDING);
    /* The first boundary after any pickup point is at most this far in. */
    size_t last = (size_t)s->max_frame + GW_H2_FRAME_HEADER_LEN - 1;
    int found = sniff_pending(s, p, n);
    if (found >= 0) {
        *frame_offset = s->pending[found];
        return GW_OK;
    }
    /* Offsets are decided in order; one whose header is incomplete, or that
     * finds the pending list full, waits for the next call. */
    for (; s->next <= last && s->next < n && n - s->next >= GW_H2_FRAME_HEADER_LEN; s->next++) {
        if (quick_reject(p + s->next, s->max_frame)) continue;
        if (s->npending == GW_H2_SNIFF_PENDING) return GW_ERR_NEED_MORE;
        enum chain_verdict v = chain_check(p, n, s->next, s->max_frame);
        if (v == CHAIN_BAD) continue;
        s->pending[s->npending++] = s->next;
        if (v == CHAIN_OK) {
            *frame_offset = s->next++;
            return GW_OK;
        }
    }
    if (s->npending == 0 && s->next > last) return GW_ERR_UNSUPPORTED;
    return GW_ERR_NEED_MORE;
}

int gw_h2_sniff(const uint8_t *p, size_t n, size_t *frame_offset)
{
    struct gw_h2_sniff s;
    gw_h2_sniff_init(&s, 0);
    return gw_h2_sniff_feed(&s, p, n, frame_offset);
}

/* ---- which side sent the frames ---------------------------------------------- */

#define ROLE_MAX_BLOCKS 16
#define ROLE_MAX_FIELDS 8
#define HPACK_STATIC_AUTHORITY 1 /* RFC 7541 Appendix A: 1..7 request pseudo-headers */
#define HPACK_STATIC_SCHEME_HTTPS 7
#define HPACK_STATIC_STATUS_200 8 /* 8..14 :status */
#define HPACK_STATIC_STATUS_500 14

static bool skip_string(struct gw_cursor *cur)
{
    uint32_t len;
    return gw_hpack_int(cur, 7, &len) == GW_OK && gw_skip(cur, len);
}

/* The role a header block's fields reveal, or -1. Static references are
 * known even mid-stream; dynamic ones are skipped. */
static int block_role(struct gw_cursor cur)
{
    for (int fields = 0; fields < ROLE_MAX_FIELDS && gw_cursor_left(&cur) > 0;) {
        uint8_t b = *gw_cursor_ptr(&cur);
        uint32_t idx;
        unsigned prefix = (b & 0x80) ? 7 : (b & 0x40) ? 6 : (b & 0x20) ? 5 : 4;
        if (gw_hpack_int(&cur, prefix, &idx) != GW_OK) return -1;
        if (prefix == 5) continue; /* dynamic table size update */
        fields++;
        if (idx >= HPACK_STATIC_AUTHORITY && idx <= HPACK_STATIC_SCHEME_HTTPS) return GW_DIR_TO_SERVER;
        if (idx >= HPACK_STATIC_STATUS_200 && idx <= HPACK_STATIC_STATUS_500) return GW_DIR_TO_CLIENT;
        if (prefix == 7) continue;
        if (idx == 0 && !skip_string(&cur)) return -1;
        if (!skip_string(&cur)) return -1;
    }
    return -1;
}

/* The role of one HEADERS frame whose avail payload bytes are in body. */
static int headers_role(const struct gw_h2_frame_header *f, struct gw_cursor body)
{
    uint32_t skip = gw_h2_frame_prefix(f);
    size_t avail = gw_cursor_left(&body);
    uint32_t pad = 0;
    if ((f->flags & GW_H2_FLAG_PADDED) && avail) pad = *gw_cursor_ptr(&body);
    if (avail <= skip || pad > f->length - skip) return -1;
    gw_skip(&body, skip);
    return block_role(gw_cursor_sub(&body, GW_MIN(avail, (size_t)(f->length - pad)) - skip));
}

int gw_h2_sniff_role(const uint8_t *p, size_t n)
{
    if (!p) return -1;
    struct gw_cursor cur = gw_cursor_make(p, n);
    for (int blocks = 0; blocks < ROLE_MAX_BLOCKS && gw_cursor_left(&cur) >= GW_H2_FRAME_HEADER_LEN;) {
        struct gw_h2_frame_header f;
        gw_h2_frame_unpack(&f, gw_get_bytes(&cur, GW_H2_FRAME_HEADER_LEN));
        if (f.type >= GW_H2_FRAME_TYPES) return -1;
        if (f.type == GW_H2_PUSH_PROMISE) return GW_DIR_TO_CLIENT;
        size_t avail = GW_MIN((size_t)f.length, gw_cursor_left(&cur));
        if (f.type == GW_H2_HEADERS && f.length >= gw_h2_frame_prefix(&f)) {
            struct gw_cursor body = gw_cursor_make(gw_cursor_ptr(&cur), avail);
            int role = headers_role(&f, body);
            if (role >= 0) return role;
            blocks++;
        }
        if (!gw_skip(&cur, f.length)) break;
    }
    return -1;
}
