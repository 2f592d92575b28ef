/*
 * test_sink.c - the sink kinds through their ops tables (sink.h), and so the
 * shared buffer under them (sinkbuf.c): exact content, append mode, huge
 * lines, failing sinks (/dev/full, a file size limit, a closed pipe), unix
 * stream and datagram sockets whose reader goes away and comes back, log
 * rotation (reopen) and open errors. Spec parsing is the router's
 * (test_router.c).
 *
 * The reconnect tests sleep just over a second: the sink retries a lost
 * socket at most once per second of wall time, and that is what they check.
 */
#include "grpcwatch/sink.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* A sink under test: its ops, the sink, and its counters as of the last
 * call (so a test can keep `st` and read it after later calls). */
struct tsink {
    const struct gw_sink_ops *ops;
    struct gw_sink *s;
    struct gw_sink_stats st;
};

static struct tsink *t_open(const struct gw_sink_ops *ops, const char *target, char *err,
                            size_t errlen)
{
    struct gw_sink *s = ops->open(target, err, errlen);
    if (!s) return NULL;
    struct tsink *t = calloc(1, sizeof *t);
    ck_assert_ptr_nonnull(t);
    t->ops = ops;
    t->s = s;
    ops->stats(s, &t->st);
    return t;
}

static int t_done(struct tsink *t, int rc)
{
    t->ops->stats(t->s, &t->st);
    return rc;
}

static int t_write(struct tsink *t, const char *line, size_t len)
{
    return t_done(t, t->ops->write(t->s, line, len, "grpc"));
}

static int t_flush(struct tsink *t)
{
    return t_done(t, t->ops->flush(t->s));
}

static int t_reopen(struct tsink *t)
{
    return t_done(t, t->ops->reopen(t->s));
}

static const struct gw_sink_stats *t_stats(struct tsink *t)
{
    t_done(t, 0);
    return &t->st;
}

static uint64_t t_pending(struct tsink *t)
{
    return t_stats(t)->pending;
}

static void t_close(struct tsink *t)
{
    t->ops->close(t->s);
    free(t);
}

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
    snprintf(path, len, "/tmp/gw_test_sink_XXXXXX");
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

static struct tsink *open_ok(const char *path)
{
    char err[256];
    struct tsink *o = t_open(&gw_sink_json, path, err, sizeof err);
    ck_assert_msg(o != NULL, "open json:%s: %s", path, err);
    return o;
}

