/*
 * grpcframe.c - the gRPC 5-byte message framing across any chunking.
 *
 * Invariants:
 *  - prefix_have < GW_GRPCFRAME_PREFIX_LEN, and prefix_have > 0 implies
 *    body_left == 0: a message is either collecting its prefix or skipping
 *    its body, never both.
 *  - Only EXACT and FOUND add to messages; TRYING holds its prefixes in
 *    held until frame_end confirms them. LOST and STOPPED take no bytes.
 *  - STOPPED is final: nothing but gw_grpcframe_init leaves it.
 *  - Body bytes are stepped over in place (gw_grpcframe_ev.body points into
 *    the caller's buffer); nothing is copied, nothing allocated.
 */
#include "grpcwatch/grpcframe.h"

#include "grpcwatch/cursor.h"

#include <string.h>

static void clear_prefix(struct gw_grpcframe *f)
{
    f->prefix_have = 0;
    f->msg_len = 0;
    f->body_left = 0;
}

/* Where messages start is no longer known: wait for a frame start. */
static void lose(struct gw_grpcframe *f)
{
    f->mode = GW_GRPCFRAME_LOST;
    f->held = 0;
    f->empty_run = 0;
    clear_prefix(f);
}

void gw_grpcframe_init(struct gw_grpcframe *f, unsigned opts)
{
    memset(f, 0, sizeof *f);
    f->mode = GW_GRPCFRAME_EXACT;
    f->opts = (uint8_t)opts;
    f->flags_ok = 1;
}

void gw_grpcframe_begin(struct gw_grpcframe *f, bool exact)
{
    f->flags_ok = 1;
    if (f->mode == GW_GRPCFRAME_STOPPED) return;
    f->mode = exact ? GW_GRPCFRAME_EXACT : GW_GRPCFRAME_LOST;
}

void gw_grpcframe_stop(struct gw_grpcframe *f)
{
    lose(f);
    f->mode = GW_GRPCFRAME_STOPPED;
}

/* A 5-byte prefix is complete: count it (or hold it back), or drop a
 * candidate framing it disproves. False if the framing was dropped. */
static bool prefix_done(struct gw_grpcframe *f)
{
    bool trailer = (f->opts & GW_GRPCFRAME_WEB) && (f->flag & GW_GRPCFRAME_FLAG_TRAILERS);
    bool flag_ok = trailer || f->flag <= 1;
    switch (f->mode) {
    case GW_GRPCFRAME_EXACT:
        if (!flag_ok) f->flags_ok = 0; /* still followed: the length is all we need */
        break;
    case GW_GRPCFRAME_FOUND:
        if (!flag_ok) {
            lose(f);
            return false;
        }
        break;
    default: /* TRYING */
        f->empty_run = f->msg_len == 0 ? (uint8_t)(f->empty_run + 1) : 0;
        if (!flag_ok || f->msg_len > GW_GRPCFRAME_TRY_MAX_LEN || f->empty_run >= 2) {
            lose(f);
            return false;
        }
        break;
    }
    if (trailer) f->trailers++;
    else if (f->mode == GW_GRPCFRAME_TRYING) f->held++;
    else f->messages++;
    f->body_left = f->msg_len;
    f->msg_len = 0;
    f->prefix_have = 0;
    return true;
}

static bool following(const struct gw_grpcframe *f)
{
    return f->mode == GW_GRPCFRAME_EXACT || f->mode == GW_GRPCFRAME_TRYING || f->mode == GW_GRPCFRAME_FOUND;
}

size_t gw_grpcframe_step(struct gw_grpcframe *f, const uint8_t *p, size_t n, struct gw_grpcframe_ev *ev)
{
    GW_ASSERT(f->prefix_have < GW_GRPCFRAME_PREFIX_LEN);
    GW_ASSERT(f->prefix_have == 0 || f->body_left == 0);
    memset(ev, 0, sizeof *ev);
    if (n == 0 || !p || !following(f)) return 0;
    ev->flag = f->flag;
    if (f->body_left > 0) {
        size_t k = GW_MIN(n, (size_t)f->body_left);
        f->body_left -= (uint32_t)k;
        f->bytes += k;
        ev->body = p;
        ev->body_len = k;
        ev->end = f->body_left == 0;
        return k;
    }
    struct gw_cursor cur = gw_cursor_make(p, n);
    while (gw_cursor_left(&cur) && f->prefix_have < GW_GRPCFRAME_PREFIX_LEN) {
        uint8_t b = gw_get_u8(&cur);
        if (f->prefix_have == 0) {
            f->flag = b;
            f->msg_len = 0;
        } else {
            f->msg_len = (f->msg_len << 8) | b;
        }
        f->prefix_have++;
    }
    size_t k = cur.off;
    f->bytes += k;
    if (f->prefix_have == GW_GRPCFRAME_PREFIX_LEN) {
        uint32_t len = f->msg_len;
        if (prefix_done(f)) {
            ev->prefix = 1;
            ev->flag = f->flag;
            ev->len = len;
            ev->end = len == 0;
        }
    }
    return k;
}

void gw_grpcframe_feed(struct gw_grpcframe *f, const uint8_t *p, size_t n)
{
    struct gw_grpcframe_ev ev;
    size_t k;
    while (n > 0 && (k = gw_grpcframe_step(f, p, n, &ev)) > 0) {
        p += k;
        n -= k;
    }
}

void gw_grpcframe_frame_start(struct gw_grpcframe *f)
{
    if (f->mode != GW_GRPCFRAME_LOST) return;
    f->mode = GW_GRPCFRAME_TRYING;
    f->held = 0;
    f->empty_run = 0;
    clear_prefix(f);
}

void gw_grpcframe_frame_end(struct gw_grpcframe *f)
{
    if (!following(f) || !gw_grpcframe_at_boundary(f)) return;
    if (f->mode == GW_GRPCFRAME_TRYING) {
        f->messages += f->held;
        f->held = 0;
        f->mode = GW_GRPCFRAME_FOUND;
        f->aligned = 1;
    } else if (f->mode == GW_GRPCFRAME_FOUND || (f->flags_ok && f->messages > 0)) {
        f->aligned = 1;
    }
}

bool gw_grpcframe_gap(struct gw_grpcframe *f, uint64_t lost, bool known)
{
    if (f->mode == GW_GRPCFRAME_STOPPED) return false;
    bool trusted = f->mode == GW_GRPCFRAME_EXACT || f->mode == GW_GRPCFRAME_FOUND;
    if (known && trusted && f->prefix_have == 0 && lost > 0 && lost <= f->body_left) {
        f->body_left -= (uint32_t)lost;
        return true;
    }
    gw_grpcframe_stop(f);
    return false;
}
