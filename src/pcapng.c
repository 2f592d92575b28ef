/*
 * pcapng.c - a bounded pcapng reader that keeps each interface's link type.
 *
 * Format: draft-ietf-opsawg-pcapng. Every block is
 *     type(4) total_length(4) body(total_length - 12) total_length(4)
 * in the byte order of its section, which the Section Header Block (SHB)
 * states with its byte-order magic 0x1A2B3C4D; the SHB type 0x0A0D0D0A is a
 * palindrome so it can be recognised before the byte order is known.
 *
 * Invariants:
 *  - A block is read whole into r->buf (its length checked first: >= 12, a
 *    multiple of 4, <= GW_PCAPNG_MAX_BLOCK), and its trailing length must
 *    equal the leading one, before any field of it is looked at. Fields are
 *    read through a gw_cursor over the body, so nothing reads past it.
 *  - r->buf only grows, by doubling, up to GW_PCAPNG_MAX_BLOCK; r->ifs up to
 *    GW_PCAPNG_MAX_INTERFACES entries. Nothing else is allocated, so the
 *    steady state allocates nothing per packet.
 *  - The first fault is sticky: r->fault keeps the message ("pcapng: block
 *    at offset N: ...", N the block's first byte in the file) and every
 *    later call returns it. Packets before the faulty block have all been
 *    delivered, because a block is only parsed once it is complete.
 *  - Timestamps follow capture.h: outside [1970, GW_CAPTURE_MAX_SEC] (or an
 *    if_tsresol we cannot convert) the packet is still delivered, stamped
 *    with the last good time and counted in bad_timestamps. Conversion does
 *    no arithmetic that can overflow: resolutions are split into whole
 *    seconds and a fraction before scaling.
 *  - The FILE belongs to the caller; reading uses fread only, so pipes and
 *    stdin work (no seeking).
 */
#include "grpcwatch/pcapng.h"

#include <errno.h>
#include <pcap/dlt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "grpcwatch/cursor.h"

#define BT_SHB 0x0A0D0D0Au
#define BT_IDB 0x00000001u
#define BT_PB 0x00000002u  /* obsolete Packet Block */
#define BT_SPB 0x00000003u
#define BT_EPB 0x00000006u
#define BYTE_ORDER_MAGIC 0x1A2B3C4Du

#define OPT_ENDOFOPT 0
#define OPT_IF_TSRESOL 9
#define OPT_IF_TSOFFSET 14

#define SHB_MIN_LEN 28u   /* header 8 + magic 4 + versions 4 + section length 8 + trailer 4 */
#define BUF_INITIAL (64u * 1024)
#define IFS_INITIAL 8u
#define DEFAULT_TSRESOL 6 /* microseconds */

struct iface {
    int64_t tsoffset;  /* seconds added to every timestamp (if_tsoffset) */
    uint32_t snaplen;  /* 0: no limit */
    int linktype;      /* DLT_ value */
    uint8_t tsresol;   /* if_tsresol as in the option: bit 7 = power of 2 */
};

struct gw_pcapng {
    FILE *f;
    uint8_t *buf;          /* the current block, from after total_length on */
    size_t bufcap;
    uint64_t offset;       /* file offset of the next block */
    uint64_t block_off;    /* file offset of the block being read */
    bool big_endian;       /* byte order of the current section */
    struct iface *ifs;
    uint32_t nifs, ifcap;
    uint64_t packets, bad_timestamps, sections, skipped_blocks;
    gw_time_us last_ts;    /* last valid timestamp, 0 before the first */
    bool failed;
    char fault[256];
};

/* 10^0 .. 10^19: every power of ten a uint64_t holds. */
static const uint64_t pow10_table[20] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
    100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
    10000000000000ULL, 100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
    100000000000000000ULL, 1000000000000000000ULL, 10000000000000000000ULL
};

__attribute__((format(printf, 2, 3)))
static int fault(struct gw_pcapng *r, const char *fmt, ...)
{
    int n = snprintf(r->fault, sizeof r->fault, "pcapng: block at offset %llu: ",
                     (unsigned long long)r->block_off);
    if (n < 0 || (size_t)n >= sizeof r->fault) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->fault + n, sizeof r->fault - (size_t)n, fmt, ap);
    va_end(ap);
    r->failed = true;
    return GW_ERR_IO;
}

/* ---- byte order -------------------------------------------------------- */

