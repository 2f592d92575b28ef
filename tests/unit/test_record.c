/*
 * test_record.c - the JSON writer, timestamps, Community ID and records.
 *
 * Expectations come from the specs, not from the code under test: JSON
 * syntax is checked by Python's json module, the escaping by an
 * independent reference escaper written here (it decodes code points
 * arithmetically instead of using RFC 3629's byte table), timestamps by a
 * days-from-civil computation, Community IDs by the spec's baseline files
 * (corelight/community-id-spec baseline/baseline_deflt.json and
 * baseline_seed1.json).
 */
#include "grpcwatch/grpc.h"
#include "grpcwatch/policy.h"
#include "grpcwatch/record.h"
#include "grpcwatch/tls.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json_ref.h"

/* ---- helpers ----------------------------------------------------------- */

/* Runs Python's strict JSON parser over every line of the file. */
static int python_json_check(const char *path)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import json,sys\n"
             "for l in open(sys.argv[1], encoding=\"utf-8\", errors=\"strict\"):\n"
             "    json.loads(l)' %s",
             path);
    return system(cmd);
}

static FILE *temp_file(char *path, size_t len)
{
    snprintf(path, len, "/tmp/gw_test_record_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    return f;
}


/* Writes {"s":<string>} and returns the text without the newline. */
static const char *json_one_string(char *buf, size_t cap, const void *s, size_t n)
{
    struct gw_json j;
    gw_json_init(&j, buf, cap);
    gw_json_object_begin(&j);
    gw_json_key(&j, "s");
    gw_json_string(&j, s, n);
    gw_json_object_end(&j);
    ck_assert(gw_json_finish(&j));
    ck_assert_uint_eq(strlen(buf), j.len);
    return buf;
}

/* ---- JSON writer ------------------------------------------------------- */

START_TEST(json_structure_and_commas)
{
    char buf[256];
    struct gw_json j;
    gw_json_init(&j, buf, sizeof buf);
    gw_json_object_begin(&j);
    gw_json_key(&j, "a");
    gw_json_int(&j, -5);
    gw_json_key(&j, "b");
    gw_json_array_begin(&j);
    gw_json_bool(&j, true);
    gw_json_null(&j);
    gw_json_cstring(&j, "x");
    gw_json_cstring(&j, NULL);
    gw_json_uint(&j, UINT64_MAX);
    gw_json_int(&j, INT64_MIN);
    gw_json_array_end(&j);
    gw_json_key(&j, "c");
    gw_json_object_begin(&j);
    gw_json_object_end(&j);
    gw_json_key(&j, "d");
    gw_json_array_begin(&j);
    gw_json_array_end(&j);
    gw_json_key(&j, "e");
    gw_json_bool(&j, false);
    gw_json_object_end(&j);
    ck_assert(gw_json_finish(&j));
    ck_assert_str_eq(buf, "{\"a\":-5,\"b\":[true,null,\"x\",null,18446744073709551615,"
                          "-9223372036854775808],\"c\":{},\"d\":[],\"e\":false}\n");
    ck_assert_uint_eq(j.len, strlen(buf));

    /* reset starts a new line from scratch */
    gw_json_reset(&j);
    gw_json_array_begin(&j);
    gw_json_array_end(&j);
    ck_assert(gw_json_finish(&j));
    ck_assert_str_eq(buf, "[]\n");
}
END_TEST

START_TEST(json_depth_limit)
{
    char buf[256];
    struct gw_json j;
    gw_json_init(&j, buf, sizeof buf);
    for (int i = 0; i < 16; i++) gw_json_array_begin(&j);
    ck_assert(!j.overflow);
    for (int i = 0; i < 16; i++) gw_json_array_end(&j);
    ck_assert(gw_json_finish(&j));
    ck_assert_str_eq(buf, "[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]\n");

    gw_json_reset(&j);
    for (int i = 0; i < 17; i++) gw_json_array_begin(&j);
    ck_assert(j.overflow);
    ck_assert(!gw_json_finish(&j));
}
END_TEST

START_TEST(json_misuse_is_overflow)
{
    char buf[128];
    struct gw_json j;

    /* a value in an object without a key */
    gw_json_init(&j, buf, sizeof buf);
    gw_json_object_begin(&j);
    gw_json_int(&j, 1);
    ck_assert(j.overflow);

    /* a key in an array */
    gw_json_init(&j, buf, sizeof buf);
    gw_json_array_begin(&j);
    gw_json_key(&j, "k");
    ck_assert(j.overflow);

    /* mismatched end */
    gw_json_init(&j, buf, sizeof buf);
    gw_json_object_begin(&j);
    gw_json_array_end(&j);
    ck_assert(j.overflow);

    /* a key without its value */
    gw_json_init(&j, buf, sizeof buf);
    gw_json_object_begin(&j);
    gw_json_key(&j, "k");
    gw_json_object_end(&j);
    ck_assert(j.overflow);

    /* unbalanced at finish */
    gw_json_init(&j, buf, sizeof buf);
    gw_json_object_begin(&j);
    ck_assert(!gw_json_finish(&j));

    /* two top-level values on one line */
    gw_json_init(&j, buf, sizeof buf);
    gw_json_int(&j, 1);
    gw_json_int(&j, 2);
    ck_assert(j.overflow);

    /* nothing written */
    gw_json_init(&j, buf, sizeof buf);
    ck_assert(!gw_json_finish(&j));

    /* zero capacity */
    gw_json_init(&j, buf, 0);
    gw_json_null(&j);
    ck_assert(!gw_json_finish(&j));
    ck_assert_uint_eq(j.len, 0);
}
END_TEST

/* Every byte value alone: exact expected escape (built by hand from RFC
 * 8259 section 7) and accepted by Python's json parser. */
START_TEST(json_escape_every_byte)
{
    char path[64], buf[64], expect[32];
    FILE *f = temp_file(path, sizeof path);

    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        json_one_string(buf, sizeof buf, &c, 1);
        if (b == '"') strcpy(expect, "\\\"");
        else if (b == '\\') strcpy(expect, "\\\\");
        else if (b == '\n') strcpy(expect, "\\n");
        else if (b == '\r') strcpy(expect, "\\r");
        else if (b == '\t') strcpy(expect, "\\t");
        else if (b == '\b') strcpy(expect, "\\b");
        else if (b == '\f') strcpy(expect, "\\f");
        else if (b < 0x20 || b == 0x7f) snprintf(expect, sizeof expect, "\\u00%02x", b);
        else if (b < 0x80) snprintf(expect, sizeof expect, "%c", b);
        else strcpy(expect, "\\ufffd"); /* a lone byte >= 0x80 is never valid UTF-8 */
        char whole[64];
        snprintf(whole, sizeof whole, "{\"s\":\"%s\"}\n", expect);
        ck_assert_msg(strcmp(buf, whole) == 0, "byte 0x%02x: got %s want %s", b, buf, whole);
        fputs(buf, f);
    }
    fclose(f);
    ck_assert_int_eq(python_json_check(path), 0);
    unlink(path);
}
END_TEST

