/*
 * grpcweb.h - gRPC-Web (and gRPC over HTTP/1.x) calls of one HTTP/1.x
 * connection, driven by http1.c.
 *
 * http1 parses HTTP/1.x and tells a gw_grpcweb what it found: a request
 * head whose Content-Type starts with "application/grpc" (any case) opens a
 * call (gw_grpcweb_request); the answer's head (gw_grpcweb_response), the
 * de-chunked body bytes of either direction (gw_grpcweb_body), holes in
 * them (gw_grpcweb_gap) and each body's end (gw_grpcweb_dir_end) follow.
 * A call is handed to on_call (a struct gw_grpc_call, grpc.h) exactly once:
 * when both its bodies ended (ended_by GW_END_STREAM, gw_grpcweb_finish),
 * or at gw_grpcweb_close with the reason given, or at destroy.
 *
 * Bodies carry 5-byte framed messages (grpcframe.h, GW_GRPCFRAME_WEB);
 * "application/grpc-web-text*" bodies are base64 (standard or URL-safe
 * alphabet; padding may recur mid-body where a writer flushed,
 * PROTOCOL-WEB.md), decoded through a 4-character state and then framed.
 * A frame with flag 0x80 is the trailer frame: its
 * "grpc-status: N\r\ngrpc-message: ...\r\n" lines set grpc_status and
 * grpc_message (a trailers-only answer carries them as response head
 * fields); 0x81 (compressed trailers) is skipped. A response Content-Type
 * that is not application/grpc* makes that body unframed (bytes counted,
 * messages not); a Content-Encoding other than identity makes its count
 * partial. A hole inside a binary message body keeps the count exact; any
 * other hole (in a prefix, in base64 text) stops that direction's count,
 * which is then partial (grpcframe.h "Loss"). A trailer line a hole cut is
 * not applied.
 *
 * In the call: stream_id is the request's number on the connection (1, 2,
 * ...); authority the Host field; path the request target (its path part
 * for an absolute-form target); metadata_keys the request's field names,
 * lowercase, minus those of gw_grpc_is_metadata_key and the HTTP/1.x
 * connection fields (host, connection, keep-alive, proxy-connection,
 * transfer-encoding, content-length, upgrade, http2-settings, trailer);
 * request_bytes/response_bytes the HTTP body bytes (de-chunked; base64 text
 * as sent). credential_mask is left 0: the emit stage's policy sets it.
 *
 * Ownership: the gw_grpcweb owns its calls (at most GW_HTTP1_MAX_WEB_CALLS
 * open; more are counted in calls_untracked and not followed). A
 * struct gw_grpcweb_call pointer the caller keeps is valid until the call
 * is finished (gw_grpcweb_finish, gw_grpcweb_close, destroy): the caller
 * forgets it first. After close the session takes new calls again (bytes a
 * capture carries after a RST the endpoints ignored); they are written at
 * the next close or at destroy.
 */
#ifndef GRPCWATCH_GRPCWEB_H
#define GRPCWATCH_GRPCWEB_H

#include "grpcwatch/common.h"
#include "grpcwatch/grpc.h"
#include "grpcwatch/http1.h"
#include "grpcwatch/stats.h"

struct gw_grpcweb_stats {
    uint64_t calls;             /* handed to on_call */
    uint64_t messages[2];       /* messages counted, by direction */
    uint64_t calls_untracked;   /* gRPC requests beyond GW_HTTP1_MAX_WEB_CALLS (or out of memory) */
    uint64_t trailer_frames;    /* frames with flag bit 0x80 */
};

/* Fields of gw_grpcweb_stats, paths relative to prefix "http1" (registered
 * after gw_http1_stat_fields). */
extern const struct gw_stat_field gw_grpcweb_stat_fields[];
extern const size_t gw_grpcweb_stat_fields_len;
void gw_grpcweb_stats_add(struct gw_grpcweb_stats *total, const struct gw_grpcweb_stats *one);

/* What a head says for gRPC beyond gw_http1_request / _response. */
struct gw_grpcweb_head {
    struct gw_http1_str grpc_status, grpc_message, grpc_encoding;
    uint8_t encoded;            /* Content-Encoding other than identity */
};

/* A head field http1 does not read itself: grpc-status and grpc-message
 * (the last one counts: trailers-only answers), grpc-encoding (the first). */
void gw_grpcweb_head_field(struct gw_grpcweb_head *x, const uint8_t *name, size_t n, struct gw_http1_str value);

struct gw_grpcweb;
struct gw_grpcweb_call;

/* on_call may be NULL; memory from pool (NULL: malloc). Returns NULL when out of memory. */
struct gw_grpcweb *gw_grpcweb_create(struct gw_pool *pool, gw_grpc_call_fn on_call, void *user);
/* gw_grpcweb_close(GW_END_CONN_CLOSED) of the calls still open, then frees
 * everything. */
void gw_grpcweb_destroy(struct gw_grpcweb *w);

/* A gRPC request head: opens a call. NULL when not followed (counted). */
struct gw_grpcweb_call *gw_grpcweb_request(struct gw_grpcweb *w, const struct gw_http1_request *req,
                                           const struct gw_grpcweb_head *x);
/* The final response head answering the call. */
void gw_grpcweb_response(struct gw_grpcweb_call *wc, const struct gw_http1_response *resp,
                         const struct gw_grpcweb_head *x);
/* Body bytes of direction dir, de-chunked, in any chunking. */
void gw_grpcweb_body(struct gw_grpcweb *w, struct gw_grpcweb_call *wc, int dir, const uint8_t *p, size_t n);
/* len body bytes of direction dir are missing. */
void gw_grpcweb_gap(struct gw_grpcweb_call *wc, int dir, uint64_t len);
/* The body of direction dir ended. True when both have: finish the call
 * (after forgetting the pointer). */
bool gw_grpcweb_dir_end(struct gw_grpcweb *w, struct gw_grpcweb_call *wc, int dir);
/* Hands the call on with ended_by = reason, end_ts = ts, and frees it. */
void gw_grpcweb_finish(struct gw_grpcweb *w, struct gw_grpcweb_call *wc, int reason, gw_time_us ts);
/* Finishes every open call (bodies cut short end where they stand). */
void gw_grpcweb_close(struct gw_grpcweb *w, int reason, gw_time_us ts);

size_t gw_grpcweb_open_calls(const struct gw_grpcweb *w);
const struct gw_grpcweb_stats *gw_grpcweb_stats(const struct gw_grpcweb *w);

#endif
