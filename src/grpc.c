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
 *    across any chunking with a few bytes per direction; a message counts
 *    when its 5-byte prefix is complete and its body is skipped, not
 *    copied. Lengths are uint32_t as on the wire (up to 4 GiB - 1).
 *  - A stream is a gRPC call when its request content-type starts with
 *    "application/grpc" (any case); when no request header was seen at all
 *    (a capture of the server side only) the response content-type decides.
 *  - A direction whose content-type is known and not gRPC (an HTML error
 *    page answering a gRPC request) has its DATA counted in bytes only:
 *    its body is not gRPC framing, so it holds no messages.
 */
#include "grpcwatch/grpc.h"

#include <stdlib.h>
#include <string.h>

#define GRPC_CONTENT_TYPE_PREFIX "application/grpc"
#define GRPC_PREFIX_LEN 5
#define STATUS_MAX_DIGITS 3 /* HTTP status and gRPC status are 0..999 */

struct gw_grpc_session {
    gw_grpc_call_fn on_call;
    void *user;
    bool midstream;
    struct gw_grpc_stats stats;
};

struct grpc_framer {
    uint8_t prefix_have;  /* bytes of the 5-byte prefix collected, 0..4 */
    uint32_t msg_len;     /* length assembled from the prefix so far */
    uint32_t body_left;   /* bytes of the current message still to skip */
};

struct grpc_stream {
    struct gw_grpc_call call;
    struct grpc_framer framer[2];
    bool saw_request_headers;
    bool authority_from_host;  /* :authority, if it comes, replaces it */
    bool request_grpc, response_grpc;
    bool unframed[2];          /* that direction's content-type is not gRPC */
};

static const char *const non_metadata_names[] = {
    "content-type", "te", "user-agent", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding",
};

/* ---- small string helpers ---------------------------------------------- */

