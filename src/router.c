/*
 * router.c - every record to the sinks that take its type.
 *
 * Invariants:
 *  - at most GW_ROUTER_MAX_SINKS sinks; each has its own buffer, failures
 *    and counters, so one failing sink never costs another a record;
 *  - the sink kinds are one const table (sink_kinds): adding a kind is a
 *    file with its struct gw_sink_ops and a row here;
 *  - a type filter is a bit mask over event_types, so routing a record
 *    costs one pass over five short names and a bit test per sink: nothing
 *    is formatted or allocated per record.
 */
#include "grpcwatch/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct gw_sink_ops *const sink_kinds[] = {
    &gw_sink_json,
    &gw_sink_unix,
    &gw_sink_unixgram,
};
/* what sink_kinds accepts, for the message about a spec it does not */
#define SINK_FORMS "json:-, json:PATH, unix:PATH or unixgram:PATH"

/* Record types a filter may name; the sensor writes these five. */
static const char *const event_types[] = { "grpc", "alert", "tls", "anomaly", "stats" };
_Static_assert(GW_ARRAY_LEN(event_types) <= 32, "type masks are 32 bits");

struct route {
    const struct gw_sink_ops *ops;
    struct gw_sink *sink;
    uint32_t types; /* bit i: event_types[i]; 0 = every record */
    char *spec;     /* as given, for messages */
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
    for (size_t i = 0; i < r->n; i++) {
        r->sinks[i].ops->close(r->sinks[i].sink);
        free(r->sinks[i].spec);
    }
    free(r);
}

int gw_router_event_type(const char *name, size_t len)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(event_types); i++)
        if (strlen(event_types[i]) == len && memcmp(event_types[i], name, len) == 0) return (int)i;
    return -1;
}

/* The kind a spec names and, in *target, what follows its ':'. */
static const struct gw_sink_ops *find_kind(const char *spec, const char **target)
{
    const char *colon = spec ? strchr(spec, ':') : NULL;
    if (!colon || colon[1] == '\0') return NULL;
    size_t n = (size_t)(colon - spec);
    for (size_t i = 0; i < GW_ARRAY_LEN(sink_kinds); i++) {
        if (strlen(sink_kinds[i]->scheme) == n && memcmp(sink_kinds[i]->scheme, spec, n) == 0) {
            *target = colon + 1;
            return sink_kinds[i];
        }
    }
    return NULL;
}

int gw_router_check_spec(const char *spec, char *err, size_t errlen)
{
    const char *target;
    if (find_kind(spec, &target)) return GW_OK;
    if (err && errlen)
        snprintf(err, errlen, "unknown output '%s' (expected " SINK_FORMS ")",
                 spec ? spec : "(null)");
    return GW_ERR_ARG;
}

/* "grpc, alert" -> a mask; an unknown or empty name is an error. */
static int parse_types(const char *types, uint32_t *mask, char *err, size_t errlen)
{
    *mask = 0;
    if (!types) return GW_OK;
    for (const char *p = types; *p;) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        size_t n = strcspn(p, ", ");
        int t = gw_router_event_type(p, n);
        if (t < 0) {
            if (err && errlen)
                snprintf(err, errlen, "unknown record type '%.*s' (expected " GW_ROUTER_EVENT_TYPES ")",
                         (int)GW_MIN(n, (size_t)64), p);
            return GW_ERR_ARG;
        }
        *mask |= UINT32_C(1) << t;
        p += n;
    }
    return GW_OK;
}

int gw_router_add(struct gw_router *r, const char *spec, const char *types, char *err,
                  size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (r->n == GW_ROUTER_MAX_SINKS) {
        if (err && errlen) snprintf(err, errlen, "at most %d outputs", GW_ROUTER_MAX_SINKS);
        return GW_ERR_LIMIT;
    }
    struct route rt = { 0 };
    const char *target = NULL;
    int rc = gw_router_check_spec(spec, err, errlen);
    if (rc != GW_OK) return rc;
    rt.ops = find_kind(spec, &target);
    if (!rt.ops || !target) return GW_ERR_ARG; /* gw_router_check_spec said it is one */
    if ((rc = parse_types(types, &rt.types, err, errlen)) != GW_OK) return rc;
    rt.spec = strdup(spec);
    if (!rt.spec) {
        if (err && errlen) snprintf(err, errlen, "cannot open %s: out of memory", spec);
        return GW_ERR_NOMEM;
    }
    rt.sink = rt.ops->open(target, err, errlen);
    if (!rt.sink) {
        free(rt.spec);
        return GW_ERR_IO;
    }
    r->sinks[r->n++] = rt;
    return GW_OK;
}

size_t gw_router_count(const struct gw_router *r)
{
    return r->n;
}

void gw_router_write(struct gw_router *r, const char *line, size_t len, const char *event_type)
{
    int t = event_type ? gw_router_event_type(event_type, strlen(event_type)) : -1;
    uint32_t bit = t < 0 ? 0 : UINT32_C(1) << t;
    for (size_t i = 0; i < r->n; i++) {
        struct route *rt = &r->sinks[i];
        if (rt->types == 0 || (rt->types & bit)) rt->ops->write(rt->sink, line, len, event_type);
    }
}

int gw_router_flush(struct gw_router *r)
{
    int rc = GW_OK;
    for (size_t i = 0; i < r->n; i++)
        if (r->sinks[i].ops->flush(r->sinks[i].sink) != GW_OK) rc = GW_ERR_IO;
    return rc;
}

void gw_router_reopen(struct gw_router *r)
{
    /* a failed reopen is retried by the sink's later flushes */
    for (size_t i = 0; i < r->n; i++) r->sinks[i].ops->reopen(r->sinks[i].sink);
}

void gw_router_sink_stats(const struct gw_router *r, size_t i, struct gw_sink_stats *out)
{
    GW_ASSERT(i < r->n);
    r->sinks[i].ops->stats(r->sinks[i].sink, out);
}

const char *gw_router_sink_spec(const struct gw_router *r, size_t i)
{
    GW_ASSERT(i < r->n);
    return r->sinks[i].spec;
}

void gw_router_stats(const struct gw_router *r, struct gw_sink_stats *sum)
{
    memset(sum, 0, sizeof *sum);
    for (size_t i = 0; i < r->n; i++) {
        struct gw_sink_stats o;
        gw_router_sink_stats(r, i, &o);
        sum->records += o.records;
        sum->bytes += o.bytes;
        sum->write_errors += o.write_errors;
        sum->dropped_records += o.dropped_records;
        sum->reconnects += o.reconnects;
        sum->retries += o.retries;
        sum->pending += o.pending;
    }
}

uint64_t gw_router_lost(const struct gw_router *r)
{
    struct gw_sink_stats s;
    gw_router_stats(r, &s);
    return s.dropped_records + s.pending;
}
