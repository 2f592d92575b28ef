/*
 * test_text.c - the shared ASCII helpers (text.h): case-insensitive
 * literals, bounded and lower-cased copies at and past the array's size,
 * decimal numbers at UINT64_MAX and statuses of 1..3 digits. Inputs are
 * heap copies of exactly n bytes (AddressSanitizer flags a read past n).
 */
#include "grpcwatch/text.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *dup_bytes(const char *s, size_t *n)
{
    *n = strlen(s);
    uint8_t *p = malloc(*n ? *n : 1);
    ck_assert_ptr_nonnull(p);
    memcpy(p, s, *n);
    return p;
}

START_TEST(test_eq_and_prefix_ci)
{
    size_t n;
    uint8_t *b = dup_bytes("Content-TYPE", &n);
    ck_assert(gw_text_eq_ci(b, n, "content-type"));
    ck_assert(!gw_text_eq_ci(b, n - 1, "content-type"));
    ck_assert(!gw_text_eq_ci(b, n, "content-typf"));
    ck_assert(gw_text_prefix_ci(b, n, "content-"));
    ck_assert(gw_text_prefix_ci(b, n, "content-type"));
    ck_assert(!gw_text_prefix_ci(b, 3, "content-"));
    ck_assert(gw_text_eq_ci(NULL, 0, ""));
    ck_assert(!gw_text_eq_ci(NULL, 0, "x"));
    /* the out-of-line part: k bytes of n, never past n */
    ck_assert(gw_text_eq_ci_n(b, n, "content", 7));
    ck_assert(!gw_text_eq_ci_n(b, 6, "content", 7));
    ck_assert(!gw_text_eq_ci_n(b, n, "contenu", 7));
    ck_assert(gw_text_eq_ci_n(b, 0, "", 0));
    free(b);
    static const uint8_t high[] = { 0xc3, 'a' };     /* only A-Z fold */
    ck_assert(!gw_text_eq_ci(high, 2, "\xe3" "a"));
    ck_assert_uint_eq(gw_ascii_lower('Z'), 'z');
    ck_assert_uint_eq(gw_ascii_lower('['), '[');
    ck_assert_uint_eq(gw_ascii_lower('@'), '@');
}
END_TEST

/* The word compare agrees with the byte loop for every byte value at every
 * position of literals of each length it takes (4..16), on heap copies of
 * exactly n bytes. */
START_TEST(test_eq_ci_word_every_byte)
{
    static const char *const lits[] = { "host", ":path", "accept", ":status", "x-api-ke",
                                        "x-custom1", ":authority", "grpc-status", "content-type",
                                        "grpc-encoding", "authorization-", "accept-encoding",
                                        "grpc-accept-enc1" };
    for (size_t l = 0; l < sizeof lits / sizeof lits[0]; l++) {
        size_t n;
        uint8_t *p = dup_bytes(lits[l], &n);
        ck_assert(n >= 4 && n <= 16);
        ck_assert(gw_text_eq_ci_word(p, lits[l], n));
        for (size_t i = 0; i < n; i++) {
            uint8_t keep = p[i];
            for (unsigned b = 0; b < 256; b++) {
                p[i] = (uint8_t)b;
                ck_assert_msg(gw_text_eq_ci_word(p, lits[l], n) == gw_text_eq_ci(p, n, lits[l]),
                              "%s: byte %zu = 0x%02x", lits[l], i, b);
            }
            p[i] = keep;
        }
        free(p);
    }
    /* lowering, lane by lane: only 'A'..'Z' change */
    for (unsigned b = 0; b < 256; b++) {
        uint64_t x = (uint64_t)b * UINT64_C(0x0101010101010101);
        uint8_t want = gw_ascii_lower((uint8_t)b);
        ck_assert_uint_eq(gw_ascii_lower8(x), (uint64_t)want * UINT64_C(0x0101010101010101));
        uint64_t mixed = x ^ (UINT64_C(0xff) << 24); /* a neighbour of another value */
        ck_assert_uint_eq((gw_ascii_lower8(mixed) >> 16) & 0xff, want);
    }
}
END_TEST

START_TEST(test_copies)
{
    size_t n;
    uint8_t *b = dup_bytes("AbCdE", &n);
    char dst[4];
    ck_assert(gw_text_copy(dst, sizeof dst, b, n));  /* cut to cap - 1 */
    ck_assert_str_eq(dst, "AbC");
    ck_assert(!gw_text_copy(dst, sizeof dst, b, 3)); /* fits exactly */
    ck_assert_str_eq(dst, "AbC");
    ck_assert(!gw_text_copy(dst, sizeof dst, NULL, 0));
    ck_assert_str_eq(dst, "");
    ck_assert_uint_eq(gw_text_copy_lower(dst, sizeof dst, b, n), 3);
    ck_assert_str_eq(dst, "abc");
    ck_assert_uint_eq(gw_text_copy_lower(dst, sizeof dst, b, 2), 2);
    ck_assert_str_eq(dst, "ab");
    ck_assert_uint_eq(gw_text_copy_lower(dst, 1, b, n), 0);
    ck_assert_str_eq(dst, "");
    free(b);
}
END_TEST

static bool u64(const char *s, uint64_t *v)
{
    size_t n;
    uint8_t *b = dup_bytes(s, &n);
    bool ok = gw_text_parse_u64(b, n, v);
    free(b);
    return ok;
}

static int32_t status(const char *s)
{
    size_t n;
    uint8_t *b = dup_bytes(s, &n);
    int32_t v = gw_text_parse_status(b, n);
    free(b);
    return v;
}

START_TEST(test_numbers)
{
    uint64_t v = 7;
    ck_assert(u64("0", &v) && v == 0);
    ck_assert(u64("18446744073709551615", &v) && v == UINT64_MAX);
    v = 7;
    ck_assert(!u64("18446744073709551616", &v));     /* one past */
    ck_assert(!u64("", &v));
    ck_assert(!u64("12a", &v));
    ck_assert(!u64(" 1", &v));
    ck_assert(!u64("-1", &v));
    ck_assert_uint_eq(v, 7);                         /* untouched on failure */

    ck_assert_int_eq(status("0"), 0);
    ck_assert_int_eq(status("14"), 14);
    ck_assert_int_eq(status("999"), 999);
    ck_assert_int_eq(status("007"), 7);
    ck_assert_int_eq(status("1000"), -1);            /* four digits */
    ck_assert_int_eq(status(""), -1);
    ck_assert_int_eq(status("1 "), -1);
    ck_assert_int_eq(status("+1"), -1);
    ck_assert_int_eq(gw_text_parse_status(NULL, 0), -1);
    ck_assert_int_eq(gw_text_parse_status(NULL, 2), -1);
}
END_TEST

static Suite *text_suite(void)
{
    Suite *s = suite_create("text");
    TCase *tc = tcase_create("ascii");
    tcase_add_test(tc, test_eq_and_prefix_ci);
    tcase_add_test(tc, test_eq_ci_word_every_byte);
    tcase_add_test(tc, test_copies);
    tcase_add_test(tc, test_numbers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(text_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
