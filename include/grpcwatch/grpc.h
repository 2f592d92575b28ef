/*
 * grpc.h - gRPC calls assembled from HTTP/2 streams.
 *
 * A gw_grpc_session consumes the events of one gw_h2_conn (it provides the
 * gw_h2_callbacks) and hands every finished gRPC call to on_call. A request
 * whose content-type starts with "application/grpc" is a gRPC call; other
 * streams are counted and dropped.
 *
 * When the request's content-type is not known (request headers not seen,
 * or one of their fields undecodable mid-stream, and no content-type among
 * those decoded), the stream is a gRPC call if any of: the response
 * content-type starts with "application/grpc"; the response has a
 * grpc-status field (even of unknown value); or the DATA of either direction
 * of a client-initiated (odd) stream follows gRPC framing, that is, from the
 * start of a DATA frame, prefixes with flag 0 or 1 lead to a message that
 * ends exactly where a DATA frame ends (framing "aligned" below). Request
 * headers fully decoded without a content-type still mean "not gRPC".
 *
 * Messages are counted from the 5-byte gRPC framing (1 flag byte, 4-byte
 * big-endian length; grpcframe.h, shared with gRPC-Web) across DATA frames: a message may span frames and a
 * frame may hold several; a message counts when its 5-byte prefix is
 * complete. The framing state per stream and direction is a few bytes; the
 * payload is never copied.
 *
 * Counting when a direction's start was not seen. The first DATA of a
 * direction starts a message when that direction's HEADERS were seen
 * before it; counts are then exact. Otherwise (a stream picked up mid-stream
 * without that direction's HEADERS) where messages start is not known, so:
 * at the start of a DATA frame a candidate framing is tried; its messages
 * are held back until one of them ends exactly at the end of a DATA frame
 * (then they count and the framing is trusted); a flag byte other than 0/1,
 * a candidate length over 4 MiB or two empty messages in a row drop the
 * candidate (and a bad flag later drops trust again) and the next DATA
 * frame start is tried. The message in progress at the pickup is never
 * counted, so such counts are lower bounds: messages_partial says so.
 *
 * Counting after DATA was lost in a gap (gw_h2_stream.data_gaps, see h2.h
 * "Gaps"): a hole of known size lying inside the body of the message being
 * skipped leaves the framing provably in place, and the count stays exact.
 * Any other loss (a hole reaching a prefix, or of unknown extent) stops
 * counting that stream direction for good: where messages start is no
 * longer known, and a guessed framing could count garbage. The count is
 * then the prefixes seen before the loss, a lower bound: messages_partial.
 *
 * midstream: set when the session says so (gw_grpc_session_set_midstream,
 * for every call), or per call when h2 marks the stream (gw_h2_stream
 * .midstream: its start was not seen, or a field of it was undecodable).
 * A call fully seen on a mid-stream connection (HEADERS decoded with every
 * field known, after the HPACK table became known) is not midstream.
 *
 * Every string in a call is a fixed-size, NUL-terminated copy, truncated
 * (and flagged) when longer, so a call has a known size. Header values are
 * kept only for the fields named below; metadata keeps names only, never
 * values.
 */
#ifndef GRPCWATCH_GRPC_H
#define GRPCWATCH_GRPC_H

#include "grpcwatch/common.h"
#include "grpcwatch/h2.h"
#include "grpcwatch/stats.h"

#define GW_GRPC_PATH_MAX 512
#define GW_GRPC_FIELD_MAX 256
#define GW_GRPC_MAX_KEYS 32
#define GW_GRPC_KEY_MAX 64

struct gw_grpc_str {
    char s[GW_GRPC_FIELD_MAX];
    uint8_t present, truncated;
};

