/*
 * test_pcapng.c - the pcapng reader on files built here, block by block,
 * from the layouts of draft-ietf-opsawg-pcapng (SHB 0x0A0D0D0A with
 * byte-order magic 0x1A2B3C4D, IDB 1, PB 2, SPB 3, EPB 6; options
 * if_tsresol 9 and if_tsoffset 14), read back through fmemopen. Expected
 * timestamps, lengths, link types and error offsets follow from the bytes
 * written (offsets are recorded while building), not from the reader.
 */
#include "grpcwatch/pcapng.h"

#include <check.h>
#include <pcap/dlt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building files ------------------------------------------------------ */

struct ng {
    uint8_t *b;
    size_t n, cap;
    bool be;          /* byte order of the section being written */
    size_t blk;       /* offset of the block being written */
};

static void put(struct ng *g, const void *p, size_t k)
{
    if (g->n + k > g->cap) {
        size_t cap = g->cap ? g->cap : 4096;
        while (cap < g->n + k) cap *= 2;
        g->b = realloc(g->b, cap);
        ck_assert_ptr_nonnull(g->b);
        g->cap = cap;
    }
    memcpy(g->b + g->n, p, k);
    g->n += k;
}

static void put_uint(struct ng *g, uint64_t v, int bytes)
{
    uint8_t q[8];
    for (int i = 0; i < bytes; i++) {
        int shift = g->be ? 8 * (bytes - 1 - i) : 8 * i;
        q[i] = (uint8_t)(v >> shift);
    }
    put(g, q, (size_t)bytes);
}

static void u16(struct ng *g, uint16_t v) { put_uint(g, v, 2); }
static void u32(struct ng *g, uint32_t v) { put_uint(g, v, 4); }

static void patch32(struct ng *g, size_t at, uint32_t v)
{
    size_t save = g->n;
    g->n = at;
    u32(g, v);
    g->n = save;
}

/* Starts a block; returns its offset. */
static size_t begin(struct ng *g, uint32_t type)
{
    g->blk = g->n;
    u32(g, type);
    u32(g, 0); /* total length, patched by end() */
    return g->blk;
}

/* Pads the body to 32 bits, writes the trailing length, patches the leading one. */
static void end(struct ng *g)
{
    static const uint8_t zero[4] = { 0 };
    put(g, zero, (4 - g->n % 4) % 4);
    uint32_t total = (uint32_t)(g->n + 4 - g->blk);
    u32(g, total);
    patch32(g, g->blk + 4, total);
}

static size_t shb(struct ng *g, bool be)
{
    g->be = be;
    size_t at = begin(g, 0x0A0D0D0A);
    u32(g, 0x1A2B3C4D);
    u16(g, 1);
    u16(g, 0);
    put_uint(g, UINT64_MAX, 8); /* section length: unspecified */
    end(g);
    return at;
}

/* tsresol < 0: no if_tsresol option (microseconds). tsoffset 0: none. */
static size_t idb(struct ng *g, uint16_t linktype, uint32_t snaplen, int tsresol, int64_t tsoffset)
{
    size_t at = begin(g, 1);
    u16(g, linktype);
    u16(g, 0);
    u32(g, snaplen);
    if (tsresol >= 0) {
        uint8_t v[4] = { (uint8_t)tsresol, 0, 0, 0 };
        u16(g, 9);
        u16(g, 1);
        put(g, v, 4);
    }
    if (tsoffset != 0) {
        u16(g, 14);
        u16(g, 8);
        put_uint(g, (uint64_t)tsoffset, 8);
    }
    u16(g, 0); /* opt_endofopt */
    u16(g, 0);
    end(g);
    return at;
}

static size_t epb(struct ng *g, uint32_t ifid, uint64_t units, const void *data, uint32_t caplen,
                  uint32_t origlen)
{
    size_t at = begin(g, 6);
    u32(g, ifid);
    u32(g, (uint32_t)(units >> 32));
    u32(g, (uint32_t)units);
    u32(g, caplen);
    u32(g, origlen);
    put(g, data, caplen);
    end(g);
    return at;
}

