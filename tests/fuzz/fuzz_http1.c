/*
 * fuzz_http1.c - the passive HTTP/1.x parser (http1.c: heads, bodies,
 * pipelining, protocol switches, gRPC-Web calls) and the record JSON of the
 * calls it hands on.
 *
 * Input (the chunk format of fuzz_h2.c, so mkcorpus.py writes both alike):
 *   byte 0   bits 0-1  the end: 0 destroy only; 1 FIN of both directions,
 *                      then destroy; 2 gw_http1_conn_close(CONN_CLOSED);
 *                      3 gw_http1_conn_close(reason = bits 5-7 % 6)
 *            bit 2     differential: the same chunks are fed again to a
 *                      second connection one byte at a time
 *   then chunks, each a control byte c and its operands:
 *            bit 0     direction (0 client -> server, 1 server -> client)
 *            bits 1-2  0: n = next byte + 1 bytes of data follow
 *                      1: n = next 2 bytes (big-endian) of data follow
 *                      2: an event, next byte e: 0xe0..0xe5
 *                         gw_http1_conn_close(reason e - 0xe0), the feeds
 *                         going on after it; else e < 0xf0 a gap of e + 1
 *                         bytes in that direction; else FIN of it
 *                      3: the rest of the input is data
 *            bits 3-7  packet time advances by that many milliseconds
 *
 * Beyond the sanitizers it checks http1.h's contract:
 *  - feed: GW_OK consumes everything; otherwise *consumed <= n; errors are
 *    sticky (the same code, nothing consumed, no callback for that
 *    direction); after GW_ERR_UNSUPPORTED the direction has switched:
 *    gw_http1_conn_switched says so, on_switch was called exactly once for
 *    it, with its kind, before or during that feed, and later feeds answer
 *    GW_ERR_UNSUPPORTED with *consumed = 0;
 *  - a final response answers request n (the n-th final response) when
 *    request n was parsed by then, else request_seq is 0 ("not known");
 *    a 1xx answers nothing;
 *  - after gw_http1_conn_fin of a direction its feeds and gaps are
 *    ignored: GW_OK with everything consumed, unless it had failed or
 *    switched (then its sticky answer); no callback, no stats change;
 *  - every slice a callback gets is readable in full (ASan checks the
 *    bytes), statuses are 100..999, field-name counts within bounds,
 *    held_len <= GW_HTTP1_HOLD_MAX, and no head or body callback comes for
 *    a direction that failed or switched;
 *  - the stats agree with the callbacks (requests, responses, body bytes,
 *    gRPC-Web calls);
 *  - after destroy every gRPC request was handed on exactly once as a call
 *    (or counted untracked), whatever closes came between the feeds;
 *  - each gRPC-Web call has bounded NUL-terminated strings and gives one
 *    valid JSON line;
 *  - chunking does not matter: fed one byte at a time, the same chunks give
 *    the same callbacks counts, stats, switch kinds, per-direction results
 *    split of each direction between HTTP/1.x and the new protocol (bit 2);
 *  - gw_http1_sniff_request, _response and _request_line answer every
 *    prefix of each direction's first chunk consistently: once decided,
 *    the answer holds for every longer prefix.
 */
#include "fuzz_common.h"

#include "grpcwatch/grpc.h"
#include "grpcwatch/h2.h"
#include "grpcwatch/grpcweb.h"
#include "grpcwatch/http1.h"
#include "grpcwatch/record.h"

#define RECORD_BUF (64 * 1024)
#define SNIFF_PREFIX 24       /* method / status-line sniffers decide within this */
#define SNIFF_LINE_PREFIX 300 /* request-line sniffer: every prefix up to this */

