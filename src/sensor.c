/*
 * sensor.c - the pipeline, wired stage to stage.
 *
 * Per flow, the sensor hangs a struct flow_app on flow->app the first time
 * the flow carries payload (never per packet). It holds the classification
 * state, the parser instances of the protocol the flow turned out to be,
 * and the flow's Community ID (computed once).
 *
 * Invariants:
 *  - Data flows one way: reasm delivers to classify/h2/tls/http1, h2 to
 *    grpc, grpc (and http1, for gRPC-Web) hands finished calls back here
 *    only to be judged and written.
 *  - An HTTP/1.x flow (the client's first bytes are a request line) is fed
 *    to http1 in both directions until each direction switches protocols
 *    (h2c Upgrade, CONNECT tunnel, websocket...); from a direction's switch
 *    on, its bytes go to the protocol the switch chose (kind), the bytes
 *    http1 held first. http1 lives until the flow ends (open gRPC-Web calls).
 *  - Directions inside flow_app are logical (client = connection initiator).
 *    When a flow picked up without its SYN turns out to be oriented the
 *    other way (the "server" sent the preface or the ClientHello), `flip` is
 *    set at once and the flow table's own orientation is swapped after the
 *    reassembly call returns, so no stage sees a swap in the middle of a
 *    delivery.
 *  - Every byte of held classification data is bounded (CLASSIFY_HOLD_MAX
 *    per direction; TLS hellos TLS_HOLD_MAX), and freed as soon as the flow
 *    is decided.
 *  - Records are written as the event ends; everything still open is
 *    written when the flow ends (timeout, eviction, end of input).
 */
#include "grpcwatch/sensor.h"

#include "grpcwatch/flow.h"
#include "grpcwatch/grpc.h"
#include "grpcwatch/h2.h"
#include "grpcwatch/h2guard.h"
#include "grpcwatch/http1.h"
#include "grpcwatch/policy.h"
#include "grpcwatch/reasm.h"
#include "grpcwatch/router.h"
#include "grpcwatch/record.h"
#include "grpcwatch/tls.h"

#include <stdlib.h>
#include <string.h>

#define CLASSIFY_HOLD_MAX 4096                /* per direction, before a decision */
#define SNIFF_HOLD_MAX (2 * 16384 + 4096)      /* a pickup inside a full frame, then frames */
#define ROLE_WAIT_MAX 16384                    /* held bytes before guessing who is the client */
#define ONE_SIDED_PACKETS 8                    /* packets one way, none back: one-sided */
/* Hello bytes plus record headers: a hello cut into 1-byte records (an
 * evasion) costs 6 bytes a hello byte, so hold that much. Held only while
 * the hello is incomplete, grown on demand, freed once parsed. */
#define TLS_HOLD_MAX (6 * (GW_TLS_MAX_HELLO + 4))
#define RECORD_BUF_SIZE (64 * 1024)
#define ANOMALY_RECORDS_PER_FLOW 16

enum app_kind { APP_UNDECIDED = 0, APP_HTTP2, APP_TLS, APP_OTHER, APP_HTTP1 };

struct hold {
    uint8_t *buf;
    uint32_t len, cap;
};

struct flow_app {
    struct gw_sensor *sensor;
    struct gw_flow *flow;
    uint8_t kind;
    uint8_t flip;            /* physical direction ^ flip = logical direction */
    uint8_t tls_done[2];     /* hello parsed or given up, by logical dir */
    uint8_t tls_logged;
    uint8_t bypass_pending;  /* stop reassembly once the delivery returns */
    uint16_t anomaly_records;
    struct hold hold[2];     /* by logical dir */
    /* mid-stream pickup: HTTP/2 found from its frames, not its preface */
    uint8_t midstream;
    uint8_t one_sided;
    uint8_t sniff_dead[2];   /* this direction can not be HTTP/2 frames */
    size_t sync_offset[2];
    struct gw_h2_sniff sniff[2];
    struct gw_h2_conn *h2;
    struct gw_h2guard *guard; /* rate checks on h2's frame headers (HTTP/2 only) */
    uint8_t quiet_resets;     /* rapid reset seen: calls reset unanswered are counted, not written */
    struct gw_grpc_session *grpc;
    /* HTTP/1.x: fed while its direction has not switched (see invariants) */
    struct gw_http1_conn *h1;
    uint8_t h1_dead[2];      /* http1 failed in this direction: its bytes are dropped */
    uint8_t tunnel;          /* classifying the inside of a CONNECT tunnel */
    struct gw_tls_info tls;
    gw_time_us tls_ts;
    char community_id[32];
};

struct sensor_counters {
    uint64_t flows_http2, flows_tls, flows_other, flows_midstream, flows_one_sided;
    uint64_t flows_http1, http1_switches, http1_tunnels;
    uint64_t grpc_records, alert_records, tls_records, anomaly_records;
    uint64_t anomalies_suppressed, records_oversize, app_alloc_failures;
    uint64_t hold_overflows;
    uint64_t calls_quieted;  /* reset before any answer during a rapid-reset attack */
};

struct gw_sensor {
    struct gw_config cfg;
    struct gw_decoder *decoder;
    struct gw_flow_table *flows;
    struct gw_policy *policy;
    struct gw_router *out;
    struct gw_reasm_budget budget;
    struct gw_reasm_limits reasm_limits;
    struct gw_h2_limits h2_limits;
    struct gw_h2guard_limits guard_limits;
    struct gw_h2_stats h2_totals;
    struct gw_grpc_stats grpc_totals;
    struct gw_flow_stats flow_totals; /* of flow tables already finished */
    struct sensor_counters n;
    gw_time_us now;
    gw_time_us last_expire, last_stats;
    gw_capture_counters_fn capture_counters; /* NULL: capture counters are 0 */
    void *capture_user;
    struct gw_json json;
    char *json_buf;
};

/* ---- records ------------------------------------------------------------ */

