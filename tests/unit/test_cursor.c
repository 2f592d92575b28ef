/*
 * test_cursor.c - the cursor's scanners (cursor.h): span, skip_while,
 * trim, find and match, at the ends of the buffer, on empty and failed
 * cursors, and never past n (every buffer is a heap copy of exactly n
 * bytes, so AddressSanitizer flags a read beyond it).
 */
#include "grpcwatch/cursor.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static bool is_x(uint8_t ch) { return ch == 'x'; }
static bool is_blank(uint8_t ch) { return ch == ' ' || ch == '\t'; }

/* A heap copy of s without its NUL. */
static uint8_t *dup_bytes(const char *s, size_t *n)
{
    *n = strlen(s);
    uint8_t *p = malloc(*n ? *n : 1);
    ck_assert_ptr_nonnull(p);
    memcpy(p, s, *n);
    return p;
}

START_TEST(test_span_and_skip_while)
{
    size_t n;
    uint8_t *b = dup_bytes("xxxy", &n);
    struct gw_cursor c = gw_cursor_make(b, n);
    ck_assert_uint_eq(gw_cursor_span(&c, is_x), 3);
    ck_assert_uint_eq(c.off, 0);                     /* span consumes nothing */
    ck_assert_uint_eq(gw_skip_while(&c, is_x), 3);
    ck_assert_uint_eq(c.off, 3);
    ck_assert_uint_eq(gw_skip_while(&c, is_x), 0);   /* 'y' stops it */
    gw_skip(&c, 1);
    ck_assert_uint_eq(gw_cursor_span(&c, is_x), 0);  /* at the end */
    free(b);

    b = dup_bytes("xx", &n);                         /* runs to the end */
    c = gw_cursor_make(b, n);
    ck_assert_uint_eq(gw_skip_while(&c, is_x), 2);
    ck_assert_uint_eq(gw_cursor_left(&c), 0);
    ck_assert(!c.err);
    c.err = true;                                    /* a failed cursor has nothing */
    c.off = 0;
    ck_assert_uint_eq(gw_cursor_span(&c, is_x), 0);
    free(b);

    c = gw_cursor_make(NULL, 0);
    ck_assert_uint_eq(gw_skip_while(&c, is_x), 0);
}
END_TEST

START_TEST(test_trim)
{
    size_t n;
    uint8_t *b = dup_bytes("a \t v w\t ", &n);
    struct gw_cursor c = gw_cursor_make(b, n);
    gw_skip(&c, 1);
    gw_cursor_trim(&c, is_blank);
    ck_assert_uint_eq(gw_cursor_left(&c), 3);
    ck_assert_int_eq(memcmp(gw_cursor_ptr(&c), "v w", 3), 0);
    ck_assert(!c.err);
    free(b);

    b = dup_bytes(" \t ", &n);                       /* all blank: empty at the end */
    c = gw_cursor_make(b, n);
    gw_cursor_trim(&c, is_blank);
    ck_assert_uint_eq(gw_cursor_left(&c), 0);
    ck_assert_ptr_eq(gw_cursor_ptr(&c), b + n);
    free(b);

    c = gw_cursor_make(NULL, 0);
    gw_cursor_trim(&c, is_blank);
    ck_assert_uint_eq(gw_cursor_left(&c), 0);
}
END_TEST

START_TEST(test_find)
{
    size_t n;
    uint8_t *b = dup_bytes("ab:cd:", &n);
    struct gw_cursor c = gw_cursor_make(b, n);
    ck_assert_uint_eq(gw_cursor_find(&c, ':'), 2);
    gw_skip(&c, 3);
    ck_assert_uint_eq(gw_cursor_find(&c, ':'), 2);   /* from the position on */
    ck_assert_uint_eq(gw_cursor_find(&c, 'a'), 3);   /* none: what is left */
    gw_skip(&c, 3);
    ck_assert_uint_eq(gw_cursor_find(&c, ':'), 0);   /* at the end */
    ck_assert_uint_eq(c.off, 6);
    gw_get_u8(&c);
    ck_assert(c.err);
    ck_assert_uint_eq(gw_cursor_find(&c, ':'), 0);
    free(b);
    c = gw_cursor_make(NULL, 0);
    ck_assert_uint_eq(gw_cursor_find(&c, ':'), 0);
}
END_TEST

START_TEST(test_match)
{
    size_t n;
    uint8_t *b = dup_bytes("HTTP/1.1", &n);
    for (size_t len = 0; len <= n; len++) {          /* every prefix seen so far */
        struct gw_cursor c = gw_cursor_make(b, len);
        ck_assert_int_eq(gw_cursor_match(&c, "HTTP/1.", 7), len >= 7 ? GW_MATCH_FULL : GW_MATCH_PREFIX);
        ck_assert_int_eq(gw_cursor_match(&c, "HTTX", 4), len >= 4 ? GW_MATCH_NO : GW_MATCH_PREFIX);
        ck_assert_uint_eq(c.off, 0);
    }
    struct gw_cursor c = gw_cursor_make(b, n);
    ck_assert_int_eq(gw_cursor_match(&c, "", 0), GW_MATCH_FULL);
    gw_skip(&c, 5);
    ck_assert_int_eq(gw_cursor_match(&c, "1.1", 3), GW_MATCH_FULL);
    ck_assert_int_eq(gw_cursor_match(&c, "1.1 200", 7), GW_MATCH_PREFIX);
    c.err = true;                                    /* failed: nothing is there */
    ck_assert_int_eq(gw_cursor_match(&c, "1", 1), GW_MATCH_PREFIX);
    free(b);
    c = gw_cursor_make(NULL, 0);
    ck_assert_int_eq(gw_cursor_match(&c, "PRI", 3), GW_MATCH_PREFIX);
}
END_TEST

static Suite *cursor_suite(void)
{
    Suite *s = suite_create("cursor");
    TCase *tc = tcase_create("scan");
    tcase_add_test(tc, test_span_and_skip_while);
    tcase_add_test(tc, test_trim);
    tcase_add_test(tc, test_find);
    tcase_add_test(tc, test_match);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cursor_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
