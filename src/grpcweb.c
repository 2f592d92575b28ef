/*
 * grpcweb.c - gRPC-Web calls of one HTTP/1.x connection (grpcweb.h).
 *
 * Invariants:
 *  - Every call lives in w->calls[] (at most GW_HTTP1_MAX_WEB_CALLS) from
 *    gw_grpcweb_request until it is handed on, exactly once, by
 *    call_emit: the only place that writes a call and the only place that
 *    frees one. Close and destroy walk the table, so no order of calls can
 *    leave a call unwritten or unfreed, or write one twice.
 *  - Body bytes are never copied: binary bodies go to the framer in place;
 *    text bodies are decoded into a small stack batch and framed from it.
 *    Per direction of a call the state is a framer (grpcframe.h), a base64
 *    quantum and a trailer-line state; a trailer value is written straight
 *    into the call's bounded fields.
 *  - A direction whose framer stopped keeps what it counted; its count is
 *    then partial (messages_partial), unless the body was not framed at
 *    all (a non-gRPC answer).
 */
#include "grpcwatch/grpcweb.h"

#include "grpcwatch/cursor.h"
#include "grpcwatch/grpcframe.h"
#include "grpcwatch/text.h"

#include <stdlib.h>
#include <string.h>

#define STATUS_MAX_DIGITS GW_TEXT_STATUS_MAX_DIGITS
#define NAME_SCRATCH 64          /* lowercase copy of a field name */
#define TRAILER_NAME_MAX 16      /* "grpc-message" and "grpc-status" fit */
#define B64_OUT_BATCH 96

enum web_enc { ENC_BINARY = 0, ENC_TEXT, ENC_UNFRAMED };

enum trailer_state { TR_NAME = 0, TR_VALUE_WS, TR_VALUE, TR_SKIP };
enum trailer_field { TRF_NONE = 0, TRF_STATUS, TRF_MESSAGE };

/* One direction of a call. */
struct web_dir {
    struct gw_grpcframe fr;
    uint8_t enc;           /* enum web_enc */
    uint8_t in_trailer;    /* inside an uncompressed trailer frame */
    uint32_t b64_acc;      /* sextets of the current base64 quantum */
    uint8_t b64_have;      /* 0..3 sextets in b64_acc */
    uint8_t b64_pad;       /* one more '=' may follow ("xx==") */
    uint8_t tr_state, tr_field, tr_name_len, tr_digits;
    char tr_name[TRAILER_NAME_MAX];
    int32_t tr_status;
    uint16_t tr_msg_len, tr_msg_keep; /* grpc-message bytes copied, up to the last non-blank */
};

struct gw_grpcweb_call {
    struct gw_grpc_call call;
    struct web_dir d[2];
};

struct gw_grpcweb {
    gw_grpc_call_fn on_call;
    void *user;
    struct gw_pool *pool;      /* its memory and its calls' */
    gw_time_us now;            /* latest time seen: destroy's end_ts */
    struct gw_grpcweb_call *calls[GW_HTTP1_MAX_WEB_CALLS];
    struct gw_grpcweb_stats stats;
};

const struct gw_stat_field gw_grpcweb_stat_fields[] = {
    GW_STAT_FIELD(struct gw_grpcweb_stats, calls, "grpc_web_calls"),
    GW_STAT_FIELD(struct gw_grpcweb_stats, messages[GW_DIR_TO_SERVER], "grpc_web_request_messages"),
    GW_STAT_FIELD(struct gw_grpcweb_stats, messages[GW_DIR_TO_CLIENT], "grpc_web_response_messages"),
    GW_STAT_FIELD(struct gw_grpcweb_stats, calls_untracked, "grpc_web_calls_untracked"),
    GW_STAT_FIELD(struct gw_grpcweb_stats, trailer_frames, "grpc_web_trailer_frames"),
};
const size_t gw_grpcweb_stat_fields_len = GW_ARRAY_LEN(gw_grpcweb_stat_fields);

void gw_grpcweb_stats_add(struct gw_grpcweb_stats *total, const struct gw_grpcweb_stats *one)
{
    gw_stats_fold(gw_grpcweb_stat_fields, gw_grpcweb_stat_fields_len, total, one);
}

