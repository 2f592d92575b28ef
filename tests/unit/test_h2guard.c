/*
 * test_h2guard.c - the frame-sequence checks against synthetic frame events.
 *
 * Frames are described here by hand (type codes and flags from RFC 9113
 * section 6), and thresholds are the documented defaults of h2guard.h or
 * small limits set by the test, so every expected count is derived from the
 * documented rule ("more than N in a one-second window", "more than N
 * CONTINUATION frames without END_HEADERS", ...), never from the module's
 * output. One test drives the real HTTP/2 parser (h2.c) through its
 * on_frame hook to check the two fit together.
 */
#include "grpcwatch/h2guard.h"

#include "grpcwatch/h2.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* RFC 9113 section 6 */
enum { T_DATA = 0, T_HEADERS = 1, T_RST = 3, T_SETTINGS = 4, T_PUSH = 5, T_PING = 6,
       T_WINDOW_UPDATE = 8, T_CONT = 9 };
enum { FL_END_STREAM = 0x1, FL_ACK = 0x1, FL_END_HEADERS = 0x4 };

#define C2S GW_DIR_TO_SERVER
#define S2C GW_DIR_TO_CLIENT
#define MS 1000   /* gw_time_us per millisecond */
#define SEC 1000000
#define T0 ((gw_time_us)1767225600 * SEC)

/* ---- what on_event saw ---------------------------------------------------- */

#define MAX_SEEN 16

struct seen {
    int n;
    int dir[MAX_SEEN];
    char event[MAX_SEEN][32];
    uint32_t sid[MAX_SEEN];
};

static void on_event(void *user, int dir, const char *event, uint32_t sid)
{
    struct seen *s = user;
    ck_assert_ptr_nonnull(event);
    ck_assert_int_lt(s->n, MAX_SEEN);
    s->dir[s->n] = dir;
    ck_assert_uint_lt(strlen(event), sizeof s->event[0]);
    strcpy(s->event[s->n], event);
    s->sid[s->n] = sid;
    s->n++;
}

static int count_event(const struct seen *s, const char *event)
{
    int k = 0;
    for (int i = 0; i < s->n; i++) k += strcmp(s->event[i], event) == 0;
    return k;
}

static void guard_start(struct gw_h2guard *g, struct seen *s, const struct gw_h2guard_limits *lim)
{
    memset(s, 0, sizeof *s);
    gw_h2guard_init(g, lim, on_event, s);
}

/* n frames of one kind at ts0, ts0 + step, ... */
static void frames(struct gw_h2guard *g, int n, int dir, uint8_t type, uint8_t flags, uint32_t sid,
                   uint32_t len, gw_time_us ts0, gw_time_us step)
{
    for (int i = 0; i < n; i++) gw_h2guard_frame(g, dir, type, flags, sid, len, ts0 + i * step);
}

/* A client request that is opened and reset at once. */
static void open_and_reset(struct gw_h2guard *g, uint32_t sid, gw_time_us ts)
{
    gw_h2guard_frame(g, C2S, T_HEADERS, FL_END_HEADERS | FL_END_STREAM, sid, 6, ts);
    gw_h2guard_frame(g, C2S, T_RST, 0, sid, 4, ts);
}

/* ---- limits, names ---------------------------------------------------------- */

START_TEST(test_default_limits)
{
    struct gw_h2guard_limits l;
    memset(&l, 0xab, sizeof l);
    gw_h2guard_limits_default(&l);
    ck_assert_uint_eq(l.rapid_reset_per_sec, 100);
    ck_assert_uint_eq(l.rapid_reset_age_ms, 100);
    ck_assert_uint_eq(l.settings_per_sec, 100);
    ck_assert_uint_eq(l.ping_per_sec, 100);
    ck_assert_uint_eq(l.window_update_per_sec, 10000);
    ck_assert_uint_eq(l.empty_frames_per_sec, 100);
    ck_assert_uint_eq(l.continuation_frames, 64);
    ck_assert_uint_eq(l.continuation_bytes, 512 * 1024);
    ck_assert_uint_eq(l.stream_id_high, 2147483648u - 1048576u); /* 2^31 - 2^20 */
    ck_assert_uint_eq(l.stream_id_jump, 1048576u);
}
END_TEST