static size_t pb(struct ng *g, uint16_t ifid, uint64_t units, const void *data, uint32_t caplen,
                 uint32_t origlen)
{
    size_t at = begin(g, 2);
    u16(g, ifid);
    u16(g, 0); /* drops */
    u32(g, (uint32_t)(units >> 32));
    u32(g, (uint32_t)units);
    u32(g, caplen);
    u32(g, origlen);
    put(g, data, caplen);
    end(g);
    return at;
}

static size_t spb(struct ng *g, const void *data, uint32_t len)
{
    size_t at = begin(g, 3);
    u32(g, len);
    put(g, data, len);
    end(g);
    return at;
}

static size_t other_block(struct ng *g, uint32_t type, size_t body)
{
    size_t at = begin(g, type);
    for (size_t i = 0; i < body; i++) put(g, "x", 1);
    end(g);
    return at;
}

/* ---- reading them back ----------------------------------------------------- */

struct rd {
    FILE *f;
    struct gw_pcapng *r;
    char err[256];
};

static void rd_open(struct rd *d, const struct ng *g)
{
    d->f = fmemopen(g->b, g->n, "rb");
    ck_assert_ptr_nonnull(d->f);
    d->err[0] = 0;
    d->r = gw_pcapng_open(d->f, d->err, sizeof d->err);
    ck_assert_msg(d->r != NULL, "open: %s", d->err);
}

static void rd_close(struct rd *d, struct ng *g)
{
    gw_pcapng_close(d->r);
    fclose(d->f);
    free(g->b);
}

static int next(struct rd *d, struct gw_packet *p)
{
    memset(p, 0, sizeof *p);
    return gw_pcapng_next(d->r, p, d->err, sizeof d->err);
}

static void expect_packet(struct rd *d, int linktype, gw_time_us ts, const void *data,
                          uint32_t caplen, uint32_t wirelen)
{
    struct gw_packet p;
    int rc = next(d, &p);
    ck_assert_msg(rc == GW_CAPTURE_PACKET, "rc %d: %s", rc, d->err);
    ck_assert_msg(p.linktype == linktype, "packet %llu: linktype %d, want %d", (unsigned long long)p.number, p.linktype, linktype);
    ck_assert_int_eq(p.ts, ts);
    ck_assert_uint_eq(p.caplen, caplen);
    ck_assert_uint_eq(p.wirelen, wirelen);
    ck_assert_mem_eq(p.data, data, caplen);
}

static void expect_end(struct rd *d)
{
    struct gw_packet p;
    ck_assert_int_eq(next(d, &p), GW_CAPTURE_END);
}

/* The next call fails with exactly "pcapng: block at offset AT: WHAT", and
 * so does the one after it (sticky). */
static void expect_fault(struct rd *d, size_t at, const char *what)
{
    char want[256];
    snprintf(want, sizeof want, "pcapng: block at offset %zu: %s", at, what);
    struct gw_packet p;
    ck_assert_int_eq(next(d, &p), GW_ERR_IO);
    ck_assert_str_eq(d->err, want);
    d->err[0] = 0;
    ck_assert_int_eq(next(d, &p), GW_ERR_IO);
    ck_assert_str_eq(d->err, want);
}

static const uint8_t pkt_a[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x00, 0x45, 0 };
static const uint8_t pkt_b[21] = { 0x45, 0, 0, 21, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 1, 2,
                                   3, 4, 5, 6, 7, 8, 9, 10, 11 };
#define T0 1700000000ULL /* 2023-11-14, seconds */

/* ---- tests ------------------------------------------------------------------ */

