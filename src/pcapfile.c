/*
 * pcapfile.c - classic pcap files read from a mapping (see pcapfile.h).
 *
 * Invariants:
 *  - map[0..size) is the file as it was at open; off is the offset of the
 *    next record header, always <= size; every read is checked against
 *    size before it happens (the cursor), so a file cut anywhere is an
 *    error at that record, never a read past the mapping.
 *  - Only the current packet's bytes must stay valid (until the next call,
 *    as with libpcap): whole pages before it are released as the reader
 *    moves on, which keeps the resident set small on a capture of GBs.
 *  - A fault is sticky: `fault` holds the message and every later call
 *    returns it again, as libpcap's savefile does.
 */
#include "grpcwatch/pcapfile.h"

#include "grpcwatch/cursor.h"
#include "grpcwatch/pcapng.h"

#include <pcap/dlt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define FILE_HEADER 24
#define RECORD_HEADER 16
#define MAX_SNAPLEN 262144u /* libpcap's max_snaplen_for_dlt for the types below */
/* Pages behind the reader are given back every this many bytes, so the
 * mapping adds a few MiB to the resident set, not the file's size. */
#define RELEASE_STEP (1u << 20)

struct gw_pcapfile {
    const uint8_t *map;
    size_t size, off;
    size_t released;       /* map[0..released) given back (MADV_DONTNEED) */
    bool big_endian, nanosecond;
    bool swapped;          /* the file's byte order is not this machine's */
    int linktype;
    uint32_t snaplen;
    char fault[160];
};

static uint32_t get32(struct gw_cursor *c, bool be) { return be ? gw_get_be32(c) : gw_get_le32(c); }
static uint16_t get16(struct gw_cursor *c, bool be) { return be ? gw_get_be16(c) : gw_get_le16(c); }

/* The link types grpcwatch decodes; each has libpcap's default maximum
 * snapshot and no byte-order fix-ups in libpcap's reader. */
static bool dlt_taken(int dlt)
{
    switch (dlt) {
    case DLT_NULL: case DLT_EN10MB: case DLT_RAW: case DLT_LOOP: case DLT_LINUX_SLL:
    case DLT_LINUX_SLL2: case DLT_IPV4: case DLT_IPV6:
        return true;
    default:
        return false;
    }
}

/* The 24-byte file header, or false when libpcap should read this file. */
static bool parse_header(struct gw_pcapfile *r)
{
    struct gw_cursor c = gw_cursor_make(r->map, r->size);
    const uint8_t *m = gw_get_bytes(&c, 4);
    if (!m) return false;
    static const uint8_t us_le[4] = { 0xd4, 0xc3, 0xb2, 0xa1 }, ns_le[4] = { 0x4d, 0x3c, 0xb2, 0xa1 };
    static const uint8_t us_be[4] = { 0xa1, 0xb2, 0xc3, 0xd4 }, ns_be[4] = { 0xa1, 0xb2, 0x3c, 0x4d };
    if (!memcmp(m, us_le, 4) || !memcmp(m, ns_le, 4)) r->big_endian = false;
    else if (!memcmp(m, us_be, 4) || !memcmp(m, ns_be, 4)) r->big_endian = true;
    else return false;
    r->nanosecond = !memcmp(m, ns_le, 4) || !memcmp(m, ns_be, 4);
    r->swapped = r->big_endian != (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__);
    uint16_t major = get16(&c, r->big_endian), minor = get16(&c, r->big_endian);
    gw_skip(&c, 8); /* thiszone, sigfigs: unused, as in libpcap */
    uint32_t snaplen = get32(&c, r->big_endian), linktype = get32(&c, r->big_endian);
    if (c.err || major != 2 || minor != 4 || (linktype >> 16) != 0) return false;
    r->linktype = gw_pcapng_linktype_to_dlt((uint16_t)linktype);
    if (!dlt_taken(r->linktype)) return false;
    r->snaplen = snaplen == 0 || snaplen > MAX_SNAPLEN ? MAX_SNAPLEN : snaplen;
    r->off = FILE_HEADER;
    return true;
}

