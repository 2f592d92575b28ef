/*
 * sensor.c - the pipeline, wired stage to stage:
 *
 *   packet -> decode -> flow -> stream -> applayer -> (h2 | tls | http1 ...)
 *          -> emit -> router -> sinks,          plus tick(now) and stats.
 *
 * The sensor owns one instance of every stage and knows nothing of any
 * protocol: the application layer's table does (applayer.c). Each arrow is
 * a function call; what comes back are explicit actions (the stream layer's
 * GW_STREAM_SWAP / BYPASS / RETRY), which the sensor applies to the stage
 * that owns the state (the flow table owns orientation).
 *
 * Invariants:
 *  - a flow's application state (flow->app, a struct gw_app) is created on
 *    its first delivered byte, never per packet, and destroyed when the
 *    connection closes (FIN both ways, RST) or in the flow table's on_end,
 *    whichever is first: whatever the stream still holds is delivered
 *    first, so the calls that were open are written (ended_by says how);
 *  - the sensor's clock only moves forward: packet time offline, wall time
 *    live (gw_sensor_tick);
 *  - every counter lives in the module that counts it and reaches the
 *    stats record through the registry (stats.c), registered once here.
 */
#include "grpcwatch/sensor.h"

#include "grpcwatch/applayer.h"
#include "grpcwatch/defrag.h"
#include "grpcwatch/emit.h"
#include "grpcwatch/flow.h"
#include "grpcwatch/stats.h"
#include "grpcwatch/stream.h"

#include <stdlib.h>
#include <string.h>

/* Freed per-flow and per-call blocks kept for the next (pool.h): a link's
 * connections and calls come and go, their memory stays. At most 32 MiB
 * are kept: 1,000 concurrent calls on each of 4 connections fit. */
#define POOL_CACHE (32u << 20)

struct gw_sensor {
    struct gw_config cfg;
    struct gw_pool *pool;               /* every stage's per-flow memory */
    struct gw_decoder *decoder;
    struct gw_flow_table *flows;
    struct gw_stream *stream;
    struct gw_applayer *app;
    struct gw_emit *emit;
    struct gw_stats *stats;
    uint64_t *snapshot;                 /* gw_stats_slots() values */
    struct gw_reasm_budget budget;
    struct gw_reasm_limits reasm_limits;
    gw_capture_counters_fn capture_counters; /* NULL: capture counters are 0 */
    void *capture_user;
    struct gw_capture_counters capture;
    gw_time_us now, last_expire, last_stats;
};

/* ---- the stream layer's consumer: the application layer ------------------- */

struct delivery {
    struct gw_sensor *s;
    struct gw_flow *f;
};

static struct gw_app *app_of(const struct delivery *d)
{
    struct gw_flow *f = d->f;
    if (f->app || f->app_done) return f->app;
    if (f->app_park) f->app = gw_app_resume(d->s->app, f, f->app_park);
    else f->app = gw_app_create(d->s->app, f);
    f->app_park = 0;
    return d->f->app;
}

static unsigned on_data(void *user, int dir, const uint8_t *p, size_t n, gw_time_us ts)
{
    struct gw_app *a = app_of(user);
    return a ? gw_app_data(a, dir, p, n, ts) : GW_STREAM_CONTINUE;
}

static unsigned on_gap(void *user, int dir, size_t len, gw_time_us ts)
{
    struct gw_app *a = app_of(user);
    return a ? gw_app_gap(a, dir, len, ts) : GW_STREAM_CONTINUE;
}

static unsigned on_fin(void *user, int dir, gw_time_us ts)
{
    const struct delivery *d = user;
    return d->f->app ? gw_app_fin(d->f->app, dir, ts) : GW_STREAM_CONTINUE;
}

static const struct gw_stream_consumer consumer = { on_data, on_gap, on_fin };

/* ---- flow end --------------------------------------------------------------- */

static int end_reason(int flow_end)
{
    switch (flow_end) {
    case GW_FLOW_END_EVICTED: return GW_END_EVICTED;
    case GW_FLOW_END_SHUTDOWN: return GW_END_EOF;
    default: return GW_END_CONN_CLOSED;
    }
}

/* The flow's parsers get what the window and reassembly still hold, holes
 * as gaps (a parked flow is resumed by them), and are destroyed: the calls
 * that were open are written, ended by `app_end`. A flow that never
 * delivered a byte has no parser to tell. */
static void end_app(struct gw_sensor *s, struct gw_flow *f, int app_end)
{
    struct delivery d = { s, f };
    if (f->app || f->app_park || f->stream.held) gw_stream_flush(s->stream, f, &consumer, &d);
    gw_stream_release(s->stream, f);
    if (f->app) gw_app_destroy(f->app, app_end, s->now);
    f->app = NULL;
    f->app_park = 0;
}

