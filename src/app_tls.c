/*
 * app_tls.c - TLS as an application-layer protocol: the ClientHello and
 * ServerHello are parsed (SNI, ALPN, versions, JA4), one tls record is
 * written per connection, and the flow stops being reassembled.
 *
 * Invariants:
 *  - hello bytes are held only while a hello is incomplete, at most
 *    TLS_HOLD_MAX per direction, freed once it is parsed or given up;
 *  - the record is written once: when both hellos are settled, or when
 *    the flow ends with a ClientHello seen.
 */
#include "grpcwatch/applayer.h"
#include "grpcwatch/tls.h"

#include "grpcwatch/hold.h"

#include <stdlib.h>
#include <string.h>

/* Hello bytes plus record headers: a hello cut into 1-byte records (an
 * evasion) costs 6 bytes a hello byte, so hold that much. */
#define TLS_HOLD_MAX (6 * (GW_TLS_MAX_HELLO + 4))

struct tls_flow {
    struct gw_app_env env;
    struct gw_tls_info info;
    struct gw_hold hold[2];
    uint8_t done[2];     /* hello parsed or given up, by direction */
    uint8_t logged;
    gw_time_us ts;       /* when the flow was found to be TLS */
    gw_time_us now;
};

static int probe(struct gw_probe *pr)
{
    if (pr->mode != GW_PROBE_OPENING || !gw_tls_looks_like_client_hello(pr->p, pr->n))
        return GW_PROBE_NO;
    pr->role = GW_DIR_TO_SERVER;
    return pr->n >= 6 ? GW_PROBE_YES : GW_PROBE_NEED_MORE;
}

static void *create(const struct gw_app_env *env)
{
    struct tls_flow *t = gw_pool_calloc(env->pool, 1, sizeof *t);
    if (!t) return NULL;
    t->env = *env;
    env->counters->tls++;
    gw_app_raise_value(env->app, GW_FLOW_VALUE_MID);
    return t;
}

static void write_once(struct tls_flow *t)
{
    if (t->logged || !t->info.have_client_hello) return;
    t->logged = 1;
    gw_emit_tls(t->env.emit, t->env.ef, &t->info, t->ts);
}

static void try_parse(struct tls_flow *t, int dir)
{
    struct gw_hold *h = &t->hold[dir];
    int rc = dir == GW_DIR_TO_SERVER ? gw_tls_parse_client_hello(h->buf, h->len, &t->info)
                                     : gw_tls_parse_server_hello(h->buf, h->len, &t->info);
    if (rc == GW_ERR_NEED_MORE) return;
    t->done[dir] = 1;
    gw_hold_free(h, t->env.pool);
    if (rc != GW_OK)
        gw_emit_anomaly(t->env.emit, t->env.ef, "tls",
                        dir == GW_DIR_TO_SERVER ? "client_hello_malformed" : "server_hello_malformed",
                        dir, 0, t->now);
}

static void feed(void *st, int dir, const uint8_t *p, size_t n, gw_time_us ts)
{
    struct tls_flow *t = st;
    t->now = ts;
    if (!t->ts) t->ts = ts;
    if (t->done[dir]) return;
    if (!gw_hold_append(&t->hold[dir], t->env.pool, p, n, TLS_HOLD_MAX)) {
        t->done[dir] = 1;
        gw_hold_free(&t->hold[dir], t->env.pool);
        return;
    }
    try_parse(t, dir);
    if (t->done[0] && t->done[1]) {
        write_once(t);
        gw_app_request(t->env.app, GW_STREAM_BYPASS);
    }
}

static void gap(void *st, int dir, size_t len, gw_time_us ts)
{
    struct tls_flow *t = st;
    GW_UNUSED(len);
    t->now = ts;
    t->done[dir] = 1;
    gw_hold_free(&t->hold[dir], t->env.pool);
}

static void close_(void *st, int reason, gw_time_us ts)
{
    GW_UNUSED(st);
    GW_UNUSED(reason);
    GW_UNUSED(ts);
}

static void destroy(void *st, int reason, gw_time_us ts)
{
    struct tls_flow *t = st;
    GW_UNUSED(reason);
    t->now = ts;
    write_once(t);
    gw_hold_free(&t->hold[0], t->env.pool);
    gw_hold_free(&t->hold[1], t->env.pool);
    gw_pool_free(t->env.pool, t);
}

const struct gw_app_proto gw_app_tls = {
    .name = "tls",
    .probe = probe,
    .create = create,
    .feed = feed,
    .gap = gap,
    .close = close_,
    .destroy = destroy,
};