START_TEST(test_event_names)
{
    static const char *const names[GW_H2GUARD_EVENT_COUNT] = {
        [GW_H2GUARD_RAPID_RESET] = "rapid_reset",
        [GW_H2GUARD_SETTINGS_FLOOD] = "settings_flood",
        [GW_H2GUARD_PING_FLOOD] = "ping_flood",
        [GW_H2GUARD_WINDOW_UPDATE_FLOOD] = "window_update_flood",
        [GW_H2GUARD_EMPTY_FRAMES_FLOOD] = "empty_frames_flood",
        [GW_H2GUARD_CONTINUATION_FLOOD] = "continuation_flood",
        [GW_H2GUARD_STREAM_ID_EXHAUSTION] = "stream_id_exhaustion",
    };
    for (int i = 0; i < GW_H2GUARD_EVENT_COUNT; i++) ck_assert_str_eq(gw_h2guard_event_str(i), names[i]);
    ck_assert_str_eq(gw_h2guard_event_str(-1), "unknown");
    ck_assert_str_eq(gw_h2guard_event_str(GW_H2GUARD_EVENT_COUNT), "unknown");
}
END_TEST

/* Zero fields take their default; others are kept. */
START_TEST(test_zero_fields_default)
{
    struct gw_h2guard g;
    struct seen s;
    struct gw_h2guard_limits l;
    memset(&l, 0, sizeof l);
    l.ping_per_sec = 3;
    guard_start(&g, &s, &l);
    /* settings at the default 100: 100 in a second are fine */
    frames(&g, 100, C2S, T_SETTINGS, 0, 0, 6, T0, MS);
    ck_assert_int_eq(s.n, 0);
    /* ping at 3: the 4th in a second is a flood */
    frames(&g, 3, C2S, T_PING, 0, 0, 8, T0, MS);
    ck_assert_int_eq(s.n, 0);
    gw_h2guard_frame(&g, C2S, T_PING, 0, 0, 8, T0 + 3 * MS);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.event[0], "ping_flood");
}
END_TEST

/* ---- rapid reset ---------------------------------------------------------- */

START_TEST(test_rapid_reset_threshold)
{
    struct gw_h2guard g;
    struct seen s;
    guard_start(&g, &s, NULL);
    /* 100 open-and-reset pairs within 0.99 s: exactly the limit */
    for (int i = 0; i < 100; i++) open_and_reset(&g, 1 + 2 * (uint32_t)i, T0 + i * 10 * MS);
    ck_assert_int_eq(s.n, 0);
    ck_assert_uint_eq(gw_h2guard_stats(&g)->early_resets, 100);
    /* the 101st within the same second */
    open_and_reset(&g, 201, T0 + 995 * MS);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.event[0], "rapid_reset");
    ck_assert_int_eq(s.dir[0], C2S);
    ck_assert_uint_eq(s.sid[0], 201);
    ck_assert(gw_h2guard_reported(&g, GW_H2GUARD_RAPID_RESET));
    ck_assert_uint_eq(gw_h2guard_stats(&g)->client_resets, 101);
}
END_TEST

/* 100 per second for three seconds never exceeds a one-second window. */
START_TEST(test_rapid_reset_steady_rate)
{
    struct gw_h2guard g;
    struct seen s;
    guard_start(&g, &s, NULL);
    for (int i = 0; i < 300; i++) open_and_reset(&g, 1 + 2 * (uint32_t)i, T0 + i * 10 * MS);
    ck_assert_int_eq(s.n, 0);
    ck_assert_uint_eq(gw_h2guard_stats(&g)->events[GW_H2GUARD_RAPID_RESET], 0);
    ck_assert_uint_eq(gw_h2guard_stats(&g)->early_resets, 300);
}
END_TEST

/* Streams the server answered are ordinary cancellations. */
START_TEST(test_rapid_reset_answered)
{
    struct gw_h2guard g;
    struct seen s;
    guard_start(&g, &s, NULL);
    for (uint32_t i = 0; i < 500; i++) {
        uint32_t sid = 1 + 2 * i;
        gw_h2guard_frame(&g, C2S, T_HEADERS, FL_END_HEADERS, sid, 20, T0 + i * MS);
        gw_h2guard_frame(&g, S2C, T_HEADERS, FL_END_HEADERS, sid, 5, T0 + i * MS);
        gw_h2guard_frame(&g, C2S, T_RST, 0, sid, 4, T0 + i * MS);
    }
    ck_assert_int_eq(s.n, 0);
    ck_assert_uint_eq(gw_h2guard_stats(&g)->client_resets, 500);
    ck_assert_uint_eq(gw_h2guard_stats(&g)->early_resets, 0);
    /* a server RST_STREAM counts as an answer too */
    for (uint32_t i = 500; i < 1000; i++) {
        uint32_t sid = 1 + 2 * i;
        gw_h2guard_frame(&g, C2S, T_HEADERS, FL_END_HEADERS, sid, 20, T0 + i * MS);
        gw_h2guard_frame(&g, S2C, T_RST, 0, sid, 4, T0 + i * MS);
        gw_h2guard_frame(&g, C2S, T_RST, 0, sid, 4, T0 + i * MS);
    }
    ck_assert_int_eq(s.n, 0);
    ck_assert_uint_eq(gw_h2guard_stats(&g)->early_resets, 0);
}
END_TEST

