/* test_hold.c - the bounded byte buffer (src/hold.c), borrowed and owned. */
#include "grpcwatch/hold.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_append_bounded)
{
    struct gw_hold h = { 0 };
    static uint8_t big[5000];
    memset(big, 'x', sizeof big);
    ck_assert(gw_hold_append(&h, NULL, big, 600, 4096));
    ck_assert_uint_eq(h.len, 600);
    ck_assert_uint_eq(h.cap, 1024); /* doubled from 512 */
    ck_assert(!gw_hold_append(&h, NULL, big, 4096 - 600 + 1, 4096)); /* one past the limit */
    ck_assert_uint_eq(h.len, 600);                              /* nothing appended */
    ck_assert(gw_hold_append(&h, NULL, big, 4096 - 600, 4096));
    ck_assert_uint_eq(h.cap, 4096);
    gw_hold_free(&h, NULL);
    ck_assert_ptr_null(h.buf);
    ck_assert_uint_eq(h.len + h.cap, 0);
}
END_TEST

START_TEST(test_borrow_then_own)
{
    struct gw_hold h = { 0 };
    uint8_t *pkt = malloc(8);
    memcpy(pkt, "preface!", 8);
    gw_hold_borrow(&h, NULL, pkt, 8);
    ck_assert_ptr_eq(h.buf, pkt); /* no copy */
    ck_assert_uint_eq(h.cap, 0);
    ck_assert(gw_hold_own(&h, NULL, 4096));
    ck_assert_ptr_ne(h.buf, pkt); /* a copy of its own */
    memset(pkt, 0, 8);
    free(pkt);
    ck_assert_mem_eq(h.buf, "preface!", 8);
    ck_assert(gw_hold_append(&h, NULL, (const uint8_t *)"more", 4, 4096));
    ck_assert_mem_eq(h.buf, "preface!more", 12);
    ck_assert(gw_hold_own(&h, NULL, 4096)); /* owned already: nothing to do */
    gw_hold_free(&h, NULL);
}
END_TEST

START_TEST(test_borrowed_free_frees_nothing)
{
    static const uint8_t lit[] = "GET / HTTP/1.1\r\n";
    struct gw_hold h = { 0 };
    gw_hold_borrow(&h, NULL, lit, sizeof lit - 1);
    gw_hold_free(&h, NULL); /* ASan would report freeing a static */
    ck_assert_ptr_null(h.buf);
    /* owning more than the limit fails and leaves the hold empty */
    gw_hold_borrow(&h, NULL, lit, sizeof lit - 1);
    ck_assert(!gw_hold_own(&h, NULL, 4));
    ck_assert_uint_eq(h.len, 0);
    ck_assert_ptr_null(h.buf);
}
END_TEST

START_TEST(test_storage_from_the_pool)
{
    struct gw_pool *p = gw_pool_create(1 << 20);
    static const uint8_t seg[300] = { 1 };
    struct gw_hold h = { 0 };
    gw_hold_borrow(&h, p, seg, sizeof seg);
    ck_assert_uint_eq(gw_pool_stats(p)->in_use, 0); /* borrowing allocates nothing */
    ck_assert(gw_hold_own(&h, p, 4096));
    ck_assert_uint_eq(gw_pool_stats(p)->in_use, 1);
    ck_assert(gw_hold_append(&h, p, seg, sizeof seg, 4096)); /* 600 > 512: grown in the pool */
    ck_assert_uint_eq(gw_pool_stats(p)->in_use, 1);
    ck_assert_mem_eq(h.buf + 300, seg, sizeof seg);
    gw_hold_free(&h, p);
    ck_assert_uint_eq(gw_pool_stats(p)->in_use, 0);
    uint64_t allocated = gw_pool_stats(p)->allocated;
    /* the next flow's hold: the blocks freed before, no new ones */
    ck_assert(gw_hold_append(&h, p, seg, sizeof seg, 4096));
    ck_assert(gw_hold_append(&h, p, seg, sizeof seg, 4096));
    gw_hold_free(&h, p);
    ck_assert_uint_eq(gw_pool_stats(p)->allocated, allocated);
    ck_assert_uint_ge(gw_pool_stats(p)->reused, 2);
    gw_pool_destroy(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hold");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_append_bounded);
    tcase_add_test(tc, test_borrow_then_own);
    tcase_add_test(tc, test_borrowed_free_frees_nothing);
    tcase_add_test(tc, test_storage_from_the_pool);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
