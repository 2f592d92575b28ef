/*
 * applayer.h - the application-layer registry: which protocol a flow
 * carries, and the parser instance that reads it.
 *
 * Shaped like Suricata's AppLayerParserRegisterParser / AppLayerProtoDetect:
 * a const table of protocols (gw_app_protocols[], one row per protocol, each
 * row a struct gw_app_proto defined in the protocol's own file), and a
 * classifier that is a loop over the table. Adding a protocol = a file with
 * its gw_app_proto and a row in the table in applayer.c; nothing else.
 *
 * Classification, per flow, from the bytes the stream layer delivers (held,
 * bounded, until decided):
 *  1. GW_PROBE_OPENING on the client's first bytes: the first protocol (in
 *     table order) that does not say NO decides (YES) or makes us wait
 *     (NEED_MORE). With the connection's start seen (a SYN or SYN-ACK, or
 *     the inside of a CONNECT tunnel) the client's bytes alone decide; if
 *     the client stays silent while the server talks (a capture of the
 *     server's side only), GW_PROBE_SERVER_OPENING on the server's bytes;
 *  2. without the start, GW_PROBE_OPENING on either direction: a YES names
 *     its sender's role, which may swap the flow's orientation (returned as
 *     GW_STREAM_SWAP to the stream layer);
 *  3. failing both, GW_PROBE_MIDSTREAM on either direction (HTTP/2 frames
 *     inside a connection): a YES whose role is unknown waits for more
 *     evidence (up to GW_APP_ROLE_WAIT bytes held) before it is taken with
 *     the orientation as it stands.
 * Nothing is written before the decision: a late SYN has already been
 * sorted out by the stream layer's window.
 *
 * Switches: a protocol may hand a direction over (HTTP/1.1 Upgrade: h2c ->
 * "http2"; CONNECT -> NULL: the tunnel's bytes are classified again, as a
 * connection whose start is seen). Each flow has two levels at most: the
 * protocol of the connection and the one after its switch; a protocol is
 * instantiated once per flow (HTTP/1.1 inside a CONNECT is not followed).
 *
 * Return values of gw_app_data/gap/fin are enum gw_stream_action bits.
 */
#ifndef GRPCWATCH_APPLAYER_H
#define GRPCWATCH_APPLAYER_H

#include "grpcwatch/common.h"
#include "grpcwatch/config.h"
#include "grpcwatch/emit.h"
#include "grpcwatch/flow.h"
#include "grpcwatch/pool.h"
#include "grpcwatch/record.h"
#include "grpcwatch/stats.h"
#include "grpcwatch/stream.h"

#define GW_APP_MAX_PROTOS 8
#define GW_APP_HOLD_MAX 4096                 /* per direction, start seen: a preface or hello needs little */
#define GW_APP_SNIFF_HOLD_MAX (2 * 16384 + 4096) /* mid-stream: a pickup inside a full frame, then frames */
#define GW_APP_ROLE_WAIT 16384               /* held bytes before taking a mid-stream flow unoriented */
#define GW_APP_PROBE_STATE 128               /* per protocol and direction, for incremental probes */

enum gw_probe_verdict { GW_PROBE_NO = 0, GW_PROBE_YES, GW_PROBE_NEED_MORE };

enum gw_probe_mode {
    GW_PROBE_OPENING = 0,    /* the first bytes of a direction */
    GW_PROBE_SERVER_OPENING, /* the first bytes of the server, the client silent */
    GW_PROBE_MIDSTREAM       /* bytes from an unknown point of the connection */
};

/* GW_DIR_TO_SERVER: the sender is the client; GW_DIR_TO_CLIENT: the server. */
#define GW_ROLE_UNKNOWN (-1)

struct gw_probe {
    int mode;                 /* enum gw_probe_mode */
    const uint8_t *p;         /* every byte of the direction held so far */
    size_t n;
    void *state;              /* MIDSTREAM only (NULL otherwise): GW_APP_PROBE_STATE
                               * bytes, zeroed before the first call; for
                               * incremental probes */
    int role;                 /* out: the sender's role on YES, or GW_ROLE_UNKNOWN */
};

struct gw_app;                /* one per flow */
struct gw_applayer;           /* one per sensor: the table, the protocols' globals */

/* What the application layer counts per flow decision (stats "flow"). */
struct gw_app_counters {
    uint64_t http2, tls, other, http1, http1_switches, http1_tunnels;
    uint64_t http2_midstream, one_sided;
    uint64_t hold_overflows, alloc_failures;
    uint64_t parked, resumed;   /* idle connections whose state went, and came back */
    uint64_t app_states;        /* gauge: flows holding parser state now */
};

/* What a parser instance is given when it is created. */
struct gw_app_env {
    struct gw_app *app;          /* for the gw_app_* calls below */
    struct gw_emit *emit;
    struct gw_emit_flow *ef;     /* the flow's record context */
    const struct gw_flow *flow;  /* read only: packet counts, reassembly losses */
    void *global;                /* the protocol's per-sensor state (global_create) */
    struct gw_app_counters *counters;
    struct gw_pool *pool;        /* the sensor's, for the instance's memory (pool.h) */
    uint8_t midstream;           /* found mid-stream (GW_PROBE_MIDSTREAM) */
    uint8_t via_switch;          /* started by another protocol's switch */
    uint8_t resumed;             /* a parked connection's next bytes (not a new one) */
};

