/*
 * flow.c - the bidirectional flow table.
 *
 * Invariants:
 *  - All max_flows gw_flow structs are allocated once, at create time, in
 *    one array; flows are named by their index in it (uint32_t, GW_FLOW_NONE
 *    for none). A flow is either live (in exactly one slot of the index and
 *    exactly one LRU list), on the free list (chained through lnext), or
 *    never used yet (index >= t->fresh). Nothing is allocated later;
 *    never-used structs are taken in order and only when the free list is
 *    empty, so the zeroed pages of a large table become resident only as
 *    the traffic needs them.
 *  - The index is open addressing with linear probing over nslots = a power
 *    of two >= 2 * max_flows (load <= 1/2), no tombstones (deletion shifts
 *    the cluster back). A slot is 4 bytes, 0 (empty) or ~(tag << 24 |
 *    index) with an 8-bit tag from the hash's top byte: a probe compares
 *    the tag before it reads a flow, so most misses cost no flow cache
 *    line; the home slot is hash32 & slot_mask (deletion finds a slot's
 *    home from its flow).
 *  - hash32 is a keyed hash of the 5-tuple with the endpoints in canonical
 *    order: NH (the UMAC/VHASH inner hash: sum of (w[2i] + k[2i]) *
 *    (w[2i+1] + k[2i+1]) over 32-bit words, 2^-32-almost-universal) under
 *    ten key words drawn at create time, then a fixed 64-bit finaliser. A
 *    sender who does not know the key can not choose tuples that share a
 *    slot (test_flow shows what choosing them does when the key is known).
 *  - Live flows sit in one of RANK_COUNT x CLASS_COUNT LRU lists, by
 *    eviction rank (the flow's value; LOW once closed) and timeout class:
 *    NEW (no payload either way), ESTABLISHED, CLOSED. Each list is ordered
 *    by the epoch (last_ts >> EPOCH_SHIFT, about 65 ms) of the flow's last
 *    activity, head = most recent. A packet moves its flow to the head only
 *    when it starts a new epoch for the flow or changes its list: a busy
 *    flow writes its neighbours' cache lines at most once an epoch, not
 *    once a packet. Within an epoch the order is the order of moves.
 *  - Expiry is exact: every flow of an epoch older than the cut's is
 *    expired; in the cut's own epoch each flow is checked; younger epochs
 *    are not looked at. The walk costs one step per ended flow, plus the
 *    flows of one epoch, plus one per list.
 *  - A full table evicts the oldest of the three class tails of the lowest
 *    rank that has a flow: a flood of LOW flows only ever evicts LOW flows
 *    while one is left, and a live gRPC flow goes only when every flow is
 *    worth as much. The globally least recently used flow (for destroy) is
 *    the oldest of all tails.
 *  - on_end is called exactly once per live flow, after it left the index
 *    and its list and before its memory goes back to the free list; on_end
 *    must not call back into the table, except gw_flow_set_value() (it then
 *    only records the value).
 *  - Tunnels live in a cold array beside the flows (flow->tunnel points at
 *    its entry or at a shared "none"): only tunnelled flows write theirs.
 *  - Flow ids are a bijective 51-bit mix of a running counter and a random
 *    seed: unique within a run, < 2^53 (exact in a JSON double), and not
 *    a count of flows another run would reproduce.
 */
#include "grpcwatch/flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Cap on max_flows (and what 24 bits of slot index hold): 224 bytes a flow
 * plus 8 of index, so the table tops out near 4 GiB. */
#define GW_FLOW_MAX_FLOWS (1u << 24)
#define GW_FLOW_ID_BITS 51
#define GW_FLOW_ID_MASK ((UINT64_C(1) << GW_FLOW_ID_BITS) - 1)
#define GW_US_PER_S INT64_C(1000000)
#define EPOCH_SHIFT 16
#define NONE GW_FLOW_NONE
#define NH_WORDS 10

enum flow_class { CLASS_NEW = 0, CLASS_ESTABLISHED, CLASS_CLOSED, CLASS_COUNT };
#define RANK_COUNT GW_FLOW_VALUE_COUNT
#define LIST_COUNT (RANK_COUNT * CLASS_COUNT)
#define LRU_NONE 0xff

