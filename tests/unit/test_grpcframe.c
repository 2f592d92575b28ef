/*
 * test_grpcframe.c - the gRPC 5-byte message framer on its own: any
 * chunking (1-byte chunks, a prefix split at every offset), lengths at and
 * past the 4 MiB candidate cap, bad flags in every mode, gRPC-Web trailer
 * frames, the candidate framing after a pickup, and holes (inside a body:
 * exact; touching a prefix, unknown, or untrusted: stopped for good).
 */
#include "grpcwatch/grpcframe.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* Appends a message: flag, big-endian length, then len bytes of 'x'. */
static size_t put_msg(uint8_t *buf, size_t at, uint8_t flag, uint32_t len)
{
    buf[at++] = flag;
    buf[at++] = (uint8_t)(len >> 24);
    buf[at++] = (uint8_t)(len >> 16);
    buf[at++] = (uint8_t)(len >> 8);
    buf[at++] = (uint8_t)len;
    memset(buf + at, 'x', len);
    return at + len;
}

/* Feeds buf in chunks of `chunk` bytes. */
static void feed_chunked(struct gw_grpcframe *f, const uint8_t *buf, size_t n, size_t chunk)
{
    for (size_t off = 0; off < n; off += chunk) gw_grpcframe_feed(f, buf + off, GW_MIN(chunk, n - off));
}

START_TEST(test_one_byte_chunks)
{
    uint8_t buf[256];
    size_t n = 0;
    n = put_msg(buf, n, 0, 10);
    n = put_msg(buf, n, 1, 0);
    n = put_msg(buf, n, 0, 100);
    n = put_msg(buf, n, 0, 3);
    struct gw_grpcframe f;
    gw_grpcframe_init(&f, 0);
    feed_chunked(&f, buf, n, 1);
    ck_assert_uint_eq(gw_grpcframe_messages(&f), 4);
    ck_assert_uint_eq(gw_grpcframe_bytes(&f), n);
    ck_assert(gw_grpcframe_at_boundary(&f));
    ck_assert_int_eq(gw_grpcframe_mode(&f), GW_GRPCFRAME_EXACT);
    /* the same bytes whole give the same answer */
    struct gw_grpcframe g;
    gw_grpcframe_init(&g, 0);
    gw_grpcframe_feed(&g, buf, n);
    ck_assert_mem_eq(&f, &g, sizeof f);
}
END_TEST

/* Two messages, the buffer split once at every offset: a message counts
 * exactly when its fifth prefix byte has been fed. */
START_TEST(test_prefix_split_at_every_offset)
{
    uint8_t buf[64];
    size_t n = put_msg(buf, 0, 0, 7);
    n = put_msg(buf, n, 0, 2);
    for (size_t cut = 0; cut <= n; cut++) {
        struct gw_grpcframe f;
        gw_grpcframe_init(&f, 0);
        gw_grpcframe_feed(&f, buf, cut);
        uint64_t want = cut >= 5 + 7 + 5 ? 2 : cut >= 5 ? 1 : 0;
        ck_assert_msg(gw_grpcframe_messages(&f) == want, "cut %zu: %llu messages", cut,
                      (unsigned long long)gw_grpcframe_messages(&f));
        gw_grpcframe_feed(&f, buf + cut, n - cut);
        ck_assert_uint_eq(gw_grpcframe_messages(&f), 2);
        ck_assert(gw_grpcframe_at_boundary(&f));
    }
}
END_TEST

/* step(): one prefix or one run of body bytes at a time, in place. */
START_TEST(test_step_contract)
{
    uint8_t buf[32];
    size_t n = put_msg(buf, 0, 0x80, 4);
    struct gw_grpcframe f;
    struct gw_grpcframe_ev ev;
    gw_grpcframe_init(&f, GW_GRPCFRAME_WEB);
    size_t k = gw_grpcframe_step(&f, buf, 3, &ev);
    ck_assert_uint_eq(k, 3);
    ck_assert_int_eq(ev.prefix, 0);
    k = gw_grpcframe_step(&f, buf + 3, n - 3, &ev);
    ck_assert_uint_eq(k, 2);
    ck_assert_int_eq(ev.prefix, 1);
    ck_assert_uint_eq(ev.flag, 0x80);
    ck_assert_uint_eq(ev.len, 4);
    ck_assert_int_eq(ev.end, 0);
    k = gw_grpcframe_step(&f, buf + 5, n - 5, &ev);
    ck_assert_uint_eq(k, 4);
    ck_assert_ptr_eq(ev.body, buf + 5); /* never copied */
    ck_assert_uint_eq(ev.body_len, 4);
    ck_assert_int_eq(ev.end, 1);
    ck_assert_uint_eq(gw_grpcframe_step(&f, buf, 0, &ev), 0);
    /* a trailer frame is not a message */
    ck_assert_uint_eq(gw_grpcframe_messages(&f), 0);
    ck_assert_uint_eq(gw_grpcframe_trailers(&f), 1);
}
END_TEST