/* Age: a reset more than rapid_reset_age_ms after HEADERS is not early. */
START_TEST(test_rapid_reset_age)
{
    struct gw_h2guard g;
    struct seen s;
    struct gw_h2guard_limits l;
    memset(&l, 0, sizeof l);
    l.rapid_reset_per_sec = 5;
    l.rapid_reset_age_ms = 100;
    guard_start(&g, &s, &l);
    for (uint32_t i = 0; i < 10; i++)
        gw_h2guard_frame(&g, C2S, T_HEADERS, FL_END_HEADERS, 1 + 2 * i, 20, T0);
    for (uint32_t i = 0; i < 10; i++) gw_h2guard_frame(&g, C2S, T_RST, 0, 1 + 2 * i, 4, T0 + 101 * MS);
    ck_assert_int_eq(s.n, 0);
    ck_assert_uint_eq(gw_h2guard_stats(&g)->early_resets, 0);

    /* the same at exactly 100 ms: early; the 6th is over the limit of 5 */
    for (uint32_t i = 10; i < 20; i++)
        gw_h2guard_frame(&g, C2S, T_HEADERS, FL_END_HEADERS, 1 + 2 * i, 20, T0 + SEC);
    for (uint32_t i = 10; i < 16; i++) gw_h2guard_frame(&g, C2S, T_RST, 0, 1 + 2 * i, 4, T0 + SEC + 100 * MS);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.event[0], "rapid_reset");
    ck_assert_uint_eq(s.sid[0], 1 + 2 * 15);
    ck_assert_uint_eq(gw_h2guard_stats(&g)->early_resets, 6);
}
END_TEST

/* Resets of streams never opened, opened by the server, or reset twice. */
START_TEST(test_rapid_reset_unknown_streams)
{
    struct gw_h2guard g;
    struct seen s;
    struct gw_h2guard_limits l;
    memset(&l, 0, sizeof l);
    l.rapid_reset_per_sec = 1;
    guard_start(&g, &s, &l);
    frames(&g, 50, C2S, T_RST, 0, 99, 4, T0, MS);           /* never opened */
    gw_h2guard_frame(&g, C2S, T_HEADERS, FL_END_HEADERS, 1, 20, T0);
    frames(&g, 50, C2S, T_RST, 0, 1, 4, T0, MS);            /* the same stream again and again */
    frames(&g, 50, C2S, T_RST, 0, 0, 4, T0, MS);            /* stream 0 */
    ck_assert_int_eq(s.n, 0);
    ck_assert_uint_eq(gw_h2guard_stats(&g)->client_resets, 150);
    ck_assert_uint_eq(gw_h2guard_stats(&g)->early_resets, 1);
    /* a second early reset in the window crosses 1 */
    gw_h2guard_frame(&g, C2S, T_HEADERS, FL_END_HEADERS, 3, 20, T0);
    gw_h2guard_frame(&g, C2S, T_RST, 0, 3, 4, T0);
    ck_assert_int_eq(count_event(&s, "rapid_reset"), 1);
}
END_TEST

/* More streams opened than the ring holds before resetting: only the most
 * recent GW_H2GUARD_RECENT are known, so the count is a lower bound. */
START_TEST(test_rapid_reset_batches)
{
    struct gw_h2guard g;
    struct seen s;
    guard_start(&g, &s, NULL);
    uint32_t sid = 1;
    int batches = 0;
    while (s.n == 0 && batches < 100) {
        uint32_t first = sid;
        for (int i = 0; i < 100; i++, sid += 2)
            gw_h2guard_frame(&g, C2S, T_HEADERS, FL_END_HEADERS, sid, 6, T0 + batches * MS);
        for (uint32_t r = first; r < sid; r += 2) gw_h2guard_frame(&g, C2S, T_RST, 0, r, 4, T0 + batches * MS);
        batches++;
    }
    /* each batch of 100 yields GW_H2GUARD_RECENT early resets; more than
     * 100 needs ceil(101 / RECENT) batches */
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(batches, (101 + GW_H2GUARD_RECENT - 1) / GW_H2GUARD_RECENT);
}
END_TEST

/* ---- SETTINGS, PING, WINDOW_UPDATE, empty frames ---------------------------- */

struct rate_case {
    uint8_t type, flags;
    uint32_t len;
    uint32_t limit;
    const char *event;
};

static const struct rate_case rate_cases[] = {
    { T_SETTINGS, 0, 6, 100, "settings_flood" },
    { T_SETTINGS, FL_ACK, 0, 100, "settings_flood" },
    { T_PING, 0, 8, 100, "ping_flood" },
    { T_PING, FL_ACK, 8, 100, "ping_flood" },
    { T_WINDOW_UPDATE, 0, 4, 10000, "window_update_flood" },
    { T_DATA, 0, 0, 100, "empty_frames_flood" },
    { T_CONT, 0, 0, 100, "empty_frames_flood" },
};

