/*
 * grpc.c - gRPC calls assembled from the events of one gw_h2_conn.
 *
 * One struct grpc_stream (a gw_grpc_call plus the message framing state of
 * both directions) is allocated when a stream begins and freed when it ends;
 * h2 bounds how many are open at once. Nothing else is allocated.
 *
 * Invariants:
 *  - Header values are copied only for the named fields (path, authority,
 *    content-type, user-agent, grpc-encoding, grpc-message, the two
 *    statuses); every copy is bounded by its buffer, NUL-terminated and
 *    flagged when cut. Metadata keeps names, never values.
 *  - Request fields keep their first value (a later block can not rewrite
 *    the path a server acted on); response fields keep the latest (a final
 *    status follows 1xx heads, trailers follow headers).
 *  - Message framing (1 flag byte, 4-byte big-endian length) is followed
 *    by one gw_grpcframe per direction (grpcframe.h): a few bytes of state,
 *    the payload never copied. A message counts when its 5-byte prefix is
 *    complete.
 *  - A stream is a gRPC call when its request content-type starts with
 *    "application/grpc" (any case). When the request content-type is not
 *    known (no request header seen, as in a capture of the server side
 *    only, or a field of them undecodable mid-stream) the evidence listed
 *    in grpc.h decides; a fully decoded request without one is not gRPC.
 *  - A direction whose content-type is known and not gRPC (an HTML error
 *    page answering a gRPC request) has its DATA counted in bytes only:
 *    its body is not gRPC framing, so it holds no messages.
 *  - A header value of NULL is unknown (mid-stream HPACK): it never sets a
 *    field, so an unknown :path leaves path_present 0 rather than invent one.
 *  - Each direction's framer starts EXACT when that direction's HEADERS
 *    came before its first DATA, else LOST: grpcframe then tries a
 *    candidate framing at each DATA frame start (frame_start / frame_end
 *    from h2's data_frame_off / data_frame_len) and counts it once a
 *    message ends exactly at a DATA frame end (grpc.h explains the rule).
 *  - DATA lost in a gap (h2's data_gaps changed since the last look, checked
 *    before each DATA chunk and at the stream's end) goes to
 *    gw_grpcframe_gap: a hole of known size inside the body of the message
 *    being skipped keeps the count exact; any other loss stops the
 *    direction for good and marks its count partial: the prefixes seen
 *    before.
 */
#include "grpcwatch/grpc.h"

#include "grpcwatch/grpcframe.h"
#include "grpcwatch/text.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define GRPC_CONTENT_TYPE_PREFIX "application/grpc"

struct gw_grpc_session {
    gw_grpc_call_fn on_call;
    void *user;
    bool midstream;
    struct gw_grpc_stats stats;
    /* streams' memory: a 5 KB malloc/free a call is the allocator's slow
     * path (it consolidates its small free lists first); the pool hands
     * back the block the last call freed */
    struct gw_pool *pool;
};

struct grpc_stream {
    struct gw_grpc_call call;
    struct gw_grpcframe framer[2];
    bool saw_request_headers;
    bool authority_from_host;  /* :authority, if it comes, replaces it */
    bool request_grpc, response_grpc;
    bool request_ct_seen;      /* the request's content-type was decoded */
    bool request_unknown;      /* a request field had an unknown value */
    bool grpc_status_seen;     /* grpc-status in the response, value known or not */
    bool headers_seen[2];      /* a header field or block end in that direction */
    bool data_seen[2];
    bool unframed[2];          /* that direction's content-type is not gRPC */
    /* h2's data_gaps / data_gaps_unknown / data_gap_bytes as last looked
     * at, by direction */
    uint32_t gaps_seen[2], unknown_gaps_seen[2];
    uint64_t gap_bytes_seen[2];
};

static const char *const non_metadata_names[] = {
    "content-type", "te", "user-agent", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding",
};

/* ---- small string helpers ---------------------------------------------- */

static void set_str(struct gw_grpc_str *dst, const uint8_t *p, size_t n)
{
    dst->truncated = gw_text_copy(dst->s, sizeof dst->s, p, n);
    dst->present = 1;
}

static void set_str_once(struct gw_grpc_str *dst, const uint8_t *p, size_t n)
{
    if (!dst->present) set_str(dst, p, n);
}

/* ---- public helpers ------------------------------------------------------ */

static void str_init(struct gw_grpc_str *s)
{
    s->s[0] = '\0';
    s->present = s->truncated = 0;
}

