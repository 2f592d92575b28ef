/*
 * reasm.c - TCP reassembly for one direction of one connection.
 *
 * Invariants (between calls):
 *  - next_seq is the stream position of the next byte to hand on. Every byte
 *    before it was handed on exactly once, as DATA or inside a GAP.
 *  - d->held is sorted by seq, non-overlapping, and every node starts strictly
 *    after next_seq and ends within GW_REASM_MAX_AHEAD of it. A node is either
 *    a copy of captured bytes or a "gap node": a range the sender carried but
 *    the capture cut (snap length), kept so the stream does not stall on it.
 *  - held_segments is the node count; held_bytes the copied bytes (gap nodes
 *    copy nothing). The budget's `used` is charged exactly held_bytes for
 *    this direction, and given back when nodes are delivered or released.
 *  - First copy wins: bytes already delivered or held are never replaced.
 *    Overlapping bytes are counted in dup_bytes; an overlap with a held copy
 *    whose bytes differ counts one conflict.
 *  - Once ended (FIN or RST delivered) nothing is held and pushes are ignored.
 *
 * Memory: only held nodes are allocated, each exactly its bytes plus a small
 * header, bounded per direction by the limits (and the hard caps below) and
 * across flows by the budget. When a segment can not be held, the hole in
 * front of the earliest held data is declared a GAP and the stream moves on;
 * that keeps memory bounded without ever dropping data that is in order.
 *
 * Reentrancy: deliver() may bypass or release this direction; every loop
 * re-reads d->held after a callback and stops once the direction is bypassed
 * or ended, and a node is unlinked before its bytes are handed on.
 */
#include "grpcwatch/reasm.h"
#include "grpcwatch/decode.h" /* GW_TCP_* */

#include <stdlib.h>
#include <string.h>

/* Built-in per-direction caps, used when a limit is 0 or larger. 65535 is the
 * width of held_segments. */
#define GW_REASM_HARD_MAX_BYTES (16u * 1024u * 1024u)
#define GW_REASM_HARD_MAX_SEGMENTS 65535u
/* RFC 7323: a window never exceeds 2^30 bytes, so data further ahead than
 * that is not part of this stream; refusing it also keeps every compared
 * sequence number inside half the sequence space, where (int32_t)(a - b) is a
 * total order. */
#define GW_REASM_MAX_AHEAD (1u << 30)

enum {
    RS_SYNCED = 1,      /* next_seq is known */
    RS_BYPASS = 2,      /* track next_seq and FIN/RST only */
    RS_FIN_PENDING = 4  /* a FIN was seen; fin_seq is where it ends the stream */
};

struct gw_reasm_seg {
    uint32_t seq;
    uint32_t len;
    uint8_t is_gap;     /* no bytes: the capture cut them */
    struct gw_reasm_seg *next;
    uint8_t data[];     /* len bytes unless is_gap */
};

/* One push's context: the direction, its resolved limits and the sink. */
struct run {
    struct gw_reasm_dir *d;
    uint32_t max_bytes, max_segments;
    struct gw_reasm_budget *budget;
    struct gw_pool *pool;
    gw_reasm_deliver_fn deliver;
    void *user;
};

/* The not yet handled rest of the pushed segment: [seq, seq+plen) captured at
 * p, [seq+plen, seq+wlen) carried but cut. */
struct incoming {
    uint32_t seq;
    const uint8_t *p;
    uint32_t plen, wlen;
};

/* A stretch of the incoming segment to hold: bytes at data, or a gap. */
struct span {
    uint32_t seq, len;
    const uint8_t *data; /* NULL: gap */
};

static bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static bool seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static uint32_t seg_end(const struct gw_reasm_seg *n) { return n->seq + n->len; }

static uint32_t resolve_cap(uint32_t v, uint32_t hard) { return (v == 0 || v > hard) ? hard : v; }

static void run_init(struct run *r, struct gw_reasm_dir *d, const struct gw_reasm_limits *lim,
                     gw_reasm_deliver_fn deliver, void *user)
{
    r->d = d;
    r->max_bytes = resolve_cap(lim ? lim->ooo_max_bytes : 0, GW_REASM_HARD_MAX_BYTES);
    r->max_segments = resolve_cap(lim ? lim->ooo_max_segments : 0, GW_REASM_HARD_MAX_SEGMENTS);
    r->budget = lim ? lim->budget : NULL;
    r->pool = lim ? lim->pool : NULL;
    r->deliver = deliver;
    r->user = user;
}