START_TEST(json_utf8_valid_passes)
{
    static const char *const valid[] = {
        "\xc3\xa9",                 /* U+00E9 */
        "\xc2\x80",                 /* U+0080, smallest 2-byte */
        "\xdf\xbf",                 /* U+07FF */
        "\xe0\xa0\x80",             /* U+0800, smallest 3-byte */
        "\xe2\x82\xac",             /* U+20AC */
        "\xed\x9f\xbf",             /* U+D7FF, just below the surrogates */
        "\xee\x80\x80",             /* U+E000, just above */
        "\xef\xbf\xbf",             /* U+FFFF */
        "\xf0\x90\x80\x80",         /* U+10000 */
        "\xf0\x9f\x98\x80",         /* U+1F600 */
        "\xf4\x8f\xbf\xbf",         /* U+10FFFF */
        "a\xc3\xa9z\xe2\x82\xac!",  /* mixed */
    };
    char buf[128], want[128];
    for (size_t i = 0; i < GW_ARRAY_LEN(valid); i++) {
        json_one_string(buf, sizeof buf, valid[i], strlen(valid[i]));
        snprintf(want, sizeof want, "{\"s\":\"%s\"}\n", valid[i]);
        ck_assert_str_eq(buf, want);
    }
}
END_TEST

START_TEST(json_utf8_invalid_replaced)
{
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        { "\x80", "\\ufffd" },                                   /* lone continuation */
        { "\xc0\x80", "\\ufffd\\ufffd" },                         /* overlong NUL */
        { "\xc1\xbf", "\\ufffd\\ufffd" },                         /* overlong */
        { "\xe0\x80\x80", "\\ufffd\\ufffd\\ufffd" },               /* overlong 3-byte */
        { "\xe0\x9f\xbf", "\\ufffd\\ufffd\\ufffd" },               /* overlong U+07FF */
        { "\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd" },               /* U+D800 */
        { "\xed\xbf\xbf", "\\ufffd\\ufffd\\ufffd" },               /* U+DFFF */
        { "\xf0\x80\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd" },     /* overlong 4-byte */
        { "\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd" },     /* U+110000 */
        { "\xf5\x80\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd" },
        { "\xff", "\\ufffd" },
        { "\xe2\x82", "\\ufffd\\ufffd" },                         /* truncated at end */
        { "\xe2\x82" "A", "\\ufffd\\ufffdA" },                    /* truncated mid-string */
        { "\xf0\x9f\x98", "\\ufffd\\ufffd\\ufffd" },
        { "a\xc3" "\xc3\xa9", "a\\ufffd\xc3\xa9" },               /* bad lead, then valid */
    };
    char buf[128], want[128];
    for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
        json_one_string(buf, sizeof buf, cases[i].in, strlen(cases[i].in));
        snprintf(want, sizeof want, "{\"s\":\"%s\"}\n", cases[i].out);
        ck_assert_msg(strcmp(buf, want) == 0, "case %zu: got %s want %s", i, buf, want);
    }
    /* embedded NUL is data, not a terminator */
    json_one_string(buf, sizeof buf, "a\0b", 3);
    ck_assert_str_eq(buf, "{\"s\":\"a\\u0000b\"}\n");
}
END_TEST