static void every_block_type(bool be)
{
    struct ng g = { 0 };
    shb(&g, be);
    idb(&g, 1, 0, -1, 0);
    other_block(&g, 4, 8);           /* Name Resolution Block: skipped */
    epb(&g, 0, T0 * 1000000 + 1, pkt_a, sizeof pkt_a, 60);
    spb(&g, pkt_b, sizeof pkt_b);
    pb(&g, 0, T0 * 1000000 + 7, pkt_b, 20, 20);
    other_block(&g, 0x40000BAD, 5);  /* custom block: skipped */
    other_block(&g, 5, 0);           /* Interface Statistics Block: skipped */
    epb(&g, 0, T0 * 1000000 + 999999, pkt_b, 3, 3);
    struct rd d;
    rd_open(&d, &g);
    expect_packet(&d, DLT_EN10MB, (gw_time_us)T0 * 1000000 + 1, pkt_a, 16, 60);
    /* SPB: no timestamp of its own, so the previous one; caplen = original length */
    expect_packet(&d, DLT_EN10MB, (gw_time_us)T0 * 1000000 + 1, pkt_b, 21, 21);
    expect_packet(&d, DLT_EN10MB, (gw_time_us)T0 * 1000000 + 7, pkt_b, 20, 20);
    expect_packet(&d, DLT_EN10MB, (gw_time_us)T0 * 1000000 + 999999, pkt_b, 3, 3);
    expect_end(&d);
    expect_end(&d);
    struct gw_pcapng_stats st;
    gw_pcapng_stats(d.r, &st);
    ck_assert_uint_eq(st.packets, 4);
    ck_assert_uint_eq(st.skipped_blocks, 3);
    ck_assert_uint_eq(st.sections, 1);
    ck_assert_uint_eq(st.bad_timestamps, 0);
    rd_close(&d, &g);
}

START_TEST(blocks_little_endian) { every_block_type(false); }
END_TEST

START_TEST(blocks_big_endian) { every_block_type(true); }
END_TEST

START_TEST(tsresol_nanoseconds)
{
    struct ng g = { 0 };
    shb(&g, false);
    idb(&g, 1, 0, 9, 0);
    epb(&g, 0, T0 * 1000000000ULL + 123456789, pkt_a, 16, 16);
    struct rd d;
    rd_open(&d, &g);
    expect_packet(&d, DLT_EN10MB, (gw_time_us)T0 * 1000000 + 123456, pkt_a, 16, 16);
    expect_end(&d);
    rd_close(&d, &g);
}
END_TEST

START_TEST(tsresol_power_of_two)
{
    /* 2^-10 s units: 512 units = 0.5 s, 1 unit = 976.5625 us -> 976 */
    struct ng g = { 0 };
    shb(&g, true);
    idb(&g, 1, 0, 0x80 | 10, 0);
    epb(&g, 0, (T0 << 10) + 512, pkt_a, 16, 16);
    epb(&g, 0, (T0 << 10) + 1, pkt_a, 16, 16);
    struct rd d;
    rd_open(&d, &g);
    expect_packet(&d, DLT_EN10MB, (gw_time_us)T0 * 1000000 + 500000, pkt_a, 16, 16);
    expect_packet(&d, DLT_EN10MB, (gw_time_us)T0 * 1000000 + 976, pkt_a, 16, 16);
    expect_end(&d);
    rd_close(&d, &g);
}
END_TEST

START_TEST(tsresol_seconds_and_fine_binary)
{
    /* 10^0 (whole seconds) and 2^-60 (fraction wider than 44 bits) */
    struct ng g = { 0 };
    shb(&g, false);
    idb(&g, 1, 0, 0, 0);
    idb(&g, 1, 0, 0x80 | 60, 0);
    epb(&g, 0, T0, pkt_a, 16, 16);
    epb(&g, 1, (UINT64_C(3) << 60) | (UINT64_C(1) << 59), pkt_a, 16, 16); /* 3.5 s */
    struct rd d;
    rd_open(&d, &g);
    expect_packet(&d, DLT_EN10MB, (gw_time_us)T0 * 1000000, pkt_a, 16, 16);
    expect_packet(&d, DLT_EN10MB, 3500000, pkt_a, 16, 16);
    expect_end(&d);
    rd_close(&d, &g);
}
END_TEST