START_TEST(many_records_exact_content)
{
    char path[64], line[512];
    struct expect e = { 0 };
    temp_path(path, sizeof path);
    struct tsink *o = open_ok(path);
    for (unsigned i = 0; i < 5000; i++) { /* ~800 KB: the buffer fills many times */
        size_t n = make_line(line, sizeof line, i);
        ck_assert_int_eq(t_write(o, line, n), GW_OK);
        expect_add(&e, line, n);
    }
    const struct gw_sink_stats *st = t_stats(o);
    ck_assert_uint_eq(st->records, 5000);
    ck_assert_uint_eq(st->write_errors, 0);
    ck_assert_uint_eq(st->dropped_records, 0);
    ck_assert_uint_lt(st->bytes, e.len); /* the tail is still buffered */
    ck_assert_int_eq(t_flush(o), GW_OK);
    ck_assert_uint_eq(st->bytes, e.len);
    t_close(o);
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
        struct tsink *o = open_ok(path);
        ck_assert_int_eq(t_write(o, "{\"a\":1}\n", 8), GW_OK);
        t_close(o);
        expect_add(&e, "{\"a\":1}\n", 8);
    }
    assert_file_is(path, &e);
    unlink(path);
    free(e.p);

    /* a new file is created 0640 (less the umask) */
    temp_path(path, sizeof path);
    unlink(path);
    mode_t old = umask(0);
    struct tsink *o = open_ok(path);
    umask(old);
    t_close(o);
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
    struct tsink *o = open_ok(path);
    ck_assert_int_eq(t_write(o, "1\n", 2), GW_OK);
    expect_add(&e, "1\n", 2);
    ck_assert_int_eq(t_write(o, line, big), GW_OK);
    expect_add(&e, line, big);
    ck_assert_int_eq(t_write(o, "2\n", 2), GW_OK);
    expect_add(&e, "2\n", 2);
    /* exactly the buffer size also fits */
    size_t exact = 64 * 1024;
    line[exact - 1] = '\n';
    ck_assert_int_eq(t_write(o, line, exact), GW_OK);
    expect_add(&e, line, exact);
    ck_assert_uint_eq(t_stats(o)->records, 4);
    t_close(o);
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
    struct tsink *o = open_ok(path);
    ck_assert_int_eq(t_write(o, "{}", 2), GW_ERR_ARG);
    ck_assert_int_eq(t_write(o, "{}\n", 0), GW_ERR_ARG);
    ck_assert_int_eq(t_write(o, NULL, 3), GW_ERR_ARG);
    ck_assert_int_eq(gw_sink_json.write(NULL, "{}\n", 3, "grpc"), GW_ERR_ARG);
    ck_assert_uint_eq(t_stats(o)->records, 0);
    t_close(o);
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
    struct tsink *o = open_ok("/dev/full");
    int ok = 0, io = 0;
    for (unsigned i = 0; i < 2000; i++) { /* ~300 KB: far more than the buffer */
        size_t n = make_line(line, sizeof line, i);
        int rc = t_write(o, line, n);
        ck_assert(rc == GW_OK || rc == GW_ERR_IO);
        if (rc == GW_OK) ok++;
        else io++;
    }
    const struct gw_sink_stats *st = t_stats(o);
    ck_assert_int_gt(ok, 0);
    ck_assert_int_gt(io, 0);
    ck_assert_uint_eq(st->records, (uint64_t)ok);
    ck_assert_uint_eq(st->dropped_records, (uint64_t)io);
    /* the first failure stalls the sink: later records are refused without
     * another write(2) until a flush retries */
    ck_assert_uint_eq(st->write_errors, 1);
    ck_assert_uint_eq(st->bytes, 0);
    ck_assert_uint_eq(t_pending(o), (uint64_t)ok);
    ck_assert_int_eq(t_flush(o), GW_ERR_IO);
    ck_assert_uint_eq(st->retries, 1);
    ck_assert_uint_eq(st->write_errors, 2);
    ck_assert_uint_eq(st->reconnects, 0);

    /* a huge line is dropped as a whole */
    size_t big = 100 * 1024;
    char *huge = malloc(big);
    ck_assert_ptr_nonnull(huge);
    memset(huge, '1', big);
    huge[big - 1] = '\n';
    uint64_t dropped = st->dropped_records;
    ck_assert_int_eq(t_write(o, huge, big), GW_ERR_IO);
    ck_assert_uint_eq(st->dropped_records, dropped + 1);
    free(huge);
    t_close(o);
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
    struct tsink *o = open_ok(path);
    void (*old)(int) = signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
    lim = saved;
    lim.rlim_cur = limit;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);

    uint64_t io = 0;
    for (unsigned i = 0; i < 2000; i++) {
        size_t n = make_line(line, sizeof line, i);
        int rc = t_write(o, line, n);
        if (rc == GW_OK) expect_add(&e, line, n);
        else io++;
    }
    ck_assert_int_eq(t_flush(o), GW_ERR_IO);
    const struct gw_sink_stats *st = t_stats(o);
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
    ck_assert_int_eq(t_flush(o), GW_OK);
    ck_assert_uint_eq(st->bytes, e.len);
    t_close(o);
    assert_file_is(path, &e);
    unlink(path);
    free(e.p);
}
END_TEST