struct lru {
    uint32_t head, tail;
};

/* NH's key words, and the sum of the three terms an IPv4 tuple's zero
 * address words always contribute (so a v4 hash is two products). */
struct nh_key {
    uint32_t k[NH_WORDS];
    uint64_t v4_zero_terms;
};

struct gw_flow_table {
    struct gw_flow_config cfg;
    gw_flow_end_fn on_end;
    void *user;
    struct gw_flow *flows;      /* cfg.max_flows structs */
    struct gw_tunnel *tunnels;  /* cfg.max_flows, cold */
    uint32_t *slots;            /* slot_mask + 1, mapped (big_alloc) */
    uint32_t slot_mask;
    uint32_t free_list;
    bool draining;              /* end_all: the index is cleared at once after */
    uint32_t fresh;             /* flows[fresh..max_flows) never used */
    struct lru lists[LIST_COUNT]; /* by list_index(rank, class) */
    struct nh_key key;
    uint64_t id_seed, id_counter;
    struct gw_flow_stats stats;
};

static const struct gw_tunnel no_tunnel; /* type GW_TUNNEL_NONE */

/* ---- memory ---- */

/* The index and the flow array: zeroed anonymous mappings, asked for huge
 * pages (one TLB entry per 2 MiB: a lookup into a large index misses the
 * cache, it need not miss the TLB too). Untouched pages stay non-resident
 * either way. NULL on failure. */
static void *big_alloc(size_t n)
{
    if (n == 0) return NULL;
    /* fd -1 is what MAP_ANONYMOUS asks for (cppcheck's mmap model wants an fd) */
    // cppcheck-suppress invalidFunctionArg
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    if (n >= (2u << 20)) madvise(p, n, MADV_HUGEPAGE);
    return p;
}

static void big_free(void *p, size_t n)
{
    if (p) munmap(p, n);
}

/* Zeroes a big_alloc region by handing its pages back. */
static void big_zero(void *p, size_t n)
{
    if (p && madvise(p, n, MADV_DONTNEED) != 0) memset(p, 0, n);
}

static size_t slots_bytes(const struct gw_flow_table *t)
{
    return ((size_t)t->slot_mask + 1) * sizeof *t->slots;
}

static size_t flows_bytes(const struct gw_flow_table *t)
{
    return (size_t)t->cfg.max_flows * sizeof *t->flows;
}

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
static void random_seed(uint64_t *seed, size_t n)
{
    if (getrandom(seed, n * sizeof seed[0], GRND_NONBLOCK) == (ssize_t)(n * sizeof seed[0])) return;
    if (read_urandom(seed, n * sizeof seed[0])) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t state = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
                     ((uint64_t)getpid() << 32);
    for (size_t i = 0; i < n; i++) seed[i] = splitmix64(&state);
}

static struct nh_key nh_key_make(const uint32_t k[NH_WORDS])
{
    struct nh_key key;
    memcpy(key.k, k, sizeof key.k);
    key.v4_zero_terms = 0;
    for (int i = 2; i < 8; i += 2) key.v4_zero_terms += (uint64_t)k[i] * k[i + 1];
    return key;
}

static void set_keys(struct gw_flow_table *t, const uint64_t seed[6])
{
    uint32_t k[NH_WORDS];
    for (int i = 0; i < NH_WORDS; i++) k[i] = (uint32_t)(seed[i / 2] >> (32 * (i & 1)));
    t->key = nh_key_make(k);
    t->id_seed = seed[5];
}

/* ---- keys ---- */

static size_t addr_len(const struct gw_addr *a) { return a->family == 4 ? 4 : 16; }

static uint32_t load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t nh_term(const uint32_t *k, int i, uint32_t a, uint32_t b)
{
    return (uint64_t)(uint32_t)(a + k[i]) * (uint32_t)(b + k[i + 1]);
}

static uint64_t fmix64(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    return h ^ (h >> 33);
}

/* Any fixed total order will do: it only has to put both directions' keys
 * the same way round. */
