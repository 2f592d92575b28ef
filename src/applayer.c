/*
 * applayer.c - the protocol table and the classifier (see applayer.h).
 *
 * Invariants:
 *  - a flow has at most two levels: lv[0], the connection's protocol, and
 *    lv[1], what a switch handed a direction to; switched[dir] says which
 *    level reads dir; a level is undecided (cls != NULL), decided (proto
 *    and st set) or dead (bytes dropped);
 *  - classification holds at most GW_APP_HOLD_MAX / GW_APP_SNIFF_HOLD_MAX
 *    bytes per direction and frees them at the decision;
 *  - directions here are the flow's logical ones; a swap decided here is
 *    applied to the holds at once and returned as GW_STREAM_SWAP, which the
 *    stream layer applies to the rest of its delivery;
 *  - acts collects the actions asked during one gw_app_data/gap/fin call
 *    and is returned (and cleared) at its end.
 */
#include "grpcwatch/applayer.h"

#include "grpcwatch/hold.h"
#include "grpcwatch/pool.h"

#include <stdlib.h>
#include <string.h>

#define ONE_SIDED_PACKETS 8

const struct gw_app_proto *const gw_app_protocols[] = {
    &gw_app_http2,
    &gw_app_tls,
    &gw_app_http1,
};
const size_t gw_app_protocols_len = GW_ARRAY_LEN(gw_app_protocols);

struct gw_applayer {
    struct gw_pool *pool;     /* the sensor's: apps, held bytes, every protocol's memory */
    const struct gw_app_proto *const *table;
    size_t n;
    void *global[GW_APP_MAX_PROTOS];
    struct gw_emit *emit;
    struct gw_app_counters counters;
};

struct classify {
    struct gw_hold hold[2];
    uint8_t dead[2];                        /* midstream probes ruled this direction out */
    uint8_t tunnel;                         /* the inside of a CONNECT: the start is seen */
    uint8_t pstate_used[GW_APP_MAX_PROTOS][2];
    /* the mid-stream probes' state, allocated at the first mid-stream probe:
     * 2 KiB a flow that most flows (seen from their start) never need */
    struct probe_states *pstate;
};

struct probe_states {
    _Alignas(8) uint8_t s[GW_APP_MAX_PROTOS][2][GW_APP_PROBE_STATE];
};

struct level {
    const struct gw_app_proto *proto;  /* decided */
    void *st;
    struct classify *cls;              /* undecided */
    uint8_t dead;
    struct gw_app_env env;
};

struct gw_app {
    struct gw_applayer *al;
    struct classify cls0;   /* level 0's classification: one allocation a flow, not two */
    struct gw_flow *flow;
    struct gw_emit_flow ef;
    struct level lv[2];
    uint8_t levels;       /* 1, or 2 after a switch */
    uint8_t switched[2];  /* which level reads dir */
    uint8_t value;
    unsigned acts;
};

/* ---- the registry --------------------------------------------------------- */

struct gw_applayer *gw_applayer_create(const struct gw_app_proto *const *table, size_t n,
                                       const struct gw_config *cfg, struct gw_emit *emit,
                                       struct gw_pool *pool)
{
    if (n > GW_APP_MAX_PROTOS) return NULL;
    struct gw_applayer *al = calloc(1, sizeof *al);
    if (!al) return NULL;
    al->pool = pool;
    al->table = table;
    al->n = n;
    al->emit = emit;
    for (size_t i = 0; i < n; i++) {
        if (!table[i]->global_create) continue;
        al->global[i] = table[i]->global_create(cfg, al->pool);
        if (!al->global[i]) {
            gw_applayer_destroy(al);
            return NULL;
        }
    }
    return al;
}

void gw_applayer_destroy(struct gw_applayer *al)
{
    if (!al) return;
    for (size_t i = 0; i < al->n; i++)
        if (al->global[i] && al->table[i]->global_destroy) al->table[i]->global_destroy(al->global[i]);
    free(al);
}

#define C(m) GW_STAT_FIELD(struct gw_app_counters, m, #m)
static const struct gw_stat_field flow_fields[] = {
    C(http2), C(tls), C(other), C(http1), C(http1_switches), C(http1_tunnels),
    C(http2_midstream), C(one_sided), C(parked), C(resumed), C(app_states),
};
#undef C

int gw_applayer_register_flow_stats(struct gw_applayer *al, struct gw_stats *reg)
{
    return gw_stats_add(reg, "flow", flow_fields, GW_ARRAY_LEN(flow_fields), &al->counters,
                        NULL, NULL);
}

