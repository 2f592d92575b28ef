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
 *  - close() makes one last flush and frees.
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
    /* target: the part after ':'. NULL + err on failure. */
    struct gw_sink *(*open)(const char *target, char *err, size_t errlen);
    int (*write)(struct gw_sink *s, const char *line, size_t len, const char *event_type);
    int (*flush)(struct gw_sink *s);
    int (*reopen)(struct gw_sink *s);
    void (*close)(struct gw_sink *s);
    void (*stats)(const struct gw_sink *s, struct gw_sink_stats *out);
};

#endif