static uint16_t get16(struct gw_cursor *c, bool be)
{
    return be ? gw_get_be16(c) : gw_get_le16(c);
}

static uint32_t get32(struct gw_cursor *c, bool be)
{
    return be ? gw_get_be32(c) : gw_get_le32(c);
}

static uint64_t get64(struct gw_cursor *c, bool be)
{
    uint64_t a = get32(c, be), b = get32(c, be);
    return be ? (a << 32) | b : (b << 32) | a;
}

/* Packet timestamps are two 32-bit words, upper first, each in the
 * section's byte order - not one 64-bit integer. */
static uint64_t get_timestamp(struct gw_cursor *c, bool be)
{
    uint64_t upper = get32(c, be), lower = get32(c, be);
    return (upper << 32) | lower;
}

/* ---- reading whole blocks --------------------------------------------- */

static int grow_buf(struct gw_pcapng *r, size_t need)
{
    if (need <= r->bufcap) return GW_OK;
    size_t cap = r->bufcap ? r->bufcap : BUF_INITIAL;
    while (cap < need) cap *= 2;
    if (cap > GW_PCAPNG_MAX_BLOCK) cap = GW_PCAPNG_MAX_BLOCK;
    uint8_t *b = realloc(r->buf, cap);
    if (!b) return fault(r, "out of memory for a block of %zu bytes", need);
    r->buf = b;
    r->bufcap = cap;
    return GW_OK;
}

/* fread that tells a short read at the end of the file from a read error. */
static int read_exact(struct gw_pcapng *r, uint8_t *dst, size_t n, size_t *got)
{
    *got = fread(dst, 1, n, r->f);
    if (*got == n) return GW_OK;
    if (ferror(r->f)) return fault(r, "read error: %s", strerror(errno));
    return GW_ERR_TRUNCATED;
}

/* Reads the 8-byte block header (12 for an SHB: the byte-order magic comes
 * with it). Returns 1, 0 at a clean end of file, or GW_ERR_IO. */
static int read_header(struct gw_pcapng *r, uint8_t hdr[12], size_t *hdrlen)
{
    size_t got;
    int rc = read_exact(r, hdr, 8, &got);
    if (rc == GW_ERR_IO) return rc;
    if (rc == GW_ERR_TRUNCATED) {
        if (got == 0) return 0;
        return fault(r, "truncated: the file ends %zu bytes into the 8-byte block header", got);
    }
    *hdrlen = 8;
    struct gw_cursor c = gw_cursor_make(hdr, 12);
    if (gw_get_le32(&c) != BT_SHB) return 1; /* a palindrome: any byte order */
    rc = read_exact(r, hdr + 8, 4, &got);
    if (rc == GW_ERR_IO) return rc;
    if (rc == GW_ERR_TRUNCATED)
        return fault(r, "truncated: the file ends inside the section header's byte-order magic");
    gw_skip(&c, 4); /* total length: its byte order is not known yet */
    struct gw_cursor le = c;
    uint32_t magic = gw_get_be32(&c);
    if (magic == BYTE_ORDER_MAGIC) r->big_endian = true;
    else if (gw_get_le32(&le) == BYTE_ORDER_MAGIC) r->big_endian = false;
    else return fault(r, "section header byte-order magic 0x%08x is not 0x1a2b3c4d in either byte order", magic);
    *hdrlen = 12;
    return 1;
}

static int check_length(struct gw_pcapng *r, uint32_t type, uint32_t total)
{
    if (total < 12) return fault(r, "total length %u is below the 12-byte minimum", total);
    if (total % 4 != 0) return fault(r, "total length %u is not a multiple of 4", total);
    if (total > GW_PCAPNG_MAX_BLOCK)
        return fault(r, "total length %u exceeds the %u-byte cap", total, GW_PCAPNG_MAX_BLOCK);
    if (type == BT_SHB && total < SHB_MIN_LEN)
        return fault(r, "section header of %u bytes is shorter than %u", total, SHB_MIN_LEN);
    return GW_OK;
}

/* Reads one whole block: *type, and its body (between the two length
 * fields) at r->buf, *bodylen bytes. Returns 1, 0 at a clean end of file
 * (between blocks), or GW_ERR_IO. */
