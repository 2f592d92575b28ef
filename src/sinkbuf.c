/*
 * sinkbuf.c - the buffered line writer under every descriptor sink (see
 * sinkbuf.h): a file or standard output ("json"), a unix stream or datagram
 * socket ("unix", "unixgram"). The kinds differ only in their transport.
 *
 * Invariants:
 *  - One buffer of GW_SINKBUF_SIZE bytes per sink, allocated at open; nothing
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
 *                         or write, at most once per GW_SINKBUF_RETRY_MS;
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
#include "grpcwatch/sinkbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* What one attempt to hand bytes to the sink came to. */
enum push_result {
    PUSH_DONE,    /* everything taken */
    PUSH_AGAIN,   /* EAGAIN: the reader is slow, try again later */
    PUSH_STALL,   /* a hard error: wait for the next flush */
    PUSH_GONE,    /* the socket's peer went away: reconnect */
    PUSH_TOOBIG   /* this datagram can never be sent: drop it */
};

struct gw_sink {
    const struct gw_sink_transport *t;
    int fd;                 /* -1 while a socket waits for a reconnect */
    bool stalled;           /* a hard write error: no write until the next flush */
    bool torn;              /* buf starts with the rest of a partly written line */
    bool reopen_pending;    /* a new descriptor is wanted though fd still works */
    int64_t last_try_ms;    /* CLOCK_MONOTONIC of the last open/connect */
    size_t len;             /* bytes waiting in buf */
    struct gw_sink_stats stats; /* .pending is counted on demand (gw_sinkbuf_stats) */
    char path[GW_SINKBUF_PATH_MAX];
    char buf[GW_SINKBUF_SIZE];
};

static int64_t monotonic_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

struct gw_sink *gw_sinkbuf_open(const struct gw_sink_transport *t, const char *target, char *err,
                                size_t errlen)
{
    if (!err) errlen = 0; /* snprintf with size 0 writes nothing */
    if (errlen) err[0] = '\0';
    size_t max = GW_MIN(t->path_max, (size_t)GW_SINKBUF_PATH_MAX);
    size_t n = strlen(target);
    if (n >= max) {
        snprintf(err, errlen, "output path too long (at most %zu bytes): %.64s...", max - 1, target);
        return NULL;
    }
    struct gw_sink *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "cannot %s %s: %s", t->verb, target, strerror(ENOMEM));
        return NULL;
    }
    s->t = t;
    memcpy(s->path, target, n + 1);
    s->last_try_ms = monotonic_ms();
    s->fd = t->open_fd(s->path);
    if (s->fd < 0) {
        snprintf(err, errlen, "cannot %s %s: %s", t->verb, s->path, strerror(errno));
        free(s);
        return NULL;
    }
    return s;
}

static void discard_front(struct gw_sink *s, size_t n)
{
    memmove(s->buf, s->buf + n, s->len - n);
    s->len -= n;
}

/* Bytes of the first line in buf, its '\n' included. */
static size_t first_line_len(const struct gw_sink *s)
{
    const char *nl = memchr(s->buf, '\n', s->len);
    return nl ? (size_t)(nl - s->buf) + 1 : s->len;
}

/* A new descriptor must start on a line boundary. */
static void drop_torn_line(struct gw_sink *s)
{
    if (!s->torn) return;
    s->torn = false;
    discard_front(s, first_line_len(s));
    s->stats.dropped_records++;
}