static void record_head(struct flow_app *a, struct gw_record_head *h, gw_time_us ts,
                        const char *event_type, const char *app_proto)
{
    const struct gw_flow *f = a->flow;
    if (!a->community_id[0])
        gw_community_id(0, &f->client, f->client_port, &f->server, f->server_port, 6,
                        a->community_id, sizeof a->community_id);
    memset(h, 0, sizeof *h);
    h->ts = ts;
    h->event_type = event_type;
    h->flow_id = f->id;
    h->community_id = a->community_id;
    /* a flip learnt during this delivery reaches the flow table only after
     * it, so honour it here */
    h->src = a->flip ? &f->server : &f->client;
    h->dst = a->flip ? &f->client : &f->server;
    h->sport = a->flip ? f->server_port : f->client_port;
    h->dport = a->flip ? f->client_port : f->server_port;
    h->app_proto = app_proto;
    h->tunnel = &f->tunnel;
}

static void record_emit(struct gw_sensor *s, const char *event_type)
{
    struct gw_json *j = &s->json;
    gw_json_object_end(j);
    if (!gw_json_finish(j)) {
        s->n.records_oversize++;
        return;
    }
    gw_router_write(s->out, j->buf, j->len, event_type);
}

/* What the flow lost so far, in logical directions. */
static void flow_loss(const struct flow_app *a, struct gw_record_loss *l)
{
    memset(l, 0, sizeof *l);
    for (int d = 0; d < 2; d++) {
        const struct gw_reasm_dir *r = &a->flow->reasm[d ^ a->flip];
        l->gap_bytes[d] = r->gap_bytes;
        l->gaps[d] = r->gaps;
        l->stopped[d] = (a->h2 && !gw_h2_conn_dir_ok(a->h2, d)) || a->h1_dead[d];
        l->resynced[d] = a->h2 && gw_h2_conn_dir_resynced(a->h2, d) > 0;
    }
}

/* app_proto: "grpc" for calls from HTTP/2, "grpc-web" for those http1
 * found (gRPC-Web, or gRPC framing over HTTP/1.x). */
static void write_call(struct flow_app *a, struct gw_grpc_call *call, const char *app_proto)
{
    struct gw_sensor *s = a->sensor;
    if (a->quiet_resets && call->ended_by == GW_END_RST && call->http_status < 0) {
        s->n.calls_quieted++;
        return;
    }
    struct gw_alert alert;
    bool alerts = gw_policy_evaluate(s->policy, call, &alert);
    struct gw_record_head h;

    struct gw_record_loss loss;
    flow_loss(a, &loss);

    record_head(a, &h, call->start_ts, "grpc", app_proto);
    gw_json_reset(&s->json);
    gw_record_begin(&s->json, &h);
    gw_record_grpc_object(&s->json, call);
    gw_record_loss_object(&s->json, &loss);
    record_emit(s, "grpc");
    s->n.grpc_records++;

    if (!alerts) return;
    h.event_type = "alert";
    gw_json_reset(&s->json);
    gw_record_begin(&s->json, &h);
    gw_record_alert_object(&s->json, &alert);
    gw_record_grpc_object(&s->json, call);
    gw_record_loss_object(&s->json, &loss);
    record_emit(s, "alert");
    s->n.alert_records++;
}

static void write_tls(struct flow_app *a)
{
    struct gw_sensor *s = a->sensor;
    struct gw_record_head h;
    if (a->tls_logged || !a->tls.have_client_hello) return;
    a->tls_logged = 1;
    record_head(a, &h, a->tls_ts, "tls", "tls");
    gw_json_reset(&s->json);
    gw_record_begin(&s->json, &h);
    gw_record_tls_object(&s->json, &a->tls);
    record_emit(s, "tls");
    s->n.tls_records++;
}

static void write_anomaly(struct flow_app *a, const char *type, const char *event,
                          int dir, uint32_t stream_id)
{
    struct gw_sensor *s = a->sensor;
    struct gw_record_head h;
    if (a->anomaly_records >= ANOMALY_RECORDS_PER_FLOW) {
        s->n.anomalies_suppressed++;
        return;
    }
    a->anomaly_records++;
    record_head(a, &h, s->now, "anomaly", type);
    gw_json_reset(&s->json);
    gw_record_begin(&s->json, &h);
    gw_json_key(&s->json, "anomaly");
    gw_json_object_begin(&s->json);
    gw_json_kv_str(&s->json, "type", type);
    gw_json_kv_str(&s->json, "event", event);
    gw_json_kv_str(&s->json, "direction", dir == GW_DIR_TO_SERVER ? "to_server" : "to_client");
    if (stream_id) gw_json_kv_uint(&s->json, "stream_id", stream_id);
    gw_json_object_end(&s->json);
    record_emit(s, "anomaly");
    s->n.anomaly_records++;
}

/* ---- callbacks from the grpc and h2 stages -------------------------------- */

static void on_call(void *user, struct gw_grpc_call *call)
{
    write_call(user, call, "grpc");
}

static void on_grpc_web_call(void *user, struct gw_grpc_call *call)
{
    write_call(user, call, "grpc-web");
}

/* Wraps the grpc stage's h2 callbacks so anomalies reach the records; the
 * grpc session's own callbacks are used for everything else. */
struct h2_glue {
    struct gw_h2_callbacks cb;
};

static void on_h2_anomaly(void *user, int dir, int code, uint32_t stream_id);

/* The grpc session is the h2 user; anomalies need the flow, so the sensor
 * keeps a table of the grpc callbacks with on_anomaly replaced, and passes
 * the flow_app as user, forwarding to the grpc session. */
static struct gw_grpc_session *app_grpc(void *user)
{
    return ((struct flow_app *)user)->grpc;
}

#define FORWARD(name, ...)                                          \
    do {                                                            \
        const struct gw_h2_callbacks *g_ = gw_grpc_h2_callbacks();  \
        if (g_->name) g_->name(app_grpc(user), __VA_ARGS__);        \
    } while (0)