/* What one run observed; two runs over the same chunks must agree. */
struct tally {
    uint64_t requests, responses, body[2], message_ends[2], switches[2], web_calls;
    uint64_t grpc_requests;   /* requests that open a gRPC-Web call (or are untracked) */
    uint64_t final_responses; /* responses other than 1xx (101 is final) */
    uint64_t consumed[2];     /* taken by feeds before a switch or an error */
    uint64_t held[2];         /* of those, handed back by on_switch */
    uint64_t new_proto[2];    /* bytes the new protocol gets: held + the rest */
    int result[2];            /* last feed result per direction, 0 none */
    int switch_kind[2];
};

struct probe {
    struct gw_http1_conn *c;
    struct tally t;
    bool dead[2];             /* failed or switched: no HTTP/1 callbacks for it */
    bool fin[2];              /* gw_http1_conn_fin ran for it */
    bool quiet;               /* in a feed or gap after FIN: no callback at all */
    bool resumed;             /* a final response came: a waiting client may have
                               * parsed (and failed on) what it held */
    bool in_feed;
    uint64_t sink;            /* bytes read from slices, so the reads happen */
    char json[RECORD_BUF];
};

static void touch(struct probe *pr, const struct gw_http1_str *s)
{
    if (s->p == NULL) {
        FZ_CHECK(s->n == 0, "absent slice with length %zu", s->n);
        return;
    }
    for (size_t i = 0; i < s->n; i++) pr->sink += s->p[i];
}

static void check_head(struct probe *pr, const struct gw_http1_head *h)
{
    FZ_CHECK(h->n_names <= GW_HTTP1_MAX_FIELDS, "n_names %u", h->n_names);
    FZ_CHECK(h->version_minor <= 9, "version_minor %u", h->version_minor);
    touch(pr, &h->content_type);
    touch(pr, &h->upgrade);
    touch(pr, &h->connection);
    for (unsigned i = 0; i < h->n_names; i++) {
        FZ_CHECK(h->names[i].p != NULL && h->names[i].n > 0, "empty field name %u", i);
        touch(pr, &h->names[i]);
    }
}

static void on_request(void *user, const struct gw_http1_request *req)
{
    struct probe *pr = user;
    FZ_CHECK(!pr->quiet, "callback during a feed after FIN");
    FZ_CHECK(!pr->dead[GW_DIR_TO_SERVER], "request after the client direction ended");
    pr->t.requests++;
    FZ_CHECK(req->seq == pr->t.requests, "request seq %u, expected %llu", req->seq,
             (unsigned long long)pr->t.requests);
    check_head(pr, &req->h);
    FZ_CHECK(req->method.p != NULL && req->method.n > 0, "request without method");
    touch(pr, &req->method);
    touch(pr, &req->target);
    touch(pr, &req->host);
    touch(pr, &req->user_agent);
    touch(pr, &req->http2_settings);
    FZ_CHECK(!req->is_connect || req->asks_switch, "CONNECT that does not ask to switch");
    if (req->grpc && !req->is_connect) pr->t.grpc_requests++;
}

static void on_response(void *user, const struct gw_http1_response *resp)
{
    struct probe *pr = user;
    FZ_CHECK(!pr->quiet, "callback during a feed after FIN");
    FZ_CHECK(!pr->dead[GW_DIR_TO_CLIENT], "response after the server direction ended");
    pr->t.responses++;
    check_head(pr, &resp->h);
    FZ_CHECK(resp->status >= 100 && resp->status <= 999, "status %d", resp->status);
    FZ_CHECK(resp->switch_kind <= GW_HTTP1_SWITCH_OTHER, "switch_kind %u", resp->switch_kind);
    /* responses answer requests in order: the n-th final response answers
     * request n, "0 if not known" (not parsed yet: the client failed before
     * it, or the response came first) */
    if (resp->informational) {
        FZ_CHECK(resp->request_seq == 0, "1xx answers request %u", resp->request_seq);
    } else {
        pr->t.final_responses++;
        pr->resumed = true;
        uint64_t want = pr->t.final_responses <= pr->t.requests ? pr->t.final_responses : 0;
        FZ_CHECK(resp->request_seq == want, "final response %llu answers request %u of %llu seen",
                 (unsigned long long)pr->t.final_responses, resp->request_seq,
                 (unsigned long long)pr->t.requests);
    }
    touch(pr, &resp->reason);
}