/* ---- small helpers -------------------------------------------------------- */


static void set_grpc_str(struct gw_grpc_str *dst, struct gw_http1_str v)
{
    if (!v.p) return;
    dst->truncated = gw_text_copy(dst->s, sizeof dst->s, v.p, v.n);
    dst->present = 1;
}

/* ---- trailers (flag 0x80 frames: "name: value\r\n" lines) ------------------ */

static void trailer_field_begin(struct gw_grpcweb_call *wc, struct web_dir *f)
{
    f->tr_field = TRF_NONE;
    if (gw_text_eq_ci((const uint8_t *)f->tr_name, f->tr_name_len, "grpc-status")) f->tr_field = TRF_STATUS;
    else if (gw_text_eq_ci((const uint8_t *)f->tr_name, f->tr_name_len, "grpc-message")) f->tr_field = TRF_MESSAGE;
    f->tr_status = 0;
    f->tr_digits = 0;
    f->tr_msg_len = f->tr_msg_keep = 0;
    if (f->tr_field == TRF_MESSAGE) {
        wc->call.grpc_message.truncated = 0;
        wc->call.grpc_message.s[0] = '\0';
    }
}

static void trailer_value_byte(struct gw_grpcweb_call *wc, struct web_dir *f, uint8_t b)
{
    if (f->tr_field == TRF_STATUS) {
        if (gw_is_blank(b)) return;  /* only trailing blanks can follow: digits end the value */
        if (!gw_is_digit(b) || f->tr_digits >= STATUS_MAX_DIGITS) f->tr_status = -1;
        else if (f->tr_status >= 0) f->tr_status = f->tr_status * 10 + (b - '0');
        f->tr_digits++;
    } else if (f->tr_field == TRF_MESSAGE) {
        struct gw_grpc_str *m = &wc->call.grpc_message;
        if (f->tr_msg_len < sizeof m->s - 1) {
            m->s[f->tr_msg_len++] = (char)b;
            if (!gw_is_blank(b)) f->tr_msg_keep = f->tr_msg_len;
        } else if (!gw_is_blank(b)) {
            m->truncated = 1;
        }
    }
}

/* A trailer line ended (or the frame did): apply the field it held. */
static void trailer_line_end(struct gw_grpcweb_call *wc, struct web_dir *f)
{
    if (f->tr_state == TR_VALUE_WS || f->tr_state == TR_VALUE) {
        if (f->tr_field == TRF_STATUS) {
            wc->call.grpc_status = f->tr_digits ? f->tr_status : -1;
        } else if (f->tr_field == TRF_MESSAGE) {
            wc->call.grpc_message.s[f->tr_msg_keep] = '\0';
            wc->call.grpc_message.present = 1;
        }
    }
    f->tr_state = TR_NAME;
    f->tr_name_len = 0;
    f->tr_field = TRF_NONE;
}

static void trailer_byte(struct gw_grpcweb_call *wc, struct web_dir *f, uint8_t b)
{
    if (b == '\r' || b == '\n') {
        trailer_line_end(wc, f);
        return;
    }
    switch (f->tr_state) {
    case TR_NAME:
        if (b == ':') {
            trailer_field_begin(wc, f);
            f->tr_state = TR_VALUE_WS;
        } else if (f->tr_name_len < TRAILER_NAME_MAX) {
            f->tr_name[f->tr_name_len++] = (char)b;
        } else {
            f->tr_state = TR_SKIP; /* longer than any name we read */
        }
        break;
    case TR_VALUE_WS:
        if (gw_is_blank(b)) break;
        f->tr_state = TR_VALUE;
        trailer_value_byte(wc, f, b);
        break;
    case TR_VALUE:
        trailer_value_byte(wc, f, b);
        break;
    default: /* TR_SKIP */
        break;
    }
}

/* ---- framing --------------------------------------------------------------- */

static void mark_partial(struct gw_grpcweb_call *wc, int dir)
{
    wc->call.messages_partial |= dir == GW_DIR_TO_SERVER ? GW_GRPC_PARTIAL_REQUEST : GW_GRPC_PARTIAL_RESPONSE;
}

