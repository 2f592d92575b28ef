/*
 * app_http2.c - HTTP/2 (with or without its start) as an application-layer
 * protocol: h2 frames -> grpc calls -> emit, h2guard watching the frames.
 *
 * Per flow: one gw_h2_conn (its own frame parser, one HPACK decoder per
 * direction), the gRPC session reading its streams, the rate guard. The
 * grpc session is h2's consumer; this file only adds what needs the flow:
 * anomalies, the guard, one-sided detection, and the calls' records.
 *
 * Invariants:
 *  - every call the grpc session finishes is written once, or counted as
 *    suppressed (calls reset unanswered during a rapid-reset attack: one
 *    record per reset stream would turn the attack into a record flood);
 *  - the per-sensor totals (h2, grpc) are added when a connection ends.
 */
#include "grpcwatch/applayer.h"
#include "grpcwatch/grpc.h"
#include "grpcwatch/h2.h"
#include "grpcwatch/h2guard.h"
#include "grpcwatch/pool.h"

#include <stdlib.h>
#include <string.h>

#define ONE_SIDED_PACKETS 8

struct h2_global {
    struct gw_h2_limits h2;
    struct gw_h2guard_limits guard;
    struct gw_h2_stats h2_totals;
    struct gw_h2guard_stats guard_totals;
    struct gw_grpc_stats grpc_totals;
};

struct h2_flow {
    struct gw_app_env env;
    struct h2_global *g;
    struct gw_h2_conn *h2;
    struct gw_grpc_session *grpc;
    struct gw_h2guard guard;
    struct gw_h2_callbacks cb;  /* grpc's, with anomalies and frames seen here first */
    gw_time_us now;
    uint8_t quiet_resets;
    uint8_t one_sided;
};

/* ---- probing ----------------------------------------------------------------- */

static bool preface_prefix(const uint8_t *p, size_t n)
{
    return memcmp(p, GW_H2_PREFACE, GW_MIN(n, (size_t)GW_H2_PREFACE_LEN)) == 0;
}

static int probe(struct gw_probe *pr)
{
    size_t off;
    switch (pr->mode) {
    case GW_PROBE_OPENING:
        if (!preface_prefix(pr->p, pr->n)) return GW_PROBE_NO;
        pr->role = GW_DIR_TO_SERVER;
        return pr->n >= GW_H2_PREFACE_LEN ? GW_PROBE_YES : GW_PROBE_NEED_MORE;
    case GW_PROBE_SERVER_OPENING: {
        /* a server's bytes are frames from their first byte (SETTINGS) */
        int rc = gw_h2_sniff(pr->p, pr->n, &off);
        if (rc == GW_OK) return off == 0 ? GW_PROBE_YES : GW_PROBE_NO;
        return rc == GW_ERR_NEED_MORE ? GW_PROBE_NEED_MORE : GW_PROBE_NO;
    }
    case GW_PROBE_MIDSTREAM: {
        struct gw_h2_sniff *sn = pr->state;
        _Static_assert(sizeof *sn <= GW_APP_PROBE_STATE, "sniff state fits the probe state");
        if (sn->max_frame == 0) gw_h2_sniff_init(sn, 0);
        int rc = gw_h2_sniff_feed(sn, pr->p, pr->n, &off);
        if (rc == GW_ERR_NEED_MORE) return GW_PROBE_NEED_MORE;
        if (rc != GW_OK) return GW_PROBE_NO;
        pr->role = gw_h2_sniff_role(pr->p + off, pr->n - off);
        return GW_PROBE_YES;
    }
    default:
        return GW_PROBE_NO;
    }
}

/* ---- per sensor ---------------------------------------------------------------- */

static void *global_create(const struct gw_config *cfg, struct gw_pool *pool)
{
    struct h2_global *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->h2.pool = pool; /* connections, streams, HPACK's buffers */
    g->h2.max_streams = cfg->h2_max_streams;
    g->h2.max_header_table = cfg->h2_max_header_table;
    g->h2.max_header_list = cfg->h2_max_header_list;
    gw_h2guard_limits_default(&g->guard);
    /* a header block twice the decoded cap, still open, is a flood */
    g->guard.continuation_bytes = 2 * cfg->h2_max_header_list;
    return g;
}

static void global_destroy(void *global)
{
    free(global);
}



static int register_stats(void *global, struct gw_stats *reg)
{
    struct h2_global *g = global;
    int rc = gw_stats_add(reg, "http2", gw_h2_stat_fields, gw_h2_stat_fields_len, &g->h2_totals,
                          NULL, NULL);
    if (rc != GW_OK) return rc;
    rc = gw_stats_add(reg, "http2.guard", gw_h2guard_stat_fields, gw_h2guard_stat_fields_len,
                      &g->guard_totals, NULL, NULL);
    if (rc != GW_OK) return rc;
    return gw_stats_add(reg, "grpc", gw_grpc_stat_fields, gw_grpc_stat_fields_len, &g->grpc_totals,
                        NULL, NULL);
}



/* ---- callbacks ------------------------------------------------------------------- */

static void on_call(void *user, struct gw_grpc_call *call)
{
    struct h2_flow *h = user;
    if (h->quiet_resets && call->ended_by == GW_END_RST && call->http_status < 0) {
        gw_emit_call_suppressed(h->env.emit);
        return;
    }
    struct gw_record_loss loss;
    gw_app_loss(h->env.app, &loss);
    gw_emit_call(h->env.emit, h->env.ef, call, "grpc", &loss);
}

