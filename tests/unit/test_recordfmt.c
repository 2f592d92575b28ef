/*
 * test_recordfmt.c - the record writer's own formatters against the libc
 * routines they replace (snprintf, gmtime_r, inet_ntop) and its escaper
 * against a reference escaper, on exhaustive small inputs and many random
 * ones. test_record.c holds the format tests; this file holds the
 * equivalence tests that guard the fast paths (SWAR runs, cached seconds,
 * plain keys, copied members).
 */
#include "grpcwatch/record.h"

#include <arpa/inet.h>
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "json_ref.h"

/* ---- escaping ------------------------------------------------------------ */

/* gw_json_string of p[0..n) as the only element of an array, compared
 * with the reference; the array brackets are stripped. */
static void check_escape(const uint8_t *p, size_t n)
{
    static char buf[8192], want[8192];
    struct gw_json j;
    gw_json_init(&j, buf, sizeof buf);
    gw_json_array_begin(&j);
    gw_json_string(&j, (const char *)p, n);
    gw_json_array_end(&j);
    ck_assert(!j.overflow);
    size_t wlen = ref_escape(p, n, want);
    ck_assert_uint_eq(j.len, wlen + 2);
    ck_assert_msg(memcmp(buf + 1, want, wlen) == 0, "n %zu: got %s want %s", n, buf, want);
}

/* Every byte value at every offset of a plain string up to 24 bytes long:
 * the 8-byte SWAR test must see it in every lane and in the tail. */
START_TEST(escape_each_byte_each_lane)
{
    uint8_t s[24];
    for (size_t len = 1; len <= sizeof s; len++)
        for (size_t at = 0; at < len; at++)
            for (int b = 0; b < 256; b++) {
                memset(s, 'a' + (int)(len % 26), len);
                s[at] = (uint8_t)b;
                check_escape(s, len);
            }
}
END_TEST

/* Every pair of bytes in 0x7f..0xff, alone and after 7 plain bytes (so the
 * pair straddles a SWAR word), and with a continuation byte after it. */
START_TEST(escape_high_pairs)
{
    uint8_t s[12];
    for (int a = 0x7f; a <= 0xff; a++)
        for (int b = 0x7f; b <= 0xff; b++) {
            s[0] = (uint8_t)a;
            s[1] = (uint8_t)b;
            check_escape(s, 2);
            s[2] = 0x80;
            s[3] = 0xbf;
            check_escape(s, 4);
            memcpy(s, "abcdefg", 7);
            s[7] = (uint8_t)a;
            s[8] = (uint8_t)b;
            s[9] = 0x9f;
            check_escape(s, 10);
        }
}
END_TEST

/* Random strings up to 700 bytes: mostly plain (long SWAR runs) with rare
 * specials, or dense with UTF-8 lead/continuation bytes. */
START_TEST(escape_random)
{
    static const uint8_t hot[] = { 0x00, 0x1f, '"', '\\', 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xdf,
                                   0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0x9f, 0xa0, 0x8f,
                                   0x90, '\n', 'a', 0x20, 0x7e };
    uint8_t s[700];
    uint64_t seed = UINT64_C(0x243f6a8885a308d3);
    for (int iter = 0; iter < 6000; iter++) {
        size_t n = (size_t)(rng_next(&seed) % sizeof s);
        unsigned density = (unsigned)(rng_next(&seed) % 4); /* 0: 1 in 64 hot ... 3: all */
        for (size_t i = 0; i < n; i++) {
            uint64_t r = rng_next(&seed);
            bool use_hot = density == 3 || (r & ((UINT64_C(1) << (6 - 2 * density)) - 1)) == 0;
            if (use_hot) s[i] = (r >> 16) & 1 ? hot[(r >> 20) % sizeof hot] : (uint8_t)(r >> 32);
            else s[i] = (uint8_t)(0x20 + (r >> 24) % 0x5f); /* printable, may be '"' or '\\' */
        }
        check_escape(s, n);
    }
}
END_TEST

/* ---- plain keys and copied members ---------------------------------------- */