/* Plain gRPC: 0x80 is not a trailer, just a bad flag, and still skipped
 * by its length while EXACT; it no longer proves the bytes are gRPC. */
START_TEST(test_bad_flags)
{
    uint8_t buf[64];
    size_t n = put_msg(buf, 0, 0x80, 3);
    n = put_msg(buf, n, 0, 1);
    struct gw_grpcframe f;
    gw_grpcframe_init(&f, 0);
    gw_grpcframe_feed(&f, buf, n);
    gw_grpcframe_frame_end(&f);
    ck_assert_uint_eq(gw_grpcframe_messages(&f), 2);
    ck_assert_uint_eq(gw_grpcframe_trailers(&f), 0);
    ck_assert(!gw_grpcframe_aligned(&f));

    /* gRPC-Web: 0x80 and 0x81 are trailer frames */
    n = put_msg(buf, 0, 0, 1);
    n = put_msg(buf, n, 0x81, 2);
    n = put_msg(buf, n, 0x80, 0);
    gw_grpcframe_init(&f, GW_GRPCFRAME_WEB);
    gw_grpcframe_feed(&f, buf, n);
    ck_assert_uint_eq(gw_grpcframe_messages(&f), 1);
    ck_assert_uint_eq(gw_grpcframe_trailers(&f), 2);

    /* a candidate framing is dropped by a bad flag ... */
    gw_grpcframe_init(&f, 0);
    gw_grpcframe_begin(&f, false);
    gw_grpcframe_frame_start(&f);
    n = put_msg(buf, 0, 7, 1);
    gw_grpcframe_feed(&f, buf, n);
    ck_assert_int_eq(gw_grpcframe_mode(&f), GW_GRPCFRAME_LOST);
    ck_assert_uint_eq(gw_grpcframe_messages(&f), 0);
    /* ... and so is a confirmed one */
    gw_grpcframe_frame_start(&f);
    n = put_msg(buf, 0, 0, 1);
    gw_grpcframe_feed(&f, buf, n);
    gw_grpcframe_frame_end(&f);
    ck_assert_int_eq(gw_grpcframe_mode(&f), GW_GRPCFRAME_FOUND);
    ck_assert_uint_eq(gw_grpcframe_messages(&f), 1);
    n = put_msg(buf, 0, 2, 1);
    gw_grpcframe_feed(&f, buf, n);
    ck_assert_int_eq(gw_grpcframe_mode(&f), GW_GRPCFRAME_LOST);
    ck_assert_uint_eq(gw_grpcframe_messages(&f), 1);
}
END_TEST

/* Only the prefix is fed: a 4 GiB - 1 body is followed without bytes. */
START_TEST(test_lengths_at_the_cap)
{
    static const uint8_t at_cap[5] = { 0, 0x00, 0x40, 0x00, 0x00 };     /* 4 MiB */
    static const uint8_t over_cap[5] = { 0, 0x00, 0x40, 0x00, 0x01 };   /* 4 MiB + 1 */
    static const uint8_t huge[5] = { 0, 0xff, 0xff, 0xff, 0xff };
    struct gw_grpcframe f;

    /* a candidate may declare up to 4 MiB */
    gw_grpcframe_init(&f, 0);
    gw_grpcframe_begin(&f, false);
    gw_grpcframe_frame_start(&f);
    gw_grpcframe_feed(&f, at_cap, 5);
    ck_assert_int_eq(gw_grpcframe_mode(&f), GW_GRPCFRAME_TRYING);
    ck_assert_uint_eq(f.body_left, GW_GRPCFRAME_TRY_MAX_LEN);
    gw_grpcframe_init(&f, 0);
    gw_grpcframe_begin(&f, false);
    gw_grpcframe_frame_start(&f);
    gw_grpcframe_feed(&f, over_cap, 5);
    ck_assert_int_eq(gw_grpcframe_mode(&f), GW_GRPCFRAME_LOST);

    /* exact framing follows any length */
    gw_grpcframe_init(&f, 0);
    gw_grpcframe_feed(&f, huge, 5);
    ck_assert_uint_eq(gw_grpcframe_messages(&f), 1);
    ck_assert_uint_eq(f.body_left, UINT32_MAX);
    /* a hole of the whole body keeps it exact */
    ck_assert(gw_grpcframe_gap(&f, UINT32_MAX, true));
    ck_assert(gw_grpcframe_at_boundary(&f));
    gw_grpcframe_feed(&f, at_cap, 5);
    ck_assert_uint_eq(gw_grpcframe_messages(&f), 2);
}
END_TEST