static char lower(uint8_t ch)
{
    return (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
}

/* name (not NUL-terminated) equals lit, ignoring ASCII case. */
static bool name_is(const uint8_t *name, size_t len, const char *lit)
{
    if (strlen(lit) != len) return false;
    for (size_t i = 0; i < len; i++)
        if (lower(name[i]) != lit[i]) return false;
    return true;
}

static bool has_prefix_ci(const uint8_t *p, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && name_is(p, k, prefix);
}

/* Copies at most cap - 1 bytes and terminates; true if it had to cut. */
static bool copy_bounded(char *dst, size_t cap, const uint8_t *p, size_t n)
{
    size_t k = GW_MIN(n, cap - 1);
    memcpy(dst, p, k);
    dst[k] = '\0';
    return k < n;
}

static void set_str(struct gw_grpc_str *dst, const uint8_t *p, size_t n)
{
    dst->truncated = copy_bounded(dst->s, sizeof dst->s, p, n);
    dst->present = 1;
}

static void set_str_once(struct gw_grpc_str *dst, const uint8_t *p, size_t n)
{
    if (!dst->present) set_str(dst, p, n);
}

/* 1..STATUS_MAX_DIGITS decimal digits, else -1. */
static int32_t parse_status(const uint8_t *p, size_t n)
{
    int32_t v = 0;
    if (n == 0 || n > STATUS_MAX_DIGITS) return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* ---- public helpers ------------------------------------------------------ */

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

static void add_metadata_key(struct gw_grpc_call *call, const uint8_t *name, size_t len)
{
    char key[GW_GRPC_KEY_MAX];
    size_t k = GW_MIN(len, sizeof key - 1);
    for (size_t i = 0; i < k; i++) key[i] = lower(name[i]);
    key[k] = '\0';
    /* A cut name can not be one of the short excluded names, so the
     * prefix decides as the whole name would. */
    if (!gw_grpc_is_metadata_key(key, k)) return;
    if (k < len) call->metadata_keys_truncated = 1;
    for (size_t i = 0; i < call->n_metadata_keys; i++)
        if (strcmp(call->metadata_keys[i], key) == 0) return;
    if (call->n_metadata_keys == GW_GRPC_MAX_KEYS) {
        call->metadata_keys_truncated = 1;
        return;
    }
    memcpy(call->metadata_keys[call->n_metadata_keys++], key, k + 1);
}

static void request_header(struct grpc_stream *st, const uint8_t *name, size_t nlen,
                           const uint8_t *value, size_t vlen)
{
    struct gw_grpc_call *call = &st->call;
    st->saw_request_headers = true;
    if (name_is(name, nlen, ":path")) {
        if (call->path_present) return;
        call->path_truncated = copy_bounded(call->path, sizeof call->path, value, vlen);
        call->path_present = 1;
    } else if (name_is(name, nlen, ":authority")) {
        if (call->authority.present && !st->authority_from_host) return;
        set_str(&call->authority, value, vlen);
        st->authority_from_host = false;
    } else if (name_is(name, nlen, "host")) {
        if (call->authority.present) return;
        set_str(&call->authority, value, vlen);
        st->authority_from_host = true;
    } else if (name_is(name, nlen, "content-type")) {
        if (call->content_type.present) return;
        set_str(&call->content_type, value, vlen);
        st->request_grpc = has_prefix_ci(value, vlen, GRPC_CONTENT_TYPE_PREFIX);
        st->unframed[GW_DIR_TO_SERVER] = !st->request_grpc;
    } else if (name_is(name, nlen, "user-agent")) {
        set_str_once(&call->user_agent, value, vlen);
    } else if (name_is(name, nlen, "grpc-encoding")) {
        set_str_once(&call->grpc_encoding, value, vlen);
    } else {
        add_metadata_key(call, name, nlen);
    }
}

static void response_header(struct grpc_stream *st, const uint8_t *name, size_t nlen,
                            const uint8_t *value, size_t vlen)
{
    struct gw_grpc_call *call = &st->call;
    if (name_is(name, nlen, ":status")) {
        call->http_status = parse_status(value, vlen);
    } else if (name_is(name, nlen, "grpc-status")) {
        call->grpc_status = parse_status(value, vlen);
    } else if (name_is(name, nlen, "grpc-message")) {
        set_str(&call->grpc_message, value, vlen);
    } else if (name_is(name, nlen, "content-type")) {
        st->response_grpc = has_prefix_ci(value, vlen, GRPC_CONTENT_TYPE_PREFIX);
        st->unframed[GW_DIR_TO_CLIENT] = !st->response_grpc;
        /* the call's content type, when the request's is unknown */
        set_str_once(&call->content_type, value, vlen);
    }
}

/* Follows the 5-byte message prefixes; returns how many completed. */
static uint64_t framer_feed(struct grpc_framer *f, const uint8_t *p, size_t n)
{
    uint64_t messages = 0;
    while (n > 0) {
        if (f->body_left > 0) {
            size_t k = GW_MIN(n, (size_t)f->body_left);
            f->body_left -= (uint32_t)k;
            p += k;
            n -= k;
            continue;
        }
        uint8_t b = *p++;
        n--;
        if (f->prefix_have > 0) f->msg_len = (f->msg_len << 8) | b; /* byte 0 is the flag */
        if (++f->prefix_have == GRPC_PREFIX_LEN) {
            messages++;
            f->body_left = f->msg_len;
            f->msg_len = 0;
            f->prefix_have = 0;
        }
    }
    return messages;
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
    struct grpc_stream *st = calloc(1, sizeof *st);
    s->app = st;
    if (!st) return; /* the stream is then not reported */
    st->call.stream_id = s->id;
    st->call.start_ts = ts;
    st->call.http_status = -1;
    st->call.grpc_status = -1;
    st->call.midstream = sess->midstream;
}

static void cb_header(void *user, struct gw_h2_stream *s, int dir, const uint8_t *name, size_t namelen,
                      const uint8_t *value, size_t valuelen)
{
    GW_UNUSED(user);
    struct grpc_stream *st = s->app;
    if (!st) return;
    if (dir == GW_DIR_TO_SERVER) request_header(st, name, namelen, value, valuelen);
    else response_header(st, name, namelen, value, valuelen);
}

static void cb_headers_end(void *user, struct gw_h2_stream *s, int dir, bool end_stream)
{
    GW_UNUSED(user);
    struct grpc_stream *st = s->app;
    if (!st) return;
    if (dir == GW_DIR_TO_SERVER) st->saw_request_headers = true;
    if (end_stream) mark_end(&st->call, dir);
}

static void cb_data(void *user, struct gw_h2_stream *s, int dir, const uint8_t *p, size_t n)
{
    GW_UNUSED(user);
    struct grpc_stream *st = s->app;
    if (!st) return;
    uint64_t messages = st->unframed[dir] ? 0 : framer_feed(&st->framer[dir], p, n);
    if (dir == GW_DIR_TO_SERVER) {
        st->call.request_bytes += n;
        st->call.request_messages += messages;
    } else {
        st->call.response_bytes += n;
        st->call.response_messages += messages;
    }
}

static void cb_data_end(void *user, struct gw_h2_stream *s, int dir)
{
    GW_UNUSED(user);
    struct grpc_stream *st = s->app;
    if (st) mark_end(&st->call, dir);
}

static bool stream_is_grpc(const struct grpc_stream *st)
{
    return st->saw_request_headers ? st->request_grpc : st->response_grpc;
}

static void cb_stream_end(void *user, struct gw_h2_stream *s, int reason, gw_time_us ts)
{
    struct gw_grpc_session *sess = user;
    struct grpc_stream *st = s->app;
    if (!st) return;
    s->app = NULL;
    struct gw_grpc_call *call = &st->call;
    call->ended_by = (uint8_t)reason;
    call->end_ts = ts;
    /* A cut path would yield a wrong method name. */
    if (call->path_present && !call->path_truncated) gw_grpc_split_path(call->path, call->service, call->method);
    if (stream_is_grpc(st)) {
        sess->stats.calls++;
        sess->stats.messages[GW_DIR_TO_SERVER] += call->request_messages;
        sess->stats.messages[GW_DIR_TO_CLIENT] += call->response_messages;
        if (sess->on_call) sess->on_call(sess->user, call);
    } else {
        sess->stats.non_grpc_streams++;
    }
    free(st);
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

/* ---- session ------------------------------------------------------------ */

struct gw_grpc_session *gw_grpc_session_create(gw_grpc_call_fn on_call, void *user)
{
    struct gw_grpc_session *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->on_call = on_call;
    s->user = user;
    return s;
}

void gw_grpc_session_destroy(struct gw_grpc_session *s) { free(s); }

void gw_grpc_session_set_midstream(struct gw_grpc_session *s, bool midstream)
{
    if (s) s->midstream = midstream;
}

const struct gw_grpc_stats *gw_grpc_session_stats(const struct gw_grpc_session *s)
{
    return s ? &s->stats : NULL;
}
