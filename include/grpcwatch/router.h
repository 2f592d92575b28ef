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
#include "grpcwatch/output.h"
#include "grpcwatch/sink.h"

#define GW_ROUTER_MAX_SINKS 8

struct gw_router;

struct gw_router *gw_router_create(void);
/* Flushes (one last try) and closes every sink, then frees. */
void gw_router_destroy(struct gw_router *r);

/* Opens the sink spec names ("json:-", "json:PATH", "unix:PATH",
 * "unixgram:PATH", ...) taking the record types in `types` (a
 * comma-separated list of event types; NULL or "" = all). On failure
 * returns an error and writes a one-line reason into err. */
int gw_router_add(struct gw_router *r, const char *spec, const char *types, char *err,
                  size_t errlen);
size_t gw_router_count(const struct gw_router *r);

/* One record line (ending in '\n') of the given event_type. */
void gw_router_write(struct gw_router *r, const char *line, size_t len, const char *event_type);
/* Flushes every sink (retrying failed ones). GW_OK when nothing is left buffered. */
int gw_router_flush(struct gw_router *r);
/* Log rotation: every sink reopens its file or reconnects. */
void gw_router_reopen(struct gw_router *r);

/* The sinks' counters added up (records, bytes, write_errors, dropped,
 * reconnects, retries), for the `stats` record. */
void gw_router_stats(const struct gw_router *r, struct gw_sink_stats *sum);
/* Records accepted but never written: dropped plus still pending, summed. */
uint64_t gw_router_lost(const struct gw_router *r);

#endif
