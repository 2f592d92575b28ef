/*
 * fuzz_h2.c - the passive HTTP/2 parser (h2.c: frames, hpack.c from the
 * start or started unknown for mid-stream connections, the mid-stream sniffer)
 * and the gRPC session on top (grpc.c, policy.c, record.c).
 *
 * Input:
 *   byte 0   bits 0-1  limits: 0 the sensor's defaults, 1 tiny (1 stream,
 *                      no header table, 1 KiB lists), 2 small, 3 all zero
 *                      (h2.c's own defaults)
 *            bit 2     session marked mid-stream
 *            bit 3     the client preface is fed first (so mutations need
 *                      not keep it intact)
 *            bit 4     a mid-stream connection (gw_h2_conn_create_midstream):
 *                      it searches each direction's first frame boundary
 *                      itself, unless bit 2 is set too (then both
 *                      directions are declared at a boundary,
 *                      gw_h2_conn_set_boundary); the bytes of each
 *                      direction also go through gw_h2_sniff_feed as they
 *                      arrive
 *            bits 5-7  0 or 7: destroy only; 1..6: gw_h2_conn_close with
 *                      reason (value - 1) first
 *   then chunks, each a control byte c and its operands:
 *            bit 0     direction (0 client -> server, 1 server -> client)
 *            bits 1-2  0: n = next byte + 1 bytes of data follow
 *                      1: n = next 2 bytes (big-endian) of data follow
 *                      2: an event, next byte e: e < 0xf0 a gap of e bytes
 *                         in that direction, else gw_h2_conn_set_one_sided
 *                         with that direction present
 *                      3: the rest of the input is data
 *            bits 3-7  packet time advances by that many milliseconds
 * so the fuzzer picks chunk boundaries and the interleaving of both
 * directions; a short input simply ends the stream.
 *
 * Beyond the sanitizers it checks h2.h's contract: on_stream_end exactly
 * once per begun stream (all ended after close/destroy), callbacks only for
 * live streams, never more open streams than max_streams, reported header
 * fields of one block within max_header_list, a failed direction never
 * calls back again and feed() says it failed exactly when dir_ok() does;
 * for the sniffer, that a decision of the incremental form is the one the
 * one-shot form gives on the same bytes and lies within the candidate
 * window; and, per finished call, NUL-terminated bounded strings and a grpc
 * and an alert record that are each one valid JSON line.
 */
#include "fuzz_common.h"

#include "grpcwatch/grpc.h"
#include "grpcwatch/h2.h"
#include "grpcwatch/policy.h"
#include "grpcwatch/record.h"

#define MAX_LIVE 512          /* the largest max_streams of the profiles */
#define RECORD_BUF (64 * 1024)
#define FIELD_OVERHEAD 32     /* RFC 9113 6.5.2 */

struct live_stream {
    struct gw_h2_stream *s;
    uint64_t block[2];        /* reported field bytes of the open block, by dir */
};

struct probe {
    struct gw_grpc_session *grpc;
    struct gw_policy *policy;
    struct gw_h2_limits lim;  /* as given; 0 = h2.c's default, not checked */
    struct live_stream live[MAX_LIVE];
    unsigned n_live;
    unsigned callbacks;       /* calls seen since the counter was reset */
    uint64_t begun, ended;
    char *json;
    /* mid-stream mode: each direction's bytes until the sniffer decides */
    struct gw_h2_sniff sniff[2];
    uint8_t *sniff_buf[2];
    size_t sniff_len[2];
    bool sniff_done[2];
};

static const struct gw_h2_limits profiles[4] = {
    { 512, 65536, 262144, NULL }, /* the sensor's defaults (conf/grpcwatch.yaml) */
    { 1, 0, 1024, NULL },
    { 4, 256, 2048, NULL },
    { 0, 0, 0, NULL },
};

static struct live_stream *find_live(struct probe *pr, const struct gw_h2_stream *s)
{
    for (unsigned i = 0; i < pr->n_live; i++)
        if (pr->live[i].s == s) return &pr->live[i];
    return NULL;
}