/* Nearly all of a call is text buffers (5 KB), read up to their first NUL:
 * zeroing their first bytes and every other field is what zeroing the whole
 * would give, at a tenth of the cost on a stream's start. */
void gw_grpc_call_init(struct gw_grpc_call *c)
{
    memset(c, 0, offsetof(struct gw_grpc_call, path));
    c->path[0] = c->service[0] = c->method[0] = '\0';
    c->path_present = c->path_truncated = 0;
    str_init(&c->authority);
    str_init(&c->content_type);
    str_init(&c->user_agent);
    str_init(&c->grpc_message);
    str_init(&c->grpc_encoding);
    size_t tail = offsetof(struct gw_grpc_call, n_metadata_keys);
    memset((char *)c + tail, 0, sizeof *c - tail);
}

bool gw_grpc_is_metadata_key(const char *name, size_t len)
{
    if (!name || len == 0 || name[0] == ':') return false;
    for (size_t i = 0; i < GW_ARRAY_LEN(non_metadata_names); i++)
        if (strlen(non_metadata_names[i]) == len && memcmp(non_metadata_names[i], name, len) == 0)
            return false;
    return true;
}

bool gw_grpc_split_path(const char *path, char *service, char *method)
{
    if (service) service[0] = '\0';
    if (method) method[0] = '\0';
    if (!path || !service || !method || path[0] != '/') return false;
    size_t len = strnlen(path, GW_GRPC_PATH_MAX);
    if (len == GW_GRPC_PATH_MAX) return false; /* longer than any call path */
    const char *svc = path + 1;
    const char *slash = memchr(svc, '/', len - 1);
    if (!slash || slash == svc) return false;
    const char *m = slash + 1;
    size_t svc_len = (size_t)(slash - svc);
    size_t m_len = len - 1 - svc_len - 1;
    if (m_len == 0 || memchr(m, '/', m_len)) return false;
    memcpy(service, svc, svc_len);
    service[svc_len] = '\0';
    memcpy(method, m, m_len);
    method[m_len] = '\0';
    return true;
}

/* ---- per-stream state ---------------------------------------------------- */

void gw_grpc_call_add_key(struct gw_grpc_call *call, const char *key, size_t k, bool cut)
{
    if (cut) call->metadata_keys_truncated = 1;
    if (k >= GW_GRPC_KEY_MAX) return;
    for (size_t i = 0; i < call->n_metadata_keys; i++)
        if (strcmp(call->metadata_keys[i], key) == 0) return;
    if (call->n_metadata_keys == GW_GRPC_MAX_KEYS) {
        call->metadata_keys_truncated = 1;
        return;
    }
    memcpy(call->metadata_keys[call->n_metadata_keys++], key, k + 1);
}

static void add_metadata_key(struct gw_grpc_call *call, const uint8_t *name, size_t len)
{
    char key[GW_GRPC_KEY_MAX];
    size_t k = gw_text_copy_lower(key, sizeof key, name, len);
    /* A cut name can not be one of the short excluded names, so the
     * prefix decides as the whole name would. */
    if (!gw_grpc_is_metadata_key(key, k)) return;
    gw_grpc_call_add_key(call, key, k, k < len);
}

/* The header fields a call is built from. */
enum field {
    F_OTHER,
    F_PATH,
    F_AUTHORITY,
    F_HOST,
    F_CONTENT_TYPE,
    F_USER_AGENT,
    F_GRPC_ENCODING,
    F_STATUS,
    F_GRPC_STATUS,
    F_GRPC_MESSAGE,
};

/* p, of the length the case below has checked, is lit */
#define NAME_IS(p, lit) gw_text_eq_ci_word((p), "" lit "", sizeof(lit) - 1)

/* Which of them a name is, ASCII case ignored (HPACK names are lowercase
 * in a well-formed message, RFC 9113 8.2.1, but one that is not is still
 * read): a switch on the length, then a word compare. A chain of
 * gw_text_eq_ci, each inlined as a loop, made the header callback 5 KB of
 * code and cost an instruction-cache refill on every field (cachegrind). */