static void fw_stream_begin(void *user, struct gw_h2_stream *st, gw_time_us ts)
{
    FORWARD(on_stream_begin, st, ts);
}
static void fw_header(void *user, struct gw_h2_stream *st, int dir, const uint8_t *n,
                      size_t nl, const uint8_t *v, size_t vl)
{
    FORWARD(on_header, st, dir, n, nl, v, vl);
}
static void fw_headers_end(void *user, struct gw_h2_stream *st, int dir, bool end)
{
    FORWARD(on_headers_end, st, dir, end);
}
static void fw_data(void *user, struct gw_h2_stream *st, int dir, const uint8_t *p, size_t n)
{
    FORWARD(on_data, st, dir, p, n);
}
static void fw_data_end(void *user, struct gw_h2_stream *st, int dir)
{
    FORWARD(on_data_end, st, dir);
}
static void fw_rst(void *user, struct gw_h2_stream *st, int dir, uint32_t code)
{
    FORWARD(on_rst_stream, st, dir, code);
}
static void fw_stream_end(void *user, struct gw_h2_stream *st, int reason, gw_time_us ts)
{
    FORWARD(on_stream_end, st, reason, ts);
}
static void fw_goaway(void *user, int dir, uint32_t last, uint32_t code)
{
    FORWARD(on_goaway, dir, last, code);
}

static void on_h2_anomaly(void *user, int dir, int code, uint32_t stream_id)
{
    write_anomaly(user, "http2", gw_h2_anomaly_str(code), dir, stream_id);
}

static void on_guard_event(void *user, int dir, const char *event, uint32_t stream_id)
{
    struct flow_app *a = user;
    /* One record per reset stream would turn the attack into a flood of
     * records; from here on those calls are counted instead. */
    if (strcmp(event, "rapid_reset") == 0) a->quiet_resets = 1;
    write_anomaly(a, "http2", event, dir, stream_id);
}

static void fw_frame(void *user, int dir, uint8_t type, uint8_t flags, uint32_t stream_id,
                     uint32_t length, gw_time_us ts)
{
    struct flow_app *a = user;
    gw_h2guard_frame(a->guard, dir, type, flags, stream_id, length, ts);
}

static const struct gw_h2_callbacks h2_glue_callbacks = {
    .on_stream_begin = fw_stream_begin,
    .on_header = fw_header,
    .on_headers_end = fw_headers_end,
    .on_data = fw_data,
    .on_data_end = fw_data_end,
    .on_rst_stream = fw_rst,
    .on_stream_end = fw_stream_end,
    .on_goaway = fw_goaway,
    .on_anomaly = on_h2_anomaly,
    .on_frame = fw_frame,
};

/* ---- per-flow application state ------------------------------------------ */

static void hold_free(struct hold *h)
{
    free(h->buf);
    memset(h, 0, sizeof *h);
}

/* Appends to a hold buffer that grows up to cap. Returns false when full. */
static bool hold_append(struct hold *h, const uint8_t *p, uint32_t n, uint32_t cap)
{
    if (n == 0) return true;
    if (n > cap - h->len && h->len <= cap) return false;
    if (h->len + n > h->cap) {
        uint32_t want = h->cap ? h->cap : 512;
        while (want < h->len + n) want *= 2;
        if (want > cap) want = cap;
        uint8_t *nb = realloc(h->buf, want);
        if (!nb) return false;
        h->buf = nb;
        h->cap = want;
    }
    memcpy(h->buf + h->len, p, n);
    h->len += n;
    return true;
}

static struct flow_app *app_get(struct gw_sensor *s, struct gw_flow *f)
{
    if (f->app) return f->app;
    struct flow_app *a = calloc(1, sizeof *a);
    if (!a) {
        s->n.app_alloc_failures++;
        return NULL;
    }
    a->sensor = s;
    a->flow = f;
    gw_h2_sniff_init(&a->sniff[0], 0);
    gw_h2_sniff_init(&a->sniff[1], 0);
    f->app = a;
    return a;
}

static void stop_reassembly(struct gw_sensor *s, struct gw_flow *f)
{
    gw_reasm_bypass(&f->reasm[0], &s->reasm_limits);
    gw_reasm_bypass(&f->reasm[1], &s->reasm_limits);
}

static void h2_totals_add(struct gw_sensor *s, const struct gw_h2_stats *st)
{
    for (int d = 0; d < 2; d++) s->h2_totals.frames[d] += st->frames[d];
    for (size_t i = 0; i < GW_ARRAY_LEN(st->frames_by_type); i++)
        s->h2_totals.frames_by_type[i] += st->frames_by_type[i];
    s->h2_totals.headers_blocks += st->headers_blocks;
    s->h2_totals.anomalies += st->anomalies;
    s->h2_totals.max_open_streams = GW_MAX(s->h2_totals.max_open_streams, st->max_open_streams);
}

static void grpc_totals_add(struct gw_sensor *s, const struct gw_grpc_stats *st)
{
    s->grpc_totals.calls += st->calls;
    s->grpc_totals.non_grpc_streams += st->non_grpc_streams;
    s->grpc_totals.messages[0] += st->messages[0];
    s->grpc_totals.messages[1] += st->messages[1];
}

static void app_free(struct gw_sensor *s, struct flow_app *a, int h2_reason)
{
    if (a->h1) {
        /* open gRPC-Web calls are written now, with the flow's end */
        gw_http1_conn_close(a->h1, h2_reason, s->now);
        gw_http1_conn_destroy(a->h1);
    }
    if (a->h2) {
        gw_h2_conn_close(a->h2, h2_reason, s->now);
        h2_totals_add(s, gw_h2_conn_stats(a->h2));
        gw_h2_conn_destroy(a->h2);
    }
    if (a->grpc) {
        grpc_totals_add(s, gw_grpc_session_stats(a->grpc));
        gw_grpc_session_destroy(a->grpc);
    }
    free(a->guard);
    if (a->kind == APP_TLS) write_tls(a);
    hold_free(&a->hold[0]);
    hold_free(&a->hold[1]);
    free(a);
}

/* ---- classification ------------------------------------------------------- */

static bool is_preface_prefix(const uint8_t *p, uint32_t n)
{
    return memcmp(p, GW_H2_PREFACE, GW_MIN(n, (uint32_t)GW_H2_PREFACE_LEN)) == 0;
}

enum verdict { V_WAIT, V_HTTP2, V_TLS, V_OTHER, V_MIDSTREAM, V_HTTP1 };