static struct live_stream *must_be_live(struct probe *pr, const struct gw_h2_stream *s, const char *cb)
{
    FZ_CHECK(s != NULL, "%s with a NULL stream", cb);
    struct live_stream *l = find_live(pr, s);
    FZ_CHECK(l != NULL, "%s for stream %u that is not open", cb, s->id);
    return l;
}

#define GRPC_CB(name, ...)                                               \
    do {                                                                 \
        const struct gw_h2_callbacks *g_ = gw_grpc_h2_callbacks();       \
        if (g_->name) g_->name(pr->grpc, __VA_ARGS__);                   \
    } while (0)

static void on_stream_begin(void *user, struct gw_h2_stream *s, gw_time_us ts)
{
    struct probe *pr = user;
    pr->callbacks++;
    FZ_CHECK(s != NULL, "begin with a NULL stream");
    FZ_CHECK(find_live(pr, s) == NULL, "stream %u begun twice", s->id);
    for (unsigned i = 0; i < pr->n_live; i++)
        FZ_CHECK(pr->live[i].s->id != s->id, "two open streams with id %u", s->id);
    FZ_CHECK(s->id != 0, "stream id 0 begun");
    unsigned cap = pr->lim.max_streams ? pr->lim.max_streams : MAX_LIVE;
    FZ_CHECK(pr->n_live < cap, "stream %u is open stream number %u (max_streams %u)", s->id,
             pr->n_live + 1, cap);
    pr->live[pr->n_live++] = (struct live_stream){ s, { 0, 0 } };
    pr->begun++;
    GRPC_CB(on_stream_begin, s, ts);
}

static void on_header(void *user, struct gw_h2_stream *s, int dir, const uint8_t *name,
                      size_t namelen, const uint8_t *value, size_t valuelen)
{
    struct probe *pr = user;
    pr->callbacks++;
    struct live_stream *l = must_be_live(pr, s, "on_header");
    FZ_CHECK(dir == 0 || dir == 1, "dir %d", dir);
    FZ_CHECK((name || !namelen) && (value || !valuelen), "NULL field pointers");
    l->block[dir] += namelen + valuelen + FIELD_OVERHEAD;
    FZ_CHECK(!pr->lim.max_header_list || l->block[dir] <= pr->lim.max_header_list,
             "stream %u dir %d: %llu field bytes reported, max_header_list %u", s->id, dir,
             (unsigned long long)l->block[dir], pr->lim.max_header_list);
    GRPC_CB(on_header, s, dir, name, namelen, value, valuelen);
}

static void on_headers_end(void *user, struct gw_h2_stream *s, int dir, bool end_stream)
{
    struct probe *pr = user;
    pr->callbacks++;
    struct live_stream *l = must_be_live(pr, s, "on_headers_end");
    FZ_CHECK(dir == 0 || dir == 1, "dir %d", dir);
    l->block[dir] = 0;
    GRPC_CB(on_headers_end, s, dir, end_stream);
}

static void on_data(void *user, struct gw_h2_stream *s, int dir, const uint8_t *p, size_t n)
{
    struct probe *pr = user;
    pr->callbacks++;
    must_be_live(pr, s, "on_data");
    FZ_CHECK(dir == 0 || dir == 1, "dir %d", dir);
    FZ_CHECK(p || !n, "NULL data");
    GRPC_CB(on_data, s, dir, p, n);
}

static void on_data_end(void *user, struct gw_h2_stream *s, int dir)
{
    struct probe *pr = user;
    pr->callbacks++;
    must_be_live(pr, s, "on_data_end");
    FZ_CHECK(dir == 0 || dir == 1, "dir %d", dir);
    GRPC_CB(on_data_end, s, dir);
}

static void on_rst_stream(void *user, struct gw_h2_stream *s, int dir, uint32_t code)
{
    struct probe *pr = user;
    pr->callbacks++;
    must_be_live(pr, s, "on_rst_stream");
    FZ_CHECK(dir == 0 || dir == 1, "dir %d", dir);
    GRPC_CB(on_rst_stream, s, dir, code);
}

