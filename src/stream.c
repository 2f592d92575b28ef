/*
 * stream.c - the opening window, reassembly, and the actions the
 * application layer asks for (see stream.h).
 *
 * Invariants:
 *  - f->stream.held lists the held segments in arrival order;
 *    held_segments/held_bytes count them, and held_bytes (payload plus a
 *    header each) is charged to the reassembly budget while held;
 *  - once ST_OPEN is set the window never reopens and nothing is held;
 *  - a direction delivers only when the orientation is known (ST_ORIENTED)
 *    and its own start is (ST_CLIENT_START / ST_SERVER_START), or the
 *    window closed: so no parser ever sees bytes under a guessed
 *    orientation that a late SYN would contradict;
 *  - ST_SWAP_PENDING is set only during or right after a delivery whose
 *    consumer asked for a swap, and cleared by gw_stream_swapped.
 */
#include "grpcwatch/stream.h"

#include <stdlib.h>
#include <string.h>

enum {
    ST_CLIENT_START = 1u << 0, /* the client's SYN was seen */
    ST_SERVER_START = 1u << 1, /* the server's SYN-ACK was seen */
    ST_ORIENTED = 1u << 2,     /* who is the client is known, not guessed */
    ST_OPEN = 1u << 3,         /* the window closed: segments go straight through */
    ST_SWAP_PENDING = 1u << 4, /* the consumer asked for a swap not applied yet */
    ST_BYPASS = 1u << 5,       /* reassembly asked to stop */
    ST_WINDOWED = 1u << 6,     /* counted in stats.windows */
    ST_BYPASSED = 1u << 7      /* ... and stopped: the releases are done, once */
};

struct gw_stream_held {
    struct gw_stream_held *next;
    gw_time_us ts;
    uint32_t seq, len, wire_len;
    uint8_t dir, flags;
    uint8_t data[];
};

struct gw_stream {
    struct gw_stream_config cfg;
    struct gw_stream_stats n;
};

/* One delivery: a segment pushed into the reassembly of one direction. */
struct push {
    struct gw_stream *s;
    struct gw_flow *f;
    int dir;           /* of the reassembly state pushed (the flow's orientation) */
    gw_time_us ts;
    const struct gw_stream_consumer *c;
    void *user;
};

struct gw_stream *gw_stream_create(const struct gw_stream_config *cfg)
{
    struct gw_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->cfg = *cfg;
    if (!s->cfg.window_bytes) s->cfg.window_bytes = GW_STREAM_WINDOW_BYTES;
    return s;
}

void gw_stream_destroy(struct gw_stream *s)
{
    free(s);
}

static unsigned start_flag(int dir)
{
    return dir == GW_DIR_TO_SERVER ? ST_CLIENT_START : ST_SERVER_START;
}

bool gw_stream_roles_swapped(const struct gw_flow *f)
{
    return (f->stream.flags & ST_SWAP_PENDING) != 0;
}

bool gw_stream_start_seen(const struct gw_flow *f)
{
    return (f->stream.flags & ST_ORIENTED) != 0 || f->saw_syn;
}

bool gw_stream_holding(const struct gw_flow *f)
{
    return f->stream.held != NULL;
}

/* ---- delivery ------------------------------------------------------------- */

static void on_reasm(void *user, int event, const uint8_t *data, uint32_t len)
{
    struct push *x = user;
    struct gw_stream_state *st = &x->f->stream;
    int dir = x->dir ^ ((st->flags & ST_SWAP_PENDING) ? 1 : 0);
    unsigned acts = GW_STREAM_CONTINUE;
    if (event == GW_REASM_DATA) acts = x->c->data(x->user, dir, data, len, x->ts);
    else if (event == GW_REASM_GAP) acts = x->c->gap(x->user, dir, len, x->ts);
    else if (event == GW_REASM_FIN && x->c->fin) acts = x->c->fin(x->user, dir, x->ts);
    if (acts & GW_STREAM_SWAP) {
        st->flags ^= ST_SWAP_PENDING;
        x->s->n.swaps_app++;
    }
    if (acts & GW_STREAM_BYPASS) st->flags |= ST_BYPASS;
}

static void push(struct push *x, uint32_t seq, uint8_t flags, const uint8_t *p, uint32_t len,
                 uint32_t wire_len)
{
    gw_reasm_push(&x->f->reasm[x->dir], &x->s->cfg.reasm, seq, flags, p, len, wire_len,
                  on_reasm, x);
}

/* ---- the window ------------------------------------------------------------- */

static bool budget_take(struct gw_stream *s, uint64_t n)
{
    struct gw_reasm_budget *b = s->cfg.reasm.budget;
    if (!b) return true;
    if (b->used + n > b->cap) return false;
    b->used += n;
    return true;
}

static void budget_give(struct gw_stream *s, uint64_t n)
{
    struct gw_reasm_budget *b = s->cfg.reasm.budget;
    if (!b) return;
    GW_ASSERT(b->used >= n);
    b->used -= n;
}

static uint64_t held_cost(uint32_t len)
{
    return sizeof(struct gw_stream_held) + len;
}