int gw_applayer_register_stats(struct gw_applayer *al, struct gw_stats *reg)
{
    for (size_t i = 0; i < al->n; i++) {
        if (!al->table[i]->register_stats) continue;
        int rc = al->table[i]->register_stats(al->global[i], reg);
        if (rc != GW_OK) return rc;
    }
    return GW_OK;
}

const struct gw_app_counters *gw_applayer_counters(const struct gw_applayer *al)
{
    return &al->counters;
}

static int proto_index(const struct gw_applayer *al, const char *name)
{
    for (size_t i = 0; i < al->n; i++)
        if (strcmp(al->table[i]->name, name) == 0) return (int)i;
    return -1;
}

/* ---- holds ------------------------------------------------------------------ */

/* Frees what classification holds; the struct itself unless it is the
 * app's embedded level-0 one. */
static void classify_release(struct gw_app *a, struct classify *c)
{
    gw_hold_free(&c->hold[0], a->al->pool);
    gw_hold_free(&c->hold[1], a->al->pool);
    gw_pool_free(a->al->pool, c->pstate);
    if (c != &a->cls0) gw_pool_free(a->al->pool, c);
}

static void classify_free(struct gw_app *a, struct level *l)
{
    if (!l->cls) return;
    classify_release(a, l->cls);
    l->cls = NULL;
}

/* ---- per flow ------------------------------------------------------------- */

struct gw_app *gw_app_create(struct gw_applayer *al, struct gw_flow *f)
{
    struct gw_app *a = gw_pool_calloc(al->pool, 1, sizeof *a);
    if (!a) {
        al->counters.alloc_failures++;
        return NULL;
    }
    al->counters.app_states++;
    a->lv[0].cls = &a->cls0;
    a->al = al;
    a->flow = f;
    a->levels = 1;
    gw_emit_flow_init(&a->ef, f);
    return a;
}

uint8_t gw_app_value(const struct gw_app *a)
{
    return a->value;
}

const char *gw_app_protocol(const struct gw_app *a)
{
    if (a->lv[0].proto) return a->lv[0].proto->name;
    return a->lv[0].dead ? "none" : "undecided";
}

void gw_app_request(struct gw_app *a, unsigned action)
{
    a->acts |= action;
}

void gw_app_raise_value(struct gw_app *a, uint8_t value)
{
    if (value > a->value) a->value = value;
}

static unsigned take_acts(struct gw_app *a)
{
    unsigned acts = a->acts;
    a->acts = 0;
    a->ef.swapped = 0; /* from here the stream layer's pending swap says it */
    return acts;
}

/* ---- classification --------------------------------------------------------- */

static bool start_seen(const struct gw_app *a, const struct level *l)
{
    return l->cls->tunnel || gw_stream_start_seen(a->flow);
}

struct verdict {
    int v;        /* enum gw_probe_verdict */
    int proto;    /* table index on YES */
    int role;
};

/* The first protocol in table order that does not say NO. */
static struct verdict probe_dir(struct gw_app *a, struct level *l, int mode, int dir)
{
    struct verdict r = { GW_PROBE_NO, -1, GW_ROLE_UNKNOWN };
    struct classify *c = l->cls;
    const struct gw_hold *h = &c->hold[dir];
    if (h->len == 0) {
        r.v = GW_PROBE_NEED_MORE;
        return r;
    }
    if (mode == GW_PROBE_MIDSTREAM && !c->pstate && !(c->pstate = gw_pool_alloc(a->al->pool, sizeof *c->pstate))) {
        a->al->counters.alloc_failures++;
        return r; /* NO: the flow is given up, not mis-read */
    }
    for (size_t i = 0; i < a->al->n; i++) {
        const struct gw_app_proto *p = a->al->table[i];
        if (!p->probe) continue;
        void *state = mode == GW_PROBE_MIDSTREAM ? c->pstate->s[i][dir] : NULL;
        struct gw_probe pr = { mode, h->buf, h->len, state, GW_ROLE_UNKNOWN };
        if (mode == GW_PROBE_MIDSTREAM && !c->pstate_used[i][dir]) {
            memset(state, 0, GW_APP_PROBE_STATE);
            c->pstate_used[i][dir] = 1;
        }
        int v = p->probe(&pr);
        if (v == GW_PROBE_NO) continue;
        r.v = v;
        r.proto = (int)i;
        r.role = pr.role;
        return r;
    }
    return r;
}

