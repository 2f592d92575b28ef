/*
 * h2guard.c - per-connection rate and shape checks on HTTP/2 frame headers.
 *
 * Invariants:
 *  - Fixed size: struct gw_h2guard is all the state there is; no call
 *    allocates, and each frame costs O(GW_H2GUARD_RECENT) at most.
 *  - Only frame headers are seen (type, flags, stream id, length), never
 *    payloads, so nothing here depends on the parser's success beyond the
 *    frame boundaries it found.
 *  - on_event is called at most once per event kind per connection; the
 *    `reported` bit is set before the call, so a callback that feeds the
 *    guard again can not report twice.
 *  - A window's count only grows within one second of packet time after its
 *    first frame; each window meets its condition at most once (tripped),
 *    so stats.events counts windows, not frames. Times are milliseconds
 *    modulo 2^32 compared by unsigned difference (see ms_of).
 *  - recent[] holds client-opened streams (odd ids, increasing) with the
 *    time of their HEADERS; a slot is freed when the client resets it and
 *    overwritten oldest-first, so a client opening more streams than fit
 *    before resetting them is undercounted, never overcounted.
 */
#include "grpcwatch/h2guard.h"

#include "grpcwatch/h2.h"

#include <string.h>

#define WINDOW_MS 1000u
#define F_END_STREAM GW_H2_FLAG_END_STREAM
#define F_END_HEADERS GW_H2_FLAG_END_HEADERS
#define SID_MASK GW_H2_SID_MASK
#define RECENT_ANSWERED 0x80000000u

const char *gw_h2guard_event_str(int event)
{
    switch (event) {
    case GW_H2GUARD_RAPID_RESET: return "rapid_reset";
    case GW_H2GUARD_SETTINGS_FLOOD: return "settings_flood";
    case GW_H2GUARD_PING_FLOOD: return "ping_flood";
    case GW_H2GUARD_WINDOW_UPDATE_FLOOD: return "window_update_flood";
    case GW_H2GUARD_EMPTY_FRAMES_FLOOD: return "empty_frames_flood";
    case GW_H2GUARD_CONTINUATION_FLOOD: return "continuation_flood";
    case GW_H2GUARD_STREAM_ID_EXHAUSTION: return "stream_id_exhaustion";
    default: return "unknown";
    }
}

void gw_h2guard_limits_default(struct gw_h2guard_limits *lim)
{
    lim->rapid_reset_per_sec = GW_H2GUARD_DEFAULT_RAPID_RESET_PER_SEC;
    lim->rapid_reset_age_ms = GW_H2GUARD_DEFAULT_RAPID_RESET_AGE_MS;
    lim->settings_per_sec = GW_H2GUARD_DEFAULT_SETTINGS_PER_SEC;
    lim->ping_per_sec = GW_H2GUARD_DEFAULT_PING_PER_SEC;
    lim->window_update_per_sec = GW_H2GUARD_DEFAULT_WINDOW_UPDATE_PER_SEC;
    lim->empty_frames_per_sec = GW_H2GUARD_DEFAULT_EMPTY_FRAMES_PER_SEC;
    lim->continuation_frames = GW_H2GUARD_DEFAULT_CONTINUATION_FRAMES;
    lim->continuation_bytes = GW_H2GUARD_DEFAULT_CONTINUATION_BYTES;
    lim->stream_id_high = GW_H2GUARD_DEFAULT_STREAM_ID_HIGH;
    lim->stream_id_jump = GW_H2GUARD_DEFAULT_STREAM_ID_JUMP;
}

static uint32_t or_default(uint32_t v, uint32_t def)
{
    return v ? v : def;
}

void gw_h2guard_init(struct gw_h2guard *g, const struct gw_h2guard_limits *lim,
                     gw_h2guard_event_fn on_event, void *user)
{
    struct gw_h2guard_limits d;
    gw_h2guard_limits_default(&d);
    memset(g, 0, sizeof *g);
    if (lim) {
        g->lim.rapid_reset_per_sec = or_default(lim->rapid_reset_per_sec, d.rapid_reset_per_sec);
        g->lim.rapid_reset_age_ms = or_default(lim->rapid_reset_age_ms, d.rapid_reset_age_ms);
        g->lim.settings_per_sec = or_default(lim->settings_per_sec, d.settings_per_sec);
        g->lim.ping_per_sec = or_default(lim->ping_per_sec, d.ping_per_sec);
        g->lim.window_update_per_sec = or_default(lim->window_update_per_sec, d.window_update_per_sec);
        g->lim.empty_frames_per_sec = or_default(lim->empty_frames_per_sec, d.empty_frames_per_sec);
        g->lim.continuation_frames = or_default(lim->continuation_frames, d.continuation_frames);
        g->lim.continuation_bytes = or_default(lim->continuation_bytes, d.continuation_bytes);
        g->lim.stream_id_high = or_default(lim->stream_id_high, d.stream_id_high);
        g->lim.stream_id_jump = or_default(lim->stream_id_jump, d.stream_id_jump);
    } else {
        g->lim = d;
    }
    g->on_event = on_event;
    g->user = user;
}