/* limit frames in a second from one side are fine, one more is a flood. */
static void rate_threshold(const struct rate_case *c, int dir)
{
    uint32_t sid = (c->type == T_DATA || c->type == T_CONT) ? 5 : 0;
    struct gw_h2guard g;
    struct seen s;
    guard_start(&g, &s, NULL);
    gw_time_us step = (gw_time_us)999 * MS / c->limit; /* the whole run inside 999 ms */
    frames(&g, (int)c->limit, dir, c->type, c->flags, sid, c->len, T0, step);
    ck_assert_int_eq(s.n, 0);
    gw_h2guard_frame(&g, dir, c->type, c->flags, sid, c->len, T0 + 999 * MS);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.event[0], c->event);
    ck_assert_int_eq(s.dir[0], dir);
    ck_assert_uint_eq(s.sid[0], sid);
}

START_TEST(test_rate_threshold)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(rate_cases); i++) {
        rate_threshold(&rate_cases[i], C2S);
        rate_threshold(&rate_cases[i], S2C);
    }
}
END_TEST

/* Each side has its own window: limit from each never adds up. */
START_TEST(test_rate_per_direction)
{
    struct gw_h2guard g;
    struct seen s;
    guard_start(&g, &s, NULL);
    for (int i = 0; i < 100; i++) {
        gw_h2guard_frame(&g, C2S, T_PING, 0, 0, 8, T0 + i * MS);
        gw_h2guard_frame(&g, S2C, T_PING, FL_ACK, 0, 8, T0 + i * MS);
        gw_h2guard_frame(&g, C2S, T_SETTINGS, 0, 0, 6, T0 + i * MS);
        gw_h2guard_frame(&g, S2C, T_SETTINGS, FL_ACK, 0, 0, T0 + i * MS);
    }
    ck_assert_int_eq(s.n, 0);
    /* but ACKs count with the frames of their own side */
    gw_h2guard_frame(&g, S2C, T_PING, 0, 0, 8, T0 + 200 * MS);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.event[0], "ping_flood");
    ck_assert_int_eq(s.dir[0], S2C);
}
END_TEST

/* Windows are one second of packet time from their first frame. */
START_TEST(test_window_boundaries)
{
    struct gw_h2guard g;
    struct seen s;
    guard_start(&g, &s, NULL);
    frames(&g, 100, C2S, T_PING, 0, 0, 8, T0, MS);
    /* exactly one second after the window opened: a new window */
    frames(&g, 100, C2S, T_PING, 0, 0, 8, T0 + SEC, 0);
    ck_assert_int_eq(s.n, 0);
    /* a clock that went back opens a new window too */
    frames(&g, 100, C2S, T_PING, 0, 0, 8, T0, 0);
    ck_assert_int_eq(s.n, 0);
    /* and 101 at one instant is a flood */
    frames(&g, 101, C2S, T_PING, 0, 0, 8, T0 + 5 * SEC, 0);
    ck_assert_int_eq(s.n, 1);
}
END_TEST

/* Reported once per connection, counted once per window. */
START_TEST(test_reported_once_counted_per_window)
{
    struct gw_h2guard g;
    struct seen s;
    guard_start(&g, &s, NULL);
    for (int w = 0; w < 5; w++) frames(&g, 1000, C2S, T_SETTINGS, 0, 0, 6, T0 + w * SEC, 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_uint_eq(gw_h2guard_stats(&g)->events[GW_H2GUARD_SETTINGS_FLOOD], 5);
    ck_assert_uint_eq(gw_h2guard_stats(&g)->reported, 1u << GW_H2GUARD_SETTINGS_FLOOD);
    ck_assert(gw_h2guard_reported(&g, GW_H2GUARD_SETTINGS_FLOOD));
    ck_assert(!gw_h2guard_reported(&g, GW_H2GUARD_PING_FLOOD));
    /* another kind is reported on its own */
    frames(&g, 101, C2S, T_PING, 0, 0, 8, T0, 0);
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.event[1], "ping_flood");
}
END_TEST

/* What is not an empty frame. */
START_TEST(test_empty_frames_kinds)
{
    struct gw_h2guard g;
    struct seen s;
    guard_start(&g, &s, NULL);
    frames(&g, 500, C2S, T_DATA, FL_END_STREAM, 1, 0, T0, 0); /* ends the stream */
    frames(&g, 500, C2S, T_DATA, 0, 1, 1, T0, 0);             /* carries a byte */
    frames(&g, 500, C2S, T_HEADERS, FL_END_HEADERS, 1, 0, T0, 0);
    frames(&g, 500, C2S, T_RST, 0, 1, 0, T0, 0);              /* other types */
    ck_assert_int_eq(count_event(&s, "empty_frames_flood"), 0);
    /* empty HEADERS without END_HEADERS do count */
    frames(&g, 101, C2S, T_HEADERS, 0, 1, 0, T0, 0);
    ck_assert_int_eq(count_event(&s, "empty_frames_flood"), 1);
}
END_TEST

