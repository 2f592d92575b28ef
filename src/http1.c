/*
 * http1.c - passive HTTP/1.x decoding of one connection, both directions.
 *
 * Each direction is a state machine (enum dir_state) fed in any chunking.
 * dir_run() drives it over a buffer until the bytes run out, the direction
 * must stop (the client waits for the answer to a switch request, or a
 * direction switches protocols) or fails.
 *
 * Invariants:
 *  - Heads are parsed only when complete: in place if they lie whole in the
 *    buffer fed, else from the direction's head buffer (<= GW_HTTP1_HEAD_MAX,
 *    grown on demand and kept). Slices handed to callbacks point into one of
 *    the two and die with the callback.
 *  - Body bytes are never copied: they go to on_body and to the call's
 *    gRPC-Web framing (grpcweb.c) in place.
 *  - The only client bytes kept are those after a request that asked to
 *    switch (CONNECT or Upgrade), until its answer: c->hold, at most
 *    GW_HTTP1_HOLD_MAX. They go either to the new protocol (on_switch's
 *    held bytes) or back through the parser (a refusal).
 *  - Responses answer requests in order, so the n-th final response
 *    answers request n whatever was queued; the queue only remembers what
 *    framing needs (HEAD, CONNECT) and the call, matched by sequence number.
 *    request_seq reports n only if request n was parsed by then (else 0:
 *    the client failed, or the answer came first); a switch still waits
 *    for request n (switch_after), whenever it comes.
 *  - A direction that switched or failed never parses again; errors are
 *    sticky per direction. After its FIN (d->fin) a direction takes no
 *    more bytes either: feeds and gaps are ignored, wherever it stood.
 *  - gRPC-Web calls belong to c->web (grpcweb.c), which writes each once:
 *    when both its messages ended, or at gw_http1_conn_close / destroy.
 *    The queue and the directions only borrow them, and forget them
 *    before the call is handed on (call_unlink, close). Close is not a
 *    final state: whatever order close, feed, fin and destroy come in,
 *    every call opened is written once and destroy frees everything.
 *  - Callbacks never feed this connection, so the only reentry is ours: a
 *    server head that refuses a switch resumes the held client bytes
 *    (resume_client), once, before the server's feed goes on.
 */
#include "grpcwatch/http1.h"

#include "grpcwatch/cursor.h"
#include "grpcwatch/h2.h"
#include "grpcwatch/grpcweb.h"
#include "grpcwatch/text.h"

#include <stdlib.h>
#include <string.h>

#define HEAD_BUF_INITIAL 1024
#define HOLD_BUF_INITIAL 512
#define SNIFF_METHOD_MAX 24      /* longest method token a request line sniff waits for */

/* dir_run() outcomes besides the (negative) gw_err codes */
enum run_result { RUN_DONE = 1, RUN_AWAIT, RUN_SWITCH };

enum dir_state {
    ST_HEAD = 0,     /* collecting a head (or the empty lines before one) */
    ST_BODY_LEN,     /* Content-Length body: body_left bytes to go */
    ST_CHUNK_SIZE,   /* a chunk-size line with its extensions */
    ST_CHUNK_DATA,   /* body_left bytes of chunk data */
    ST_CHUNK_END,    /* the CRLF after chunk data */
    ST_TRAILERS,     /* trailer section after the last chunk */
    ST_BODY_CLOSE,   /* body delimited by the server's close */
    ST_AWAIT,        /* client: a switch request waits for its answer */
    ST_SWITCHED,     /* another protocol from here on */
    ST_DONE,         /* FIN seen */
    ST_FAILED
};

struct growbuf {
    uint8_t *p;
    uint32_t len, cap;
};

/* A request waiting for its response. */
struct pending {
    uint32_t seq;
    uint8_t is_head, is_connect;
    struct gw_grpcweb_call *call;
};

struct h1_dir {
    uint8_t state;             /* enum dir_state */
    int err;                   /* sticky error when ST_FAILED */
    /* head scanning */
    struct growbuf head;       /* a head split across feeds */
    uint8_t in_head;           /* the head's first byte was seen */
    uint8_t line_first;        /* first byte of the current line */
    uint32_t line_len;         /* bytes of the current line before its LF */
    /* bodies */
    uint64_t body_left;
    uint64_t chunk_size;
    uint32_t line_bytes;       /* chunk-size line or trailer section so far */
    uint8_t chunk_digits, chunk_ext, chunk_ws, saw_cr;
    /* the message in progress */
    struct gw_grpcweb_call *call;
    uint8_t msg_ask_kind;      /* client: the request asks to switch (enum gw_http1_switch) */
    uint32_t msg_seq;          /* client: the request's number */
    uint8_t switch_kind;       /* once switched */
    uint8_t fin;               /* gw_http1_conn_fin ran: later bytes are ignored */
};

struct gw_http1_conn {
    struct gw_http1_callbacks cb;
    void *user;
    struct gw_pool *pool;      /* its memory, and its gRPC-Web calls' */
    struct h1_dir d[2];
    struct growbuf hold;       /* client bytes after a switch request, unanswered */
    uint8_t await_kind;        /* what the awaited request asked for */
    uint32_t await_seq;        /* its number */
    struct pending q[GW_HTTP1_MAX_PENDING];
    uint32_t q_head, q_len;
    uint32_t req_seq;          /* requests parsed */
    uint32_t req_done;         /* requests whose message ended */
    uint32_t resp_seq;         /* final responses parsed */
    uint8_t switch_pending;    /* the server switched: the client follows ... */
    uint32_t switch_after;     /* ... once request number switch_after has ended */
    struct gw_grpcweb *web;    /* the gRPC-Web calls: it owns them, we borrow */
    gw_time_us now;
    struct gw_http1_stats stats;
};

/* What a head says beyond the public structs. */
struct head_extra {
    uint8_t te_present, te_chunked_last, te_chunked_count;
    uint8_t conn_upgrade;
    uint8_t up_h2c, up_websocket, up_first_kind;
    struct gw_grpcweb_head web; /* grpc-status, grpc-message, grpc-encoding, Content-Encoding */
    struct gw_http1_str host, user_agent, h2_settings;
};

/* ---- small helpers -------------------------------------------------------- */

/* The old name of gw_text_eq_ci, kept for callers of http1.h. */
bool gw_http1_eq_ci(const uint8_t *p, size_t n, const char *lit) { return gw_text_eq_ci(p, n, lit); }

static bool is_tchar(uint8_t ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) return true;
    return ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static bool is_eol(uint8_t ch) { return ch == '\r' || ch == '\n'; }
static bool is_space(uint8_t ch) { return ch == ' '; }
static bool is_target_char(uint8_t ch) { return ch > 0x20 && ch != 0x7f; }

