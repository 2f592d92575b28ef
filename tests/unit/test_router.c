/*
 * test_router.c - records to several sinks: every sink gets every record,
 * a type filter keeps only its types, a failing sink costs the others
 * nothing, per-sink and summed counters, log rotation of every sink, and
 * the spec and type-list errors.
 */
#include "grpcwatch/router.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const types[] = { "grpc", "alert", "tls", "anomaly", "stats", "future" };
#define N_TYPES (sizeof types / sizeof types[0])

struct tmp {
    char dir[64], a[96], b[96];
};

static void tmp_make(struct tmp *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/gw_test_router_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t->dir));
    snprintf(t->a, sizeof t->a, "%s/a.json", t->dir);
    snprintf(t->b, sizeof t->b, "%s/b.json", t->dir);
}

static void tmp_remove(struct tmp *t)
{
    unlink(t->a);
    unlink(t->b);
    rmdir(t->dir);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    p[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void add_ok(struct gw_router *r, const char *kind_path, const char *filter)
{
    char spec[160], err[256];
    snprintf(spec, sizeof spec, "json:%s", kind_path);
    int rc = gw_router_add(r, spec, filter, err, sizeof err);
    ck_assert_msg(rc == GW_OK, "add %s: %s", spec, err);
}

/* Record i: {"event_type":"<types[i % N_TYPES]>","n":i,...} */
static size_t make_record(char *buf, size_t cap, unsigned i, const char **type)
{
    *type = types[i % N_TYPES];
    int n = snprintf(buf, cap, "{\"event_type\":\"%s\",\"n\":%u,\"pad\":\"%0*u\"}\n", *type, i,
                     (int)(i % 200), 0);
    ck_assert(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

static size_t count_lines(const char *p, const char *needle)
{
    size_t n = 0;
    for (const char *q = p; (q = strstr(q, needle)) != NULL; q++) n++;
    return n;
}

START_TEST(two_sinks_same_records)
{
    struct tmp t;
    char line[512];
    tmp_make(&t);
    struct gw_router *r = gw_router_create();
    ck_assert_ptr_nonnull(r);
    add_ok(r, t.a, NULL);
    add_ok(r, t.b, "");
    ck_assert_uint_eq(gw_router_count(r), 2);
    size_t total = 0;
    for (unsigned i = 0; i < 3000; i++) { /* ~450 KB: each buffer fills many times */
        const char *type;
        size_t n = make_record(line, sizeof line, i, &type);
        gw_router_write(r, line, n, type);
        total += n;
    }
    ck_assert_int_eq(gw_router_flush(r), GW_OK);
    struct gw_sink_stats sum, one;
    gw_router_stats(r, &sum);
    ck_assert_uint_eq(sum.records, 6000);
    ck_assert_uint_eq(sum.bytes, 2 * total);
    ck_assert_uint_eq(sum.dropped_records + sum.pending + sum.write_errors, 0);
    gw_router_sink_stats(r, 1, &one);
    ck_assert_uint_eq(one.records, 3000);
    ck_assert_int_eq(strncmp(gw_router_sink_spec(r, 0), "json:/tmp/gw_test_router_", 25), 0);
    ck_assert_uint_eq(gw_router_lost(r), 0);
    gw_router_destroy(r);

    size_t la, lb;
    char *a = slurp(t.a, &la), *b = slurp(t.b, &lb);
    ck_assert_uint_eq(la, total);
    ck_assert_uint_eq(lb, total);
    ck_assert(memcmp(a, b, la) == 0);
    ck_assert_uint_eq(count_lines(a, "\n"), 3000);
    free(a);
    free(b);
    tmp_remove(&t);
}
END_TEST

START_TEST(type_filter)
{
    struct tmp t;
    char line[512];
    tmp_make(&t);
    struct gw_router *r = gw_router_create();
    add_ok(r, t.a, "alert, stats");
    add_ok(r, t.b, NULL);
    for (unsigned i = 0; i < 60; i++) {
        const char *type;
        size_t n = make_record(line, sizeof line, i, &type);
        gw_router_write(r, line, n, type);
    }
    gw_router_destroy(r);

    size_t la, lb;
    char *a = slurp(t.a, &la), *b = slurp(t.b, &lb);
    ck_assert_uint_eq(count_lines(a, "\n"), 20);
    ck_assert_uint_eq(count_lines(a, "\"event_type\":\"alert\""), 10);
    ck_assert_uint_eq(count_lines(a, "\"event_type\":\"stats\""), 10);
    /* the unfiltered sink has everything, a type no filter names included */
    ck_assert_uint_eq(count_lines(b, "\n"), 60);
    ck_assert_uint_eq(count_lines(b, "\"event_type\":\"future\""), 10);
    ck_assert_uint_eq(count_lines(b, "\"event_type\":\"grpc\""), 10);
    /* and the filtered one's lines are the unfiltered one's, in order */
    const char *p = a;
    for (const char *q = b; *q;) {
        const char *nl = strchr(q, '\n');
        size_t n = (size_t)(nl - q) + 1;
        if ((strstr(q, "\"alert\"") && strstr(q, "\"alert\"") < nl) ||
            (strstr(q, "\"stats\"") && strstr(q, "\"stats\"") < nl)) {
            ck_assert(memcmp(p, q, n) == 0);
            p += n;
        }
        q += n;
    }
    ck_assert_ptr_eq(p, a + la);
    free(a);
    free(b);
    tmp_remove(&t);
}
END_TEST

/* /dev/full refuses everything; the file next to it still gets it all. */
START_TEST(failing_sink_does_not_stop_the_other)
{
    struct tmp t;
    char line[512];
    tmp_make(&t);
    struct gw_router *r = gw_router_create();
    add_ok(r, "/dev/full", NULL);
    add_ok(r, t.b, NULL);
    size_t total = 0;
    for (unsigned i = 0; i < 2000; i++) {
        const char *type;
        size_t n = make_record(line, sizeof line, i, &type);
        gw_router_write(r, line, n, type);
        total += n;
        if (i % 500 == 0) ck_assert_int_eq(gw_router_flush(r), GW_ERR_IO);
    }
    ck_assert_int_eq(gw_router_flush(r), GW_ERR_IO); /* the failing sink still holds records */
    struct gw_sink_stats full, file;
    gw_router_sink_stats(r, 0, &full);
    gw_router_sink_stats(r, 1, &file);
    ck_assert_uint_gt(full.dropped_records, 0);
    ck_assert_uint_gt(full.write_errors, 0);
    ck_assert_uint_eq(full.bytes, 0);
    ck_assert_uint_eq(full.dropped_records + full.pending, 2000);
    ck_assert_uint_eq(file.records, 2000);
    ck_assert_uint_eq(file.bytes, total);
    ck_assert_uint_eq(file.dropped_records + file.pending + file.write_errors, 0);
    ck_assert_uint_eq(gw_router_lost(r), 2000);
    ck_assert_str_eq(gw_router_sink_spec(r, 0), "json:/dev/full");
    gw_router_destroy(r);
    struct stat sb;
    ck_assert_int_eq(stat(t.b, &sb), 0);
    ck_assert_uint_eq((size_t)sb.st_size, total);
    tmp_remove(&t);
}
END_TEST

/* SIGHUP: every sink moves to a new file. */
START_TEST(reopen_every_sink)
{
    struct tmp t;
    char moved_a[128], moved_b[128];
    tmp_make(&t);
    snprintf(moved_a, sizeof moved_a, "%s.1", t.a);
    snprintf(moved_b, sizeof moved_b, "%s.1", t.b);
    struct gw_router *r = gw_router_create();
    add_ok(r, t.a, NULL);
    add_ok(r, t.b, "grpc");
    gw_router_write(r, "1\n", 2, "grpc");
    ck_assert_int_eq(gw_router_flush(r), GW_OK);
    ck_assert_int_eq(rename(t.a, moved_a), 0);
    ck_assert_int_eq(rename(t.b, moved_b), 0);
    gw_router_reopen(r);
    gw_router_write(r, "2\n", 2, "grpc");
    struct gw_sink_stats sum;
    gw_router_stats(r, &sum);
    ck_assert_uint_eq(sum.reconnects, 2);
    gw_router_destroy(r);
    size_t n;
    const char *paths[] = { moved_a, moved_b, t.a, t.b };
    const char *want[] = { "1\n", "1\n", "2\n", "2\n" };
    for (size_t i = 0; i < 4; i++) {
        char *got = slurp(paths[i], &n);
        ck_assert_str_eq(got, want[i]);
        free(got);
    }
    unlink(moved_a);
    unlink(moved_b);
    tmp_remove(&t);
}
END_TEST

START_TEST(bad_specs)
{
    static const char *const bad[] = { "",      "json",   "json:", "csv:/tmp/x", "JSON:-",
                                       "-",     "/tmp/x", "unix:", "unixgram:",  "unix",
                                       "udp:x", "UNIX:/x", ":x",   "jsonx:-" };
    char err[256], want[256];
    struct gw_router *r = gw_router_create();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(gw_router_add(r, bad[i], NULL, err, sizeof err), GW_ERR_ARG);
        snprintf(want, sizeof want,
                 "unknown output '%s' (expected json:-, json:PATH, unix:PATH or unixgram:PATH)",
                 bad[i]);
        ck_assert_str_eq(err, want);
        ck_assert_int_eq(gw_router_check_spec(bad[i], err, sizeof err), GW_ERR_ARG);
        ck_assert_str_eq(err, want);
    }
    ck_assert_int_eq(gw_router_add(r, NULL, NULL, err, sizeof err), GW_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err, "unknown output"));
    ck_assert_int_eq(gw_router_check_spec("json:-", err, sizeof err), GW_OK);
    ck_assert_int_eq(gw_router_check_spec("unixgram:/x", err, sizeof err), GW_OK);

    /* an open error is the sink's own message */
    ck_assert_int_eq(gw_router_add(r, "json:/nonexistent-dir-gw/o", NULL, err, sizeof err), GW_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err, "cannot open /nonexistent-dir-gw/o"));

    /* unknown record types in a filter; nothing is opened */
    ck_assert_int_eq(gw_router_add(r, "json:/dev/null", "grpc,bogus", err, sizeof err), GW_ERR_ARG);
    ck_assert_str_eq(err, "unknown record type 'bogus' (expected grpc, alert, tls, anomaly or stats)");
    ck_assert_int_eq(gw_router_add(r, "json:/dev/null", "Alert", err, sizeof err), GW_ERR_ARG);
    ck_assert_uint_eq(gw_router_count(r), 0);

    /* a tiny error buffer is truncated, never overrun */
    char tiny[8];
    memset(tiny, 'z', sizeof tiny);
    ck_assert_int_eq(gw_router_add(r, "nope", NULL, tiny, 4), GW_ERR_ARG);
    ck_assert_str_eq(tiny, "unk");
    ck_assert_int_eq(tiny[4], 'z');
    ck_assert_int_eq(gw_router_add(r, "nope", NULL, NULL, 0), GW_ERR_ARG);

    /* at most GW_ROUTER_MAX_SINKS */
    for (int i = 0; i < GW_ROUTER_MAX_SINKS; i++)
        ck_assert_int_eq(gw_router_add(r, "json:/dev/null", "tls", err, sizeof err), GW_OK);
    ck_assert_int_eq(gw_router_add(r, "json:/dev/null", NULL, err, sizeof err), GW_ERR_LIMIT);
    ck_assert_str_eq(err, "at most 8 outputs");
    ck_assert_uint_eq(gw_router_count(r), GW_ROUTER_MAX_SINKS);
    gw_router_destroy(r);
    gw_router_destroy(NULL);
}
END_TEST

START_TEST(event_types)
{
    ck_assert_int_eq(gw_router_event_type("grpc", 4), 0);
    ck_assert_int_eq(gw_router_event_type("stats", 5), 4);
    ck_assert_int_eq(gw_router_event_type("grpcx", 4), 0); /* a length, not a string */
    ck_assert_int_eq(gw_router_event_type("grp", 3), -1);
    ck_assert_int_eq(gw_router_event_type("flow", 4), -1);
    ck_assert_int_eq(gw_router_event_type("", 0), -1);
}
END_TEST

static Suite *router_suite(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("route");
    tcase_add_test(tc, two_sinks_same_records);
    tcase_add_test(tc, type_filter);
    tcase_add_test(tc, failing_sink_does_not_stop_the_other);
    tcase_add_test(tc, reopen_every_sink);
    tcase_add_test(tc, bad_specs);
    tcase_add_test(tc, event_types);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(router_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