/* What the first bytes of one direction say. */
static enum verdict first_bytes_verdict(const uint8_t *p, uint32_t n)
{
    if (n == 0) return V_WAIT;
    if (is_preface_prefix(p, n)) return n >= GW_H2_PREFACE_LEN ? V_HTTP2 : V_WAIT;
    if (gw_tls_looks_like_client_hello(p, n)) return n >= 6 ? V_TLS : V_WAIT;
    /* "<method> <target> HTTP/1.<d>" and its line end: an HTTP/1.x client */
    int rc = gw_http1_sniff_request_line(p, n);
    if (rc == GW_OK) return V_HTTP1;
    return rc == GW_ERR_NEED_MORE ? V_WAIT : V_OTHER;
}

/* The connection's start is known: the flow saw its SYN, or these are the
 * first bytes inside a CONNECT tunnel (whose client is the flow's). */
static bool start_seen(const struct flow_app *a)
{
    return a->flow->saw_syn || a->tunnel;
}

static void tls_feed(struct flow_app *a, int dir, const uint8_t *p, uint32_t n);
static void h2_feed(struct flow_app *a, int dir, const uint8_t *p, uint32_t n);
static void h1_feed(struct flow_app *a, int dir, const uint8_t *p, uint32_t n);
static bool start_http1(struct gw_sensor *s, struct flow_app *a);

static bool start_http2(struct gw_sensor *s, struct flow_app *a, bool midstream)
{
    a->guard = malloc(sizeof *a->guard);
    if (a->guard) gw_h2guard_init(a->guard, &s->guard_limits, on_guard_event, a);
    a->grpc = a->guard ? gw_grpc_session_create(on_call, a) : NULL;
    if (a->grpc && midstream) {
        /* every call on a connection picked up mid-stream says so, even one
         * whose headers decode fully after the HPACK table recovers */
        gw_grpc_session_set_midstream(a->grpc, true);
        a->h2 = gw_h2_conn_create_midstream(&s->h2_limits, &h2_glue_callbacks, a);
    } else if (a->grpc) {
        a->h2 = gw_h2_conn_create(&s->h2_limits, &h2_glue_callbacks, a);
    }
    if (!a->h2) {
        s->n.app_alloc_failures++;
        return false;
    }
    a->kind = APP_HTTP2;
    a->midstream = midstream;
    s->n.flows_http2++;
    if (midstream) s->n.flows_midstream++;
    gw_flow_set_value(s->flows, a->flow, GW_FLOW_VALUE_HIGH);
    return true;
}

/* Swaps everything kept per logical direction: the peer we took for the
 * client is the server. */
static void app_flip(struct flow_app *a)
{
    struct hold h = a->hold[0];
    a->hold[0] = a->hold[1];
    a->hold[1] = h;
    struct gw_h2_sniff sn = a->sniff[0];
    a->sniff[0] = a->sniff[1];
    a->sniff[1] = sn;
    uint8_t d = a->sniff_dead[0];
    a->sniff_dead[0] = a->sniff_dead[1];
    a->sniff_dead[1] = d;
    size_t o = a->sync_offset[0];
    a->sync_offset[0] = a->sync_offset[1];
    a->sync_offset[1] = o;
    a->flip ^= 1;
}

/* Looks for HTTP/2 frames in the held bytes of direction dir. */
static int sniff_direction(struct flow_app *a, int dir)
{
    const struct hold *h = &a->hold[dir];
    if (a->sniff_dead[dir]) return GW_ERR_UNSUPPORTED;
    if (h->len == 0) return GW_ERR_NEED_MORE;
    int rc = gw_h2_sniff_feed(&a->sniff[dir], h->buf, h->len, &a->sync_offset[dir]);
    if (rc != GW_OK && rc != GW_ERR_NEED_MORE) a->sniff_dead[dir] = 1;
    return rc;
}

/* decide -> h1_feed -> app_data -> classify_feed -> decide recurses once at
 * most: the inside of a CONNECT tunnel is classified once, and a second
 * HTTP/1.x inside it is not followed (one http1 per flow). */
/* NOLINTBEGIN(misc-no-recursion) */
/* Commits to a protocol and replays what was held, client bytes first. A
 * mid-stream connection finds each direction's first frame boundary
 * itself (h2.h "Mid-stream pickup"). */
static void decide(struct flow_app *a, enum verdict v)
{
    struct gw_sensor *s = a->sensor;
    struct hold held[2] = { a->hold[0], a->hold[1] };
    memset(a->hold, 0, sizeof a->hold);

    if ((v == V_HTTP2 || v == V_MIDSTREAM) && start_http2(s, a, v == V_MIDSTREAM)) {
        for (int d = 0; d < 2; d++)
            if (held[d].len) h2_feed(a, d, held[d].buf, held[d].len);
    } else if (v == V_HTTP1 && !a->h1 && start_http1(s, a)) {
        /* (HTTP/1.x inside a CONNECT tunnel is not followed: one http1 per flow) */
        for (int d = 0; d < 2; d++)
            if (held[d].len) h1_feed(a, d, held[d].buf, held[d].len);
    } else if (v == V_TLS) {
        a->kind = APP_TLS;
        gw_flow_set_value(s->flows, a->flow, GW_FLOW_VALUE_MID);
        a->tls_ts = s->now;
        s->n.flows_tls++;
        for (int d = 0; d < 2; d++)
            if (held[d].len) tls_feed(a, d, held[d].buf, held[d].len);
    } else {
        a->kind = APP_OTHER;
        a->bypass_pending = 1;
        s->n.flows_other++;
    }
    hold_free(&held[0]);
    hold_free(&held[1]);
}

/* Without the connection start: HTTP/2 frames in either direction? Only a
 * request's or a response's HEADERS say who is the client, so with frames
 * found but no HEADERS yet, wait a little (ROLE_WAIT_MAX) for them before
 * falling back on the higher-port guess. */
static enum verdict sniff_verdict(struct flow_app *a)
{
    bool found = false, alive = false, bytes = false;
    uint32_t held = 0;
    for (int d = 0; d < 2; d++) {
        if (sniff_direction(a, d) != GW_OK) continue;
        found = true;
        const struct hold *h = &a->hold[d];
        size_t off = a->sync_offset[d];
        int role = gw_h2_sniff_role(h->buf + off, h->len - off);
        if (role >= 0) {
            if (role != d) app_flip(a);
            return V_MIDSTREAM;
        }
    }
    for (int d = 0; d < 2; d++) {
        bytes |= a->hold[d].len > 0;
        alive |= a->hold[d].len > 0 && !a->sniff_dead[d];
        held += a->hold[d].len;
    }
    if (found) return held > ROLE_WAIT_MAX ? V_MIDSTREAM : V_WAIT;
    return bytes && !alive ? V_OTHER : V_WAIT;
}