static void on_body(void *user, int dir, const uint8_t *p, size_t n)
{
    struct probe *pr = user;
    FZ_CHECK(!pr->quiet, "callback during a feed after FIN");
    FZ_CHECK(dir == 0 || dir == 1, "dir %d", dir);
    FZ_CHECK(!pr->in_feed || !pr->dead[dir], "body bytes after direction %d ended", dir);
    FZ_CHECK(p != NULL || n == 0, "body without bytes");
    for (size_t i = 0; i < n; i++) pr->sink += p[i];
    pr->t.body[dir] += n;
}

static void on_message_end(void *user, int dir)
{
    struct probe *pr = user;
    FZ_CHECK(!pr->quiet, "callback during a feed after FIN");
    FZ_CHECK(dir == 0 || dir == 1, "dir %d", dir);
    pr->t.message_ends[dir]++;
}

static void on_switch(void *user, int dir, int kind, const uint8_t *held, size_t held_len)
{
    struct probe *pr = user;
    FZ_CHECK(!pr->quiet, "callback during a feed after FIN");
    FZ_CHECK(dir == 0 || dir == 1, "dir %d", dir);
    FZ_CHECK(kind > GW_HTTP1_SWITCH_NONE && kind <= GW_HTTP1_SWITCH_OTHER, "switch kind %d", kind);
    FZ_CHECK(pr->t.switches[dir] == 0, "direction %d switched twice", dir);
    FZ_CHECK(held_len <= GW_HTTP1_HOLD_MAX, "held %zu bytes", held_len);
    FZ_CHECK(held != NULL || held_len == 0, "held bytes missing");
    FZ_CHECK(gw_http1_switch_str(kind) != NULL, "no name for switch kind %d", kind);
    for (size_t i = 0; i < held_len; i++) pr->sink += held[i];
    pr->t.held[dir] += held_len;
    pr->t.new_proto[dir] += held_len;
    pr->t.switches[dir]++;
    pr->t.switch_kind[dir] = kind;
}

static bool terminated(const char *s, size_t cap) { return memchr(s, '\0', cap) != NULL; }

static void on_grpc_web_call(void *user, struct gw_grpc_call *call)
{
    struct probe *pr = user;
    FZ_CHECK(!pr->quiet, "callback during a feed after FIN");
    pr->t.web_calls++;
    FZ_CHECK(terminated(call->path, sizeof call->path), "path");
    FZ_CHECK(terminated(call->service, sizeof call->service), "service");
    FZ_CHECK(terminated(call->method, sizeof call->method), "method");
    const struct gw_grpc_str *strs[] = { &call->authority, &call->content_type, &call->user_agent,
                                         &call->grpc_message, &call->grpc_encoding };
    for (size_t i = 0; i < GW_ARRAY_LEN(strs); i++)
        FZ_CHECK(terminated(strs[i]->s, GW_GRPC_FIELD_MAX), "field %zu", i);
    FZ_CHECK(call->n_metadata_keys <= GW_GRPC_MAX_KEYS, "n_metadata_keys %u", call->n_metadata_keys);
    for (unsigned i = 0; i < call->n_metadata_keys; i++)
        FZ_CHECK(terminated(call->metadata_keys[i], GW_GRPC_KEY_MAX), "metadata key %u", i);
    FZ_CHECK(call->ended_by <= GW_END_EOF, "ended_by %u", call->ended_by);
    FZ_CHECK(call->stream_id >= 1 && call->stream_id <= pr->t.requests, "call of request %u of %llu",
             call->stream_id, (unsigned long long)pr->t.requests);

    struct gw_json j;
    struct gw_addr a = { .family = 4, .bytes = { 192, 0, 2, 1 } };
    struct gw_addr b = { .family = 4, .bytes = { 192, 0, 2, 2 } };
    struct gw_record_head h = {
        .ts = call->start_ts, .event_type = "grpc", .flow_id = 7,
        .community_id = "1:xxxxxxxxxxxxxxxxxxxxxxxxxxxx=", .src = &a, .dst = &b,
        .sport = 40000, .dport = 8080, .app_proto = "grpc-web",
    };
    gw_json_init(&j, pr->json, RECORD_BUF);
    gw_record_begin(&j, &h);
    gw_record_grpc_object(&j, call);
    gw_json_object_end(&j);
    if (!gw_json_finish(&j)) return; /* too long: dropped and counted by the sensor */
    FZ_CHECK(fz_json_line_valid(j.buf, j.len), "invalid JSON: %.*s", (int)j.len, j.buf);
}

