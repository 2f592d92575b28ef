/*
 * stats.c - the counter registry (see stats.h).
 *
 * Invariants:
 *  - fields[] holds every registered field in registration order; slot i of
 *    a snapshot is fields[i]; a field's source is sources[fields[i].src].
 *  - Nothing here runs per packet: registration at create time, reading when
 *    a stats record is written.
 */
#include "grpcwatch/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct source {
    const char *prefix;
    const void *base;
    gw_stats_refresh_fn refresh;
    void *user;
};

struct slot {
    const struct gw_stat_field *f;
    uint16_t src;
};

struct gw_stats {
    struct source sources[GW_STATS_MAX_SOURCES];
    struct slot fields[GW_STATS_MAX_FIELDS];
    size_t n_sources, n_fields;
};

struct gw_stats *gw_stats_create(void)
{
    return calloc(1, sizeof(struct gw_stats));
}

void gw_stats_destroy(struct gw_stats *r)
{
    free(r);
}

int gw_stats_add(struct gw_stats *r, const char *prefix, const struct gw_stat_field *fields,
                 size_t n, const void *base, gw_stats_refresh_fn refresh, void *user)
{
    if (!r || !fields || !base) return GW_ERR_ARG;
    if (r->n_sources == GW_STATS_MAX_SOURCES || n > GW_STATS_MAX_FIELDS - r->n_fields)
        return GW_ERR_LIMIT;
    struct source *s = &r->sources[r->n_sources];
    s->prefix = prefix ? prefix : "";
    s->base = base;
    s->refresh = refresh;
    s->user = user;
    for (size_t i = 0; i < n; i++) {
        r->fields[r->n_fields].f = &fields[i];
        r->fields[r->n_fields].src = (uint16_t)r->n_sources;
        r->n_fields++;
    }
    r->n_sources++;
    return GW_OK;
}

size_t gw_stats_slots(const struct gw_stats *r)
{
    return r ? r->n_fields : 0;
}

void gw_stats_snapshot(struct gw_stats *r, uint64_t *out)
{
    for (size_t s = 0; s < r->n_sources; s++)
        if (r->sources[s].refresh) r->sources[s].refresh(r->sources[s].user);
    for (size_t i = 0; i < r->n_fields; i++) {
        const struct slot *sl = &r->fields[i];
        const uint8_t *base = r->sources[sl->src].base;
        memcpy(&out[i], base + sl->f->offset, sizeof out[i]);
    }
}

void gw_stats_merge(const struct gw_stats *r, uint64_t *acc, const uint64_t *v)
{
    for (size_t i = 0; i < r->n_fields; i++) {
        if (r->fields[i].f->merge == GW_STAT_MAX) acc[i] = GW_MAX(acc[i], v[i]);
        else acc[i] += v[i];
    }
}

void gw_stats_fold(const struct gw_stat_field *fields, size_t n, void *total, const void *one)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t t, v;
        memcpy(&t, (const uint8_t *)total + fields[i].offset, sizeof t);
        memcpy(&v, (const uint8_t *)one + fields[i].offset, sizeof v);
        t = fields[i].merge == GW_STAT_MAX ? GW_MAX(t, v) : t + v;
        memcpy((uint8_t *)total + fields[i].offset, &t, sizeof t);
    }
}

/* ---- paths ------------------------------------------------------------------ */

const char *gw_stats_path(const struct gw_stats *r, size_t i, char *buf, size_t buflen)
{
    if (!r || i >= r->n_fields || buflen == 0) return NULL;
    const char *prefix = r->sources[r->fields[i].src].prefix;
    int k = snprintf(buf, buflen, "%s%s%s", prefix, *prefix ? "." : "", r->fields[i].f->path);
    return k >= 0 && (size_t)k < buflen ? buf : NULL;
}

/* The components of a dotted path, at most GW_STATS_DEPTH deep. */
#define GW_STATS_DEPTH 8
struct parts {
    const char *p[GW_STATS_DEPTH];
    size_t len[GW_STATS_DEPTH];
    size_t n;
};

