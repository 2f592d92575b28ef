/*
 * defrag.c - IPv4/IPv6 fragment reassembly (RFC 791, RFC 815, RFC 8200 4.5),
 * first copy wins, within caps of datagrams, bytes and time.
 *
 * Invariants (GW_ASSERT checks the cheap ones in the sanitizer and fuzz
 * builds):
 *  - Nothing is allocated until the first fragment: packets that are not
 *    fragments only reach gw_defrag_tick, which tests `live` and returns.
 *  - A datagram in progress is in exactly one hash chain and in the age
 *    list (oldest first, by packet time of its first fragment, which is the
 *    clock: the maximum timestamp seen, so the list stays sorted); a free
 *    slot is on the free stack only. At most max_datagrams are live.
 *  - Bytes live in 2 KiB chunks holding a bitmap of the 8-byte units
 *    received (fragment offsets are multiples of 8 and every fragment but
 *    the last a multiple of 8 long, so units are exact). Chunks are taken
 *    from a free list, allocated only while fewer than max_bytes /
 *    sizeof(chunk) exist, and go back to the free list, never to malloc,
 *    until destroy: chunks_held <= chunks_allocated <= max_chunks, and the
 *    steady state allocates nothing.
 *  - First wins: a unit already received is never overwritten; a later copy
 *    is compared and counted (overlaps, conflicts).
 *  - A datagram is complete when its last fragment set its length and every
 *    unit below that length is held; no byte past that length is ever held
 *    (max_end <= total once have_last).
 *  - One completion buffer serves every level of encapsulation: a fragment
 *    read from a completed datagram has its bytes copied into chunks before
 *    the buffer is rewritten, and nothing reads the older datagram after.
 *  - Expiry stops at the first datagram still young: O(1) when nothing
 *    expires.
 */
#include "grpcwatch/defrag.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "grpcwatch/cursor.h"

enum {
    FRAG_UNIT = GW_DEFRAG_UNIT,
    FRAG_CHUNK_SIZE = 2048,
    FRAG_UNITS_PER_CHUNK = FRAG_CHUNK_SIZE / FRAG_UNIT,
    FRAG_CHUNKS = (GW_DEFRAG_MAX_LEN + FRAG_CHUNK_SIZE - 1) / FRAG_CHUNK_SIZE,
    FRAG_BITMAP_WORDS = FRAG_UNITS_PER_CHUNK / 64,
    TCP_MIN_HDR = 20,
    TCP_DATA_OFFSET_AT = 12 /* byte of the TCP header holding the data offset */
};
#define FRAG_NONE (-1)

const struct gw_stat_field gw_defrag_stat_fields[] = {
    GW_STAT_FIELD(struct gw_defrag_stats, received, "received"),
    GW_STAT_FIELD(struct gw_defrag_stats, reassembled, "reassembled"),
    GW_STAT_FIELD(struct gw_defrag_stats, overlaps, "overlaps"),
    GW_STAT_FIELD(struct gw_defrag_stats, conflicts, "conflicts"),
    GW_STAT_FIELD(struct gw_defrag_stats, tiny, "tiny"),
    GW_STAT_FIELD(struct gw_defrag_stats, invalid, "invalid"),
    GW_STAT_FIELD(struct gw_defrag_stats, timeouts, "timeouts"),
    GW_STAT_FIELD(struct gw_defrag_stats, evicted, "evicted"),
    GW_STAT_FIELD(struct gw_defrag_stats, datagrams_held, "datagrams_held"),
    GW_STAT_FIELD(struct gw_defrag_stats, bytes_held, "bytes_held"),
};
const size_t gw_defrag_stat_fields_len = GW_ARRAY_LEN(gw_defrag_stat_fields);

struct frag_chunk {
    struct frag_chunk *next_free;
    uint64_t have[FRAG_BITMAP_WORDS]; /* units of data[] received */
    uint8_t data[FRAG_CHUNK_SIZE];
};

struct frag_dgram {
    struct gw_defrag_key key;
    gw_time_us created;         /* clock at the first fragment */
    int32_t hash_next;          /* chain in a bucket, or the free stack */
    int32_t older, newer;       /* age list */
    uint32_t total;             /* payload length, once have_last */
    uint32_t max_end;           /* furthest end of an accepted fragment */
    uint16_t units_held;
    uint8_t next;               /* IPv6: next header of the offset-0 fragment */
    bool have_last;
    struct frag_chunk *chunks[FRAG_CHUNKS];
};