static int read_block(struct gw_pcapng *r, uint32_t *type, size_t *bodylen)
{
    uint8_t hdr[12];
    size_t hdrlen = 0, got;
    r->block_off = r->offset;
    int rc = read_header(r, hdr, &hdrlen);
    if (rc <= 0) return rc;
    struct gw_cursor h = gw_cursor_make(hdr, hdrlen);
    *type = get32(&h, r->big_endian);
    uint32_t total = get32(&h, r->big_endian);
    if (r->sections == 0 && *type != BT_SHB)
        return fault(r, "not a pcapng file: the first block (type 0x%08x) is not a section header",
                     *type);
    if ((rc = check_length(r, *type, total)) != GW_OK) return rc;
    /* body + trailing length; an SHB's byte-order magic is already read */
    size_t rest = (size_t)total - 8;
    if ((rc = grow_buf(r, rest)) != GW_OK) return rc;
    memcpy(r->buf, hdr + 8, hdrlen - 8);
    rc = read_exact(r, r->buf + (hdrlen - 8), rest - (hdrlen - 8), &got);
    if (rc == GW_ERR_IO) return rc;
    if (rc == GW_ERR_TRUNCATED)
        return fault(r, "truncated: the block is %u bytes long, the file ends after %zu",
                     total, hdrlen + got);
    struct gw_cursor body = gw_cursor_make(r->buf, rest);
    gw_skip(&body, rest - 4);               /* rest >= 4: total >= 12 was checked */
    uint32_t trailer = get32(&body, r->big_endian);
    if (trailer != total)
        return fault(r, "trailing total length %u differs from the leading %u", trailer, total);
    r->offset += total;
    *bodylen = rest - 4;
    return 1;
}

/* ---- section and interfaces ------------------------------------------- */

static int parse_shb(struct gw_pcapng *r, size_t len)
{
    struct gw_cursor c = gw_cursor_make(r->buf, len);
    gw_skip(&c, 4); /* byte-order magic, checked by read_header */
    uint16_t major = get16(&c, r->big_endian), minor = get16(&c, r->big_endian);
    if (major != 1) return fault(r, "unsupported pcapng version %u.%u", major, minor);
    r->nifs = 0; /* interface ids are per section */
    r->sections++;
    return GW_OK;
}

/* Reads the options of an IDB we use; a malformed option list is a fault
 * like any other length that does not add up. */
static int parse_idb_options(struct gw_pcapng *r, struct gw_cursor *c, struct iface *ifc)
{
    bool be = r->big_endian;
    while (gw_cursor_left(c) >= 4) {
        uint16_t code = get16(c, be), olen = get16(c, be);
        if (code == OPT_ENDOFOPT) break;
        size_t padded = ((size_t)olen + 3) & ~(size_t)3;
        struct gw_cursor v = gw_cursor_sub(c, padded);
        if (v.err)
            return fault(r, "interface option %u of %u bytes runs past the block", code, olen);
        if (code == OPT_IF_TSRESOL && olen >= 1) ifc->tsresol = gw_get_u8(&v);
        if (code == OPT_IF_TSOFFSET && olen >= 8) ifc->tsoffset = (int64_t)get64(&v, be);
    }
    return GW_OK;
}

static int add_interface(struct gw_pcapng *r)
{
    if (r->nifs >= GW_PCAPNG_MAX_INTERFACES)
        return fault(r, "more than %u interfaces in one section", GW_PCAPNG_MAX_INTERFACES);
    if (r->nifs == r->ifcap) {
        uint32_t cap = r->ifcap ? r->ifcap * 2 : IFS_INITIAL;
        if (cap > GW_PCAPNG_MAX_INTERFACES) cap = GW_PCAPNG_MAX_INTERFACES;
        struct iface *n = realloc(r->ifs, (size_t)cap * sizeof *n);
        if (!n) return fault(r, "out of memory for %u interfaces", cap);
        r->ifs = n;
        r->ifcap = cap;
    }
    r->nifs++;
    return GW_OK;
}

static int parse_idb(struct gw_pcapng *r, size_t len)
{
    struct gw_cursor c = gw_cursor_make(r->buf, len);
    uint16_t linktype = get16(&c, r->big_endian);
    gw_skip(&c, 2); /* reserved */
    uint32_t snaplen = get32(&c, r->big_endian);
    if (c.err) return fault(r, "interface description of %zu body bytes is shorter than 8", len);
    struct iface ifc = { 0, snaplen, gw_pcapng_linktype_to_dlt(linktype), DEFAULT_TSRESOL };
    int rc = parse_idb_options(r, &c, &ifc);
    if (rc == GW_OK) rc = add_interface(r);
    if (rc == GW_OK) r->ifs[r->nifs - 1] = ifc;
    return rc;
}

