/*
 * http1.h - passive HTTP/1.x decoding of both directions of one connection:
 * message heads and bodies, protocol switches, and gRPC-Web calls.
 *
 * Feeding: gw_http1_conn_feed(conn, dir, p, n, ...) takes reassembled bytes
 * of one direction in any chunking (a head may arrive one byte at a time).
 * GW_DIR_TO_SERVER carries requests, GW_DIR_TO_CLIENT responses.
 *
 * Heads: a head (start line, fields, empty line) is parsed in place when it
 * lies whole in one buffer, else collected in a per-direction buffer of at
 * most GW_HTTP1_HEAD_MAX bytes (grown on demand, kept); a longer head is
 * GW_ERR_MALFORMED. Lines end in CRLF or a bare LF (RFC 9112 section 2.2);
 * a bare CR, a folded line (obs-fold), white space before a field's colon,
 * a NUL, a version other than HTTP/1.x, a bad or conflicting Content-Length,
 * a request Transfer-Encoding whose final coding is not chunked, or a bad
 * chunk line are GW_ERR_MALFORMED. Empty lines before a head are skipped.
 * Fields beyond GW_HTTP1_MAX_FIELDS are still parsed (framing fields count)
 * but their names are not reported (names_truncated).
 *
 * Bodies (RFC 9112 section 6.3): requests by Transfer-Encoding chunked or
 * Content-Length, else none; responses: none for HEAD requests, 1xx, 204
 * and 304; chunked; Content-Length; else until the server closes
 * (gw_http1_conn_fin / gw_http1_conn_close). Chunk extensions and trailer
 * fields are skipped. Body bytes are handed to on_body in place, de-chunked,
 * never buffered.
 *
 * Pipelining: requests wait for their responses in a queue of at most
 * GW_HTTP1_MAX_PENDING; responses answer them in order (1xx other than 101
 * answer nothing). Requests beyond the queue are still parsed; their
 * responses are framed as answers to a GET (stats.unmatched_responses), and
 * so is a response fed before the request it answers: feed a request
 * before its answer (the order of a capture) or a HEAD's answer or a 2xx to
 * CONNECT is not recognised as such.
 *
 * Protocol switches. After a request that asks to switch (CONNECT, or any
 * Upgrade field) the client's bytes are held, not parsed, until the server
 * answers it (at most GW_HTTP1_HOLD_MAX bytes, else GW_ERR_LIMIT):
 *  - 101 (an Upgrade: h2c answer is GW_HTTP1_SWITCH_H2C, websocket
 *    GW_HTTP1_SWITCH_WEBSOCKET, anything else GW_HTTP1_SWITCH_OTHER) or a
 *    2xx to CONNECT (GW_HTTP1_SWITCH_CONNECT): the server direction switches
 *    right after that response head, the client direction right after the
 *    request that asked (RFC 9110 section 7.8; RFC 7540 section 3.2;
 *    RFC 9110 section 9.3.6). From there on, in each direction, every byte
 *    belongs to the new protocol;
 *  - any other final answer: the held bytes are parsed as HTTP/1.x.
 * After an h2c Upgrade request the client direction also switches by itself
 * when the bytes after the request are the HTTP/2 connection preface (a
 * client sends it only after the 101), so a capture of the client side
 * alone, or one whose directions arrive out of order, switches too.
 *
 * How a switch is reported, per direction:
 *  - on_switch(user, dir, kind, held, held_len) is called once for each
 *    direction as it switches, from whichever feed decides it (the client
 *    direction often switches during a feed of the server direction).
 *    held: bytes of that direction the parser took earlier and that belong
 *    to the new protocol (the client bytes held while waiting), valid during
 *    the call only;
 *  - a feed of that direction returns GW_ERR_UNSUPPORTED with *consumed =
 *    the bytes that were HTTP/1.x: p[*consumed..n) and everything after it
 *    belong to the new protocol, after the held bytes. Later feeds of that
 *    direction return GW_ERR_UNSUPPORTED with *consumed = 0.
 * So the new protocol of a direction gets: held bytes, then the rest of the
 * buffer that returned GW_ERR_UNSUPPORTED (or, if the switch came from the
 * other direction's feed, the next buffers). For h2c the client's new bytes
 * start with the connection preface, the server's with its SETTINGS frame,
 * and the upgraded request is HTTP/2 stream 1, half-closed from the client
 * (its response comes on stream 1). A gRPC-Web call opened by the upgraded
 * request itself stays open here (its answer is HTTP/2) and is handed on at
 * gw_http1_conn_close without a response.
 *
 * gRPC-Web (and gRPC over HTTP/1.x): a request whose Content-Type starts with
 * "application/grpc" (any case) is a call, followed by grpcweb.c
 * (grpcweb.h says what a call holds: messages, base64 text, trailers in
 * the body). http1 hands it the heads, bodies, gaps and message ends; each
 * call reaches on_grpc_web_call (a struct gw_grpc_call, grpc.h) when both
 * its messages have ended (ended_by GW_END_STREAM), or at
 * gw_http1_conn_close / destroy with their reason. At most
 * GW_HTTP1_MAX_WEB_CALLS calls are open at once (more are counted in
 * gw_http1_conn_web_stats().calls_untracked). A gap inside a body also
 * goes to the call: inside a binary message body the count stays exact.
 *
 * Gaps: gw_http1_conn_gap skips missing bytes inside a body of known length
 * (Content-Length, chunk data, until-close); anywhere else the direction
 * stops with GW_ERR_TRUNCATED. Errors are sticky per direction: after one,
 * feeds of that direction return it and the other direction goes on.
 *
 * Memory per connection: the struct (a few KiB), two head buffers of at
 * most GW_HTTP1_HEAD_MAX, one hold buffer of at most GW_HTTP1_HOLD_MAX, the
 * gw_grpcweb session (grpcweb.h) and at most GW_HTTP1_MAX_WEB_CALLS calls
 * (one allocation per gRPC-Web request). destroy frees all of it. Nothing
 * is allocated per segment once the buffers have grown.
 */