static bool hold(struct gw_stream *s, struct gw_flow *f, int dir, const struct gw_segment *seg)
{
    struct gw_stream_state *st = &f->stream;
    uint64_t cost = held_cost(seg->payload_len);
    if (st->held_segments >= GW_STREAM_WINDOW_PACKETS ||
        st->held_bytes + cost > s->cfg.window_bytes || !budget_take(s, cost))
        return false;
    struct gw_stream_held *h = gw_pool_alloc(s->cfg.pool, cost);
    if (!h) {
        budget_give(s, cost);
        return false;
    }
    h->next = NULL;
    h->ts = seg->ts;
    h->seq = seg->seq;
    h->len = seg->payload_len;
    h->wire_len = seg->payload_wire_len;
    h->dir = (uint8_t)dir;
    h->flags = seg->flags;
    if (h->len) memcpy(h->data, seg->payload, h->len);
    struct gw_stream_held **tail = &st->held;
    while (*tail) tail = &(*tail)->next;
    *tail = h;
    st->held_segments++;
    st->held_bytes += (uint32_t)cost;
    if (!(st->flags & ST_WINDOWED)) {
        st->flags |= ST_WINDOWED;
        s->n.windows++;
    }
    s->n.held_segments++;
    return true;
}

static bool seq_before(const struct gw_stream_held *a, const struct gw_stream_held *b)
{
    int32_t d = (int32_t)(a->seq - b->seq);
    if (d != 0) return d < 0;
    return (a->flags & GW_TCP_SYN) && !(b->flags & GW_TCP_SYN);
}

/* Takes the held segments of direction dir (both when dir < 0) out of the
 * list. The arrival slots keep their order; within a direction the
 * segments are put in sequence order (a SYN first), so reassembly starts
 * from the real first byte. Returns how many went into out. */
static size_t take_held(struct gw_stream *s, struct gw_flow *f, int dir,
                        struct gw_stream_held **out)
{
    struct gw_stream_state *st = &f->stream;
    struct gw_stream_held **pp = &st->held;
    size_t n = 0;
    while (*pp) {
        struct gw_stream_held *h = *pp;
        if (dir >= 0 && h->dir != dir) {
            pp = &h->next;
            continue;
        }
        *pp = h->next;
        out[n++] = h;
        st->held_segments--;
        st->held_bytes -= (uint32_t)held_cost(h->len);
    }
    for (int d = 0; d < 2; d++) {
        /* insertion sort of direction d's segments among its own slots */
        for (size_t i = 0; i < n; i++) {
            if (out[i]->dir != d) continue;
            for (size_t k = i + 1; k < n; k++) {
                if (out[k]->dir != d || !seq_before(out[k], out[i])) continue;
                struct gw_stream_held *t = out[i];
                out[i] = out[k];
                out[k] = t;
                s->n.reordered++;
            }
        }
    }
    return n;
}

/* Delivers what the window holds of dir (both when dir < 0), in order. */
static void release(struct gw_stream *s, struct gw_flow *f, int dir,
                    const struct gw_stream_consumer *c, void *user)
{
    struct gw_stream_held *out[GW_STREAM_WINDOW_PACKETS];
    size_t n = take_held(s, f, dir, out);
    for (size_t i = 0; i < n; i++) {
        struct gw_stream_held *h = out[i];
        struct push x = { s, f, h->dir, h->ts, c, user };
        push(&x, h->seq, h->flags, h->data, h->len, h->wire_len);
        budget_give(s, held_cost(h->len));
        gw_pool_free(s->cfg.pool, h);
    }
}

static bool dir_has_held(const struct gw_flow *f, int dir)
{
    for (const struct gw_stream_held *h = f->stream.held; h; h = h->next)
        if (h->dir == dir) return true;
    return false;
}

static void open_window(struct gw_stream *s, struct gw_flow *f,
                        const struct gw_stream_consumer *c, void *user)
{
    f->stream.flags |= ST_OPEN;
    release(s, f, -1, c, user);
}

/* What a SYN or SYN-ACK says. Returns false when it contradicts the flow's
 * orientation while nothing was delivered yet: swap and retry. */
static bool note_start(struct gw_stream *s, struct gw_flow *f, int dir, uint8_t flags)
{
    struct gw_stream_state *st = &f->stream;
    if (!(flags & GW_TCP_SYN) || (flags & GW_TCP_RST)) return true;
    int sender = (flags & GW_TCP_ACK) ? GW_DIR_TO_CLIENT : GW_DIR_TO_SERVER;
    if (sender == dir) {
        st->flags |= ST_ORIENTED | start_flag(dir);
        return true;
    }
    if (st->flags & (ST_ORIENTED | ST_OPEN)) {
        s->n.late_syn_ignored++;
        return true;
    }
    s->n.swaps_late_syn++;
    return false;
}

