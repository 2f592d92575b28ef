/*
 * test_output.c - the JSON-lines sink: exact content, append mode, huge
 * lines, failing sinks (/dev/full, a file size limit, a closed pipe) and
 * spec errors.
 */
#include "grpcwatch/output.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* A growing byte string holding what the sink should contain. */
struct expect {
    char *p;
    size_t len, cap;
};

static void expect_add(struct expect *e, const char *s, size_t n)
{
    if (e->len + n > e->cap) {
        e->cap = (e->len + n) * 2;
        e->p = realloc(e->p, e->cap);
        ck_assert_ptr_nonnull(e->p);
    }
    memcpy(e->p + e->len, s, n);
    e->len += n;
}

static void temp_path(char *path, size_t len)
{
    snprintf(path, len, "/tmp/gw_test_output_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

/* Reads a whole file; *len gets its size. */
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
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void assert_file_is(const char *path, const struct expect *e)
{
    size_t n;
    char *got = slurp(path, &n);
    ck_assert_uint_eq(n, e->len);
    ck_assert(memcmp(got, e->p, n) == 0);
    free(got);
}

/* Line i: a JSON object whose length varies with i, ending in '\n'. */
static size_t make_line(char *buf, size_t cap, unsigned i)
{
    size_t pad = (i * 37u) % 300u;
    int n = snprintf(buf, cap, "{\"n\":%u,\"pad\":\"", i);
    ck_assert(n > 0 && (size_t)n + pad + 3 < cap);
    memset(buf + n, 'a' + (char)(i % 26), pad);
    memcpy(buf + n + pad, "\"}\n", 3);
    return (size_t)n + pad + 3;
}

static struct gw_output *open_ok(const char *path)
{
    char spec[256], err[256];
    snprintf(spec, sizeof spec, "json:%s", path);
    struct gw_output *o = gw_output_open(spec, err, sizeof err);
    ck_assert_msg(o != NULL, "open %s: %s", spec, err);
    return o;
}

START_TEST(many_records_exact_content)
{
    char path[64], line[512];
    struct expect e = { 0 };
    temp_path(path, sizeof path);
    struct gw_output *o = open_ok(path);
    for (unsigned i = 0; i < 5000; i++) { /* ~800 KB: the buffer fills many times */
        size_t n = make_line(line, sizeof line, i);
        ck_assert_int_eq(gw_output_write(o, line, n), GW_OK);
        expect_add(&e, line, n);
    }
    const struct gw_output_stats *st = gw_output_stats(o);
    ck_assert_uint_eq(st->records, 5000);
    ck_assert_uint_eq(st->write_errors, 0);
    ck_assert_uint_eq(st->dropped_records, 0);
    ck_assert_uint_lt(st->bytes, e.len); /* the tail is still buffered */
    ck_assert_int_eq(gw_output_flush(o), GW_OK);
    ck_assert_uint_eq(st->bytes, e.len);
    gw_output_close(o);
    assert_file_is(path, &e);
    unlink(path);
    free(e.p);
}
END_TEST

START_TEST(append_preserves_content)
{
    char path[64];
    struct expect e = { 0 };
    temp_path(path, sizeof path);
    FILE *f = fopen(path, "w");
    fputs("{\"old\":1}\n", f);
    fclose(f);
    expect_add(&e, "{\"old\":1}\n", 10);

    for (int round = 0; round < 2; round++) {
        struct gw_output *o = open_ok(path);
        ck_assert_int_eq(gw_output_write(o, "{\"a\":1}\n", 8), GW_OK);
        gw_output_close(o);
        expect_add(&e, "{\"a\":1}\n", 8);
    }
    assert_file_is(path, &e);
    unlink(path);
    free(e.p);

    /* a new file is created 0640 (less the umask) */
    temp_path(path, sizeof path);
    unlink(path);
    mode_t old = umask(0);
    struct gw_output *o = open_ok(path);
    umask(old);
    gw_output_close(o);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0640);
    unlink(path);
}
END_TEST

START_TEST(huge_line)
{
    char path[64];
    struct expect e = { 0 };
    size_t big = 200 * 1024;
    char *line = malloc(big);
    ck_assert_ptr_nonnull(line);
    memset(line, 'x', big);
    line[0] = '"';
    line[big - 2] = '"';
    line[big - 1] = '\n';

    temp_path(path, sizeof path);
    struct gw_output *o = open_ok(path);
    ck_assert_int_eq(gw_output_write(o, "1\n", 2), GW_OK);
    expect_add(&e, "1\n", 2);
    ck_assert_int_eq(gw_output_write(o, line, big), GW_OK);
    expect_add(&e, line, big);
    ck_assert_int_eq(gw_output_write(o, "2\n", 2), GW_OK);
    expect_add(&e, "2\n", 2);
    /* exactly the buffer size also fits */
    size_t exact = 64 * 1024;
    line[exact - 1] = '\n';
    ck_assert_int_eq(gw_output_write(o, line, exact), GW_OK);
    expect_add(&e, line, exact);
    ck_assert_uint_eq(gw_output_stats(o)->records, 4);
    gw_output_close(o);
    assert_file_is(path, &e);
    unlink(path);
    free(line);
    free(e.p);
}
END_TEST

START_TEST(bad_lines_refused)
{
    char path[64];
    temp_path(path, sizeof path);
    struct gw_output *o = open_ok(path);
    ck_assert_int_eq(gw_output_write(o, "{}", 2), GW_ERR_ARG);
    ck_assert_int_eq(gw_output_write(o, "{}\n", 0), GW_ERR_ARG);
    ck_assert_int_eq(gw_output_write(o, NULL, 3), GW_ERR_ARG);
    ck_assert_int_eq(gw_output_write(NULL, "{}\n", 3), GW_ERR_ARG);
    ck_assert_uint_eq(gw_output_stats(o)->records, 0);
    gw_output_close(o);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_size, 0);
    unlink(path);
}
END_TEST

