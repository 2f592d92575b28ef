/*
 * emit.c - records from what the parsers found (see emit.h).
 *
 * Invariants:
 *  - two JSON buffers of GW_EMIT_RECORD_MAX (a call's grpc record and its
 *    alert, which copies the grpc record's body), reused for every record:
 *    no allocation per record; a record that does not fit is dropped whole
 *    and counted (never cut);
 *  - the text of the last few addresses is kept (keyed by the address
 *    bytes, so a role swap or a new flow can not make it stale): a flow's
 *    records format their addresses once;
 *  - every record of a flow carries the same flow_id and community_id, and
 *    src/dest name the client/server as the stream layer sees them now.
 */
#include "grpcwatch/emit.h"

#include "grpcwatch/policy.h"
#include "grpcwatch/stream.h"

#include <stdlib.h>
#include <string.h>

#define ADDR_CACHE 4 /* client and server of the last two flows */

struct addr_slot {
    struct gw_addr addr; /* family 0: empty */
    struct gw_addr_text text;
};

struct gw_emit {
    struct gw_router *router;
    struct gw_policy *policy;
    struct gw_json json, alert_json;
    struct gw_emit_counters n;
    struct addr_slot addrs[ADDR_CACHE];
    unsigned addr_next; /* the slot replaced next */
    char buf[GW_EMIT_RECORD_MAX];
    char alert_buf[GW_EMIT_RECORD_MAX];
};

struct gw_emit *gw_emit_create(const struct gw_config *cfg, struct gw_router *router)
{
    struct gw_emit *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->router = router;
    e->policy = gw_policy_create(cfg);
    if (!e->policy) {
        gw_emit_destroy(e);
        return NULL;
    }
    gw_json_init(&e->json, e->buf, sizeof e->buf);
    gw_json_init(&e->alert_json, e->alert_buf, sizeof e->alert_buf);
    return e;
}

void gw_emit_destroy(struct gw_emit *e)
{
    if (!e) return;
    gw_policy_destroy(e->policy);
    free(e);
}

void gw_emit_flow_init(struct gw_emit_flow *ef, const struct gw_flow *f)
{
    memset(ef, 0, sizeof *ef);
    ef->flow = f;
}

bool gw_emit_flow_swapped(const struct gw_emit_flow *ef)
{
    return gw_stream_roles_swapped(ef->flow) != (ef->swapped != 0);
}

/* The text of a (IPv4 or IPv6), formatted once while it stays in the
 * cache; NULL for other families (the record writes null). */
static const struct gw_addr_text *addr_text(struct gw_emit *e, const struct gw_addr *a)
{
    if (a->family != 4 && a->family != 6) return NULL;
    for (size_t i = 0; i < ADDR_CACHE; i++) {
        struct addr_slot *s = &e->addrs[i];
        if (s->addr.family == a->family && memcmp(s->addr.bytes, a->bytes, sizeof a->bytes) == 0)
            return &s->text;
    }
    struct addr_slot *s = &e->addrs[e->addr_next++ % ADDR_CACHE];
    s->addr = *a;
    s->text.len = (uint8_t)gw_addr_fmt(a, s->text.s);
    return &s->text;
}

static void head(struct gw_emit *e, struct gw_emit_flow *ef, struct gw_record_head *h,
                 gw_time_us ts, const char *event_type, const char *app_proto)
{
    const struct gw_flow *f = ef->flow;
    bool swap = gw_emit_flow_swapped(ef);
    const struct gw_addr *client = swap ? &f->server : &f->client;
    const struct gw_addr *server = swap ? &f->client : &f->server;
    uint16_t cport = swap ? f->server_port : f->client_port;
    uint16_t sport = swap ? f->client_port : f->server_port;
    if (!ef->community_id[0]) {
        gw_community_id(0, client, cport, server, sport, 6, ef->community_id,
                        sizeof ef->community_id);
    }
    *h = (struct gw_record_head){
        .ts = ts,
        .event_type = event_type,
        .flow_id = f->id,
        .community_id = ef->community_id,
        .src = client,
        .dst = server,
        .src_text = addr_text(e, client),
        .dst_text = addr_text(e, server),
        .sport = cport,
        .dport = sport,
        .app_proto = app_proto,
        .tunnel = f->tunnel,
    };
}

static struct gw_json *begin(struct gw_emit *e, const struct gw_record_head *h)
{
    gw_json_reset(&e->json);
    gw_record_begin(&e->json, h);
    return &e->json;
}

/* Ends the record in j and routes it; false if it did not fit. */
static bool finish_in(struct gw_emit *e, struct gw_json *j, const char *event_type)
{
    gw_json_object_end(j);
    if (!gw_json_finish(j)) {
        e->n.oversize++;
        return false;
    }
    gw_router_write(e->router, j->buf, j->len, event_type);
    return true;
}

static bool finish(struct gw_emit *e, const char *event_type)
{
    return finish_in(e, &e->json, event_type);
}

/* Where a grpc record's parts lie in e->buf, for its alert to copy. */
struct call_spans {
    size_t fields, body, end; /* head fields, "grpc"+"loss", end of both */
    bool copyable;            /* the record did not overflow */
};