#ifndef GRPCWATCH_HTTP1_H
#define GRPCWATCH_HTTP1_H

#include "grpcwatch/common.h"
#include "grpcwatch/grpc.h"
#include "grpcwatch/stats.h"

#define GW_HTTP1_HEAD_MAX 16384     /* bytes of one head, start line to empty line */
#define GW_HTTP1_MAX_FIELDS 64      /* field names reported per head */
#define GW_HTTP1_MAX_PENDING 32     /* requests waiting for their responses */
#define GW_HTTP1_HOLD_MAX 16384     /* client bytes held while a switch is undecided */
#define GW_HTTP1_MAX_WEB_CALLS 8    /* gRPC-Web calls open at once */
#define GW_HTTP1_CHUNK_LINE_MAX 4096 /* a chunk-size line with its extensions */

enum gw_http1_switch {
    GW_HTTP1_SWITCH_NONE = 0,
    GW_HTTP1_SWITCH_H2C,        /* 101 to Upgrade: h2c: HTTP/2 follows */
    GW_HTTP1_SWITCH_CONNECT,    /* 2xx to CONNECT: a tunnel, re-classify its bytes */
    GW_HTTP1_SWITCH_WEBSOCKET,  /* 101 to Upgrade: websocket */
    GW_HTTP1_SWITCH_OTHER       /* 101 to any other Upgrade */
};
const char *gw_http1_switch_str(int kind);

/* A slice of the head being reported; p == NULL when absent. Valid during
 * the callback only; not NUL-terminated. */
struct gw_http1_str {
    const uint8_t *p;
    size_t n;
};

/* Fields common to requests and responses. Values are reported only for
 * the fields named here, never for the others (names only). */