/* The condition of `event` is met: count it, report it the first time. */
static void met(struct gw_h2guard *g, int event, int dir, uint32_t sid)
{
    uint32_t bit = 1u << event;
    g->stats.events[event]++;
    if (g->stats.reported & bit) return;
    g->stats.reported |= bit;
    if (g->on_event) g->on_event(g->user, dir, gw_h2guard_event_str(event), sid);
}

/* Packet time in milliseconds, modulo 2^32: differences of two such values
 * are right for spans under 49.7 days, and a clock that went back shows as
 * a huge span. */
static uint32_t ms_of(gw_time_us ts)
{
    return (uint32_t)(ts / 1000);
}

/* Counts one frame in a one-second window; true the first time the window
 * holds more than limit. The count saturates, so a limit of UINT32_MAX is
 * never exceeded. */
static bool window_count(struct gw_h2guard_window *w, uint32_t limit, gw_time_us ts)
{
    uint32_t now = ms_of(ts);
    if (w->count == 0 || now - w->start_ms >= WINDOW_MS) {
        w->start_ms = now;
        w->count = 0;
        w->tripped = 0;
    }
    if (w->count < UINT32_MAX) w->count++;
    if (w->tripped || w->count <= limit) return false;
    w->tripped = 1;
    return true;
}

static void rate(struct gw_h2guard *g, struct gw_h2guard_window *w, uint32_t limit, int event,
                 int dir, uint32_t sid, gw_time_us ts)
{
    if (window_count(w, limit, ts)) met(g, event, dir, sid);
}

/* ---- rapid reset ------------------------------------------------------- */

static struct gw_h2guard_recent *recent_find(struct gw_h2guard *g, uint32_t sid)
{
    for (size_t i = 0; i < GW_H2GUARD_RECENT; i++)
        if ((g->recent[i].stream_id & SID_MASK) == sid) return &g->recent[i];
    return NULL;
}

static void recent_add(struct gw_h2guard *g, uint32_t sid, gw_time_us ts)
{
    struct gw_h2guard_recent *r = &g->recent[g->recent_next];
    g->recent_next = (g->recent_next + 1) % GW_H2GUARD_RECENT;
    r->stream_id = sid;
    r->opened_ms = ms_of(ts);
}

/* The server answered (HEADERS) or refused (RST_STREAM) the stream: a
 * later client reset is an ordinary cancellation. */
static void server_touched(struct gw_h2guard *g, uint32_t sid)
{
    struct gw_h2guard_recent *r = sid ? recent_find(g, sid) : NULL;
    if (r) r->stream_id |= RECENT_ANSWERED;
}

static void client_reset(struct gw_h2guard *g, uint32_t sid, gw_time_us ts)
{
    g->stats.client_resets++;
    struct gw_h2guard_recent *r = sid ? recent_find(g, sid) : NULL;
    if (!r) return;
    uint32_t age_ms = ms_of(ts) - r->opened_ms;
    bool early = !(r->stream_id & RECENT_ANSWERED) && age_ms <= g->lim.rapid_reset_age_ms;
    r->stream_id = 0; /* a stream is reset once */
    if (!early) return;
    g->stats.early_resets++;
    rate(g, &g->resets, g->lim.rapid_reset_per_sec, GW_H2GUARD_RAPID_RESET, GW_DIR_TO_SERVER, sid, ts);
}

/* ---- stream ids ---------------------------------------------------------- */

/* A client HEADERS: a new stream when its odd id is above every earlier one.
 * A jump is measured from an id seen before, never from 0: a connection
 * picked up mid-stream legitimately starts anywhere. */
static void client_headers(struct gw_h2guard *g, uint32_t sid, gw_time_us ts)
{
    if ((sid & 1) == 0 || sid <= g->max_client_sid) return;
    bool jumped = g->max_client_sid != 0 && sid - g->max_client_sid > g->lim.stream_id_jump;
    bool exhausting = sid >= g->lim.stream_id_high || jumped;
    g->max_client_sid = sid;
    recent_add(g, sid, ts);
    if (exhausting) met(g, GW_H2GUARD_STREAM_ID_EXHAUSTION, GW_DIR_TO_SERVER, sid);
}

/* ---- header blocks --------------------------------------------------------- */

static void block_check(struct gw_h2guard *g, int dir, uint32_t sid)
{
    struct gw_h2guard_block *b = &g->block[dir];
    if (b->tripped) return;
    if (b->continuations > g->lim.continuation_frames || b->bytes > g->lim.continuation_bytes) {
        b->tripped = 1;
        met(g, GW_H2GUARD_CONTINUATION_FLOOD, dir, sid);
    }
}

/* Follows the header block of direction dir through its frames. Any frame
 * but a CONTINUATION ends an open block: the parser fails the direction
 * there (CONTINUATION_EXPECTED), so counting on would be meaningless. */
