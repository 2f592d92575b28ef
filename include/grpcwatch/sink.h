/*
 * sink.h - one place records go, behind one table of operations (like
 * Suricata's EVE output types: Init/Write/Deinit).
 *
 * A sink kind is a const struct gw_sink_ops and a row in the router's sink
 * table (router.c): "json" (a file, or standard output for "-"), "unix"
 * (SOCK_STREAM), "unixgram" (SOCK_DGRAM). Adding a sink = a file and a row.
 *
 * Contract for every kind:
 *  - write() never blocks the capture: it buffers (bounded), and what does
 *    not fit is dropped and counted;
 *  - flush() retries a failed sink (a socket reconnects at most once a
 *    second of wall time); reopen() is log rotation (SIGHUP);
 *  - a new connection or file starts on a line boundary;
 *  - close() makes one last flush and frees;
 *  - stats() fills every field of struct gw_sink_stats, pending included.
 *
 * struct gw_sink is opaque. Every kind so far writes to a descriptor, so it
 * is the one buffered descriptor sink of sinkbuf.h (defined in sinkbuf.c),
 * and a kind is its transport (how the descriptor is opened, bytes or
 * datagrams) plus an ops row whose write/flush/reopen/close/stats are
 * sinkbuf's (GW_SINKBUF_OPS). A kind with state of its own beyond a
 * descriptor would give struct gw_sink a per-kind context pointer.
 */
#ifndef GRPCWATCH_SINK_H
#define GRPCWATCH_SINK_H

#include "grpcwatch/common.h"

struct gw_sink_stats {
    uint64_t records;         /* lines accepted (buffered or written) */
    uint64_t bytes;           /* bytes the sink really took */
    uint64_t write_errors;    /* failed write(2)/send(2) calls */
    uint64_t dropped_records; /* lines lost: refused when the buffer was full, or
                               * cut by a lost connection or a reopen */
    uint64_t reconnects;      /* sockets reconnected, files reopened */
    uint64_t retries;         /* writes retried after a failure, connect/open attempts */
    uint64_t pending;         /* lines accepted and not (entirely) written yet */
};

struct gw_sink;

struct gw_sink_ops {
    const char *scheme;   /* "json", "unix", "unixgram": the part of the spec before ':' */
    /* target: the part after ':' (never empty). NULL + err on failure. */
    struct gw_sink *(*open)(const char *target, char *err, size_t errlen);
    /* One line ending in '\n'. GW_OK, GW_ERR_IO (dropped and counted; the
     * sink stays usable) or GW_ERR_ARG (not a line: nothing counted). */
    int (*write)(struct gw_sink *s, const char *line, size_t len, const char *event_type);
    /* GW_OK when nothing is left buffered. */
    int (*flush)(struct gw_sink *s);
    /* GW_OK when the new file or connection is in place (else retried by
     * later flushes, the old descriptor still in use). */
    int (*reopen)(struct gw_sink *s);
    void (*close)(struct gw_sink *s);
    void (*stats)(const struct gw_sink *s, struct gw_sink_stats *out);
};

/* The kinds, one per file; router.c's sink table lists them. */
extern const struct gw_sink_ops gw_sink_json;     /* sink_json.c: "-" or a file */
extern const struct gw_sink_ops gw_sink_unix;     /* sink_unix.c: SOCK_STREAM */
extern const struct gw_sink_ops gw_sink_unixgram; /* sink_unix.c: SOCK_DGRAM */

#endif