START_TEST(tsoffset)
{
    struct ng g = { 0 };
    shb(&g, false);
    idb(&g, 1, 0, -1, (int64_t)T0);        /* units count from T0 */
    idb(&g, 1, 0, -1, -100);
    epb(&g, 0, 2500000, pkt_a, 16, 16);      /* 2.5 s after T0 */
    epb(&g, 1, 150 * 1000000ULL + 7, pkt_a, 16, 16);
    struct rd d;
    rd_open(&d, &g);
    expect_packet(&d, DLT_EN10MB, (gw_time_us)(T0 + 2) * 1000000 + 500000, pkt_a, 16, 16);
    expect_packet(&d, DLT_EN10MB, 50 * 1000000 + 7, pkt_a, 16, 16);
    expect_end(&d);
    rd_close(&d, &g);
}
END_TEST

START_TEST(bad_timestamps_keep_previous_time)
{
    struct ng g = { 0 };
    shb(&g, false);
    idb(&g, 1, 0, 0, 0);                      /* seconds */
    idb(&g, 1, 0, 0x80 | 64, 0);              /* 2^-64: not representable */
    idb(&g, 1, 0, 20, 0);                     /* 10^-20: not representable */
    idb(&g, 1, 0, -1, -10);                   /* before 1970 */
    epb(&g, 0, 5, pkt_a, 16, 16);
    epb(&g, 0, GW_CAPTURE_MAX_SEC + 1, pkt_a, 16, 16);
    epb(&g, 0, UINT64_MAX, pkt_a, 16, 16);
    epb(&g, 1, 1, pkt_a, 16, 16);
    epb(&g, 2, 1, pkt_a, 16, 16);
    epb(&g, 3, 9000000, pkt_a, 16, 16);
    epb(&g, 0, GW_CAPTURE_MAX_SEC, pkt_a, 16, 16);
    struct rd d;
    rd_open(&d, &g);
    for (int i = 0; i < 6; i++) expect_packet(&d, DLT_EN10MB, 5000000, pkt_a, 16, 16);
    expect_packet(&d, DLT_EN10MB, (gw_time_us)GW_CAPTURE_MAX_SEC * 1000000, pkt_a, 16, 16);
    expect_end(&d);
    struct gw_pcapng_stats st;
    gw_pcapng_stats(d.r, &st);
    ck_assert_uint_eq(st.bad_timestamps, 5);
    rd_close(&d, &g);
}
END_TEST

START_TEST(two_link_types_alternating)
{
    struct ng g = { 0 };
    shb(&g, false);
    idb(&g, 1, 262144, -1, 0);   /* Ethernet */
    idb(&g, 101, 262144, -1, 0); /* LINKTYPE_RAW */
    idb(&g, 113, 262144, -1, 0); /* Linux cooked */
    for (int i = 0; i < 6; i++) epb(&g, (uint32_t)(i % 3), T0 * 1000000 + (uint64_t)i, pkt_b, 21, 21);
    struct rd d;
    rd_open(&d, &g);
    const int want[3] = { DLT_EN10MB, DLT_RAW, DLT_LINUX_SLL };
    for (int i = 0; i < 6; i++)
        expect_packet(&d, want[i % 3], (gw_time_us)T0 * 1000000 + i, pkt_b, 21, 21);
    expect_end(&d);
    rd_close(&d, &g);
}
END_TEST