/* Thousands of random byte strings, biased toward UTF-8 lead and
 * continuation bytes: exact match with the reference escaper, and the
 * whole file parses as JSON lines. */
START_TEST(json_random_strings)
{
    static const uint8_t interesting[] = { 0x00, 0x1f, '"', '\\', 0x7f, 0x80, 0xbf, 0xc0, 0xc2,
                                           0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff,
                                           0x9f, 0xa0, 0x8f, 0x90, 'a' };
    char path[64];
    char buf[1024], want[1024];
    uint8_t in[96];
    uint64_t seed = UINT64_C(0x9e3779b97f4a7c15);
    FILE *f = temp_file(path, sizeof path);

    for (int iter = 0; iter < 5000; iter++) {
        size_t n = (size_t)(rng_next(&seed) % sizeof in);
        for (size_t i = 0; i < n; i++) {
            uint64_t r = rng_next(&seed);
            in[i] = (r & 1) ? interesting[(r >> 8) % sizeof interesting] : (uint8_t)(r >> 16);
        }
        json_one_string(buf, sizeof buf, in, n);
        char *body = buf + strlen("{\"s\":");
        size_t blen = strlen(body) - 2; /* minus "}\n" */
        size_t wlen = ref_escape(in, n, want);
        ck_assert_uint_eq(blen, wlen);
        ck_assert(memcmp(body, want, wlen) == 0);
        fputs(buf, f);
    }
    fclose(f);
    ck_assert_int_eq(python_json_check(path), 0);
    unlink(path);
}
END_TEST

/* ---- timestamps -------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

START_TEST(timestamp_format)
{
    char buf[32];
    ck_assert_str_eq(gw_format_timestamp(0, buf, sizeof buf), "1970-01-01T00:00:00.000000Z");
    ck_assert_str_eq(gw_format_timestamp(1500000, buf, sizeof buf), "1970-01-01T00:00:01.500000Z");
    ck_assert_str_eq(gw_format_timestamp(7, buf, sizeof buf), "1970-01-01T00:00:00.000007Z");
    ck_assert_str_eq(gw_format_timestamp(999999, buf, sizeof buf), "1970-01-01T00:00:00.999999Z");

    int64_t secs = days_from_civil(2026, 11, 22) * 86400 + 10 * 3600 + 5 * 60 + 9;
    ck_assert_str_eq(gw_format_timestamp(secs * 1000000 + 123456, buf, sizeof buf),
                     "2026-11-22T10:05:09.123456Z");
    /* 2024-02-29 exists (leap year) */
    secs = days_from_civil(2024, 2, 29) * 86400 + 23 * 3600 + 59 * 60 + 59;
    ck_assert_str_eq(gw_format_timestamp(secs * 1000000 + 40, buf, sizeof buf),
                     "2024-02-29T23:59:59.000040Z");
    ck_assert_uint_eq(strlen(buf), 27);
}
END_TEST

START_TEST(timestamp_clamp_and_small_buffer)
{
    char buf[32];
    ck_assert_str_eq(gw_format_timestamp(-1, buf, sizeof buf), "1970-01-01T00:00:00.000000Z");
    ck_assert_str_eq(gw_format_timestamp(INT64_MIN, buf, sizeof buf), "1970-01-01T00:00:00.000000Z");
    ck_assert_str_eq(gw_format_timestamp(INT64_MAX, buf, sizeof buf), "9999-12-31T23:59:59.999999Z");

    char small[28 + 4];
    memset(small, 'x', sizeof small);
    gw_format_timestamp(0, small, 27);
    ck_assert_str_eq(small, "");
    ck_assert_int_eq(small[1], 'x'); /* nothing written beyond the terminator */
    gw_format_timestamp(0, small, 28);
    ck_assert_str_eq(small, "1970-01-01T00:00:00.000000Z");
    ck_assert_int_eq(small[28], 'x');
}
END_TEST

/* ---- Community ID ------------------------------------------------------ */