struct gw_pcapfile *gw_pcapfile_open(FILE *f, bool *not_ours, char *err, size_t errlen)
{
    struct stat st;
    *not_ours = true;
    if (f == stdin || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size < FILE_HEADER)
        return NULL;
    struct gw_pcapfile *r = calloc(1, sizeof *r);
    if (!r) {
        *not_ours = false;
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->size = (size_t)st.st_size;
    void *map = mmap(NULL, r->size, PROT_READ, MAP_PRIVATE, fileno(f), 0);
    if (map == MAP_FAILED) {
        free(r); /* not fatal: libpcap reads it with fread */
        return NULL;
    }
    r->map = map;
    if (!parse_header(r)) {
        gw_pcapfile_close(r);
        return NULL;
    }
    madvise(map, r->size, MADV_SEQUENTIAL);
    *not_ours = false;
    return r;
}

int gw_pcapfile_linktype(const struct gw_pcapfile *r) { return r->linktype; }

static int fail(struct gw_pcapfile *r, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s", r->fault);
    return GW_ERR_IO;
}

/* Gives back the pages wholly before the record about to be read. */
static void release_behind(struct gw_pcapfile *r)
{
    if (r->off - r->released < 2 * RELEASE_STEP) return;
    size_t upto = (r->off - RELEASE_STEP) & ~(size_t)(RELEASE_STEP - 1);
    if (upto <= r->released) return;
    madvise((void *)(r->map + r->released), upto - r->released, MADV_DONTNEED);
    r->released = upto;
}

int gw_pcapfile_next(struct gw_pcapfile *r, struct gw_pcapfile_packet *pkt, char *err,
                     size_t errlen)
{
    if (r->fault[0]) return fail(r, err, errlen);
    size_t left = r->size - r->off;
    if (left == 0) return GW_CAPTURE_END;
    if (left < RECORD_HEADER) {
        snprintf(r->fault, sizeof r->fault,
                 "truncated dump file; tried to read %u header bytes, only got %zu",
                 (unsigned)RECORD_HEADER, left);
        return fail(r, err, errlen);
    }
    /* the 16 bytes are there (checked above): read them as four words */
    uint32_t h[4];
    memcpy(h, r->map + r->off, sizeof h);
    if (r->swapped)
        for (int i = 0; i < 4; i++) h[i] = __builtin_bswap32(h[i]);
    uint32_t sec = h[0], frac = h[1], caplen = h[2], wirelen = h[3];
    if (caplen > MAX_SNAPLEN) {
        if (caplen > r->snaplen)
            snprintf(r->fault, sizeof r->fault,
                     "invalid packet capture length %u, bigger than snaplen of %u", caplen,
                     r->snaplen);
        else
            snprintf(r->fault, sizeof r->fault,
                     "invalid packet capture length %u, bigger than maximum of %u", caplen,
                     MAX_SNAPLEN);
        return fail(r, err, errlen);
    }
    const uint8_t *data = r->map + r->off + RECORD_HEADER;
    if (caplen > left - RECORD_HEADER) {
        snprintf(r->fault, sizeof r->fault,
                 "truncated dump file; tried to read %u captured bytes, only got %zu", caplen,
                 left - RECORD_HEADER);
        return fail(r, err, errlen);
    }
    release_behind(r);
    r->off += RECORD_HEADER + caplen;
    /* the next record's header and the packet headers after it: asked for
     * now, they arrive while this packet is decoded (packets are read
     * sparsely, header lines only, which the hardware prefetcher does not
     * follow) */
    if (r->size - r->off >= 128) {
        __builtin_prefetch(r->map + r->off);
        __builtin_prefetch(r->map + r->off + 64);
    }
    pkt->sec = sec;
    pkt->usec = r->nanosecond ? frac / 1000 : frac;
    pkt->data = data;
    pkt->caplen = caplen > r->snaplen ? r->snaplen : caplen;
    pkt->wirelen = wirelen;
    return GW_CAPTURE_PACKET;
}

void gw_pcapfile_close(struct gw_pcapfile *r)
{
    if (!r) return;
    if (r->map) munmap((void *)r->map, r->size);
    free(r);
}