static void block_frame(struct gw_h2guard *g, int dir, uint8_t type, uint8_t flags, uint32_t sid,
                        uint32_t length)
{
    struct gw_h2guard_block *b = &g->block[dir];
    bool end = (flags & F_END_HEADERS) != 0;
    if (type == GW_H2_HEADERS || type == GW_H2_PUSH_PROMISE) {
        memset(b, 0, sizeof *b);
        b->open = !end;
        b->bytes = length;
        block_check(g, dir, sid);
    } else if (type == GW_H2_CONTINUATION && b->open) {
        b->bytes = length > UINT32_MAX - b->bytes ? UINT32_MAX : b->bytes + length;
        if (!end && b->continuations < UINT32_MAX) b->continuations++;
        block_check(g, dir, sid);
        b->open = !end;
    } else {
        b->open = 0;
    }
}

/* ---- frames --------------------------------------------------------------- */

static bool is_empty_frame(uint8_t type, uint8_t flags, uint32_t length)
{
    if (length != 0) return false;
    if (type == GW_H2_DATA) return !(flags & F_END_STREAM);
    if (type == GW_H2_HEADERS || type == GW_H2_CONTINUATION) return !(flags & F_END_HEADERS);
    return false;
}

void gw_h2guard_frame(struct gw_h2guard *g, int dir, uint8_t type, uint8_t flags,
                      uint32_t stream_id, uint32_t length, gw_time_us ts)
{
    if (!g || (dir != GW_DIR_TO_SERVER && dir != GW_DIR_TO_CLIENT)) return;
    uint32_t sid = stream_id & SID_MASK;
    const struct gw_h2guard_limits *l = &g->lim;

    block_frame(g, dir, type, flags, sid, length);
    if (is_empty_frame(type, flags, length))
        rate(g, &g->empty[dir], l->empty_frames_per_sec, GW_H2GUARD_EMPTY_FRAMES_FLOOD, dir, sid, ts);

    switch (type) {
    case GW_H2_HEADERS:
        if (dir == GW_DIR_TO_SERVER) client_headers(g, sid, ts);
        else server_touched(g, sid);
        break;
    case GW_H2_RST_STREAM:
        if (dir == GW_DIR_TO_SERVER) client_reset(g, sid, ts);
        else server_touched(g, sid);
        break;
    case GW_H2_SETTINGS:
        rate(g, &g->settings[dir], l->settings_per_sec, GW_H2GUARD_SETTINGS_FLOOD, dir, sid, ts);
        break;
    case GW_H2_PING:
        rate(g, &g->ping[dir], l->ping_per_sec, GW_H2GUARD_PING_FLOOD, dir, sid, ts);
        break;
    case GW_H2_WINDOW_UPDATE:
        rate(g, &g->window_update[dir], l->window_update_per_sec, GW_H2GUARD_WINDOW_UPDATE_FLOOD,
             dir, sid, ts);
        break;
    default:
        break;
    }
}

bool gw_h2guard_reported(const struct gw_h2guard *g, int event)
{
    if (!g || event < 0 || event >= GW_H2GUARD_EVENT_COUNT) return false;
    return (g->stats.reported >> event) & 1u;
}

const struct gw_h2guard_stats *gw_h2guard_stats(const struct gw_h2guard *g)
{
    return g ? &g->stats : NULL;
}

void gw_h2guard_stats_add(struct gw_h2guard_stats *total, const struct gw_h2guard_stats *conn)
{
    if (!total || !conn) return;
    gw_stats_fold(gw_h2guard_stat_fields, gw_h2guard_stat_fields_len, total, conn);
    total->reported |= conn->reported; /* bits, not a counter */
}

#define GUARD_STAT(member, path) GW_STAT_FIELD(struct gw_h2guard_stats, member, path)

/* Event names as gw_h2guard_event_str spells them (the unit test checks). */
const struct gw_stat_field gw_h2guard_stat_fields[] = {
    GUARD_STAT(events[GW_H2GUARD_RAPID_RESET], "events.rapid_reset"),
    GUARD_STAT(events[GW_H2GUARD_SETTINGS_FLOOD], "events.settings_flood"),
    GUARD_STAT(events[GW_H2GUARD_PING_FLOOD], "events.ping_flood"),
    GUARD_STAT(events[GW_H2GUARD_WINDOW_UPDATE_FLOOD], "events.window_update_flood"),
    GUARD_STAT(events[GW_H2GUARD_EMPTY_FRAMES_FLOOD], "events.empty_frames_flood"),
    GUARD_STAT(events[GW_H2GUARD_CONTINUATION_FLOOD], "events.continuation_flood"),
    GUARD_STAT(events[GW_H2GUARD_STREAM_ID_EXHAUSTION], "events.stream_id_exhaustion"),
    GUARD_STAT(client_resets, "client_resets"),
    GUARD_STAT(early_resets, "early_resets"),
};
const size_t gw_h2guard_stat_fields_len = GW_ARRAY_LEN(gw_h2guard_stat_fields);