static struct gw_addr addr(const char *text)
{
    struct gw_addr a;
    memset(&a, 0, sizeof a);
    if (strchr(text, ':')) {
        a.family = 6;
        ck_assert_int_eq(inet_pton(AF_INET6, text, a.bytes), 1);
    } else {
        a.family = 4;
        ck_assert_int_eq(inet_pton(AF_INET, text, a.bytes), 1);
    }
    return a;
}

/* From corelight/community-id-spec baseline/baseline_deflt.json (seed 0)
 * and baseline_seed1.json (seed 1). ICMP entries carry the ports the spec
 * maps type/code to. */
static const struct {
    uint8_t proto;
    const char *saddr, *daddr;
    uint16_t sport, dport;
    const char *id_seed0, *id_seed1;
} cid_vectors[] = {
    { 6, "128.232.110.120", "66.35.250.204", 34855, 80,
      "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc=" },
    { 6, "66.35.250.204", "128.232.110.120", 80, 34855,
      "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc=" },
    { 6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25,
      "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw=" },
    { 6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943,
      "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw=" },
    { 17, "192.168.1.52", "8.8.8.8", 54585, 53,
      "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI=" },
    { 17, "8.8.8.8", "192.168.1.52", 53, 54585,
      "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI=" },
    { 132, "192.168.170.8", "192.168.170.56", 7, 7,
      "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg=" },
    { 132, "192.168.170.56", "192.168.170.8", 7, 7,
      "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg=" },
    { 1, "192.168.0.89", "192.168.0.1", 8, 0,
      "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA=" },
    { 1, "192.168.0.1", "192.168.0.89", 0, 8,
      "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA=" },
    { 58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 136,
      "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=", "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY=" },
    { 58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 135,
      "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=", "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY=" },
    { 58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 128, 129,
      "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=", "1:GfZxjAkDk2MkegpBYHV6tadtFXQ=" },
    { 58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 134,
      "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0=", "1:L7Ka0ZMYu+J3bL4ulW2PrqyXNo8=" },
};

START_TEST(community_id_vectors)
{
    char out[32];
    for (size_t i = 0; i < GW_ARRAY_LEN(cid_vectors); i++) {
        struct gw_addr s = addr(cid_vectors[i].saddr), d = addr(cid_vectors[i].daddr);
        gw_community_id(0, &s, cid_vectors[i].sport, &d, cid_vectors[i].dport,
                        cid_vectors[i].proto, out, sizeof out);
        ck_assert_msg(strcmp(out, cid_vectors[i].id_seed0) == 0, "vector %zu seed 0: %s", i, out);
        gw_community_id(1, &s, cid_vectors[i].sport, &d, cid_vectors[i].dport,
                        cid_vectors[i].proto, out, sizeof out);
        ck_assert_msg(strcmp(out, cid_vectors[i].id_seed1) == 0, "vector %zu seed 1: %s", i, out);
        ck_assert_uint_eq(strlen(out), 30);
    }
}
END_TEST

/* The ID does not depend on direction, also when only the ports differ
 * (the spec: "If the IP addresses are equal, the ports decide"). */
START_TEST(community_id_symmetric)
{
    char ab[32], ba[32], other[32];
    struct gw_addr lo = addr("127.0.0.1"), lo6 = addr("::1");

    gw_community_id(0, &lo, 1234, &lo, 80, 6, ab, sizeof ab);
    gw_community_id(0, &lo, 80, &lo, 1234, 6, ba, sizeof ba);
    ck_assert_str_eq(ab, ba);
    gw_community_id(0, &lo6, 50051, &lo6, 40000, 6, ab, sizeof ab);
    gw_community_id(0, &lo6, 40000, &lo6, 50051, 6, ba, sizeof ba);
    ck_assert_str_eq(ab, ba);
    gw_community_id(0, &lo6, 40000, &lo6, 50052, 6, other, sizeof other);
    ck_assert_str_ne(ab, other);

    uint64_t seed = 12345;
    for (int i = 0; i < 200; i++) {
        struct gw_addr s, d;
        memset(&s, 0, sizeof s);
        memset(&d, 0, sizeof d);
        s.family = d.family = (i & 1) ? 6 : 4;
        for (size_t k = 0; k < (s.family == 4 ? 4u : 16u); k++) {
            s.bytes[k] = (uint8_t)rng_next(&seed);
            d.bytes[k] = (i % 3 == 0) ? s.bytes[k] : (uint8_t)rng_next(&seed);
        }
        uint16_t sp = (uint16_t)rng_next(&seed), dp = (uint16_t)rng_next(&seed);
        gw_community_id((uint16_t)i, &s, sp, &d, dp, 6, ab, sizeof ab);
        gw_community_id((uint16_t)i, &d, dp, &s, sp, 6, ba, sizeof ba);
        ck_assert_str_eq(ab, ba);
        ck_assert_uint_eq(strlen(ab), 30);
    }
}
END_TEST

