/*
 * output.c - the JSON-lines sink: stdout ("json:-") or a file opened for
 * append ("json:PATH").
 *
 * Invariants:
 *  - One buffer of GW_OUTPUT_BUF bytes per sink, allocated at open; nothing
 *    is allocated per record.
 *  - Bytes leave in the order they were accepted: buf[0..len) is always the
 *    oldest unwritten data, and a line is either taken whole (appended, or
 *    written directly) or refused whole and counted in dropped_records.
 *  - A write never blocks the capture loop for longer than write(2) itself
 *    takes and never aborts: EINTR is retried, partial writes continue,
 *    any other failure (EAGAIN, ENOSPC, EPIPE, ...) is counted in
 *    write_errors and the unwritten bytes stay buffered for a later retry.
 *  - SIGPIPE: main() ignores SIGPIPE, so a closed pipe shows up here as
 *    EPIPE and is handled as any other write error.
 *  - Stats: records/bytes count lines accepted and bytes that write(2)
 *    really took; write_errors counts failed write(2) calls.
 */
#include "grpcwatch/output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GW_OUTPUT_BUF (64 * 1024)

struct gw_output {
    int fd;
    bool owns_fd;            /* false for stdout: never closed here */
    size_t len;              /* bytes waiting in buf */
    struct gw_output_stats stats;
    char buf[GW_OUTPUT_BUF];
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

struct gw_output *gw_output_open(const char *spec, char *err, size_t errlen)
{
    static const char prefix[] = "json:";
    const size_t plen = sizeof prefix - 1;

    if (err && errlen) err[0] = '\0';
    if (!spec || strncmp(spec, prefix, plen) != 0 || spec[plen] == '\0') {
        set_err(err, errlen, "unknown output '%s' (expected json:- or json:PATH)",
                spec ? spec : "(null)");
        return NULL;
    }
    const char *path = spec + plen;
    int fd = STDOUT_FILENO;
    bool owns = strcmp(path, "-") != 0;
    if (owns) {
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0) {
            set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
            return NULL;
        }
    }
    struct gw_output *o = calloc(1, sizeof *o);
    if (!o) {
        if (owns) close(fd);
        set_err(err, errlen, "cannot open %s: %s", path, strerror(ENOMEM));
        return NULL;
    }
    o->fd = fd;
    o->owns_fd = owns;
    return o;
}

/* Writes p[0..n) with write(2), retrying EINTR and continuing partial
 * writes. Returns the bytes written; fewer than n means an error (counted). */
static size_t write_all(struct gw_output *o, const char *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(o->fd, p + done, n - done);
        if (w > 0) {
            done += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else {
            o->stats.write_errors++; /* EAGAIN, EPIPE, ENOSPC, or a 0-byte write */
            break;
        }
    }
    o->stats.bytes += done;
    return done;
}

/* Writes out the buffer; keeps what could not be written at its front. */
static int drain(struct gw_output *o)
{
    if (o->len == 0) return GW_OK;
    size_t done = write_all(o, o->buf, o->len);
    if (done > 0 && done < o->len) memmove(o->buf, o->buf + done, o->len - done);
    o->len -= done;
    return o->len == 0 ? GW_OK : GW_ERR_IO;
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
    size_t done = write_all(o, line, len);
    if (done == len) {
        o->stats.records++;
        return GW_OK;
    }
    if (done == 0) return drop(o);
    size_t rest = len - done;
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
        /* Make room; on failure whatever was written has been freed. */
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
    return drain(o);
}

void gw_output_close(struct gw_output *o)
{
    if (!o) return;
    drain(o);
    if (o->owns_fd) close(o->fd);
    free(o);
}

const struct gw_output_stats *gw_output_stats(const struct gw_output *o)
{
    return &o->stats;
}