static void swap_roles(struct gw_app *a, struct level *l)
{
    struct classify *c = l->cls;
    struct gw_hold h = c->hold[0];
    c->hold[0] = c->hold[1];
    c->hold[1] = h;
    uint8_t d = c->dead[0];
    c->dead[0] = c->dead[1];
    c->dead[1] = d;
    for (size_t i = 0; i < GW_APP_MAX_PROTOS; i++) {
        if (c->pstate) {
            uint8_t t[GW_APP_PROBE_STATE];
            memcpy(t, c->pstate->s[i][0], sizeof t);
            memcpy(c->pstate->s[i][0], c->pstate->s[i][1], sizeof t);
            memcpy(c->pstate->s[i][1], t, sizeof t);
        }
        uint8_t u = c->pstate_used[i][0];
        c->pstate_used[i][0] = c->pstate_used[i][1];
        c->pstate_used[i][1] = u;
    }
    a->acts ^= GW_STREAM_SWAP;
    a->ef.swapped ^= 1;
}

enum { D_WAIT = -1, D_OTHER = -2 };

struct decision {
    int proto;       /* table index, D_WAIT or D_OTHER */
    uint8_t midstream;
};

static struct decision wait_(void) { return (struct decision){ D_WAIT, 0 }; }
static struct decision other(void) { return (struct decision){ D_OTHER, 0 }; }
static struct decision take(int proto, bool midstream) { return (struct decision){ proto, midstream }; }

/* The client silent (not even a packet) while the server went on: a
 * capture of the server's side only. */
static bool client_silent(const struct gw_flow *f)
{
    return f->pkts[GW_DIR_TO_SERVER] == 0 && f->pkts[GW_DIR_TO_CLIENT] >= ONE_SIDED_PACKETS;
}

static struct decision from_verdict(struct verdict v)
{
    if (v.v == GW_PROBE_YES) return take(v.proto, false);
    return v.v == GW_PROBE_NEED_MORE ? wait_() : other();
}

/* Step 3: frames inside the connection. A role from either side orients. */
static struct decision midstream_verdict(struct gw_app *a, struct level *l)
{
    struct classify *c = l->cls;
    bool found = false, alive = false, bytes = false;
    uint32_t held = 0;
    int proto = -1;
    for (int d = 0; d < 2; d++) {
        if (c->dead[d] || c->hold[d].len == 0) continue;
        struct verdict v = probe_dir(a, l, GW_PROBE_MIDSTREAM, d);
        if (v.v == GW_PROBE_NO) c->dead[d] = 1;
        if (v.v != GW_PROBE_YES) continue;
        found = true;
        proto = v.proto;
        if (v.role >= 0) {
            if (v.role != d) swap_roles(a, l);
            return take(v.proto, true);
        }
    }
    for (int d = 0; d < 2; d++) {
        bytes |= c->hold[d].len > 0;
        alive |= c->hold[d].len > 0 && !c->dead[d];
        held += c->hold[d].len;
    }
    if (found) return held > GW_APP_ROLE_WAIT ? take(proto, true) : wait_();
    return bytes && !alive ? other() : wait_();
}

static struct decision classify(struct gw_app *a, struct level *l)
{
    struct classify *c = l->cls;
    struct verdict v0 = probe_dir(a, l, GW_PROBE_OPENING, GW_DIR_TO_SERVER);
    if (v0.v == GW_PROBE_YES) return take(v0.proto, false);
    if (start_seen(a, l)) {
        if (c->hold[0].len == 0 && c->hold[1].len && client_silent(a->flow))
            return from_verdict(probe_dir(a, l, GW_PROBE_SERVER_OPENING, GW_DIR_TO_CLIENT));
        return from_verdict(v0);
    }
    struct verdict v1 = probe_dir(a, l, GW_PROBE_OPENING, GW_DIR_TO_CLIENT);
    if (v1.v == GW_PROBE_YES) {
        swap_roles(a, l);
        return take(v1.proto, false);
    }
    if ((v0.v == GW_PROBE_NEED_MORE && c->hold[0].len) ||
        (v1.v == GW_PROBE_NEED_MORE && c->hold[1].len))
        return wait_(); /* a preface or a hello may still be arriving */
    return midstream_verdict(a, l);
}

static void feed_level(struct gw_app *a, int li, int dir, const uint8_t *p, size_t n,
                       gw_time_us ts);

static bool instantiated(const struct gw_app *a, const struct gw_app_proto *p)
{
    for (int i = 0; i < a->levels; i++)
        if (a->lv[i].proto == p) return true;
    return false;
}

static void level_dead(struct gw_app *a, struct level *l)
{
    l->dead = 1;
    classify_free(a, l);
    a->al->counters.other++;
    a->acts |= GW_STREAM_BYPASS;
}