START_TEST(community_id_bad_input)
{
    char out[40];
    struct gw_addr v4 = addr("10.0.0.1"), v6 = addr("::1"), none;
    memset(&none, 0, sizeof none);

    memset(out, 'x', sizeof out);
    gw_community_id(0, &v4, 1, &v6, 2, 6, out, sizeof out);
    ck_assert_str_eq(out, ""); /* mixed families */
    gw_community_id(0, &none, 1, &none, 2, 6, out, sizeof out);
    ck_assert_str_eq(out, "");
    memset(out, 'x', sizeof out);
    gw_community_id(0, &v4, 1, &v4, 2, 6, out, 30); /* too small for 30 chars + NUL */
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(out[1], 'x');
    gw_community_id(0, &v4, 1, &v4, 2, 6, out, 31);
    ck_assert_uint_eq(strlen(out), 30);
    ck_assert_int_eq(out[31], 'x');
}
END_TEST

/* ---- records ----------------------------------------------------------- */

static void fill_call(struct gw_grpc_call *c)
{
    memset(c, 0, sizeof *c);
    c->stream_id = 1;
    strcpy(c->path, "/helloworld.Greeter/SayHello");
    c->path_present = 1;
    strcpy(c->service, "helloworld.Greeter");
    strcpy(c->method, "SayHello");
    strcpy(c->authority.s, "svc:50051");
    c->authority.present = 1;
    strcpy(c->content_type.s, "application/grpc");
    c->content_type.present = 1;
    strcpy(c->user_agent.s, "grpc-python/1.60 \"quoted\"\x01");
    c->user_agent.present = 1;
    c->user_agent.truncated = 1;
    strcpy(c->metadata_keys[0], "x-request-id");
    strcpy(c->metadata_keys[1], "authorization");
    strcpy(c->metadata_keys[2], "x-api-key");
    c->n_metadata_keys = 3;
    c->credential_mask = 0x6;
    c->http_status = 200;
    c->grpc_status = 0;
    strcpy(c->grpc_encoding.s, "gzip");
    c->grpc_encoding.present = 1;
    c->request_messages = 1;
    c->response_messages = 2;
    c->request_bytes = 17;
    c->response_bytes = 4000000000ULL;
    c->ended_by = GW_END_RST;
    c->midstream = 1;
    c->messages_partial = GW_GRPC_PARTIAL_RESPONSE;
}

struct endpoints {
    struct gw_addr src, dst;
};

static void fill_head(struct gw_record_head *h, struct endpoints *ep, struct gw_tunnel *tun)
{
    static const char cid[] = "1:LQU9qZlK+B5F3KDmev6m5PMibrg=";
    ep->src = addr("10.1.2.3");
    ep->dst = addr("2001:db8::1");
    memset(h, 0, sizeof *h);
    h->ts = INT64_C(1767225600) * 1000000 + 5;
    h->event_type = "grpc";
    h->flow_id = 42;
    h->community_id = cid;
    h->src = &ep->src;
    h->dst = &ep->dst;
    h->sport = 40000;
    h->dport = 50051;
    h->app_proto = "grpc";
    h->tunnel = tun;
}

/* Builds the full grpc + alert record; returns the overflow-free result. */
static bool build_grpc_record(char *buf, size_t cap, size_t *len)
{
    struct gw_json j;
    struct gw_record_head h;
    struct gw_tunnel tun;
    struct gw_grpc_call c;
    struct gw_alert a = { GW_SID_CLEARTEXT_CREDENTIALS, "Cleartext gRPC call exposes credentials",
                          "Credential Exposure", 1 };

    memset(&tun, 0, sizeof tun);
    tun.type = GW_TUNNEL_VXLAN;
    tun.outer_src = addr("192.0.2.1");
    tun.outer_dst = addr("192.0.2.2");
    tun.id = 4242;
    struct endpoints ep;
    fill_head(&h, &ep, &tun);
    fill_call(&c);
    gw_json_init(&j, buf, cap);
    gw_record_begin(&j, &h);
    gw_record_grpc_object(&j, &c);
    gw_record_alert_object(&j, &a);
    gw_json_object_end(&j);
    bool ok = gw_json_finish(&j);
    *len = j.len;
    return ok;
}

static void assert_in_order(const char *s, const char *const *keys, size_t n)
{
    const char *at = s;
    for (size_t i = 0; i < n; i++) {
        const char *k = strstr(at, keys[i]);
        ck_assert_msg(k != NULL, "missing or out of order: %s in %s", keys[i], s);
        at = k + strlen(keys[i]);
    }
}

