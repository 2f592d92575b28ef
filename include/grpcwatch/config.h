/*
 * config.h - the configuration snapshot. gw_config_load() parses a YAML file
 * into an immutable struct; every field has a default (gw_config_defaults)
 * so an empty file, or no file, is a valid configuration. Unknown keys, wrong
 * types and out-of-range values are errors reported with file:line:column.
 *
 * YAML shape (all optional; see conf/grpcwatch.yaml):
 *   flow:    { max-flows, timeout-new, timeout-established, timeout-closed }
 *   reassembly: { ooo-max-bytes, ooo-max-segments, memcap }
 *   http2:   { max-streams, max-header-table, max-header-list }
 *   defrag:  { max-datagrams, max-bytes, timeout }
 *   policy:  { credential-keys: [names...] }
 *   output:  { stats-interval }
 *   outputs: [ { sink: SPEC, types: [grpc, alert, tls, anomaly, stats] }, ... ]
 *            (used when no -o is given; at most GW_CONFIG_MAX_OUTPUTS)
 * Sizes accept a plain integer or a suffix k/m/g (KiB, MiB, GiB).
 */
#ifndef GRPCWATCH_CONFIG_H
#define GRPCWATCH_CONFIG_H

#include "grpcwatch/common.h"

#define GW_CONFIG_MAX_CRED_KEYS 32
#define GW_CONFIG_NAME_MAX 64
#define GW_CONFIG_MAX_OUTPUTS 8   /* = GW_ROUTER_MAX_SINKS (checked in config.c) */
#define GW_CONFIG_SINK_MAX 512    /* a sink spec, its NUL included */
#define GW_CONFIG_TYPES_MAX 64    /* "grpc,alert,tls,anomaly,stats" and its NUL fit */

/* One entry of `outputs:`: a sink spec as -o takes it, and the record types
 * it takes as gw_router_add does ("" = all). */
struct gw_config_output {
    char sink[GW_CONFIG_SINK_MAX];
    char types[GW_CONFIG_TYPES_MAX];
};

struct gw_config {
    /* flow table */
    uint32_t flow_max;
    uint32_t flow_timeout_new;          /* seconds */
    uint32_t flow_timeout_established;
    uint32_t flow_timeout_closed;
    /* TCP reassembly */
    uint32_t reasm_ooo_max_bytes;       /* per direction */
    uint32_t reasm_ooo_max_segments;    /* per direction */
    uint64_t reasm_memcap;              /* all flows */
    /* HTTP/2 */
    uint32_t h2_max_streams;
    uint32_t h2_max_header_table;
    uint32_t h2_max_header_list;
    /* IP fragment reassembly (decode.h's gw_decode_config) */
    uint32_t frag_max_datagrams;
    uint64_t frag_max_bytes;
    uint32_t frag_timeout;              /* seconds */
    /* policy: extra credential metadata names (lowercase) */
    char cred_keys[GW_CONFIG_MAX_CRED_KEYS][GW_CONFIG_NAME_MAX];
    uint32_t n_cred_keys;
    /* output */
    uint32_t stats_interval;            /* seconds of packet time; 0 = only at exit */
    /* outputs: sinks and their record types (0 = standard output, all types) */
    struct gw_config_output outputs[GW_CONFIG_MAX_OUTPUTS];
    uint32_t n_outputs;
};

void gw_config_defaults(struct gw_config *cfg);

/* Loads path over the defaults. On error returns a negative gw_err and writes
 * "path:line:col: reason" into err. */
int gw_config_load(const char *path, struct gw_config *cfg, char *err, size_t errlen);

/* Same from a memory buffer (tests, fuzzing); name is used in messages. */
int gw_config_load_buffer(const char *name, const char *yaml, size_t len,
                          struct gw_config *cfg, char *err, size_t errlen);

#endif