static bool split_path(const char *path, struct parts *out)
{
    out->n = 0;
    const char *s = path;
    for (;;) {
        const char *dot = strchr(s, '.');
        size_t len = dot ? (size_t)(dot - s) : strlen(s);
        if (len == 0 || out->n == GW_STATS_DEPTH) return false;
        out->p[out->n] = s;
        out->len[out->n] = len;
        out->n++;
        if (!dot) return true;
        s = dot + 1;
    }
}

/* How many leading objects two paths share (the last part is the key). */
static size_t common_objects(const struct parts *a, const struct parts *b)
{
    size_t k = 0;
    while (k + 1 < a->n && k + 1 < b->n && a->len[k] == b->len[k] &&
           memcmp(a->p[k], b->p[k], a->len[k]) == 0)
        k++;
    return k;
}

static void json_key_n(struct gw_json *j, const char *p, size_t n)
{
    char key[GW_STATS_PATH_MAX];
    size_t k = GW_MIN(n, sizeof key - 1);
    memcpy(key, p, k);
    key[k] = '\0';
    gw_json_key(j, key);
}

void gw_stats_write(const struct gw_stats *r, struct gw_json *j, const uint64_t *values)
{
    char bufs[2][GW_STATS_PATH_MAX];
    struct parts prev = { .n = 0 }, cur;
    gw_json_key(j, "stats");
    gw_json_object_begin(j);
    for (size_t i = 0; i < r->n_fields; i++) {
        char *path = bufs[i & 1]; /* prev's parts point into the other buffer */
        if (!gw_stats_path(r, i, path, GW_STATS_PATH_MAX) || !split_path(path, &cur)) continue;
        size_t keep = common_objects(&prev, &cur);
        for (size_t k = prev.n ? prev.n - 1 : 0; k > keep; k--) gw_json_object_end(j);
        for (size_t k = keep; k + 1 < cur.n; k++) {
            json_key_n(j, cur.p[k], cur.len[k]);
            gw_json_object_begin(j);
        }
        json_key_n(j, cur.p[cur.n - 1], cur.len[cur.n - 1]);
        gw_json_uint(j, values[i]);
        prev = cur;
    }
    for (size_t k = prev.n ? prev.n - 1 : 0; k > 0; k--) gw_json_object_end(j);
    gw_json_object_end(j);
}

/* Is `prefix` (an object path) the first part of path p, up to a dot? */
static bool within(const char *p, const char *prefix, size_t plen)
{
    return strncmp(p, prefix, plen) == 0 && p[plen] == '.';
}

/* Every full path once (the check compares them pairwise: O(n^2) short
 * compares, once per registry, never per packet). */
static char (*all_paths(const struct gw_stats *r))[GW_STATS_PATH_MAX]
{
    char (*paths)[GW_STATS_PATH_MAX] = calloc(r->n_fields ? r->n_fields : 1, sizeof *paths);
    for (size_t i = 0; paths && i < r->n_fields; i++) {
        struct parts pp;
        if (!gw_stats_path(r, i, paths[i], sizeof paths[i]) || !split_path(paths[i], &pp)) {
            free(paths);
            return NULL;
        }
    }
    return paths;
}

bool gw_stats_check(const struct gw_stats *r)
{
    char (*paths)[GW_STATS_PATH_MAX] = all_paths(r);
    if (!paths) return false;
    bool ok = true;
    for (size_t i = 0; ok && i < r->n_fields; i++) {
        const char *a = paths[i];
        size_t la = strlen(a);
        for (size_t k = 0; ok && k < i; k++) {
            const char *b = paths[k];
            /* a duplicate, or a counter that is also an object ("x.y", "x.y.z") */
            if (strcmp(a, b) == 0 || within(a, b, strlen(b)) || within(b, a, la)) ok = false;
        }
        /* each object of path i: the fields inside it so far must be the
         * ones right before i (an object closed earlier may not reopen) */
        for (const char *dot = strchr(a, '.'); ok && dot; dot = strchr(dot + 1, '.')) {
            size_t plen = (size_t)(dot - a);
            size_t k = i;
            while (k > 0 && within(paths[k - 1], a, plen)) k--;
            while (ok && k > 0) ok = !within(paths[--k], a, plen);
        }
    }
    free(paths);
    return ok;
}