struct gw_grpc_call {
    uint32_t stream_id;
    gw_time_us start_ts, end_ts;
    char path[GW_GRPC_PATH_MAX];
    uint8_t path_present, path_truncated;
    /* split from "/service/method"; empty when the path has another shape */
    char service[GW_GRPC_PATH_MAX];
    char method[GW_GRPC_PATH_MAX];
    struct gw_grpc_str authority, content_type, user_agent, grpc_message, grpc_encoding;
    /* metadata names, lowercase, deduplicated, in order of first appearance */
    char metadata_keys[GW_GRPC_MAX_KEYS][GW_GRPC_KEY_MAX];
    uint8_t n_metadata_keys;
    uint8_t metadata_keys_truncated;  /* more keys than fit, or a key too long */
    uint32_t credential_mask;         /* bit i: metadata_keys[i] carries credentials (set by policy) */
    int32_t http_status;              /* :status, -1 if none */
    int32_t grpc_status;              /* -1 if none */
    uint64_t request_messages, response_messages;
    uint64_t request_bytes, response_bytes; /* DATA payload bytes */
    uint8_t request_end, response_end;      /* END_STREAM seen */
    uint8_t ended_by;                 /* enum gw_end */
    uint8_t midstream;                /* not fully seen: see above */
    /* GW_GRPC_PARTIAL_REQUEST / _RESPONSE: that direction's message count is
     * a lower bound (its start was not seen, or DATA of it was lost in a
     * gap); 0 = counts exact */
    uint8_t messages_partial;
};

#define GW_GRPC_PARTIAL_REQUEST 0x1
#define GW_GRPC_PARTIAL_RESPONSE 0x2

typedef void (*gw_grpc_call_fn)(void *user, struct gw_grpc_call *call);

/* An empty call: what a zeroed struct reads as (every text empty, every
 * count 0), without writing its 5 KB. */
void gw_grpc_call_init(struct gw_grpc_call *call);

/* Appends key (lowercase, NUL-terminated, k bytes) to call->metadata_keys
 * unless it is there already; cut: the name was longer than what key holds.
 * A full list, a key of GW_GRPC_KEY_MAX bytes or more, or a cut name sets
 * metadata_keys_truncated. Shared by every producer of calls (HTTP/2, gRPC-Web). */
void gw_grpc_call_add_key(struct gw_grpc_call *call, const char *key, size_t k, bool cut);

struct gw_grpc_stats {
    uint64_t calls, non_grpc_streams, messages[2];
};

/* Fields of gw_grpc_stats for the stats registry, paths relative to prefix
 * "grpc": calls, non_grpc_streams, request_messages (messages[0]),
 * response_messages (messages[1]), in the order `stats` always wrote them. */
extern const struct gw_stat_field gw_grpc_stat_fields[];
extern const size_t gw_grpc_stat_fields_len;
void gw_grpc_stats_add(struct gw_grpc_stats *total, const struct gw_grpc_stats *one);

struct gw_grpc_session;

/* on_call receives each finished gRPC call; the call is valid during the call only.
 * The session and its streams take their memory from pool (NULL: malloc). */
struct gw_grpc_session *gw_grpc_session_create(struct gw_pool *pool, gw_grpc_call_fn on_call,
                                               void *user);
void gw_grpc_session_destroy(struct gw_grpc_session *s);
/* The user given at create: for h2 callbacks added beside the session's own
 * (they receive the session as their user). */
void *gw_grpc_session_user(const struct gw_grpc_session *s);

/* Callbacks to pass to gw_h2_conn_create with the session as user. */
const struct gw_h2_callbacks *gw_grpc_h2_callbacks(void);

/* Marks calls begun from now on as picked up mid-stream (or not), whatever
 * h2 says of their streams. A session on a gw_h2_conn_create_midstream
 * connection does not need it: h2 marks each stream. */
void gw_grpc_session_set_midstream(struct gw_grpc_session *s, bool midstream);

const struct gw_grpc_stats *gw_grpc_session_stats(const struct gw_grpc_session *s);

/* True if a metadata key is reported in metadata_keys (not a pseudo-header
 * and not one of content-type, te, user-agent, grpc-timeout, grpc-encoding,
 * grpc-accept-encoding). name is lowercase. */
bool gw_grpc_is_metadata_key(const char *name, size_t len);

/* Splits "/a.b.Service/Method" into service and method. Returns false for
 * any other shape (outputs then empty). Buffers are GW_GRPC_PATH_MAX. */
bool gw_grpc_split_path(const char *path, char *service, char *method);

#endif