static bool stopped(const struct gw_reasm_dir *d) { return d->ended || (d->state & RS_BYPASS); }

/* ---- held list bookkeeping ---- */

static void budget_return(struct gw_reasm_budget *b, uint32_t n)
{
    if (b) b->used = b->used >= n ? b->used - n : 0;
}

/* Unlinks the first node and takes it off the counters; the caller frees it. */
static struct gw_reasm_seg *pop_head(struct gw_reasm_dir *d, struct gw_reasm_budget *b)
{
    struct gw_reasm_seg *h = d->held;
    d->held = h->next;
    d->held_segments--;
    if (!h->is_gap) {
        d->held_bytes -= h->len;
        budget_return(b, h->len);
    }
    return h;
}

static void release_all(struct gw_reasm_dir *d, struct gw_reasm_budget *b, struct gw_pool *pool)
{
    while (d->held) gw_pool_free(pool, pop_head(d, b));
}

/* Drops held nodes that start at or after `from` (data past a FIN). */
static void drop_from(struct gw_reasm_dir *d, struct gw_reasm_budget *b, struct gw_pool *pool,
                      uint32_t from)
{
    struct gw_reasm_seg **link = &d->held;
    while (*link && seq_lt((*link)->seq, from)) link = &(*link)->next;
    while (*link) {
        struct gw_reasm_seg *n = *link;
        *link = n->next;
        d->held_segments--;
        if (!n->is_gap) {
            d->held_bytes -= n->len;
            budget_return(b, n->len);
        }
        gw_pool_free(pool, n);
    }
}

/* ---- events: state is updated before the callback so it sees it current ---- */

static void emit(const struct run *r, int ev, const uint8_t *p, uint32_t len)
{
    if (r->deliver) r->deliver(r->user, ev, p, len);
}

static void emit_data(const struct run *r, const uint8_t *p, uint32_t len)
{
    if (len == 0) return;
    r->d->next_seq += len;
    emit(r, GW_REASM_DATA, p, len);
}

static void emit_gap(const struct run *r, uint32_t len)
{
    if (len == 0) return;
    r->d->next_seq += len;
    r->d->gap_bytes += len;
    r->d->gaps++;
    emit(r, GW_REASM_GAP, NULL, len);
}

/* Hands on a node that starts at next_seq, then frees it. */
static void emit_node(const struct run *r, struct gw_reasm_seg *h)
{
    if (h->is_gap)
        emit_gap(r, h->len);
    else
        emit_data(r, h->data, h->len);
    gw_pool_free(r->pool, h);
}

static void end_with(const struct run *r, int ev)
{
    struct gw_reasm_dir *d = r->d;
    release_all(d, r->budget, r->pool);
    d->ended = 1;
    d->state &= (uint8_t)~RS_FIN_PENDING;
    emit(r, ev, NULL, 0);
}

/* ---- the incoming segment ---- */

static void consume(struct incoming *in, uint32_t k)
{
    uint32_t from_data = GW_MIN(k, in->plen);
    if (from_data) in->p += from_data;
    in->plen -= from_data;
    in->wlen -= k;
    in->seq += k;
}

/* Drops the part of `in` before next_seq: it was handed on already. */
static void trim_old(struct gw_reasm_dir *d, struct incoming *in)
{
    if (in->wlen == 0 || !seq_lt(in->seq, d->next_seq)) return;
    uint32_t k = GW_MIN(d->next_seq - in->seq, in->wlen);
    d->dup_bytes += k;
    consume(in, k);
}

/* Counts a conflict if the captured bytes of `in` differ from held copy h
 * where they overlap. (Duplicate bytes are counted when `in` is trimmed.) */
static void note_conflict(struct gw_reasm_dir *d, const struct incoming *in,
                          const struct gw_reasm_seg *h)
{
    if (h->is_gap || in->plen == 0) return;
    uint32_t a = seq_lt(in->seq, h->seq) ? h->seq : in->seq;
    uint32_t in_end = in->seq + in->plen;
    uint32_t b = seq_lt(in_end, seg_end(h)) ? in_end : seg_end(h);
    if (!seq_lt(a, b)) return;
    if (memcmp(in->p + (a - in->seq), h->data + (a - h->seq), b - a) != 0) d->conflicts++;
}