/* What the held bytes say. With the connection start seen (SYN), the
 * client's first bytes decide. Without it, a preface or a ClientHello from
 * either side decides (and names the client); failing both, HTTP/2 frames
 * found mid-stream. */
/* The client has sent nothing (not even a packet) while the server went on:
 * a capture of the server's side only. */
static bool client_silent(const struct flow_app *a)
{
    const struct gw_flow *f = a->flow;
    return f->pkts[GW_DIR_TO_SERVER] == 0 && f->pkts[GW_DIR_TO_CLIENT] >= ONE_SIDED_PACKETS;
}

/* Server-only, from the connection start: HTTP/2 if the server's bytes are
 * frames from their first byte. */
static enum verdict server_only_verdict(struct flow_app *a)
{
    size_t off;
    const struct hold *h = &a->hold[GW_DIR_TO_CLIENT];
    int rc = gw_h2_sniff(h->buf, h->len, &off);
    if (rc == GW_OK) return off == 0 ? V_HTTP2 : V_OTHER;
    return rc == GW_ERR_NEED_MORE ? V_WAIT : V_OTHER;
}

static enum verdict classify(struct flow_app *a)
{
    enum verdict c = first_bytes_verdict(a->hold[0].buf, a->hold[0].len);
    if (c == V_HTTP2 || c == V_TLS || c == V_HTTP1) return c;
    if (start_seen(a)) {
        if (c == V_WAIT && a->hold[0].len == 0 && a->hold[1].len && client_silent(a))
            return server_only_verdict(a);
        return c;
    }
    enum verdict o = first_bytes_verdict(a->hold[1].buf, a->hold[1].len);
    if (o == V_HTTP2 || o == V_TLS || o == V_HTTP1) {
        app_flip(a);
        return o;
    }
    if ((c == V_WAIT && a->hold[0].len) || (o == V_WAIT && a->hold[1].len))
        return V_WAIT; /* a preface or a hello may still be arriving */
    return sniff_verdict(a);
}

/* Bytes of logical direction dir while undecided. */
static void classify_feed(struct flow_app *a, int dir, const uint8_t *p, uint32_t n)
{
    struct gw_sensor *s = a->sensor;
    /* a preface or a hello needs little; finding frames needs more */
    uint32_t cap = start_seen(a) && a->flow->pkts[GW_DIR_TO_SERVER] ? CLASSIFY_HOLD_MAX
                                                                    : SNIFF_HOLD_MAX;
    if (!hold_append(&a->hold[dir], p, n, cap)) {
        s->n.hold_overflows++;
        decide(a, V_OTHER);
        return;
    }
    enum verdict v = classify(a);
    if (v != V_WAIT) decide(a, v);
}

/* ---- protocol feeds ------------------------------------------------------- */

static void h2_feed(struct flow_app *a, int dir, const uint8_t *p, uint32_t n)
{
    gw_h2_conn_feed(a->h2, dir, p, n, a->sensor->now);
}

static void tls_try_parse(struct flow_app *a, int dir)
{
    struct hold *h = &a->hold[dir];
    int rc = dir == GW_DIR_TO_SERVER
                 ? gw_tls_parse_client_hello(h->buf, h->len, &a->tls)
                 : gw_tls_parse_server_hello(h->buf, h->len, &a->tls);
    if (rc == GW_ERR_NEED_MORE) return;
    a->tls_done[dir] = 1;
    hold_free(h);
    if (rc != GW_OK)
        write_anomaly(a, "tls", dir == GW_DIR_TO_SERVER ? "client_hello_malformed"
                                                         : "server_hello_malformed", dir, 0);
}

static void tls_feed(struct flow_app *a, int dir, const uint8_t *p, uint32_t n)
{
    if (a->tls_done[dir]) return;
    if (!hold_append(&a->hold[dir], p, n, TLS_HOLD_MAX)) {
        a->tls_done[dir] = 1;
        hold_free(&a->hold[dir]);
        return;
    }
    tls_try_parse(a, dir);
    if (a->tls_done[0] && a->tls_done[1]) {
        write_tls(a);
        a->bypass_pending = 1;
    }
}

/* A gap in logical direction dir. */
static void app_gap(struct flow_app *a, int dir, uint32_t len)
{
    if (a->h1 && !gw_http1_conn_switched(a->h1, dir)) {
        /* skipped inside a body; elsewhere the direction is lost to http1 */
        if (!a->h1_dead[dir] && gw_http1_conn_gap(a->h1, dir, len, a->sensor->now) != GW_OK)
            a->h1_dead[dir] = 1;
        return;
    }
    switch (a->kind) {
    case APP_HTTP2:
        gw_h2_conn_gap(a->h2, dir, len, a->sensor->now);
        break;
    case APP_TLS:
        a->tls_done[dir] = 1;
        hold_free(&a->hold[dir]);
        break;
    case APP_UNDECIDED:
        if (start_seen(a)) {
            decide(a, V_OTHER); /* the connection's first bytes are lost */
        } else {
            /* a pickup point after the hole: look for frames from there */
            hold_free(&a->hold[dir]);
            gw_h2_sniff_init(&a->sniff[dir], 0);
        }
        break;
    default:
        break;
    }
}

/* ---- HTTP/1.x ---------------------------------------------------------------- */

/* Bytes of logical direction dir to whatever protocol reads it now. */
static void app_data(struct flow_app *a, int dir, const uint8_t *p, uint32_t n)
{
    if (n == 0) return;
    if (a->h1 && !gw_http1_conn_switched(a->h1, dir)) h1_feed(a, dir, p, n);
    else if (a->kind == APP_UNDECIDED) classify_feed(a, dir, p, n);
    else if (a->kind == APP_HTTP2) h2_feed(a, dir, p, n);
    else if (a->kind == APP_TLS) tls_feed(a, dir, p, n);
}