static void on_stream_end(void *user, struct gw_h2_stream *s, int reason, gw_time_us ts)
{
    struct probe *pr = user;
    pr->callbacks++;
    struct live_stream *l = must_be_live(pr, s, "on_stream_end");
    FZ_CHECK(reason >= GW_END_STREAM && reason <= GW_END_EOF, "end reason %d", reason);
    *l = pr->live[--pr->n_live];
    pr->ended++;
    GRPC_CB(on_stream_end, s, reason, ts);
}

static void on_goaway(void *user, int dir, uint32_t last_stream_id, uint32_t error_code)
{
    struct probe *pr = user;
    pr->callbacks++;
    FZ_CHECK(dir == 0 || dir == 1, "dir %d", dir);
    GRPC_CB(on_goaway, dir, last_stream_id, error_code);
}

static void on_anomaly(void *user, int dir, int code, uint32_t stream_id)
{
    struct probe *pr = user;
    pr->callbacks++;
    FZ_CHECK(dir == 0 || dir == 1, "dir %d", dir);
    FZ_CHECK(code >= GW_H2_ANOM_BAD_PREFACE && code <= GW_H2_ANOM_GAP, "anomaly code %d", code);
    FZ_CHECK(gw_h2_anomaly_str(code) != NULL, "no name for anomaly %d", code);
    GRPC_CB(on_anomaly, dir, code, stream_id);
}

static void on_frame(void *user, int dir, uint8_t type, uint8_t flags, uint32_t stream_id,
                     uint32_t length, gw_time_us ts)
{
    struct probe *pr = user;
    pr->callbacks++;
    FZ_CHECK(dir == 0 || dir == 1, "dir %d", dir);
    FZ_CHECK(length <= 0xffffff && stream_id <= 0x7fffffff, "frame header out of range");
    GW_UNUSED(type);
    GW_UNUSED(flags);
    GW_UNUSED(ts);
}

static const struct gw_h2_callbacks probe_callbacks = {
    .on_stream_begin = on_stream_begin,
    .on_header = on_header,
    .on_headers_end = on_headers_end,
    .on_data = on_data,
    .on_data_end = on_data_end,
    .on_rst_stream = on_rst_stream,
    .on_stream_end = on_stream_end,
    .on_goaway = on_goaway,
    .on_anomaly = on_anomaly,
    .on_frame = on_frame,
};

/* ---- finished calls ---------------------------------------------------------- */

static bool terminated(const char *s, size_t cap) { return memchr(s, '\0', cap) != NULL; }

static void check_call_strings(const struct gw_grpc_call *c)
{
    FZ_CHECK(terminated(c->path, sizeof c->path), "path");
    FZ_CHECK(terminated(c->service, sizeof c->service), "service");
    FZ_CHECK(terminated(c->method, sizeof c->method), "method");
    const struct gw_grpc_str *strs[] = { &c->authority, &c->content_type, &c->user_agent,
                                         &c->grpc_message, &c->grpc_encoding };
    for (size_t i = 0; i < GW_ARRAY_LEN(strs); i++) FZ_CHECK(terminated(strs[i]->s, GW_GRPC_FIELD_MAX), "field %zu", i);
    FZ_CHECK(c->n_metadata_keys <= GW_GRPC_MAX_KEYS, "n_metadata_keys %u", c->n_metadata_keys);
    for (unsigned i = 0; i < c->n_metadata_keys; i++)
        FZ_CHECK(terminated(c->metadata_keys[i], GW_GRPC_KEY_MAX), "metadata key %u", i);
    if (c->service[0])
        FZ_CHECK(strlen(c->service) + strlen(c->method) + 2 == strlen(c->path),
                 "path '%s' split into '%s' and '%s'", c->path, c->service, c->method);
    FZ_CHECK(c->ended_by <= GW_END_EOF, "ended_by %u", c->ended_by);
}