/* Starts protocol idx on level li. False (counted) when it can't. */
static bool start_as(struct gw_app *a, int li, int idx, bool midstream, bool via_switch,
                     bool resumed)
{
    struct level *l = &a->lv[li];
    const struct gw_app_proto *p = a->al->table[idx];
    l->env = (struct gw_app_env){
        .app = a, .emit = a->al->emit, .ef = &a->ef, .flow = a->flow,
        .global = a->al->global[idx], .counters = &a->al->counters, .pool = a->al->pool,
        .midstream = midstream, .via_switch = via_switch, .resumed = resumed,
    };
    l->st = p->create(&l->env);
    if (!l->st) {
        a->al->counters.alloc_failures++;
        return false;
    }
    l->proto = p;
    return true;
}

static bool start(struct gw_app *a, int li, int idx, bool midstream, bool via_switch)
{
    return start_as(a, li, idx, midstream, via_switch, false);
}

/* NOLINTBEGIN(misc-no-recursion): decide -> feed -> a switch -> feed level 1
 * -> decide on level 1, once at most (two levels). */

/* Commits level li to a decision and replays what it held, client first. */
static void decide(struct gw_app *a, int li, struct decision d, gw_time_us ts)
{
    struct level *l = &a->lv[li];
    struct classify *c = l->cls;
    if (d.proto >= 0 && (instantiated(a, a->al->table[d.proto]) ||
                         !start(a, li, d.proto, d.midstream, false)))
        d.proto = D_OTHER;
    if (d.proto < 0) {
        level_dead(a, l);
        return;
    }
    l->cls = NULL;
    for (int dir = 0; dir < 2; dir++)
        if (c->hold[dir].len) feed_level(a, li, dir, c->hold[dir].buf, c->hold[dir].len, ts);
    classify_release(a, c);
}

static void classify_feed(struct gw_app *a, int li, int dir, const uint8_t *p, size_t n,
                          gw_time_us ts)
{
    struct level *l = &a->lv[li];
    uint32_t cap = start_seen(a, l) && a->flow->pkts[GW_DIR_TO_SERVER] ? GW_APP_HOLD_MAX
                                                                       : GW_APP_SNIFF_HOLD_MAX;
    struct gw_hold *h = &l->cls->hold[dir];
    bool borrowed = h->len == 0 && n <= cap;
    if (borrowed) {
        /* nothing held yet: the probes read the segment where it lies, and
         * it is copied only if they ask for more (most flows are decided
         * on their first bytes: no copy, no allocation) */
        gw_hold_borrow(h, a->al->pool, p, n);
    } else if (!gw_hold_append(h, a->al->pool, p, n, cap)) {
        a->al->counters.hold_overflows++;
        decide(a, li, other(), ts);
        return;
    }
    struct decision d = classify(a, l);
    if (d.proto != D_WAIT) {
        decide(a, li, d, ts);
        return;
    }
    /* waiting: what is borrowed (a swap may have moved it) is copied now */
    for (int k = 0; borrowed && k < 2; k++) {
        if (!gw_hold_own(&l->cls->hold[k], a->al->pool, cap)) {
            a->al->counters.hold_overflows++;
            decide(a, li, other(), ts);
            return;
        }
    }
}

static void feed_level(struct gw_app *a, int li, int dir, const uint8_t *p, size_t n,
                       gw_time_us ts)
{
    struct level *l = &a->lv[li];
    if (n == 0 || l->dead) return;
    if (l->cls) classify_feed(a, li, dir, p, n, ts);
    else l->proto->feed(l->st, dir, p, n, ts);
}

void gw_app_switch(struct gw_app *a, int dir, const char *proto, const uint8_t *held,
                   size_t held_len, gw_time_us ts)
{
    GW_ASSERT(dir == 0 || dir == 1);
    if (a->levels == 1) {
        struct level *l = &a->lv[1];
        memset(l, 0, sizeof *l);
        a->levels = 2;
        a->al->counters.http1_switches++;
        int idx = proto && strcmp(proto, "none") != 0 ? proto_index(a->al, proto) : -1;
        if (idx >= 0) {
            if (!start(a, 1, idx, false, true)) level_dead(a, l);
        } else if (!proto) {
            a->al->counters.http1_tunnels++;
            l->cls = gw_pool_calloc(a->al->pool, 1, sizeof *l->cls);
            if (l->cls) l->cls->tunnel = 1;
            else level_dead(a, l);
        } else {
            l->dead = 1;
            a->acts |= GW_STREAM_BYPASS;
        }
    }
    a->switched[dir] = 1;
    feed_level(a, 1, dir, held, held_len, ts);
}