/* The first direction to switch sets what the flow becomes. h2c: HTTP/2
 * from here (the client's new bytes start with the preface, the server's
 * with its SETTINGS; the upgraded request's answer comes on stream 1,
 * which h2 begins on the server's HEADERS). CONNECT: the tunnel's bytes are
 * classified as a new connection's first bytes. Anything else (websocket,
 * raw streams): not followed. */
static void h1_switch_to(struct flow_app *a, int kind)
{
    struct gw_sensor *s = a->sensor;
    s->n.http1_switches++;
    if (kind == GW_HTTP1_SWITCH_H2C && start_http2(s, a, false)) return;
    if (kind == GW_HTTP1_SWITCH_CONNECT) {
        s->n.http1_tunnels++;
        a->kind = APP_UNDECIDED;
        a->tunnel = 1;
        return;
    }
    a->kind = APP_OTHER;
    a->bypass_pending = 1;
}

static void h1_on_switch(void *user, int dir, int kind, const uint8_t *held, size_t held_len)
{
    struct flow_app *a = user;
    if (a->kind == APP_HTTP1) h1_switch_to(a, kind);
    /* what http1 held of this direction comes first in the new protocol */
    if (held_len) app_data(a, dir, held, (uint32_t)held_len);
}

/* HTTP/1.x flows stay low-value (most are not gRPC) until one carries a
 * gRPC-Web request. */
static void h1_on_request(void *user, const struct gw_http1_request *req)
{
    struct flow_app *a = user;
    if (req->grpc) gw_flow_set_value(a->sensor->flows, a->flow, GW_FLOW_VALUE_HIGH);
}

static const struct gw_http1_callbacks h1_callbacks = {
    .on_request = h1_on_request,
    .on_switch = h1_on_switch,
    .on_grpc_web_call = on_grpc_web_call,
};

static bool start_http1(struct gw_sensor *s, struct flow_app *a)
{
    a->h1 = gw_http1_conn_create(&h1_callbacks, a);
    if (!a->h1) {
        s->n.app_alloc_failures++;
        return false;
    }
    a->kind = APP_HTTP1;
    s->n.flows_http1++;
    return true;
}

/* Bytes of a direction http1 still reads. Past a switch the rest of the
 * buffer belongs to the new protocol. */
static void h1_feed(struct flow_app *a, int dir, const uint8_t *p, uint32_t n)
{
    size_t used = 0;
    if (a->h1_dead[dir]) return;
    int rc = gw_http1_conn_feed(a->h1, dir, p, n, a->sensor->now, &used);
    if (rc == GW_OK) return;
    if (rc == GW_ERR_UNSUPPORTED) {
        if (used < n) app_data(a, dir, p + used, n - (uint32_t)used);
        return;
    }
    a->h1_dead[dir] = 1;
    if (rc == GW_ERR_MALFORMED) write_anomaly(a, "http1", "malformed", dir, 0);
    /* neither direction readable and nothing switched: stop paying for it */
    if (a->kind == APP_HTTP1 && a->h1_dead[dir ^ 1]) a->bypass_pending = 1;
}

/* NOLINTEND(misc-no-recursion) */

/* ---- reassembly delivery ---------------------------------------------------- */

struct deliver_ctx {
    struct gw_sensor *s;
    struct gw_flow *f;
    int phys_dir;
};

static void deliver(void *user, int event, const uint8_t *data, uint32_t len)
{
    struct deliver_ctx *ctx = user;
    struct flow_app *a = app_get(ctx->s, ctx->f);
    if (!a) return;
    int dir = ctx->phys_dir ^ a->flip;

    switch (event) {
    case GW_REASM_DATA:
        app_data(a, dir, data, len);
        break;
    case GW_REASM_GAP:
        app_gap(a, dir, len);
        break;
    case GW_REASM_FIN:
        /* a response delimited by the close ends here */
        if (a->h1 && !gw_http1_conn_switched(a->h1, dir)) gw_http1_conn_fin(a->h1, dir, ctx->s->now);
        break;
    default: /* RST: the flow table learns of it from the flags */
        break;
    }
}

/* ---- flow end ------------------------------------------------------------- */

static int h2_reason_for(int flow_end)
{
    switch (flow_end) {
    case GW_FLOW_END_EVICTED: return GW_END_EVICTED;
    case GW_FLOW_END_SHUTDOWN: return GW_END_EOF;
    default: return GW_END_CONN_CLOSED;
    }
}

static void on_flow_end(void *user, struct gw_flow *f, int reason)
{
    struct gw_sensor *s = user;
    if (f->app) {
        /* what reassembly still holds goes to the parsers, holes as gaps */
        for (int d = 0; d < 2; d++) {
            struct deliver_ctx ctx = { s, f, d };
            gw_reasm_flush(&f->reasm[d], &s->reasm_limits, deliver, &ctx);
        }
        app_free(s, f->app, h2_reason_for(reason));
        f->app = NULL;
    }
}

/* ---- the packet path ------------------------------------------------------ */

/* A SPAN port often carries one direction only. Packets one way and none
 * back (not even an ACK) after a handful means the other way is not
 * mirrored: calls then end on the END_STREAM of the side we see. */
static void detect_one_sided(struct flow_app *a)
{
    const struct gw_flow *f = a->flow;
    for (int d = 0; d < 2; d++) {
        if (f->pkts[d] >= ONE_SIDED_PACKETS && f->pkts[d ^ 1] == 0) {
            gw_h2_conn_set_one_sided(a->h2, d);
            a->one_sided = 1;
            a->sensor->n.flows_one_sided++;
        }
    }
}

