/*
 * h2frame.h - the HTTP/2 frame header (RFC 9113 section 4.1) and the rules
 * each frame type puts on it (sections 6.1-6.10), in one place for the two
 * readers of frame headers: the parser (h2.c), which follows a connection
 * from a known boundary and is lenient (it reports and goes on), and the
 * mid-stream sniffer (h2sniff.c), which must tell a real boundary from any
 * 9 bytes and is strict (it adds rules of practice).
 *
 * gw_h2_frame_unpack() reads the 9 bytes; gw_h2_frame_check() says which
 * rules of gw_h2_frame_rules[type] a header breaks, as a set of
 * GW_H2_CHK_* bits. Each user masks that set with its own column of the
 * table (parser_skip, parser_fail, sniff): the table is where the two are
 * told apart, so a rule changed for one is visibly changed for both.
 */
#ifndef GRPCWATCH_H2FRAME_H
#define GRPCWATCH_H2FRAME_H

#include "grpcwatch/common.h"

#define GW_H2_FRAME_HEADER_LEN 9
#define GW_H2_SETTINGS_ENTRY_LEN 6
#define GW_H2_SID_MASK 0x7fffffffu
#define GW_H2_DEFAULT_MAX_FRAME 16384u     /* SETTINGS_MAX_FRAME_SIZE initial and minimum */
#define GW_H2_LARGEST_MAX_FRAME 16777215u  /* 2^24 - 1 */
#define GW_H2_MAX_WINDOW 0x7fffffffu

enum gw_h2_frame_type {
    GW_H2_DATA = 0, GW_H2_HEADERS = 1, GW_H2_PRIORITY = 2, GW_H2_RST_STREAM = 3,
    GW_H2_SETTINGS = 4, GW_H2_PUSH_PROMISE = 5, GW_H2_PING = 6, GW_H2_GOAWAY = 7,
    GW_H2_WINDOW_UPDATE = 8, GW_H2_CONTINUATION = 9
};
#define GW_H2_FRAME_TYPES 10 /* known types: 0 .. GW_H2_CONTINUATION */

#define GW_H2_FLAG_END_STREAM 0x1
#define GW_H2_FLAG_ACK 0x1
#define GW_H2_FLAG_END_HEADERS 0x4
#define GW_H2_FLAG_PADDED 0x8
#define GW_H2_FLAG_PRIORITY 0x20

#define GW_H2_SETTINGS_HEADER_TABLE_SIZE 0x1
#define GW_H2_SETTINGS_ENABLE_PUSH 0x2
#define GW_H2_SETTINGS_INITIAL_WINDOW_SIZE 0x4
#define GW_H2_SETTINGS_MAX_FRAME_SIZE 0x5

struct gw_h2_frame_header {
    uint32_t length;     /* 24 bits */
    uint32_t stream_id;  /* reserved bit cleared */
    uint8_t type, flags;
    bool reserved;       /* the reserved bit was set */
};

/* What a type's stream id must be. */
enum gw_h2_sid_rule { GW_H2_SID_ANY = 0, GW_H2_SID_ZERO, GW_H2_SID_NONZERO };

/* What a type's length must be (beyond its prefix, below). */
enum gw_h2_len_rule {
    GW_H2_LEN_ANY = 0,
    GW_H2_LEN_EXACT,    /* == len */
    GW_H2_LEN_MIN,      /* >= len */
    GW_H2_LEN_ENTRIES   /* a multiple of len; 0 with ACK (SETTINGS) */
};

/* What the payload after the prefix is. */
enum gw_h2_body { GW_H2_BODY_NONE = 0, GW_H2_BODY_DATA, GW_H2_BODY_BLOCK, GW_H2_BODY_SETTINGS };

/* The rules a frame header can break (gw_h2_frame_check). */
enum gw_h2_check {
    GW_H2_CHK_FLAGS = 1u << 0,    /* a flag the type does not define is set */
    GW_H2_CHK_RESERVED = 1u << 1, /* the stream id's reserved bit is set */
    GW_H2_CHK_SID = 1u << 2,      /* stream id zero where it must not be, or the reverse */
    GW_H2_CHK_LENGTH = 1u << 3,   /* length not as the type's len rule says */
    GW_H2_CHK_PREFIX = 1u << 4,   /* length below the fixed fields (gw_h2_frame_prefix) */
    /* rules of practice, not of the RFC: */
    GW_H2_CHK_ODD = 1u << 5,      /* not on a client-initiated (odd) stream */
    GW_H2_CHK_EMPTY = 1u << 6     /* an empty header block fragment, or empty DATA without END_STREAM */
};

/* The rules of one frame type. Columns:
 *  flags, sid, len_rule/len: RFC 9113 section 6;
 *  prefix: fixed bytes before the body, whatever the flags (promised id,
 *    RST_STREAM and GOAWAY codes); PADDED adds 1 and HEADERS' PRIORITY 5
 *    where the type defines them (gw_h2_frame_prefix);
 *  body: how the rest of the payload is read;
 *  parser_skip: broken, the parser reports GW_H2_ANOM_BAD_FRAME and skips
 *    the frame; parser_fail: broken, the direction stops (the header
 *    block's place is lost, so HPACK would fall out of step);
 *    parser_report: reported, the frame is decoded anyway (a HEADERS on
 *    stream 0 still feeds HPACK). Rules in none of the three are not the
 *    parser's business (flags, reserved bit: RFC 9113 says to ignore
 *    them; CONTINUATION's stream: checked against the open block);
 *  sniff: the sniffer rejects a candidate boundary that breaks any of
 *    these (all RFC rules plus the rules of practice, GW_H2_CHK_ODD and
 *    GW_H2_CHK_EMPTY, that make an empty frame's mostly-zero header hard
 *    to fake). */
struct gw_h2_frame_rule {
    const char *name;
    uint8_t flags;
    uint8_t sid;        /* enum gw_h2_sid_rule */
    uint8_t len_rule;   /* enum gw_h2_len_rule */
    uint8_t len;
    uint8_t prefix;
    uint8_t body;       /* enum gw_h2_body */
    uint8_t parser_skip, parser_fail, parser_report, sniff; /* enum gw_h2_check sets */
};

extern const struct gw_h2_frame_rule gw_h2_frame_rules[GW_H2_FRAME_TYPES];

/* p holds GW_H2_FRAME_HEADER_LEN bytes (the caller checks). */
void gw_h2_frame_unpack(struct gw_h2_frame_header *h, const uint8_t *p);

/* The rule of h's type, or NULL for an unknown type (ignored, RFC 9113 4.1). */
const struct gw_h2_frame_rule *gw_h2_frame_rule(uint8_t type);

/* Bytes before the body: the rule's prefix, plus the pad length and
 * HEADERS' priority fields when flagged (and defined for the type). */
uint32_t gw_h2_frame_prefix(const struct gw_h2_frame_header *h);

/* The GW_H2_CHK_* rules h breaks; 0 for an unknown type. */
unsigned gw_h2_frame_check(const struct gw_h2_frame_header *h);

/* A SETTINGS value in range for its id (unknown ids are). */
bool gw_h2_setting_ok(uint16_t id, uint32_t value);

#endif