/* /dev/full: every write fails with ENOSPC. */
START_TEST(failing_sink_dev_full)
{
    char line[512];
    struct gw_output *o = open_ok("/dev/full");
    int ok = 0, io = 0;
    for (unsigned i = 0; i < 2000; i++) { /* ~300 KB: far more than the buffer */
        size_t n = make_line(line, sizeof line, i);
        int rc = gw_output_write(o, line, n);
        ck_assert(rc == GW_OK || rc == GW_ERR_IO);
        if (rc == GW_OK) ok++;
        else io++;
    }
    const struct gw_output_stats *st = gw_output_stats(o);
    ck_assert_int_gt(ok, 0);
    ck_assert_int_gt(io, 0);
    ck_assert_uint_eq(st->records, (uint64_t)ok);
    ck_assert_uint_eq(st->dropped_records, (uint64_t)io);
    ck_assert_uint_gt(st->write_errors, 0);
    ck_assert_uint_eq(st->bytes, 0);
    ck_assert_int_eq(gw_output_flush(o), GW_ERR_IO);

    /* a huge line is dropped as a whole */
    size_t big = 100 * 1024;
    char *huge = malloc(big);
    ck_assert_ptr_nonnull(huge);
    memset(huge, '1', big);
    huge[big - 1] = '\n';
    uint64_t dropped = st->dropped_records;
    ck_assert_int_eq(gw_output_write(o, huge, big), GW_ERR_IO);
    ck_assert_uint_eq(st->dropped_records, dropped + 1);
    free(huge);
    gw_output_close(o);
}
END_TEST

/* A file size limit makes write(2) partial and then fail with EFBIG. What
 * was accepted must reach the file exactly once and in order when the
 * limit goes away. */
START_TEST(failing_sink_partial_writes)
{
    char path[64], line[512];
    struct expect e = { 0 };
    struct rlimit saved, lim;
    const rlim_t limit = 100003;

    temp_path(path, sizeof path);
    struct gw_output *o = open_ok(path);
    void (*old)(int) = signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
    lim = saved;
    lim.rlim_cur = limit;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);

    uint64_t io = 0;
    for (unsigned i = 0; i < 2000; i++) {
        size_t n = make_line(line, sizeof line, i);
        int rc = gw_output_write(o, line, n);
        if (rc == GW_OK) expect_add(&e, line, n);
        else io++;
    }
    ck_assert_int_eq(gw_output_flush(o), GW_ERR_IO);
    const struct gw_output_stats *st = gw_output_stats(o);
    ck_assert_uint_gt(io, 0);
    ck_assert_uint_eq(st->dropped_records, io);
    ck_assert_uint_gt(st->write_errors, 0);
    ck_assert_uint_eq(st->bytes, limit);

    /* the file holds exactly the first `limit` bytes */
    size_t n;
    char *got = slurp(path, &n);
    ck_assert_uint_eq(n, limit);
    ck_assert(memcmp(got, e.p, n) == 0);
    free(got);

    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, old);
    ck_assert_int_eq(gw_output_flush(o), GW_OK);
    ck_assert_uint_eq(st->bytes, e.len);
    gw_output_close(o);
    assert_file_is(path, &e);
    unlink(path);
    free(e.p);
}
END_TEST