static void segment(struct gw_sensor *s, const struct gw_segment *seg)
{
    int dir;
    struct gw_flow *f = gw_flow_lookup(s->flows, seg, &dir);
    if (!f) return;

    struct deliver_ctx ctx = { s, f, dir };
    gw_reasm_push(&f->reasm[dir], &s->reasm_limits, seg->seq, seg->flags, seg->payload,
                  seg->payload_len, seg->payload_wire_len, deliver, &ctx);

    /* now outside the delivery: apply what the parsers learnt */
    struct flow_app *a = f->app;
    if (a && a->flip) {
        gw_flow_set_client(f, GW_DIR_TO_CLIENT);
        a->flip = 0;
    }
    if (a && a->bypass_pending) {
        stop_reassembly(s, f);
        a->bypass_pending = 0;
    }
    if (a && a->h2 && !a->one_sided) detect_one_sided(a);
    if ((seg->flags & GW_TCP_RST) || (f->reasm[0].ended && f->reasm[1].ended)) {
        if (!f->closed) {
            if (a && a->h2) gw_h2_conn_close(a->h2, GW_END_CONN_CLOSED, s->now);
            if (a && a->h1) gw_http1_conn_close(a->h1, GW_END_CONN_CLOSED, s->now);
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
    if (s->cfg.stats_interval && s->last_stats == 0) s->last_stats = s->now;
    if (s->cfg.stats_interval &&
        s->now - s->last_stats >= (gw_time_us)s->cfg.stats_interval * 1000000) {
        gw_sensor_write_stats(s, s->now);
        s->last_stats = s->now;
    }
}

void gw_sensor_packet(struct gw_sensor *s, const struct gw_packet *pkt)
{
    struct gw_segment seg;
    gw_sensor_tick(s, pkt->ts);
    if (gw_decoder_decode(s->decoder, pkt, &seg) != GW_DECODE_TCP || !s->flows) return;
    segment(s, &seg);
}

/* ---- lifecycle and stats -------------------------------------------------- */

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
    s->out = out;
    s->budget.cap = cfg->reasm_memcap;
    s->reasm_limits.ooo_max_bytes = cfg->reasm_ooo_max_bytes;
    s->reasm_limits.ooo_max_segments = cfg->reasm_ooo_max_segments;
    s->reasm_limits.budget = &s->budget;
    s->h2_limits.max_streams = cfg->h2_max_streams;
    s->h2_limits.max_header_table = cfg->h2_max_header_table;
    s->h2_limits.max_header_list = cfg->h2_max_header_list;
    gw_h2guard_limits_default(&s->guard_limits);
    /* a header block twice the decoded cap, still open, is a flood */
    s->guard_limits.continuation_bytes = 2 * cfg->h2_max_header_list;

    s->json_buf = malloc(RECORD_BUF_SIZE);
    struct gw_decode_config dc = {
        .frag_max_datagrams = cfg->frag_max_datagrams,
        .frag_max_bytes = cfg->frag_max_bytes,
        .frag_timeout_s = cfg->frag_timeout,
    };
    s->decoder = gw_decoder_create2(&dc);
    s->policy = gw_policy_create(cfg);
    s->flows = flow_table_create(s);
    if (!s->json_buf || !s->decoder || !s->policy || !s->flows) {
        gw_sensor_destroy(s);
        return NULL;
    }
    gw_json_init(&s->json, s->json_buf, RECORD_BUF_SIZE);
    return s;
}

void gw_sensor_finish(struct gw_sensor *s)
{
    if (!s || !s->flows) return;
    /* destroying the table ends every flow with SHUTDOWN; a fresh one keeps
     * the sensor usable */
    const struct gw_flow_stats *f = gw_flow_table_stats(s->flows);
    s->flow_totals.created += f->created;
    s->flow_totals.evicted += f->evicted;
    for (int v = 0; v < GW_FLOW_VALUE_COUNT; v++)
        s->flow_totals.evicted_by_value[v] += f->evicted_by_value[v];
    s->flow_totals.timed_out += f->timed_out;
    s->flow_totals.closed += f->closed;
    s->flow_totals.max_active = GW_MAX(s->flow_totals.max_active, f->max_active);
    gw_flow_table_destroy(s->flows);
    s->flows = flow_table_create(s);
}

void gw_sensor_destroy(struct gw_sensor *s)
{
    if (!s) return;
    if (s->flows) gw_flow_table_destroy(s->flows);
    gw_policy_destroy(s->policy);
    gw_decoder_destroy(s->decoder);
    free(s->json_buf);
    free(s);
}

gw_time_us gw_sensor_now(const struct gw_sensor *s)
{
    return s->now;
}

static void stats_decode(struct gw_json *j, const struct gw_decode_stats *d)
{
    gw_json_key(j, "decoder");
    gw_json_object_begin(j);
    gw_json_kv_uint(j, "packets", d->packets);
    gw_json_kv_uint(j, "tcp", d->tcp);
    gw_json_kv_uint(j, "other", d->other);
    gw_json_kv_uint(j, "truncated", d->truncated);
    gw_json_kv_uint(j, "malformed", d->malformed);
    gw_json_kv_uint(j, "unsupported", d->unsupported);
    gw_json_kv_uint(j, "snapped", d->snapped);
    gw_json_kv_uint(j, "ipv4", d->ipv4);
    gw_json_kv_uint(j, "ipv6", d->ipv6);
    gw_json_kv_uint(j, "vlan", d->vlan);
    gw_json_key(j, "tunnels");
    gw_json_object_begin(j);
    gw_json_kv_uint(j, "encapsulated", d->tunnels);
    gw_json_kv_uint(j, "mpls", d->tunnel_mpls);
    gw_json_kv_uint(j, "gre", d->tunnel_gre);
    gw_json_kv_uint(j, "erspan", d->tunnel_erspan);
    gw_json_kv_uint(j, "vxlan", d->tunnel_vxlan);
    gw_json_kv_uint(j, "geneve", d->tunnel_geneve);
    gw_json_kv_uint(j, "ipip", d->tunnel_ipip);
    gw_json_object_end(j);
    gw_json_key(j, "fragments");
    gw_json_object_begin(j);
    gw_json_kv_uint(j, "received", d->fragments);
    gw_json_kv_uint(j, "reassembled", d->frag_reassembled);
    gw_json_kv_uint(j, "overlaps", d->frag_overlaps);
    gw_json_kv_uint(j, "conflicts", d->frag_conflicts);
    gw_json_kv_uint(j, "tiny", d->frag_tiny);
    gw_json_kv_uint(j, "invalid", d->frag_invalid);
    gw_json_kv_uint(j, "timeouts", d->frag_timeouts);
    gw_json_kv_uint(j, "evicted", d->frag_evicted);
    gw_json_kv_uint(j, "datagrams_held", d->frag_datagrams_held);
    gw_json_kv_uint(j, "bytes_held", d->frag_bytes_held);
    gw_json_object_end(j);
    gw_json_object_end(j);
}

/* Flow counters: the tables already finished plus the live one. */
static void stats_flows(struct gw_json *j, const struct gw_sensor *s)
{
    static const char *const value_names[GW_FLOW_VALUE_COUNT] = { "low", "mid", "high" };
    static const struct gw_flow_stats none;
    const struct gw_flow_stats *t = &s->flow_totals;
    const struct gw_flow_stats *f = s->flows ? gw_flow_table_stats(s->flows) : &none;
    const struct sensor_counters *n = &s->n;
    gw_json_key(j, "flow");
    gw_json_object_begin(j);
    gw_json_kv_uint(j, "created", t->created + f->created);
    gw_json_kv_uint(j, "active", f->active);
    gw_json_kv_uint(j, "max_active", GW_MAX(t->max_active, f->max_active));
    gw_json_kv_uint(j, "evicted", t->evicted + f->evicted);
    gw_json_kv_uint(j, "timed_out", t->timed_out + f->timed_out);
    gw_json_kv_uint(j, "closed", t->closed + f->closed);
    gw_json_kv_uint(j, "http2", n->flows_http2);
    gw_json_kv_uint(j, "tls", n->flows_tls);
    gw_json_kv_uint(j, "other", n->flows_other);
    gw_json_kv_uint(j, "http1", n->flows_http1);
    gw_json_kv_uint(j, "http1_switches", n->http1_switches);
    gw_json_kv_uint(j, "http1_tunnels", n->http1_tunnels);
    gw_json_kv_uint(j, "http2_midstream", n->flows_midstream);
    gw_json_kv_uint(j, "one_sided", n->flows_one_sided);
    gw_json_key(j, "evicted_by_value");
    gw_json_object_begin(j);
    for (int v = 0; v < GW_FLOW_VALUE_COUNT; v++)
        gw_json_kv_uint(j, value_names[v], t->evicted_by_value[v] + f->evicted_by_value[v]);
    gw_json_object_end(j);
    gw_json_kv_uint(j, "table_bytes", s->flows ? gw_flow_table_memory(s->flows) : 0);
    gw_json_object_end(j);
}

static void stats_apps(struct gw_json *j, const struct gw_sensor *s)
{
    gw_json_key(j, "reassembly");
    gw_json_object_begin(j);
    gw_json_kv_uint(j, "memcap", s->budget.cap);
    gw_json_kv_uint(j, "held_bytes", s->budget.used);
    gw_json_kv_uint(j, "refused", s->budget.refused);
    gw_json_object_end(j);
    gw_json_key(j, "http2");
    gw_json_object_begin(j);
    gw_json_kv_uint(j, "frames_to_server", s->h2_totals.frames[0]);
    gw_json_kv_uint(j, "frames_to_client", s->h2_totals.frames[1]);
    gw_json_kv_uint(j, "header_blocks", s->h2_totals.headers_blocks);
    gw_json_kv_uint(j, "anomalies", s->h2_totals.anomalies);
    gw_json_object_end(j);
    gw_json_key(j, "grpc");
    gw_json_object_begin(j);
    gw_json_kv_uint(j, "calls", s->grpc_totals.calls);
    gw_json_kv_uint(j, "non_grpc_streams", s->grpc_totals.non_grpc_streams);
    gw_json_kv_uint(j, "request_messages", s->grpc_totals.messages[0]);
    gw_json_kv_uint(j, "response_messages", s->grpc_totals.messages[1]);
    gw_json_object_end(j);
}

static void stats_records(struct gw_json *j, const struct gw_sensor *s)
{
    struct gw_sink_stats os;
    gw_router_stats(s->out, &os);
    const struct gw_sink_stats *o = &os;
    gw_json_key(j, "records");
    gw_json_object_begin(j);
    gw_json_kv_uint(j, "grpc", s->n.grpc_records);
    gw_json_kv_uint(j, "alert", s->n.alert_records);
    gw_json_kv_uint(j, "tls", s->n.tls_records);
    gw_json_kv_uint(j, "anomaly", s->n.anomaly_records);
    gw_json_kv_uint(j, "anomalies_suppressed", s->n.anomalies_suppressed);
    gw_json_kv_uint(j, "reset_calls_suppressed", s->n.calls_quieted);
    gw_json_kv_uint(j, "oversize", s->n.records_oversize);
    gw_json_kv_uint(j, "written", o->records);
    gw_json_kv_uint(j, "write_errors", o->write_errors);
    gw_json_kv_uint(j, "dropped", o->dropped_records);
    gw_json_kv_uint(j, "reconnects", o->reconnects);
    gw_json_kv_uint(j, "retries", o->retries);
    gw_json_object_end(j);
}

void gw_sensor_set_capture_counters(struct gw_sensor *s, gw_capture_counters_fn fn, void *user)
{
    s->capture_counters = fn;
    s->capture_user = user;
}

void gw_sensor_write_stats(struct gw_sensor *s, gw_time_us ts)
{
    struct gw_json *j = &s->json;
    struct gw_capture_counters cc = { 0 };
    if (s->capture_counters) s->capture_counters(s->capture_user, &cc);
    gw_json_reset(j);
    gw_record_begin_event(j, ts, "stats");
    gw_json_key(j, "stats");
    gw_json_object_begin(j);
    gw_json_key(j, "capture");
    gw_json_object_begin(j);
    gw_json_kv_uint(j, "packets", cc.packets);
    gw_json_kv_uint(j, "kernel_received", cc.kernel_received);
    gw_json_kv_uint(j, "kernel_dropped", cc.kernel_dropped);
    gw_json_kv_uint(j, "bad_timestamps", cc.bad_timestamps);
    gw_json_object_end(j);
    stats_decode(j, gw_decoder_stats(s->decoder));
    stats_flows(j, s);
    stats_apps(j, s);
    stats_records(j, s);
    gw_json_object_end(j);
    record_emit(s, "stats");
}