static void on_anomaly(void *user, int dir, int code, uint32_t stream_id)
{
    struct h2_flow *h = gw_grpc_session_user(user);
    gw_emit_anomaly(h->env.emit, h->env.ef, "http2", gw_h2_anomaly_str(code), dir, stream_id,
                    h->now);
}

static void on_guard_event(void *user, int dir, const char *event, uint32_t stream_id)
{
    struct h2_flow *h = user;
    if (strcmp(event, "rapid_reset") == 0) h->quiet_resets = 1;
    gw_emit_anomaly(h->env.emit, h->env.ef, "http2", event, dir, stream_id, h->now);
}

static void on_frame(void *user, int dir, uint8_t type, uint8_t flags, uint32_t stream_id,
                     uint32_t length, gw_time_us ts)
{
    struct h2_flow *h = gw_grpc_session_user(user);
    gw_h2guard_frame(&h->guard, dir, type, flags, stream_id, length, ts);
}

/* ---- per flow ------------------------------------------------------------------ */

static void *create(const struct gw_app_env *env)
{
    struct h2_flow *h = gw_pool_calloc(env->pool, 1, sizeof *h);
    if (!h) return NULL;
    h->env = *env;
    h->g = env->global;
    gw_h2guard_init(&h->guard, &h->g->guard, on_guard_event, h);
    h->grpc = gw_grpc_session_create(env->pool, on_call, h);
    if (!h->grpc) goto fail;
    /* grpc's callbacks, with anomalies and frame headers seen here first */
    h->cb = *gw_grpc_h2_callbacks();
    h->cb.on_anomaly = on_anomaly;
    h->cb.on_frame = on_frame;
    if (env->midstream) {
        /* every call on a connection picked up mid-stream says so, even one
         * whose headers decode fully after the HPACK table recovers */
        gw_grpc_session_set_midstream(h->grpc, true);
        h->h2 = gw_h2_conn_create_midstream(&h->g->h2, &h->cb, h->grpc);
    } else {
        h->h2 = gw_h2_conn_create(&h->g->h2, &h->cb, h->grpc);
    }
    if (!h->h2) goto fail;
    env->counters->http2++;
    if (env->midstream) env->counters->http2_midstream++;
    gw_app_raise_value(env->app, GW_FLOW_VALUE_HIGH);
    return h;
fail:
    gw_grpc_session_destroy(h->grpc);
    gw_pool_free(env->pool, h);
    return NULL;
}

static void feed(void *st, int dir, const uint8_t *p, size_t n, gw_time_us ts)
{
    struct h2_flow *h = st;
    h->now = ts;
    gw_h2_conn_feed(h->h2, dir, p, n, ts);
}

static void gap(void *st, int dir, size_t len, gw_time_us ts)
{
    struct h2_flow *h = st;
    h->now = ts;
    gw_h2_conn_gap(h->h2, dir, len, ts);
}

/* A SPAN port often carries one direction only. Packets one way and none
 * back (not even an ACK) after a handful means the other way is not
 * mirrored: calls then end on the END_STREAM of the side we see. */
static void segment_done(void *st, gw_time_us ts)
{
    struct h2_flow *h = st;
    const struct gw_flow *f = h->env.flow;
    h->now = ts;
    if (h->one_sided) return;
    for (int d = 0; d < 2; d++) {
        if (f->pkts[d] >= ONE_SIDED_PACKETS && f->pkts[d ^ 1] == 0) {
            gw_h2_conn_set_one_sided(h->h2, d);
            h->one_sided = 1;
            h->env.counters->one_sided++;
        }
    }
}

static void close_(void *st, int reason, gw_time_us ts)
{
    struct h2_flow *h = st;
    h->now = ts;
    gw_h2_conn_close(h->h2, reason, ts);
}

static void loss(const void *st, struct gw_record_loss *l)
{
    const struct h2_flow *h = st;
    for (int d = 0; d < 2; d++) {
        if (!gw_h2_conn_dir_ok(h->h2, d)) l->stopped[d] = 1;
        if (gw_h2_conn_dir_resynced(h->h2, d) > 0) l->resynced[d] = 1;
    }
}

static void destroy(void *st, int reason, gw_time_us ts)
{
    struct h2_flow *h = st;
    h->now = ts;
    gw_h2_conn_close(h->h2, reason, ts);
    gw_h2_stats_add(&h->g->h2_totals, gw_h2_conn_stats(h->h2));
    gw_h2guard_stats_add(&h->g->guard_totals, gw_h2guard_stats(&h->guard));
    gw_h2_conn_destroy(h->h2);
    gw_grpc_stats_add(&h->g->grpc_totals, gw_grpc_session_stats(h->grpc));
    gw_grpc_session_destroy(h->grpc);
    gw_pool_free(h->env.pool, h);
}

const struct gw_app_proto gw_app_http2 = {
    .name = "http2",
    .probe = probe,
    .global_create = global_create,
    .global_destroy = global_destroy,
    .register_stats = register_stats,
    .create = create,
    .feed = feed,
    .gap = gap,
    .segment_done = segment_done,
    .close = close_,
    .loss = loss,
    .destroy = destroy,
};
