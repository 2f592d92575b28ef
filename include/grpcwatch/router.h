/*
 * router.h - hands each record to the sinks that want it.
 *
 * The sensor writes finished record lines to one router; the router holds
 * up to GW_ROUTER_MAX_SINKS sinks (struct gw_sink_ops, sink.h) and gives a
 * line to every sink whose type filter accepts the record's event_type
 * (no filter: every record). A sink that fails never blocks the capture and
 * never stops the other sinks: each buffers, retries and counts on its own.
 *
 * Ownership: the router owns its sinks (gw_router_destroy closes them).
 */
#ifndef GRPCWATCH_ROUTER_H
#define GRPCWATCH_ROUTER_H

#include "grpcwatch/common.h"
#include "grpcwatch/sink.h"

#define GW_ROUTER_MAX_SINKS 8

/* The record types a filter may name, for messages. */
#define GW_ROUTER_EVENT_TYPES "grpc, alert, tls, anomaly or stats"

struct gw_router;

struct gw_router *gw_router_create(void);
/* Flushes (one last try) and closes every sink, then frees. */
void gw_router_destroy(struct gw_router *r);

/* Opens the sink spec names ("json:-", "json:PATH", "unix:PATH",
 * "unixgram:PATH", ...) taking the record types in `types` (a
 * comma-separated list of event types, spaces allowed; NULL or "" = all).
 * On failure returns an error and writes a one-line reason into err. */
int gw_router_add(struct gw_router *r, const char *spec, const char *types, char *err,
                  size_t errlen);
size_t gw_router_count(const struct gw_router *r);

/* Checks a spec names a known sink kind and a target, without opening it
 * (configuration checks). GW_OK, or GW_ERR_ARG with the reason in err. */
int gw_router_check_spec(const char *spec, char *err, size_t errlen);
/* Index of a record type a filter may name (name[0..len), not
 * NUL-terminated), or -1. */
int gw_router_event_type(const char *name, size_t len);

/* One record line (ending in '\n') of the given event_type. A type no
 * filter can name goes to the unfiltered sinks only. */
void gw_router_write(struct gw_router *r, const char *line, size_t len, const char *event_type);
/* Flushes every sink (retrying failed ones). GW_OK when nothing is left buffered. */
int gw_router_flush(struct gw_router *r);
/* Log rotation: every sink reopens its file or reconnects. */
void gw_router_reopen(struct gw_router *r);

/* The sinks' counters added up (records, bytes, write_errors, dropped,
 * reconnects, retries, pending), for the `stats` record. */
void gw_router_stats(const struct gw_router *r, struct gw_sink_stats *sum);
/* Records accepted but never written: dropped plus still pending, summed. */
uint64_t gw_router_lost(const struct gw_router *r);

/* Sink i (0 .. count-1, in the order added): its spec and its counters,
 * so the caller can say which sink lost records. */
const char *gw_router_sink_spec(const struct gw_router *r, size_t i);
void gw_router_sink_stats(const struct gw_router *r, size_t i, struct gw_sink_stats *out);

#endif