static enum field field_of(const uint8_t *p, size_t n)
{
    switch (n) {
    case 4: return NAME_IS(p, "host") ? F_HOST : F_OTHER;
    case 5: return NAME_IS(p, ":path") ? F_PATH : F_OTHER;
    case 7: return NAME_IS(p, ":status") ? F_STATUS : F_OTHER;
    case 10:
        if (NAME_IS(p, ":authority")) return F_AUTHORITY;
        return NAME_IS(p, "user-agent") ? F_USER_AGENT : F_OTHER;
    case 11: return NAME_IS(p, "grpc-status") ? F_GRPC_STATUS : F_OTHER;
    case 12:
        if (NAME_IS(p, "content-type")) return F_CONTENT_TYPE;
        return NAME_IS(p, "grpc-message") ? F_GRPC_MESSAGE : F_OTHER;
    case 13: return NAME_IS(p, "grpc-encoding") ? F_GRPC_ENCODING : F_OTHER;
    default: return F_OTHER;
    }
}

static void request_header(struct grpc_stream *st, const uint8_t *name, size_t nlen,
                           const uint8_t *value, size_t vlen)
{
    struct gw_grpc_call *call = &st->call;
    enum field f = field_of(name, nlen);
    st->saw_request_headers = true;
    if (!value) {
        /* a field whose value is unknown: only its name can be used */
        st->request_unknown = true;
        if (f != F_HOST) add_metadata_key(call, name, nlen);
        return;
    }
    switch (f) {
    case F_PATH:
        if (call->path_present) return;
        call->path_truncated = gw_text_copy(call->path, sizeof call->path, value, vlen);
        call->path_present = 1;
        break;
    case F_AUTHORITY:
        if (call->authority.present && !st->authority_from_host) return;
        set_str(&call->authority, value, vlen);
        st->authority_from_host = false;
        break;
    case F_HOST:
        if (call->authority.present) return;
        set_str(&call->authority, value, vlen);
        st->authority_from_host = true;
        break;
    case F_CONTENT_TYPE:
        if (st->request_ct_seen) return;
        st->request_ct_seen = true;
        set_str(&call->content_type, value, vlen); /* the request's beats the response's */
        st->request_grpc = gw_text_prefix_ci(value, vlen, GRPC_CONTENT_TYPE_PREFIX);
        st->unframed[GW_DIR_TO_SERVER] = !st->request_grpc;
        break;
    case F_USER_AGENT:
        set_str_once(&call->user_agent, value, vlen);
        break;
    case F_GRPC_ENCODING:
        set_str_once(&call->grpc_encoding, value, vlen);
        break;
    default:
        add_metadata_key(call, name, nlen);
        break;
    }
}

static void response_header(struct grpc_stream *st, const uint8_t *name, size_t nlen,
                            const uint8_t *value, size_t vlen)
{
    struct gw_grpc_call *call = &st->call;
    enum field f = field_of(name, nlen);
    if (f == F_GRPC_STATUS) st->grpc_status_seen = true;
    if (!value) return; /* unknown: sets nothing */
    switch (f) {
    case F_STATUS:
        call->http_status = gw_text_parse_status(value, vlen);
        break;
    case F_GRPC_STATUS:
        call->grpc_status = gw_text_parse_status(value, vlen);
        break;
    case F_GRPC_MESSAGE:
        set_str(&call->grpc_message, value, vlen);
        break;
    case F_CONTENT_TYPE:
        st->response_grpc = gw_text_prefix_ci(value, vlen, GRPC_CONTENT_TYPE_PREFIX);
        st->unframed[GW_DIR_TO_CLIENT] = !st->response_grpc;
        /* the call's content type, when the request's is unknown */
        if (!st->request_ct_seen) set_str_once(&call->content_type, value, vlen);
        break;
    default:
        break;
    }
}

/* ---- message framing (grpcframe.h) --------------------------------------- */

/* DATA bytes p/n of one direction; s tells where its frame starts and ends
 * (data_frame_len 0: not known, as when driven without h2). */
static void framer_feed(struct gw_grpcframe *f, const struct gw_h2_stream *s, const uint8_t *p, size_t n)
{
    bool framed = s->data_frame_len > 0;
    if (framed && s->data_frame_off == 0) gw_grpcframe_frame_start(f);
    gw_grpcframe_feed(f, p, n);
    if (framed && (uint64_t)s->data_frame_off + n == s->data_frame_len) gw_grpcframe_frame_end(f);
}

static void mark_partial(struct gw_grpc_call *call, int dir)
{
    call->messages_partial |= dir == GW_DIR_TO_SERVER ? GW_GRPC_PARTIAL_REQUEST : GW_GRPC_PARTIAL_RESPONSE;
}

/* The gaps h2 reported so far are accounted for. */
static void gaps_absorb(struct grpc_stream *st, const struct gw_h2_stream *s, int dir)
{
    st->gaps_seen[dir] = s->data_gaps[dir];
    st->unknown_gaps_seen[dir] = s->data_gaps_unknown[dir];
    st->gap_bytes_seen[dir] = s->data_gap_bytes[dir];
}