static void grpc_record(struct gw_emit *e, const struct gw_record_head *h,
                        const struct gw_grpc_call *call, const struct gw_record_loss *loss,
                        struct call_spans *sp)
{
    struct gw_json *j = &e->json;
    gw_json_reset(j);
    gw_record_begin_event(j, h->ts, h->event_type);
    sp->fields = j->len;
    gw_record_head_fields(j, h);
    sp->body = j->len;
    gw_record_grpc_object(j, call);
    gw_record_loss_object(j, loss);
    sp->end = j->len;
    sp->copyable = !j->overflow;
    if (finish(e, "grpc")) e->n.grpc++;
}

/* The alert has the grpc record's head fields and "grpc" and "loss"
 * members: copied from it (still in e->buf), not formatted again. */
static void alert_record(struct gw_emit *e, const struct gw_record_head *h,
                         const struct gw_alert *alert, const struct gw_grpc_call *call,
                         const struct gw_record_loss *loss, const struct call_spans *sp)
{
    struct gw_json *a = &e->alert_json;
    gw_json_reset(a);
    gw_record_begin_event(a, h->ts, h->event_type);
    if (sp->copyable) gw_json_members(a, e->buf + sp->fields, sp->body - sp->fields);
    else gw_record_head_fields(a, h);
    gw_record_alert_object(a, alert);
    if (sp->copyable) {
        gw_json_members(a, e->buf + sp->body, sp->end - sp->body);
    } else {
        gw_record_grpc_object(a, call);
        gw_record_loss_object(a, loss);
    }
    if (finish_in(e, a, "alert")) e->n.alert++;
}

void gw_emit_call(struct gw_emit *e, struct gw_emit_flow *ef, struct gw_grpc_call *call,
                  const char *app_proto, const struct gw_record_loss *loss)
{
    static const struct gw_record_loss none;
    struct gw_alert alert;
    struct gw_record_head h;
    struct call_spans spans;
    if (!loss) loss = &none;
    bool alerts = gw_policy_evaluate(e->policy, call, &alert);

    head(e, ef, &h, call->start_ts, "grpc", app_proto);
    grpc_record(e, &h, call, loss, &spans);
    if (!alerts) return;
    h.event_type = "alert";
    alert_record(e, &h, &alert, call, loss, &spans);
}

void gw_emit_call_suppressed(struct gw_emit *e)
{
    e->n.calls_suppressed++;
}

void gw_emit_tls(struct gw_emit *e, struct gw_emit_flow *ef, const struct gw_tls_info *t,
                 gw_time_us ts)
{
    struct gw_record_head h;
    head(e, ef, &h, ts, "tls", "tls");
    struct gw_json *j = begin(e, &h);
    gw_record_tls_object(j, t);
    if (finish(e, "tls")) e->n.tls++;
}

void gw_emit_anomaly(struct gw_emit *e, struct gw_emit_flow *ef, const char *type,
                     const char *event, int dir, uint32_t stream_id, gw_time_us ts)
{
    struct gw_record_head h;
    if (ef->anomaly_records >= GW_EMIT_ANOMALIES_PER_FLOW) {
        e->n.anomalies_suppressed++;
        return;
    }
    ef->anomaly_records++;
    head(e, ef, &h, ts, "anomaly", type);
    struct gw_json *j = begin(e, &h);
    GW_JSON_KEY(j, "anomaly");
    gw_json_object_begin(j);
    GW_JSON_KV_STR(j, "type", type);
    GW_JSON_KV_STR(j, "event", event);
    GW_JSON_KV_STR(j, "direction", dir == GW_DIR_TO_SERVER ? "to_server" : "to_client");
    if (stream_id) GW_JSON_KV_UINT(j, "stream_id", stream_id);
    gw_json_object_end(j);
    if (finish(e, "anomaly")) e->n.anomaly++;
}

void gw_emit_stats(struct gw_emit *e, gw_time_us ts, const struct gw_stats *reg,
                   const uint64_t *values)
{
    struct gw_json *j = &e->json;
    gw_json_reset(j);
    gw_record_begin_event(j, ts, "stats");
    gw_stats_write(reg, j, values);
    finish(e, "stats");
}

const struct gw_emit_counters *gw_emit_counters(const struct gw_emit *e)
{
    return &e->n;
}

/* ---- stats ------------------------------------------------------------------ */

#define F(m, path) GW_STAT_FIELD(struct gw_emit_counters, m, path)
static const struct gw_stat_field record_fields[] = {
    F(grpc, "grpc"),
    F(alert, "alert"),
    F(tls, "tls"),
    F(anomaly, "anomaly"),
    F(anomalies_suppressed, "anomalies_suppressed"),
    F(calls_suppressed, "reset_calls_suppressed"),
    F(oversize, "oversize"),
    F(written, "written"),
    F(write_errors, "write_errors"),
    F(dropped, "dropped"),
    F(reconnects, "reconnects"),
    F(retries, "retries"),
};
#undef F

static void refresh_router(void *user)
{
    struct gw_emit *e = user;
    struct gw_sink_stats s;
    gw_router_stats(e->router, &s);
    e->n.written = s.records;
    e->n.write_errors = s.write_errors;
    e->n.dropped = s.dropped_records;
    e->n.reconnects = s.reconnects;
    e->n.retries = s.retries;
}

int gw_emit_register_stats(struct gw_emit *e, struct gw_stats *reg)
{
    return gw_stats_add(reg, "records", record_fields, GW_ARRAY_LEN(record_fields), &e->n,
                        refresh_router, e);
}
