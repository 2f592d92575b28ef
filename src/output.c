/*
 * output.c - the JSON-lines sink: stdout ("json:-"), a file opened for
 * append ("json:PATH"), or a unix socket ("unix:PATH" stream,
 * "unixgram:PATH" one datagram per line).
 *
 * Invariants:
 *  - One buffer of GW_OUTPUT_BUF bytes per sink, allocated at open; nothing
 *    is allocated per record.
 *  - Bytes leave in the order they were accepted: buf[0..len) is always the
 *    oldest unwritten data and holds whole lines, except that its first
 *    line may be the rest of a line partly written (`torn`). Every byte in
 *    buf belongs to a line that ends with '\n' inside buf.
 *  - Nothing blocks the capture loop: sockets and files are O_NONBLOCK
 *    (stdout is left as the caller set it up: changing it would change the
 *    file description the shell shares); EINTR is retried, partial writes
 *    continue, and any other failure is counted in write_errors with the
 *    unwritten bytes kept in buf. What happens next depends on the error:
 *      EAGAIN             nothing: the next write that needs room retries;
 *      a lost peer        (sockets: EPIPE, ECONNREFUSED, ...) the socket is
 *                         closed (fd = -1) and reconnected by a later flush
 *                         or write, at most once per GW_OUTPUT_RETRY_MS;
 *      anything else      (ENOSPC, EFBIG, EIO, ...) the sink is `stalled`:
 *                         no write(2) at all until the next flush retries,
 *                         so a full disk costs one syscall per flush, not
 *                         one per record.
 *    Meanwhile lines are buffered while they fit and dropped (counted)
 *    beyond.
 *  - A new connection or a reopened file starts on a line boundary: the
 *    rest of a torn line is dropped (counted) rather than sent to a reader
 *    that never saw its beginning.
 *  - SIGPIPE: sockets use MSG_NOSIGNAL; main() also ignores SIGPIPE so a
 *    closed stdout pipe or fifo shows up as EPIPE (a stalled sink).
 *  - Stats: records counts lines accepted, bytes what the sink really took,
 *    write_errors failed write(2)/send(2) calls, dropped_records lines lost,
 *    reconnects new descriptors after the first, retries what was tried
 *    again after a failure (writes by a flush, connects/opens).
 */
#include "grpcwatch/output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define GW_OUTPUT_BUF (64 * 1024)
#define GW_OUTPUT_PATH_MAX 4096    /* longest json:PATH accepted */
#define GW_OUTPUT_RETRY_MS 1000    /* at most one reconnect per second */
#define SUN_PATH_SIZE sizeof(((struct sockaddr_un){ 0 }).sun_path)

enum sink_kind { SINK_STDOUT, SINK_FILE, SINK_STREAM, SINK_DGRAM };

/* What one attempt to hand bytes to the sink came to. */
enum push_result {
    PUSH_DONE,    /* everything taken */
    PUSH_AGAIN,   /* EAGAIN: the reader is slow, try again later */
    PUSH_STALL,   /* a hard error: wait for the next flush */
    PUSH_GONE,    /* the socket's peer went away: reconnect */
    PUSH_TOOBIG   /* this datagram can never be sent: drop it */
};

struct gw_output {
    enum sink_kind kind;
    int fd;                 /* -1 while a socket waits for a reconnect */
    bool stalled;           /* a hard write error: no write until the next flush */
    bool torn;              /* buf starts with the rest of a partly written line */
    bool reopen_pending;    /* a new descriptor is wanted though fd still works */
    int64_t last_try_ms;    /* CLOCK_MONOTONIC of the last open/connect */
    size_t len;             /* bytes waiting in buf */
    struct gw_output_stats stats;
    char path[GW_OUTPUT_PATH_MAX];
    char buf[GW_OUTPUT_BUF];
};

static const struct {
    const char *prefix;
    enum sink_kind kind;
} sink_prefixes[] = {
    { "json:", SINK_FILE },
    { "unix:", SINK_STREAM },
    { "unixgram:", SINK_DGRAM },
};

__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0) return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int64_t monotonic_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static bool is_socket(const struct gw_output *o)
{
    return o->kind == SINK_STREAM || o->kind == SINK_DGRAM;
}

/* Splits spec into kind and path (copied into o->path). */
static bool parse_spec(struct gw_output *o, const char *spec, char *err, size_t errlen)
{
    for (size_t i = 0; spec && i < GW_ARRAY_LEN(sink_prefixes); i++) {
        size_t plen = strlen(sink_prefixes[i].prefix);
        if (strncmp(spec, sink_prefixes[i].prefix, plen) != 0 || spec[plen] == '\0') continue;
        const char *path = spec + plen;
        size_t max = sink_prefixes[i].kind == SINK_FILE ? sizeof o->path : SUN_PATH_SIZE;
        if (strlen(path) >= max) {
            set_err(err, errlen, "output path too long (at most %zu bytes): %.64s...", max - 1, path);
            return false;
        }
        o->kind = sink_prefixes[i].kind;
        if (o->kind == SINK_FILE && strcmp(path, "-") == 0) o->kind = SINK_STDOUT;
        memcpy(o->path, path, strlen(path) + 1);
        return true;
    }
    set_err(err, errlen,
            "unknown output '%s' (expected json:-, json:PATH, unix:PATH or unixgram:PATH)",
            spec ? spec : "(null)");
    return false;
}

