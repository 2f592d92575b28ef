/*
 * h2stream.c - the streams of one passive HTTP/2 connection: the table,
 * mid-stream bookkeeping of ids, and the one rule of when a stream ends.
 *
 * Invariants:
 *  - Streams live in a linked list (for iteration) and an open-addressing
 *    index (linear probing, backward-shift deletion) keyed by stream id.
 *    At most limits.max_streams are open; each is one block of limits.pool, freed right
 *    after on_stream_end. The index grows by doubling up to twice the cap.
 *  - Odd stream ids begun are remembered (in every mode: mid-stream, and
 *    after a client-direction hole they tell a new stream from a closed one) in a ring of SEEN_IDS bits
 *    (seen_top = the highest); an id found there is closed or refused and
 *    is not begun again. Ids out of the window count as never seen.
 *  - A stream remembers whether its opening (a client HEADERS as its first
 *    frame) was seen; if not, END_STREAM from the server alone ends it.
 *  - stream_done() is the only place that decides when a stream is
 *    complete, for every mode (one-sided: END_STREAM in the present
 *    direction ends it).
 */
#include "h2_int.h"

#include <stdlib.h>

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

struct h2_stream *h2_stream_lookup(const struct gw_h2_conn *c, uint32_t id)
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
    struct h2_stream **slots = gw_pool_calloc(c->lim.pool, n, sizeof *slots);
    if (!slots) return false;
    gw_pool_free(c->lim.pool, c->slots);
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

struct h2_stream *h2_stream_open(struct gw_h2_conn *c, int dir, uint32_t id)
{
    /* odd ids begun are remembered in every mode: after a client-direction
     * hole, they tell a stream opened in the hole from a closed one */
    if (id & 1) seen_mark(c, id);
    struct h2_stream *s = NULL;
    if (c->stats.open_streams < c->lim.max_streams && slots_reserve(c, c->stats.open_streams + 1))
        s = gw_pool_calloc(c->lim.pool, 1, sizeof *s);
    if (!s) {
        /* Over the cap (or out of memory): the stream's frames are ignored. */
        h2_anomaly(c, dir, GW_H2_ANOM_TOO_MANY_STREAMS, id);
        return NULL;
    }
    GW_ASSERT(c->stats.open_streams < c->lim.max_streams && !c->slots[slot_find(c, id)]);
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

void h2_stream_end(struct gw_h2_conn *c, struct h2_stream *s, int reason, gw_time_us ts)
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
    gw_pool_free(c->lim.pool, s);
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
void h2_streams_sweep(struct gw_h2_conn *c)
{
    struct h2_stream *next;
    for (struct h2_stream *s = c->live; s; s = next) {
        next = s->next;
        if (stream_done(c, s)) h2_stream_end(c, s, GW_END_STREAM, c->now);
    }
}

/* What the consumer is told of how the stream was seen. */
void h2_stream_update_midstream(const struct gw_h2_conn *c, struct h2_stream *s)
{
    s->pub.midstream = (c->midstream && !s->start_seen) || s->unknown_seen;
}

void h2_stream_mark_end(struct gw_h2_conn *c, struct h2_stream *s, int dir)
{
    s->pub.end_stream[dir] = 1;
    if (dir == GW_DIR_TO_CLIENT && s->client_lost) {
        s->server_end_feed = c->client_feeds;
        c->lost_waiting = true;
    }
    if (stream_done(c, s)) h2_stream_end(c, s, GW_END_STREAM, c->now);
}

/* ---- mid-stream: odd ids already begun ------------------------------------ */

static uint32_t seen_bit(uint32_t id) { return (id >> 1) & (SEEN_IDS - 1); }

bool h2_seen_test(const struct gw_h2_conn *c, uint32_t id)
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
struct h2_stream *h2_midstream_stream(struct gw_h2_conn *c, int dir, uint32_t sid, bool headers)
{
    struct h2_stream *s = h2_stream_lookup(c, sid);
    if (!s) {
        if (sid == 0 || (sid & 1) == 0 || h2_seen_test(c, sid)) return NULL;
        seen_mark(c, sid); /* also when refused: it is not retried */
        s = h2_stream_open(c, dir, sid);
        if (!s) return NULL;
    }
    if (dir == GW_DIR_TO_SERVER && !s->client_seen) {
        s->client_seen = true;
        s->start_seen = headers;
    }
    h2_stream_update_midstream(c, s);
    return s;
}