START_TEST(record_grpc_key_order)
{
    char buf[4096], path[64];
    size_t len;
    ck_assert(build_grpc_record(buf, sizeof buf, &len));
    static const char *const keys[] = {
        "{\"timestamp\":\"2026-01-01T00:00:00.000005Z\"", ",\"event_type\":\"grpc\"",
        ",\"flow_id\":42", ",\"community_id\":\"1:LQU9qZlK+B5F3KDmev6m5PMibrg=\"",
        ",\"src_ip\":\"10.1.2.3\"", ",\"src_port\":40000", ",\"dest_ip\":\"2001:db8::1\"",
        ",\"dest_port\":50051", ",\"proto\":\"TCP\"", ",\"app_proto\":\"grpc\"",
        ",\"tunnel\":{\"type\":\"vxlan\",\"outer_src_ip\":\"192.0.2.1\","
        "\"outer_dest_ip\":\"192.0.2.2\",\"id\":4242}",
        ",\"grpc\":{\"path\":\"/helloworld.Greeter/SayHello\"", ",\"service\":\"helloworld.Greeter\"",
        ",\"method\":\"SayHello\"", ",\"authority\":\"svc:50051\"",
        ",\"content_type\":\"application/grpc\"",
        ",\"user_agent\":\"grpc-python/1.60 \\\"quoted\\\"\\u0001\"",
        ",\"metadata_keys\":[\"x-request-id\",\"authorization\",\"x-api-key\"]",
        ",\"credential_keys\":[\"authorization\",\"x-api-key\"]", ",\"grpc_status\":0",
        ",\"grpc_message\":null", ",\"http_status\":200", ",\"request_messages\":1",
        ",\"response_messages\":2", ",\"request_bytes\":17", ",\"response_bytes\":4000000000",
        ",\"grpc_encoding\":\"gzip\"", ",\"midstream\":true",
        ",\"messages_partial\":[\"response\"]", ",\"truncated\":[\"user_agent\"]",
        ",\"ended_by\":\"", "\"}", ",\"alert\":{\"action\":\"allowed\"", ",\"gid\":1",
        ",\"signature_id\":2300001", ",\"rev\":1",
        ",\"signature\":\"Cleartext gRPC call exposes credentials\"",
        ",\"category\":\"Credential Exposure\"", ",\"severity\":1}}\n",
    };
    assert_in_order(buf, keys, GW_ARRAY_LEN(keys));
    char ended[64];
    snprintf(ended, sizeof ended, "\"ended_by\":\"%s\"}", gw_end_str(GW_END_RST));
    ck_assert_ptr_nonnull(strstr(buf, ended));
    ck_assert_uint_eq(len, strlen(buf));

    FILE *f = temp_file(path, sizeof path);
    fputs(buf, f);
    fclose(f);
    ck_assert_int_eq(python_json_check(path), 0);
    unlink(path);
}
END_TEST

START_TEST(record_grpc_absent_fields)
{
    char buf[4096];
    struct gw_json j;
    struct gw_record_head h;
    struct gw_grpc_call c;

    memset(&c, 0, sizeof c);
    c.http_status = -1;
    c.grpc_status = -1;
    struct endpoints ep;
    fill_head(&h, &ep, NULL);
    h.app_proto = NULL;
    h.community_id = NULL;
    gw_json_init(&j, buf, sizeof buf);
    gw_record_begin(&j, &h);
    gw_record_grpc_object(&j, &c);
    gw_json_object_end(&j);
    ck_assert(gw_json_finish(&j));
    ck_assert_ptr_null(strstr(buf, "app_proto"));
    ck_assert_ptr_null(strstr(buf, "tunnel"));
    ck_assert_ptr_null(strstr(buf, "grpc_encoding"));
    ck_assert_ptr_null(strstr(buf, "midstream"));
    ck_assert_ptr_null(strstr(buf, "messages_partial"));
    ck_assert_ptr_null(strstr(buf, "truncated"));
    static const char *const keys[] = {
        "\"community_id\":null", "\"proto\":\"TCP\",\"grpc\":{\"path\":null,\"service\":null,"
        "\"method\":null,\"authority\":null,\"content_type\":null,\"user_agent\":null,"
        "\"metadata_keys\":[],\"credential_keys\":[],\"grpc_status\":null,"
        "\"grpc_message\":null,\"http_status\":null,\"request_messages\":0,"
        "\"response_messages\":0,\"request_bytes\":0,\"response_bytes\":0,\"ended_by\":",
    };
    assert_in_order(buf, keys, GW_ARRAY_LEN(keys));

    /* a tunnel of type NONE is omitted too */
    struct gw_tunnel none;
    memset(&none, 0, sizeof none);
    fill_head(&h, &ep, &none);
    gw_json_init(&j, buf, sizeof buf);
    gw_record_begin(&j, &h);
    gw_json_object_end(&j);
    ck_assert(gw_json_finish(&j));
    ck_assert_ptr_null(strstr(buf, "tunnel"));
}
END_TEST