/* A pickup: held messages count only once one ends at a frame end. */
START_TEST(test_candidate_framing)
{
    uint8_t buf[64];
    struct gw_grpcframe f;
    gw_grpcframe_init(&f, 0);
    gw_grpcframe_begin(&f, false);
    ck_assert_int_eq(gw_grpcframe_mode(&f), GW_GRPCFRAME_LOST);
    /* bytes before a frame start are ignored */
    gw_grpcframe_feed(&f, (const uint8_t *)"\0\0\0\0\1x", 6);
    ck_assert_uint_eq(gw_grpcframe_bytes(&f), 0);
    gw_grpcframe_frame_start(&f);
    size_t n = put_msg(buf, 0, 0, 2);
    n = put_msg(buf, n, 0, 3);
    gw_grpcframe_feed(&f, buf, n - 1);
    gw_grpcframe_frame_end(&f); /* mid-message: not confirmed */
    ck_assert_int_eq(gw_grpcframe_mode(&f), GW_GRPCFRAME_TRYING);
    ck_assert_uint_eq(gw_grpcframe_messages(&f), 0);
    gw_grpcframe_feed(&f, buf + n - 1, 1);
    gw_grpcframe_frame_end(&f);
    ck_assert_int_eq(gw_grpcframe_mode(&f), GW_GRPCFRAME_FOUND);
    ck_assert_uint_eq(gw_grpcframe_messages(&f), 2);
    ck_assert(gw_grpcframe_aligned(&f));

    /* two empty messages in a row are not a framing */
    gw_grpcframe_init(&f, 0);
    gw_grpcframe_begin(&f, false);
    gw_grpcframe_frame_start(&f);
    n = put_msg(buf, 0, 0, 0);
    n = put_msg(buf, n, 0, 0);
    gw_grpcframe_feed(&f, buf, n);
    ck_assert_int_eq(gw_grpcframe_mode(&f), GW_GRPCFRAME_LOST);
    /* a stopped framer stays stopped, whatever begins */
    gw_grpcframe_stop(&f);
    gw_grpcframe_begin(&f, true);
    gw_grpcframe_frame_start(&f);
    gw_grpcframe_feed(&f, buf, n);
    ck_assert(gw_grpcframe_stopped(&f));
    ck_assert_uint_eq(gw_grpcframe_messages(&f), 0);
}
END_TEST

/* Holes: inside a body of a trusted framing the count stays exact; a hole
 * reaching a prefix, of unknown size, or in a candidate framing stops it. */
START_TEST(test_gaps)
{
    uint8_t buf[64];
    size_t n = put_msg(buf, 0, 0, 10);
    struct gw_grpcframe f;

    for (uint64_t lost = 1; lost <= 12; lost++) {
        gw_grpcframe_init(&f, 0);
        gw_grpcframe_feed(&f, buf, 7); /* prefix + 2 body bytes: 8 left */
        bool kept = gw_grpcframe_gap(&f, lost, true);
        ck_assert_msg(kept == (lost <= 8), "lost %llu", (unsigned long long)lost);
        if (kept) {
            gw_grpcframe_feed(&f, buf + 7 + lost, n - 7 - lost);
            ck_assert(gw_grpcframe_at_boundary(&f));
            gw_grpcframe_feed(&f, buf, n);
            ck_assert_uint_eq(gw_grpcframe_messages(&f), 2);
        } else {
            ck_assert(gw_grpcframe_stopped(&f));
            gw_grpcframe_feed(&f, buf, n);
            ck_assert_uint_eq(gw_grpcframe_messages(&f), 1); /* a lower bound */
        }
    }
    /* a hole inside a prefix */
    gw_grpcframe_init(&f, 0);
    gw_grpcframe_feed(&f, buf, 2);
    ck_assert(!gw_grpcframe_gap(&f, 1, true));
    ck_assert(gw_grpcframe_stopped(&f));
    /* of unknown size */
    gw_grpcframe_init(&f, 0);
    gw_grpcframe_feed(&f, buf, 7);
    ck_assert(!gw_grpcframe_gap(&f, 1, false));
    /* empty: nothing proves where it lies */
    gw_grpcframe_init(&f, 0);
    gw_grpcframe_feed(&f, buf, 7);
    ck_assert(!gw_grpcframe_gap(&f, 0, true));
    /* in a candidate framing */
    gw_grpcframe_init(&f, 0);
    gw_grpcframe_begin(&f, false);
    gw_grpcframe_frame_start(&f);
    gw_grpcframe_feed(&f, buf, 7);
    ck_assert(!gw_grpcframe_gap(&f, 1, true));
    ck_assert(gw_grpcframe_stopped(&f));
    /* after stopping, a later hole still says stopped */
    ck_assert(!gw_grpcframe_gap(&f, 1, true));
}
END_TEST

static Suite *grpcframe_suite(void)
{
    Suite *s = suite_create("grpcframe");
    TCase *tc = tcase_create("framer");
    tcase_add_test(tc, test_one_byte_chunks);
    tcase_add_test(tc, test_prefix_split_at_every_offset);
    tcase_add_test(tc, test_step_contract);
    tcase_add_test(tc, test_bad_flags);
    tcase_add_test(tc, test_lengths_at_the_cap);
    tcase_add_test(tc, test_candidate_framing);
    tcase_add_test(tc, test_gaps);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(grpcframe_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