/* A pipe whose reader went away: EPIPE (SIGPIPE ignored as main does). */
START_TEST(failing_sink_closed_pipe)
{
    char dir[64], fifo[96];
    snprintf(dir, sizeof dir, "/tmp/gw_test_sink_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);

    int rd = open(fifo, O_RDONLY | O_NONBLOCK);
    ck_assert_int_ge(rd, 0);
    struct tsink *o = open_ok(fifo);
    close(rd);
    ck_assert_int_eq(t_write(o, "{}\n", 3), GW_OK); /* buffered */
    ck_assert_int_eq(t_flush(o), GW_ERR_IO);
    ck_assert_uint_ge(t_stats(o)->write_errors, 1);
    ck_assert_uint_eq(t_stats(o)->bytes, 0);
    t_close(o);

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
    struct tsink *o = t_open(&gw_sink_json, "-", err, sizeof err);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(t_write(o, "{\"x\":1}\n", 8), GW_OK);
    t_close(o);
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

/* Targets a kind can not open: the reasons, the path limits, and error
 * buffers that are small or absent. (Unknown schemes: test_router.c.) */
START_TEST(open_errors)
{
    char err[256], want[256];
    ck_assert_ptr_null(t_open(&gw_sink_json, "/nonexistent-dir-gw/out.json", err, sizeof err));
    snprintf(want, sizeof want, "cannot open /nonexistent-dir-gw/out.json: %s", strerror(ENOENT));
    ck_assert_str_eq(err, want);

    ck_assert_ptr_null(t_open(&gw_sink_json, "/tmp", err, sizeof err)); /* a directory */
    snprintf(want, sizeof want, "cannot open /tmp: %s", strerror(EISDIR));
    ck_assert_str_eq(err, want);

    /* sockets: the path must fit sun_path (108 bytes with its NUL) and
     * someone must listen when the sink opens */
    char path5k[5000];
    snprintf(path5k, sizeof path5k, "/%0107d", 0); /* 108-byte path */
    ck_assert_ptr_null(t_open(&gw_sink_unix, path5k, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "output path too long (at most 107 bytes)"));
    ck_assert_ptr_null(t_open(&gw_sink_unixgram, path5k, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "output path too long (at most 107 bytes)"));
    snprintf(path5k, sizeof path5k, "/%04095d", 0); /* 4096-byte path */
    ck_assert_ptr_null(t_open(&gw_sink_json, path5k, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "output path too long (at most 4095 bytes)"));
    ck_assert_ptr_null(t_open(&gw_sink_unix, "/nonexistent-dir-gw/s", err, sizeof err));
    snprintf(want, sizeof want, "cannot connect to /nonexistent-dir-gw/s: %s", strerror(ENOENT));
    ck_assert_str_eq(err, want);
    char path[64];
    temp_path(path, sizeof path); /* a regular file is not a socket */
    ck_assert_ptr_null(t_open(&gw_sink_unixgram, path, err, sizeof err));
    snprintf(want, sizeof want, "cannot connect to %s: %s", path, strerror(ECONNREFUSED));
    ck_assert_str_eq(err, want);
    unlink(path);

    /* a tiny error buffer is truncated, never overrun */
    char tiny[8];
    memset(tiny, 'z', sizeof tiny);
    ck_assert_ptr_null(t_open(&gw_sink_json, "/nonexistent-dir-gw/x", tiny, 4));
    ck_assert_str_eq(tiny, "can");
    ck_assert_int_eq(tiny[4], 'z');
    ck_assert_ptr_null(t_open(&gw_sink_json, "/nonexistent-dir-gw/x", NULL, 0));
}
END_TEST

/* The ops tables name their schemes and are complete. */
START_TEST(ops_tables)
{
    const struct gw_sink_ops *kinds[] = { &gw_sink_json, &gw_sink_unix, &gw_sink_unixgram };
    const char *schemes[] = { "json", "unix", "unixgram" };
    for (size_t i = 0; i < 3; i++) {
        ck_assert_str_eq(kinds[i]->scheme, schemes[i]);
        ck_assert(kinds[i]->open && kinds[i]->write && kinds[i]->flush && kinds[i]->reopen &&
                  kinds[i]->close && kinds[i]->stats);
    }
    /* not a line: refused by every kind's write without counting */
    ck_assert_int_eq(gw_sink_unix.write(NULL, "{}\n", 3, "grpc"), GW_ERR_ARG);
    ck_assert_int_eq(gw_sink_unixgram.flush(NULL), GW_ERR_ARG);
}
END_TEST

/* A file at its size limit stalls the sink: no write(2) until a flush
 * retries. (The limit is not 0: Check itself writes small files.) */
START_TEST(stalled_sink_waits_for_flush)
{
    char path[64], line[512];
    struct rlimit saved, lim;
    const off_t limit = 100000;
    temp_path(path, sizeof path);
    ck_assert_int_eq(truncate(path, limit), 0);
    struct tsink *o = open_ok(path);
    void (*old)(int) = signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
    lim = saved;
    lim.rlim_cur = (rlim_t)limit; /* every append fails with EFBIG */
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);

    /* the file will hold its `limit` zero bytes, then the accepted lines */
    struct expect e = { 0 };
    char *zeros = calloc(1, (size_t)limit);
    ck_assert_ptr_nonnull(zeros);
    expect_add(&e, zeros, (size_t)limit);
    free(zeros);

    const struct gw_sink_stats *st = t_stats(o);
    unsigned i = 0;
    int rc = GW_OK;
    while (rc == GW_OK) { /* fill the buffer until a write is tried */
        size_t n = make_line(line, sizeof line, i++);
        rc = t_write(o, line, n);
        ck_assert_uint_eq(st->write_errors, rc == GW_OK ? 0 : 1);
        if (rc == GW_OK) expect_add(&e, line, n);
        ck_assert_uint_lt(i, 1000);
    }
    uint64_t refused = 1;
    for (unsigned k = 0; k < 100; k++) { /* shorter lines may still fit */
        size_t n = make_line(line, sizeof line, i++);
        if (t_write(o, line, n) == GW_OK) expect_add(&e, line, n);
        else refused++;
    }
    ck_assert_uint_gt(refused, 50);
    ck_assert_uint_eq(st->write_errors, 1); /* no syscall while stalled */
    ck_assert_uint_eq(st->dropped_records, refused);
    ck_assert_uint_eq(t_pending(o), st->records);

    for (unsigned k = 1; k <= 3; k++) { /* each flush retries once */
        ck_assert_int_eq(t_flush(o), GW_ERR_IO);
        ck_assert_uint_eq(st->retries, k);
        ck_assert_uint_eq(st->write_errors, 1 + k);
    }
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, old);
    ck_assert_int_eq(t_flush(o), GW_OK);
    ck_assert_uint_eq(st->retries, 4);
    ck_assert_uint_eq(t_pending(o), 0);
    ck_assert_uint_eq(st->bytes, e.len - (size_t)limit);
    t_close(o);
    assert_file_is(path, &e);
    unlink(path);
    free(e.p);
}
END_TEST