/* Where messages start is no longer known in this direction. */
static void dir_stop(struct gw_grpcweb_call *wc, int dir)
{
    struct web_dir *f = &wc->d[dir];
    if (f->enc == ENC_UNFRAMED || gw_grpcframe_stopped(&f->fr)) return;
    gw_grpcframe_stop(&f->fr);
    mark_partial(wc, dir);
}

/* A frame's prefix is complete. */
static void frame_begin(struct gw_grpcweb *w, struct gw_grpcweb_call *wc, int dir, uint8_t flag)
{
    struct web_dir *f = &wc->d[dir];
    f->in_trailer = 0;
    if (flag & GW_GRPCFRAME_FLAG_TRAILERS) {
        /* 0x80: trailers; 0x81: compressed trailers, which we can not read */
        w->stats.trailer_frames++;
        f->in_trailer = flag == GW_GRPCFRAME_FLAG_TRAILERS;
        f->tr_state = TR_NAME;
        f->tr_name_len = 0;
        return;
    }
    w->stats.messages[dir]++;
    uint64_t n = gw_grpcframe_messages(&f->fr);
    if (dir == GW_DIR_TO_SERVER) wc->call.request_messages = n;
    else wc->call.response_messages = n;
}

/* Decoded body bytes of one direction, in gRPC framing. */
static void frame_bytes(struct gw_grpcweb *w, struct gw_grpcweb_call *wc, int dir, const uint8_t *p, size_t n)
{
    struct web_dir *f = &wc->d[dir];
    struct gw_grpcframe_ev ev;
    size_t k;
    while (n > 0 && (k = gw_grpcframe_step(&f->fr, p, n, &ev)) > 0) {
        p += k;
        n -= k;
        if (ev.prefix) frame_begin(w, wc, dir, ev.flag);
        if (f->in_trailer) {
            struct gw_cursor body = gw_cursor_make(ev.body, ev.body_len);
            while (gw_cursor_left(&body)) trailer_byte(wc, f, gw_get_u8(&body));
        }
        if (ev.end && f->in_trailer) {
            trailer_line_end(wc, f);
            f->in_trailer = 0;
        }
    }
}

/* Standard and URL-safe alphabets (RFC 4648 sections 4 and 5). */
static int b64_value(uint8_t ch)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (gw_is_digit(ch)) return ch - '0' + 52;
    if (ch == '+' || ch == '-') return 62;
    if (ch == '/' || ch == '_') return 63;
    return -1;
}

static size_t b64_flush_quantum(struct web_dir *f, uint8_t *out)
{
    size_t o = 0;
    if (f->b64_have == 2) {
        out[o++] = (uint8_t)(f->b64_acc >> 4);
    } else if (f->b64_have == 3) {
        out[o++] = (uint8_t)(f->b64_acc >> 10);
        out[o++] = (uint8_t)(f->b64_acc >> 2);
    }
    f->b64_have = 0;
    f->b64_acc = 0;
    return o;
}

/* One '=': ends a quantum of 2 or 3 sextets ("xx=" takes a second '=').
 * False when it can not stand there. */
static bool b64_pad(struct web_dir *f, uint8_t *out, size_t *o)
{
    if (f->b64_have >= 2) {
        f->b64_pad = f->b64_have == 2;
        *o += b64_flush_quantum(f, out + *o);
        return true;
    }
    if (f->b64_have == 0 && f->b64_pad) {
        f->b64_pad = 0;
        return true;
    }
    return false;
}

/* grpc-web-text: base64 whose padding may recur anywhere a writer flushed.
 * The bytes decoded before a bad character are still framed. */
