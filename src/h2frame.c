/*
 * h2frame.c - the HTTP/2 frame header and the table of per-type rules
 * shared by the parser (h2.c) and the mid-stream sniffer (h2sniff.c).
 *
 * Invariants:
 *  - gw_h2_frame_rules is indexed by type and holds every known type
 *    (0 .. GW_H2_CONTINUATION); anything above is unknown and has no rule.
 *  - gw_h2_frame_check only reads the header: rules that need payload
 *    bytes (pad length, promised id, SETTINGS values) belong to the caller,
 *    which may not have them yet.
 *  - The sniffer's column is a superset of the parser's columns for every
 *    type (checked by the unit tests): whatever the parser refuses to
 *    follow, the sniffer never takes for a boundary.
 */
#include "grpcwatch/h2frame.h"

#include "grpcwatch/cursor.h"

#define ES GW_H2_FLAG_END_STREAM
#define EH GW_H2_FLAG_END_HEADERS
#define PAD GW_H2_FLAG_PADDED
#define PRIO GW_H2_FLAG_PRIORITY
#define ACK GW_H2_FLAG_ACK

#define C_FLAGS GW_H2_CHK_FLAGS
#define C_RES GW_H2_CHK_RESERVED
#define C_SID GW_H2_CHK_SID
#define C_LEN GW_H2_CHK_LENGTH
#define C_PRE GW_H2_CHK_PREFIX
#define C_ODD GW_H2_CHK_ODD
#define C_EMPTY GW_H2_CHK_EMPTY
#define C_HDR (C_FLAGS | C_RES) /* every type, for the sniffer */

/* RFC 9113 section 6; the sniffer's rules of practice: DATA, HEADERS and
 * CONTINUATION on odd streams only (gRPC never pushes, browsers refuse
 * push), no empty header block fragment, no empty DATA without END_STREAM
 * (nobody sends those, and their headers are mostly zero bytes). */
const struct gw_h2_frame_rule gw_h2_frame_rules[GW_H2_FRAME_TYPES] = {
    /*                     name             flags             sid                len rule           len prefix body
     *                     parser_skip      parser_fail parser_report sniff */
    [GW_H2_DATA] = { "DATA", ES | PAD, GW_H2_SID_NONZERO, GW_H2_LEN_ANY, 0, 0, GW_H2_BODY_DATA,
                     C_SID | C_PRE, 0, 0, C_HDR | C_SID | C_PRE | C_ODD | C_EMPTY },
    [GW_H2_HEADERS] = { "HEADERS", ES | EH | PAD | PRIO, GW_H2_SID_NONZERO, GW_H2_LEN_ANY, 0, 0, GW_H2_BODY_BLOCK,
                        0, C_PRE, C_SID, C_HDR | C_SID | C_PRE | C_ODD | C_EMPTY },
    [GW_H2_PRIORITY] = { "PRIORITY", 0, GW_H2_SID_NONZERO, GW_H2_LEN_EXACT, 5, 0, GW_H2_BODY_NONE,
                         C_SID | C_LEN, 0, 0, C_HDR | C_SID | C_LEN },
    [GW_H2_RST_STREAM] = { "RST_STREAM", 0, GW_H2_SID_NONZERO, GW_H2_LEN_EXACT, 4, 4, GW_H2_BODY_NONE,
                           C_SID | C_LEN, 0, 0, C_HDR | C_SID | C_LEN },
    [GW_H2_SETTINGS] = { "SETTINGS", ACK, GW_H2_SID_ZERO, GW_H2_LEN_ENTRIES, GW_H2_SETTINGS_ENTRY_LEN, 0,
                         GW_H2_BODY_SETTINGS, C_SID | C_LEN, 0, 0, C_HDR | C_SID | C_LEN },
    [GW_H2_PUSH_PROMISE] = { "PUSH_PROMISE", EH | PAD, GW_H2_SID_NONZERO, GW_H2_LEN_ANY, 0, 4, GW_H2_BODY_BLOCK,
                             0, C_PRE, C_SID, C_HDR | C_SID | C_PRE | C_EMPTY },
    [GW_H2_PING] = { "PING", ACK, GW_H2_SID_ZERO, GW_H2_LEN_EXACT, 8, 0, GW_H2_BODY_NONE,
                     C_SID | C_LEN, 0, 0, C_HDR | C_SID | C_LEN },
    [GW_H2_GOAWAY] = { "GOAWAY", 0, GW_H2_SID_ZERO, GW_H2_LEN_MIN, 8, 8, GW_H2_BODY_NONE,
                       C_SID | C_LEN, 0, 0, C_HDR | C_SID | C_LEN },
    /* WINDOW_UPDATE: stream 0 (the connection) or any stream */
    [GW_H2_WINDOW_UPDATE] = { "WINDOW_UPDATE", 0, GW_H2_SID_ANY, GW_H2_LEN_EXACT, 4, 0, GW_H2_BODY_NONE,
                              C_LEN, 0, 0, C_HDR | C_LEN },
    /* the parser checks a CONTINUATION against the open block instead */
    [GW_H2_CONTINUATION] = { "CONTINUATION", EH, GW_H2_SID_NONZERO, GW_H2_LEN_ANY, 0, 0, GW_H2_BODY_BLOCK,
                             0, 0, 0, C_HDR | C_SID | C_ODD | C_EMPTY },
};

