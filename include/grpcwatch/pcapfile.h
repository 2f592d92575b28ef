/*
 * pcapfile.h - a zero-copy reader for classic pcap files on disk.
 *
 * libpcap reads a file with two fread(3)s per packet into one buffer; on a
 * large capture that copy and its stdio bookkeeping cost about as much as
 * everything else a plain packet loop does. This reader maps the file
 * (mmap(2), MADV_SEQUENTIAL) and hands out pointers into the mapping.
 *
 * It takes only what it reads exactly as libpcap does: a regular file,
 * pcap 2.4 in either byte order, micro- or nanosecond timestamps, a link
 * type without FCS bits whose largest snapshot is 262144 (Ethernet, Linux
 * cooked, raw IP, loopback...). Anything else (pipes, stdin, modified pcap,
 * other versions or link types) is left to libpcap: gw_pcapfile_open then
 * returns NULL with *not_ours set, and the caller goes on with libpcap.
 *
 * Per packet it does what libpcap's sf-pcap.c does, with its messages: a
 * record header cut short or data cut short is "truncated dump file; ...",
 * a capture length over 262144 is "invalid packet capture length ...", a
 * capture length over the file's snapshot length is cut to it; timestamps
 * are converted to microseconds (nanosecond files divided by 1000).
 */
#ifndef GRPCWATCH_PCAPFILE_H
#define GRPCWATCH_PCAPFILE_H

#include <stdio.h>

#include "grpcwatch/capture.h"
#include "grpcwatch/common.h"

struct gw_pcapfile;

/* A raw packet: the timestamp as the file has it (seconds, microseconds),
 * not yet checked; data points into the mapping until close. */
struct gw_pcapfile_packet {
    int64_t sec, usec;
    const uint8_t *data;
    uint32_t caplen, wirelen;
};

/* Maps the file f is open on (f stays the caller's). NULL with *not_ours
 * when the file is not one this reader takes (see above); NULL without it
 * and a reason in err when mapping failed. */
struct gw_pcapfile *gw_pcapfile_open(FILE *f, bool *not_ours, char *err, size_t errlen);
int gw_pcapfile_linktype(const struct gw_pcapfile *r); /* DLT_ value */
/* GW_CAPTURE_PACKET, GW_CAPTURE_END, or GW_ERR_IO with libpcap's message in
 * err; the error is sticky. */
int gw_pcapfile_next(struct gw_pcapfile *r, struct gw_pcapfile_packet *pkt, char *err,
                     size_t errlen);
void gw_pcapfile_close(struct gw_pcapfile *r);

#endif