START_TEST(sections_reset_interfaces)
{
    struct ng g = { 0 };
    shb(&g, false);
    idb(&g, 1, 0, -1, 0);
    idb(&g, 1, 0, -1, 0);
    epb(&g, 1, 1000000, pkt_a, 16, 16);
    shb(&g, true);               /* new section, other byte order, no interfaces yet */
    idb(&g, 101, 0, 9, 0);
    epb(&g, 0, 2000000000ULL, pkt_b, 21, 21);
    size_t bad = epb(&g, 1, 3000000000ULL, pkt_b, 21, 21); /* id 1 was the old section's */
    struct rd d;
    rd_open(&d, &g);
    expect_packet(&d, DLT_EN10MB, 1000000, pkt_a, 16, 16);
    expect_packet(&d, DLT_RAW, 2000000, pkt_b, 21, 21);
    expect_fault(&d, bad, "interface id 1 is not defined (1 interfaces in this section)");
    struct gw_pcapng_stats st;
    gw_pcapng_stats(d.r, &st);
    ck_assert_uint_eq(st.sections, 2);
    rd_close(&d, &g);
}
END_TEST

START_TEST(snaplen_cuts_and_large_block)
{
    size_t big = 300000;
    uint8_t *data = malloc(big);
    ck_assert_ptr_nonnull(data);
    for (size_t i = 0; i < big; i++) data[i] = (uint8_t)(i * 7);
    struct ng g = { 0 };
    shb(&g, false);
    idb(&g, 1, 10, -1, 0);
    idb(&g, 1, 0, -1, 0);
    epb(&g, 0, 1, pkt_a, 16, 16);
    epb(&g, 1, 2, data, (uint32_t)big, (uint32_t)big);
    epb(&g, 1, 3, pkt_a, 16, 16);
    struct rd d;
    rd_open(&d, &g);
    expect_packet(&d, DLT_EN10MB, 1, pkt_a, 10, 16);
    expect_packet(&d, DLT_EN10MB, 2, data, (uint32_t)big, (uint32_t)big);
    expect_packet(&d, DLT_EN10MB, 3, pkt_a, 16, 16);
    expect_end(&d);
    rd_close(&d, &g);
    free(data);
}
END_TEST

START_TEST(probe)
{
    const uint8_t ng[4] = { 0x0A, 0x0D, 0x0D, 0x0A };
    const uint8_t pcap_le[4] = { 0xd4, 0xc3, 0xb2, 0xa1 };
    const uint8_t pcap_be_ns[4] = { 0xa1, 0xb2, 0x3c, 0x4d };
    const uint8_t almost[4] = { 0x0A, 0x0D, 0x0D, 0x0B };
    ck_assert(gw_pcapng_probe(ng, 4));
    ck_assert(gw_pcapng_probe(ng, 1));
    ck_assert(!gw_pcapng_probe(pcap_le, 1));
    ck_assert(!gw_pcapng_probe(pcap_be_ns, 4));
    ck_assert(!gw_pcapng_probe(almost, 4));
    ck_assert(!gw_pcapng_probe(ng, 0));
    ck_assert_int_eq(gw_pcapng_linktype_to_dlt(101), DLT_RAW);
    ck_assert_int_eq(gw_pcapng_linktype_to_dlt(1), DLT_EN10MB);
    ck_assert_int_eq(gw_pcapng_linktype_to_dlt(276), 276);
}
END_TEST

/* ---- hostile files ------------------------------------------------------------ */

/* A section, an interface and one good packet, as the prefix of every
 * malformed file below: the good packet must come out before the fault. */
static void good_prefix(struct ng *g)
{
    shb(g, false);
    idb(g, 1, 0, -1, 0);
    epb(g, 0, 42, pkt_a, 16, 16);
}

static void expect_good_then_fault(struct ng *g, size_t at, const char *what)
{
    struct rd d;
    rd_open(&d, g);
    expect_packet(&d, DLT_EN10MB, 42, pkt_a, 16, 16);
    expect_fault(&d, at, what);
    rd_close(&d, g);
}