START_TEST(plain_keys_and_members)
{
    char buf[256], other[256];
    struct gw_json j, k;

    gw_json_init(&j, buf, sizeof buf);
    gw_json_object_begin(&j);
    GW_JSON_KEY(&j, "a");
    gw_json_uint(&j, 1);
    GW_JSON_KV_STR(&j, "b", "x\"y");
    GW_JSON_KV_UINT(&j, "c", 0);
    GW_JSON_KEY(&j, "d");
    gw_json_object_begin(&j);
    GW_JSON_KV_STR(&j, "e", NULL);
    gw_json_object_end(&j);
    size_t from = strlen("{\"a\":1");
    size_t to = j.len;
    gw_json_object_end(&j);
    ck_assert(gw_json_finish(&j));
    ck_assert_str_eq(buf, "{\"a\":1,\"b\":\"x\\\"y\",\"c\":0,\"d\":{\"e\":null}}\n");

    /* members from ',' to a member's end, appended after a first member */
    gw_json_init(&k, other, sizeof other);
    gw_json_object_begin(&k);
    GW_JSON_KV_UINT(&k, "z", 9);
    gw_json_members(&k, buf + from, to - from);
    GW_JSON_KV_UINT(&k, "y", 8);
    gw_json_object_end(&k);
    ck_assert(gw_json_finish(&k));
    ck_assert_str_eq(other, "{\"z\":9,\"b\":\"x\\\"y\",\"c\":0,\"d\":{\"e\":null},\"y\":8}\n");

    /* an empty copy is nothing */
    gw_json_reset(&k);
    gw_json_object_begin(&k);
    gw_json_members(&k, "", 0);
    gw_json_object_end(&k);
    ck_assert(gw_json_finish(&k));
    ck_assert_str_eq(other, "{}\n");
}
END_TEST

START_TEST(plain_keys_and_members_misuse)
{
    char buf[64];
    struct gw_json j;

    gw_json_init(&j, buf, sizeof buf); /* a key at the top level */
    GW_JSON_KEY(&j, "k");
    ck_assert(j.overflow);

    gw_json_init(&j, buf, sizeof buf); /* a key in an array */
    gw_json_array_begin(&j);
    GW_JSON_KEY(&j, "k");
    ck_assert(j.overflow);

    gw_json_init(&j, buf, sizeof buf); /* two keys in a row */
    gw_json_object_begin(&j);
    GW_JSON_KEY(&j, "k");
    GW_JSON_KEY(&j, "l");
    ck_assert(j.overflow);

    gw_json_init(&j, buf, sizeof buf); /* members into an empty object */
    gw_json_object_begin(&j);
    gw_json_members(&j, ",\"a\":1", 6);
    ck_assert(j.overflow);

    gw_json_init(&j, buf, sizeof buf); /* members without their ',' */
    gw_json_object_begin(&j);
    GW_JSON_KV_UINT(&j, "a", 1);
    gw_json_members(&j, "\"b\":2", 5);
    ck_assert(j.overflow);

    gw_json_init(&j, buf, sizeof buf); /* members where a value is due */
    gw_json_object_begin(&j);
    GW_JSON_KV_UINT(&j, "a", 1);
    GW_JSON_KEY(&j, "b");
    gw_json_members(&j, ",\"c\":2", 6);
    ck_assert(j.overflow);

    gw_json_init(&j, buf, sizeof buf); /* members into an array */
    gw_json_array_begin(&j);
    gw_json_uint(&j, 1);
    gw_json_members(&j, ",2", 2);
    ck_assert(j.overflow);

    /* a key that does not fit: nothing of it is written */
    for (size_t cap = 1; cap <= 9; cap++) {
        gw_json_init(&j, buf, cap + 1);
        gw_json_object_begin(&j);
        GW_JSON_KEY(&j, "abcd"); /* {"abcd": is 8 bytes */
        ck_assert_int_eq(j.overflow, cap < 8);
        ck_assert_uint_le(j.len, cap);
        ck_assert_uint_eq(strlen(buf), j.len);
    }
}
END_TEST

/* ---- integers ------------------------------------------------------------ */

static void check_u64(uint64_t v)
{
    char got[GW_FMT_U64_MAX + 1], want[32];
    size_t n = gw_fmt_u64(got, v);
    int w = snprintf(want, sizeof want, "%" PRIu64, v);
    ck_assert_uint_eq(n, (size_t)w);
    ck_assert_msg(memcmp(got, want, n) == 0, "%s", want);
}

static void check_i64(int64_t v)
{
    char got[GW_FMT_U64_MAX + 1], want[32];
    size_t n = gw_fmt_i64(got, v);
    int w = snprintf(want, sizeof want, "%" PRId64, v);
    ck_assert_uint_eq(n, (size_t)w);
    ck_assert_msg(memcmp(got, want, n) == 0, "%s", want);
}

