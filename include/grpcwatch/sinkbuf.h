/*
 * sinkbuf.h - the one buffered, never-blocking line writer every sink kind
 * is built on (sink_json.c, sink_unix.c): a bounded buffer, retries, a
 * reconnect at most once a second, and the drop counters.
 *
 * A kind differs only in its transport: how a descriptor is opened for its
 * target, and whether lines go out as a byte stream (write(2), or send(2) on
 * a stream socket) or one datagram each. Everything else - what happens on
 * EAGAIN, a full disk, a lost peer, a reopen, a line larger than the buffer -
 * is decided here, once, so every kind behaves the same way:
 *
 *   - write() copies the line into a GW_SINKBUF_SIZE buffer (allocated at
 *     open, nothing per record) and writes when the buffer needs room; a
 *     line that does not fit is dropped and counted, never waited for;
 *   - a hard error (ENOSPC, EFBIG, EIO, a closed pipe) stalls the sink: no
 *     write(2) until the next flush retries, so a full disk costs one
 *     syscall per flush, not one per record;
 *   - a socket whose peer went away is closed and reconnected by a later
 *     flush or write, at most once per GW_SINKBUF_RETRY_MS of wall time;
 *   - a new descriptor (reconnect, reopen) starts on a line boundary: the
 *     rest of a torn line is dropped (counted).
 */
#ifndef GRPCWATCH_SINKBUF_H
#define GRPCWATCH_SINKBUF_H

#include "grpcwatch/sink.h"

#define GW_SINKBUF_SIZE (64 * 1024) /* README: "up to 64 KiB of records wait in memory" */
#define GW_SINKBUF_RETRY_MS 1000    /* at most one reconnect per second */
#define GW_SINKBUF_PATH_MAX 4096    /* longest target any transport keeps */

struct gw_sink_transport {
    const char *verb;   /* for messages: "cannot <verb> PATH: reason" */
    size_t path_max;    /* longest target accepted, its NUL included (<= GW_SINKBUF_PATH_MAX) */
    bool socket;        /* send(2) with MSG_NOSIGNAL; a lost peer is reconnected */
    bool datagram;      /* one line per send(2), all or nothing */
    bool borrowed_fd;   /* standard output: not ours to reopen or close */
    /* A new descriptor for target (non-blocking where it can be); -1 with errno. */
    int (*open_fd)(const char *target);
};

/* Opens target through t (a socket must have a listener now, though not
 * later). NULL with a one-line reason in err. t must outlive the sink. */
struct gw_sink *gw_sinkbuf_open(const struct gw_sink_transport *t, const char *target, char *err,
                                size_t errlen);

/* The sink ops (sink.h) every descriptor kind shares; event_type is not
 * looked at (the router already chose this sink for it). */
int gw_sinkbuf_write(struct gw_sink *s, const char *line, size_t len, const char *event_type);
int gw_sinkbuf_flush(struct gw_sink *s);
int gw_sinkbuf_reopen(struct gw_sink *s);
void gw_sinkbuf_close(struct gw_sink *s);
void gw_sinkbuf_stats(const struct gw_sink *s, struct gw_sink_stats *out);

/* The ops of a descriptor kind after its scheme and open:
 *   { .scheme = "json", .open = json_open, GW_SINKBUF_OPS } */
#define GW_SINKBUF_OPS                                                                      \
    .write = gw_sinkbuf_write, .flush = gw_sinkbuf_flush, .reopen = gw_sinkbuf_reopen,      \
    .close = gw_sinkbuf_close, .stats = gw_sinkbuf_stats

#endif
