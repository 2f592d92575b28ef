/*
 * h2guard.h - rate and shape checks on HTTP/2 frame headers: the attacks a
 * frame-by-frame parser can not see because every single frame is legal.
 *
 * The parser (h2.c) reports what is wrong with one frame or one header
 * block (bad padding, oversized frames, HPACK errors, header lists over
 * the cap). This module watches the *sequence* of frame headers of one
 * connection, fed from gw_h2_callbacks.on_frame, and reports:
 *
 *   rapid_reset          client RST_STREAMs on streams it opened at most
 *                        rapid_reset_age_ms earlier and the server had not
 *                        answered yet, more than rapid_reset_per_sec in a
 *                        window (CVE-2023-44487)
 *   settings_flood       SETTINGS frames from one side (ACKs included),
 *                        more than settings_per_sec in a window (CVE-2019-9515)
 *   ping_flood           PING frames from one side (ACKs included), more
 *                        than ping_per_sec in a window (CVE-2019-9512)
 *   window_update_flood  WINDOW_UPDATE frames from one side, more than
 *                        window_update_per_sec in a window
 *   empty_frames_flood   zero-length DATA without END_STREAM and zero-length
 *                        HEADERS/CONTINUATION without END_HEADERS from one
 *                        side, more than empty_frames_per_sec in a window
 *                        (CVE-2019-9518)
 *   continuation_flood   one header block with more than
 *                        continuation_frames CONTINUATION frames lacking
 *                        END_HEADERS, or more than continuation_bytes of
 *                        encoded block (CVE-2024-27316)
 *   stream_id_exhaustion a client HEADERS on a stream id at or above
 *                        stream_id_high, or more than stream_id_jump above
 *                        the highest id the client used before (the first
 *                        id seen is only held against stream_id_high: a
 *                        connection picked up mid-stream starts anywhere)
 *
 * ACKs count in the SETTINGS and PING floods on purpose: each side is
 * counted separately, the attacker's frames come first so its direction
 * crosses the limit first, and unsolicited ACKs are an abuse of their own.
 *
 * Windows are tumbling windows of one second of packet time per counter:
 * the first frame counted opens a window, the first frame at least one
 * second later (or earlier: a clock that went back) opens the next.
 *
 * Each event is reported through on_event at most once per connection (the
 * first time its condition is met); every time the condition is met again
 * (once per window, per header block, per HEADERS frame) it is only
 * counted in the stats.
 *
 * Memory: struct gw_h2guard is a fixed-size value meant to be embedded in
 * the per-connection state; nothing is allocated, ever. Time per frame is
 * constant (at most GW_H2GUARD_RECENT comparisons).
 */
#ifndef GRPCWATCH_H2GUARD_H
#define GRPCWATCH_H2GUARD_H

#include "grpcwatch/common.h"
#include "grpcwatch/stats.h"

enum gw_h2guard_event {
    GW_H2GUARD_RAPID_RESET = 0,
    GW_H2GUARD_SETTINGS_FLOOD,
    GW_H2GUARD_PING_FLOOD,
    GW_H2GUARD_WINDOW_UPDATE_FLOOD,
    GW_H2GUARD_EMPTY_FRAMES_FLOOD,
    GW_H2GUARD_CONTINUATION_FLOOD,
    GW_H2GUARD_STREAM_ID_EXHAUSTION,
    GW_H2GUARD_EVENT_COUNT
};

/* "rapid_reset", "settings_flood", ...; "unknown" outside the enum. */
const char *gw_h2guard_event_str(int event);

/* Thresholds. A zero field means its default (below). UINT32_MAX in a
 * count, size or stream id field means that check never fires; as
 * rapid_reset_age_ms it means a reset of any age before an answer counts. */
struct gw_h2guard_limits {
    uint32_t rapid_reset_per_sec;    /* 100 early client resets per window */
    uint32_t rapid_reset_age_ms;     /* 100: a reset this soon after HEADERS is early */
    uint32_t settings_per_sec;       /* 100 per side per window */
    uint32_t ping_per_sec;           /* 100 per side per window */
    uint32_t window_update_per_sec;  /* 10000 per side per window */
    uint32_t empty_frames_per_sec;   /* 100 per side per window */
    uint32_t continuation_frames;    /* 64 without END_HEADERS per block */
    uint32_t continuation_bytes;     /* 512 KiB (2 x the default max-header-list) */
    uint32_t stream_id_high;         /* 2^31 - 2^20 */
    uint32_t stream_id_jump;         /* 2^20 */
};