static void text_bytes(struct gw_grpcweb *w, struct gw_grpcweb_call *wc, int dir, const uint8_t *p, size_t n)
{
    struct web_dir *f = &wc->d[dir];
    uint8_t out[B64_OUT_BATCH];
    size_t o = 0;
    bool bad = false;
    struct gw_cursor cur = gw_cursor_make(p, n);
    while (!bad && gw_cursor_left(&cur)) {
        uint8_t ch = gw_get_u8(&cur);
        /* room for the most one character can produce (a quantum's 3
         * bytes), checked before every character: padding flushes too */
        if (o > sizeof out - 3) {
            frame_bytes(w, wc, dir, out, o);
            o = 0;
        }
        if (ch == '\r' || ch == '\n' || gw_is_blank(ch)) continue;
        if (ch == '=') {
            bad = !b64_pad(f, out, &o);
            continue;
        }
        int v = b64_value(ch);
        if (v < 0 || f->b64_pad) {
            bad = true;
            break;
        }
        f->b64_acc = (f->b64_acc << 6) | (uint32_t)v;
        if (++f->b64_have == 4) {
            out[o++] = (uint8_t)(f->b64_acc >> 16);
            out[o++] = (uint8_t)(f->b64_acc >> 8);
            out[o++] = (uint8_t)f->b64_acc;
            f->b64_have = 0;
            f->b64_acc = 0;
        }
    }
    if (o) frame_bytes(w, wc, dir, out, o);
    if (bad) dir_stop(wc, dir);
}

void gw_grpcweb_body(struct gw_grpcweb *w, struct gw_grpcweb_call *wc, int dir, const uint8_t *p, size_t n)
{
    if (!w || !wc || n == 0) return;
    struct web_dir *f = &wc->d[dir];
    if (dir == GW_DIR_TO_SERVER) wc->call.request_bytes += n;
    else wc->call.response_bytes += n;
    if (f->enc == ENC_UNFRAMED || gw_grpcframe_stopped(&f->fr)) return;
    if (f->enc == ENC_TEXT) text_bytes(w, wc, dir, p, n);
    else frame_bytes(w, wc, dir, p, n);
}

void gw_grpcweb_gap(struct gw_grpcweb_call *wc, int dir, uint64_t len)
{
    if (!wc) return;
    struct web_dir *f = &wc->d[dir];
    /* a trailer line the hole cut is not known: skip to its end */
    if (f->in_trailer) f->tr_state = TR_SKIP;
    if (f->enc == ENC_UNFRAMED || gw_grpcframe_stopped(&f->fr)) return;
    /* base64 text: where the decoded bytes resume is not provable */
    bool kept = f->enc == ENC_BINARY && gw_grpcframe_gap(&f->fr, len, true);
    if (!kept) {
        gw_grpcframe_stop(&f->fr);
        mark_partial(wc, dir);
    }
    /* the trailer frame may have ended inside the hole */
    if (f->in_trailer && gw_grpcframe_at_boundary(&f->fr) && !gw_grpcframe_stopped(&f->fr)) {
        trailer_line_end(wc, f);
        f->in_trailer = 0;
    }
}

/* The body of one direction ended: an unpadded base64 tail still counts,
 * and a trailer frame cut short applies the line it was in. */
static void body_end(struct gw_grpcweb *w, struct gw_grpcweb_call *wc, int dir)
{
    struct web_dir *f = &wc->d[dir];
    if (f->enc == ENC_TEXT && !gw_grpcframe_stopped(&f->fr) && f->b64_have >= 2) {
        uint8_t out[2];
        size_t o = b64_flush_quantum(f, out);
        frame_bytes(w, wc, dir, out, o);
    }
    if (f->in_trailer) {
        trailer_line_end(wc, f);
        f->in_trailer = 0;
    }
}

/* ---- calls ------------------------------------------------------------------ */

static const char *const connection_field_names[] = {
    "host", "connection", "keep-alive", "proxy-connection", "transfer-encoding",
    "content-length", "upgrade", "http2-settings", "trailer",
};

static void add_metadata_key(struct gw_grpc_call *call, const uint8_t *name, size_t len)
{
    char key[NAME_SCRATCH];
    size_t k = gw_text_copy_lower(key, sizeof key, name, len);
    for (size_t i = 0; i < GW_ARRAY_LEN(connection_field_names); i++)
        if (strcmp(key, connection_field_names[i]) == 0) return;
    /* a cut name can not be one of the short excluded names */
    if (!gw_grpc_is_metadata_key(key, k)) return;
    bool cut = k < len || k >= GW_GRPC_KEY_MAX;
    if (k >= GW_GRPC_KEY_MAX) {
        k = GW_GRPC_KEY_MAX - 1;
        key[k] = '\0';
    }
    gw_grpc_call_add_key(call, key, k, cut);
}