/* Returns the number of a line made by make_line, or -1 if the bytes are
 * not exactly such a line. */
static long line_number(const char *p, size_t len)
{
    char head[64], copy[24];
    unsigned i;
    if (len < 12) return -1;
    memcpy(copy, p, GW_MIN(len, sizeof copy - 1)); /* p is not a string */
    copy[GW_MIN(len, sizeof copy - 1)] = '\0';
    if (sscanf(copy, "{\"n\":%u,", &i) != 1) return -1;
    int h = snprintf(head, sizeof head, "{\"n\":%u,\"pad\":\"", i);
    size_t pad = (i * 37u) % 300u;
    if ((size_t)h + pad + 3 != len || memcmp(p, head, (size_t)h) != 0) return -1;
    for (size_t k = 0; k < pad; k++)
        if (p[h + (int)k] != 'a' + (char)(i % 26)) return -1;
    return memcmp(p + h + pad, "\"}\n", 3) == 0 ? (long)i : -1;
}

/* Checks that buf[0..len) is whole make_line lines numbered first, first+1,
 * ...; returns how many. */
static size_t assert_consecutive_lines(const char *buf, size_t len, long first)
{
    size_t count = 0, off = 0;
    while (off < len) {
        const char *nl = memchr(buf + off, '\n', len - off);
        ck_assert_msg(nl != NULL, "torn line at byte %zu", off);
        size_t n = (size_t)(nl - (buf + off)) + 1;
        ck_assert_int_eq(line_number(buf + off, n), first + (long)count);
        count++;
        off += n;
    }
    return count;
}

static int unix_listener(const char *path, int type)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    ck_assert_uint_lt(strlen(path), sizeof sa.sun_path);
    strcpy(sa.sun_path, path);
    unlink(path);
    int fd = socket(AF_UNIX, type, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    if (type == SOCK_STREAM) ck_assert_int_eq(listen(fd, 4), 0);
    return fd;
}

static int accept_now(int listener)
{
    int fd = accept(listener, NULL, NULL); /* the sink connected already */
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    return fd;
}