struct gw_http1_head {
    gw_time_us ts;
    uint8_t version_minor;        /* HTTP/1.<minor> */
    uint8_t chunked;              /* Transfer-Encoding ends in chunked */
    uint8_t has_content_length;
    uint8_t framing_conflict;     /* both Transfer-Encoding and Content-Length (smuggling) */
    uint64_t content_length;
    struct gw_http1_str content_type, upgrade, connection;
    /* field names in order, case as sent, duplicates kept */
    struct gw_http1_str names[GW_HTTP1_MAX_FIELDS];
    uint16_t n_names;
    uint8_t names_truncated;      /* more fields than GW_HTTP1_MAX_FIELDS */
};

struct gw_http1_request {
    struct gw_http1_head h;
    uint32_t seq;                 /* 1, 2, ... on this connection */
    struct gw_http1_str method, target, host, user_agent, http2_settings;
    uint8_t is_head, is_connect;
    uint8_t upgrade_h2c;          /* Upgrade lists h2c and Connection lists upgrade */
    uint8_t asks_switch;          /* CONNECT or an Upgrade field: bytes after it are held */
    uint8_t grpc;                 /* Content-Type application/grpc* (gRPC-Web: a call) */
};

struct gw_http1_response {
    struct gw_http1_head h;
    int status;                   /* 100..999 */
    struct gw_http1_str reason;
    uint32_t request_seq;         /* the request it answers; 0 if not known (not
                                   * parsed: the client failed before it, or
                                   * the response was fed first) */
    uint8_t informational;        /* 1xx other than 101: a final answer follows */
    uint8_t to_head, to_connect;  /* what it answers */
    uint8_t switch_kind;          /* enum gw_http1_switch, or 0 */
};

/* Every callback may be NULL. Callbacks must not feed this connection. */
struct gw_http1_callbacks {
    void (*on_request)(void *user, const struct gw_http1_request *req);
    void (*on_response)(void *user, const struct gw_http1_response *resp);
    /* de-chunked body bytes of the current message in direction dir */
    void (*on_body)(void *user, int dir, const uint8_t *p, size_t n);
    /* the message of direction dir ended (also for messages without body) */
    void (*on_message_end)(void *user, int dir);
    /* direction dir switched protocols (see "How a switch is reported") */
    void (*on_switch)(void *user, int dir, int kind, const uint8_t *held, size_t held_len);
    /* a finished gRPC-Web call; valid during the call only */
    void (*on_grpc_web_call)(void *user, struct gw_grpc_call *call);
};

struct gw_http1_stats {
    uint64_t requests, responses;       /* heads parsed (responses include 1xx) */
    uint64_t body_bytes[2];             /* by direction */
    uint64_t unmatched_responses;       /* no queued request to answer */
    uint64_t queue_overflows;           /* requests not queued (queue full) */
    uint64_t framing_conflicts;         /* heads with both Transfer-Encoding and Content-Length */
    uint64_t gap_bytes_skipped;         /* gaps inside bodies, stepped over */
};

/* Fields of gw_http1_stats, paths relative to prefix "http1"; the
 * gRPC-Web counters (grpcweb.h) follow under the same prefix. */
extern const struct gw_stat_field gw_http1_stat_fields[];
extern const size_t gw_http1_stat_fields_len;
void gw_http1_stats_add(struct gw_http1_stats *total, const struct gw_http1_stats *one);

struct gw_http1_conn;
struct gw_grpcweb_stats;

/* cb is copied; memory from pool (NULL: malloc). Returns NULL when out of memory. */
struct gw_http1_conn *gw_http1_conn_create(struct gw_pool *pool, const struct gw_http1_callbacks *cb,
                                           void *user);
/* gw_http1_conn_close(GW_END_CONN_CLOSED) (hands on the calls still open),
 * then frees everything: calls, head buffers, held bytes. */
void gw_http1_conn_destroy(struct gw_http1_conn *c);

/* Feeds n bytes of direction dir observed at ts. Returns GW_OK (all n
 * consumed: *consumed = n), GW_ERR_UNSUPPORTED when the direction switched
 * protocols (see above), or the direction's sticky error: GW_ERR_MALFORMED,
 * GW_ERR_LIMIT (hold overflow), GW_ERR_NOMEM, GW_ERR_TRUNCATED (a gap);
 * *consumed then counts the bytes taken before it. GW_ERR_ARG for bad
 * arguments. */