static unsigned after_delivery(struct gw_stream *s, struct gw_flow *f)
{
    struct gw_stream_state *st = &f->stream;
    unsigned acts = GW_STREAM_CONTINUE;
    if ((st->flags & (ST_BYPASS | ST_BYPASSED)) == ST_BYPASS) {
        /* nothing held is wanted any more (once: every later segment of a
         * bypassed flow would otherwise release both directions again) */
        gw_stream_release(s, f);
        st->flags |= ST_OPEN | ST_BYPASSED;
        gw_reasm_bypass(&f->reasm[0], &s->cfg.reasm);
        gw_reasm_bypass(&f->reasm[1], &s->cfg.reasm);
        acts |= GW_STREAM_BYPASS;
    }
    if (st->flags & ST_SWAP_PENDING) acts |= GW_STREAM_SWAP;
    return acts;
}

unsigned gw_stream_segment(struct gw_stream *s, struct gw_flow *f, int dir,
                           const struct gw_segment *seg, const struct gw_stream_consumer *c,
                           void *user)
{
    struct gw_stream_state *st = &f->stream;
    if ((seg->flags & GW_TCP_SYN) && (seg->flags & (GW_TCP_RST | GW_TCP_FIN))) {
        s->n.invalid_flags++;
        return GW_STREAM_DROPPED;
    }
    if (f->saw_syn && !(st->flags & ST_ORIENTED) && !st->held) st->flags |= ST_ORIENTED;
    if (!note_start(s, f, dir, seg->flags)) return GW_STREAM_SWAP | GW_STREAM_RETRY;

    bool ready = (st->flags & ST_OPEN) ||
                 ((st->flags & ST_ORIENTED) && (st->flags & start_flag(dir)) &&
                  !dir_has_held(f, dir));
    bool carries = seg->payload_wire_len || (seg->flags & (GW_TCP_SYN | GW_TCP_FIN | GW_TCP_RST));
    if (!ready && carries && !(seg->flags & GW_TCP_RST) && !(st->flags & ST_BYPASS) &&
        hold(s, f, dir, seg)) {
        if ((st->flags & ST_ORIENTED) && (st->flags & start_flag(dir))) release(s, f, dir, c, user);
        if ((st->flags & (ST_CLIENT_START | ST_SERVER_START)) ==
                (ST_CLIENT_START | ST_SERVER_START) ||
            st->held_segments >= GW_STREAM_WINDOW_PACKETS)
            open_window(s, f, c, user);
        return after_delivery(s, f);
    }
    if (!ready && !carries) return GW_STREAM_CONTINUE; /* a bare ACK: nothing to deliver */
    if (!ready && !(st->flags & ST_OPEN)) {
        /* a RST, a full window or a refused budget: deliver what is held
         * first, then this segment after it */
        if (carries && !(seg->flags & GW_TCP_RST)) s->n.window_refused++;
        open_window(s, f, c, user);
    }
    if (!(st->flags & ST_OPEN) && (st->flags & (ST_CLIENT_START | ST_SERVER_START)) ==
                                      (ST_CLIENT_START | ST_SERVER_START))
        st->flags |= ST_OPEN;
    struct push x = { s, f, dir, seg->ts, c, user };
    push(&x, seg->seq, seg->flags, seg->payload, seg->payload_len, seg->payload_wire_len);
    return after_delivery(s, f);
}

void gw_stream_swapped(struct gw_flow *f)
{
    struct gw_stream_state *st = &f->stream;
    st->flags &= (uint8_t)~ST_SWAP_PENDING;
    unsigned starts = st->flags & (ST_CLIENT_START | ST_SERVER_START);
    st->flags &= (uint8_t)~(ST_CLIENT_START | ST_SERVER_START);
    if (starts & ST_CLIENT_START) st->flags |= ST_SERVER_START;
    if (starts & ST_SERVER_START) st->flags |= ST_CLIENT_START;
    for (struct gw_stream_held *h = st->held; h; h = h->next) h->dir ^= 1;
}

void gw_stream_flush(struct gw_stream *s, struct gw_flow *f, const struct gw_stream_consumer *c,
                     void *user)
{
    f->stream.flags |= ST_OPEN;
    release(s, f, -1, c, user);
    for (int d = 0; d < 2; d++) {
        struct push x = { s, f, d, f->last_ts, c, user };
        gw_reasm_flush(&f->reasm[d], &s->cfg.reasm, on_reasm, &x);
    }
}

void gw_stream_release(struct gw_stream *s, struct gw_flow *f)
{
    struct gw_stream_held *out[GW_STREAM_WINDOW_PACKETS];
    size_t n = take_held(s, f, -1, out);
    for (size_t i = 0; i < n; i++) {
        budget_give(s, held_cost(out[i]->len));
        gw_pool_free(s->cfg.pool, out[i]);
    }
}

const struct gw_stream_stats *gw_stream_stats(const struct gw_stream *s)
{
    return &s->n;
}

#define F(m) GW_STAT_FIELD(struct gw_stream_stats, m, #m)
const struct gw_stat_field gw_stream_stat_fields[] = {
    F(windows), F(held_segments), F(reordered), F(swaps_late_syn),
    F(swaps_app), F(window_refused), F(late_syn_ignored), F(invalid_flags),
};
#undef F
const size_t gw_stream_stat_fields_len = GW_ARRAY_LEN(gw_stream_stat_fields);