struct gw_defrag {
    struct gw_defrag_stats stats;
    gw_time_us now;             /* the latest packet time seen */
    struct frag_dgram *slots;   /* max_datagrams of them, NULL until the first fragment */
    int32_t *buckets;
    uint32_t bucket_mask;
    int32_t free_slot;
    int32_t oldest, newest;
    uint32_t live;
    uint32_t max_datagrams;
    uint64_t max_chunks;        /* max_bytes / sizeof(struct frag_chunk) */
    uint64_t chunks_allocated;
    uint64_t chunks_held;
    struct frag_chunk *free_chunks;
    gw_time_us timeout_us;
    uint64_t hash_seed;
    uint8_t *completed;         /* GW_DEFRAG_MAX_LEN bytes, allocated on the first completion */
};

/* ---- hashing --------------------------------------------------------------- */

/* A keyed mix (seed drawn at create time) so a sender cannot aim every
 * datagram at one chain; chains are bounded by max_datagrams anyway. */
static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* Eight address bytes as one word for the mix; the byte order only has to
 * be the same every time. */
static uint64_t load64(const uint8_t *p)
{
    struct gw_cursor c = gw_cursor_make(p, 8);
    uint64_t hi = gw_get_be32(&c);
    return hi << 32 | gw_get_be32(&c);
}

static uint32_t frag_hash(const struct gw_defrag *f, const struct gw_defrag_key *k)
{
    uint64_t h = f->hash_seed;
    h = mix64(h ^ load64(k->src.bytes));
    h = mix64(h ^ load64(k->src.bytes + 8));
    h = mix64(h ^ load64(k->dst.bytes));
    h = mix64(h ^ load64(k->dst.bytes + 8));
    h = mix64(h ^ ((uint64_t)k->id << 32 | (uint64_t)k->proto << 24 | (uint64_t)k->tunnel_type << 16 |
                   k->src.family));
    h = mix64(h ^ k->tunnel_id);
    return (uint32_t)(h & f->bucket_mask);
}

static bool frag_key_eq(const struct gw_defrag_key *a, const struct gw_defrag_key *b)
{
    return a->id == b->id && a->proto == b->proto && a->tunnel_type == b->tunnel_type &&
           a->tunnel_id == b->tunnel_id && gw_addr_cmp(&a->src, &b->src) == 0 &&
           gw_addr_cmp(&a->dst, &b->dst) == 0;
}

static uint64_t random_seed(const void *salt)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)salt;
    return seed;
}

/* ---- table ------------------------------------------------------------------- */

static void update_gauges(struct gw_defrag *f)
{
    GW_ASSERT(f->live <= f->max_datagrams);
    GW_ASSERT(f->chunks_held <= f->chunks_allocated && f->chunks_allocated <= f->max_chunks);
    f->stats.datagrams_held = f->live;
    f->stats.bytes_held = f->chunks_held * sizeof(struct frag_chunk);
}

/* Allocates the slot table and hash on the first fragment. */
static bool table_ready(struct gw_defrag *f)
{
    if (f->slots) return true;
    uint32_t nbuckets = 1;
    while (nbuckets < f->max_datagrams * 2) nbuckets <<= 1;
    f->slots = calloc(f->max_datagrams, sizeof *f->slots);
    f->buckets = malloc(nbuckets * sizeof *f->buckets);
    if (!f->slots || !f->buckets) {
        free(f->slots);
        free(f->buckets);
        f->slots = NULL;
        f->buckets = NULL;
        return false;
    }
    f->bucket_mask = nbuckets - 1;
    for (uint32_t i = 0; i < nbuckets; i++) f->buckets[i] = FRAG_NONE;
    f->free_slot = FRAG_NONE;
    for (uint32_t i = f->max_datagrams; i-- > 0;) {
        f->slots[i].hash_next = f->free_slot;
        f->free_slot = (int32_t)i;
    }
    f->oldest = f->newest = FRAG_NONE;
    return true;
}