static void on_flow_end(void *user, struct gw_flow *f, int reason)
{
    end_app(user, f, end_reason(reason));
}

/* ---- the packet path ---------------------------------------------------------- */

static void segment(struct gw_sensor *s, const struct gw_segment *seg)
{
    int dir;
    struct gw_flow *f = gw_flow_lookup(s->flows, seg, &dir);
    if (!f) return;

    struct delivery d = { s, f };
    unsigned acts;
    for (int tries = 0;; tries++) {
        acts = gw_stream_segment(s->stream, f, dir, seg, &consumer, &d);
        if (acts & GW_STREAM_SWAP) {
            /* the flow table owns the orientation; the stream re-maps after */
            gw_flow_set_client(f, GW_DIR_TO_CLIENT);
            gw_stream_swapped(f);
            dir ^= 1;
        }
        if (!(acts & GW_STREAM_RETRY) || tries == 1) break;
    }

    struct gw_app *a = f->app;
    uint8_t value = GW_FLOW_VALUE_LOW;
    if (a) {
        gw_app_segment_done(a, s->now);
        value = gw_app_value(a);
        if (gw_app_finished(a)) {
            /* of no protocol here: the flow is bypassed, its state goes now
             * rather than at the flow's end (an idle flow costs the table's
             * 224 bytes and nothing more) */
            gw_app_destroy(a, GW_END_CONN_CLOSED, s->now);
            f->app = a = NULL;
            f->app_done = 1;
        } else if (gw_app_parkable(a)) {
            /* idle between messages: only the flow stays (about 250 bytes
             * a connection, not 1.7 KB); the next bytes resume it */
            f->app_park = gw_app_park(a, s->now);
            f->app = a = NULL;
        }
    }
    if (gw_stream_holding(f) && value < GW_FLOW_VALUE_MID) value = GW_FLOW_VALUE_MID;
    if (value != f->value) gw_flow_set_value(s->flows, f, value);
    if (acts & GW_STREAM_DROPPED) return;
    if ((seg->flags & GW_TCP_RST) || (f->reasm[0].ended && f->reasm[1].ended)) {
        if (!f->closed) {
            /* nothing more can come: the parsers go now, not when the
             * closed flow times out (its entry stays to absorb the last
             * ACKs and retransmissions), so their memory serves the next
             * connections */
            end_app(s, f, GW_END_CONN_CLOSED);
            f->app_done = 1;
            gw_flow_mark_closed(s->flows, f);
        }
    }
}

void gw_sensor_tick(struct gw_sensor *s, gw_time_us now)
{
    if (now > s->now) s->now = now;
    if (s->now - s->last_expire >= 1000000) {
        gw_flow_expire(s->flows, s->now);
        s->last_expire = s->now;
    }
    if (!s->cfg.stats_interval) return;
    if (s->last_stats == 0) s->last_stats = s->now;
    if (s->now - s->last_stats >= (gw_time_us)s->cfg.stats_interval * 1000000) {
        gw_sensor_write_stats(s, s->now);
        s->last_stats = s->now;
    }
}

void gw_sensor_packet(struct gw_sensor *s, const struct gw_packet *pkt)
{
    struct gw_segment seg;
    gw_sensor_tick(s, pkt->ts);
    if (gw_decoder_decode(s->decoder, pkt, &seg) != GW_DECODE_TCP) return;
    segment(s, &seg);
}

/* ---- stats ------------------------------------------------------------------ */

#define CAP(m) GW_STAT_FIELD(struct gw_capture_counters, m, #m)
static const struct gw_stat_field capture_fields[] = {
    CAP(packets), CAP(kernel_received), CAP(kernel_dropped), CAP(bad_timestamps),
};
#undef CAP

static const struct gw_stat_field reasm_fields[] = {
    GW_STAT_FIELD(struct gw_reasm_budget, cap, "memcap"),
    GW_STAT_FIELD(struct gw_reasm_budget, used, "held_bytes"),
    GW_STAT_FIELD(struct gw_reasm_budget, refused, "refused"),
};

static void refresh_capture(void *user)
{
    struct gw_sensor *s = user;
    memset(&s->capture, 0, sizeof s->capture);
    if (s->capture_counters) s->capture_counters(s->capture_user, &s->capture);
}

