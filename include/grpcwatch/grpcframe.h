/*
 * grpcframe.h - the gRPC 5-byte message framing, followed incrementally.
 *
 * Every gRPC message on the wire is a 1-byte flag, a 4-byte big-endian
 * length and that many bytes of body (PROTOCOL-HTTP2.md "Length-Prefixed-
 * Message"; PROTOCOL-WEB.md adds flag bit 0x80 for the trailer frame). One
 * struct gw_grpcframe follows one direction of one call across any chunking
 * (1-byte chunks, a prefix split anywhere, a message spanning DATA frames or
 * TCP segments): it keeps the prefix bytes collected so far and how much of
 * the current body is left, never the payload, and allocates nothing. It is
 * used by HTTP/2 (grpc.c, DATA payloads) and by gRPC-Web (grpcweb.c, binary
 * bodies and base64 text after decoding).
 *
 * Modes (gw_grpcframe_mode):
 *  - EXACT: fed from a known message boundary (the first byte of a
 *    direction's body); every prefix counts.
 *  - LOST: where messages start is not known (a pickup mid-stream); bytes
 *    are ignored until the caller says a frame starts (frame_start), where
 *    a candidate framing is tried:
 *  - TRYING: prefixes are held back, not counted, until a message ends
 *    exactly where a frame ends (frame_end: then they count, FOUND). A flag
 *    byte other than 0/1, a length over GW_GRPCFRAME_TRY_MAX_LEN or two
 *    empty messages in a row drop the candidate (back to LOST).
 *  - FOUND: a confirmed candidate; a bad flag later drops it (LOST).
 *  - STOPPED: bytes were lost where the framing could not survive it; the
 *    count stays what it was, for good: a lower bound.
 *
 * Loss (gw_grpcframe_gap): a hole of known size that lies inside the body
 * of the current message (no prefix byte in it) leaves the framing provably
 * in place and the count exact. Any other hole (touching a prefix, of
 * unknown size, or while the framing is not trusted) stops counting.
 *
 * Flags. Plain gRPC (HTTP/2): flags 0 and 1 are messages; another flag in
 * EXACT still counts (the body is skipped by its length) but clears
 * flags_ok, so that framing no longer proves "this is gRPC". With
 * GW_GRPCFRAME_WEB a flag with bit 0x80 is a trailer frame: counted in
 * trailers, not in messages (0x80 plain text trailers, 0x81 compressed).
 *
 * Lengths are uint32_t as on the wire; in EXACT any length is followed.
 * Fields are private to grpcframe.c: read them with the functions below.
 */
#ifndef GRPCWATCH_GRPCFRAME_H
#define GRPCWATCH_GRPCFRAME_H

#include "grpcwatch/common.h"

#define GW_GRPCFRAME_PREFIX_LEN 5
/* Largest message a candidate framing may declare: gRPC's default maximum
 * receive message size. Larger real messages are not counted while the
 * framing is unconfirmed. */
#define GW_GRPCFRAME_TRY_MAX_LEN (4u * 1024 * 1024)
#define GW_GRPCFRAME_FLAG_TRAILERS 0x80

/* gw_grpcframe_init options */
#define GW_GRPCFRAME_WEB 0x1   /* gRPC-Web: flag bit 0x80 marks trailer frames */

enum gw_grpcframe_mode {
    GW_GRPCFRAME_EXACT = 0,
    GW_GRPCFRAME_LOST,
    GW_GRPCFRAME_TRYING,
    GW_GRPCFRAME_FOUND,
    GW_GRPCFRAME_STOPPED
};