/* The path of a request target: origin-form as is, absolute-form from the
 * first '/' after "//authority". */
static struct gw_http1_str target_path(struct gw_http1_str t)
{
    struct gw_cursor cur = gw_cursor_make(t.p, t.n);
    if (t.n <= 3 || gw_peek_u8(&cur, 0) == '/') return t;
    gw_skip(&cur, gw_cursor_find(&cur, ':'));
    if (gw_cursor_match(&cur, "://", 3) != GW_MATCH_FULL) return t; /* no ':', or no "//" after it */
    gw_skip(&cur, 3);
    gw_skip(&cur, gw_cursor_find(&cur, '/'));
    struct gw_http1_str root = { (const uint8_t *)"/", 1 };
    if (!gw_cursor_left(&cur)) return root;
    struct gw_http1_str path = { gw_cursor_ptr(&cur), gw_cursor_left(&cur) };
    return path;
}

static uint8_t enc_for(struct gw_http1_str ct, uint8_t fallback)
{
    static const char text[] = "application/grpc-web-text", grpc[] = "application/grpc";
    if (!ct.p) return fallback;
    if (ct.n >= sizeof text - 1 && gw_text_eq_ci(ct.p, sizeof text - 1, text)) return ENC_TEXT;
    if (ct.n >= sizeof grpc - 1 && gw_text_eq_ci(ct.p, sizeof grpc - 1, grpc)) return ENC_BINARY;
    return ENC_UNFRAMED;
}

static void dir_init(struct web_dir *f, uint8_t enc)
{
    gw_grpcframe_init(&f->fr, GW_GRPCFRAME_WEB);
    f->enc = enc;
}

void gw_grpcweb_head_field(struct gw_grpcweb_head *x, const uint8_t *name, size_t n, struct gw_http1_str value)
{
    if (gw_text_eq_ci(name, n, "grpc-status")) x->grpc_status = value;
    else if (gw_text_eq_ci(name, n, "grpc-message")) x->grpc_message = value;
    else if (gw_text_eq_ci(name, n, "grpc-encoding") && !x->grpc_encoding.p) x->grpc_encoding = value;
}

struct gw_grpcweb_call *gw_grpcweb_request(struct gw_grpcweb *w, const struct gw_http1_request *req,
                                           const struct gw_grpcweb_head *x)
{
    if (!w || !req || !x) return NULL;
    size_t slot = 0;
    while (slot < GW_HTTP1_MAX_WEB_CALLS && w->calls[slot]) slot++;
    struct gw_grpcweb_call *wc = slot < GW_HTTP1_MAX_WEB_CALLS ? gw_pool_calloc(w->pool, 1, sizeof *wc) : NULL;
    if (!wc) {
        w->stats.calls_untracked++;
        return NULL;
    }
    w->calls[slot] = wc;
    if (req->h.ts > w->now) w->now = req->h.ts;
    struct gw_grpc_call *call = &wc->call;
    call->stream_id = req->seq;
    call->start_ts = req->h.ts;
    call->http_status = -1;
    call->grpc_status = -1;
    struct gw_http1_str path = target_path(req->target);
    call->path_truncated = gw_text_copy(call->path, sizeof call->path, path.p, path.n);
    call->path_present = 1;
    set_grpc_str(&call->authority, req->host);
    set_grpc_str(&call->content_type, req->h.content_type);
    set_grpc_str(&call->user_agent, req->user_agent);
    set_grpc_str(&call->grpc_encoding, x->grpc_encoding);
    for (size_t i = 0; i < req->h.n_names; i++) add_metadata_key(call, req->h.names[i].p, req->h.names[i].n);
    if (req->h.names_truncated) call->metadata_keys_truncated = 1;
    uint8_t enc = enc_for(req->h.content_type, ENC_BINARY);
    dir_init(&wc->d[GW_DIR_TO_SERVER], enc);
    dir_init(&wc->d[GW_DIR_TO_CLIENT], enc);
    if (x->encoded) dir_stop(wc, GW_DIR_TO_SERVER);
    return wc;
}