START_TEST(block_length_below_12)
{
    struct ng g = { 0 };
    good_prefix(&g);
    size_t at = g.n;
    u32(&g, 6);
    u32(&g, 8);
    u32(&g, 8);
    expect_good_then_fault(&g, at, "total length 8 is below the 12-byte minimum");
}
END_TEST

START_TEST(block_length_not_multiple_of_4)
{
    struct ng g = { 0 };
    good_prefix(&g);
    size_t at = epb(&g, 0, 43, pkt_a, 16, 16);
    patch32(&g, at + 4, 46);
    expect_good_then_fault(&g, at, "total length 46 is not a multiple of 4");
}
END_TEST

START_TEST(trailing_length_mismatch)
{
    struct ng g = { 0 };
    good_prefix(&g);
    size_t at = epb(&g, 0, 43, pkt_a, 16, 16);
    patch32(&g, g.n - 4, 40);
    expect_good_then_fault(&g, at, "trailing total length 40 differs from the leading 48");
}
END_TEST

START_TEST(block_over_cap)
{
    struct ng g = { 0 };
    good_prefix(&g);
    size_t at = epb(&g, 0, 43, pkt_a, 16, 16);
    patch32(&g, at + 4, GW_PCAPNG_MAX_BLOCK + 4);
    char what[128];
    snprintf(what, sizeof what, "total length %u exceeds the %u-byte cap",
             GW_PCAPNG_MAX_BLOCK + 4, GW_PCAPNG_MAX_BLOCK);
    expect_good_then_fault(&g, at, what);
}
END_TEST

START_TEST(epb_caplen_past_block)
{
    struct ng g = { 0 };
    good_prefix(&g);
    size_t at = epb(&g, 0, 43, pkt_a, 16, 16);
    patch32(&g, at + 20, 17); /* caplen: 16 data bytes are all the block has */
    expect_good_then_fault(&g, at, "captured length 17 exceeds the 16 bytes left in the block");
}
END_TEST

START_TEST(interface_not_defined)
{
    struct ng g = { 0 };
    good_prefix(&g);
    size_t at = epb(&g, 7, 43, pkt_a, 16, 16);
    expect_good_then_fault(&g, at, "interface id 7 is not defined (1 interfaces in this section)");
}
END_TEST

START_TEST(simple_packet_without_interface)
{
    struct ng g = { 0 };
    shb(&g, true);
    size_t at = spb(&g, pkt_a, 16);
    struct rd d;
    rd_open(&d, &g);
    expect_fault(&d, at, "interface id 0 is not defined (0 interfaces in this section)");
    rd_close(&d, &g);
}
END_TEST

START_TEST(too_many_interfaces)
{
    struct ng g = { 0 };
    good_prefix(&g); /* one interface already */
    size_t at = 0;
    for (uint32_t i = 1; i <= GW_PCAPNG_MAX_INTERFACES; i++) at = idb(&g, 1, 0, -1, 0);
    char what[128];
    snprintf(what, sizeof what, "more than %u interfaces in one section", GW_PCAPNG_MAX_INTERFACES);
    expect_good_then_fault(&g, at, what);
}
END_TEST

START_TEST(truncated_inside_block)
{
    struct ng g = { 0 };
    good_prefix(&g);
    size_t at = epb(&g, 0, 43, pkt_a, 16, 16); /* 48 bytes */
    g.n -= 10;
    expect_good_then_fault(&g, at, "truncated: the block is 48 bytes long, the file ends after 38");
}
END_TEST

START_TEST(truncated_inside_header)
{
    struct ng g = { 0 };
    good_prefix(&g);
    size_t at = epb(&g, 0, 43, pkt_a, 16, 16);
    g.n = at + 5;
    expect_good_then_fault(&g, at, "truncated: the file ends 5 bytes into the 8-byte block header");
}
END_TEST