int gw_http1_conn_feed(struct gw_http1_conn *c, int dir, const uint8_t *p, size_t n,
                       gw_time_us ts, size_t *consumed);

/* len bytes of direction dir are missing. GW_OK when skipped inside a body,
 * GW_ERR_UNSUPPORTED if the direction has switched (the gap is the new
 * protocol's), else the direction stops: GW_ERR_TRUNCATED. A skipped gap
 * goes to the gRPC-Web call of that body (grpcweb.h: the count stays exact
 * only if the hole lay inside a binary message body). */
int gw_http1_conn_gap(struct gw_http1_conn *c, int dir, size_t len, gw_time_us ts);

/* Direction dir ended (FIN): a body delimited by the close ends there; a
 * message cut short stays unfinished. Later feeds of dir are ignored (GW_OK),
 * and so are its gaps; a direction that failed or switched answers as before
 * (its sticky error, GW_ERR_UNSUPPORTED). */
void gw_http1_conn_fin(struct gw_http1_conn *c, int dir, gw_time_us ts);

/* The connection ended (reason: enum gw_end). With GW_END_CONN_CLOSED a
 * response delimited by the close is complete. Every open gRPC-Web call is
 * handed on now, with ended_by = reason (END_STREAM if both its messages had
 * ended). Not a final state: bytes fed after it (a capture can carry more
 * after a RST the endpoints ignored) are parsed as before, and the calls
 * they open are handed on at the next close or at destroy; a close with no
 * call open hands on nothing. So whatever order close, feed, fin and
 * destroy come in, every call is handed on exactly once. */
void gw_http1_conn_close(struct gw_http1_conn *c, int reason, gw_time_us ts);

/* p/n equals the lowercase literal lit, ignoring ASCII case (field names,
 * tokens). */
bool gw_http1_eq_ci(const uint8_t *p, size_t n, const char *lit);

/* The switch kind of direction dir (enum gw_http1_switch), 0 if none. */
int gw_http1_conn_switched(const struct gw_http1_conn *c, int dir);

const struct gw_http1_stats *gw_http1_conn_stats(const struct gw_http1_conn *c);
/* The connection's gRPC-Web counters (grpcweb.h). */
const struct gw_grpcweb_stats *gw_http1_conn_web_stats(const struct gw_http1_conn *c);

/* True between messages, both directions at the start of a head, no request
 * waiting for its response, no switch under way, no gRPC-Web call open:
 * a connection created now would parse what follows exactly as this one,
 * so the caller may destroy this one and create a new one on the next byte. */
bool gw_http1_conn_idle(const struct gw_http1_conn *c);

/* For classifying a flow from its first bytes: GW_OK when p starts with a
 * request line's method and space (GET, HEAD, POST, PUT, DELETE, CONNECT,
 * OPTIONS, TRACE, PATCH), GW_ERR_NEED_MORE while p is a prefix of one,
 * GW_ERR_UNSUPPORTED otherwise. */
int gw_http1_sniff_request(const uint8_t *p, size_t n);
/* The same for a status line: "HTTP/1.<digit> <digit>". */
int gw_http1_sniff_response(const uint8_t *p, size_t n);
/* Stricter, for deciding a connection is HTTP/1.x from the client's first
 * bytes: GW_OK when p starts with a whole request line, any method token,
 * single spaces: "<token> <target> HTTP/1.<digit>" then CRLF or LF;
 * GW_ERR_NEED_MORE while p is a prefix of one (a target shorter than
 * GW_HTTP1_HEAD_MAX); GW_ERR_UNSUPPORTED otherwise (also for the HTTP/2
 * preface "PRI * HTTP/2.0"). */
int gw_http1_sniff_request_line(const uint8_t *p, size_t n);

#endif