static const struct gw_http1_callbacks probe_callbacks = {
    .on_request = on_request,
    .on_response = on_response,
    .on_body = on_body,
    .on_message_end = on_message_end,
    .on_switch = on_switch,
    .on_grpc_web_call = on_grpc_web_call,
};

/* ---- feeding ---------------------------------------------------------------- */

static bool is_sticky(int rc)
{
    return rc == GW_ERR_MALFORMED || rc == GW_ERR_LIMIT || rc == GW_ERR_NOMEM ||
           rc == GW_ERR_TRUNCATED;
}

/* Checks one feed's answer against the direction's history. */
static void after_feed(struct probe *pr, int dir, int rc, size_t n, size_t consumed)
{
    int before = pr->t.result[dir];
    FZ_CHECK(rc == GW_OK || rc == GW_ERR_UNSUPPORTED || is_sticky(rc), "feed returned %d", rc);
    if (rc == GW_OK) FZ_CHECK(consumed == n, "GW_OK consumed %zu of %zu", consumed, n);
    FZ_CHECK(consumed <= n, "consumed %zu of %zu", consumed, n);
    if (is_sticky(before) || before == GW_ERR_UNSUPPORTED) {
        FZ_CHECK(rc == before, "direction %d answered %d after %d", dir, rc, before);
        FZ_CHECK(consumed == 0, "consumed %zu after the direction ended", consumed);
    }
    if (rc == GW_ERR_UNSUPPORTED) {
        FZ_CHECK(pr->t.switches[dir] == 1, "UNSUPPORTED without on_switch for %d", dir);
        FZ_CHECK(gw_http1_conn_switched(pr->c, dir) == pr->t.switch_kind[dir],
                 "switched() %d, on_switch kind %d", gw_http1_conn_switched(pr->c, dir),
                 pr->t.switch_kind[dir]);
    }
    if (!is_sticky(before) && before != GW_ERR_UNSUPPORTED) pr->t.consumed[dir] += consumed;
    if (rc == GW_ERR_UNSUPPORTED) pr->t.new_proto[dir] += n - consumed;
    if (rc != GW_OK) pr->dead[dir] = true;
    pr->t.result[dir] = rc;
}

static void feed(struct probe *pr, int dir, const uint8_t *p, size_t n, gw_time_us ts)
{
    size_t consumed = (size_t)-1;
    pr->in_feed = true;
    int rc = gw_http1_conn_feed(pr->c, dir, p, n, ts, &consumed);
    pr->in_feed = false;
    after_feed(pr, dir, rc, n, consumed);
}

/* After FIN nothing of dir is parsed: GW_OK, all consumed, unless dir had
 * failed (sticky error) or switched (GW_ERR_UNSUPPORTED, nothing consumed).
 * A client can fail unseen only while a server feed resumes what it held. */