static void disconnect(struct gw_sink *s)
{
    close(s->fd);
    s->fd = -1;
    drop_torn_line(s);
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
static enum push_result classify_failure(struct gw_sink *s, int err)
{
    s->stats.write_errors++;
    if (is_again(err)) return PUSH_AGAIN;
    if (s->t->socket && is_peer_gone(err)) return PUSH_GONE;
    return PUSH_STALL;
}

static ssize_t fd_write(const struct gw_sink *s, const char *p, size_t n)
{
    if (s->t->socket) return send(s->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    return write(s->fd, p, n);
}

/* Hands p[0..n) to a byte sink (file, stdout, stream socket), continuing
 * partial writes; *done gets the bytes taken. */
static enum push_result push_bytes(struct gw_sink *s, const char *p, size_t n, size_t *done)
{
    enum push_result r = PUSH_DONE;
    *done = 0;
    while (*done < n) {
        ssize_t w = fd_write(s, p + *done, n - *done);
        if (w > 0) {
            *done += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else {
            r = classify_failure(s, w < 0 ? errno : EIO); /* a 0-byte write: stall */
            break;
        }
    }
    s->stats.bytes += *done;
    return r;
}

/* One datagram: all or nothing. */
static enum push_result push_datagram(struct gw_sink *s, const char *p, size_t n)
{
    for (;;) {
        ssize_t w = send(s->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w >= 0) {
            s->stats.bytes += (size_t)w;
            return PUSH_DONE;
        }
        if (errno == EINTR) continue;
        if (errno == EMSGSIZE) {
            s->stats.write_errors++;
            return PUSH_TOOBIG;
        }
        return classify_failure(s, errno);
    }
}

static void settle(struct gw_sink *s, enum push_result r)
{
    if (r == PUSH_STALL) s->stalled = true;
    else if (r == PUSH_GONE) disconnect(s);
}

static void drain_bytes(struct gw_sink *s)
{
    size_t done;
    enum push_result r = push_bytes(s, s->buf, s->len, &done);
    if (done > 0) {
        s->torn = s->buf[done - 1] != '\n';
        discard_front(s, done);
    }
    settle(s, r);
}

static void drain_datagrams(struct gw_sink *s)
{
    enum push_result r = PUSH_DONE;
    while (s->len > 0) {
        size_t n = first_line_len(s);
        r = push_datagram(s, s->buf, n);
        if (r == PUSH_TOOBIG) s->stats.dropped_records++;
        else if (r != PUSH_DONE) break;
        discard_front(s, n);
    }
    settle(s, r);
}

/* Writes out the buffer unless the sink is stalled or disconnected; keeps
 * what could not be written at its front. */
static int drain(struct gw_sink *s)
{
    if (s->len > 0 && s->fd >= 0 && !s->stalled) {
        if (s->t->datagram) drain_datagrams(s);
        else drain_bytes(s);
    }
    return s->len == 0 ? GW_OK : GW_ERR_IO;
}

/* Moves to a freshly opened descriptor. What the old one accepted before
 * stays there (best effort), then the buffer restarts on a line boundary. */
static void switch_fd(struct gw_sink *s, int fd)
{
    if (s->fd >= 0) {
        drain(s);
        close(s->fd);
    }
    drop_torn_line(s);
    s->fd = fd;
    s->stalled = false;
    s->reopen_pending = false;
    s->stats.reconnects++;
}

/* Opens a new descriptor when one is wanted (a lost socket, a pending
 * reopen) and, unless forced, the last attempt is GW_SINKBUF_RETRY_MS old. */
static void reconnect_if_due(struct gw_sink *s, bool forced)
{
    if (s->t->borrowed_fd || (s->fd >= 0 && !s->reopen_pending)) return;
    int64_t now = monotonic_ms();
    if (!forced && now - s->last_try_ms < GW_SINKBUF_RETRY_MS) return;
    s->last_try_ms = now;
    if (!forced) s->stats.retries++;
    int fd = s->t->open_fd(s->path);
    if (fd >= 0) switch_fd(s, fd);
}

static int drop(struct gw_sink *s)
{
    s->stats.dropped_records++;
    return GW_ERR_IO;
}

/* A line larger than the buffer goes straight to the sink once the buffer
 * is empty. If the sink fails part way, the rest of the line is kept when it
 * fits the buffer; otherwise the torn line is ended with '\n' so the lines
 * after it stay parseable. */
static int write_direct(struct gw_sink *s, const char *line, size_t len)
{
    if (s->fd < 0 || s->stalled) return drop(s);
    if (s->t->datagram) {
        enum push_result r = push_datagram(s, line, len);
        settle(s, r);
        if (r != PUSH_DONE) return drop(s);
        s->stats.records++;
        return GW_OK;
    }
    size_t done;
    enum push_result r = push_bytes(s, line, len, &done);
    if (r == PUSH_DONE) {
        s->stats.records++;
        return GW_OK;
    }
    settle(s, r);
    if (done == 0 || r == PUSH_GONE) return drop(s); /* nothing sent, or the rest is useless */
    size_t rest = len - done;
    s->torn = true;
    if (rest <= sizeof s->buf) {
        memcpy(s->buf, line + done, rest);
        s->len = rest;
        s->stats.records++;
        return GW_OK;
    }
    s->buf[0] = '\n';
    s->len = 1;
    return drop(s);
}

int gw_sinkbuf_write(struct gw_sink *s, const char *line, size_t len, const char *event_type)
{
    GW_UNUSED(event_type);
    if (!s || !line || len == 0 || line[len - 1] != '\n') return GW_ERR_ARG;
    if (len > sizeof s->buf - s->len) {
        /* Make room; whatever was written has been freed. */
        reconnect_if_due(s, false);
        drain(s);
        if (len > sizeof s->buf) {
            if (s->len != 0) return drop(s); /* older bytes must go first */
            return write_direct(s, line, len);
        }
        if (len > sizeof s->buf - s->len) return drop(s);
    }
    memcpy(s->buf + s->len, line, len);
    s->len += len;
    s->stats.records++;
    return GW_OK;
}

int gw_sinkbuf_flush(struct gw_sink *s)
{
    if (!s) return GW_ERR_ARG;
    reconnect_if_due(s, false);
    if (s->stalled) {
        s->stalled = false;
        if (s->len > 0) s->stats.retries++;
    }
    return drain(s);
}

/* Log rotation (SIGHUP): what is buffered goes to the old descriptor, then
 * the path is opened again (a socket reconnects). If that fails the old
 * descriptor stays in use and later flushes retry. Standard output: a flush. */
int gw_sinkbuf_reopen(struct gw_sink *s)
{
    if (!s) return GW_ERR_ARG;
    if (s->t->borrowed_fd) return gw_sinkbuf_flush(s);
    s->reopen_pending = true;
    reconnect_if_due(s, true);
    return s->reopen_pending || s->fd < 0 ? GW_ERR_IO : GW_OK;
}

/* Lines accepted but not (entirely) written yet: one per '\n' in buf. */
static uint64_t pending_lines(const struct gw_sink *s)
{
    uint64_t n = 0;
    for (const char *p = s->buf, *end = s->buf + s->len; p < end; p++) {
        p = memchr(p, '\n', (size_t)(end - p));
        if (!p) break;
        n++;
    }
    return n;
}

void gw_sinkbuf_close(struct gw_sink *s)
{
    if (!s) return;
    gw_sinkbuf_flush(s);
    if (s->fd >= 0 && !s->t->borrowed_fd) close(s->fd);
    free(s);
}

void gw_sinkbuf_stats(const struct gw_sink *s, struct gw_sink_stats *out)
{
    *out = s->stats;
    out->pending = pending_lines(s);
}
