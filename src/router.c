/*
 * router.c - every record to the sinks that take its type.
 *
 * Invariants:
 *  - at most GW_ROUTER_MAX_SINKS sinks; each has its own buffer, failures
 *    and counters, so one failing sink never costs another a record;
 *  - a type filter is a short list of event types compared by pointer-free
 *    strcmp once per record and sink (a handful of bytes: not worth a hash).
 *
 * (First cut: sinks are gw_output instances; the sink ops table replaces
 * them in the sink split.)
 */
#include "grpcwatch/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TYPES_MAX 128

struct route {
    struct gw_output *out;
    char types[TYPES_MAX]; /* ",grpc,alert," or "" for all */
};

struct gw_router {
    struct route sinks[GW_ROUTER_MAX_SINKS];
    size_t n;
};

struct gw_router *gw_router_create(void)
{
    return calloc(1, sizeof(struct gw_router));
}

void gw_router_destroy(struct gw_router *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) gw_output_close(r->sinks[i].out);
    free(r);
}

int gw_router_add(struct gw_router *r, const char *spec, const char *types, char *err,
                  size_t errlen)
{
    if (r->n == GW_ROUTER_MAX_SINKS) {
        snprintf(err, errlen, "at most %d outputs", GW_ROUTER_MAX_SINKS);
        return GW_ERR_LIMIT;
    }
    struct route *rt = &r->sinks[r->n];
    rt->types[0] = '\0';
    if (types && *types) {
        int k = snprintf(rt->types, sizeof rt->types, ",%s,", types);
        if (k < 0 || (size_t)k >= sizeof rt->types) {
            snprintf(err, errlen, "record type list too long: '%s'", types);
            return GW_ERR_ARG;
        }
    }
    rt->out = gw_output_open(spec, err, errlen);
    if (!rt->out) return GW_ERR_IO;
    r->n++;
    return GW_OK;
}

size_t gw_router_count(const struct gw_router *r)
{
    return r->n;
}

static bool route_takes(const struct route *rt, const char *event_type)
{
    if (!rt->types[0]) return true;
    char want[40];
    int k = snprintf(want, sizeof want, ",%s,", event_type);
    return k > 0 && (size_t)k < sizeof want && strstr(rt->types, want) != NULL;
}

void gw_router_write(struct gw_router *r, const char *line, size_t len, const char *event_type)
{
    for (size_t i = 0; i < r->n; i++)
        if (route_takes(&r->sinks[i], event_type)) gw_output_write(r->sinks[i].out, line, len);
}

int gw_router_flush(struct gw_router *r)
{
    int rc = GW_OK;
    for (size_t i = 0; i < r->n; i++)
        if (gw_output_flush(r->sinks[i].out) != GW_OK) rc = GW_ERR_IO;
    return rc;
}

void gw_router_reopen(struct gw_router *r)
{
    for (size_t i = 0; i < r->n; i++) gw_output_reopen(r->sinks[i].out);
}

void gw_router_stats(const struct gw_router *r, struct gw_sink_stats *sum)
{
    memset(sum, 0, sizeof *sum);
    for (size_t i = 0; i < r->n; i++) {
        const struct gw_output_stats *o = gw_output_stats(r->sinks[i].out);
        sum->records += o->records;
        sum->bytes += o->bytes;
        sum->write_errors += o->write_errors;
        sum->dropped_records += o->dropped_records;
        sum->reconnects += o->reconnects;
        sum->retries += o->retries;
        sum->pending += gw_output_pending(r->sinks[i].out);
    }
}

uint64_t gw_router_lost(const struct gw_router *r)
{
    struct gw_sink_stats s;
    gw_router_stats(r, &s);
    return s.dropped_records + s.pending;
}