/* Reads what is queued on a non-blocking socket. */
static char *read_available(int fd, size_t *len)
{
    size_t cap = 1 << 16;
    char *p = malloc(cap);
    ck_assert_ptr_nonnull(p);
    *len = 0;
    for (;;) {
        if (*len == cap) {
            cap *= 2;
            p = realloc(p, cap);
            ck_assert_ptr_nonnull(p);
        }
        ssize_t r = read(fd, p + *len, cap - *len);
        if (r <= 0) break;
        *len += (size_t)r;
    }
    return p;
}

static void sleep_ms(long ms)
{
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {}
}

static struct tsink *open_socket_ok(const char *kind, const char *path)
{
    char err[256];
    const struct gw_sink_ops *ops = strcmp(kind, "unix") == 0 ? &gw_sink_unix : &gw_sink_unixgram;
    struct tsink *o = t_open(ops, path, err, sizeof err);
    ck_assert_msg(o != NULL, "open %s:%s: %s", kind, path, err);
    return o;
}

START_TEST(unix_stream_exact_content)
{
    char dir[64], sock[96], line[512];
    struct expect e = { 0 };
    snprintf(dir, sizeof dir, "/tmp/gw_test_sink_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(sock, sizeof sock, "%s/s", dir);
    int lfd = unix_listener(sock, SOCK_STREAM);
    struct tsink *o = open_socket_ok("unix", sock);
    int peer = accept_now(lfd);
    for (unsigned i = 0; i < 100; i++) {
        size_t n = make_line(line, sizeof line, i);
        ck_assert_int_eq(t_write(o, line, n), GW_OK);
        expect_add(&e, line, n);
    }
    ck_assert_int_eq(t_flush(o), GW_OK);
    size_t got_len;
    char *got = read_available(peer, &got_len);
    ck_assert_uint_eq(got_len, e.len);
    ck_assert(memcmp(got, e.p, e.len) == 0);
    ck_assert_uint_eq(t_stats(o)->bytes, e.len);
    ck_assert_uint_eq(t_stats(o)->write_errors, 0);
    free(got);
    t_close(o);
    close(peer);
    close(lfd);
    unlink(sock);
    rmdir(dir);
    free(e.p);
}
END_TEST

/* The reader stops reading (the sink buffers, then drops), then goes away
 * (EPIPE: the sink closes the socket), then a new connection is accepted:
 * at most one connect per second, and the new connection starts on a line
 * boundary with the line after the last one the old reader saw whole. */
START_TEST(unix_stream_reconnect)
{
    char dir[64], sock[96], line[512];
    snprintf(dir, sizeof dir, "/tmp/gw_test_sink_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(sock, sizeof sock, "%s/s", dir);
    int lfd = unix_listener(sock, SOCK_STREAM);
    struct tsink *o = open_socket_ok("unix", sock);
    const struct gw_sink_stats *st = t_stats(o);
    int peer = accept_now(lfd);

    unsigned i = 0;
    while (st->dropped_records == 0) { /* socket buffer and sink buffer full */
        size_t n = make_line(line, sizeof line, i++);
        t_write(o, line, n);
        ck_assert_uint_lt(i, 100000);
    }
    ck_assert_uint_gt(st->write_errors, 0); /* EAGAIN */
    ck_assert_int_eq(t_flush(o), GW_ERR_IO);

    /* the old reader gets whole lines 0..k-1 and maybe the head of line k */
    size_t old_len;
    char *old = read_available(peer, &old_len);
    ck_assert_uint_eq(old_len, st->bytes);
    size_t whole = old_len;
    while (whole > 0 && old[whole - 1] != '\n') whole--;
    size_t k = assert_consecutive_lines(old, whole, 0);
    bool torn = whole < old_len;
    free(old);
    close(peer);

    close(lfd); /* the reader is gone entirely */
    unlink(sock);

    uint64_t dropped = st->dropped_records;
    uint64_t pending = t_pending(o);
    ck_assert_int_eq(t_flush(o), GW_ERR_IO); /* EPIPE: disconnected */
    ck_assert_uint_eq(t_pending(o), pending - (torn ? 1 : 0));
    ck_assert_uint_eq(st->dropped_records, dropped + (torn ? 1 : 0));
    pending = t_pending(o);

    /* a connect fails now (a reopen forces one); within the second after
     * it, neither a flush nor a write tries again */
    ck_assert_int_eq(t_reopen(o), GW_ERR_IO);
    ck_assert_int_eq(t_flush(o), GW_ERR_IO);
    ck_assert_uint_eq(st->reconnects, 0);
    ck_assert_uint_eq(st->retries, 0);
    uint64_t errors = st->write_errors;
    size_t n = make_line(line, sizeof line, i);
    ck_assert_int_eq(t_write(o, line, n), GW_ERR_IO); /* buffer still full */
    ck_assert_uint_eq(st->write_errors, errors);            /* and no send() tried */
    ck_assert_uint_eq(st->retries, 0);

    lfd = unix_listener(sock, SOCK_STREAM); /* the reader is back */
    sleep_ms(1050);
    ck_assert_int_eq(t_flush(o), GW_OK);
    ck_assert_uint_eq(st->reconnects, 1);
    ck_assert_uint_eq(st->retries, 1);
    peer = accept_now(lfd);
    size_t got_len;
    char *got = read_available(peer, &got_len);
    ck_assert_uint_eq(assert_consecutive_lines(got, got_len, (long)(k + (torn ? 1 : 0))), pending);
    free(got);

    t_close(o);
    close(peer);
    close(lfd);
    unlink(sock);
    rmdir(dir);
}
END_TEST

/* unixgram: one datagram per line; a receiver that goes away and is
 * replaced is reconnected; a line too large for a datagram is dropped. */
START_TEST(unix_dgram)
{
    char dir[64], sock[96], line[512], got[1024];
    snprintf(dir, sizeof dir, "/tmp/gw_test_sink_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(sock, sizeof sock, "%s/d", dir);
    int rx = unix_listener(sock, SOCK_DGRAM);
    struct tsink *o = open_socket_ok("unixgram", sock);
    const struct gw_sink_stats *st = t_stats(o);
    for (unsigned i = 0; i < 3; i++) {
        size_t n = make_line(line, sizeof line, i);
        ck_assert_int_eq(t_write(o, line, n), GW_OK);
    }
    ck_assert_int_eq(t_flush(o), GW_OK);
    for (unsigned i = 0; i < 3; i++) {
        ssize_t r = recv(rx, got, sizeof got, MSG_DONTWAIT);
        ck_assert_int_gt(r, 0);
        ck_assert_int_eq(line_number(got, (size_t)r), (long)i);
    }
    ck_assert_int_eq(recv(rx, got, sizeof got, MSG_DONTWAIT), -1);

    /* a datagram larger than the socket can ever send */
    size_t big = 4u << 20;
    char *huge = malloc(big);
    ck_assert_ptr_nonnull(huge);
    memset(huge, 'x', big);
    huge[big - 1] = '\n';
    ck_assert_int_eq(t_write(o, huge, big), GW_ERR_IO);
    ck_assert_uint_eq(st->dropped_records, 1);
    free(huge);

    /* the receiver is replaced */
    close(rx);
    rx = unix_listener(sock, SOCK_DGRAM);
    size_t n = make_line(line, sizeof line, 3);
    ck_assert_int_eq(t_write(o, line, n), GW_OK);
    ck_assert_int_eq(t_flush(o), GW_ERR_IO); /* ECONNREFUSED: disconnected */
    ck_assert_uint_eq(st->reconnects, 0);
    sleep_ms(1050);
    ck_assert_int_eq(t_flush(o), GW_OK);
    ck_assert_uint_eq(st->reconnects, 1);
    ssize_t r = recv(rx, got, sizeof got, MSG_DONTWAIT);
    ck_assert_int_eq(line_number(got, (size_t)r), 3);
    ck_assert_uint_eq(st->records, 4);
    ck_assert_uint_eq(st->dropped_records, 1);

    t_close(o);
    close(rx);
    unlink(sock);
    rmdir(dir);
}
END_TEST

/* Log rotation: what was accepted before the reopen ends in the old file,
 * what comes after in the new one. */
START_TEST(reopen_rotates)
{
    char dir[64], path[96], rotated[96];
    snprintf(dir, sizeof dir, "/tmp/gw_test_sink_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/eve.json", dir);
    snprintf(rotated, sizeof rotated, "%s/eve.json.1", dir);
    struct tsink *o = open_ok(path);
    ck_assert_int_eq(t_write(o, "1\n", 2), GW_OK);
    ck_assert_int_eq(t_flush(o), GW_OK);
    ck_assert_int_eq(rename(path, rotated), 0);
    ck_assert_int_eq(t_write(o, "2\n", 2), GW_OK); /* buffered: old file */
    ck_assert_int_eq(t_reopen(o), GW_OK);
    ck_assert_int_eq(t_write(o, "3\n", 2), GW_OK);
    ck_assert_uint_eq(t_stats(o)->reconnects, 1);
    t_close(o);

    struct expect e_old = { 0 }, e_new = { 0 };
    expect_add(&e_old, "1\n2\n", 4);
    expect_add(&e_new, "3\n", 2);
    assert_file_is(rotated, &e_old);
    assert_file_is(path, &e_new);
    unlink(path);
    unlink(rotated);
    rmdir(dir);
    free(e_old.p);
    free(e_new.p);

    /* standard output: nothing to reopen */
    o = t_open(&gw_sink_json, "-", NULL, 0);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(t_reopen(o), GW_OK);
    ck_assert_uint_eq(t_stats(o)->reconnects, 0);
    t_close(o);
    ck_assert_int_eq(gw_sink_json.reopen(NULL), GW_ERR_ARG);
}
END_TEST

/* A reopen that fails keeps writing to the old file and is retried by a
 * flush at most once per second until it works. */
START_TEST(reopen_retried)
{
    char dir[64], sub[96], path[128], moved[128];
    snprintf(dir, sizeof dir, "/tmp/gw_test_sink_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/logs", dir);
    snprintf(path, sizeof path, "%s/eve.json", sub);
    snprintf(moved, sizeof moved, "%s/old.json", dir);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    struct tsink *o = open_ok(path);
    const struct gw_sink_stats *st = t_stats(o);
    ck_assert_int_eq(rename(path, moved), 0);
    ck_assert_int_eq(rmdir(sub), 0); /* the path cannot be created now */

    ck_assert_int_eq(t_reopen(o), GW_ERR_IO);
    ck_assert_int_eq(t_write(o, "1\n", 2), GW_OK);
    ck_assert_int_eq(t_flush(o), GW_OK); /* to the old file */
    ck_assert_uint_eq(st->retries, 0);           /* too soon to try again */
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    sleep_ms(1050);
    ck_assert_int_eq(t_write(o, "2\n", 2), GW_OK); /* still for the old file */
    ck_assert_int_eq(t_flush(o), GW_OK);
    ck_assert_uint_eq(st->retries, 1);
    ck_assert_uint_eq(st->reconnects, 1);
    ck_assert_int_eq(t_write(o, "3\n", 2), GW_OK);
    t_close(o);

    struct expect e_old = { 0 }, e_new = { 0 };
    expect_add(&e_old, "1\n2\n", 4);
    expect_add(&e_new, "3\n", 2);
    assert_file_is(moved, &e_old);
    assert_file_is(path, &e_new);
    unlink(path);
    unlink(moved);
    rmdir(sub);
    rmdir(dir);
    free(e_old.p);
    free(e_new.p);
}
END_TEST

static Suite *sink_suite(void)
{
    Suite *s = suite_create("sink");
    TCase *tc = tcase_create("file");
    tcase_add_test(tc, many_records_exact_content);
    tcase_add_test(tc, append_preserves_content);
    tcase_add_test(tc, huge_line);
    tcase_add_test(tc, bad_lines_refused);
    tcase_add_test(tc, stdout_sink);
    tcase_add_test(tc, open_errors);
    tcase_add_test(tc, ops_tables);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, failing_sink_dev_full);
    tcase_add_test(tc, failing_sink_partial_writes);
    tcase_add_test(tc, failing_sink_closed_pipe);
    tcase_add_test(tc, stalled_sink_waits_for_flush);
    suite_add_tcase(s, tc);

    tc = tcase_create("socket");
    tcase_add_test(tc, unix_stream_exact_content);
    tcase_add_test(tc, unix_stream_reconnect);
    tcase_add_test(tc, unix_dgram);
    suite_add_tcase(s, tc);

    tc = tcase_create("reopen");
    tcase_add_test(tc, reopen_rotates);
    tcase_add_test(tc, reopen_retried);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sink_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