static void check_after_fin(struct probe *pr, int dir, int rc, size_t consumed,
                            const struct gw_http1_stats *st)
{
    FZ_CHECK(memcmp(st, gw_http1_conn_stats(pr->c), sizeof *st) == 0,
             "stats changed after FIN of %d", dir);
    int before = pr->t.result[dir];
    if (is_sticky(before) || before == GW_ERR_UNSUPPORTED) return; /* after_feed: same answer */
    if (gw_http1_conn_switched(pr->c, dir)) {
        FZ_CHECK(rc == GW_ERR_UNSUPPORTED && consumed == 0,
                 "switched direction %d after FIN answered %d, consumed %zu", dir, rc, consumed);
    } else if (is_sticky(rc)) {
        FZ_CHECK(dir == GW_DIR_TO_SERVER && pr->resumed && consumed == 0,
                 "direction %d failed after FIN: %d, consumed %zu", dir, rc, consumed);
    } else {
        FZ_CHECK(rc == GW_OK, "feed after FIN of %d returned %d", dir, rc);
    }
}

static void feed_after_fin(struct probe *pr, int dir, const uint8_t *p, size_t n, gw_time_us ts)
{
    struct gw_http1_stats st = *gw_http1_conn_stats(pr->c);
    size_t consumed = (size_t)-1;
    pr->quiet = true;
    int rc = gw_http1_conn_feed(pr->c, dir, p, n, ts, &consumed);
    pr->quiet = false;
    check_after_fin(pr, dir, rc, consumed, &st);
    after_feed(pr, dir, rc, n, consumed);
}

static void feed_bytewise(struct probe *pr, int dir, const uint8_t *p, size_t n, gw_time_us ts)
{
    for (size_t i = 0; i < n; i++) {
        if (pr->fin[dir]) feed_after_fin(pr, dir, p + i, 1, ts);
        else feed(pr, dir, p + i, 1, ts);
    }
}

static void gap(struct probe *pr, int dir, size_t len, gw_time_us ts)
{
    struct gw_http1_stats st = *gw_http1_conn_stats(pr->c);
    pr->quiet = pr->fin[dir];
    int rc = gw_http1_conn_gap(pr->c, dir, len, ts);
    pr->quiet = false;
    if (pr->fin[dir]) check_after_fin(pr, dir, rc, 0, &st);
    FZ_CHECK(rc == GW_OK || rc == GW_ERR_UNSUPPORTED || rc == GW_ERR_TRUNCATED ||
             is_sticky(rc), "gap returned %d", rc);
    if (rc == GW_ERR_UNSUPPORTED)
        FZ_CHECK(gw_http1_conn_switched(pr->c, dir) != 0, "gap: UNSUPPORTED but not switched");
    if (rc != GW_OK) pr->dead[dir] = true;
    /* a gap's error is sticky for the feeds that follow */
    if (is_sticky(rc) && !is_sticky(pr->t.result[dir]) && pr->t.result[dir] != GW_ERR_UNSUPPORTED)
        pr->t.result[dir] = rc;
}

/* Runs the whole input on pr; bytewise feeds each data chunk byte by byte. */
static void run(struct probe *pr, const uint8_t *data, size_t size, bool bytewise)
{
    struct fz_in in = fz_in_make(data, size);
    uint8_t flags = fz_u8(&in);
    gw_time_us ts = 1700000000000000LL;

    while (fz_left(&in) > 0) {
        uint8_t c = fz_u8(&in);
        int dir = c & 1;
        ts += (gw_time_us)(c >> 3) * 1000;
        size_t want = 0, got = 0;
        switch ((c >> 1) & 3) {
        case 0: want = (size_t)fz_u8(&in) + 1; break;
        case 1: want = fz_be16(&in); break;
        case 2: {
            uint8_t e = fz_u8(&in);
            if (e >= 0xe0 && e < 0xe6) {
                /* a close mid-stream (a RST the endpoints ignored): the
                 * connection goes on, and so do the feeds */
                gw_http1_conn_close(pr->c, e - 0xe0, ts);
            } else if (e < 0xf0) {
                gap(pr, dir, (size_t)e + 1, ts);
            } else {
                gw_http1_conn_fin(pr->c, dir, ts);
                pr->fin[dir] = true;
            }
            continue;
        }
        default: want = fz_left(&in); break;
        }
        const uint8_t *p = fz_bytes(&in, want, &got);
        if (got == 0) continue;
        if (bytewise)
            feed_bytewise(pr, dir, p, got, ts);
        else if (pr->fin[dir])
            feed_after_fin(pr, dir, p, got, ts);
        else
            feed(pr, dir, p, got, ts);
    }

    switch (flags & 3) {
    case 1:
        gw_http1_conn_fin(pr->c, 0, ts);
        gw_http1_conn_fin(pr->c, 1, ts);
        break;
    case 2: gw_http1_conn_close(pr->c, GW_END_CONN_CLOSED, ts); break;
    case 3: gw_http1_conn_close(pr->c, (flags >> 5) % 6, ts); break;
    default: break;
    }
}