void gw_h2_frame_unpack(struct gw_h2_frame_header *h, const uint8_t *p)
{
    struct gw_cursor c = gw_cursor_make(p, GW_H2_FRAME_HEADER_LEN);
    h->length = gw_get_be24(&c);
    h->type = gw_get_u8(&c);
    h->flags = gw_get_u8(&c);
    uint32_t sid = gw_get_be32(&c);
    h->stream_id = sid & GW_H2_SID_MASK;
    h->reserved = (sid & ~GW_H2_SID_MASK) != 0;
    GW_ASSERT(!c.err);
}

const struct gw_h2_frame_rule *gw_h2_frame_rule(uint8_t type)
{
    return type < GW_H2_FRAME_TYPES ? &gw_h2_frame_rules[type] : NULL;
}

uint32_t gw_h2_frame_prefix(const struct gw_h2_frame_header *h)
{
    const struct gw_h2_frame_rule *r = gw_h2_frame_rule(h->type);
    if (!r) return 0;
    uint8_t defined = h->flags & r->flags;
    return (uint32_t)r->prefix + ((defined & PAD) ? 1u : 0u) + ((defined & PRIO) ? 5u : 0u);
}

static bool length_ok(const struct gw_h2_frame_rule *r, const struct gw_h2_frame_header *h)
{
    switch (r->len_rule) {
    case GW_H2_LEN_EXACT: return h->length == r->len;
    case GW_H2_LEN_MIN: return h->length >= r->len;
    case GW_H2_LEN_ENTRIES: return (h->flags & ACK) ? h->length == 0 : h->length % r->len == 0;
    default: return true;
    }
}

static bool sid_ok(const struct gw_h2_frame_rule *r, uint32_t sid)
{
    switch (r->sid) {
    case GW_H2_SID_ZERO: return sid == 0;
    case GW_H2_SID_NONZERO: return sid != 0;
    default: return true;
    }
}

/* Empty of content: no header block fragment byte, or a DATA frame that
 * carries neither bytes nor END_STREAM. */
static bool empty(const struct gw_h2_frame_rule *r, const struct gw_h2_frame_header *h)
{
    if (r->body == GW_H2_BODY_BLOCK) return h->length <= gw_h2_frame_prefix(h);
    if (r->body == GW_H2_BODY_DATA) return h->length == 0 && !(h->flags & ES);
    return false;
}

unsigned gw_h2_frame_check(const struct gw_h2_frame_header *h)
{
    const struct gw_h2_frame_rule *r = gw_h2_frame_rule(h->type);
    unsigned bad = 0;
    if (!r) return 0;
    if (h->flags & ~r->flags) bad |= C_FLAGS;
    if (h->reserved) bad |= C_RES;
    if (!sid_ok(r, h->stream_id)) bad |= C_SID;
    if (!length_ok(r, h)) bad |= C_LEN;
    if (h->length < gw_h2_frame_prefix(h)) bad |= C_PRE;
    if ((h->stream_id & 1) == 0) bad |= C_ODD;
    if (empty(r, h)) bad |= C_EMPTY;
    return bad;
}

bool gw_h2_setting_ok(uint16_t id, uint32_t value)
{
    switch (id) {
    case GW_H2_SETTINGS_ENABLE_PUSH: return value <= 1;
    case GW_H2_SETTINGS_INITIAL_WINDOW_SIZE: return value <= GW_H2_MAX_WINDOW;
    case GW_H2_SETTINGS_MAX_FRAME_SIZE: return value >= GW_H2_DEFAULT_MAX_FRAME && value <= GW_H2_LARGEST_MAX_FRAME;
    default: return true;
    }
}
