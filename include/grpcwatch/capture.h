/*
 * capture.h - packets from libpcap: a pcap or pcapng file ("-" = stdin) or a
 * live interface, with an optional BPF filter.
 */
#ifndef GRPCWATCH_CAPTURE_H
#define GRPCWATCH_CAPTURE_H

#include "grpcwatch/common.h"
#include "grpcwatch/decode.h"

struct gw_capture;

struct gw_capture_stats {
    uint64_t packets;
    uint64_t kernel_received, kernel_dropped, if_dropped; /* live only */
    uint64_t bad_timestamps; /* packets whose timestamp was out of range */
};

/* Latest timestamp accepted, in seconds: 9999-12-31T23:59:59Z. Far below
 * INT64_MAX / 1000000, so packet time plus any timeout still fits. A packet
 * stamped later (or before 1970) is delivered with the previous packet's
 * time and counted in bad_timestamps. */
#define GW_CAPTURE_MAX_SEC 253402300799ULL

/* Opens a capture file. NULL on failure with a one-line reason in err. */
struct gw_capture *gw_capture_open_file(const char *path, char *err, size_t errlen);
/* Opens a live interface (promiscuous, snaplen 262144, buffer_mb MiB). */
struct gw_capture *gw_capture_open_live(const char *iface, int buffer_mb, char *err, size_t errlen);
void gw_capture_close(struct gw_capture *c);

/* Compiles and installs a BPF filter. GW_OK or GW_ERR_ARG with reason. */
int gw_capture_set_filter(struct gw_capture *c, const char *bpf, char *err, size_t errlen);

/* Reads the next packet into *pkt (data valid until the next call).
 * Returns GW_CAPTURE_PACKET for a packet; GW_CAPTURE_TIMEOUT when a live
 * capture had none for up to 100 ms, or a signal arrived while it waited
 * (it never waits longer, however quiet the link); GW_CAPTURE_END at the
 * end of input; GW_ERR_IO with err filled when the file is corrupt or
 * truncated (or the interface failed). Files never time out. */
#define GW_CAPTURE_PACKET 1
#define GW_CAPTURE_TIMEOUT 0
#define GW_CAPTURE_END (-100)
int gw_capture_next(struct gw_capture *c, struct gw_packet *pkt, char *err, size_t errlen);

/* Stops a blocking live read from a signal handler. */
void gw_capture_break(struct gw_capture *c);
void gw_capture_stats(struct gw_capture *c, struct gw_capture_stats *st);

#endif
