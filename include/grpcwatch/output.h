/*
 * output.h - where records go. A sink is named
 *   "json:-"          standard output
 *   "json:PATH"       a file, opened for append (O_NONBLOCK: a fifo needs a reader)
 *   "unix:PATH"       a SOCK_STREAM unix socket (one line after another)
 *   "unixgram:PATH"   a SOCK_DGRAM unix socket (one datagram per line)
 * Records are whole lines; the sink buffers them and writes in large blocks,
 * flushes on gw_output_flush (called on exit, on signals and periodically),
 * and counts what it could not write instead of blocking the capture loop.
 *
 * Failures: a failed write keeps the unwritten bytes buffered; a full disk
 * (ENOSPC) or another hard error makes the sink wait for the next flush
 * before it writes again. A socket whose reader went away (EPIPE,
 * ECONNREFUSED, ...) is closed and reconnected at most once per second of
 * wall time; meanwhile lines are buffered up to the buffer size and dropped
 * (counted) beyond it. A new connection or file starts on a line boundary.
 */
#ifndef GRPCWATCH_OUTPUT_H
#define GRPCWATCH_OUTPUT_H

#include "grpcwatch/common.h"

struct gw_output_stats {
    uint64_t records;         /* lines accepted (buffered or written) */
    uint64_t bytes;           /* bytes the sink really took */
    uint64_t write_errors;    /* failed write(2)/send(2) calls */
    uint64_t dropped_records; /* lines lost: refused when the buffer was full, or
                               * cut by a lost connection or a reopen */
    /* added in round 2 */
    uint64_t reconnects;      /* sockets reconnected, files reopened */
    uint64_t retries;         /* writes retried after a failure by a flush, and
                               * connect/open attempts after a failure */
};

struct gw_output;

/* Parses spec and opens the sink (a socket sink connects: a socket nobody
 * listens on is an error here, but not once running). On failure returns
 * NULL and writes a one-line reason into err. */
struct gw_output *gw_output_open(const char *spec, char *err, size_t errlen);
/* Flushes (one last try) and closes. */
void gw_output_close(struct gw_output *o);

/* Appends one record line (must end with '\n'). Returns GW_OK or GW_ERR_IO
 * (the record is counted as dropped; the sink stays usable). */
int gw_output_write(struct gw_output *o, const char *line, size_t len);
/* Writes out the buffer; retries a failed sink (reconnecting a socket when
 * its last attempt is a second old). GW_OK when nothing is left buffered. */
int gw_output_flush(struct gw_output *o);

/* Log rotation (SIGHUP): writes what is buffered to the old file, then opens
 * the path again (a socket: reconnects). If that fails the old descriptor
 * stays in use and the reopen is retried by later flushes. Standard output:
 * just a flush. GW_OK when the new file or connection is in place. */
int gw_output_reopen(struct gw_output *o);

/* Lines accepted but not (entirely) written yet. On exit, dropped_records +
 * gw_output_pending() after the last flush is what never reached the sink. */
uint64_t gw_output_pending(const struct gw_output *o);

const struct gw_output_stats *gw_output_stats(const struct gw_output *o);

#endif