static void unlink_age(struct gw_defrag *f, struct frag_dgram *g)
{
    if (g->older != FRAG_NONE) f->slots[g->older].newer = g->newer;
    else f->oldest = g->newer;
    if (g->newer != FRAG_NONE) f->slots[g->newer].older = g->older;
    else f->newest = g->older;
}

static void unlink_hash(struct gw_defrag *f, int32_t i)
{
    int32_t *link = &f->buckets[frag_hash(f, &f->slots[i].key)];
    while (*link != i) {
        GW_ASSERT(*link != FRAG_NONE); /* a live datagram is in its chain */
        link = &f->slots[*link].hash_next;
    }
    *link = f->slots[i].hash_next;
}

/* Forgets datagram i: its chunks go back to the free list, its slot to the
 * free stack. */
static void release(struct gw_defrag *f, int32_t i)
{
    GW_ASSERT(i >= 0 && (uint32_t)i < f->max_datagrams && f->live > 0);
    struct frag_dgram *g = &f->slots[i];
    for (size_t k = 0; k < FRAG_CHUNKS; k++) {
        struct frag_chunk *ch = g->chunks[k];
        if (!ch) continue;
        memset(ch->have, 0, sizeof ch->have);
        ch->next_free = f->free_chunks;
        f->free_chunks = ch;
        f->chunks_held--;
        g->chunks[k] = NULL;
    }
    unlink_hash(f, i);
    unlink_age(f, g);
    g->hash_next = f->free_slot;
    f->free_slot = i;
    f->live--;
    update_gauges(f);
}

static int32_t find(const struct gw_defrag *f, const struct gw_defrag_key *k)
{
    for (int32_t i = f->buckets[frag_hash(f, k)]; i != FRAG_NONE; i = f->slots[i].hash_next)
        if (frag_key_eq(&f->slots[i].key, k)) return i;
    return FRAG_NONE;
}

/* The datagram of key k, created (evicting the oldest when all slots are
 * taken) if new. */
static int32_t find_or_create(struct gw_defrag *f, const struct gw_defrag_key *k)
{
    int32_t i = find(f, k);
    if (i != FRAG_NONE) return i;
    if (f->free_slot == FRAG_NONE) {
        release(f, f->oldest);
        f->stats.evicted++;
    }
    i = f->free_slot;
    struct frag_dgram *g = &f->slots[i];
    f->free_slot = g->hash_next;
    memset(g, 0, sizeof *g);
    g->key = *k;
    g->created = f->now;
    uint32_t h = frag_hash(f, k);
    g->hash_next = f->buckets[h];
    f->buckets[h] = i;
    g->newer = FRAG_NONE;
    g->older = f->newest;
    if (f->newest != FRAG_NONE) f->slots[f->newest].newer = i;
    else f->oldest = i;
    f->newest = i;
    f->live++;
    update_gauges(f);
    return i;
}

/* A chunk for datagram keep: from the free list, newly allocated under the
 * cap, or freed by evicting the oldest other datagrams. NULL if none. */
static struct frag_chunk *chunk_get(struct gw_defrag *f, int32_t keep)
{
    for (;;) {
        struct frag_chunk *ch = f->free_chunks;
        if (ch) {
            f->free_chunks = ch->next_free;
        } else if (f->chunks_allocated < f->max_chunks) {
            ch = calloc(1, sizeof *ch);
            if (!ch) return NULL;
            f->chunks_allocated++;
        }
        if (ch) {
            f->chunks_held++;
            update_gauges(f);
            return ch;
        }
        int32_t victim = f->oldest != keep ? f->oldest : f->slots[keep].newer;
        if (victim == FRAG_NONE) return NULL;
        release(f, victim);
        f->stats.evicted++;
    }
}

/* ---- one fragment -------------------------------------------------------------- */

/* Checks a fragment ending at end against the datagram's known length and
 * records the length when this is the last fragment. */
static bool end_consistent(struct frag_dgram *g, bool more, size_t end)
{
    if (more) return !g->have_last || end <= g->total;
    if (g->have_last) return end == g->total;   /* a copy of the last fragment */
    if (end < g->max_end) return false;         /* bytes already held past it */
    g->have_last = true;
    g->total = (uint32_t)end;
    return true;
}

/* RFC 1858: an offset-0 TCP fragment that cannot hold the whole TCP header
 * lets a later fragment supply ports or flags a filter never saw. */