static bool endpoint_first(const struct gw_addr *a, uint16_t ap, const struct gw_addr *b,
                           uint16_t bp)
{
    if (a->family == 4) {
        uint32_t x = load32(a->bytes), y = load32(b->bytes);
        return x < y || (x == y && ap <= bp);
    }
    int c = memcmp(a->bytes, b->bytes, 16);
    return c < 0 || (c == 0 && ap <= bp);
}

/* NH over ten words: address word i of the lower endpoint times that of the
 * higher (both endpoints in every product), then the ports times the
 * family. Only the first address word of an IPv4 tuple is not zero. */
static uint32_t tuple_hash(const struct nh_key *key, const struct gw_addr *src, uint16_t sport,
                           const struct gw_addr *dst, uint16_t dport)
{
    bool src_first = endpoint_first(src, sport, dst, dport);
    const struct gw_addr *lo = src_first ? src : dst, *hi = src_first ? dst : src;
    uint32_t ports = src_first ? ((uint32_t)sport << 16 | dport) : ((uint32_t)dport << 16 | sport);
    const uint32_t *k = key->k;
    uint64_t h = nh_term(k, 0, load32(lo->bytes), load32(hi->bytes));
    if (src->family == 4) {
        h += key->v4_zero_terms;
    } else {
        for (int i = 1; i < 4; i++)
            h += nh_term(k, 2 * i, load32(lo->bytes + 4 * i), load32(hi->bytes + 4 * i));
    }
    h += nh_term(k, 8, ports, src->family);
    return (uint32_t)(fmix64(h) >> 32);
}

static uint32_t flow_hash(const struct gw_flow_table *t, const struct gw_flow *f)
{
    return tuple_hash(&t->key, &f->client, f->client_port, &f->server, f->server_port);
}

static bool endpoint_eq(const struct gw_addr *a, uint16_t ap, const struct gw_addr *b, uint16_t bp)
{
    if (ap != bp || a->family != b->family) return false;
    if (a->family == 4) return load32(a->bytes) == load32(b->bytes);
    return memcmp(a->bytes, b->bytes, 16) == 0;
}

