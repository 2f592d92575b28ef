/*
 * pcapng.h - a bounded pcapng reader (IETF draft-ietf-opsawg-pcapng) that,
 * unlike libpcap, keeps the link type of each interface, so a file captured
 * on several interfaces of different link types (eth0 + lo, any + tun0) is
 * read packet by packet with each packet's own link type.
 *
 * Blocks: Section Header (either byte order; a new section resets the
 * interfaces), Interface Description (link type, snaplen, if_tsresol,
 * if_tsoffset), Enhanced Packet, Simple Packet and the obsolete Packet
 * Block; every other block is skipped by its length.
 *
 * Memory: one read buffer, grown to the largest block seen and never past
 * GW_PCAPNG_MAX_BLOCK; an interface table grown to at most
 * GW_PCAPNG_MAX_INTERFACES entries (about 24 bytes each). Nothing is
 * allocated per packet once the buffer has its size.
 */
#ifndef GRPCWATCH_PCAPNG_H
#define GRPCWATCH_PCAPNG_H

#include <stdio.h>

#include "grpcwatch/capture.h"
#include "grpcwatch/common.h"
#include "grpcwatch/decode.h"

/* A block longer than this is an error (libpcap's own cap is 16 MiB too). */
#define GW_PCAPNG_MAX_BLOCK (16u * 1024 * 1024)
/* Interfaces per section; one more is an error. */
#define GW_PCAPNG_MAX_INTERFACES 65536u

struct gw_pcapng;

struct gw_pcapng_stats {
    uint64_t packets;        /* packets delivered */
    uint64_t bad_timestamps; /* delivered with the previous packet's time (see capture.h) */
    uint64_t sections;       /* Section Header Blocks read */
    uint64_t skipped_blocks; /* blocks of other types, skipped */
};

/* True when the first n (1..4) bytes of a file can start a pcapng file: the
 * Section Header Block type 0x0A0D0D0A reads the same in both byte orders,
 * and no classic pcap magic starts with 0x0A, so one byte is enough to
 * choose a reader (getc + ungetc works on stdin too). */
bool gw_pcapng_probe(const uint8_t *p, size_t n);

/* Reads the first Section Header Block from f (which stays the caller's:
 * gw_pcapng_close does not close it). NULL with a one-line reason in err
 * when f does not start with a valid one (not a pcapng file) or on ENOMEM. */
struct gw_pcapng *gw_pcapng_open(FILE *f, char *err, size_t errlen);

/* The next packet into *pkt: ts (microseconds, the GW_CAPTURE_MAX_SEC rule
 * of capture.h), linktype (DLT_ value of its interface), data (valid until
 * the next call), caplen (cut to the interface's snaplen when that is not
 * 0, as libpcap does), wirelen (>= the captured length) and number.
 * Returns GW_CAPTURE_PACKET, GW_CAPTURE_END at the clean end of the file,
 * or GW_ERR_IO with "pcapng: block at offset N: ..." in err when the file is
 * truncated or corrupt; every packet before the fault has been returned.
 * The error is sticky: later calls return it again. */
int gw_pcapng_next(struct gw_pcapng *r, struct gw_packet *pkt, char *err, size_t errlen);

void gw_pcapng_stats(const struct gw_pcapng *r, struct gw_pcapng_stats *st);
void gw_pcapng_close(struct gw_pcapng *r);

/* libpcap's LINKTYPE_ -> DLT_ mapping for the values where they differ
 * (LINKTYPE_RAW 101 -> DLT_RAW, ...); others are returned unchanged. */
int gw_pcapng_linktype_to_dlt(uint16_t linktype);

#endif
