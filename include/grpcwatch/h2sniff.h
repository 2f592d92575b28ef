/*
 * h2sniff.h - finding HTTP/2 frame boundaries in the bytes of one direction
 * picked up without the connection start, and telling which side sent them.
 *
 * The one frame-boundary search: the classifier (sensor.c) runs it to tell
 * HTTP/2 from anything else, and h2.c runs it in every direction of a
 * mid-stream connection before its first boundary and after each gap that
 * lost the framing. Frame headers are judged by the rules of h2frame.h
 * (the table's `sniff` column); payload rules on the bytes at hand below.
 */
#ifndef GRPCWATCH_H2SNIFF_H
#define GRPCWATCH_H2SNIFF_H

#include "grpcwatch/common.h"

/* Finding HTTP/2 in the bytes of one direction without the connection
 * start: a candidate offset is confirmed when GW_H2_SNIFF_FRAMES (3)
 * consecutive frame headers starting there are well formed, or when 2 are
 * and they start at offset 0 and the second frame ends exactly at the end of
 * the buffer (a pickup at a segment start whose segment holds whole frames,
 * as in a client-only unary call: HEADERS + DATA). Well formed: known type
 * (0..9); only the flags defined for the type; reserved bit clear; length at
 * most max_frame; stream 0 for SETTINGS, PING, GOAWAY and non-zero for DATA,
 * HEADERS, PRIORITY, RST_STREAM, PUSH_PROMISE, CONTINUATION; lengths PRIORITY
 * 5, RST_STREAM 4, PING 8, WINDOW_UPDATE 4, GOAWAY >= 8, SETTINGS a multiple
 * of 6 (0 with ACK); room for pad length / priority / promised id; DATA,
 * HEADERS and CONTINUATION on odd (client-initiated) streams only (gRPC
 * never pushes); no empty HEADERS, PUSH_PROMISE or CONTINUATION fragment
 * and no empty DATA without END_STREAM (nobody sends those); a
 * CONTINUATION only after a HEADERS, PUSH_PROMISE or CONTINUATION without
 * END_HEADERS on the same stream (or first), and such a frame followed only
 * by its CONTINUATION; and where the payload bytes are at hand, pad length <
 * payload, WINDOW_UPDATE increment != 0, PRIORITY not on itself, SETTINGS
 * values in range.
 *
 * max_frame: 16384 (GW_H2_SNIFF_MAX_FRAME, the initial and by far the usual
 * SETTINGS_MAX_FRAME_SIZE: gRPC implementations write frames of at most
 * 16 KiB unless the receiver raised it, which a mid-stream capture can not
 * see). A larger value finds streams with bigger frames but weakens the
 * length test (each doubling halves its selectivity) and widens the window
 * below. Random bytes pass one header test with probability about 2^-23
 * (length 2^-10, then type, flags, stream-id rules about 2^-13) and the
 * three-header chain about 2^-69 per offset; text never passes (its first
 * byte makes the length >= 0x090000). A real stream can hide a frame-like
 * 9 bytes just before a boundary (an empty frame is mostly zeros), hence
 * the rules of practice above (odd streams for DATA, HEADERS, CONTINUATION;
 * no empty header block fragment; an empty DATA frame has END_STREAM).
 *
 * The earliest frame boundary lies within max_frame + 8 bytes of any pickup
 * point, so only offsets 0..max_frame+8 are candidates: when all of them are
 * ruled out the answer is GW_ERR_UNSUPPORTED. Worst case to a decision:
 * GW_H2_SNIFF_MAX_NEED bytes (the last candidate, two whole frames and a
 * third header; a caller holding less may give up on streams of full-size
 * frames picked up at their worst point).
 *
 * Incremental: the caller keeps a struct gw_h2_sniff per direction and
 * calls gw_h2_sniff_feed with the whole buffer so far (the same bytes, grown
 * at the end) after each arrival. Each offset is examined once, apart from
 * at most GW_H2_SNIFF_PENDING undecided candidates re-examined per call, so
 * the total work is linear in the bytes. No allocation. Act on the first
 * GW_OK: later calls with more bytes normally repeat it but may, rarely,
 * disprove it (payload checks of the third frame). */
#define GW_H2_SNIFF_FRAMES 3
#define GW_H2_SNIFF_MAX_FRAME 16384u
#define GW_H2_SNIFF_PENDING 8
#define GW_H2_SNIFF_MAX_NEED (3u * GW_H2_SNIFF_MAX_FRAME + 35u)

struct gw_h2_sniff {
    uint32_t max_frame;
    size_t next;       /* every offset below next is ruled out or pending */
    uint32_t npending;
    size_t pending[GW_H2_SNIFF_PENDING]; /* undecided offsets, ascending */
};

/* max_frame 0 means GW_H2_SNIFF_MAX_FRAME; it is clamped to 16384..2^24-1. */
void gw_h2_sniff_init(struct gw_h2_sniff *s, uint32_t max_frame);

/* Returns GW_OK with *frame_offset = the earliest confirmed boundary,
 * GW_ERR_NEED_MORE while a candidate is undecided, GW_ERR_UNSUPPORTED when
 * no offset can be a boundary (not HTTP/2), GW_ERR_ARG for bad arguments.
 * p/n: all bytes of the direction since the pickup point. */
int gw_h2_sniff_feed(struct gw_h2_sniff *s, const uint8_t *p, size_t n, size_t *frame_offset);

/* One-shot form: gw_h2_sniff_feed with a fresh state and the default max. */
int gw_h2_sniff(const uint8_t *p, size_t n, size_t *frame_offset);

/* Which side sent these frames (p starts at a frame boundary): looks at the
 * first field of up to 16 HEADERS blocks, which even mid-stream is a static
 * table reference: :method/:scheme/:path/:authority -> GW_DIR_TO_SERVER (a
 * client's request), :status or a PUSH_PROMISE -> GW_DIR_TO_CLIENT. -1 when
 * nothing tells. For orienting a flow picked up without its SYN. */
int gw_h2_sniff_role(const uint8_t *p, size_t n);

#endif