/* The order is the stats record's: keys are only ever added. */
static bool register_stats(struct gw_sensor *s)
{
    struct gw_stats *r = s->stats;
    const struct gw_flow_stats *fs = gw_flow_table_stats(s->flows);
    int rc = GW_OK;
    rc |= gw_stats_add(r, "capture", capture_fields, GW_ARRAY_LEN(capture_fields), &s->capture,
                       refresh_capture, s);
    rc |= gw_stats_add(r, "decoder", gw_decode_stat_fields, gw_decode_stat_fields_len,
                       gw_decoder_stats(s->decoder), NULL, NULL);
    rc |= gw_stats_add(r, "decoder.fragments", gw_defrag_stat_fields, gw_defrag_stat_fields_len,
                       gw_decoder_defrag_stats(s->decoder), NULL, NULL);
    rc |= gw_stats_add(r, "flow", gw_flow_stat_fields, gw_flow_stat_fields_len, fs, NULL, NULL);
    rc |= gw_applayer_register_flow_stats(s->app, r);
    rc |= gw_stats_add(r, "flow", gw_flow_stat_fields_tail, gw_flow_stat_fields_tail_len, fs,
                       NULL, NULL);
    rc |= gw_stats_add(r, "reassembly", reasm_fields, GW_ARRAY_LEN(reasm_fields), &s->budget,
                       NULL, NULL);
    rc |= gw_applayer_register_stats(s->app, r);
    rc |= gw_emit_register_stats(s->emit, r);
    rc |= gw_stats_add(r, "stream", gw_stream_stat_fields, gw_stream_stat_fields_len,
                       gw_stream_stats(s->stream), NULL, NULL);
    rc |= gw_stats_add(r, "pool", gw_pool_stat_fields, gw_pool_stat_fields_len,
                       gw_pool_stats(s->pool), NULL, NULL);
    if (rc != GW_OK) return false;
    /* the layout (no object reopened, no duplicate) is checked by
     * test_stats on this very registry, not per sensor */
    s->snapshot = calloc(gw_stats_slots(r), sizeof *s->snapshot);
    return s->snapshot != NULL;
}

void gw_sensor_set_capture_counters(struct gw_sensor *s, gw_capture_counters_fn fn, void *user)
{
    s->capture_counters = fn;
    s->capture_user = user;
}

void gw_sensor_write_stats(struct gw_sensor *s, gw_time_us ts)
{
    gw_stats_snapshot(s->stats, s->snapshot);
    gw_emit_stats(s->emit, ts, s->stats, s->snapshot);
}

const struct gw_stats *gw_sensor_stats(const struct gw_sensor *s)
{
    return s->stats;
}

/* ---- lifecycle ------------------------------------------------------------------ */

static struct gw_flow_table *flow_table_create(struct gw_sensor *s)
{
    struct gw_flow_config fc = {
        .max_flows = s->cfg.flow_max,
        .timeout_new_s = s->cfg.flow_timeout_new,
        .timeout_established_s = s->cfg.flow_timeout_established,
        .timeout_closed_s = s->cfg.flow_timeout_closed,
        .reasm = s->reasm_limits,
    };
    return gw_flow_table_create(&fc, on_flow_end, s);
}

struct gw_sensor *gw_sensor_create(const struct gw_config *cfg, struct gw_router *out)
{
    struct gw_sensor *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->cfg = *cfg;
    s->budget.cap = cfg->reasm_memcap;
    s->reasm_limits.ooo_max_bytes = cfg->reasm_ooo_max_bytes;
    s->reasm_limits.ooo_max_segments = cfg->reasm_ooo_max_segments;
    s->reasm_limits.budget = &s->budget;

    struct gw_decode_config dc = {
        .frag_max_datagrams = cfg->frag_max_datagrams,
        .frag_max_bytes = cfg->frag_max_bytes,
        .frag_timeout_s = cfg->frag_timeout,
    };
    s->pool = gw_pool_create(POOL_CACHE);
    s->reasm_limits.pool = s->pool;
    struct gw_stream_config sc = { .reasm = s->reasm_limits, .pool = s->pool };
    s->decoder = gw_decoder_create2(&dc);
    s->emit = gw_emit_create(cfg, out);
    s->stream = s->pool ? gw_stream_create(&sc) : NULL;
    s->app = s->emit && s->pool
                 ? gw_applayer_create(gw_app_protocols, gw_app_protocols_len, cfg, s->emit, s->pool)
                 : NULL;
    s->flows = flow_table_create(s);
    s->stats = gw_stats_create();
    if (!s->decoder || !s->emit || !s->stream || !s->app || !s->flows || !s->stats ||
        !register_stats(s)) {
        gw_sensor_destroy(s);
        return NULL;
    }
    return s;
}

void gw_sensor_finish(struct gw_sensor *s)
{
    if (s && s->flows) gw_flow_table_end_all(s->flows);
}

void gw_sensor_destroy(struct gw_sensor *s)
{
    if (!s) return;
    gw_flow_table_destroy(s->flows); /* ends every flow: records written */
    gw_applayer_destroy(s->app);
    gw_stream_destroy(s->stream);
    gw_emit_destroy(s->emit);
    gw_decoder_destroy(s->decoder);
    gw_stats_destroy(s->stats);
    gw_pool_destroy(s->pool); /* last: every block came back */
    free(s->snapshot);
    free(s);
}

gw_time_us gw_sensor_now(const struct gw_sensor *s)
{
    return s->now;
}