struct gw_app_proto {
    const char *name;
    /* NULL: never found by probing, only switched to */
    int (*probe)(struct gw_probe *pr);
    /* per sensor; may be NULL */
    void *(*global_create)(const struct gw_config *cfg, struct gw_pool *pool);
    void (*global_destroy)(void *global);
    int (*register_stats)(void *global, struct gw_stats *reg);
    /* per flow */
    void *(*create)(const struct gw_app_env *env);
    void (*feed)(void *st, int dir, const uint8_t *p, size_t n, gw_time_us ts);
    void (*gap)(void *st, int dir, size_t len, gw_time_us ts);
    void (*fin)(void *st, int dir, gw_time_us ts);           /* may be NULL */
    /* after every segment of the flow (one-sided detection...); may be NULL */
    void (*segment_done)(void *st, gw_time_us ts);
    /* the connection closed (FIN both ways, RST): end what is open */
    void (*close)(void *st, int reason, gw_time_us ts);
    /* what the parser lost, added to a record's loss object; may be NULL */
    void (*loss)(const void *st, struct gw_record_loss *loss);
    /* the flow ends: end what is open (reason: enum gw_end), then free */
    void (*destroy)(void *st, int reason, gw_time_us ts);
    /* may be NULL: true when destroying the instance now and creating one
     * (env.resumed) on the next byte would read the rest the same: nothing
     * held, nothing owed. The app layer then parks the flow. */
    bool (*parkable)(const void *st);
};

extern const struct gw_app_proto gw_app_http2;
extern const struct gw_app_proto gw_app_tls;
extern const struct gw_app_proto gw_app_http1;

/* The table the sensor uses: http2, tls, http1. */
extern const struct gw_app_proto *const gw_app_protocols[];
extern const size_t gw_app_protocols_len;

/* table: n rows (at most GW_APP_MAX_PROTOS); emit and pool (pool.h: the
 * memory of every flow's parsers; NULL: malloc) are borrowed. */
struct gw_applayer *gw_applayer_create(const struct gw_app_proto *const *table, size_t n,
                                       const struct gw_config *cfg, struct gw_emit *emit,
                                       struct gw_pool *pool);
void gw_applayer_destroy(struct gw_applayer *al);
/* "flow" counters (http2, tls, other, ...) under prefix "flow". */
int gw_applayer_register_flow_stats(struct gw_applayer *al, struct gw_stats *reg);
/* Every protocol's own counters, in table order. */
int gw_applayer_register_stats(struct gw_applayer *al, struct gw_stats *reg);
const struct gw_app_counters *gw_applayer_counters(const struct gw_applayer *al);

/* Per flow. NULL when memory is short (counted). */
struct gw_app *gw_app_create(struct gw_applayer *al, struct gw_flow *f);
unsigned gw_app_data(struct gw_app *a, int dir, const uint8_t *p, size_t n, gw_time_us ts);
unsigned gw_app_gap(struct gw_app *a, int dir, size_t len, gw_time_us ts);
unsigned gw_app_fin(struct gw_app *a, int dir, gw_time_us ts);
void gw_app_segment_done(struct gw_app *a, gw_time_us ts);
/* Parking: an idle connection's state goes and only the flow (and a byte in
 * it) remains; gw_app_resume gives it a fresh instance of the same protocol
 * on its next bytes. gw_app_parkable says whether the app can; gw_app_park
 * destroys it (nothing is written: there is nothing open) and returns the
 * token to resume with (never 0). */
bool gw_app_parkable(const struct gw_app *a);
uint8_t gw_app_park(struct gw_app *a, gw_time_us ts);
struct gw_app *gw_app_resume(struct gw_applayer *al, struct gw_flow *f, uint8_t token);

/* True when the flow is of no protocol here (decided "other" on its only
 * level): nothing will ever be written for it, so the caller may destroy
 * the state now and keep the flow's bytes out of the app layer for good. */
bool gw_app_finished(const struct gw_app *a);
/* The connection closed; the flow lives on until its close timeout. */
void gw_app_close(struct gw_app *a, int reason, gw_time_us ts);
/* The flow ends: every instance ends what is open (records written), frees. */
void gw_app_destroy(struct gw_app *a, int reason, gw_time_us ts);
/* The value (enum gw_flow_value) the protocols found the flow has. */
uint8_t gw_app_value(const struct gw_app *a);
/* The protocol of the connection ("undecided" before the decision). */
const char *gw_app_protocol(const struct gw_app *a);

/* ---- for parser instances (through env->app) ---- */

/* Ask the stream layer for an action (GW_STREAM_BYPASS) after this delivery. */
void gw_app_request(struct gw_app *a, unsigned action);
/* The flow is worth at least value (enum gw_flow_value). */
void gw_app_raise_value(struct gw_app *a, uint8_t value);
/* Direction dir switches protocol: to `proto` by name, or classified
 * afresh (NULL), or to nothing ("none": not followed). held: bytes of dir
 * the old protocol read past the switch; they are the new one's first. */
void gw_app_switch(struct gw_app *a, int dir, const char *proto, const uint8_t *held,
                   size_t held_len, gw_time_us ts);
/* Bytes of dir for whatever reads dir now (after a switch: the new
 * protocol): what the old protocol was handed past its switch point. */
void gw_app_forward(struct gw_app *a, int dir, const uint8_t *p, size_t n, gw_time_us ts);
/* What reassembly lost (both directions) plus what every parser of the flow
 * lost: the loss object of a record. */
void gw_app_loss(const struct gw_app *a, struct gw_record_loss *loss);

#endif
