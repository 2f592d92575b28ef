/*
 * stats.h - the counter registry behind every `stats` record.
 *
 * A module keeps its counters where it counts them (a plain struct of
 * uint64_t, incremented on the hot path with no indirection) and describes
 * that struct once, in a const table of fields: the JSON path of each
 * counter under "stats" and its offset. Whoever owns an instance registers
 * it: gw_stats_add(reg, table, n, base). The registry writes the `stats`
 * object from the tables, in registration order, opening and closing the
 * nested objects the paths name ("decoder.tunnels.gre" lives in
 * {"decoder":{"tunnels":{"gre":N}}}).
 *
 * Invariants:
 *  - Registration happens at create time, never per packet; the registry
 *    holds at most GW_STATS_MAX_SOURCES sources and GW_STATS_MAX_FIELDS
 *    fields (gw_stats_add fails beyond: a programming error, asserted).
 *  - Fields of one JSON object must be registered contiguously (a path
 *    whose object was closed already may not reopen it): checked by
 *    gw_stats_check, which the unit tests run over the sensor's registry.
 *  - Values are read only when a record is written (gw_stats_snapshot):
 *    `refresh` lets a source compute derived values (a live table plus the
 *    tables already finished) just before.
 *  - A snapshot is a flat array of uint64_t slots in field order, so the
 *    snapshots of several workers with the same registrations merge slot by
 *    slot (gw_stats_merge: SUM adds, MAX keeps the larger).
 */
#ifndef GRPCWATCH_STATS_H
#define GRPCWATCH_STATS_H

#include "grpcwatch/common.h"
#include "grpcwatch/record.h"

#include <stddef.h>

#define GW_STATS_MAX_SOURCES 64
#define GW_STATS_MAX_FIELDS 512
#define GW_STATS_PATH_MAX 96

enum gw_stat_merge {
    GW_STAT_SUM = 0, /* counters and gauges: workers add up */
    GW_STAT_MAX      /* high-water marks: the largest wins */
};

struct gw_stat_field {
    const char *path;   /* "tunnels.gre": dotted, relative to the source's prefix */
    uint32_t offset;    /* of a uint64_t in the source's struct */
    uint8_t merge;      /* enum gw_stat_merge */
};

/* One field of `type`: GW_STAT_FIELD(struct gw_decode_stats, tunnel_gre, "tunnels.gre") */
#define GW_STAT_FIELD(type, member, path) { (path), (uint32_t)offsetof(type, member), GW_STAT_SUM }
#define GW_STAT_FIELD_MAX(type, member, path) { (path), (uint32_t)offsetof(type, member), GW_STAT_MAX }

typedef void (*gw_stats_refresh_fn)(void *user);

struct gw_stats;

struct gw_stats *gw_stats_create(void);
void gw_stats_destroy(struct gw_stats *r);

/* Registers n fields of the struct at base, under prefix ("decoder";
 * "" for top level). base, fields and prefix are borrowed: they must
 * outlive the registry. refresh (may be NULL) runs before every snapshot.
 * Returns GW_OK or GW_ERR_LIMIT. */
int gw_stats_add(struct gw_stats *r, const char *prefix, const struct gw_stat_field *fields,
                 size_t n, const void *base, gw_stats_refresh_fn refresh, void *user);

/* Number of slots a snapshot has (the fields registered so far). */
size_t gw_stats_slots(const struct gw_stats *r);

/* Reads every field into out[gw_stats_slots(r)] (refreshing first). */
void gw_stats_snapshot(struct gw_stats *r, uint64_t *out);

/* acc[i] = merge(acc[i], v[i]) for every slot, by each field's rule. */
void gw_stats_merge(const struct gw_stats *r, uint64_t *acc, const uint64_t *v);

/* Adds the counters of one instance into a total, field by field as the
 * table says (SUM adds, MAX keeps the larger): how a module's totals over
 * finished connections are kept, from the same table that writes them. */
void gw_stats_fold(const struct gw_stat_field *fields, size_t n, void *total, const void *one);

/* Writes `"stats":{...}` from values (a snapshot, or merged snapshots). */
void gw_stats_write(const struct gw_stats *r, struct gw_json *j, const uint64_t *values);

/* True when the registrations can be written as well-formed JSON: no
 * object reopened after it closed, no path both a counter and an object,
 * no duplicate path. */
bool gw_stats_check(const struct gw_stats *r);

/* The full path of slot i ("decoder.tunnels.gre") into buf; NULL if i is
 * out of range. For tests and tools. */
const char *gw_stats_path(const struct gw_stats *r, size_t i, char *buf, size_t buflen);

#endif