static bool is_tiny(const struct gw_defrag_frag *pc)
{
    if (pc->offset != 0 || !pc->carries_tcp) return false;
    size_t need = TCP_MIN_HDR;
    struct gw_cursor c = gw_cursor_make(pc->data, pc->cap_len);
    gw_skip(&c, TCP_DATA_OFFSET_AT);
    uint8_t data_offset = gw_get_u8(&c);
    if (!c.err) need = GW_MAX(need, (size_t)(data_offset >> 4) * 4);
    return pc->wire_len < need;
}

/* Copies the units of [offset, end) captured in the fragment that are not
 * held yet; compares those that are. Returns false if out of memory. */
static bool copy_units(struct gw_defrag *f, int32_t i, const struct gw_defrag_frag *pc, size_t end,
                       bool *overlap, bool *conflict)
{
    struct frag_dgram *g = &f->slots[i];
    struct gw_cursor src = gw_cursor_make(pc->data, GW_MIN(pc->cap_len, end - pc->offset));
    for (size_t pos = pc->offset; pos < end; pos += FRAG_UNIT) {
        size_t n = GW_MIN((size_t)FRAG_UNIT, end - pos); /* < 8 only at the datagram's end */
        const uint8_t *unit_src = gw_get_bytes(&src, n);
        if (!unit_src) break;                             /* cut by the snap length */
        size_t unit = pos / FRAG_UNIT;
        size_t k = unit / FRAG_UNITS_PER_CHUNK, bit = unit % FRAG_UNITS_PER_CHUNK;
        if (!g->chunks[k] && !(g->chunks[k] = chunk_get(f, i))) return false;
        struct frag_chunk *ch = g->chunks[k];
        uint8_t *dst = ch->data + bit * FRAG_UNIT;
        uint64_t mask = (uint64_t)1 << (bit % 64);
        if (ch->have[bit / 64] & mask) {
            *overlap = true;
            if (memcmp(dst, unit_src, n) != 0) *conflict = true;
            continue;
        }
        memcpy(dst, unit_src, n);
        ch->have[bit / 64] |= mask;
        g->units_held++;
        if (unit == 0) g->next = pc->next;
    }
    if (end > g->max_end) g->max_end = (uint32_t)end;
    GW_ASSERT(!g->have_last || g->max_end <= g->total);
    return true;
}

static bool is_complete(const struct frag_dgram *g)
{
    return g->have_last && g->units_held == (g->total + FRAG_UNIT - 1) / FRAG_UNIT;
}

/* Copies complete datagram i into the completion buffer as *out. */
static bool complete(struct gw_defrag *f, int32_t i, struct gw_defrag_datagram *out)
{
    const struct frag_dgram *g = &f->slots[i];
    if (!f->completed && !(f->completed = malloc(GW_DEFRAG_MAX_LEN))) return false;
    size_t total = g->total;
    GW_ASSERT(total <= GW_DEFRAG_MAX_LEN);
    for (size_t k = 0; k * FRAG_CHUNK_SIZE < total; k++)
        memcpy(f->completed + k * FRAG_CHUNK_SIZE, g->chunks[k]->data,
               GW_MIN((size_t)FRAG_CHUNK_SIZE, total - k * FRAG_CHUNK_SIZE));
    out->data = f->completed;
    out->len = total;
    out->next = g->next;
    return true;
}

/* Validates fragment pc and sets *end to the end of the bytes it may add.
 * Returns false if the fragment is dropped. */
static bool accepted_end(struct gw_defrag_stats *st, const struct gw_defrag_frag *pc, size_t *end)
{
    *end = pc->offset + pc->wire_len;
    if (*end > pc->limit) {                 /* would make a datagram over 65535 bytes */
        st->invalid++;
        return false;
    }
    if (!pc->more) return true;
    if (pc->wire_len % FRAG_UNIT != 0) {
        st->invalid++;
        if (!pc->trim_unaligned) return false; /* RFC 8200 4.5: discard */
        *end -= pc->wire_len % FRAG_UNIT;      /* IPv4: the next offset decides; Linux trims */
        return *end > pc->offset;
    }
    if (pc->wire_len == 0) {                /* adds nothing, would only take a slot */
        st->invalid++;
        return false;
    }
    return true;
}

