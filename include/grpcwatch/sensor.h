/*
 * sensor.h - the pipeline: packets in, records out.
 *
 * The sensor owns one instance of every stage (decoder, flow table, policy)
 * and wires them in the order the design draws: decode -> flow -> reasm ->
 * classify -> h2/tls -> grpc -> policy -> record -> output. It is the only
 * module that knows all stages; each stage knows only its own inputs.
 *
 * Classification, per connection, from the first bytes of each direction:
 *  - the 24-byte HTTP/2 client preface -> HTTP/2 (its sender is the client);
 *  - a TLS handshake record carrying a ClientHello -> TLS (its sender is the
 *    client); the ClientHello and ServerHello are parsed, a tls record is
 *    written, and the flow stops being reassembled;
 *  - anything else -> not HTTP/2: the flow stops being reassembled.
 * Server bytes that arrive before the client's (HTTP/2 servers may send
 * SETTINGS first) are held, up to a small cap, until the client decides.
 */
#ifndef GRPCWATCH_SENSOR_H
#define GRPCWATCH_SENSOR_H

#include "grpcwatch/common.h"
#include "grpcwatch/config.h"
#include "grpcwatch/decode.h"
#include "grpcwatch/router.h"

struct gw_sensor;

/* cfg is copied; out is borrowed and must outlive the sensor. */
struct gw_sensor *gw_sensor_create(const struct gw_config *cfg, struct gw_router *out);
/* Ends every flow (their records are written) and frees. */
void gw_sensor_destroy(struct gw_sensor *s);

/* One captured packet through the whole pipeline. */
void gw_sensor_packet(struct gw_sensor *s, const struct gw_packet *pkt);

/* Ends every flow now, as at the end of input (records written). */
void gw_sensor_finish(struct gw_sensor *s);

/* The capture's own counters for stats records. The sensor never reaches
 * back into the capture: whoever owns it registers a function that reads
 * them (pcap_stats for live captures), called only when a stats record is
 * written. Without one the counters are 0. */
struct gw_capture_counters {
    uint64_t packets, kernel_received, kernel_dropped, bad_timestamps;
};
typedef void (*gw_capture_counters_fn)(void *user, struct gw_capture_counters *out);
void gw_sensor_set_capture_counters(struct gw_sensor *s, gw_capture_counters_fn fn, void *user);

/* Writes a stats record stamped ts (periodic ones are written by
 * gw_sensor_packet itself every stats-interval). */
void gw_sensor_write_stats(struct gw_sensor *s, gw_time_us ts);

/* The clock moved to `now` without a packet (a live capture woke up from
 * its timeout): runs flow timeouts and the periodic stats record. Packet
 * time offline (gw_sensor_packet calls it itself), wall time live. Never
 * moves the sensor's clock backwards. */
void gw_sensor_tick(struct gw_sensor *s, gw_time_us now);

/* The counter registry behind the stats records (for tests and for
 * summing workers). */
struct gw_stats;
const struct gw_stats *gw_sensor_stats(const struct gw_sensor *s);

/* Packet time of the last packet seen (0 before the first). */
gw_time_us gw_sensor_now(const struct gw_sensor *s);

#endif