#define GW_H2GUARD_DEFAULT_RAPID_RESET_PER_SEC 100u
#define GW_H2GUARD_DEFAULT_RAPID_RESET_AGE_MS 100u
#define GW_H2GUARD_DEFAULT_SETTINGS_PER_SEC 100u
#define GW_H2GUARD_DEFAULT_PING_PER_SEC 100u
#define GW_H2GUARD_DEFAULT_WINDOW_UPDATE_PER_SEC 10000u
#define GW_H2GUARD_DEFAULT_EMPTY_FRAMES_PER_SEC 100u
#define GW_H2GUARD_DEFAULT_CONTINUATION_FRAMES 64u
#define GW_H2GUARD_DEFAULT_CONTINUATION_BYTES (512u * 1024u)
#define GW_H2GUARD_DEFAULT_STREAM_ID_HIGH (0x80000000u - 0x100000u)
#define GW_H2GUARD_DEFAULT_STREAM_ID_JUMP 0x100000u

/* Fills every field with its default. */
void gw_h2guard_limits_default(struct gw_h2guard_limits *lim);

/* Called once per event kind per connection. stream_id is that of the frame
 * that met the condition (0 for connection-level frames). */
typedef void (*gw_h2guard_event_fn)(void *user, int dir, const char *event, uint32_t stream_id);

struct gw_h2guard_stats {
    uint64_t events[GW_H2GUARD_EVENT_COUNT]; /* times each condition was met */
    uint64_t client_resets;   /* RST_STREAM frames from the client */
    uint64_t early_resets;    /* of those, early in the rapid_reset sense */
    uint32_t reported;        /* bit (1 << event) once on_event was called */
};

/* The fields below are private: use the functions. */

#define GW_H2GUARD_RECENT 32 /* client streams remembered for rapid_reset */

/* Times are kept as packet milliseconds modulo 2^32 (49.7 days) and
 * compared by unsigned difference, to keep the struct small. */
struct gw_h2guard_window {
    uint32_t start_ms;
    uint32_t count;
    uint8_t tripped;          /* condition already met in this window */
};

struct gw_h2guard_block {
    uint32_t bytes;           /* encoded header block so far (saturates) */
    uint32_t continuations;   /* CONTINUATION frames without END_HEADERS (saturates) */
    uint8_t open;             /* between HEADERS/PUSH_PROMISE and END_HEADERS */
    uint8_t tripped;
};

struct gw_h2guard_recent {
    uint32_t stream_id;       /* 0 = free slot; bit 31 = the server answered */
    uint32_t opened_ms;
};

struct gw_h2guard {
    struct gw_h2guard_limits lim;
    gw_h2guard_event_fn on_event;
    void *user;
    struct gw_h2guard_window resets;         /* client side only */
    struct gw_h2guard_window settings[2], ping[2], window_update[2], empty[2];
    struct gw_h2guard_block block[2];
    struct gw_h2guard_recent recent[GW_H2GUARD_RECENT];
    uint32_t recent_next;                    /* ring position */
    uint32_t max_client_sid;
    struct gw_h2guard_stats stats;
};

/* Resets g. lim NULL = all defaults; zero fields = their default.
 * on_event may be NULL (events are then only counted). */
void gw_h2guard_init(struct gw_h2guard *g, const struct gw_h2guard_limits *lim,
                     gw_h2guard_event_fn on_event, void *user);

/* One frame header of direction dir (enum gw_dir) at packet time ts: the
 * arguments of gw_h2_callbacks.on_frame. stream_id's reserved bit is
 * ignored. Calls on_event before it returns when a condition is first met. */
void gw_h2guard_frame(struct gw_h2guard *g, int dir, uint8_t type, uint8_t flags,
                      uint32_t stream_id, uint32_t length, gw_time_us ts);

/* True once on_event was called for event. */
bool gw_h2guard_reported(const struct gw_h2guard *g, int event);

const struct gw_h2guard_stats *gw_h2guard_stats(const struct gw_h2guard *g);

/* total += conn: counters summed, reported bits or-ed (an event reported
 * by any connection added). */
void gw_h2guard_stats_add(struct gw_h2guard_stats *total, const struct gw_h2guard_stats *conn);

/* struct gw_h2guard_stats for the registry, paths relative to
 * "http2.guard": events.<gw_h2guard_event_str> (times each condition was
 * met), client_resets, early_resets. `reported` is a bit set, not listed. */
extern const struct gw_stat_field gw_h2guard_stat_fields[];
extern const size_t gw_h2guard_stat_fields_len;

#endif