/* UINT32_MAX disables a rate check. */
START_TEST(test_rate_disabled)
{
    struct gw_h2guard g;
    struct seen s;
    struct gw_h2guard_limits l;
    memset(&l, 0, sizeof l);
    l.settings_per_sec = UINT32_MAX;
    l.window_update_per_sec = UINT32_MAX;
    guard_start(&g, &s, &l);
    frames(&g, 200000, C2S, T_SETTINGS, 0, 0, 6, T0, 0);
    frames(&g, 200000, S2C, T_WINDOW_UPDATE, 0, 0, 4, T0, 0);
    ck_assert_int_eq(s.n, 0);
    ck_assert_uint_eq(gw_h2guard_stats(&g)->events[GW_H2GUARD_SETTINGS_FLOOD], 0);
}
END_TEST

/* ---- CONTINUATION ------------------------------------------------------------- */

START_TEST(test_continuation_frames)
{
    struct gw_h2guard g;
    struct seen s;
    guard_start(&g, &s, NULL);
    gw_h2guard_frame(&g, C2S, T_HEADERS, 0, 3, 100, T0);
    frames(&g, 64, C2S, T_CONT, 0, 3, 20, T0, MS);
    ck_assert_int_eq(s.n, 0);
    gw_h2guard_frame(&g, C2S, T_CONT, 0, 3, 20, T0 + 64 * MS);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.event[0], "continuation_flood");
    ck_assert_int_eq(s.dir[0], C2S);
    ck_assert_uint_eq(s.sid[0], 3);
    /* the same block goes on: counted once per block */
    frames(&g, 1000, C2S, T_CONT, 0, 3, 20, T0 + SEC, MS);
    ck_assert_uint_eq(gw_h2guard_stats(&g)->events[GW_H2GUARD_CONTINUATION_FLOOD], 1);
}
END_TEST

/* 64 CONTINUATION frames without END_HEADERS and a 65th that ends the
 * block: "more than 64 without END_HEADERS" is not met. */
START_TEST(test_continuation_ends_in_time)
{
    struct gw_h2guard g;
    struct seen s;
    guard_start(&g, &s, NULL);
    for (uint32_t b = 0; b < 3; b++) {
        uint32_t sid = 1 + 2 * b;
        gw_h2guard_frame(&g, C2S, T_HEADERS, 0, sid, 100, T0 + b * SEC);
        frames(&g, 64, C2S, T_CONT, 0, sid, 20, T0 + b * SEC, MS);
        gw_h2guard_frame(&g, C2S, T_CONT, FL_END_HEADERS, sid, 20, T0 + b * SEC + 100 * MS);
    }
    ck_assert_int_eq(s.n, 0);
    /* PUSH_PROMISE blocks from the server are followed the same way */
    gw_h2guard_frame(&g, S2C, T_PUSH, 0, 1, 100, T0);
    frames(&g, 65, S2C, T_CONT, 0, 1, 20, T0, MS);
    ck_assert_int_eq(s.n, 1);
    ck_assert_int_eq(s.dir[0], S2C);
}
END_TEST

/* A frame of another type ends the block (the parser fails there): the
 * CONTINUATIONs after it belong to no block. */
START_TEST(test_continuation_block_broken)
{
    struct gw_h2guard g;
    struct seen s;
    guard_start(&g, &s, NULL);
    gw_h2guard_frame(&g, C2S, T_HEADERS, 0, 3, 100, T0);
    frames(&g, 40, C2S, T_CONT, 0, 3, 20, T0, MS);
    gw_h2guard_frame(&g, C2S, T_PING, 0, 0, 8, T0 + 50 * MS);
    frames(&g, 40, C2S, T_CONT, 0, 3, 20, T0 + 60 * MS, MS);
    ck_assert_int_eq(count_event(&s, "continuation_flood"), 0);
}
END_TEST

/* Bytes: HEADERS + CONTINUATIONs of 16 KiB add up to exactly 512 KiB in 32
 * frames (not more than the limit); one byte more is. */