START_TEST(bad_options_and_version)
{
    struct ng g = { 0 };
    good_prefix(&g);
    size_t at = idb(&g, 1, 0, 9, 0);
    /* the if_tsresol option (at +16) claims 200 bytes; the block has 8 left */
    g.b[at + 16] = 9;
    g.b[at + 17] = 0;
    g.b[at + 18] = 200;
    g.b[at + 19] = 0;
    expect_good_then_fault(&g, at, "interface option 9 of 200 bytes runs past the block");

    struct ng h = { 0 };
    good_prefix(&h);
    size_t at2 = shb(&h, false);
    h.b[at2 + 12] = 2; /* major version 2 */
    expect_good_then_fault(&h, at2, "unsupported pcapng version 2.0");
}
END_TEST

START_TEST(bad_byte_order_magic_later)
{
    struct ng g = { 0 };
    good_prefix(&g);
    size_t at = shb(&g, false);
    memcpy(g.b + at + 8, "\x01\x02\x03\x04", 4);
    expect_good_then_fault(&g, at,
                           "section header byte-order magic 0x01020304 is not 0x1a2b3c4d in either byte order");
}
END_TEST

START_TEST(not_pcapng_at_open)
{
    const char text[] = "this is not a capture, just text\n";
    FILE *f = fmemopen((void *)text, sizeof text - 1, "rb");
    ck_assert_ptr_nonnull(f);
    char err[256] = "";
    ck_assert_ptr_null(gw_pcapng_open(f, err, sizeof err));
    ck_assert_str_eq(err, "pcapng: block at offset 0: not a pcapng file: the first block "
                          "(type 0x73696874) is not a section header");
    fclose(f);

    static uint8_t empty[1];
    f = fmemopen(empty, 0, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_null(gw_pcapng_open(f, err, sizeof err));
    ck_assert_str_eq(err, "pcapng: empty file");
    fclose(f);

    struct ng g = { 0 };
    shb(&g, false);
    g.n -= 3;
    f = fmemopen(g.b, g.n, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_null(gw_pcapng_open(f, err, sizeof err));
    ck_assert_str_eq(err, "pcapng: block at offset 0: truncated: the block is 28 bytes long, "
                          "the file ends after 25");
    fclose(f);
    free(g.b);
}
END_TEST

static Suite *pcapng_suite(void)
{
    Suite *s = suite_create("pcapng");
    TCase *t = tcase_create("read");
    tcase_add_test(t, blocks_little_endian);
    tcase_add_test(t, blocks_big_endian);
    tcase_add_test(t, tsresol_nanoseconds);
    tcase_add_test(t, tsresol_power_of_two);
    tcase_add_test(t, tsresol_seconds_and_fine_binary);
    tcase_add_test(t, tsoffset);
    tcase_add_test(t, bad_timestamps_keep_previous_time);
    tcase_add_test(t, two_link_types_alternating);
    tcase_add_test(t, sections_reset_interfaces);
    tcase_add_test(t, snaplen_cuts_and_large_block);
    tcase_add_test(t, probe);
    suite_add_tcase(s, t);
    TCase *h = tcase_create("hostile");
    tcase_set_timeout(h, 30);
    tcase_add_test(h, block_length_below_12);
    tcase_add_test(h, block_length_not_multiple_of_4);
    tcase_add_test(h, trailing_length_mismatch);
    tcase_add_test(h, block_over_cap);
    tcase_add_test(h, epb_caplen_past_block);
    tcase_add_test(h, interface_not_defined);
    tcase_add_test(h, simple_packet_without_interface);
    tcase_add_test(h, too_many_interfaces);
    tcase_add_test(h, truncated_inside_block);
    tcase_add_test(h, truncated_inside_header);
    tcase_add_test(h, bad_options_and_version);
    tcase_add_test(h, bad_byte_order_magic_later);
    tcase_add_test(h, not_pcapng_at_open);
    suite_add_tcase(s, h);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pcapng_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