/* Strings without a NUL inside their array must not be over-read. */
START_TEST(record_grpc_unterminated_fields)
{
    char buf[8192];
    struct gw_json j;
    struct gw_grpc_call c;
    memset(&c, 'A', sizeof c);
    c.path_present = 1;
    c.authority.present = 1;
    c.n_metadata_keys = 255; /* more than the array holds */
    c.credential_mask = 0xffffffffu;
    c.ended_by = GW_END_EOF;
    gw_json_init(&j, buf, sizeof buf);
    gw_json_object_begin(&j);
    gw_record_grpc_object(&j, &c);
    gw_json_object_end(&j);
    ck_assert(gw_json_finish(&j));
    /* the path is exactly its array's worth of 'A' */
    char want[GW_GRPC_PATH_MAX + 16];
    memset(want, 'A', GW_GRPC_PATH_MAX);
    want[GW_GRPC_PATH_MAX] = '\0';
    char *p = strstr(buf, "\"path\":\"");
    ck_assert_ptr_nonnull(p);
    ck_assert(strncmp(p + 8, want, GW_GRPC_PATH_MAX) == 0);
    ck_assert_int_eq(p[8 + GW_GRPC_PATH_MAX], '"');
}
END_TEST

START_TEST(record_overflow_every_size)
{
    char ref[4096];
    size_t ref_len;
    ck_assert(build_grpc_record(ref, sizeof ref, &ref_len));
    ck_assert_uint_eq(ref_len, strlen(ref));

    enum { CANARY = 32 };
    char *mem = malloc(ref_len + 2 + CANARY);
    ck_assert_ptr_nonnull(mem);
    for (size_t cap = 0; cap <= ref_len + 1; cap++) {
        memset(mem, 0x5a, cap + CANARY);
        size_t len;
        bool ok = build_grpc_record(mem, cap, &len);
        for (size_t k = 0; k < CANARY; k++)
            ck_assert_msg((uint8_t)mem[cap + k] == 0x5a, "cap %zu: canary %zu hit", cap, k);
        ck_assert_uint_le(len, cap ? cap - 1 : 0);
        /* dropped or not, the buffer stays a C string of what was committed */
        if (cap) ck_assert_uint_eq(strnlen(mem, cap), len);
        if (cap >= ref_len + 1) { /* the line plus the NUL the writer keeps */
            ck_assert(ok);
            ck_assert_str_eq(mem, ref);
        } else {
            ck_assert_msg(!ok, "cap %zu should overflow", cap);
        }
    }
    free(mem);
}
END_TEST

START_TEST(record_alert)
{
    char buf[512];
    struct gw_json j;
    struct gw_alert a = { GW_SID_CLEARTEXT_MIDSTREAM, "Sig \"x\"", "Cat", 2 };
    gw_json_init(&j, buf, sizeof buf);
    gw_json_object_begin(&j);
    gw_record_alert_object(&j, &a);
    gw_json_object_end(&j);
    ck_assert(gw_json_finish(&j));
    ck_assert_str_eq(buf, "{\"alert\":{\"action\":\"allowed\",\"gid\":1,\"signature_id\":2300003,"
                          "\"rev\":1,\"signature\":\"Sig \\\"x\\\"\",\"category\":\"Cat\","
                          "\"severity\":2}}\n");
}
END_TEST

static const char *tls_json(char *buf, size_t cap, const struct gw_tls_info *t)
{
    struct gw_json j;
    gw_json_init(&j, buf, cap);
    gw_json_object_begin(&j);
    gw_record_tls_object(&j, t);
    gw_json_object_end(&j);
    ck_assert(gw_json_finish(&j));
    return buf;
}