/* Acts on DATA of direction dir that h2 says was lost since the last look:
 * a hole before the direction's first DATA, or of unknown size, can not be
 * placed; grpcframe decides for the others. */
static void framer_gap(struct grpc_stream *st, const struct gw_h2_stream *s, int dir)
{
    if (s->data_gaps[dir] == st->gaps_seen[dir]) return;
    uint64_t lost = s->data_gap_bytes[dir] - st->gap_bytes_seen[dir];
    bool known = s->data_gaps_unknown[dir] == st->unknown_gaps_seen[dir] && st->data_seen[dir];
    struct gw_grpcframe *f = &st->framer[dir];
    gaps_absorb(st, s, dir);
    if (gw_grpcframe_stopped(f)) return;
    if (!gw_grpcframe_gap(f, lost, known) && !st->unframed[dir]) mark_partial(&st->call, dir);
}

static void mark_end(struct gw_grpc_call *call, int dir)
{
    if (dir == GW_DIR_TO_SERVER) call->request_end = 1;
    else call->response_end = 1;
}

/* ---- h2 callbacks -------------------------------------------------------- */

static void cb_stream_begin(void *user, struct gw_h2_stream *s, gw_time_us ts)
{
    struct gw_grpc_session *sess = user;
    struct grpc_stream *st = gw_pool_alloc(sess->pool, sizeof *st);
    s->app = st;
    if (!st) return; /* the stream is then not reported */
    gw_grpc_call_init(&st->call);
    memset((char *)st + offsetof(struct grpc_stream, framer), 0,
           sizeof *st - offsetof(struct grpc_stream, framer));
    st->call.stream_id = s->id;
    st->call.start_ts = ts;
    st->call.http_status = -1;
    st->call.grpc_status = -1;
    st->call.midstream = sess->midstream;
    gw_grpcframe_init(&st->framer[GW_DIR_TO_SERVER], 0);
    gw_grpcframe_init(&st->framer[GW_DIR_TO_CLIENT], 0);
}

static void cb_header(void *user, struct gw_h2_stream *s, int dir, const uint8_t *name, size_t namelen,
                      const uint8_t *value, size_t valuelen)
{
    GW_UNUSED(user);
    struct grpc_stream *st = s->app;
    if (!st) return;
    st->headers_seen[dir] = true;
    /* A pseudo-header opens the direction (RFC 9113 8.1: trailers carry
     * none, and every DATA follows the opening block): a hole before it,
     * with no DATA of this direction seen yet, took none of its DATA. */
    if (!st->data_seen[dir] && namelen > 0 && name[0] == ':') gaps_absorb(st, s, dir);
    if (dir == GW_DIR_TO_SERVER) request_header(st, name, namelen, value, valuelen);
    else response_header(st, name, namelen, value, valuelen);
}

static void cb_headers_end(void *user, struct gw_h2_stream *s, int dir, bool end_stream)
{
    GW_UNUSED(user);
    struct grpc_stream *st = s->app;
    if (!st) return;
    st->headers_seen[dir] = true;
    if (dir == GW_DIR_TO_SERVER) st->saw_request_headers = true;
    if (end_stream) mark_end(&st->call, dir);
}

/* The first DATA of a direction: messages start here only if that
 * direction's HEADERS came first. */
static void first_data(struct grpc_stream *st, int dir)
{
    st->data_seen[dir] = true;
    gw_grpcframe_begin(&st->framer[dir], st->headers_seen[dir]);
    if (!st->headers_seen[dir] && !gw_grpcframe_stopped(&st->framer[dir])) mark_partial(&st->call, dir);
}

static void cb_data(void *user, struct gw_h2_stream *s, int dir, const uint8_t *p, size_t n)
{
    GW_UNUSED(user);
    struct grpc_stream *st = s->app;
    if (!st) return;
    struct gw_grpcframe *f = &st->framer[dir];
    framer_gap(st, s, dir);
    if (!st->data_seen[dir]) first_data(st, dir);
    if (!st->unframed[dir]) framer_feed(f, s, p, n);
    if (dir == GW_DIR_TO_SERVER) {
        st->call.request_bytes += n;
        st->call.request_messages = gw_grpcframe_messages(f);
    } else {
        st->call.response_bytes += n;
        st->call.response_messages = gw_grpcframe_messages(f);
    }
}