struct gw_grpcframe {
    uint8_t mode;          /* enum gw_grpcframe_mode */
    uint8_t opts;          /* GW_GRPCFRAME_WEB */
    uint8_t prefix_have;   /* bytes of the 5-byte prefix collected, 0..4 */
    uint8_t flag;          /* flag byte of the current (or collecting) prefix */
    uint8_t empty_run;     /* TRYING: empty messages in a row */
    uint8_t flags_ok;      /* every flag so far was 0 or 1 (EXACT) */
    uint8_t aligned;       /* a message ended exactly at a frame end */
    uint32_t msg_len;      /* length assembled from the prefix so far */
    uint32_t body_left;    /* bytes of the current message still to come */
    uint64_t messages;     /* counted (EXACT, FOUND, confirmed TRYING) */
    uint64_t held;         /* TRYING: found, not yet confirmed */
    uint64_t trailers;     /* GW_GRPCFRAME_WEB: trailer frames */
    uint64_t bytes;        /* bytes taken while following a framing */
};

/* What one gw_grpcframe_step did. */
struct gw_grpcframe_ev {
    uint8_t prefix;        /* a prefix completed: flag and len below */
    uint8_t flag;          /* the current message's flag byte */
    uint32_t len;          /* the current message's length */
    const uint8_t *body;   /* body bytes stepped over (inside the buffer fed), or NULL */
    size_t body_len;
    uint8_t end;           /* the current message's body is complete */
};

/* A framer at a message boundary (EXACT). opts: GW_GRPCFRAME_WEB or 0. */
void gw_grpcframe_init(struct gw_grpcframe *f, unsigned opts);

/* The first body byte of a direction comes next: at a message boundary
 * (exact) or not known where (LOST, waiting for a frame start). A STOPPED
 * framer stays stopped (a hole came first). */
void gw_grpcframe_begin(struct gw_grpcframe *f, bool exact);

/* One step over p/n: either completes the prefix in progress (ev->prefix)
 * or steps over body bytes of the current message (ev->body, a span of p),
 * whichever comes first. Returns the bytes taken: > 0 when n > 0 and a
 * framing is followed, 0 otherwise (LOST, STOPPED: nothing is taken). */
size_t gw_grpcframe_step(struct gw_grpcframe *f, const uint8_t *p, size_t n,
                         struct gw_grpcframe_ev *ev);

/* Steps over all of p/n (bytes are ignored while LOST or STOPPED). */
void gw_grpcframe_feed(struct gw_grpcframe *f, const uint8_t *p, size_t n);

/* A frame of the carrier (an HTTP/2 DATA frame) starts / ends here. A
 * start lets a LOST framer try a candidate; an end with no message in
 * progress confirms a candidate and marks the framing aligned. */
void gw_grpcframe_frame_start(struct gw_grpcframe *f);
void gw_grpcframe_frame_end(struct gw_grpcframe *f);

/* lost bytes are missing here; known: their number is exact. Returns true
 * when the count stays exact (the hole lay inside a body), false when the
 * framer is (now, or was already) STOPPED. */
bool gw_grpcframe_gap(struct gw_grpcframe *f, uint64_t lost, bool known);

/* Stops counting for good (the framing can no longer be followed). */
void gw_grpcframe_stop(struct gw_grpcframe *f);

static inline uint64_t gw_grpcframe_messages(const struct gw_grpcframe *f) { return f->messages; }
static inline uint64_t gw_grpcframe_trailers(const struct gw_grpcframe *f) { return f->trailers; }
static inline uint64_t gw_grpcframe_bytes(const struct gw_grpcframe *f) { return f->bytes; }
static inline int gw_grpcframe_mode(const struct gw_grpcframe *f) { return f->mode; }
static inline bool gw_grpcframe_stopped(const struct gw_grpcframe *f) { return f->mode == GW_GRPCFRAME_STOPPED; }
/* A message ended exactly at a frame end under a trusted framing (with
 * flags 0/1 only, when EXACT): the bytes are gRPC framing. */
static inline bool gw_grpcframe_aligned(const struct gw_grpcframe *f) { return f->aligned; }
/* Between messages: no prefix byte or body byte of one is pending. */
static inline bool gw_grpcframe_at_boundary(const struct gw_grpcframe *f)
{
    return f->prefix_have == 0 && f->body_left == 0;
}

#endif