START_TEST(integers_against_snprintf)
{
    static const uint64_t u[] = { 0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 65535, 4294967295u,
                                  4294967296u, UINT64_C(9999999999999999999),
                                  UINT64_C(10000000000000000000), UINT64_MAX - 1, UINT64_MAX };
    static const int64_t s[] = { 0, -1, 1, 9, -9, 10, -10, 99, -99, 100, -100, INT64_MAX,
                                 INT64_MIN, INT64_MIN + 1, INT64_MAX - 1 };
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) check_u64(u[i]);
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) check_i64(s[i]);
    /* every power of ten and its neighbours */
    for (uint64_t p = 1; p <= UINT64_C(1000000000000000000); p *= 10) {
        check_u64(p - 1);
        check_u64(p);
        check_u64(p + 1);
        check_i64(-(int64_t)p);
    }
    uint64_t seed = 42;
    for (int i = 0; i < 200000; i++) {
        uint64_t r = rng_next(&seed);
        uint64_t v = r >> (rng_next(&seed) % 64); /* every magnitude */
        check_u64(v);
        check_i64((int64_t)v);
        check_i64(-(int64_t)(v >> 1));
    }

    /* and through the writer */
    char buf[64];
    struct gw_json j;
    gw_json_init(&j, buf, sizeof buf);
    gw_json_array_begin(&j);
    gw_json_int(&j, INT64_MIN);
    gw_json_uint(&j, UINT64_MAX);
    gw_json_int(&j, 0);
    gw_json_array_end(&j);
    ck_assert(gw_json_finish(&j));
    ck_assert_str_eq(buf, "[-9223372036854775808,18446744073709551615,0]\n");
}
END_TEST

/* ---- timestamps ---------------------------------------------------------- */

#define TS_MAX INT64_C(253402300799999999) /* 9999-12-31T23:59:59.999999 */

/* The formatter the writer had: gmtime_r + snprintf, same clamps. */
static void ref_timestamp(int64_t ts, char *out, size_t len)
{
    struct tm tm;
    int y, mo, d, h, mi, sec; /* int, not tm's: the compiler can not bound them */
    if (ts < 0) ts = 0;
    if (ts > TS_MAX) ts = TS_MAX;
    time_t secs = (time_t)(ts / 1000000);
    ck_assert_ptr_nonnull(gmtime_r(&secs, &tm));
    y = tm.tm_year + 1900, mo = tm.tm_mon + 1, d = tm.tm_mday;
    h = tm.tm_hour, mi = tm.tm_min, sec = tm.tm_sec;
    ck_assert(y >= 1970 && y <= 9999);
    ck_assert(len >= 64);
    snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", y, mo, d, h, mi, sec,
             (long)(ts % 1000000));
}

static void check_ts(int64_t ts)
{
    char got[32], want[96];
    ref_timestamp(ts, want, sizeof want);
    ck_assert_msg(strcmp(gw_format_timestamp(ts, got, sizeof got), want) == 0,
                  "ts %" PRId64 ": got %s want %s", ts, got, want);
}

/* Microseconds of a UTC date and time (timegm's arithmetic, by hand). */
static int64_t at(int y, int mo, int d, int h, int mi, int s, int us)
{
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                     .tm_hour = h, .tm_min = mi, .tm_sec = s };
    time_t t = timegm(&tm);
    return (int64_t)t * 1000000 + us;
}

START_TEST(timestamps_against_gmtime)
{
    static const int years[] = { 1970, 1971, 1972, 1999, 2000, 2001, 2004, 2023, 2024, 2038,
                                 2100, 2104, 2399, 2400, 2401, 9996, 9999 };
    for (size_t i = 0; i < sizeof years / sizeof years[0]; i++) {
        int y = years[i];
        check_ts(at(y, 1, 1, 0, 0, 0, 0));
        check_ts(at(y, 2, 28, 23, 59, 59, 999999));
        check_ts(at(y, 3, 1, 0, 0, 0, 1)); /* the day after Feb 28 or 29 */
        check_ts(at(y, 12, 31, 23, 59, 59, 999999));
    }
    char buf[32];
    ck_assert_str_eq(gw_format_timestamp(at(2000, 2, 29, 12, 0, 0, 5), buf, sizeof buf),
                     "2000-02-29T12:00:00.000005Z");
    ck_assert_str_eq(gw_format_timestamp(at(2100, 2, 28, 23, 59, 59, 0) + 1000000, buf, sizeof buf),
                     "2100-03-01T00:00:00.000000Z"); /* 2100 is not a leap year */
    ck_assert_str_eq(gw_format_timestamp(TS_MAX, buf, sizeof buf), "9999-12-31T23:59:59.999999Z");
    check_ts(TS_MAX + 1); /* clamps */
    check_ts(INT64_MAX);
    check_ts(-1);
    check_ts(INT64_MIN);

    /* random instants over the whole range, and runs within one second in
     * both directions (the cached second must follow) */
    uint64_t seed = 7;
    for (int i = 0; i < 100000; i++) {
        int64_t ts = (int64_t)(rng_next(&seed) % (uint64_t)(TS_MAX + 1));
        check_ts(ts);
        check_ts(ts - ts % 1000000 + (int64_t)(rng_next(&seed) % 1000000));
        check_ts(ts - 1000000);
        check_ts(ts + 1);
    }
    for (int64_t ts = at(2026, 11, 23, 10, 50, 20, 0); ts < at(2026, 11, 23, 10, 50, 23, 0);
         ts += 997)
        check_ts(ts);
}
END_TEST