/* Hands on `n` bytes of `in` (which starts at next_seq) straight from the
 * caller's buffer: captured bytes as DATA, the cut rest as a GAP. */
static void emit_incoming(const struct run *r, struct incoming *in, uint32_t n)
{
    const uint8_t *p = in->p;
    uint32_t data = GW_MIN(n, in->plen);
    consume(in, n);
    emit_data(r, p, data);
    if (!stopped(r->d)) emit_gap(r, n - data);
}

/* Hands on everything contiguous at next_seq: held nodes first (first copy
 * wins), the incoming segment in between, up to a pending FIN. */
static void advance(const struct run *r, struct incoming *in)
{
    struct gw_reasm_dir *d = r->d;
    for (;;) {
        if (stopped(d)) return;
        trim_old(d, in);
        if ((d->state & RS_FIN_PENDING) && d->next_seq == d->fin_seq) return;
        struct gw_reasm_seg *h = d->held;
        if (h && h->seq == d->next_seq) {
            note_conflict(d, in, h);
            emit_node(r, pop_head(d, r->budget));
            continue;
        }
        if (in->wlen && in->seq == d->next_seq) {
            uint32_t n = in->wlen;
            if (h) n = GW_MIN(n, h->seq - d->next_seq);
            emit_incoming(r, in, n);
            continue;
        }
        return;
    }
}

/* ---- holding out-of-order data ---- */

static struct gw_reasm_seg *seg_new(struct gw_pool *pool, uint32_t seq, uint32_t len,
                                    const uint8_t *data)
{
    struct gw_reasm_seg *n = gw_pool_alloc(pool, sizeof *n + (data ? len : 0));
    if (!n) return NULL;
    n->seq = seq;
    n->len = len;
    n->is_gap = data == NULL;
    n->next = NULL;
    if (data) memcpy(n->data, data, len);
    return n;
}

struct plan {
    uint64_t nodes, bytes;
};

/* Inserts the uncovered piece [pos, pos+len) of sp before *link (commit), or
 * only counts it (plan). Returns false if the allocation failed. */
static bool place_piece(const struct run *r, struct gw_reasm_seg ***link, const struct span *sp,
                        uint32_t pos, uint32_t len, bool commit, struct plan *pl)
{
    if (!commit) {
        pl->nodes++;
        if (sp->data) pl->bytes += len;
        return true;
    }
    struct gw_reasm_seg *n = seg_new(r->pool, pos, len, sp->data ? sp->data + (pos - sp->seq) : NULL);
    if (!n) return false;
    n->next = **link;
    **link = n;
    *link = &n->next;
    struct gw_reasm_dir *d = r->d;
    d->held_segments++;
    if (sp->data) {
        d->held_bytes += len;
        if (r->budget) r->budget->used += len;
    }
    return true;
}

/* Counts the overlap [a, b) of sp with held node n: duplicates, and a
 * conflict if both sides are bytes and they differ. */
static void account_overlap(struct gw_reasm_dir *d, const struct span *sp,
                            const struct gw_reasm_seg *n, uint32_t a, uint32_t b)
{
    d->dup_bytes += b - a;
    if (sp->data && !n->is_gap &&
        memcmp(sp->data + (a - sp->seq), n->data + (a - n->seq), b - a) != 0)
        d->conflicts++;
}

/* Walks the held list along sp: pieces no node covers are planned or
 * inserted, overlaps are left to the held copy (first wins). */
static bool walk_span(const struct run *r, const struct span *sp, bool commit, struct plan *pl)
{
    struct gw_reasm_dir *d = r->d;
    struct gw_reasm_seg **link = &d->held;
    uint32_t pos = sp->seq, end = sp->seq + sp->len;
    while (seq_lt(pos, end)) {
        struct gw_reasm_seg *n = *link;
        if (n && seq_le(seg_end(n), pos)) {
            link = &n->next;
            continue;
        }
        uint32_t hole_end = (n && seq_lt(n->seq, end)) ? n->seq : end;
        if (seq_lt(pos, hole_end)) {
            if (!place_piece(r, &link, sp, pos, hole_end - pos, commit, pl)) return false;
            pos = hole_end;
            continue;
        }
        uint32_t ov_end = seq_lt(seg_end(n), end) ? seg_end(n) : end;
        if (commit) account_overlap(d, sp, n, pos, ov_end);
        pos = ov_end;
        link = &n->next;
    }
    return true;
}