/* A pipe whose reader went away: EPIPE (SIGPIPE ignored as main does). */
START_TEST(failing_sink_closed_pipe)
{
    char dir[64], fifo[96];
    snprintf(dir, sizeof dir, "/tmp/gw_test_output_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);

    int rd = open(fifo, O_RDONLY | O_NONBLOCK);
    ck_assert_int_ge(rd, 0);
    struct gw_output *o = open_ok(fifo);
    close(rd);
    ck_assert_int_eq(gw_output_write(o, "{}\n", 3), GW_OK); /* buffered */
    ck_assert_int_eq(gw_output_flush(o), GW_ERR_IO);
    ck_assert_uint_ge(gw_output_stats(o)->write_errors, 1);
    ck_assert_uint_eq(gw_output_stats(o)->bytes, 0);
    gw_output_close(o);

    signal(SIGPIPE, old);
    unlink(fifo);
    rmdir(dir);
}
END_TEST

START_TEST(stdout_sink)
{
    char path[64];
    temp_path(path, sizeof path);
    int fd = open(path, O_WRONLY | O_APPEND);
    ck_assert_int_ge(fd, 0);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_eq(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
    close(fd);

    char err[128];
    struct gw_output *o = gw_output_open("json:-", err, sizeof err);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(gw_output_write(o, "{\"x\":1}\n", 8), GW_OK);
    gw_output_close(o);
    int still_open = fcntl(STDOUT_FILENO, F_GETFD);

    ck_assert_int_eq(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
    close(saved);
    ck_assert_int_ne(still_open, -1); /* close does not close stdout */
    struct expect e = { 0 };
    expect_add(&e, "{\"x\":1}\n", 8);
    assert_file_is(path, &e);
    unlink(path);
    free(e.p);
}
END_TEST

START_TEST(bad_specs)
{
    static const char *const bad[] = { "", "json", "json:", "csv:/tmp/x", "JSON:-", "-", "/tmp/x" };
    char err[256], want[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_ptr_null(gw_output_open(bad[i], err, sizeof err));
        snprintf(want, sizeof want, "unknown output '%s' (expected json:- or json:PATH)", bad[i]);
        ck_assert_str_eq(err, want);
    }
    ck_assert_ptr_null(gw_output_open(NULL, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "unknown output"));

    ck_assert_ptr_null(gw_output_open("json:/nonexistent-dir-gw/out.json", err, sizeof err));
    snprintf(want, sizeof want, "cannot open /nonexistent-dir-gw/out.json: %s", strerror(ENOENT));
    ck_assert_str_eq(err, want);

    ck_assert_ptr_null(gw_output_open("json:/tmp", err, sizeof err)); /* a directory */
    snprintf(want, sizeof want, "cannot open /tmp: %s", strerror(EISDIR));
    ck_assert_str_eq(err, want);

    /* a tiny error buffer is truncated, never overrun */
    char tiny[8];
    memset(tiny, 'z', sizeof tiny);
    ck_assert_ptr_null(gw_output_open("nope", tiny, 4));
    ck_assert_str_eq(tiny, "unk");
    ck_assert_int_eq(tiny[4], 'z');
    ck_assert_ptr_null(gw_output_open("nope", NULL, 0));
}
END_TEST

static Suite *output_suite(void)
{
    Suite *s = suite_create("output");
    TCase *tc = tcase_create("file");
    tcase_add_test(tc, many_records_exact_content);
    tcase_add_test(tc, append_preserves_content);
    tcase_add_test(tc, huge_line);
    tcase_add_test(tc, bad_lines_refused);
    tcase_add_test(tc, stdout_sink);
    tcase_add_test(tc, bad_specs);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, failing_sink_dev_full);
    tcase_add_test(tc, failing_sink_partial_writes);
    tcase_add_test(tc, failing_sink_closed_pipe);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(output_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