START_TEST(record_tls)
{
    char buf[1024];
    struct gw_tls_info t;

    memset(&t, 0, sizeof t);
    t.have_client_hello = 1;
    strcpy(t.sni, "api.example.com");
    strcpy(t.alpn[0], "h2");
    strcpy(t.alpn[1], "http/1.1");
    t.n_alpn = 2;
    t.client_version = 0x0303;
    t.offered_versions[0] = 0x0303;
    t.offered_versions[1] = 0x0304;
    t.offered_versions[2] = 0x0302;
    t.n_offered_versions = 3;
    strcpy(t.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
    ck_assert_str_eq(tls_json(buf, sizeof buf, &t),
                     "{\"tls\":{\"sni\":\"api.example.com\",\"alpn\":[\"h2\",\"http/1.1\"],"
                     "\"version\":\"1.3\",\"version_source\":\"client_hello\","
                     "\"alpn_selected\":null,\"ja4\":\"t13d1516h2_8daaf6152771_e5627efa2ab1\","
                     "\"client_hello\":true,\"server_hello\":false}}\n");

    /* no supported_versions: the legacy version */
    t.n_offered_versions = 0;
    ck_assert_ptr_nonnull(strstr(tls_json(buf, sizeof buf, &t), "\"version\":\"1.2\""));

    /* the ServerHello wins */
    t.n_offered_versions = 3;
    t.have_server_hello = 1;
    t.version = 0x0303;
    strcpy(t.alpn_selected, "h2");
    ck_assert_ptr_nonnull(strstr(tls_json(buf, sizeof buf, &t),
                                 "\"version\":\"1.2\",\"version_source\":\"server_hello\","
                                 "\"alpn_selected\":\"h2\""));
    ck_assert_ptr_nonnull(strstr(buf, "\"client_hello\":true,\"server_hello\":true}}"));

    /* nothing seen */
    memset(&t, 0, sizeof t);
    ck_assert_str_eq(tls_json(buf, sizeof buf, &t),
                     "{\"tls\":{\"sni\":null,\"alpn\":[],\"version\":null,\"alpn_selected\":null,"
                     "\"ja4\":null,\"client_hello\":false,\"server_hello\":false}}\n");
}

START_TEST(record_loss)
{
    char buf[512];
    struct gw_json j;
    struct gw_record_loss l;
    memset(&l, 0, sizeof l);
    gw_json_init(&j, buf, sizeof buf);
    gw_json_object_begin(&j);
    gw_record_loss_object(&j, &l); /* nothing lost: nothing written */
    gw_json_object_end(&j);
    ck_assert(gw_json_finish(&j));
    ck_assert_str_eq(buf, "{}\n");

    l.gap_bytes[1] = 1400;
    l.gaps[1] = 1;
    l.stopped[1] = 1;
    gw_json_reset(&j);
    gw_json_object_begin(&j);
    gw_record_loss_object(&j, &l);
    gw_json_object_end(&j);
    ck_assert(gw_json_finish(&j));
    ck_assert_str_eq(buf, "{\"loss\":{\"gap_bytes_to_server\":0,\"gap_bytes_to_client\":1400,"
                          "\"gaps_to_server\":0,\"gaps_to_client\":1,"
                          "\"decoding_stopped\":[\"to_client\"],\"decoding_resynced\":[]}}\n");

    /* a resynchronised direction; one that resynchronised and then stopped
     * is listed as stopped only */
    l.gap_bytes[0] = 7;
    l.gaps[0] = 2;
    l.resynced[0] = 1;
    l.resynced[1] = 1;
    gw_json_reset(&j);
    gw_json_object_begin(&j);
    gw_record_loss_object(&j, &l);
    gw_json_object_end(&j);
    ck_assert(gw_json_finish(&j));
    ck_assert_str_eq(buf, "{\"loss\":{\"gap_bytes_to_server\":7,\"gap_bytes_to_client\":1400,"
                          "\"gaps_to_server\":2,\"gaps_to_client\":1,"
                          "\"decoding_stopped\":[\"to_client\"],"
                          "\"decoding_resynced\":[\"to_server\"]}}\n");
}
END_TEST
END_TEST

static Suite *record_suite(void)
{
    Suite *s = suite_create("record");
    TCase *tc = tcase_create("json");
    tcase_add_test(tc, json_structure_and_commas);
    tcase_add_test(tc, json_depth_limit);
    tcase_add_test(tc, json_misuse_is_overflow);
    tcase_add_test(tc, json_escape_every_byte);
    tcase_add_test(tc, json_utf8_valid_passes);
    tcase_add_test(tc, json_utf8_invalid_replaced);
    tcase_add_test(tc, json_random_strings);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);

    tc = tcase_create("timestamp");
    tcase_add_test(tc, timestamp_format);
    tcase_add_test(tc, timestamp_clamp_and_small_buffer);
    suite_add_tcase(s, tc);

    tc = tcase_create("community_id");
    tcase_add_test(tc, community_id_vectors);
    tcase_add_test(tc, community_id_symmetric);
    tcase_add_test(tc, community_id_bad_input);
    suite_add_tcase(s, tc);

    tc = tcase_create("records");
    tcase_add_test(tc, record_grpc_key_order);
    tcase_add_test(tc, record_grpc_absent_fields);
    tcase_add_test(tc, record_grpc_unterminated_fields);
    tcase_add_test(tc, record_overflow_every_size);
    tcase_add_test(tc, record_alert);
    tcase_add_test(tc, record_tls);
    tcase_add_test(tc, record_loss);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(record_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