static void write_record(struct probe *pr, struct gw_grpc_call *call, const struct gw_alert *alert)
{
    struct gw_json j;
    struct gw_addr a = { .family = 6, .bytes = { 0xfe, 0x80, [15] = 1 } };
    struct gw_addr b = { .family = 4, .bytes = { 192, 0, 2, 1 } };
    struct gw_record_head h = {
        .ts = call->start_ts, .event_type = alert ? "alert" : "grpc", .flow_id = 42,
        .community_id = "1:xxxxxxxxxxxxxxxxxxxxxxxxxxxx=", .src = &a, .dst = &b,
        .sport = 40000, .dport = 50051, .app_proto = "grpc",
    };
    struct gw_record_loss loss = {
        .gap_bytes = { 1, 0 }, .gaps = { 1, 0 }, .stopped = { 0, 1 }, .resynced = { 1, 0 },
    };
    gw_json_init(&j, pr->json, RECORD_BUF);
    gw_record_begin(&j, &h);
    if (alert) gw_record_alert_object(&j, alert);
    gw_record_grpc_object(&j, call);
    gw_record_loss_object(&j, &loss);
    gw_json_object_end(&j);
    if (!gw_json_finish(&j)) return; /* dropped and counted by the sensor */
    FZ_CHECK(fz_json_line_valid(j.buf, j.len), "invalid JSON: %.*s", (int)j.len, j.buf);
}

static void on_call(void *user, struct gw_grpc_call *call)
{
    struct probe *pr = user;
    check_call_strings(call);
    struct gw_alert alert;
    bool alerts = gw_policy_evaluate(pr->policy, call, &alert);
    write_record(pr, call, NULL);
    if (alerts) write_record(pr, call, &alert);
}

/* ---- driving the connection ------------------------------------------------------ */

/* The incremental sniffer over the bytes of dir so far, against the
 * one-shot form on the same bytes. */
static void sniff(struct probe *pr, int dir, const uint8_t *p, size_t n)
{
    if (pr->sniff_done[dir] || !pr->sniff_buf[dir]) return;
    size_t room = GW_H2_SNIFF_MAX_NEED - pr->sniff_len[dir];
    size_t k = GW_MIN(n, room);
    memcpy(pr->sniff_buf[dir] + pr->sniff_len[dir], p, k);
    pr->sniff_len[dir] += k;
    const uint8_t *buf = pr->sniff_buf[dir];
    size_t len = pr->sniff_len[dir], off = 0, off1 = 0;
    int rc = gw_h2_sniff_feed(&pr->sniff[dir], buf, len, &off);
    FZ_CHECK(rc == GW_OK || rc == GW_ERR_NEED_MORE || rc == GW_ERR_UNSUPPORTED, "sniff rc %d", rc);
    if (rc == GW_ERR_NEED_MORE) {
        FZ_CHECK(len < GW_H2_SNIFF_MAX_NEED, "undecided after %zu bytes", len);
        return;
    }
    pr->sniff_done[dir] = true;
    int rc1 = gw_h2_sniff(buf, len, &off1);
    FZ_CHECK(rc1 == rc && (rc != GW_OK || off1 == off),
             "dir %d, %zu bytes: incremental sniff says %d at %zu, one-shot %d at %zu", dir, len, rc,
             off, rc1, off1);
    if (rc != GW_OK) return;
    FZ_CHECK(off <= GW_H2_SNIFF_MAX_FRAME + 8 && off < len, "boundary at %zu of %zu", off, len);
    int role = gw_h2_sniff_role(buf + off, len - off);
    FZ_CHECK(role >= -1 && role <= 1, "role %d", role);
}

static void feed(struct probe *pr, struct gw_h2_conn *c, int dir, const uint8_t *p, size_t n,
                 gw_time_us ts)
{
    sniff(pr, dir, p, n);
    bool was_ok = gw_h2_conn_dir_ok(c, dir);
    pr->callbacks = 0;
    int rc = gw_h2_conn_feed(c, dir, p, n, ts);
    FZ_CHECK(was_ok || pr->callbacks == 0, "failed direction %d made %u callbacks", dir, pr->callbacks);
    FZ_CHECK((rc == GW_OK) == gw_h2_conn_dir_ok(c, dir), "feed rc %d but dir_ok %d", rc,
             gw_h2_conn_dir_ok(c, dir));
    FZ_CHECK(gw_h2_conn_stats(c)->open_streams == pr->n_live, "stats say %llu open, %u begun not ended",
             (unsigned long long)gw_h2_conn_stats(c)->open_streams, pr->n_live);
}

