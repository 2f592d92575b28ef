/*
 * flow.c - the bidirectional flow table.
 *
 * Invariants:
 *  - All max_flows gw_flow structs are allocated once, at create time. A flow
 *    is either live (in exactly one hash chain and exactly one LRU list), on
 *    the free list (chained through hnext), or never used yet (index >=
 *    t->fresh). Nothing is allocated later; never-used structs are taken in
 *    order and only when the free list is empty, so the zeroed pages of a
 *    large table become resident only as the traffic needs them.
 *  - The key is the 5-tuple in canonical order (lower (addr, port) endpoint
 *    first); f->hash is SipHash-2-4 of it under a key drawn at create time, so
 *    a sender can not choose addresses that all land in one chain.
 *  - Live flows sit in one of RANK_COUNT x CLASS_COUNT LRU lists, by
 *    eviction rank (the flow's value; LOW once closed) and timeout class:
 *    NEW (no payload either way), ESTABLISHED, CLOSED. Each list is ordered
 *    by last activity (head = most recent) and all its flows share one
 *    timeout, so expiry is exact and stops at the first flow of each list
 *    that is still young. f->lru names the list; LRU_NONE while the flow
 *    ends or is free.
 *  - A full table evicts the oldest of the three class tails of the lowest
 *    rank that has a flow: a flood of LOW flows only ever evicts LOW flows
 *    while one is left, and a live gRPC flow goes only when every flow is
 *    worth as much. The globally least recently used flow (for destroy) is
 *    the oldest of all tails.
 *  - on_end is called exactly once per live flow, after it left the hash and
 *    its list and before its memory goes back to the free list; on_end must
 *    not call back into the table, except gw_flow_set_value() (it then only
 *    records the value).
 *  - Flow ids are a bijective 51-bit mix of a running counter and a random
 *    seed: unique within a run, < 2^53 (exact in a JSON double), and not
 *    a count of flows another run would reproduce.
 */
#include "grpcwatch/flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Cap on max_flows: ~300 bytes a flow with its bucket, so the table tops
 * out near 5 GiB. */
#define GW_FLOW_MAX_FLOWS (1u << 24)
#define GW_FLOW_ID_BITS 51
#define GW_FLOW_ID_MASK ((UINT64_C(1) << GW_FLOW_ID_BITS) - 1)
#define GW_US_PER_S INT64_C(1000000)

enum flow_class { CLASS_NEW = 0, CLASS_ESTABLISHED, CLASS_CLOSED, CLASS_COUNT };
#define RANK_COUNT GW_FLOW_VALUE_COUNT
#define LIST_COUNT (RANK_COUNT * CLASS_COUNT)
#define LRU_NONE 0xff

struct lru {
    struct gw_flow *head, *tail;
};

struct gw_flow_table {
    struct gw_flow_config cfg;
    gw_flow_end_fn on_end;
    void *user;
    struct gw_flow *flows;    /* cfg.max_flows structs */
    struct gw_flow **buckets; /* mask + 1 chains */
    uint32_t mask;
    struct gw_flow *free_list;
    uint32_t fresh;           /* flows[fresh..max_flows) never used */
    struct lru lists[LIST_COUNT]; /* by list_index(rank, class) */
    uint64_t sip_k0, sip_k1;
    uint64_t id_seed, id_counter;
    struct gw_flow_stats stats;
};

/* ---- seeding and hashing ---- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static bool read_urandom(void *buf, size_t n)
{
    FILE *fp = fopen("/dev/urandom", "rb");
    if (!fp) return false;
    bool ok = fread(buf, 1, n, fp) == n;
    fclose(fp);
    return ok;
}

/* Fills seed[] with unpredictable bits; time ^ pid only if the kernel gives
 * none (better a weak seed than no table). */