static void cb_data_end(void *user, struct gw_h2_stream *s, int dir)
{
    GW_UNUSED(user);
    struct grpc_stream *st = s->app;
    if (st) mark_end(&st->call, dir);
}

static bool stream_is_grpc(const struct grpc_stream *st, const struct gw_h2_stream *s)
{
    if (st->request_ct_seen) return st->request_grpc;
    bool request_known = st->saw_request_headers && !st->request_unknown && s->unknown_names[GW_DIR_TO_SERVER] == 0;
    if (request_known) return false; /* decoded in full, without a content-type */
    if (st->response_grpc || st->grpc_status_seen) return true;
    if ((s->id & 1) == 0) return false;
    return gw_grpcframe_aligned(&st->framer[GW_DIR_TO_SERVER]) || gw_grpcframe_aligned(&st->framer[GW_DIR_TO_CLIENT]);
}

static void cb_stream_end(void *user, struct gw_h2_stream *s, int reason, gw_time_us ts)
{
    struct gw_grpc_session *sess = user;
    struct grpc_stream *st = s->app;
    if (!st) return;
    s->app = NULL;
    struct gw_grpc_call *call = &st->call;
    framer_gap(st, s, GW_DIR_TO_SERVER);
    framer_gap(st, s, GW_DIR_TO_CLIENT);
    call->ended_by = (uint8_t)reason;
    call->end_ts = ts;
    if (s->midstream || st->request_unknown) call->midstream = 1;
    /* A cut path would yield a wrong method name. */
    if (call->path_present && !call->path_truncated) gw_grpc_split_path(call->path, call->service, call->method);
    if (stream_is_grpc(st, s)) {
        sess->stats.calls++;
        sess->stats.messages[GW_DIR_TO_SERVER] += call->request_messages;
        sess->stats.messages[GW_DIR_TO_CLIENT] += call->response_messages;
        if (sess->on_call) sess->on_call(sess->user, call);
    } else {
        sess->stats.non_grpc_streams++;
    }
    gw_pool_free(sess->pool, st);
}

static const struct gw_h2_callbacks grpc_h2_callbacks = {
    .on_stream_begin = cb_stream_begin,
    .on_header = cb_header,
    .on_headers_end = cb_headers_end,
    .on_data = cb_data,
    .on_data_end = cb_data_end,
    .on_rst_stream = NULL,   /* the end reason says it */
    .on_stream_end = cb_stream_end,
    .on_goaway = NULL,
    .on_anomaly = NULL,      /* counted by h2 */
};

const struct gw_h2_callbacks *gw_grpc_h2_callbacks(void) { return &grpc_h2_callbacks; }

/* ---- stats ------------------------------------------------------------- */

/* stats_apps() in sensor.c wrote these keys, in this order */
const struct gw_stat_field gw_grpc_stat_fields[] = {
    GW_STAT_FIELD(struct gw_grpc_stats, calls, "calls"),
    GW_STAT_FIELD(struct gw_grpc_stats, non_grpc_streams, "non_grpc_streams"),
    GW_STAT_FIELD(struct gw_grpc_stats, messages[GW_DIR_TO_SERVER], "request_messages"),
    GW_STAT_FIELD(struct gw_grpc_stats, messages[GW_DIR_TO_CLIENT], "response_messages"),
};
const size_t gw_grpc_stat_fields_len = GW_ARRAY_LEN(gw_grpc_stat_fields);

void gw_grpc_stats_add(struct gw_grpc_stats *total, const struct gw_grpc_stats *one)
{
    gw_stats_fold(gw_grpc_stat_fields, gw_grpc_stat_fields_len, total, one);
}

/* ---- session ------------------------------------------------------------ */

struct gw_grpc_session *gw_grpc_session_create(struct gw_pool *pool, gw_grpc_call_fn on_call,
                                               void *user)
{
    struct gw_grpc_session *s = gw_pool_calloc(pool, 1, sizeof *s);
    if (!s) return NULL;
    s->pool = pool;
    s->on_call = on_call;
    s->user = user;
    return s;
}

void *gw_grpc_session_user(const struct gw_grpc_session *s)
{
    return s->user;
}

void gw_grpc_session_destroy(struct gw_grpc_session *s)
{
    if (!s) return;
    gw_pool_free(s->pool, s);
}

void gw_grpc_session_set_midstream(struct gw_grpc_session *s, bool midstream)
{
    if (s) s->midstream = midstream;
}

const struct gw_grpc_stats *gw_grpc_session_stats(const struct gw_grpc_session *s)
{
    return s ? &s->stats : NULL;
}