static void gap(struct probe *pr, struct gw_h2_conn *c, int dir, size_t len, gw_time_us ts)
{
    bool was_ok = gw_h2_conn_dir_ok(c, dir);
    pr->callbacks = 0;
    gw_h2_conn_gap(c, dir, len, ts);
    FZ_CHECK(was_ok || pr->callbacks == 0, "gap on failed direction %d made %u callbacks", dir,
             pr->callbacks);
}

static void run_chunks(struct probe *pr, struct gw_h2_conn *c, struct fz_in *in, gw_time_us *ts)
{
    while (fz_left(in) > 0) {
        uint8_t ctl = fz_u8(in);
        int dir = ctl & 1;
        size_t want, got;
        *ts += (gw_time_us)(ctl >> 3) * 1000;
        switch ((ctl >> 1) & 3) {
        case 0: want = (size_t)fz_u8(in) + 1; break;
        case 1: want = fz_be16(in); break;
        case 2: {
            uint8_t e = fz_u8(in);
            if (e < 0xf0) gap(pr, c, dir, e, *ts);
            else gw_h2_conn_set_one_sided(c, dir);
            continue;
        }
        default: want = fz_left(in); break;
        }
        const uint8_t *p = fz_bytes(in, want, &got);
        feed(pr, c, dir, p, got, *ts);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = fz_in_make(data, size);
    uint8_t flags = fz_u8(&in);
    struct gw_config cfg;
    gw_time_us ts = 1700000000000000LL;

    struct probe *pr = calloc(1, sizeof *pr);
    FZ_CHECK(pr != NULL, "calloc");
    fz_small_config(&cfg);
    pr->lim = profiles[flags & 3];
    pr->policy = gw_policy_create(&cfg);
    pr->grpc = gw_grpc_session_create(NULL, on_call, pr);
    pr->json = malloc(RECORD_BUF);
    FZ_CHECK(pr->policy && pr->grpc && pr->json, "setup");
    gw_grpc_session_set_midstream(pr->grpc, (flags & 4) != 0);
    bool midstream = (flags & 0x10) != 0;
    struct gw_h2_conn *c = midstream ? gw_h2_conn_create_midstream(&pr->lim, &probe_callbacks, pr)
                                     : gw_h2_conn_create(&pr->lim, &probe_callbacks, pr);
    FZ_CHECK(c != NULL, "gw_h2_conn_create");
    FZ_CHECK(gw_h2_conn_is_midstream(c) == midstream, "is_midstream");
    for (int d = 0; midstream && (flags & 4) && d < 2; d++)
        FZ_CHECK(gw_h2_conn_set_boundary(c, d) == GW_OK, "set_boundary before any byte");
    for (int d = 0; midstream && d < 2; d++) {
        gw_h2_sniff_init(&pr->sniff[d], 0);
        pr->sniff_buf[d] = malloc(GW_H2_SNIFF_MAX_NEED);
        FZ_CHECK(pr->sniff_buf[d] != NULL, "malloc");
    }

    if (flags & 8) feed(pr, c, GW_DIR_TO_SERVER, (const uint8_t *)GW_H2_PREFACE, GW_H2_PREFACE_LEN, ts);
    run_chunks(pr, c, &in, &ts);

    unsigned close = flags >> 5;
    if (close >= 1 && close <= 6) {
        gw_h2_conn_close(c, (int)close - 1, ts);
        FZ_CHECK(pr->n_live == 0, "%u streams open after close", pr->n_live);
    }
    gw_h2_conn_destroy(c);
    FZ_CHECK(pr->n_live == 0 && pr->begun == pr->ended, "%llu begun, %llu ended",
             (unsigned long long)pr->begun, (unsigned long long)pr->ended);

    gw_grpc_session_destroy(pr->grpc);
    gw_policy_destroy(pr->policy);
    free(pr->json);
    free(pr->sniff_buf[0]);
    free(pr->sniff_buf[1]);
    free(pr);
    return 0;
}