static void random_seed(uint64_t seed[3])
{
    if (getrandom(seed, 3 * sizeof seed[0], GRND_NONBLOCK) == (ssize_t)(3 * sizeof seed[0])) return;
    if (read_urandom(seed, 3 * sizeof seed[0])) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t state = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
                     ((uint64_t)getpid() << 32);
    for (int i = 0; i < 3; i++) seed[i] = splitmix64(&state);
}

static uint64_t rotl64(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

/* One SipRound over the state v[0..3]; a function, not a macro, so the
 * compiler checks it and it reads like the paper. */
static inline void sip_round(uint64_t v[4])
{
    v[0] += v[1]; v[1] = rotl64(v[1], 13); v[1] ^= v[0]; v[0] = rotl64(v[0], 32);
    v[2] += v[3]; v[3] = rotl64(v[3], 16); v[3] ^= v[2];
    v[0] += v[3]; v[3] = rotl64(v[3], 21); v[3] ^= v[0];
    v[2] += v[1]; v[1] = rotl64(v[1], 17); v[1] ^= v[2]; v[2] = rotl64(v[2], 32);
}

static uint64_t load_le64(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* SipHash-2-4 (Aumasson, Bernstein 2012). */
static uint64_t siphash24(uint64_t k0, uint64_t k1, const uint8_t *in, size_t n)
{
    uint64_t v[4] = {
        k0 ^ UINT64_C(0x736f6d6570736575), k1 ^ UINT64_C(0x646f72616e646f6d),
        k0 ^ UINT64_C(0x6c7967656e657261), k1 ^ UINT64_C(0x7465646279746573),
    };
    size_t full = n & ~(size_t)7;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t m = load_le64(in + i, 8);
        v[3] ^= m;
        sip_round(v);
        sip_round(v);
        v[0] ^= m;
    }
    uint64_t b = ((uint64_t)n << 56) | load_le64(in + full, n - full);
    v[3] ^= b;
    sip_round(v);
    sip_round(v);
    v[0] ^= b;
    v[2] ^= 0xff;
    for (int i = 0; i < 4; i++) sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* ---- keys ---- */

static size_t addr_len(const struct gw_addr *a) { return a->family == 4 ? 4 : 16; }

/* A copy with the bytes an address does not use zeroed, so equal addresses
 * compare and hash equal whatever the decoder left there. */
static struct gw_addr addr_norm(const struct gw_addr *a)
{
    struct gw_addr n;
    memset(&n, 0, sizeof n);
    n.family = a->family;
    memcpy(n.bytes, a->bytes, addr_len(a));
    return n;
}

static bool endpoint_eq(const struct gw_addr *a, uint16_t ap, const struct gw_addr *b, uint16_t bp)
{
    return ap == bp && a->family == b->family && memcmp(a->bytes, b->bytes, addr_len(a)) == 0;
}

#define KEY_LEN (2 * (1 + 16 + 2))

static void put_endpoint(uint8_t *k, const struct gw_addr *a, uint16_t port)
{
    k[0] = a->family;
    memcpy(k + 1, a->bytes, 16);
    k[17] = (uint8_t)(port >> 8);
    k[18] = (uint8_t)port;
}

static uint32_t key_hash(const struct gw_flow_table *t, const struct gw_addr *src, uint16_t sport,
                         const struct gw_addr *dst, uint16_t dport)
{
    uint8_t k[KEY_LEN];
    int c = gw_addr_cmp(src, dst);
    bool src_first = c < 0 || (c == 0 && sport <= dport);
    put_endpoint(k, src_first ? src : dst, src_first ? sport : dport);
    put_endpoint(k + KEY_LEN / 2, src_first ? dst : src, src_first ? dport : sport);
    return (uint32_t)siphash24(t->sip_k0, t->sip_k1, k, sizeof k);
}

/* ---- ids ---- */

/* Bijective on 51 bits: add, odd multiply and xor-shift each are. */
static uint64_t mix51(uint64_t x)
{
    x &= GW_FLOW_ID_MASK;
    x = (x * UINT64_C(0x9e3779b97f4a7c15)) & GW_FLOW_ID_MASK;
    x ^= x >> 23;
    x = (x * UINT64_C(0xbf58476d1ce4e5b9)) & GW_FLOW_ID_MASK;
    x ^= x >> 29;
    return x;
}

static uint64_t next_id(struct gw_flow_table *t)
{
    uint64_t id;
    do id = mix51(t->id_counter++ + t->id_seed); while (id == 0); /* 0 reads as "no flow" */
    return id;
}

/* ---- LRU lists ---- */

static int flow_class(const struct gw_flow *f)
{
    if (f->closed) return CLASS_CLOSED;
    return (f->bytes[0] | f->bytes[1]) ? CLASS_ESTABLISHED : CLASS_NEW;
}

/* A closed flow has nothing left to lose: its calls ended when it closed. */
static int flow_rank(const struct gw_flow *f)
{
    if (f->closed) return GW_FLOW_VALUE_LOW;
    return f->value < RANK_COUNT ? f->value : RANK_COUNT - 1;
}

static int list_index(int rank, int cls) { return rank * CLASS_COUNT + cls; }

static void lru_push_head(struct gw_flow_table *t, struct gw_flow *f)
{
    int i = list_index(flow_rank(f), flow_class(f));
    struct lru *l = &t->lists[i];
    f->lru = (uint8_t)i;
    f->lprev = NULL;
    f->lnext = l->head;
    if (l->head) l->head->lprev = f; else l->tail = f;
    l->head = f;
}

/* Unlinks f from the list f->lru names (a no-op for an unlinked flow). */
static void lru_unlink(struct gw_flow_table *t, struct gw_flow *f)
{
    if (f->lru >= LIST_COUNT) return;
    struct lru *l = &t->lists[f->lru];
    if (f->lprev) f->lprev->lnext = f->lnext; else l->head = f->lnext;
    if (f->lnext) f->lnext->lprev = f->lprev; else l->tail = f->lprev;
    f->lprev = f->lnext = NULL;
    f->lru = LRU_NONE;
}

/* The least recently used flow of one rank. On equal times closed flows go
 * first, then new ones: they are the cheapest to lose. */
static struct gw_flow *oldest_of_rank(const struct gw_flow_table *t, int rank)
{
    static const int order[CLASS_COUNT] = { CLASS_CLOSED, CLASS_NEW, CLASS_ESTABLISHED };
    struct gw_flow *best = NULL;
    for (int i = 0; i < CLASS_COUNT; i++) {
        struct gw_flow *f = t->lists[list_index(rank, order[i])].tail;
        if (f && (!best || f->last_ts < best->last_ts)) best = f;
    }
    return best;
}

/* What a full table gives up: the oldest flow of the lowest rank present. */
static struct gw_flow *eviction_victim(const struct gw_flow_table *t)
{
    for (int rank = 0; rank < RANK_COUNT; rank++) {
        struct gw_flow *f = oldest_of_rank(t, rank);
        if (f) return f;
    }
    return NULL;
}

/* The least recently used live flow of any rank; lower ranks on ties. */
static struct gw_flow *oldest_flow(const struct gw_flow_table *t)
{
    struct gw_flow *best = NULL;
    for (int rank = 0; rank < RANK_COUNT; rank++) {
        struct gw_flow *f = oldest_of_rank(t, rank);
        if (f && (!best || f->last_ts < best->last_ts)) best = f;
    }
    return best;
}

/* ---- lifecycle ---- */

static void hash_unlink(struct gw_flow_table *t, struct gw_flow *f)
{
    struct gw_flow **link = &t->buckets[f->hash & t->mask];
    while (*link && *link != f) link = &(*link)->hnext;
    if (*link) *link = f->hnext;
    f->hnext = NULL;
}

static void end_flow(struct gw_flow_table *t, struct gw_flow *f, int reason)
{
    int rank = f->lru < LIST_COUNT ? f->lru / CLASS_COUNT : flow_rank(f);
    lru_unlink(t, f);
    hash_unlink(t, f);
    if (t->on_end) t->on_end(t->user, f, reason);
    gw_reasm_release(&f->reasm[0], &t->cfg.reasm);
    gw_reasm_release(&f->reasm[1], &t->cfg.reasm);
    f->app = NULL;
    f->hnext = t->free_list;
    t->free_list = f;
    t->stats.active--;
    if (reason == GW_FLOW_END_EVICTED) {
        t->stats.evicted++;
        t->stats.evicted_by_value[rank]++;
    } else if (reason == GW_FLOW_END_TIMEOUT) t->stats.timed_out++;
    else if (reason == GW_FLOW_END_CLOSED) t->stats.closed++;
}

static bool is_pure_syn(uint8_t flags)
{
    return (flags & (GW_TCP_SYN | GW_TCP_ACK | GW_TCP_RST)) == GW_TCP_SYN;
}

/* Who initiated: a SYN's sender, a SYN+ACK's receiver, else the higher port
 * (an ephemeral port talking to a service), ties to the sender. */
static bool sender_is_client(const struct gw_segment *s, uint8_t *saw_syn)
{
    uint8_t syn_ack = s->flags & (GW_TCP_SYN | GW_TCP_ACK);
    *saw_syn = 0;
    if (!(s->flags & GW_TCP_RST) && (s->flags & GW_TCP_SYN)) {
        *saw_syn = 1;
        return syn_ack == GW_TCP_SYN;
    }
    return s->sport >= s->dport;
}

static void set_endpoints(struct gw_flow *f, const struct gw_segment *s, bool src_is_client)
{
    f->client = addr_norm(src_is_client ? &s->src : &s->dst);
    f->server = addr_norm(src_is_client ? &s->dst : &s->src);
    f->client_port = src_is_client ? s->sport : s->dport;
    f->server_port = src_is_client ? s->dport : s->sport;
}

/* A struct for a new flow: a recycled one, else one never used, else the
 * one given up by eviction. NULL only for a zero-capacity table. */
static struct gw_flow *take_flow(struct gw_flow_table *t)
{
    if (!t->free_list && t->fresh < t->cfg.max_flows) return &t->flows[t->fresh++];
    if (!t->free_list) {
        struct gw_flow *victim = eviction_victim(t);
        if (victim) end_flow(t, victim, GW_FLOW_END_EVICTED);
    }
    struct gw_flow *f = t->free_list;
    if (f) t->free_list = f->hnext;
    return f;
}

static struct gw_flow *create_flow(struct gw_flow_table *t, const struct gw_segment *s,
                                   uint32_t hash, int *dir)
{
    struct gw_flow *f = take_flow(t);
    if (!f) return NULL;
    memset(f, 0, sizeof *f);
    f->lru = LRU_NONE;
    gw_reasm_init(&f->reasm[0]);
    gw_reasm_init(&f->reasm[1]);
    f->id = next_id(t);
    f->tunnel = s->tunnel;
    f->first_ts = f->last_ts = s->ts;
    bool src_is_client = sender_is_client(s, &f->saw_syn);
    set_endpoints(f, s, src_is_client);
    *dir = src_is_client ? GW_DIR_TO_SERVER : GW_DIR_TO_CLIENT;
    f->hash = hash;
    f->hnext = t->buckets[hash & t->mask];
    t->buckets[hash & t->mask] = f;
    lru_push_head(t, f);
    t->stats.created++;
    t->stats.active++;
    if (t->stats.active > t->stats.max_active) t->stats.max_active = t->stats.active;
    return f;
}

static struct gw_flow *find_flow(const struct gw_flow_table *t, const struct gw_segment *s,
                                 uint32_t hash, int *dir)
{
    for (struct gw_flow *f = t->buckets[hash & t->mask]; f; f = f->hnext) {
        if (f->hash != hash) continue;
        if (endpoint_eq(&f->client, f->client_port, &s->src, s->sport) &&
            endpoint_eq(&f->server, f->server_port, &s->dst, s->dport)) {
            *dir = GW_DIR_TO_SERVER;
            return f;
        }
        if (endpoint_eq(&f->server, f->server_port, &s->src, s->sport) &&
            endpoint_eq(&f->client, f->client_port, &s->dst, s->dport)) {
            *dir = GW_DIR_TO_CLIENT;
            return f;
        }
    }
    return NULL;
}

/* Counts the segment and moves the flow to the head of its class list. */
static void touch(struct gw_flow_table *t, struct gw_flow *f, const struct gw_segment *s, int dir)
{
    lru_unlink(t, f);
    if (s->ts > f->last_ts) f->last_ts = s->ts;
    f->pkts[dir]++;
    f->bytes[dir] += s->payload_wire_len;
    lru_push_head(t, f);
}

/* ---- public ---- */

struct gw_flow_table *gw_flow_table_create(const struct gw_flow_config *cfg,
                                           gw_flow_end_fn on_end, void *user)
{
    if (!cfg || cfg->max_flows > GW_FLOW_MAX_FLOWS) return NULL;
    struct gw_flow_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->cfg = *cfg;
    t->on_end = on_end;
    t->user = user;
    uint32_t nbuckets = 1;
    while (nbuckets < cfg->max_flows) nbuckets <<= 1;
    t->mask = nbuckets - 1;
    t->buckets = calloc(nbuckets, sizeof *t->buckets);
    t->flows = cfg->max_flows ? calloc(cfg->max_flows, sizeof *t->flows) : NULL;
    if (!t->buckets || (cfg->max_flows && !t->flows)) {
        free(t->buckets);
        free(t->flows);
        free(t);
        return NULL;
    }
    uint64_t seed[3];
    random_seed(seed);
    t->sip_k0 = seed[0];
    t->sip_k1 = seed[1];
    t->id_seed = seed[2];
    t->stats.table_bytes = gw_flow_table_memory(t);
    return t;
}

void gw_flow_table_end_all(struct gw_flow_table *t)
{
    struct gw_flow *f;
    while (t && (f = oldest_flow(t)) != NULL) end_flow(t, f, GW_FLOW_END_SHUTDOWN);
}

void gw_flow_table_destroy(struct gw_flow_table *t)
{
    if (!t) return;
    struct gw_flow *f;
    while ((f = oldest_flow(t)) != NULL) end_flow(t, f, GW_FLOW_END_SHUTDOWN);
    free(t->buckets);
    free(t->flows);
    free(t);
}

struct gw_flow *gw_flow_lookup(struct gw_flow_table *t, const struct gw_segment *s, int *dir)
{
    if (!t || !s || !dir) return NULL;
    struct gw_addr src = addr_norm(&s->src), dst = addr_norm(&s->dst);
    uint32_t hash = key_hash(t, &src, s->sport, &dst, s->dport);
    int d = GW_DIR_TO_SERVER;
    struct gw_flow *f = find_flow(t, s, hash, &d);
    if (f && is_pure_syn(s->flags)) {
        /* the 5-tuple is reused by a new connection (a late SYN of a live
         * flow is the stream layer's: it may correct the orientation) */
        if (f->closed) {
            end_flow(t, f, GW_FLOW_END_CLOSED);
            f = NULL;
        }
    }
    if (!f) f = create_flow(t, s, hash, &d);
    if (!f) return NULL;
    touch(t, f, s, d);
    *dir = d;
    return f;
}

void gw_flow_set_client(struct gw_flow *f, int dir)
{
    if (!f || dir != GW_DIR_TO_CLIENT) return;
    struct gw_addr a = f->client;
    f->client = f->server;
    f->server = a;
    uint16_t p = f->client_port;
    f->client_port = f->server_port;
    f->server_port = p;
    struct gw_reasm_dir r = f->reasm[0];
    f->reasm[0] = f->reasm[1];
    f->reasm[1] = r;
    uint64_t n = f->pkts[0];
    f->pkts[0] = f->pkts[1];
    f->pkts[1] = n;
    n = f->bytes[0];
    f->bytes[0] = f->bytes[1];
    f->bytes[1] = n;
}

void gw_flow_mark_closed(struct gw_flow_table *t, struct gw_flow *f)
{
    if (!t || !f || f->closed) return;
    lru_unlink(t, f);
    f->closed = 1;
    lru_push_head(t, f);
}

void gw_flow_set_value(struct gw_flow_table *t, struct gw_flow *f, uint8_t value)
{
    if (!t || !f) return;
    f->value = GW_MIN(value, (uint8_t)GW_FLOW_VALUE_HIGH);
    if (f->lru >= LIST_COUNT) return; /* ending: on_end classifies while flushing */
    if (f->lru == list_index(flow_rank(f), flow_class(f))) return; /* same list, same place */
    /* to the head of its new list, like a touch: the caller is handling a
     * packet of this flow, and a sorted insert could be made to walk the list */
    lru_unlink(t, f);
    lru_push_head(t, f);
}

static gw_time_us class_timeout_us(const struct gw_flow_table *t, int cls)
{
    uint32_t s = cls == CLASS_NEW ? t->cfg.timeout_new_s
               : cls == CLASS_CLOSED ? t->cfg.timeout_closed_s
               : t->cfg.timeout_established_s;
    return (gw_time_us)s * GW_US_PER_S;
}

/* One timeout per list makes each walk exact: a list's tail is its oldest
 * flow, so the walk stops at the first flow that is still young. The work is
 * one step per ended flow plus one per list. */
void gw_flow_expire(struct gw_flow_table *t, gw_time_us now)
{
    if (!t) return;
    for (int rank = 0; rank < RANK_COUNT; rank++) {
        for (int cls = 0; cls < CLASS_COUNT; cls++) {
            gw_time_us timeout = class_timeout_us(t, cls);
            int reason = cls == CLASS_CLOSED ? GW_FLOW_END_CLOSED : GW_FLOW_END_TIMEOUT;
            const struct lru *l = &t->lists[list_index(rank, cls)];
            struct gw_flow *f;
            while ((f = l->tail) != NULL && now - f->last_ts > timeout) end_flow(t, f, reason);
        }
    }
}

const struct gw_flow_stats *gw_flow_table_stats(const struct gw_flow_table *t)
{
    return &t->stats;
}

size_t gw_flow_table_memory(const struct gw_flow_table *t)
{
    if (!t) return 0;
    return sizeof *t + ((size_t)t->mask + 1) * sizeof *t->buckets +
           (size_t)t->cfg.max_flows * sizeof *t->flows;
}

#define F(m, path) GW_STAT_FIELD(struct gw_flow_stats, m, path)
const struct gw_stat_field gw_flow_stat_fields[] = {
    F(created, "created"), F(active, "active"), GW_STAT_FIELD_MAX(struct gw_flow_stats, max_active, "max_active"),
    F(evicted, "evicted"), F(timed_out, "timed_out"), F(closed, "closed"),
};
const size_t gw_flow_stat_fields_len = GW_ARRAY_LEN(gw_flow_stat_fields);

const struct gw_stat_field gw_flow_stat_fields_tail[] = {
    F(evicted_by_value[GW_FLOW_VALUE_LOW], "evicted_by_value.low"),
    F(evicted_by_value[GW_FLOW_VALUE_MID], "evicted_by_value.mid"),
    F(evicted_by_value[GW_FLOW_VALUE_HIGH], "evicted_by_value.high"),
    F(table_bytes, "table_bytes"),
};
const size_t gw_flow_stat_fields_tail_len = GW_ARRAY_LEN(gw_flow_stat_fields_tail);
#undef F