void gw_grpcweb_response(struct gw_grpcweb_call *wc, const struct gw_http1_response *resp,
                         const struct gw_grpcweb_head *x)
{
    if (!wc || !resp || !x) return;
    struct gw_grpc_call *call = &wc->call;
    call->http_status = resp->status;
    /* no Content-Type: framed as the request still is (a request whose
     * count stopped no longer says) */
    const struct web_dir *q = &wc->d[GW_DIR_TO_SERVER];
    uint8_t fallback = q->enc == ENC_TEXT && !gw_grpcframe_stopped(&q->fr) ? ENC_TEXT : ENC_BINARY;
    wc->d[GW_DIR_TO_CLIENT].enc = enc_for(resp->h.content_type, fallback);
    if (x->encoded) dir_stop(wc, GW_DIR_TO_CLIENT);
    /* trailers-only: the status travels in the response head */
    if (x->grpc_status.p) call->grpc_status = gw_text_parse_status(x->grpc_status.p, x->grpc_status.n);
    set_grpc_str(&call->grpc_message, x->grpc_message);
}

bool gw_grpcweb_dir_end(struct gw_grpcweb *w, struct gw_grpcweb_call *wc, int dir)
{
    if (!w || !wc) return false;
    body_end(w, wc, dir);
    if (dir == GW_DIR_TO_SERVER) wc->call.request_end = 1;
    else wc->call.response_end = 1;
    return wc->call.request_end && wc->call.response_end;
}

/* The one place a call is written and freed. */
static void call_emit(struct gw_grpcweb *w, size_t slot, int reason, gw_time_us ts)
{
    struct gw_grpcweb_call *wc = w->calls[slot];
    GW_ASSERT(wc != NULL);
    w->calls[slot] = NULL;
    if (ts > w->now) w->now = ts;
    body_end(w, wc, GW_DIR_TO_SERVER);
    body_end(w, wc, GW_DIR_TO_CLIENT);
    struct gw_grpc_call *call = &wc->call;
    call->ended_by = (uint8_t)reason;
    call->end_ts = w->now;
    if (call->path_present && !call->path_truncated) gw_grpc_split_path(call->path, call->service, call->method);
    w->stats.calls++;
    if (w->on_call) w->on_call(w->user, call);
    gw_pool_free(w->pool, wc);
}

void gw_grpcweb_finish(struct gw_grpcweb *w, struct gw_grpcweb_call *wc, int reason, gw_time_us ts)
{
    if (!w || !wc) return;
    for (size_t i = 0; i < GW_HTTP1_MAX_WEB_CALLS; i++)
        if (w->calls[i] == wc) {
            call_emit(w, i, reason, ts);
            return;
        }
    GW_ASSERT(!"gw_grpcweb_finish: a call this session does not hold");
}

void gw_grpcweb_close(struct gw_grpcweb *w, int reason, gw_time_us ts)
{
    if (!w) return;
    for (size_t i = 0; i < GW_HTTP1_MAX_WEB_CALLS; i++)
        if (w->calls[i]) call_emit(w, i, reason, ts);
}

struct gw_grpcweb *gw_grpcweb_create(struct gw_pool *pool, gw_grpc_call_fn on_call, void *user)
{
    struct gw_grpcweb *w = gw_pool_calloc(pool, 1, sizeof *w);
    if (!w) return NULL;
    w->pool = pool;
    w->on_call = on_call;
    w->user = user;
    return w;
}

void gw_grpcweb_destroy(struct gw_grpcweb *w)
{
    if (!w) return;
    gw_grpcweb_close(w, GW_END_CONN_CLOSED, w->now);
    GW_ASSERT(gw_grpcweb_open_calls(w) == 0);
    gw_pool_free(w->pool, w);
}

size_t gw_grpcweb_open_calls(const struct gw_grpcweb *w)
{
    size_t n = 0;
    for (size_t i = 0; w && i < GW_HTTP1_MAX_WEB_CALLS; i++) n += w->calls[i] != NULL;
    return n;
}

const struct gw_grpcweb_stats *gw_grpcweb_stats(const struct gw_grpcweb *w)
{
    return w ? &w->stats : NULL;
}