/* Holds what `in` adds to the held list if the limits allow all of it.
 * Returns false (nothing counted, maybe part inserted on allocation failure)
 * when it can not be held. */
static bool hold(const struct run *r, const struct incoming *in, bool *refusal_noted)
{
    struct gw_reasm_dir *d = r->d;
    struct span sp[2] = {
        { in->seq, in->plen, in->p },
        { in->seq + in->plen, in->wlen - in->plen, NULL },
    };
    struct plan pl = { 0, 0 };
    for (size_t i = 0; i < 2; i++)
        if (sp[i].len) walk_span(r, &sp[i], false, &pl);
    if ((uint64_t)d->held_segments + pl.nodes > r->max_segments) return false;
    if ((uint64_t)d->held_bytes + pl.bytes > r->max_bytes) return false;
    if (r->budget && pl.bytes && r->budget->used + pl.bytes > r->budget->cap) {
        if (!*refusal_noted) r->budget->refused++;
        *refusal_noted = true;
        return false;
    }
    for (size_t i = 0; i < 2; i++)
        if (sp[i].len && !walk_span(r, &sp[i], true, &pl)) return false;
    return true;
}

/* The stream can not wait for the hole at next_seq: declare it lost up to
 * the first data we have (held or incoming). */
static void force_gap(const struct run *r, const struct incoming *in)
{
    struct gw_reasm_dir *d = r->d;
    uint32_t target = in->seq;
    if (d->held && seq_lt(d->held->seq, target)) target = d->held->seq;
    emit_gap(r, target - d->next_seq);
}

static bool within_window(const struct gw_reasm_dir *d, uint32_t seq, uint32_t len)
{
    return (uint64_t)(uint32_t)(seq - d->next_seq) + len <= GW_REASM_MAX_AHEAD;
}

static void push_data(const struct run *r, struct incoming *in)
{
    struct gw_reasm_dir *d = r->d;
    bool refusal_noted = false;
    if ((d->state & RS_FIN_PENDING) && seq_lt(d->fin_seq, in->seq + in->wlen)) {
        /* nothing after a FIN belongs to the stream */
        uint32_t keep = seq_lt(in->seq, d->fin_seq) ? d->fin_seq - in->seq : 0;
        if (in->plen > keep) in->plen = keep;
        in->wlen = keep;
    }
    advance(r, in);
    while (in->wlen > 0 && !stopped(d)) {
        if (!within_window(d, in->seq, in->wlen)) return;
        if (hold(r, in, &refusal_noted)) return;
        force_gap(r, in);
        advance(r, in);
    }
}

/* ---- FIN, RST, sequence start ---- */

/* Anchors next_seq on the first segment that says where the stream is. */
static bool sync_start(struct gw_reasm_dir *d, uint32_t seq, uint8_t flags, uint32_t wlen)
{
    if (d->state & RS_SYNCED) return true;
    if (flags & GW_TCP_SYN)
        d->next_seq = seq + 1;
    else if (wlen > 0 || (flags & GW_TCP_FIN))
        d->next_seq = seq; /* mid-stream pickup */
    else
        return false;
    d->state |= RS_SYNCED;
    return true;
}

static void note_fin(const struct run *r, uint32_t fin_seq)
{
    struct gw_reasm_dir *d = r->d;
    if (d->state & RS_FIN_PENDING) return; /* the first FIN wins */
    if (seq_lt(d->next_seq, fin_seq) && !within_window(d, fin_seq, 0)) return;
    d->state |= RS_FIN_PENDING;
    d->fin_seq = fin_seq;
    drop_from(d, r->budget, r->pool, fin_seq);
}

static void check_fin(const struct run *r)
{
    struct gw_reasm_dir *d = r->d;
    if (!d->ended && (d->state & RS_FIN_PENDING) && seq_le(d->fin_seq, d->next_seq))
        end_with(r, GW_REASM_FIN);
}

