/*
 * app_http1.c - HTTP/1.x as an application-layer protocol: gRPC-Web calls
 * become records; an Upgrade: h2c answered by 101 hands both directions
 * to "http2"; a CONNECT hands them to a new classification (the tunnel's
 * inside); anything else switched (websocket, raw) is not followed.
 *
 * Invariants:
 *  - each direction is read by http1 until it switches; from then on its
 *    bytes (first those http1 held past the switch) go to the new level;
 *  - http1 lives until the flow ends: open gRPC-Web calls are written then;
 *  - a direction http1 failed on is dropped; both failed and nothing
 *    switched: the flow is bypassed.
 */
#include "grpcwatch/applayer.h"
#include "grpcwatch/grpcweb.h"
#include "grpcwatch/http1.h"

#include <stdlib.h>

/* Per sensor: the totals of connections that ended. */
struct h1_global {
    struct gw_http1_stats http1;
    struct gw_grpcweb_stats web;
};

struct h1_flow {
    struct gw_app_env env;
    struct h1_global *g;
    struct gw_http1_conn *h1;
    uint8_t dead[2];       /* http1 failed in this direction */
    uint8_t switched;      /* some direction switched */
    gw_time_us now;
};

static int probe(struct gw_probe *pr)
{
    if (pr->mode != GW_PROBE_OPENING) return GW_PROBE_NO;
    /* "<method> <target> HTTP/1.<d>" and its line end: an HTTP/1.x client */
    int rc = gw_http1_sniff_request_line(pr->p, pr->n);
    if (rc == GW_ERR_NEED_MORE) return GW_PROBE_NEED_MORE;
    if (rc != GW_OK) return GW_PROBE_NO;
    pr->role = GW_DIR_TO_SERVER;
    return GW_PROBE_YES;
}

/* HTTP/1.x flows stay low-value (most are not gRPC) until one carries a
 * gRPC-Web request. */
static void on_request(void *user, const struct gw_http1_request *req)
{
    struct h1_flow *h = user;
    if (req->grpc) gw_app_raise_value(h->env.app, GW_FLOW_VALUE_HIGH);
}

static void on_switch(void *user, int dir, int kind, const uint8_t *held, size_t held_len)
{
    struct h1_flow *h = user;
    const char *to = kind == GW_HTTP1_SWITCH_H2C ? "http2"
                     : kind == GW_HTTP1_SWITCH_CONNECT ? NULL : "none";
    h->switched = 1;
    gw_app_switch(h->env.app, dir, to, held, held_len, h->now);
}

static void on_grpc_web_call(void *user, struct gw_grpc_call *call)
{
    struct h1_flow *h = user;
    struct gw_record_loss loss;
    gw_app_loss(h->env.app, &loss);
    gw_emit_call(h->env.emit, h->env.ef, call, "grpc-web", &loss);
}

static const struct gw_http1_callbacks callbacks = {
    .on_request = on_request,
    .on_switch = on_switch,
    .on_grpc_web_call = on_grpc_web_call,
};

static void *global_create(const struct gw_config *cfg, struct gw_pool *pool)
{
    GW_UNUSED(cfg);
    GW_UNUSED(pool);
    return calloc(1, sizeof(struct h1_global));
}

static void global_destroy(void *global)
{
    free(global);
}

static int register_stats(void *global, struct gw_stats *reg)
{
    struct h1_global *g = global;
    int rc = gw_stats_add(reg, "http1", gw_http1_stat_fields, gw_http1_stat_fields_len, &g->http1,
                          NULL, NULL);
    if (rc != GW_OK) return rc;
    return gw_stats_add(reg, "http1", gw_grpcweb_stat_fields, gw_grpcweb_stat_fields_len, &g->web,
                        NULL, NULL);
}

static void *create(const struct gw_app_env *env)
{
    struct h1_flow *h = gw_pool_calloc(env->pool, 1, sizeof *h);
    if (!h) return NULL;
    h->env = *env;
    h->g = env->global;
    h->h1 = gw_http1_conn_create(env->pool, &callbacks, h);
    if (!h->h1) {
        gw_pool_free(env->pool, h);
        return NULL;
    }
    if (!env->resumed) env->counters->http1++; /* a parked connection is not a new one */
    return h;
}

/* NOLINTBEGIN(misc-no-recursion): feed -> forward -> (level 1) never back here */
static void feed(void *st, int dir, const uint8_t *p, size_t n, gw_time_us ts)
{
    struct h1_flow *h = st;
    size_t used = 0;
    h->now = ts;
    if (h->dead[dir]) return;
    int rc = gw_http1_conn_feed(h->h1, dir, p, n, ts, &used);
    if (rc == GW_OK) return;
    if (rc == GW_ERR_UNSUPPORTED) {
        /* switched: the rest of the buffer belongs to the new protocol */
        if (used < n) gw_app_forward(h->env.app, dir, p + used, n - used, ts);
        return;
    }
    h->dead[dir] = 1;
    if (rc == GW_ERR_MALFORMED) gw_emit_anomaly(h->env.emit, h->env.ef, "http1", "malformed", dir, 0, ts);
    /* neither direction readable and nothing switched: stop paying for it */
    if (!h->switched && h->dead[dir ^ 1]) gw_app_request(h->env.app, GW_STREAM_BYPASS);
}
/* NOLINTEND(misc-no-recursion) */

static void gap(void *st, int dir, size_t len, gw_time_us ts)
{
    struct h1_flow *h = st;
    h->now = ts;
    /* skipped inside a body; elsewhere the direction is lost to http1 */
    if (!h->dead[dir] && gw_http1_conn_gap(h->h1, dir, len, ts) != GW_OK) h->dead[dir] = 1;
}

static void fin(void *st, int dir, gw_time_us ts)
{
    struct h1_flow *h = st;
    h->now = ts;
    /* a response delimited by the close ends here */
    gw_http1_conn_fin(h->h1, dir, ts);
}

static void close_(void *st, int reason, gw_time_us ts)
{
    struct h1_flow *h = st;
    h->now = ts;
    gw_http1_conn_close(h->h1, reason, ts);
}

static void loss(const void *st, struct gw_record_loss *l)
{
    const struct h1_flow *h = st;
    for (int d = 0; d < 2; d++)
        if (h->dead[d]) l->stopped[d] = 1;
}

static void destroy(void *st, int reason, gw_time_us ts)
{
    struct h1_flow *h = st;
    h->now = ts;
    /* open gRPC-Web calls are written now, with the flow's end */
    gw_http1_conn_close(h->h1, reason, ts);
    gw_http1_stats_add(&h->g->http1, gw_http1_conn_stats(h->h1));
    gw_grpcweb_stats_add(&h->g->web, gw_http1_conn_web_stats(h->h1));
    gw_http1_conn_destroy(h->h1);
    gw_pool_free(h->env.pool, h);
}

static bool parkable(const void *st)
{
    const struct h1_flow *h = st;
    return !h->dead[0] && !h->dead[1] && !h->switched && gw_http1_conn_idle(h->h1);
}

const struct gw_app_proto gw_app_http1 = {
    .name = "http1",
    .probe = probe,
    .global_create = global_create,
    .global_destroy = global_destroy,
    .register_stats = register_stats,
    .create = create,
    .feed = feed,
    .gap = gap,
    .fin = fin,
    .close = close_,
    .loss = loss,
    .destroy = destroy,
    .parkable = parkable,
};