/* ---- addresses ----------------------------------------------------------- */

static void check_v4(const uint8_t b[4])
{
    char got[16], want[INET_ADDRSTRLEN];
    struct gw_addr a = { .family = 4 };
    ck_assert_ptr_nonnull(inet_ntop(AF_INET, b, want, sizeof want));
    size_t n = gw_fmt_ipv4(got, b);
    ck_assert_str_eq(got, want);
    ck_assert_uint_eq(n, strlen(want));
    memcpy(a.bytes, b, 4);
    char via[GW_ADDR_STR_MAX];
    ck_assert_uint_eq(gw_addr_fmt(&a, via), n);
    ck_assert_str_eq(via, want);
    ck_assert_str_eq(gw_addr_str(&a, via, sizeof via), want);
}

START_TEST(ipv4_against_inet_ntop)
{
    uint8_t b[4];
    for (int pos = 0; pos < 4; pos++)
        for (int v = 0; v < 256; v++) {
            memcpy(b, "\x0a\x64\x00\xff", 4);
            b[pos] = (uint8_t)v;
            check_v4(b);
        }
    uint64_t seed = 99;
    for (int i = 0; i < 100000; i++) {
        uint64_t r = rng_next(&seed);
        memcpy(b, &r, 4);
        check_v4(b);
    }
    /* a buffer too small for the text: gw_addr_str leaves "" as inet_ntop did */
    struct gw_addr a = { .family = 4, .bytes = { 255, 255, 255, 255 } };
    char small[16];
    memset(small, 'x', sizeof small);
    ck_assert_str_eq(gw_addr_str(&a, small, 15), "");
    ck_assert_str_eq(gw_addr_str(&a, small, 16), "255.255.255.255");
}
END_TEST

START_TEST(ipv6_and_other_families)
{
    char got[GW_ADDR_STR_MAX], want[INET6_ADDRSTRLEN];
    struct gw_addr a = { .family = 6 };
    uint64_t seed = 5;
    for (int i = 0; i < 20000; i++) {
        for (int k = 0; k < 16; k += 2) { /* runs of zero groups are common */
            uint64_t r = rng_next(&seed);
            a.bytes[k] = (r & 3) ? 0 : (uint8_t)(r >> 8);
            a.bytes[k + 1] = (r & 3) ? 0 : (uint8_t)(r >> 16);
        }
        ck_assert_ptr_nonnull(inet_ntop(AF_INET6, a.bytes, want, sizeof want));
        ck_assert_uint_eq(gw_addr_fmt(&a, got), strlen(want));
        ck_assert_str_eq(got, want);
    }
    a.family = 0;
    ck_assert_uint_eq(gw_addr_fmt(&a, got), 0);
    ck_assert_str_eq(got, "");
}
END_TEST

static Suite *recordfmt_suite(void)
{
    Suite *s = suite_create("recordfmt");
    TCase *tc = tcase_create("escape");
    tcase_add_test(tc, escape_each_byte_each_lane);
    tcase_add_test(tc, escape_high_pairs);
    tcase_add_test(tc, escape_random);
    tcase_add_test(tc, plain_keys_and_members);
    tcase_add_test(tc, plain_keys_and_members_misuse);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("numbers");
    tcase_add_test(tc, integers_against_snprintf);
    tcase_add_test(tc, timestamps_against_gmtime);
    tcase_add_test(tc, ipv4_against_inet_ntop);
    tcase_add_test(tc, ipv6_and_other_families);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(recordfmt_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