static struct gw_addr addr_norm(const struct gw_addr *a)
{
    struct gw_addr n;
    memset(&n, 0, sizeof n);
    n.family = a->family;
    memcpy(n.bytes, a->bytes, addr_len(a));
    return n;
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

/* ---- the index ---- */

static uint32_t index_of(const struct gw_flow_table *t, const struct gw_flow *f)
{
    return (uint32_t)(f - t->flows);
}

static struct gw_flow *at(const struct gw_flow_table *t, uint32_t i)
{
    return i == NONE ? NULL : &t->flows[i];
}

/* A slot is ~(tag << 24 | flow index): zeroed memory is empty, and the tag
 * (the hash's top byte, folded to 0..254) can not make a full slot 0. */
#define SLOT_EMPTY 0u

static uint32_t slot_tag(uint32_t hash)
{
    uint32_t tag = hash >> 24;
    return tag - (tag == 255); /* 0..254 */
}
static uint32_t slot_make(uint32_t hash, uint32_t fi) { return ~(slot_tag(hash) << 24 | fi); }
static uint32_t slot_flow(uint32_t slot) { return ~slot & 0xffffff; }
static bool slot_tag_is(uint32_t slot, uint32_t hash) { return (~slot >> 24) == slot_tag(hash); }

/* A slot does not keep its hash: the home of a slot is found from its flow
 * (only deletion and the probe statistics need it). */
static uint32_t slot_home(const struct gw_flow_table *t, uint32_t slot)
{
    return flow_hash(t, &t->flows[slot_flow(slot)]) & t->slot_mask;
}

static void index_insert(struct gw_flow_table *t, uint32_t hash, uint32_t fi)
{
    uint32_t i = hash & t->slot_mask;
    while (t->slots[i] != SLOT_EMPTY) i = (i + 1) & t->slot_mask;
    t->slots[i] = slot_make(hash, fi);
}

/* Removes flow fi (hash `hash`) and shifts the rest of its cluster back so
 * no probe sequence has a hole (Knuth 6.4, algorithm R). */
static void index_remove(struct gw_flow_table *t, uint32_t hash, uint32_t fi)
{
    uint32_t want = slot_make(hash, fi);
    uint32_t i = hash & t->slot_mask;
    while (t->slots[i] != want) {
        GW_ASSERT(t->slots[i] != SLOT_EMPTY);
        if (t->slots[i] == SLOT_EMPTY) return;
        i = (i + 1) & t->slot_mask;
    }
    for (uint32_t j = i;;) {
        t->slots[i] = SLOT_EMPTY;
        for (;;) {
            j = (j + 1) & t->slot_mask;
            if (t->slots[j] == SLOT_EMPTY) return;
            uint32_t home = slot_home(t, t->slots[j]);
            /* the entry at j may move to i unless its home lies in (i, j] */
            bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays) break;
        }
        t->slots[i] = t->slots[j];
        i = j;
    }
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

static int list_of(const struct gw_flow *f) { return list_index(flow_rank(f), flow_class(f)); }

static void lru_push_head(struct gw_flow_table *t, struct gw_flow *f)
{
    int i = list_of(f);
    struct lru *l = &t->lists[i];
    uint32_t fi = index_of(t, f);
    f->lru = (uint8_t)i;
    f->lprev = NONE;
    f->lnext = l->head;
    if (l->head != NONE) t->flows[l->head].lprev = fi;
    else l->tail = fi;
    l->head = fi;
}

/* Unlinks f from the list f->lru names (a no-op for an unlinked flow). */
static void lru_unlink(struct gw_flow_table *t, struct gw_flow *f)
{
    if (f->lru >= LIST_COUNT) return;
    struct lru *l = &t->lists[f->lru];
    if (f->lprev != NONE) t->flows[f->lprev].lnext = f->lnext;
    else l->head = f->lnext;
    if (f->lnext != NONE) t->flows[f->lnext].lprev = f->lprev;
    else l->tail = f->lprev;
    f->lprev = f->lnext = NONE;
    f->lru = LRU_NONE;
}

static void lru_move(struct gw_flow_table *t, struct gw_flow *f)
{
    lru_unlink(t, f);
    lru_push_head(t, f);
}

/* The least recently used flow of one rank. On equal times closed flows go
 * first, then new ones: they are the cheapest to lose. */
static struct gw_flow *oldest_of_rank(const struct gw_flow_table *t, int rank)
{
    static const int order[CLASS_COUNT] = { CLASS_CLOSED, CLASS_NEW, CLASS_ESTABLISHED };
    struct gw_flow *best = NULL;
    for (int i = 0; i < CLASS_COUNT; i++) {
        struct gw_flow *f = at(t, t->lists[list_index(rank, order[i])].tail);
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

static void end_flow(struct gw_flow_table *t, struct gw_flow *f, int reason)
{
    int rank = f->lru < LIST_COUNT ? f->lru / CLASS_COUNT : flow_rank(f);
    uint32_t fi = index_of(t, f);
    lru_unlink(t, f);
    if (!t->draining) index_remove(t, flow_hash(t, f), fi);
    if (t->on_end) t->on_end(t->user, f, reason);
    gw_reasm_release(&f->reasm[0], &t->cfg.reasm);
    gw_reasm_release(&f->reasm[1], &t->cfg.reasm);
    f->app = NULL;
    f->lnext = t->free_list;
    t->free_list = fi;
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
    if (t->free_list == NONE && t->fresh < t->cfg.max_flows) return &t->flows[t->fresh++];
    if (t->free_list == NONE) {
        struct gw_flow *victim = eviction_victim(t);
        if (victim) end_flow(t, victim, GW_FLOW_END_EVICTED);
    }
    struct gw_flow *f = at(t, t->free_list);
    if (f) t->free_list = f->lnext;
    return f;
}

static const struct gw_tunnel *flow_tunnel(struct gw_flow_table *t, uint32_t fi,
                                           const struct gw_tunnel *seen)
{
    if (seen->type == GW_TUNNEL_NONE) return &no_tunnel;
    t->tunnels[fi] = *seen;
    return &t->tunnels[fi];
}

static struct gw_flow *create_flow(struct gw_flow_table *t, const struct gw_segment *s,
                                   uint32_t hash, int *dir)
{
    struct gw_flow *f = take_flow(t);
    if (!f) return NULL;
    uint32_t fi = index_of(t, f);
    memset(f, 0, sizeof *f);
    f->lru = LRU_NONE;
    f->lprev = f->lnext = NONE;
    f->id = next_id(t);
    f->tunnel = flow_tunnel(t, fi, &s->tunnel);
    f->last_ts = s->ts;
    bool src_is_client = sender_is_client(s, &f->saw_syn);
    set_endpoints(f, s, src_is_client);
    *dir = src_is_client ? GW_DIR_TO_SERVER : GW_DIR_TO_CLIENT;
    index_insert(t, hash, fi);
    lru_push_head(t, f);
    t->stats.created++;
    t->stats.active++;
    if (t->stats.active > t->stats.max_active) t->stats.max_active = t->stats.active;
    return f;
}

static struct gw_flow *find_flow(const struct gw_flow_table *t, const struct gw_segment *s,
                                 uint32_t hash, int *dir)
{
    for (uint32_t i = hash & t->slot_mask;; i = (i + 1) & t->slot_mask) {
        uint32_t slot = t->slots[i];
        if (slot == SLOT_EMPTY) return NULL;
        if (!slot_tag_is(slot, hash)) continue;
        struct gw_flow *f = &t->flows[slot_flow(slot)];
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
}

static int64_t epoch_of(gw_time_us ts) { return ts >> EPOCH_SHIFT; }

/* Counts the segment; the flow moves to its list's head only when the
 * segment starts a new epoch for it or changes its list (see the top): a
 * packet changes a flow's list only with its first payload byte (NEW to
 * ESTABLISHED); closing and values move flows where they are set. */
static void touch(struct gw_flow_table *t, struct gw_flow *f, const struct gw_segment *s, int dir)
{
    int64_t was = epoch_of(f->last_ts);
    bool first_bytes = s->payload_wire_len && !(f->bytes[0] | f->bytes[1]);
    if (s->ts > f->last_ts) f->last_ts = s->ts;
    if (f->pkts[dir] != UINT32_MAX) f->pkts[dir]++;
    f->bytes[dir] += s->payload_wire_len;
    if (epoch_of(f->last_ts) != was || first_bytes) lru_move(t, f);
    GW_ASSERT(f->lru == list_of(f));
}

/* ---- public ---- */

static uint32_t slot_count(uint32_t max_flows)
{
    uint32_t n = 2;
    while (n < 2 * (uint64_t)max_flows) n <<= 1;
    return n;
}

struct gw_flow_table *gw_flow_table_create(const struct gw_flow_config *cfg,
                                           gw_flow_end_fn on_end, void *user)
{
    if (!cfg || cfg->max_flows > GW_FLOW_MAX_FLOWS) return NULL;
    struct gw_flow_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->cfg = *cfg;
    t->on_end = on_end;
    t->user = user;
    t->free_list = NONE;
    for (int i = 0; i < LIST_COUNT; i++) t->lists[i].head = t->lists[i].tail = NONE;
    uint32_t nslots = slot_count(cfg->max_flows);
    t->slot_mask = nslots - 1;
    t->slots = big_alloc(slots_bytes(t));
    t->flows = big_alloc(flows_bytes(t));
    t->tunnels = cfg->max_flows ? calloc(cfg->max_flows, sizeof *t->tunnels) : NULL;
    if (!t->slots || (cfg->max_flows && (!t->flows || !t->tunnels))) {
        gw_flow_table_destroy(t);
        return NULL;
    }
    uint64_t seed[6];
    random_seed(seed, GW_ARRAY_LEN(seed));
    set_keys(t, seed);
    t->stats.table_bytes = gw_flow_table_memory(t);
    return t;
}

void gw_flow_table_set_key(struct gw_flow_table *t, const uint32_t key[GW_FLOW_KEY_WORDS])
{
    GW_ASSERT(t && t->stats.active == 0);
    t->key = nh_key_make(key);
}

uint32_t gw_flow_table_max_probe(const struct gw_flow_table *t)
{
    uint32_t worst = 0;
    for (uint32_t i = 0; i <= t->slot_mask; i++) {
        if (t->slots[i] == SLOT_EMPTY) continue;
        uint32_t d = (i - slot_home(t, t->slots[i])) & t->slot_mask;
        if (d > worst) worst = d;
    }
    return worst;
}

uint32_t gw_flow_tuple_hash(const uint32_t key[GW_FLOW_KEY_WORDS], const struct gw_addr *src,
                            uint16_t sport, const struct gw_addr *dst, uint16_t dport)
{
    struct nh_key k = nh_key_make(key);
    return tuple_hash(&k, src, sport, dst, dport);
}

/* Every flow goes, so the index is cleared in one step afterwards rather
 * than slot by slot (a cache miss each on a large table). */
void gw_flow_table_end_all(struct gw_flow_table *t)
{
    if (!t) return;
    struct gw_flow *f;
    t->draining = true;
    while ((f = oldest_flow(t)) != NULL) end_flow(t, f, GW_FLOW_END_SHUTDOWN);
    t->draining = false;
    big_zero(t->slots, slots_bytes(t));
}

void gw_flow_table_destroy(struct gw_flow_table *t)
{
    if (!t) return;
    if (t->slots && t->flows) gw_flow_table_end_all(t);
    big_free(t->slots, slots_bytes(t));
    big_free(t->flows, flows_bytes(t));
    free(t->tunnels);
    free(t);
}

struct gw_flow *gw_flow_lookup(struct gw_flow_table *t, const struct gw_segment *s, int *dir)
{
    if (!t || !s || !dir) return NULL;
    uint32_t hash = tuple_hash(&t->key, &s->src, s->sport, &s->dst, s->dport);
    int d = GW_DIR_TO_SERVER;
    struct gw_flow *f = find_flow(t, s, hash, &d);
    if (f && f->closed && is_pure_syn(s->flags)) {
        /* the 5-tuple is reused by a new connection (a late SYN of a live
         * flow is the stream layer's: it may correct the orientation) */
        end_flow(t, f, GW_FLOW_END_CLOSED);
        f = NULL;
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
    uint32_t k = f->pkts[0];
    f->pkts[0] = f->pkts[1];
    f->pkts[1] = k;
    uint64_t n = f->bytes[0];
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
    if (f->lru == list_of(f)) return; /* same list, same place */
    /* to the head of its new list, like a touch: the caller is handling a
     * packet of this flow, and a sorted insert could be made to walk the list */
    lru_move(t, f);
}

static gw_time_us class_timeout_us(const struct gw_flow_table *t, int cls)
{
    uint32_t s = cls == CLASS_NEW ? t->cfg.timeout_new_s
               : cls == CLASS_CLOSED ? t->cfg.timeout_closed_s
               : t->cfg.timeout_established_s;
    return (gw_time_us)s * GW_US_PER_S;
}

/* One list, one timeout: a flow idle past it has last_ts < cut. Epochs
 * before the cut's are all expired, the cut's own is checked flow by
 * flow, and the walk stops at the first younger epoch. */
static void expire_list(struct gw_flow_table *t, int li, gw_time_us cut, int reason)
{
    int64_t cut_epoch = epoch_of(cut);
    uint32_t i = t->lists[li].tail;
    while (i != NONE) {
        struct gw_flow *f = &t->flows[i];
        if (epoch_of(f->last_ts) > cut_epoch) break;
        i = f->lprev;
        if (f->last_ts < cut) end_flow(t, f, reason);
    }
}

void gw_flow_expire(struct gw_flow_table *t, gw_time_us now)
{
    if (!t) return;
    for (int rank = 0; rank < RANK_COUNT; rank++) {
        for (int cls = 0; cls < CLASS_COUNT; cls++) {
            int reason = cls == CLASS_CLOSED ? GW_FLOW_END_CLOSED : GW_FLOW_END_TIMEOUT;
            expire_list(t, list_index(rank, cls), now - class_timeout_us(t, cls), reason);
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
    return sizeof *t + ((size_t)t->slot_mask + 1) * sizeof *t->slots +
           (size_t)t->cfg.max_flows * (sizeof *t->flows + sizeof *t->tunnels);
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