/* ---- timestamps --------------------------------------------------------- */

/* Splits units of 10^-exp or 2^-exp seconds into seconds and microseconds
 * (rounding down). False for a resolution no uint64_t can express. */
static bool split_units(uint8_t tsresol, uint64_t units, uint64_t *sec, uint64_t *usec)
{
    unsigned e = tsresol & 0x7f;
    if (tsresol & 0x80) {
        if (e > 63) return false;
        *sec = units >> e;
        uint64_t frac = units & ((UINT64_C(1) << e) - 1);
        /* frac * 10^6 must fit: keep at most 44 bits of fraction (2^44 * 10^6 < 2^64) */
        if (e > 44) {
            frac >>= e - 44;
            e = 44;
        }
        *usec = (frac * 1000000u) >> e;
        return true;
    }
    if (e >= GW_ARRAY_LEN(pow10_table)) return false;
    uint64_t per_sec = pow10_table[e], frac = units % per_sec;
    *sec = units / per_sec;
    *usec = e >= 6 ? frac / pow10_table[e - 6] : frac * pow10_table[6 - e];
    return true;
}

static bool units_to_us(const struct iface *ifc, uint64_t units, gw_time_us *ts)
{
    uint64_t sec, usec;
    if (!split_units(ifc->tsresol, units, &sec, &usec)) return false;
    if (sec > GW_CAPTURE_MAX_SEC) return false;
    if (ifc->tsoffset < 0) {
        uint64_t back = (uint64_t)(-(ifc->tsoffset + 1)) + 1; /* no overflow at INT64_MIN */
        if (sec < back) return false;
        sec -= back;
    } else {
        /* sec <= ~2.5e11 and tsoffset <= ~9.2e18: the sum fits in 64 bits */
        sec += (uint64_t)ifc->tsoffset;
    }
    if (sec > GW_CAPTURE_MAX_SEC) return false;
    *ts = (gw_time_us)sec * 1000000 + (gw_time_us)usec;
    return true;
}

/* ---- packets ------------------------------------------------------------ */

struct raw_packet {
    uint32_t ifid;
    bool has_ts;       /* a Simple Packet Block has none */
    uint64_t units;
    const uint8_t *data;
    uint32_t caplen, origlen;
};

static int deliver(struct gw_pcapng *r, const struct raw_packet *rp, struct gw_packet *pkt)
{
    if (rp->ifid >= r->nifs)
        return fault(r, "interface id %u is not defined (%u interfaces in this section)",
                     rp->ifid, r->nifs);
    const struct iface *ifc = &r->ifs[rp->ifid];
    if (!rp->has_ts) {
        pkt->ts = r->last_ts;
    } else if (units_to_us(ifc, rp->units, &pkt->ts)) {
        r->last_ts = pkt->ts;
    } else {
        r->bad_timestamps++;
        pkt->ts = r->last_ts;
    }
    pkt->linktype = ifc->linktype;
    pkt->data = rp->data;
    pkt->wirelen = GW_MAX(rp->origlen, rp->caplen);
    /* as libpcap: more than the interface's snaplen is cut to it */
    pkt->caplen = ifc->snaplen && rp->caplen > ifc->snaplen ? ifc->snaplen : rp->caplen;
    pkt->number = ++r->packets;
    return GW_CAPTURE_PACKET;
}

static int captured_data(struct gw_pcapng *r, struct gw_cursor *c, struct raw_packet *rp)
{
    if (rp->caplen > gw_cursor_left(c))
        return fault(r, "captured length %u exceeds the %zu bytes left in the block",
                     rp->caplen, gw_cursor_left(c));
    rp->data = gw_get_bytes(c, rp->caplen);
    return GW_OK;
}

/* What an Enhanced Packet Block and the obsolete Packet Block share after
 * the interface id: timestamp, captured and original length, the data. */
static int parse_packet_tail(struct gw_pcapng *r, struct gw_cursor *c, struct raw_packet *rp,
                             const char *block, size_t len, struct gw_packet *pkt)
{
    bool be = r->big_endian;
    rp->units = get_timestamp(c, be);
    rp->caplen = get32(c, be);
    rp->origlen = get32(c, be);
    if (c->err) return fault(r, "%s of %zu body bytes is shorter than 20", block, len);
    int rc = captured_data(r, c, rp);
    return rc == GW_OK ? deliver(r, rp, pkt) : rc;
}