void gw_app_forward(struct gw_app *a, int dir, const uint8_t *p, size_t n, gw_time_us ts)
{
    feed_level(a, a->switched[dir], dir, p, n, ts);
}

/* NOLINTEND(misc-no-recursion) */

unsigned gw_app_data(struct gw_app *a, int dir, const uint8_t *p, size_t n, gw_time_us ts)
{
    feed_level(a, a->switched[dir], dir, p, n, ts);
    return take_acts(a);
}

unsigned gw_app_gap(struct gw_app *a, int dir, size_t len, gw_time_us ts)
{
    int li = a->switched[dir];
    struct level *l = &a->lv[li];
    if (l->proto) {
        if (l->proto->gap) l->proto->gap(l->st, dir, len, ts);
    } else if (l->cls) {
        if (start_seen(a, l)) {
            decide(a, li, other(), ts); /* the connection's first bytes are lost */
        } else {
            /* a pickup point after the hole: look for frames from there */
            gw_hold_free(&l->cls->hold[dir], a->al->pool);
            for (size_t i = 0; i < GW_APP_MAX_PROTOS; i++) l->cls->pstate_used[i][dir] = 0;
        }
    }
    return take_acts(a);
}

unsigned gw_app_fin(struct gw_app *a, int dir, gw_time_us ts)
{
    struct level *l = &a->lv[a->switched[dir]];
    if (l->proto && l->proto->fin) l->proto->fin(l->st, dir, ts);
    return take_acts(a);
}

void gw_app_segment_done(struct gw_app *a, gw_time_us ts)
{
    for (int i = 0; i < a->levels; i++)
        if (a->lv[i].proto && a->lv[i].proto->segment_done)
            a->lv[i].proto->segment_done(a->lv[i].st, ts);
}

bool gw_app_parkable(const struct gw_app *a)
{
    const struct level *l = &a->lv[0];
    return a->levels == 1 && l->proto && l->proto->parkable && !a->acts && !a->ef.swapped &&
           l->proto->parkable(l->st);
}

uint8_t gw_app_park(struct gw_app *a, gw_time_us ts)
{
    GW_ASSERT(gw_app_parkable(a));
    uint8_t token = 1;
    while (a->al->table[token - 1] != a->lv[0].proto) token++;
    a->al->counters.parked++;
    gw_app_destroy(a, GW_END_CONN_CLOSED, ts);
    return token;
}

struct gw_app *gw_app_resume(struct gw_applayer *al, struct gw_flow *f, uint8_t token)
{
    GW_ASSERT(token >= 1 && token <= al->n);
    struct gw_app *a = gw_app_create(al, f);
    if (!a) return NULL;
    a->lv[0].cls = NULL; /* decided when it was parked */
    if (!start_as(a, 0, token - 1, false, false, true)) {
        a->lv[0].dead = 1;
        return a;
    }
    al->counters.resumed++;
    return a;
}

bool gw_app_finished(const struct gw_app *a)
{
    return a->levels == 1 && a->lv[0].dead && !a->lv[0].proto;
}

void gw_app_close(struct gw_app *a, int reason, gw_time_us ts)
{
    for (int i = 0; i < a->levels; i++)
        if (a->lv[i].proto) a->lv[i].proto->close(a->lv[i].st, reason, ts);
}

void gw_app_destroy(struct gw_app *a, int reason, gw_time_us ts)
{
    if (!a) return;
    /* every level ends what it has open while all are alive: a record of
     * one level reads the others' losses (gw_app_loss) */
    gw_app_close(a, reason, ts);
    for (int i = 0; i < a->levels; i++) {
        struct level *l = &a->lv[i];
        if (l->proto) l->proto->destroy(l->st, reason, ts);
        l->proto = NULL;
        classify_free(a, l);
    }
    GW_ASSERT(a->al->counters.app_states > 0);
    a->al->counters.app_states--;
    gw_pool_free(a->al->pool, a);
}

void gw_app_loss(const struct gw_app *a, struct gw_record_loss *loss)
{
    const struct gw_flow *f = a->flow;
    int swap = gw_emit_flow_swapped(&a->ef) ? 1 : 0;
    memset(loss, 0, sizeof *loss);
    for (int d = 0; d < 2; d++) {
        const struct gw_reasm_dir *r = &f->reasm[d ^ swap];
        loss->gap_bytes[d] = r->gap_bytes;
        loss->gaps[d] = r->gaps;
    }
    for (int i = 0; i < a->levels; i++)
        if (a->lv[i].proto && a->lv[i].proto->loss) a->lv[i].proto->loss(a->lv[i].st, loss);
}
