/*
 * emit.h - finished calls, TLS sessions and anomalies become records.
 *
 * The last stage before the router: the application-layer parsers hand
 * emit what they found (a gw_grpc_call, a gw_tls_info, an anomaly) with
 * the flow's record context; emit applies the policy (an alert per call),
 * the per-flow caps (at most GW_EMIT_ANOMALIES_PER_FLOW anomaly records,
 * the rest counted), builds the JSON line in its one buffer and hands it
 * to the router with its event type. Later: suppression, secrets and the
 * service inventory hook in here, not in the parsers.
 *
 * Orientation: records say src = client, dest = server. The flow table's
 * orientation can be corrected during a delivery (a preface sent by the
 * side we took for the server); until the flow applies it, the stream
 * state says so (gw_stream_roles_swapped) and emit honours it.
 *
 * Ownership: emit borrows the router and the config; a gw_emit_flow lives
 * in the flow's application state, one per flow, fixed size.
 */
#ifndef GRPCWATCH_EMIT_H
#define GRPCWATCH_EMIT_H

#include "grpcwatch/common.h"
#include "grpcwatch/config.h"
#include "grpcwatch/flow.h"
#include "grpcwatch/grpc.h"
#include "grpcwatch/record.h"
#include "grpcwatch/router.h"
#include "grpcwatch/stats.h"
#include "grpcwatch/tls.h"

#define GW_EMIT_ANOMALIES_PER_FLOW 16
#define GW_EMIT_RECORD_MAX (64 * 1024)

/* Per-flow record context. */
struct gw_emit_flow {
    const struct gw_flow *flow;
    char community_id[32];      /* computed on the first record */
    uint16_t anomaly_records;
    /* The application layer swapped the roles during the delivery under way
     * (it hands the swap to the stream layer when the delivery returns):
     * records written meanwhile already say src = the new client. */
    uint8_t swapped;
};

/* The flow's roles as records must say them now: the stream layer's
 * pending swap, and the application layer's not yet handed over. */
bool gw_emit_flow_swapped(const struct gw_emit_flow *ef);

struct gw_emit_counters {
    uint64_t grpc, alert, tls, anomaly;
    uint64_t anomalies_suppressed;  /* past the per-flow cap */
    uint64_t calls_suppressed;      /* not written by the parser's choice (rapid reset) */
    uint64_t oversize;              /* did not fit GW_EMIT_RECORD_MAX */
    /* the router's, read when stats are written */
    uint64_t written, write_errors, dropped, reconnects, retries;
};

struct gw_emit;

struct gw_emit *gw_emit_create(const struct gw_config *cfg, struct gw_router *router);
void gw_emit_destroy(struct gw_emit *e);

/* Registers the "records" counters. */
int gw_emit_register_stats(struct gw_emit *e, struct gw_stats *reg);

void gw_emit_flow_init(struct gw_emit_flow *ef, const struct gw_flow *f);

/* A finished call: a grpc record and its alert. app_proto "grpc" or
 * "grpc-web"; loss may be NULL. The policy sets call->credential_mask. */
void gw_emit_call(struct gw_emit *e, struct gw_emit_flow *ef, struct gw_grpc_call *call,
                  const char *app_proto, const struct gw_record_loss *loss);
/* A call the parser chose not to write (counted). */
void gw_emit_call_suppressed(struct gw_emit *e);
void gw_emit_tls(struct gw_emit *e, struct gw_emit_flow *ef, const struct gw_tls_info *t,
                 gw_time_us ts);
/* type: "http2", "tls", "http1"; event: a short snake_case name. */
void gw_emit_anomaly(struct gw_emit *e, struct gw_emit_flow *ef, const char *type,
                     const char *event, int dir, uint32_t stream_id, gw_time_us ts);
/* A stats record from a registry snapshot (or merged snapshots). */
void gw_emit_stats(struct gw_emit *e, gw_time_us ts, const struct gw_stats *reg,
                   const uint64_t *values);

const struct gw_emit_counters *gw_emit_counters(const struct gw_emit *e);

#endif