static int parse_epb(struct gw_pcapng *r, size_t len, struct gw_packet *pkt)
{
    struct gw_cursor c = gw_cursor_make(r->buf, len);
    struct raw_packet rp = { 0, true, 0, NULL, 0, 0 };
    rp.ifid = get32(&c, r->big_endian);
    return parse_packet_tail(r, &c, &rp, "enhanced packet block", len, pkt);
}

static int parse_pb(struct gw_pcapng *r, size_t len, struct gw_packet *pkt)
{
    struct gw_cursor c = gw_cursor_make(r->buf, len);
    struct raw_packet rp = { 0, true, 0, NULL, 0, 0 };
    rp.ifid = get16(&c, r->big_endian);
    gw_skip(&c, 2); /* drops count */
    return parse_packet_tail(r, &c, &rp, "packet block", len, pkt);
}

/* A Simple Packet Block belongs to interface 0 and has no captured length:
 * it is the original length, bounded by what the block holds. */
static int parse_spb(struct gw_pcapng *r, size_t len, struct gw_packet *pkt)
{
    struct gw_cursor c = gw_cursor_make(r->buf, len);
    struct raw_packet rp = { 0, false, 0, NULL, 0, 0 };
    rp.origlen = get32(&c, r->big_endian);
    if (c.err) return fault(r, "simple packet block of %zu body bytes is shorter than 4", len);
    rp.caplen = (uint32_t)GW_MIN((size_t)rp.origlen, gw_cursor_left(&c));
    rp.data = gw_get_bytes(&c, rp.caplen);
    return deliver(r, &rp, pkt);
}

/* ---- public ------------------------------------------------------------- */

bool gw_pcapng_probe(const uint8_t *p, size_t n)
{
    static const uint8_t shb[4] = { 0x0A, 0x0D, 0x0D, 0x0A };
    return n >= 1 && memcmp(p, shb, GW_MIN(n, sizeof shb)) == 0;
}

int gw_pcapng_linktype_to_dlt(uint16_t linktype)
{
    switch (linktype) {
    case 100: return DLT_ATM_RFC1483;
    case 101: return DLT_RAW;
    case 102: return DLT_SLIP_BSDOS;
    case 103: return DLT_PPP_BSDOS;
    case 106: return DLT_ATM_CLIP;
    case 108: return DLT_LOOP;
    default: return linktype;
    }
}

struct gw_pcapng *gw_pcapng_open(FILE *f, char *err, size_t errlen)
{
    struct gw_pcapng *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "pcapng: out of memory");
        return NULL;
    }
    r->f = f;
    uint32_t type = 0;
    size_t len = 0;
    int rc = read_block(r, &type, &len);
    if (rc == 0) snprintf(err, errlen, "pcapng: empty file");
    else if (rc == 1 && parse_shb(r, len) == GW_OK) return r;
    if (r->failed) snprintf(err, errlen, "%s", r->fault);
    gw_pcapng_close(r);
    return NULL;
}

int gw_pcapng_next(struct gw_pcapng *r, struct gw_packet *pkt, char *err, size_t errlen)
{
    int rc = GW_OK;
    while (!r->failed) {
        uint32_t type = 0;
        size_t len = 0;
        rc = read_block(r, &type, &len);
        if (rc == 0) return GW_CAPTURE_END;
        if (rc < 0) break;
        switch (type) {
        case BT_SHB: rc = parse_shb(r, len); break;
        case BT_IDB: rc = parse_idb(r, len); break;
        case BT_EPB: rc = parse_epb(r, len, pkt); break;
        case BT_SPB: rc = parse_spb(r, len, pkt); break;
        case BT_PB: rc = parse_pb(r, len, pkt); break;
        default:
            r->skipped_blocks++;
            rc = GW_OK;
            break;
        }
        if (rc == GW_CAPTURE_PACKET) return rc;
    }
    snprintf(err, errlen, "%s", r->fault);
    return GW_ERR_IO;
}

void gw_pcapng_stats(const struct gw_pcapng *r, struct gw_pcapng_stats *st)
{
    st->packets = r->packets;
    st->bad_timestamps = r->bad_timestamps;
    st->sections = r->sections;
    st->skipped_blocks = r->skipped_blocks;
}

void gw_pcapng_close(struct gw_pcapng *r)
{
    if (!r) return;
    free(r->buf);
    free(r->ifs);
    free(r);
}