static void check_stats(const struct probe *pr)
{
    const struct gw_http1_stats *st = gw_http1_conn_stats(pr->c);
    FZ_CHECK(st->requests == pr->t.requests, "stats.requests %llu, callbacks %llu",
             (unsigned long long)st->requests, (unsigned long long)pr->t.requests);
    FZ_CHECK(st->responses == pr->t.responses, "stats.responses %llu, callbacks %llu",
             (unsigned long long)st->responses, (unsigned long long)pr->t.responses);
    for (int d = 0; d < 2; d++)
        FZ_CHECK(st->body_bytes[d] == pr->t.body[d], "stats.body_bytes[%d] %llu, on_body %llu", d,
                 (unsigned long long)st->body_bytes[d], (unsigned long long)pr->t.body[d]);
    const struct gw_grpcweb_stats *ws = gw_http1_conn_web_stats(pr->c);
    FZ_CHECK(ws->calls == pr->t.web_calls, "grpc-web stats.calls %llu, callbacks %llu",
             (unsigned long long)ws->calls, (unsigned long long)pr->t.web_calls);
}

static bool sniff_decided(int rc) { return rc != GW_ERR_NEED_MORE; }

/* Once a prefix is decided, every longer prefix gets the same answer. */
static void check_sniff(int (*sniff)(const uint8_t *, size_t), const uint8_t *p, size_t n,
                        size_t upto)
{
    int decided = GW_ERR_NEED_MORE;
    for (size_t k = 0; k <= GW_MIN(n, upto); k++) {
        uint8_t *copy = malloc(k ? k : 1); /* exactly k bytes: ASan sees overreads */
        FZ_CHECK(copy != NULL, "out of memory");
        if (k) memcpy(copy, p, k);
        int rc = sniff(copy, k);
        free(copy);
        FZ_CHECK(rc == GW_OK || rc == GW_ERR_NEED_MORE || rc == GW_ERR_UNSUPPORTED, "sniff %d", rc);
        if (sniff_decided(decided))
            FZ_CHECK(rc == decided, "sniff of %zu bytes says %d, of fewer %d", k, rc, decided);
        decided = rc;
    }
}

/* The first data chunk's bytes of each direction go to both sniffers. */
static void sniff_first_chunks(const uint8_t *data, size_t size)
{
    struct fz_in in = fz_in_make(data, size);
    bool seen[2] = { false, false };
    fz_u8(&in);
    while (fz_left(&in) > 0 && !(seen[0] && seen[1])) {
        uint8_t c = fz_u8(&in);
        int dir = c & 1;
        size_t want = 0, got = 0;
        switch ((c >> 1) & 3) {
        case 0: want = (size_t)fz_u8(&in) + 1; break;
        case 1: want = fz_be16(&in); break;
        case 2: fz_u8(&in); continue;
        default: want = fz_left(&in); break;
        }
        const uint8_t *p = fz_bytes(&in, want, &got);
        if (got == 0 || seen[dir]) continue;
        seen[dir] = true;
        check_sniff(gw_http1_sniff_request, p, got, SNIFF_PREFIX);
        check_sniff(gw_http1_sniff_response, p, got, SNIFF_PREFIX);
        check_sniff(gw_http1_sniff_request_line, p, got, SNIFF_LINE_PREFIX);
    }
}