START_TEST(test_continuation_bytes)
{
    struct gw_h2guard g;
    struct seen s;
    guard_start(&g, &s, NULL);
    gw_h2guard_frame(&g, C2S, T_HEADERS, 0, 7, 16384, T0);
    frames(&g, 31, C2S, T_CONT, 0, 7, 16384, T0, MS);
    ck_assert_int_eq(s.n, 0);
    gw_h2guard_frame(&g, C2S, T_CONT, FL_END_HEADERS, 7, 1, T0 + 40 * MS);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.event[0], "continuation_flood");
    ck_assert_uint_eq(s.sid[0], 7);

    /* a single HEADERS frame over the byte limit counts too */
    struct gw_h2guard_limits l;
    memset(&l, 0, sizeof l);
    l.continuation_bytes = 1000;
    guard_start(&g, &s, &l);
    gw_h2guard_frame(&g, C2S, T_HEADERS, FL_END_HEADERS, 1, 1000, T0);
    ck_assert_int_eq(s.n, 0);
    gw_h2guard_frame(&g, C2S, T_HEADERS, FL_END_HEADERS, 3, 1001, T0);
    ck_assert_int_eq(s.n, 1);
}
END_TEST

/* Byte counts saturate instead of wrapping: 2^32 bytes of CONTINUATION
 * never wrap back under a limit of UINT32_MAX - 1. */
START_TEST(test_continuation_bytes_saturate)
{
    struct gw_h2guard g;
    struct seen s;
    struct gw_h2guard_limits l;
    memset(&l, 0, sizeof l);
    l.continuation_frames = UINT32_MAX;
    l.continuation_bytes = UINT32_MAX;
    guard_start(&g, &s, &l);
    gw_h2guard_frame(&g, C2S, T_HEADERS, 0, 1, 16777215, T0);
    frames(&g, 600, C2S, T_CONT, 0, 1, 16777215, T0, 0); /* ~10 GB */
    ck_assert_int_eq(s.n, 0);
    l.continuation_bytes = UINT32_MAX - 1;
    guard_start(&g, &s, &l);
    gw_h2guard_frame(&g, C2S, T_HEADERS, 0, 1, 16777215, T0);
    frames(&g, 600, C2S, T_CONT, 0, 1, 16777215, T0, 0);
    ck_assert_int_eq(s.n, 1);
}
END_TEST

/* ---- stream ids ---------------------------------------------------------------- */

START_TEST(test_stream_id_high)
{
    struct gw_h2guard g;
    struct seen s;
    struct gw_h2guard_limits l;
    memset(&l, 0, sizeof l);
    l.stream_id_jump = UINT32_MAX; /* only the high mark */
    guard_start(&g, &s, &l);
    uint32_t high = (1u << 31) - (1u << 20);
    gw_h2guard_frame(&g, C2S, T_HEADERS, FL_END_HEADERS, 1, 20, T0);
    gw_h2guard_frame(&g, C2S, T_HEADERS, FL_END_HEADERS, high - 1, 20, T0);
    gw_h2guard_frame(&g, S2C, T_HEADERS, FL_END_HEADERS, 0x7fffffff, 20, T0); /* server side */
    gw_h2guard_frame(&g, C2S, T_HEADERS, FL_END_HEADERS, high + 2, 20, T0);   /* even */
    ck_assert_int_eq(s.n, 0);
    gw_h2guard_frame(&g, C2S, T_HEADERS, FL_END_HEADERS, high + 1, 20, T0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.event[0], "stream_id_exhaustion");
    ck_assert_uint_eq(s.sid[0], high + 1);
    /* each new id above is counted, reported once */
    gw_h2guard_frame(&g, C2S, T_HEADERS, FL_END_HEADERS, 0x7fffffff, 20, T0);
    gw_h2guard_frame(&g, C2S, T_HEADERS, FL_END_HEADERS, 0x7fffffff, 20, T0); /* trailers: not new */
    ck_assert_int_eq(s.n, 1);
    ck_assert_uint_eq(gw_h2guard_stats(&g)->events[GW_H2GUARD_STREAM_ID_EXHAUSTION], 2);
}
END_TEST

START_TEST(test_stream_id_jump)
{
    struct gw_h2guard g;
    struct seen s;
    guard_start(&g, &s, NULL);
    uint32_t jump = 1u << 20;
    /* the first id is not a jump from 0 (a mid-stream pickup starts anywhere) */
    gw_h2guard_frame(&g, C2S, T_HEADERS, FL_END_HEADERS, 1 + 4 * jump, 20, T0);
    ck_assert_int_eq(s.n, 0);
    guard_start(&g, &s, NULL);
    gw_h2guard_frame(&g, C2S, T_HEADERS, FL_END_HEADERS, 1, 20, T0);
    gw_h2guard_frame(&g, C2S, T_HEADERS, FL_END_HEADERS, 1 + jump, 20, T0); /* a jump of exactly 2^20 */
    ck_assert_int_eq(s.n, 0);
    /* from 1 + 2^20 to 1 + 2^21 + 2: a jump of 2^20 + 2 */
    gw_h2guard_frame(&g, C2S, T_HEADERS, FL_END_HEADERS, 1 + jump + jump + 2, 20, T0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.event[0], "stream_id_exhaustion");
}
END_TEST