/* Stores pc in datagram i and completes it when it is whole. */
static int store(struct gw_defrag *f, int32_t i, const struct gw_defrag_frag *pc, size_t end,
                 struct gw_defrag_datagram *out)
{
    struct gw_defrag_stats *st = &f->stats;
    bool overlap = false, conflict = false;
    bool stored = copy_units(f, i, pc, end, &overlap, &conflict);
    if (overlap) st->overlaps++;
    if (conflict) st->conflicts++;
    if (!stored) {
        release(f, i);
        st->evicted++;
        return GW_DEFRAG_DROPPED;
    }
    if (!is_complete(&f->slots[i])) return GW_DEFRAG_HELD;
    bool done = complete(f, i, out);
    release(f, i);
    if (!done) {
        st->evicted++;
        return GW_DEFRAG_DROPPED;
    }
    st->reassembled++;
    return GW_DEFRAG_COMPLETE;
}

/* ---- public ---------------------------------------------------------------------- */

int gw_defrag_add(struct gw_defrag *f, const struct gw_defrag_key *key,
                  const struct gw_defrag_frag *pc, struct gw_defrag_datagram *out)
{
    GW_ASSERT(pc->cap_len <= pc->wire_len && pc->offset % FRAG_UNIT == 0);
    struct gw_defrag_stats *st = &f->stats;
    st->received++;
    if (is_tiny(pc)) st->tiny++;
    size_t end;
    if (!accepted_end(st, pc, &end)) return GW_DEFRAG_DROPPED;
    if (!table_ready(f)) {
        st->evicted++;
        return GW_DEFRAG_DROPPED;
    }
    int32_t i = find_or_create(f, key);
    if (!end_consistent(&f->slots[i], pc->more, end)) {
        st->invalid++;
        return GW_DEFRAG_DROPPED;
    }
    return store(f, i, pc, end, out);
}

uint64_t gw_defrag_tick(struct gw_defrag *f, gw_time_us now)
{
    if (now > f->now) f->now = now;
    uint64_t dropped = 0;
    /* Unsigned difference: the clock never goes back, so now >= created,
     * and hostile timestamps cannot overflow a signed subtraction. */
    while (f->live > 0 &&
           (uint64_t)f->now - (uint64_t)f->slots[f->oldest].created >= (uint64_t)f->timeout_us) {
        release(f, f->oldest);
        f->stats.timeouts++;
        dropped++;
    }
    return dropped;
}

struct gw_defrag *gw_defrag_create(const struct gw_defrag_config *cfg)
{
    struct gw_defrag_config c = cfg ? *cfg : (struct gw_defrag_config){ 0 };
    if (c.max_datagrams == 0) c.max_datagrams = GW_DEFRAG_DEFAULT_DATAGRAMS;
    if (c.max_bytes == 0) c.max_bytes = GW_DEFRAG_DEFAULT_BYTES;
    if (c.timeout_s == 0) c.timeout_s = GW_DEFRAG_DEFAULT_TIMEOUT_S;
    if (c.max_datagrams > GW_DEFRAG_MAX_DATAGRAMS || c.max_bytes > GW_DEFRAG_MAX_BYTES) return NULL;

    struct gw_defrag *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->now = INT64_MIN;
    f->max_datagrams = c.max_datagrams;
    f->max_chunks = c.max_bytes / sizeof(struct frag_chunk);
    f->timeout_us = (gw_time_us)c.timeout_s * 1000000;
    f->hash_seed = random_seed(f);
    return f;
}

void gw_defrag_destroy(struct gw_defrag *f)
{
    if (!f) return;
    while (f->live > 0) release(f, f->oldest);
    while (f->free_chunks) {
        struct frag_chunk *ch = f->free_chunks;
        f->free_chunks = ch->next_free;
        free(ch);
    }
    free(f->completed);
    free(f->slots);
    free(f->buckets);
    free(f);
}

const struct gw_defrag_stats *gw_defrag_stats(const struct gw_defrag *f)
{
    return f != NULL ? &f->stats : NULL;
}

const char *gw_defrag_result_str(int result)
{
    switch (result) {
    case GW_DEFRAG_COMPLETE: return "complete";
    case GW_DEFRAG_HELD: return "held";
    case GW_DEFRAG_DROPPED: return "dropped";
    default: return "unknown";
    }
}