static struct probe *probe_new(void)
{
    struct probe *pr = calloc(1, sizeof *pr);
    FZ_CHECK(pr != NULL, "out of memory");
    pr->c = gw_http1_conn_create(NULL, &probe_callbacks, pr);
    FZ_CHECK(pr->c != NULL, "gw_http1_conn_create failed");
    return pr;
}

static void same_tally(const struct tally *a, const struct tally *b)
{
    FZ_CHECK(a->requests == b->requests, "requests %llu vs %llu byte by byte",
             (unsigned long long)a->requests, (unsigned long long)b->requests);
    FZ_CHECK(a->responses == b->responses, "responses %llu vs %llu byte by byte",
             (unsigned long long)a->responses, (unsigned long long)b->responses);
    FZ_CHECK(a->web_calls == b->web_calls, "gRPC-Web calls differ byte by byte");
    for (int d = 0; d < 2; d++) {
        FZ_CHECK(a->body[d] == b->body[d], "body[%d] %llu vs %llu byte by byte", d,
                 (unsigned long long)a->body[d], (unsigned long long)b->body[d]);
        FZ_CHECK(a->message_ends[d] == b->message_ends[d], "message ends [%d] differ", d);
        FZ_CHECK(a->switch_kind[d] == b->switch_kind[d], "switch kind [%d] %d vs %d", d,
                 a->switch_kind[d], b->switch_kind[d]);
        FZ_CHECK(a->result[d] == b->result[d], "direction %d ends %d vs %d byte by byte", d,
                 a->result[d], b->result[d]);
        /* bytes fed one by one may be taken (held) before the switch is
         * known; on_switch hands them back, so the split between HTTP/1.x
         * and the new protocol is the same */
        FZ_CHECK(a->held[d] <= a->consumed[d] && b->held[d] <= b->consumed[d], "held > consumed");
        FZ_CHECK(a->consumed[d] - a->held[d] == b->consumed[d] - b->held[d],
                 "HTTP/1 bytes [%d] %llu vs %llu byte by byte", d,
                 (unsigned long long)(a->consumed[d] - a->held[d]),
                 (unsigned long long)(b->consumed[d] - b->held[d]));
        FZ_CHECK(a->new_proto[d] == b->new_proto[d], "new-protocol bytes [%d] %llu vs %llu", d,
                 (unsigned long long)a->new_proto[d], (unsigned long long)b->new_proto[d]);
    }
}

/* Whatever order close, feed, fin and destroy came in, every call opened
 * has been handed on exactly once when destroy returns (issue #10). */
static void destroy_all_handed_on(struct probe *pr)
{
    uint64_t untracked = gw_http1_conn_web_stats(pr->c)->calls_untracked;
    gw_http1_conn_destroy(pr->c);
    FZ_CHECK(pr->t.web_calls + untracked == pr->t.grpc_requests,
             "%llu calls handed on + %llu untracked, %llu gRPC requests",
             (unsigned long long)pr->t.web_calls, (unsigned long long)untracked,
             (unsigned long long)pr->t.grpc_requests);
    free(pr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    sniff_first_chunks(data, size);

    struct probe *pr = probe_new();
    run(pr, data, size, false);
    check_stats(pr);
    struct tally whole = pr->t;
    destroy_all_handed_on(pr);

    if (data[0] & 4) {
        struct probe *bw = probe_new();
        run(bw, data, size, true);
        check_stats(bw);
        same_tally(&whole, &bw->t);
        destroy_all_handed_on(bw);
    }
    return 0;
}