static int connect_unix(const char *path, int type)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1); /* length checked by parse_spec */
    int fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    /* A unix-domain connect completes at once or fails (EAGAIN when the
     * listener's backlog is full): there is no connect in progress to
     * wait for, so every failure is simply retried later. */
    if (connect(fd, (const struct sockaddr *)&sa, sizeof sa) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* Opens a new descriptor for the sink's path; -1 with errno on failure. */
static int open_sink_fd(const struct gw_output *o)
{
    switch (o->kind) {
    case SINK_STDOUT:
        return STDOUT_FILENO;
    case SINK_FILE:
        /* O_NONBLOCK: a fifo must never stall the capture loop (and must
         * have a reader when opened); regular files ignore it. */
        return open(o->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                    0640);
    case SINK_STREAM:
        return connect_unix(o->path, SOCK_STREAM);
    case SINK_DGRAM:
        return connect_unix(o->path, SOCK_DGRAM);
    }
    errno = EINVAL;
    return -1;
}

struct gw_output *gw_output_open(const char *spec, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    struct gw_output *o = calloc(1, sizeof *o);
    if (!o) {
        set_err(err, errlen, "cannot open output: %s", strerror(ENOMEM));
        return NULL;
    }
    if (!parse_spec(o, spec, err, errlen)) {
        free(o);
        return NULL;
    }
    o->last_try_ms = monotonic_ms();
    o->fd = open_sink_fd(o);
    if (o->fd < 0) {
        set_err(err, errlen, "cannot %s %s: %s", is_socket(o) ? "connect to" : "open", o->path,
                strerror(errno));
        free(o);
        return NULL;
    }
    return o;
}

static void discard_front(struct gw_output *o, size_t n)
{
    memmove(o->buf, o->buf + n, o->len - n);
    o->len -= n;
}

/* Bytes of the first line in buf, its '\n' included. */
static size_t first_line_len(const struct gw_output *o)
{
    const char *nl = memchr(o->buf, '\n', o->len);
    return nl ? (size_t)(nl - o->buf) + 1 : o->len;
}

/* A new descriptor must start on a line boundary. */
static void drop_torn_line(struct gw_output *o)
{
    if (!o->torn) return;
    o->torn = false;
    discard_front(o, first_line_len(o));
    o->stats.dropped_records++;
}

static void disconnect(struct gw_output *o)
{
    close(o->fd);
    o->fd = -1;
    drop_torn_line(o);
}

static bool is_again(int err)
{
#if EWOULDBLOCK != EAGAIN
    if (err == EWOULDBLOCK) return true;
#endif
    return err == EAGAIN;
}

static bool is_peer_gone(int err)
{
    return err == EPIPE || err == ECONNRESET || err == ENOTCONN || err == ECONNREFUSED ||
           err == EDESTADDRREQ;
}

/* Counts one failed write and says what to do about it. */
static enum push_result classify_failure(struct gw_output *o, int err)
{
    o->stats.write_errors++;
    if (is_again(err)) return PUSH_AGAIN;
    if (is_socket(o) && is_peer_gone(err)) return PUSH_GONE;
    return PUSH_STALL;
}

static ssize_t sink_write(const struct gw_output *o, const char *p, size_t n)
{
    if (is_socket(o)) return send(o->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    return write(o->fd, p, n);
}

/* Hands p[0..n) to a byte sink (file, stdout, stream socket), continuing
 * partial writes; *done gets the bytes taken. */
static enum push_result push_bytes(struct gw_output *o, const char *p, size_t n, size_t *done)
{
    enum push_result r = PUSH_DONE;
    *done = 0;
    while (*done < n) {
        ssize_t w = sink_write(o, p + *done, n - *done);
        if (w > 0) {
            *done += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else {
            r = classify_failure(o, w < 0 ? errno : EIO); /* a 0-byte write: stall */
            break;
        }
    }
    o->stats.bytes += *done;
    return r;
}

/* One datagram: all or nothing. */
static enum push_result push_datagram(struct gw_output *o, const char *p, size_t n)
{
    for (;;) {
        ssize_t w = send(o->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w >= 0) {
            o->stats.bytes += (size_t)w;
            return PUSH_DONE;
        }
        if (errno == EINTR) continue;
        if (errno == EMSGSIZE) {
            o->stats.write_errors++;
            return PUSH_TOOBIG;
        }
        return classify_failure(o, errno);
    }
}

static void settle(struct gw_output *o, enum push_result r)
{
    if (r == PUSH_STALL) o->stalled = true;
    else if (r == PUSH_GONE) disconnect(o);
}

static void drain_bytes(struct gw_output *o)
{
    size_t done;
    enum push_result r = push_bytes(o, o->buf, o->len, &done);
    if (done > 0) {
        o->torn = o->buf[done - 1] != '\n';
        discard_front(o, done);
    }
    settle(o, r);
}

static void drain_datagrams(struct gw_output *o)
{
    enum push_result r = PUSH_DONE;
    while (o->len > 0) {
        size_t n = first_line_len(o);
        r = push_datagram(o, o->buf, n);
        if (r == PUSH_TOOBIG) o->stats.dropped_records++;
        else if (r != PUSH_DONE) break;
        discard_front(o, n);
    }
    settle(o, r);
}

/* Writes out the buffer unless the sink is stalled or disconnected; keeps
 * what could not be written at its front. */
static int drain(struct gw_output *o)
{
    if (o->len > 0 && o->fd >= 0 && !o->stalled) {
        if (o->kind == SINK_DGRAM) drain_datagrams(o);
        else drain_bytes(o);
    }
    return o->len == 0 ? GW_OK : GW_ERR_IO;
}

/* Moves to a freshly opened descriptor. What the old one accepted before
 * stays there (best effort), then the buffer restarts on a line boundary. */
static void switch_fd(struct gw_output *o, int fd)
{
    if (o->fd >= 0) {
        drain(o);
        close(o->fd);
    }
    drop_torn_line(o);
    o->fd = fd;
    o->stalled = false;
    o->reopen_pending = false;
    o->stats.reconnects++;
}

/* Opens a new descriptor when one is wanted (a lost socket, a pending
 * reopen) and, unless forced, the last attempt is GW_OUTPUT_RETRY_MS old. */
static void reconnect_if_due(struct gw_output *o, bool forced)
{
    if (o->kind == SINK_STDOUT || (o->fd >= 0 && !o->reopen_pending)) return;
    int64_t now = monotonic_ms();
    if (!forced && now - o->last_try_ms < GW_OUTPUT_RETRY_MS) return;
    o->last_try_ms = now;
    if (!forced) o->stats.retries++;
    int fd = open_sink_fd(o);
    if (fd >= 0) switch_fd(o, fd);
}

static int drop(struct gw_output *o)
{
    o->stats.dropped_records++;
    return GW_ERR_IO;
}

/* A line larger than the buffer goes straight to the sink once the buffer
 * is empty. If the sink fails part way, the rest of the line is kept when it
 * fits the buffer; otherwise the torn line is ended with '\n' so the lines
 * after it stay parseable. */
static int write_direct(struct gw_output *o, const char *line, size_t len)
{
    if (o->fd < 0 || o->stalled) return drop(o);
    if (o->kind == SINK_DGRAM) {
        enum push_result r = push_datagram(o, line, len);
        settle(o, r);
        if (r != PUSH_DONE) return drop(o);
        o->stats.records++;
        return GW_OK;
    }
    size_t done;
    enum push_result r = push_bytes(o, line, len, &done);
    if (r == PUSH_DONE) {
        o->stats.records++;
        return GW_OK;
    }
    settle(o, r);
    if (done == 0 || r == PUSH_GONE) return drop(o); /* nothing sent, or the rest is useless */
    size_t rest = len - done;
    o->torn = true;
    if (rest <= sizeof o->buf) {
        memcpy(o->buf, line + done, rest);
        o->len = rest;
        o->stats.records++;
        return GW_OK;
    }
    o->buf[0] = '\n';
    o->len = 1;
    return drop(o);
}

int gw_output_write(struct gw_output *o, const char *line, size_t len)
{
    if (!o || !line || len == 0 || line[len - 1] != '\n') return GW_ERR_ARG;
    if (len > sizeof o->buf - o->len) {
        /* Make room; whatever was written has been freed. */
        reconnect_if_due(o, false);
        drain(o);
        if (len > sizeof o->buf) {
            if (o->len != 0) return drop(o); /* older bytes must go first */
            return write_direct(o, line, len);
        }
        if (len > sizeof o->buf - o->len) return drop(o);
    }
    memcpy(o->buf + o->len, line, len);
    o->len += len;
    o->stats.records++;
    return GW_OK;
}

int gw_output_flush(struct gw_output *o)
{
    if (!o) return GW_ERR_ARG;
    reconnect_if_due(o, false);
    if (o->stalled) {
        o->stalled = false;
        if (o->len > 0) o->stats.retries++;
    }
    return drain(o);
}

int gw_output_reopen(struct gw_output *o)
{
    if (!o) return GW_ERR_ARG;
    if (o->kind == SINK_STDOUT) return gw_output_flush(o);
    o->reopen_pending = true;
    reconnect_if_due(o, true);
    return o->reopen_pending || o->fd < 0 ? GW_ERR_IO : GW_OK;
}

uint64_t gw_output_pending(const struct gw_output *o)
{
    uint64_t n = 0;
    if (!o) return 0;
    for (const char *p = o->buf, *end = o->buf + o->len; p < end; p++) {
        p = memchr(p, '\n', (size_t)(end - p));
        if (!p) break;
        n++;
    }
    return n;
}

void gw_output_close(struct gw_output *o)
{
    if (!o) return;
    gw_output_flush(o);
    if (o->fd >= 0 && o->kind != SINK_STDOUT) close(o->fd);
    free(o);
}

const struct gw_output_stats *gw_output_stats(const struct gw_output *o)
{
    return &o->stats;
}