/* The reserved bit of the stream id is not part of it (RFC 9113 4.1). */
START_TEST(test_stream_id_reserved_bit)
{
    struct gw_h2guard g;
    struct seen s;
    guard_start(&g, &s, NULL);
    gw_h2guard_frame(&g, C2S, T_HEADERS, FL_END_HEADERS, 0x80000001u, 20, T0);
    ck_assert_int_eq(s.n, 0);
    gw_h2guard_frame(&g, C2S, T_RST, 0, 0x80000001u, 4, T0);
    ck_assert_uint_eq(gw_h2guard_stats(&g)->early_resets, 1);
}
END_TEST

/* ---- robustness ----------------------------------------------------------------- */

START_TEST(test_bad_arguments)
{
    struct gw_h2guard g;
    struct seen s;
    guard_start(&g, &s, NULL);
    frames(&g, 500, 2, T_PING, 0, 0, 8, T0, 0);
    frames(&g, 500, -1, T_PING, 0, 0, 8, T0, 0);
    ck_assert_int_eq(s.n, 0);
    gw_h2guard_frame(NULL, C2S, T_PING, 0, 0, 8, T0);
    ck_assert_ptr_null(gw_h2guard_stats(NULL));
    ck_assert(!gw_h2guard_reported(NULL, 0));
    ck_assert(!gw_h2guard_reported(&g, -1));
    ck_assert(!gw_h2guard_reported(&g, GW_H2GUARD_EVENT_COUNT));
    /* unknown frame types and odd times are taken in stride */
    for (int t = 10; t < 256; t++) gw_h2guard_frame(&g, C2S, (uint8_t)t, 0xff, 0xffffffffu, 0xffffff, -1);
    frames(&g, 50, C2S, T_PING, 0, 0, 8, INT64_MIN, 0);
    frames(&g, 50, C2S, T_PING, 0, 0, 8, INT64_MAX, 0);
    ck_assert_int_eq(s.n, 0);
}
END_TEST

/* Without a callback, events are still counted. */
START_TEST(test_no_callback)
{
    struct gw_h2guard g;
    gw_h2guard_init(&g, NULL, NULL, NULL);
    frames(&g, 101, C2S, T_PING, 0, 0, 8, T0, 0);
    ck_assert(gw_h2guard_reported(&g, GW_H2GUARD_PING_FLOOD));
    ck_assert_uint_eq(gw_h2guard_stats(&g)->events[GW_H2GUARD_PING_FLOOD], 1);
}
END_TEST

/* A callback that feeds the guard again still gets each event once. */
struct reentrant {
    struct gw_h2guard *g;
    int calls;
};

static void on_event_reenter(void *user, int dir, const char *event, uint32_t sid)
{
    struct reentrant *r = user;
    GW_UNUSED(event);
    GW_UNUSED(sid);
    r->calls++;
    frames(r->g, 200, dir, T_PING, 0, 0, 8, T0, 0);
}

START_TEST(test_reentrant_callback)
{
    struct gw_h2guard g;
    struct reentrant r = { &g, 0 };
    gw_h2guard_init(&g, NULL, on_event_reenter, &r);
    frames(&g, 101, C2S, T_PING, 0, 0, 8, T0, 0);
    ck_assert_int_eq(r.calls, 1);
}
END_TEST

/* ---- with the real parser --------------------------------------------------------- */

static size_t put_frame(uint8_t *p, uint32_t len, uint8_t type, uint8_t flags, uint32_t sid)
{
    p[0] = (uint8_t)(len >> 16);
    p[1] = (uint8_t)(len >> 8);
    p[2] = (uint8_t)len;
    p[3] = type;
    p[4] = flags;
    p[5] = (uint8_t)(sid >> 24);
    p[6] = (uint8_t)(sid >> 16);
    p[7] = (uint8_t)(sid >> 8);
    p[8] = (uint8_t)sid;
    memset(p + 9, 0, len);
    return 9 + len;
}

static struct gw_h2guard *parser_guard;

static void guard_on_frame(void *user, int dir, uint8_t type, uint8_t flags, uint32_t sid,
                           uint32_t len, gw_time_us ts)
{
    GW_UNUSED(user);
    gw_h2guard_frame(parser_guard, dir, type, flags, sid, len, ts);
}

/* The preface, 150 PINGs fed one byte at a time: every frame header reaches
 * the guard through on_frame with its packet time. */