static int hex_value(uint8_t ch)
{
    if (gw_is_digit(ch)) return ch - '0';
    ch = gw_ascii_lower(ch);
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

static struct gw_http1_str slice(const uint8_t *p, size_t n)
{
    struct gw_http1_str s = { p, n };
    return s;
}

/* What is left of c, blanks on both sides trimmed. */
static struct gw_http1_str trim(struct gw_cursor c)
{
    gw_cursor_trim(&c, gw_is_blank);
    return slice(gw_cursor_ptr(&c), gw_cursor_left(&c));
}

/* Calls fn on each comma-separated element of a list value, trimmed, empty
 * elements skipped (RFC 9110 section 5.6.1). Stops when fn returns false. */
static bool list_each(struct gw_http1_str v, bool (*fn)(void *ctx, struct gw_http1_str el), void *ctx)
{
    struct gw_cursor c = gw_cursor_make(v.p, v.n);
    for (;;) {
        struct gw_http1_str el = trim(gw_cursor_sub(&c, gw_cursor_find(&c, ',')));
        if (el.n && !fn(ctx, el)) return false;
        if (!gw_skip(&c, 1)) return true; /* no comma: that was the last */
    }
}

/* Appends to a buffer that grows up to cap. GW_ERR_MALFORMED past the cap
 * (a head or hold that large is refused), GW_ERR_NOMEM if growing fails. */
static int growbuf_append(struct gw_pool *pool, struct growbuf *b, const uint8_t *p, size_t n, uint32_t cap,
                          uint32_t initial)
{
    if (n > (size_t)(cap - b->len)) return GW_ERR_MALFORMED;
    uint32_t need = b->len + (uint32_t)n;
    if (need > b->cap) {
        uint32_t want = b->cap ? b->cap : initial;
        while (want < need) want *= 2;
        if (want > cap) want = cap;
        uint8_t *nb = gw_pool_realloc(pool, b->p, want);
        if (!nb) return GW_ERR_NOMEM;
        b->p = nb;
        b->cap = want;
    }
    if (n) memcpy(b->p + b->len, p, n);
    b->len = need;
    return GW_OK;
}

static void growbuf_free(struct gw_pool *pool, struct growbuf *b)
{
    gw_pool_free(pool, b->p);
    memset(b, 0, sizeof *b);
}

/* ---- gRPC-Web calls (grpcweb.c) ------------------------------------------ */

/* Forgets every reference to a call about to be handed on. */
static void call_unlink(struct gw_http1_conn *c, const struct gw_grpcweb_call *wc)
{
    for (uint32_t i = 0; i < c->q_len; i++) {
        struct pending *e = &c->q[(c->q_head + i) % GW_HTTP1_MAX_PENDING];
        if (e->call == wc) e->call = NULL;
    }
    for (int d = 0; d < 2; d++)
        if (c->d[d].call == wc) c->d[d].call = NULL;
}

static void call_dir_end(struct gw_http1_conn *c, struct gw_grpcweb_call *wc, int dir)
{
    if (!gw_grpcweb_dir_end(c->web, wc, dir)) return;
    call_unlink(c, wc);
    gw_grpcweb_finish(c->web, wc, GW_END_STREAM, c->now);
}

/* ---- the request queue ----------------------------------------------------- */

static void queue_push(struct gw_http1_conn *c, const struct pending *e)
{
    if (c->q_len == GW_HTTP1_MAX_PENDING) {
        c->stats.queue_overflows++;
        return;
    }
    c->q[(c->q_head + c->q_len) % GW_HTTP1_MAX_PENDING] = *e;
    c->q_len++;
}

static void queue_pop(struct gw_http1_conn *c)
{
    c->q_head = (c->q_head + 1) % GW_HTTP1_MAX_PENDING;
    c->q_len--;
}

/* The queued request number seq, if any; older entries were answered
 * without being matched (their requests came after their responses). */
static bool queue_take(struct gw_http1_conn *c, uint32_t seq, struct pending *out)
{
    while (c->q_len && c->q[c->q_head].seq < seq) queue_pop(c);
    if (!c->q_len || c->q[c->q_head].seq != seq) return false;
    *out = c->q[c->q_head];
    queue_pop(c);
    return true;
}

/* ---- switching ------------------------------------------------------------ */

static void dir_switch(struct gw_http1_conn *c, int dir, int kind, const uint8_t *held, size_t held_len)
{
    struct h1_dir *d = &c->d[dir];
    d->state = ST_SWITCHED;
    d->switch_kind = (uint8_t)kind;
    if (c->cb.on_switch) c->cb.on_switch(c->user, dir, kind, held_len ? held : NULL, held_len);
}

/* The server switched and the client has sent the request that asked, so
 * the client switches at its next message boundary. */
static bool client_switch_due(const struct gw_http1_conn *c)
{
    const struct h1_dir *d = &c->d[GW_DIR_TO_SERVER];
    if (!c->switch_pending || c->req_done < c->switch_after) return false;
    return d->state == ST_AWAIT || (d->state == ST_HEAD && !d->in_head);
}

/* The client switches now; what it held goes to the new protocol. */
static void client_switch_held(struct gw_http1_conn *c, int kind)
{
    struct growbuf h = c->hold;
    memset(&c->hold, 0, sizeof c->hold);
    dir_switch(c, GW_DIR_TO_SERVER, kind, h.p, h.len);
    growbuf_free(c->pool, &h);
}

/* Does hold + p start with the HTTP/2 connection preface? */
static enum gw_cursor_match preface_check(const struct growbuf *hold, const uint8_t *p, size_t n)
{
    static const uint8_t preface[] = GW_H2_PREFACE;
    struct gw_cursor held = gw_cursor_make(hold->p, hold->len);
    enum gw_cursor_match m = gw_cursor_match(&held, preface, GW_H2_PREFACE_LEN);
    if (m != GW_MATCH_PREFIX) return m;
    struct gw_cursor more = gw_cursor_make(p, n);
    return gw_cursor_match(&more, preface + hold->len, GW_H2_PREFACE_LEN - hold->len);
}

/* Client bytes while a switch request is unanswered: held, unless they are
 * the HTTP/2 preface after an h2c request (the client switched). */
static int await_feed(struct gw_http1_conn *c, const uint8_t *p, size_t n, size_t *consumed)
{
    struct h1_dir *d = &c->d[GW_DIR_TO_SERVER];
    *consumed = 0;
    int kind = c->switch_pending;
    if (!client_switch_due(c)) {
        kind = 0;
        if (c->await_kind == GW_HTTP1_SWITCH_H2C && preface_check(&c->hold, p, n) == GW_MATCH_FULL)
            kind = GW_HTTP1_SWITCH_H2C;
    }
    if (kind) {
        client_switch_held(c, kind);
        return GW_ERR_UNSUPPORTED;
    }
    int rc = growbuf_append(c->pool, &c->hold, p, n, GW_HTTP1_HOLD_MAX, HOLD_BUF_INITIAL);
    if (rc != GW_OK) {
        d->state = ST_FAILED;
        d->err = rc == GW_ERR_MALFORMED ? GW_ERR_LIMIT : rc;
        growbuf_free(c->pool, &c->hold);
        return d->err;
    }
    *consumed = n;
    return GW_OK;
}

/* ---- message boundaries ------------------------------------------------------ */

static void fail(struct h1_dir *d, int err)
{
    d->state = ST_FAILED;
    d->err = err;
}

static void deliver_body(struct gw_http1_conn *c, int dir, const uint8_t *p, size_t n)
{
    if (n == 0) return;
    c->stats.body_bytes[dir] += n;
    if (c->cb.on_body) c->cb.on_body(c->user, dir, p, n);
    if (c->d[dir].call) gw_grpcweb_body(c->web, c->d[dir].call, dir, p, n);
}

static void message_end(struct gw_http1_conn *c, int dir)
{
    struct h1_dir *d = &c->d[dir];
    if (c->cb.on_message_end) c->cb.on_message_end(c->user, dir);
    struct gw_grpcweb_call *wc = d->call;
    d->call = NULL;
    if (wc) call_dir_end(c, wc, dir);
    d->state = ST_HEAD;
    if (dir == GW_DIR_TO_CLIENT) return;
    c->req_done++;
    /* wait for the answer unless it came already (a refusal before the
     * body ended; a switch is handled by client_switch_due) */
    if (d->msg_ask_kind && c->resp_seq < d->msg_seq) {
        d->state = ST_AWAIT;
        c->await_kind = d->msg_ask_kind;
        c->await_seq = d->msg_seq;
    }
    d->msg_ask_kind = 0;
}

/* ---- head parsing ------------------------------------------------------------ */

/* The next line of a complete head, its LF and a CR before it dropped. */
static int next_line(struct gw_cursor *cur, struct gw_http1_str *line)
{
    size_t k = gw_cursor_find(cur, '\n');
    if (k == gw_cursor_left(cur)) return GW_ERR_MALFORMED;
    struct gw_cursor lc = gw_cursor_sub(cur, k);
    gw_skip(cur, 1);
    if (k && gw_peek_u8(&lc, k - 1) == '\r') k--;
    const uint8_t *s = gw_cursor_ptr(&lc);
    /* a bare CR or a NUL inside a line is refused (RFC 9112 section 2.2,
     * RFC 9110 section 5.5): parsers that differ on them are how requests
     * get smuggled */
    if (k && (memchr(s, '\r', k) || memchr(s, '\0', k))) return GW_ERR_MALFORMED;
    *line = slice(s, k);
    return GW_OK;
}

/* "HTTP/1.<digit>" at the cursor; the minor version in *minor. */
static bool parse_version(struct gw_cursor *cur, uint8_t *minor)
{
    const uint8_t *v = gw_get_bytes(cur, 8);
    if (!v || memcmp(v, "HTTP/1.", 7) != 0 || !gw_is_digit(v[7])) return false;
    *minor = (uint8_t)(v[7] - '0');
    return true;
}

static bool skip_spaces(struct gw_cursor *cur) { return gw_skip_while(cur, is_space) > 0; }

/* method SP request-target SP HTTP-version (RFC 9112 section 3) */
static int parse_request_line(struct gw_http1_str line, struct gw_http1_request *r)
{
    struct gw_cursor cur = gw_cursor_make(line.p, line.n);
    size_t k = gw_cursor_span(&cur, is_tchar);
    if (k == 0) return GW_ERR_MALFORMED;
    r->method = slice(gw_get_bytes(&cur, k), k);
    if (!skip_spaces(&cur)) return GW_ERR_MALFORMED;
    k = gw_cursor_span(&cur, is_target_char);
    if (k == 0) return GW_ERR_MALFORMED;
    r->target = slice(gw_get_bytes(&cur, k), k);
    if (!skip_spaces(&cur)) return GW_ERR_MALFORMED;
    if (!parse_version(&cur, &r->h.version_minor) || gw_cursor_left(&cur) != 0) return GW_ERR_MALFORMED;
    /* methods are case-sensitive (RFC 9110 section 9.1) */
    r->is_head = r->method.p && r->method.n == 4 && memcmp(r->method.p, "HEAD", 4) == 0;
    r->is_connect = r->method.p && r->method.n == 7 && memcmp(r->method.p, "CONNECT", 7) == 0;
    return GW_OK;
}

/* HTTP-version SP 3DIGIT [SP reason-phrase] (RFC 9112 section 4); a
 * missing reason, with or without its space, is tolerated. */
static int parse_status_line(struct gw_http1_str line, struct gw_http1_response *r)
{
    struct gw_cursor cur = gw_cursor_make(line.p, line.n);
    if (!parse_version(&cur, &r->h.version_minor) || !skip_spaces(&cur)) return GW_ERR_MALFORMED;
    const uint8_t *s = gw_get_bytes(&cur, 3);
    if (!s || !gw_is_digit(s[0]) || !gw_is_digit(s[1]) || !gw_is_digit(s[2]) || s[0] == '0') return GW_ERR_MALFORMED;
    r->status = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    if (gw_cursor_left(&cur) && gw_get_u8(&cur) != ' ') return GW_ERR_MALFORMED;
    r->reason = slice(gw_cursor_ptr(&cur), gw_cursor_left(&cur));
    return GW_OK;
}

struct cl_ctx {
    struct gw_http1_head *h;
    bool bad;
    bool seen;                 /* this field line held a value */
};

/* One element of a Content-Length list: all must agree (RFC 9110 8.6). */
static bool cl_element(void *ctx, struct gw_http1_str el)
{
    struct cl_ctx *cc = ctx;
    uint64_t v;
    if (!gw_text_parse_u64(el.p, el.n, &v) || (cc->h->has_content_length && cc->h->content_length != v)) {
        cc->bad = true;
        return false;
    }
    cc->h->has_content_length = 1;
    cc->h->content_length = v;
    cc->seen = true;
    return true;
}

/* One transfer coding: chunked must come last and once (RFC 9112 6.1). */
static bool te_element(void *ctx, struct gw_http1_str el)
{
    struct head_extra *x = ctx;
    struct gw_cursor c = gw_cursor_make(el.p, el.n);
    size_t k = gw_cursor_span(&c, is_tchar);
    bool chunked = gw_text_eq_ci(el.p, k, "chunked");
    x->te_present = 1;
    x->te_chunked_last = chunked;
    if (chunked) x->te_chunked_count++;
    return true;
}

static bool connection_element(void *ctx, struct gw_http1_str el)
{
    struct head_extra *x = ctx;
    if (gw_text_eq_ci(el.p, el.n, "upgrade")) x->conn_upgrade = 1;
    return true;
}

static bool upgrade_element(void *ctx, struct gw_http1_str el)
{
    struct head_extra *x = ctx;
    struct gw_cursor c = gw_cursor_make(el.p, el.n);
    size_t k = gw_cursor_find(&c, '/'); /* protocol-name [ "/" version ] */
    uint8_t kind = GW_HTTP1_SWITCH_OTHER;
    if (gw_text_eq_ci(el.p, k, "h2c")) {
        kind = GW_HTTP1_SWITCH_H2C;
        x->up_h2c = 1;
    } else if (gw_text_eq_ci(el.p, k, "websocket")) {
        kind = GW_HTTP1_SWITCH_WEBSOCKET;
        x->up_websocket = 1;
    }
    if (!x->up_first_kind) x->up_first_kind = kind;
    return true;
}

static bool encoding_element(void *ctx, struct gw_http1_str el)
{
    struct head_extra *x = ctx;
    if (!gw_text_eq_ci(el.p, el.n, "identity")) x->web.encoded = 1;
    return true;
}

static void keep_first(struct gw_http1_str *dst, struct gw_http1_str v)
{
    if (!dst->p) *dst = v;
}

/* Applies one field line's meaning. */
static int apply_field(struct gw_http1_head *h, struct head_extra *x,
                       struct gw_http1_str name, struct gw_http1_str value)
{
    if (gw_text_eq_ci(name.p, name.n, "content-length")) {
        struct cl_ctx cc = { h, false, false };
        list_each(value, cl_element, &cc);
        if (cc.bad || !cc.seen) return GW_ERR_MALFORMED;
    } else if (gw_text_eq_ci(name.p, name.n, "transfer-encoding")) {
        list_each(value, te_element, x);
    } else if (gw_text_eq_ci(name.p, name.n, "content-type")) {
        keep_first(&h->content_type, value);
    } else if (gw_text_eq_ci(name.p, name.n, "connection")) {
        keep_first(&h->connection, value);
        list_each(value, connection_element, x);
    } else if (gw_text_eq_ci(name.p, name.n, "upgrade")) {
        keep_first(&h->upgrade, value);
        list_each(value, upgrade_element, x);
    } else if (gw_text_eq_ci(name.p, name.n, "content-encoding")) {
        list_each(value, encoding_element, x);
    } else if (gw_text_eq_ci(name.p, name.n, "host")) {
        keep_first(&x->host, value);
    } else if (gw_text_eq_ci(name.p, name.n, "user-agent")) {
        keep_first(&x->user_agent, value);
    } else if (gw_text_eq_ci(name.p, name.n, "http2-settings")) {
        keep_first(&x->h2_settings, value);
    } else {
        gw_grpcweb_head_field(&x->web, name.p, name.n, value); /* grpc-status, ... */
    }
    return GW_OK;
}

static void record_name(struct gw_http1_head *h, struct gw_http1_str name)
{
    if (h->n_names == GW_HTTP1_MAX_FIELDS) {
        h->names_truncated = 1;
        return;
    }
    h->names[h->n_names++] = name;
}

/* field-name ":" OWS field-value OWS, for every line up to the empty one. */
static int parse_fields(struct gw_cursor *cur, struct gw_http1_head *h, struct head_extra *x)
{
    for (;;) {
        struct gw_http1_str line;
        int rc = next_line(cur, &line);
        if (rc != GW_OK) return rc;
        if (line.n == 0) return GW_OK;
        /* obs-fold (RFC 9112 section 5.2) and white space before the colon
         * (section 5.1) are refused, as a server must */
        struct gw_cursor lc = gw_cursor_make(line.p, line.n);
        size_t k = gw_cursor_span(&lc, is_tchar);
        if (k == 0 || gw_peek_u8(&lc, k) != ':') return GW_ERR_MALFORMED;
        struct gw_http1_str name = slice(gw_get_bytes(&lc, k), k);
        gw_skip(&lc, 1);
        struct gw_http1_str value = trim(lc);
        record_name(h, name);
        rc = apply_field(h, x, name, value);
        if (rc != GW_OK) return rc;
    }
}

/* Transfer-Encoding and Content-Length together. */
static int framing_common(struct gw_http1_conn *c, struct gw_http1_head *h, const struct head_extra *x)
{
    if (x->te_present && h->has_content_length) {
        h->framing_conflict = 1;
        c->stats.framing_conflicts++;
    }
    /* HTTP/1.0 has no transfer codings: its framing is faulty (RFC 9112 6.1) */
    if (x->te_present && h->version_minor == 0) return GW_ERR_MALFORMED;
    if (x->te_chunked_count > 1) return GW_ERR_MALFORMED;
    h->chunked = x->te_present && x->te_chunked_last;
    return GW_OK;
}

static void start_body(struct gw_http1_conn *c, int dir, bool chunked, uint64_t length, bool to_close)
{
    struct h1_dir *d = &c->d[dir];
    if (chunked) {
        d->state = ST_CHUNK_SIZE;
        d->chunk_size = 0;
        d->chunk_digits = d->chunk_ext = d->chunk_ws = d->saw_cr = 0;
        d->line_bytes = 0;
    } else if (to_close) {
        d->state = ST_BODY_CLOSE;
    } else if (length > 0) {
        d->state = ST_BODY_LEN;
        d->body_left = length;
    } else {
        message_end(c, dir);
    }
}

static int request_head(struct gw_http1_conn *c, const uint8_t *p, size_t n)
{
    struct gw_http1_request req;
    struct head_extra x;
    memset(&req, 0, sizeof req);
    memset(&x, 0, sizeof x);
    struct gw_cursor cur = gw_cursor_make(p, n);
    struct gw_http1_str line;
    int rc = next_line(&cur, &line);
    if (rc == GW_OK) rc = parse_request_line(line, &req);
    if (rc == GW_OK) rc = parse_fields(&cur, &req.h, &x);
    if (rc == GW_OK) rc = framing_common(c, &req.h, &x);
    if (rc != GW_OK) return rc;
    /* a request's framing must be known (RFC 9112 section 6.3) */
    if (x.te_present && !req.h.chunked && !req.is_connect) return GW_ERR_MALFORMED;

    struct h1_dir *d = &c->d[GW_DIR_TO_SERVER];
    req.h.ts = c->now;
    req.seq = ++c->req_seq;
    req.host = x.host;
    req.user_agent = x.user_agent;
    req.http2_settings = x.h2_settings;
    req.upgrade_h2c = x.up_h2c && x.conn_upgrade;
    req.asks_switch = req.is_connect || req.h.upgrade.p != NULL;
    req.grpc = req.h.content_type.p && gw_text_prefix_ci(req.h.content_type.p, req.h.content_type.n, "application/grpc");
    c->stats.requests++;

    struct gw_grpcweb_call *wc = req.grpc && !req.is_connect ? gw_grpcweb_request(c->web, &req, &x.web) : NULL;
    if (req.seq > c->resp_seq) { /* else its answer came first (out of order) */
        struct pending e = { req.seq, req.is_head, req.is_connect, wc };
        queue_push(c, &e);
    }
    d->call = wc;
    d->msg_seq = req.seq;
    d->msg_ask_kind = 0;
    if (req.is_connect) d->msg_ask_kind = GW_HTTP1_SWITCH_CONNECT;
    else if (req.asks_switch) d->msg_ask_kind = x.up_h2c ? GW_HTTP1_SWITCH_H2C : x.up_first_kind;
    if (c->cb.on_request) c->cb.on_request(c->user, &req);

    /* a CONNECT request has no content (RFC 9110 section 9.3.6) */
    if (req.is_connect) message_end(c, GW_DIR_TO_SERVER);
    else start_body(c, GW_DIR_TO_SERVER, req.h.chunked, req.h.content_length, false);
    return GW_OK;
}

static int dir_run(struct gw_http1_conn *c, int dir, const uint8_t *p, size_t n, size_t *used);

/* dir_run(server) -> response_head -> resume_client -> dir_run(client)
 * recurses once at most: the client direction parses only requests, and a
 * request never leads to response_head. */
/* NOLINTBEGIN(misc-no-recursion) */
/* Resumes a client that waited for an answer that did not switch: what it
 * held is HTTP/1.x after all. */
static void resume_client(struct gw_http1_conn *c)
{
    struct h1_dir *d = &c->d[GW_DIR_TO_SERVER];
    struct growbuf h = c->hold;
    memset(&c->hold, 0, sizeof c->hold);
    d->state = ST_HEAD;
    size_t used = 0;
    int rc = dir_run(c, GW_DIR_TO_SERVER, h.p, h.len, &used);
    if (rc == RUN_SWITCH) {
        dir_switch(c, GW_DIR_TO_SERVER, c->switch_pending, h.p + used, h.len - used);
    } else if (rc == RUN_AWAIT) {
        /* waiting again: the rest stays held (and may be a preface) */
        size_t more = 0;
        memmove(h.p, h.p + used, h.len - used);
        h.len -= (uint32_t)used;
        c->hold = h;
        memset(&h, 0, sizeof h);
        await_feed(c, NULL, 0, &more);
    }
    growbuf_free(c->pool, &h);
}

static int response_head(struct gw_http1_conn *c, const uint8_t *p, size_t n)
{
    struct gw_http1_response resp;
    struct head_extra x;
    memset(&resp, 0, sizeof resp);
    memset(&x, 0, sizeof x);
    struct gw_cursor cur = gw_cursor_make(p, n);
    struct gw_http1_str line;
    int rc = next_line(&cur, &line);
    if (rc == GW_OK) rc = parse_status_line(line, &resp);
    if (rc == GW_OK) rc = parse_fields(&cur, &resp.h, &x);
    if (rc == GW_OK) rc = framing_common(c, &resp.h, &x);
    if (rc != GW_OK) return rc;

    resp.h.ts = c->now;
    c->stats.responses++;
    resp.informational = resp.status < 200 && resp.status != 101;
    struct pending e = { 0, 0, 0, NULL };
    uint32_t seq = 0; /* the request answered, by position */
    if (!resp.informational) {
        seq = ++c->resp_seq;
        if (!queue_take(c, seq, &e)) c->stats.unmatched_responses++;
        /* known only once parsed: not if the client failed before it or
         * the answer came first (a request beyond the queue is known) */
        if (seq <= c->req_seq) resp.request_seq = seq;
    }
    resp.to_head = e.is_head;
    resp.to_connect = e.is_connect;
    if (resp.status == 101) resp.switch_kind = x.up_first_kind ? x.up_first_kind : GW_HTTP1_SWITCH_OTHER;
    else if (resp.to_connect && resp.status / 100 == 2) resp.switch_kind = GW_HTTP1_SWITCH_CONNECT;

    struct h1_dir *d = &c->d[GW_DIR_TO_CLIENT];
    d->call = resp.informational ? NULL : e.call;
    if (d->call) gw_grpcweb_response(d->call, &resp, &x.web);
    if (c->cb.on_response) c->cb.on_response(c->user, &resp);

    if (resp.switch_kind) {
        if (c->cb.on_message_end) c->cb.on_message_end(c->user, GW_DIR_TO_CLIENT);
        d->call = NULL;
        dir_switch(c, GW_DIR_TO_CLIENT, resp.switch_kind, NULL, 0);
        c->switch_pending = resp.switch_kind;
        c->switch_after = seq; /* request seq may still be on its way */
        /* a client waiting at a boundary follows now, one inside a
         * message at that message's end */
        if (client_switch_due(c)) client_switch_held(c, c->switch_pending);
        return GW_OK;
    }
    bool no_body = resp.informational || resp.to_head || resp.status == 204 || resp.status == 304;
    bool chunked = !no_body && resp.h.chunked;
    bool to_close = !no_body && !chunked && (x.te_present || !resp.h.has_content_length);
    start_body(c, GW_DIR_TO_CLIENT, chunked, no_body ? 0 : resp.h.content_length, to_close);
    if (!resp.informational && c->d[GW_DIR_TO_SERVER].state == ST_AWAIT && c->resp_seq >= c->await_seq)
        resume_client(c);
    return GW_OK;
}

/* ---- per-state steps ---------------------------------------------------------- */

static int head_complete(struct gw_http1_conn *c, int dir, const uint8_t *p, size_t n)
{
    struct h1_dir *d = &c->d[dir];
    d->in_head = 0;
    d->line_len = 0;
    int rc = dir == GW_DIR_TO_SERVER ? request_head(c, p, n) : response_head(c, p, n);
    d->head.len = 0;
    return rc;
}

/* Scans for the empty line that ends a head; parses it once complete. */
static int head_step(struct gw_http1_conn *c, int dir, const uint8_t *p, size_t n, size_t *used)
{
    struct h1_dir *d = &c->d[dir];
    struct gw_cursor cur = gw_cursor_make(p, n);
    if (!d->in_head) {
        /* empty lines before a head are skipped (RFC 9112 section 2.2) */
        *used = gw_skip_while(&cur, is_eol);
        if (!gw_cursor_left(&cur)) return GW_OK;
        d->in_head = 1;
        d->line_len = 0;
    }
    size_t start = cur.off;
    while (gw_cursor_left(&cur)) {
        size_t k = gw_cursor_find(&cur, '\n'); /* this line's bytes here, before its LF */
        bool lf = k < gw_cursor_left(&cur);
        if (d->line_len == 0 && k > 0) d->line_first = (uint8_t)gw_peek_u8(&cur, 0);
        d->line_len += (uint32_t)GW_MIN(k, (size_t)GW_HTTP1_HEAD_MAX + 1);
        if ((size_t)d->head.len + (cur.off + k - start) + (lf ? 1 : 0) > GW_HTTP1_HEAD_MAX) return GW_ERR_MALFORMED;
        if (!lf) break;
        gw_skip(&cur, k + 1);
        bool empty = d->line_len == 0 || (d->line_len == 1 && d->line_first == '\r');
        d->line_len = 0;
        if (!empty) continue;
        *used = cur.off;
        if (d->head.len == 0) return head_complete(c, dir, p + start, cur.off - start);
        int rc = growbuf_append(c->pool, &d->head, p + start, cur.off - start, GW_HTTP1_HEAD_MAX, HEAD_BUF_INITIAL);
        return rc == GW_OK ? head_complete(c, dir, d->head.p, d->head.len) : rc;
    }
    *used = n;
    return growbuf_append(c->pool, &d->head, p + start, n - start, GW_HTTP1_HEAD_MAX, HEAD_BUF_INITIAL);
}

static int body_len_step(struct gw_http1_conn *c, int dir, const uint8_t *p, size_t n, size_t *used)
{
    struct h1_dir *d = &c->d[dir];
    size_t k = (size_t)GW_MIN((uint64_t)n, d->body_left);
    d->body_left -= k;
    *used = k;
    deliver_body(c, dir, p, k);
    if (d->body_left == 0) {
        if (d->state == ST_CHUNK_DATA) {
            d->state = ST_CHUNK_END;
            d->saw_cr = 0;
        } else {
            message_end(c, dir);
        }
    }
    return GW_OK;
}

/* chunk-size [ chunk-ext ] CRLF (RFC 9112 section 7.1). */
static int chunk_size_line_end(struct gw_http1_conn *c, int dir)
{
    struct h1_dir *d = &c->d[dir];
    if (d->chunk_digits == 0) return GW_ERR_MALFORMED;
    d->saw_cr = 0;
    d->line_bytes = 0;
    if (d->chunk_size == 0) {
        d->state = ST_TRAILERS;
        d->line_len = 0;
        return GW_OK;
    }
    d->state = ST_CHUNK_DATA;
    d->body_left = d->chunk_size;
    return GW_OK;
}

static int chunk_size_step(struct gw_http1_conn *c, int dir, const uint8_t *p, size_t n, size_t *used)
{
    struct h1_dir *d = &c->d[dir];
    struct gw_cursor cur = gw_cursor_make(p, n);
    while (gw_cursor_left(&cur)) {
        uint8_t b = gw_get_u8(&cur);
        *used = cur.off;
        if (++d->line_bytes > GW_HTTP1_CHUNK_LINE_MAX) return GW_ERR_MALFORMED;
        if (d->saw_cr && b != '\n') return GW_ERR_MALFORMED;
        if (b == '\n') return chunk_size_line_end(c, dir);
        if (b == '\r') {
            d->saw_cr = 1;
        } else if (d->chunk_ext) {
            if (b == 0) return GW_ERR_MALFORMED;
        } else if (b == ';') {
            if (d->chunk_digits == 0) return GW_ERR_MALFORMED;
            d->chunk_ext = 1;
        } else if (gw_is_blank(b)) {
            if (d->chunk_digits == 0) return GW_ERR_MALFORMED;
            d->chunk_ws = 1; /* BWS before an extension */
        } else {
            int v = hex_value(b);
            if (v < 0 || d->chunk_ws || d->chunk_size > (UINT64_MAX >> 4)) return GW_ERR_MALFORMED;
            d->chunk_size = (d->chunk_size << 4) | (uint64_t)v;
            if (d->chunk_digits < UINT8_MAX) d->chunk_digits++;
        }
    }
    *used = n;
    return GW_OK;
}

static int chunk_end_step(struct gw_http1_conn *c, int dir, const uint8_t *p, size_t n, size_t *used)
{
    struct h1_dir *d = &c->d[dir];
    struct gw_cursor cur = gw_cursor_make(p, n);
    uint8_t b = gw_get_u8(&cur); /* dir_run steps with n > 0 */
    *used = 1;
    if (b == '\r' && !d->saw_cr) {
        d->saw_cr = 1;
        return GW_OK;
    }
    if (b != '\n') return GW_ERR_MALFORMED;
    d->state = ST_CHUNK_SIZE;
    d->chunk_size = 0;
    d->chunk_digits = d->chunk_ext = d->chunk_ws = d->saw_cr = 0;
    d->line_bytes = 0;
    return GW_OK;
}

/* trailer-section CRLF: lines up to an empty one, skipped. */
static int trailers_step(struct gw_http1_conn *c, int dir, const uint8_t *p, size_t n, size_t *used)
{
    struct h1_dir *d = &c->d[dir];
    struct gw_cursor cur = gw_cursor_make(p, n);
    while (gw_cursor_left(&cur)) {
        uint8_t b = gw_get_u8(&cur);
        *used = cur.off;
        if (++d->line_bytes > GW_HTTP1_HEAD_MAX) return GW_ERR_MALFORMED;
        if (d->saw_cr && b != '\n') return GW_ERR_MALFORMED;
        if (b == '\n') {
            bool empty = d->line_len == 0;
            d->line_len = 0;
            d->saw_cr = 0;
            if (empty) {
                message_end(c, dir);
                return GW_OK;
            }
        } else if (b == '\r') {
            d->saw_cr = 1;
        } else if (b == 0) {
            return GW_ERR_MALFORMED;
        } else {
            d->line_len++;
        }
    }
    *used = n;
    return GW_OK;
}

static int dir_step(struct gw_http1_conn *c, int dir, const uint8_t *p, size_t n, size_t *used)
{
    switch (c->d[dir].state) {
    case ST_HEAD: return head_step(c, dir, p, n, used);
    case ST_BODY_LEN:
    case ST_CHUNK_DATA: return body_len_step(c, dir, p, n, used);
    case ST_CHUNK_SIZE: return chunk_size_step(c, dir, p, n, used);
    case ST_CHUNK_END: return chunk_end_step(c, dir, p, n, used);
    case ST_TRAILERS: return trailers_step(c, dir, p, n, used);
    case ST_BODY_CLOSE:
        deliver_body(c, dir, p, n);
        *used = n;
        return GW_OK;
    default: /* ST_DONE: after FIN nothing is parsed */
        *used = n;
        return GW_OK;
    }
}

/* Runs direction dir over p/n. RUN_DONE: all consumed; RUN_AWAIT: the client
 * waits for an answer from *used on; RUN_SWITCH: the direction switches at
 * *used (the server already did, the client is due: the caller switches it
 * with whatever it holds); or a gw_err (the direction failed). Reentered
 * once at most: a server head that refuses a switch resumes the client. */
static int dir_run(struct gw_http1_conn *c, int dir, const uint8_t *p, size_t n, size_t *used)
{
    struct h1_dir *d = &c->d[dir];
    size_t off = 0;
    for (;;) {
        *used = off;
        if (dir == GW_DIR_TO_SERVER && client_switch_due(c)) return RUN_SWITCH;
        if (d->state == ST_AWAIT) return RUN_AWAIT;
        if (d->state == ST_SWITCHED) return RUN_SWITCH;
        if (d->state == ST_FAILED) return d->err;
        if (off == n) return RUN_DONE;
        size_t k = 0;
        int rc = dir_step(c, dir, p + off, n - off, &k);
        off += k;
        if (rc != GW_OK) {
            fail(d, rc);
            *used = off;
            return rc;
        }
    }
}

/* NOLINTEND(misc-no-recursion) */

/* ---- stats ------------------------------------------------------------------ */

const struct gw_stat_field gw_http1_stat_fields[] = {
    GW_STAT_FIELD(struct gw_http1_stats, requests, "requests"),
    GW_STAT_FIELD(struct gw_http1_stats, responses, "responses"),
    GW_STAT_FIELD(struct gw_http1_stats, body_bytes[GW_DIR_TO_SERVER], "body_bytes_to_server"),
    GW_STAT_FIELD(struct gw_http1_stats, body_bytes[GW_DIR_TO_CLIENT], "body_bytes_to_client"),
    GW_STAT_FIELD(struct gw_http1_stats, unmatched_responses, "unmatched_responses"),
    GW_STAT_FIELD(struct gw_http1_stats, queue_overflows, "queue_overflows"),
    GW_STAT_FIELD(struct gw_http1_stats, framing_conflicts, "framing_conflicts"),
    GW_STAT_FIELD(struct gw_http1_stats, gap_bytes_skipped, "gap_bytes_skipped"),
};
const size_t gw_http1_stat_fields_len = GW_ARRAY_LEN(gw_http1_stat_fields);

void gw_http1_stats_add(struct gw_http1_stats *total, const struct gw_http1_stats *one)
{
    gw_stats_fold(gw_http1_stat_fields, gw_http1_stat_fields_len, total, one);
}

/* ---- public API --------------------------------------------------------------- */

const char *gw_http1_switch_str(int kind)
{
    static const char *const names[] = { "none", "h2c", "connect", "websocket", "other" }; /* by enum */
    return kind >= 0 && kind < (int)GW_ARRAY_LEN(names) ? names[kind] : "unknown";
}

struct gw_http1_conn *gw_http1_conn_create(struct gw_pool *pool, const struct gw_http1_callbacks *cb,
                                           void *user)
{
    struct gw_http1_conn *c = gw_pool_calloc(pool, 1, sizeof *c);
    if (!c) return NULL;
    if (cb) c->cb = *cb;
    c->user = user;
    c->pool = pool;
    c->web = gw_grpcweb_create(pool, c->cb.on_grpc_web_call, user);
    if (!c->web) {
        gw_pool_free(pool, c);
        return NULL;
    }
    return c;
}

void gw_http1_conn_destroy(struct gw_http1_conn *c)
{
    if (!c) return;
    gw_http1_conn_close(c, GW_END_CONN_CLOSED, c->now);
    gw_grpcweb_destroy(c->web);
    growbuf_free(c->pool, &c->d[0].head);
    growbuf_free(c->pool, &c->d[1].head);
    growbuf_free(c->pool, &c->hold);
    gw_pool_free(c->pool, c);
}

int gw_http1_conn_feed(struct gw_http1_conn *c, int dir, const uint8_t *p, size_t n,
                       gw_time_us ts, size_t *consumed)
{
    size_t dummy;
    if (!consumed) consumed = &dummy;
    *consumed = 0;
    if (!c || (dir != GW_DIR_TO_SERVER && dir != GW_DIR_TO_CLIENT) || (!p && n)) return GW_ERR_ARG;
    struct h1_dir *d = &c->d[dir];
    if (ts > c->now) c->now = ts;
    if (d->state == ST_FAILED) return d->err;
    if (d->state == ST_SWITCHED) return GW_ERR_UNSUPPORTED;
    if (d->fin) { /* http1.h: later feeds of dir are ignored */
        *consumed = n;
        return GW_OK;
    }
    if (d->state == ST_AWAIT) return await_feed(c, p, n, consumed);

    size_t used = 0;
    int rc = dir_run(c, dir, p, n, &used);
    *consumed = used;
    switch (rc) {
    case RUN_DONE:
        return GW_OK;
    case RUN_SWITCH:
        /* the server switched inside its head; a client switches here, and
         * what follows in p is the caller's to hand on */
        if (d->state != ST_SWITCHED) dir_switch(c, dir, c->switch_pending, NULL, 0);
        return GW_ERR_UNSUPPORTED;
    case RUN_AWAIT: {
        size_t more = 0;
        rc = await_feed(c, p + used, n - used, &more);
        *consumed = used + more;
        return rc;
    }
    default:
        return rc;
    }
}

int gw_http1_conn_gap(struct gw_http1_conn *c, int dir, size_t len, gw_time_us ts)
{
    if (!c || (dir != GW_DIR_TO_SERVER && dir != GW_DIR_TO_CLIENT)) return GW_ERR_ARG;
    struct h1_dir *d = &c->d[dir];
    if (ts > c->now) c->now = ts;
    if (d->state == ST_SWITCHED) return GW_ERR_UNSUPPORTED;
    if (d->state == ST_FAILED) return d->err;
    if (d->fin) return GW_OK; /* nothing more of dir is parsed: nothing to skip */
    bool sized = d->state == ST_BODY_LEN || d->state == ST_CHUNK_DATA;
    if (d->state == ST_BODY_CLOSE || (sized && len <= d->body_left)) {
        c->stats.gap_bytes_skipped += len;
        gw_grpcweb_gap(d->call, dir, len);
        if (!sized) return GW_OK;
        d->body_left -= len;
        size_t used = 0;
        if (d->body_left == 0) body_len_step(c, dir, NULL, 0, &used);
        return GW_OK;
    }
    /* the next head would start at an unknown place */
    if (dir == GW_DIR_TO_SERVER) growbuf_free(c->pool, &c->hold);
    fail(d, GW_ERR_TRUNCATED);
    return GW_ERR_TRUNCATED;
}

void gw_http1_conn_fin(struct gw_http1_conn *c, int dir, gw_time_us ts)
{
    if (!c || (dir != GW_DIR_TO_SERVER && dir != GW_DIR_TO_CLIENT)) return;
    struct h1_dir *d = &c->d[dir];
    if (ts > c->now) c->now = ts;
    if (d->state == ST_FAILED || d->state == ST_SWITCHED) return;
    d->fin = 1;
    if (d->state == ST_BODY_CLOSE) message_end(c, dir);
    /* a client waiting for an answer may still be answered (from what it
     * held before the FIN) */
    if (d->state == ST_HEAD) d->state = ST_DONE;
}

void gw_http1_conn_close(struct gw_http1_conn *c, int reason, gw_time_us ts)
{
    if (!c) return;
    if (ts > c->now) c->now = ts;
    if (reason == GW_END_CONN_CLOSED && c->d[GW_DIR_TO_CLIENT].state == ST_BODY_CLOSE)
        message_end(c, GW_DIR_TO_CLIENT);
    /* Every call still open ends here, however far its bodies got. No
     * "closed" state: bytes fed after this (a RST the endpoints ignored)
     * are parsed, and the calls they open end at the next close or at
     * destroy; a close with nothing open writes nothing. */
    for (uint32_t i = 0; i < c->q_len; i++) c->q[(c->q_head + i) % GW_HTTP1_MAX_PENDING].call = NULL;
    c->d[GW_DIR_TO_SERVER].call = c->d[GW_DIR_TO_CLIENT].call = NULL;
    gw_grpcweb_close(c->web, reason, c->now);
    GW_ASSERT(gw_grpcweb_open_calls(c->web) == 0);
}

int gw_http1_conn_switched(const struct gw_http1_conn *c, int dir)
{
    if (!c || (dir != GW_DIR_TO_SERVER && dir != GW_DIR_TO_CLIENT)) return 0;
    return c->d[dir].state == ST_SWITCHED ? c->d[dir].switch_kind : 0;
}

const struct gw_http1_stats *gw_http1_conn_stats(const struct gw_http1_conn *c)
{
    return c ? &c->stats : NULL;
}

/* Between messages both ways with nothing owed: what a connection created
 * now would be, bar the counters (see http1.h). */
static bool dir_idle(const struct h1_dir *d)
{
    return d->state == ST_HEAD && !d->in_head && d->head.len == 0 && d->line_len == 0 &&
           !d->call && !d->fin && d->switch_kind == 0;
}

bool gw_http1_conn_idle(const struct gw_http1_conn *c)
{
    return dir_idle(&c->d[0]) && dir_idle(&c->d[1]) && c->q_len == 0 && c->hold.len == 0 &&
           !c->switch_pending && c->await_kind == 0 && gw_grpcweb_open_calls(c->web) == 0;
}

const struct gw_grpcweb_stats *gw_http1_conn_web_stats(const struct gw_http1_conn *c)
{
    return c ? gw_grpcweb_stats(c->web) : NULL;
}

/* ---- sniffing ----------------------------------------------------------------- */

static const char *const sniff_methods[] = {
    "GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "CONNECT ", "OPTIONS ", "TRACE ", "PATCH ",
};

int gw_http1_sniff_request(const uint8_t *p, size_t n)
{
    if (!p || n == 0) return GW_ERR_NEED_MORE;
    struct gw_cursor cur = gw_cursor_make(p, n);
    bool prefix = false;
    for (size_t i = 0; i < GW_ARRAY_LEN(sniff_methods); i++) {
        enum gw_cursor_match m = gw_cursor_match(&cur, sniff_methods[i], strlen(sniff_methods[i]));
        if (m == GW_MATCH_FULL) return GW_OK;
        if (m == GW_MATCH_PREFIX) prefix = true;
    }
    return prefix ? GW_ERR_NEED_MORE : GW_ERR_UNSUPPORTED;
}

/* The byte i ahead is not there yet or passes ok. */
static bool absent_or(const struct gw_cursor *cur, size_t i, bool (*ok)(uint8_t))
{
    int ch = gw_peek_u8(cur, i);
    return ch < 0 || ok((uint8_t)ch);
}

/* "HTTP/1." DIGIT SP DIGIT, judged on what is there so far. */
int gw_http1_sniff_response(const uint8_t *p, size_t n)
{
    static const char lead[] = "HTTP/1.";
    if (!p || n == 0) return GW_ERR_NEED_MORE;
    struct gw_cursor cur = gw_cursor_make(p, n);
    enum gw_cursor_match m = gw_cursor_match(&cur, lead, sizeof lead - 1);
    if (m != GW_MATCH_FULL) return m == GW_MATCH_NO ? GW_ERR_UNSUPPORTED : GW_ERR_NEED_MORE;
    gw_skip(&cur, sizeof lead - 1);
    if (!absent_or(&cur, 0, gw_is_digit) || !absent_or(&cur, 1, is_space) || !absent_or(&cur, 2, gw_is_digit))
        return GW_ERR_UNSUPPORTED;
    return gw_cursor_left(&cur) > 2 ? GW_OK : GW_ERR_NEED_MORE;
}

/* method SP request-target SP "HTTP/1." DIGIT, then CRLF or LF: strict, a
 * single space each (what clients send), so that little else passes. */
int gw_http1_sniff_request_line(const uint8_t *p, size_t n)
{
    static const char version[] = "HTTP/1.";
    if (!p || n == 0) return GW_ERR_NEED_MORE;
    struct gw_cursor cur = gw_cursor_make(p, n);
    struct gw_cursor method = gw_cursor_window(&cur, SNIFF_METHOD_MAX + 1);
    size_t k = gw_cursor_span(&method, is_tchar);
    if (k > SNIFF_METHOD_MAX) return GW_ERR_UNSUPPORTED;
    gw_skip(&cur, k);
    if (!gw_cursor_left(&cur)) return GW_ERR_NEED_MORE;
    if (k == 0 || gw_get_u8(&cur) != ' ') return GW_ERR_UNSUPPORTED;
    k = gw_skip_while(&cur, is_target_char);
    if (!gw_cursor_left(&cur)) return k < GW_HTTP1_HEAD_MAX ? GW_ERR_NEED_MORE : GW_ERR_UNSUPPORTED;
    if (k == 0 || gw_get_u8(&cur) != ' ') return GW_ERR_UNSUPPORTED;
    enum gw_cursor_match m = gw_cursor_match(&cur, version, sizeof version - 1);
    if (m != GW_MATCH_FULL) return m == GW_MATCH_NO ? GW_ERR_UNSUPPORTED : GW_ERR_NEED_MORE;
    gw_skip(&cur, sizeof version - 1);
    if (!gw_cursor_left(&cur)) return GW_ERR_NEED_MORE;
    if (!gw_is_digit(gw_get_u8(&cur))) return GW_ERR_UNSUPPORTED;
    if (gw_peek_u8(&cur, 0) == '\r') gw_skip(&cur, 1);
    int lf = gw_peek_u8(&cur, 0);
    if (lf < 0) return GW_ERR_NEED_MORE;
    return lf == '\n' ? GW_OK : GW_ERR_UNSUPPORTED;
}
