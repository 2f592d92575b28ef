/*
 * defrag.h - IPv4 / IPv6 fragment reassembly, first copy wins, within caps.
 *
 * The decoder parses the IP header and hands each fragment here
 * (gw_defrag_add): its key, its offset, flags and bytes. The answer is one of
 *  - GW_DEFRAG_COMPLETE: the fragment completed its datagram; *out points to
 *    the whole payload (after the IP header / unfragmentable part) in a
 *    buffer owned by the reassembler, valid until the next gw_defrag_add or
 *    gw_defrag_destroy. A fragment's data may itself point into that buffer
 *    (an inner fragment read from a completed outer datagram): its bytes are
 *    copied out before the buffer is rewritten.
 *  - GW_DEFRAG_HELD: kept (or a duplicate of bytes already held); the
 *    datagram is still incomplete.
 *  - GW_DEFRAG_DROPPED: invalid (counted in `invalid`), or no room
 *    (`evicted`).
 *
 * Time is packet time: gw_defrag_tick(now) advances the clock (it never goes
 * back) and drops datagrams older than the timeout. Call it once per packet
 * before gw_defrag_add; it costs a compare when nothing is held.
 *
 * Memory: nothing until the first fragment; then a table of about 350 bytes
 * per datagram (max_datagrams of them), 2 KiB chunks up to max_bytes, and one
 * 64 KiB buffer on the first completed datagram. Steady state allocates
 * nothing: chunks are recycled, never freed, until destroy.
 */
#ifndef GRPCWATCH_DEFRAG_H
#define GRPCWATCH_DEFRAG_H

#include "grpcwatch/common.h"
#include "grpcwatch/stats.h"

/* Fragment offsets count 8-byte units (RFC 791, RFC 8200). */
#define GW_DEFRAG_UNIT 8
/* The largest IP datagram: what offset + length may reach. */
#define GW_DEFRAG_MAX_LEN 65535u

#define GW_DEFRAG_DEFAULT_DATAGRAMS 1024
#define GW_DEFRAG_DEFAULT_BYTES (4u << 20)
#define GW_DEFRAG_DEFAULT_TIMEOUT_S 30
#define GW_DEFRAG_MAX_DATAGRAMS 65536
#define GW_DEFRAG_MAX_BYTES ((uint64_t)1 << 30)

/* Zero fields take the defaults. */
struct gw_defrag_config {
    uint32_t max_datagrams; /* in progress at once; default 1024, at most 65536 */
    uint64_t max_bytes;     /* buffered for them; default 4 MiB, at most 1 GiB */
    uint32_t timeout_s;     /* packet time from the first fragment; default 30 */
};

struct gw_defrag_stats {
    uint64_t received;       /* fragments handed in */
    uint64_t reassembled;    /* datagrams completed */
    uint64_t overlaps;       /* fragments overlapping bytes already held (first copy kept) */
    uint64_t conflicts;      /* ...of which some overlapping bytes differed (evasion) */
    uint64_t tiny;           /* first TCP fragments too short for the whole TCP header */
    uint64_t invalid;        /* fragments dropped or trimmed: past 65535 bytes, past the
                                datagram's end, inconsistent end, bad length */
    uint64_t timeouts;       /* incomplete datagrams dropped after the timeout */
    uint64_t evicted;        /* incomplete datagrams dropped to stay within the caps */
    uint64_t datagrams_held; /* gauge: datagrams in progress now */
    uint64_t bytes_held;     /* gauge: buffer bytes they hold now (<= max_bytes) */
};

/* The counters above for the stats registry, paths relative to the object
 * they are registered under ("decoder.fragments" in the sensor). */
extern const struct gw_stat_field gw_defrag_stat_fields[];
extern const size_t gw_defrag_stat_fields_len;

/* What identifies a datagram: RFC 791 (source, destination, protocol,
 * identification) and RFC 8200 (source, destination, identification), plus
 * the outermost tunnel, since tenants behind different VNIs reuse addresses. */
struct gw_defrag_key {
    struct gw_addr src, dst;
    uint32_t id;
    uint8_t proto;        /* IPv4 protocol; 0 for IPv6, whose key lacks it */
    uint8_t tunnel_type;  /* enum gw_tunnel_type */
    uint32_t tunnel_id;
};

/* One fragment as the IP layer hands it in. */
struct gw_defrag_frag {
    size_t offset;          /* in bytes (a multiple of GW_DEFRAG_UNIT) */
    bool more;              /* MF / M flag */
    bool trim_unaligned;    /* IPv4: cut a non-last fragment to a multiple of 8 */
    bool carries_tcp;       /* protocol / next header of the fragment is TCP */
    const uint8_t *data;
    size_t cap_len;         /* captured data bytes */
    size_t wire_len;        /* data bytes the fragment carried (>= cap_len) */
    size_t limit;           /* the datagram's payload may not end past this */
    uint8_t next;           /* IPv6 next header after the fragment header */
};

/* A completed datagram's payload. */
struct gw_defrag_datagram {
    const uint8_t *data;
    size_t len;
    uint8_t next;           /* IPv6: next header of the offset-0 fragment */
};

enum gw_defrag_result { GW_DEFRAG_COMPLETE = 0, GW_DEFRAG_HELD, GW_DEFRAG_DROPPED };

struct gw_defrag;

/* NULL when out of memory or when a field is over its maximum. */
struct gw_defrag *gw_defrag_create(const struct gw_defrag_config *cfg);
void gw_defrag_destroy(struct gw_defrag *f);

/* Advances the clock to now (if later) and drops expired datagrams.
 * Returns how many were dropped. */
uint64_t gw_defrag_tick(struct gw_defrag *f, gw_time_us now);

/* Adds one fragment of datagram *key. Returns an enum gw_defrag_result;
 * *out is set only on GW_DEFRAG_COMPLETE. */
int gw_defrag_add(struct gw_defrag *f, const struct gw_defrag_key *key,
                  const struct gw_defrag_frag *frag, struct gw_defrag_datagram *out);

const struct gw_defrag_stats *gw_defrag_stats(const struct gw_defrag *f);
const char *gw_defrag_result_str(int result);

#endif