START_TEST(test_with_parser)
{
    static const struct gw_h2_callbacks cb = { .on_frame = guard_on_frame };
    struct gw_h2guard g;
    struct seen s;
    guard_start(&g, &s, NULL);
    parser_guard = &g;
    struct gw_h2_conn *c = gw_h2_conn_create(NULL, &cb, NULL);
    ck_assert_ptr_nonnull(c);
    enum { PINGS = 150 };
    size_t cap = GW_H2_PREFACE_LEN + 9 + PINGS * 17;
    uint8_t *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, GW_H2_PREFACE, GW_H2_PREFACE_LEN);
    size_t n = GW_H2_PREFACE_LEN;
    n += put_frame(buf + n, 0, T_SETTINGS, 0, 0);
    for (int i = 0; i < PINGS; i++) n += put_frame(buf + n, 8, T_PING, 0, 0);
    ck_assert_uint_eq(n, cap);
    for (size_t i = 0; i < n; i++) ck_assert_int_eq(gw_h2_conn_feed(c, C2S, buf + i, 1, T0), GW_OK);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.event[0], "ping_flood");
    ck_assert_int_eq(s.dir[0], C2S);
    free(buf);
    gw_h2_conn_destroy(c);
}
END_TEST

/* Totals: counters add, the reported bits of any connection are kept. */
START_TEST(test_stats_add)
{
    struct gw_h2guard_stats total, a, b;
    memset(&total, 0, sizeof total);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    for (int e = 0; e < GW_H2GUARD_EVENT_COUNT; e++) {
        a.events[e] = (uint64_t)e + 1;
        b.events[e] = 10;
    }
    a.client_resets = 5;
    b.client_resets = 6;
    a.early_resets = 1;
    b.early_resets = 2;
    a.reported = 1u << GW_H2GUARD_PING_FLOOD;
    b.reported = 1u << GW_H2GUARD_RAPID_RESET;
    gw_h2guard_stats_add(&total, &a);
    gw_h2guard_stats_add(&total, &b);
    gw_h2guard_stats_add(NULL, &b); /* ignored */
    for (int e = 0; e < GW_H2GUARD_EVENT_COUNT; e++) ck_assert_uint_eq(total.events[e], (uint64_t)e + 11);
    ck_assert_uint_eq(total.client_resets, 11);
    ck_assert_uint_eq(total.early_resets, 3);
    ck_assert_uint_eq(total.reported, (1u << GW_H2GUARD_PING_FLOOD) | (1u << GW_H2GUARD_RAPID_RESET));
    /* the table reads the same totals */
    for (size_t i = 0; i < gw_h2guard_stat_fields_len; i++) {
        const struct gw_stat_field *f = &gw_h2guard_stat_fields[i];
        uint64_t v;
        memcpy(&v, (const uint8_t *)&total + f->offset, sizeof v);
        if (i < GW_H2GUARD_EVENT_COUNT) ck_assert_uint_eq(v, i + 11);
        if (strcmp(f->path, "client_resets") == 0) ck_assert_uint_eq(v, 11);
        if (strcmp(f->path, "early_resets") == 0) ck_assert_uint_eq(v, 3);
    }
    ck_assert_uint_eq(gw_h2guard_stat_fields_len, GW_H2GUARD_EVENT_COUNT + 2);
}
END_TEST

static Suite *h2guard_suite(void)
{
    Suite *s = suite_create("h2guard");
    TCase *t = tcase_create("core");
    tcase_add_test(t, test_default_limits);
    tcase_add_test(t, test_event_names);
    tcase_add_test(t, test_zero_fields_default);
    tcase_add_test(t, test_rapid_reset_threshold);
    tcase_add_test(t, test_rapid_reset_steady_rate);
    tcase_add_test(t, test_rapid_reset_answered);
    tcase_add_test(t, test_rapid_reset_age);
    tcase_add_test(t, test_rapid_reset_unknown_streams);
    tcase_add_test(t, test_rapid_reset_batches);
    tcase_add_test(t, test_rate_threshold);
    tcase_add_test(t, test_rate_per_direction);
    tcase_add_test(t, test_window_boundaries);
    tcase_add_test(t, test_reported_once_counted_per_window);
    tcase_add_test(t, test_empty_frames_kinds);
    tcase_add_test(t, test_rate_disabled);
    tcase_add_test(t, test_continuation_frames);
    tcase_add_test(t, test_continuation_ends_in_time);
    tcase_add_test(t, test_continuation_block_broken);
    tcase_add_test(t, test_continuation_bytes);
    tcase_add_test(t, test_continuation_bytes_saturate);
    tcase_add_test(t, test_stream_id_high);
    tcase_add_test(t, test_stream_id_jump);
    tcase_add_test(t, test_stream_id_reserved_bit);
    tcase_add_test(t, test_bad_arguments);
    tcase_add_test(t, test_no_callback);
    tcase_add_test(t, test_reentrant_callback);
    tcase_add_test(t, test_with_parser);
    tcase_add_test(t, test_stats_add);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(h2guard_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