/* Bypassed: only remember how far the stream got. */
static void track_end(struct gw_reasm_dir *d, uint32_t end)
{
    if (seq_lt(d->next_seq, end) && within_window(d, end, 0)) d->next_seq = end;
}

/* Hands on everything held, holes as gaps, and frees it. */
static void flush_held(const struct run *r)
{
    struct gw_reasm_dir *d = r->d;
    while (d->held && !stopped(d)) {
        struct gw_reasm_seg *h = pop_head(d, r->budget);
        if (seq_lt(d->next_seq, h->seq)) emit_gap(r, h->seq - d->next_seq);
        if (stopped(d) || seq_lt(h->seq, d->next_seq)) {
            free(h);
            continue;
        }
        emit_node(r, h);
    }
    release_all(d, r->budget, r->pool);
}

/* ---- public ---- */

void gw_reasm_init(struct gw_reasm_dir *d)
{
    memset(d, 0, sizeof *d);
}

void gw_reasm_push(struct gw_reasm_dir *d, const struct gw_reasm_limits *lim,
                   uint32_t seq, uint8_t flags, const uint8_t *payload,
                   uint32_t payload_len, uint32_t wire_len,
                   gw_reasm_deliver_fn deliver, void *user)
{
    if (!d || d->ended) return;
    struct run r;
    run_init(&r, d, lim, deliver, user);
    if (!payload) payload_len = 0;
    if (wire_len < payload_len) wire_len = payload_len;
    if (flags & GW_TCP_RST) {
        if (!(d->state & RS_BYPASS)) flush_held(&r);
        if (!d->ended) end_with(&r, GW_REASM_RST);
        return;
    }
    if (!sync_start(d, seq, flags, wire_len)) return;
    uint32_t data_seq = seq + ((flags & GW_TCP_SYN) ? 1u : 0u); /* SYN takes one number */
    if (flags & GW_TCP_FIN) note_fin(&r, data_seq + wire_len);
    struct incoming in = { data_seq, payload_len ? payload : NULL, payload_len, wire_len };
    if (!(d->state & RS_BYPASS)) push_data(&r, &in);
    if ((d->state & RS_BYPASS) && !d->ended) track_end(d, data_seq + wire_len);
    check_fin(&r);
}

void gw_reasm_flush(struct gw_reasm_dir *d, const struct gw_reasm_limits *lim,
                    gw_reasm_deliver_fn deliver, void *user)
{
    if (!d) return;
    struct run r;
    run_init(&r, d, lim, deliver, user);
    if (d->ended) {
        release_all(d, r.budget, r.pool);
        return;
    }
    flush_held(&r);
    if (d->ended || !(d->state & RS_FIN_PENDING)) return;
    if (!(d->state & RS_BYPASS) && seq_lt(d->next_seq, d->fin_seq))
        emit_gap(&r, d->fin_seq - d->next_seq);
    if (!d->ended) end_with(&r, GW_REASM_FIN);
}

void gw_reasm_release(struct gw_reasm_dir *d, const struct gw_reasm_limits *lim)
{
    if (d) release_all(d, lim ? lim->budget : NULL, lim ? lim->pool : NULL);
}

void gw_reasm_bypass(struct gw_reasm_dir *d, const struct gw_reasm_limits *lim)
{
    if (!d) return;
    release_all(d, lim ? lim->budget : NULL, lim ? lim->pool : NULL);
    d->state |= RS_BYPASS;
}

bool gw_reasm_check(const struct gw_reasm_dir *d)
{
    uint64_t segs = 0, bytes = 0;
    uint32_t prev_end = d->next_seq;
    bool first = true;
    if (d->ended && d->held) return false;
    for (const struct gw_reasm_seg *n = d->held; n; n = n->next) {
        if (n->len == 0) return false;
        if (first ? !seq_lt(prev_end, n->seq) : seq_lt(n->seq, prev_end)) return false;
        if (!within_window(d, n->seq, n->len)) return false;
        prev_end = seg_end(n);
        first = false;
        segs++;
        if (!n->is_gap) bytes += n->len;
    }
    return segs == d->held_segments && bytes == d->held_bytes;
}
