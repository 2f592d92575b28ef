/*
 * test_capture.c - capture.c on files: timestamps out of range.
 *
 * gw_time_us is signed 64-bit microseconds. The captures are written by hand
 * (pcap: libpcap's savefile format; pcapng: draft-ietf-opsawg-pcapng blocks
 * SHB, IDB with if_tsresol, EPB) into a temporary file, so the expected
 * timestamps follow from the bytes written, not from libpcap's output.
 */
#include "grpcwatch/capture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct buf {
    uint8_t b[4096];
    size_t n;
};

static void le32(struct buf *b, uint32_t v)
{
    ck_assert_uint_le(b->n + 4, sizeof b->b);
    for (int i = 0; i < 4; i++) b->b[b->n++] = (uint8_t)(v >> (8 * i));
}

static void le16(struct buf *b, uint16_t v)
{
    ck_assert_uint_le(b->n + 2, sizeof b->b);
    b->b[b->n++] = (uint8_t)v;
    b->b[b->n++] = (uint8_t)(v >> 8);
}

static void bytes(struct buf *b, const void *p, size_t n)
{
    ck_assert_uint_le(b->n + n, sizeof b->b);
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

/* 14-byte Ethernet header with an unknown EtherType: enough for a packet. */
static const uint8_t frame[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x88, 0xb5, 0, 0 };

/* Classic pcap, microsecond magic, Ethernet. */
static void pcap_header(struct buf *b)
{
    le32(b, 0xa1b2c3d4);
    le16(b, 2);
    le16(b, 4);
    le32(b, 0);
    le32(b, 0);
    le32(b, 65535);
    le32(b, 1);
}

static void pcap_record(struct buf *b, uint32_t sec, uint32_t usec)
{
    le32(b, sec);
    le32(b, usec);
    le32(b, sizeof frame);
    le32(b, sizeof frame);
    bytes(b, frame, sizeof frame);
}

/* pcapng: section header, then one Ethernet interface whose timestamps
 * count units of 10^-tsresol seconds (if_tsresol, option 9). */
static void pcapng_header(struct buf *b, uint8_t tsresol)
{
    le32(b, 0x0a0d0d0a);
    le32(b, 28);
    le32(b, 0x1a2b3c4d);
    le16(b, 1);
    le16(b, 0);
    le32(b, 0xffffffff);
    le32(b, 0xffffffff);
    le32(b, 28);

    le32(b, 1);
    le32(b, 32);
    le16(b, 1);  /* LINKTYPE_ETHERNET */
    le16(b, 0);
    le32(b, 65535);
    le16(b, 9);  /* if_tsresol */
    le16(b, 1);
    uint8_t opt[4] = { tsresol, 0, 0, 0 };
    bytes(b, opt, 4);
    le32(b, 0);  /* opt_endofopt */
    le32(b, 32);
}

static void pcapng_epb(struct buf *b, uint64_t ts)
{
    le32(b, 6);
    le32(b, 32 + sizeof frame);
    le32(b, 0);
    le32(b, (uint32_t)(ts >> 32));
    le32(b, (uint32_t)ts);
    le32(b, sizeof frame);
    le32(b, sizeof frame);
    bytes(b, frame, sizeof frame); /* 16: already a multiple of 4 */
    le32(b, 32 + sizeof frame);
}

/* Writes b to a temporary file and reads every packet's timestamp. */
static size_t read_all(const struct buf *b, gw_time_us *ts, size_t max, struct gw_capture_stats *st)
{
    char path[] = "/tmp/test_capture.XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, b->b, b->n), (ssize_t)b->n);
    close(fd);

    char err[256];
    struct gw_capture *c = gw_capture_open_file(path, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    size_t k = 0;
    struct gw_packet pkt;
    int rc;
    while ((rc = gw_capture_next(c, &pkt, err, sizeof err)) == GW_CAPTURE_PACKET) {
        ck_assert_uint_lt(k, max);
        ck_assert_uint_eq(pkt.caplen, sizeof frame);
        ts[k++] = pkt.ts;
    }
    ck_assert_int_eq(rc, GW_CAPTURE_END);
    gw_capture_stats(c, st);
    gw_capture_close(c);
    unlink(path);
    return k;
}

START_TEST(test_pcap_timestamps_in_range)
{
    struct buf b = { .n = 0 };
    pcap_header(&b);
    pcap_record(&b, 0, 0);
    pcap_record(&b, 1700000000, 999999);
    /* 2038-01-19: the last second libpcap can give for a classic pcap (it
     * reads the seconds field as a signed 32-bit number) */
    pcap_record(&b, 0x7fffffffu, 123456);
    gw_time_us ts[4];
    struct gw_capture_stats st;
    ck_assert_uint_eq(read_all(&b, ts, 4, &st), 3);
    ck_assert_int_eq(ts[0], 0);
    ck_assert_int_eq(ts[1], 1700000000LL * 1000000 + 999999);
    ck_assert_int_eq(ts[2], 2147483647LL * 1000000 + 123456);
    ck_assert_uint_eq(st.packets, 3);
    ck_assert_uint_eq(st.bad_timestamps, 0);
}
END_TEST

START_TEST(test_pcap_bad_microseconds)
{
    /* microseconds must be below 10^6; such a packet keeps the previous time */
    struct buf b = { .n = 0 };
    pcap_header(&b);
    pcap_record(&b, 1000, 5);
    pcap_record(&b, 2000, 1000000);
    pcap_record(&b, 2001, 0xffffffffu);
    pcap_record(&b, 3000, 7);
    gw_time_us ts[4];
    struct gw_capture_stats st;
    ck_assert_uint_eq(read_all(&b, ts, 4, &st), 4);
    ck_assert_int_eq(ts[0], 1000000005LL);
    ck_assert_int_eq(ts[1], 1000000005LL);
    ck_assert_int_eq(ts[2], 1000000005LL);
    ck_assert_int_eq(ts[3], 3000000007LL);
    ck_assert_uint_eq(st.packets, 4);
    ck_assert_uint_eq(st.bad_timestamps, 2);
}
END_TEST

START_TEST(test_pcapng_seconds_overflow)
{
    /* With if_tsresol 0 the timestamp counts whole seconds: 2^64-1 s, 2^63 s
     * and 10^13 s (~ year 318857) overflow microseconds in 64 bits; the
     * first packet, with no earlier time, gets 0. GW_CAPTURE_MAX_SEC itself
     * is the last accepted second. */
    struct buf b = { .n = 0 };
    pcapng_header(&b, 0);
    pcapng_epb(&b, UINT64_MAX);
    pcapng_epb(&b, 1700000000);
    pcapng_epb(&b, 1ULL << 63);
    pcapng_epb(&b, 10000000000000ULL);
    pcapng_epb(&b, GW_CAPTURE_MAX_SEC);
    pcapng_epb(&b, GW_CAPTURE_MAX_SEC + 1);
    gw_time_us ts[8];
    struct gw_capture_stats st;
    ck_assert_uint_eq(read_all(&b, ts, 8, &st), 6);
    ck_assert_int_eq(ts[0], 0);
    ck_assert_int_eq(ts[1], 1700000000LL * 1000000);
    ck_assert_int_eq(ts[2], 1700000000LL * 1000000);
    ck_assert_int_eq(ts[3], 1700000000LL * 1000000);
    ck_assert_int_eq(ts[4], (gw_time_us)GW_CAPTURE_MAX_SEC * 1000000);
    ck_assert_int_eq(ts[5], (gw_time_us)GW_CAPTURE_MAX_SEC * 1000000);
    ck_assert_uint_eq(st.packets, 6);
    ck_assert_uint_eq(st.bad_timestamps, 4);
}
END_TEST

START_TEST(test_pcapng_default_resolution)
{
    /* if_tsresol 6 (microseconds, also the default): the largest 64-bit
     * count is ~584542 years, beyond GW_CAPTURE_MAX_SEC. */
    struct buf b = { .n = 0 };
    pcapng_header(&b, 6);
    pcapng_epb(&b, 1700000000123456ULL);
    pcapng_epb(&b, UINT64_MAX);
    gw_time_us ts[2];
    struct gw_capture_stats st;
    ck_assert_uint_eq(read_all(&b, ts, 2, &st), 2);
    ck_assert_int_eq(ts[0], 1700000000123456LL);
    ck_assert_int_eq(ts[1], 1700000000123456LL);
    ck_assert_uint_eq(st.bad_timestamps, 1);
}
END_TEST

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A live capture on a quiet link returns a timeout at least every 100 ms
 * instead of sleeping until a packet comes (root, loopback: CI runs as
 * root; without the permission this fails, it does not skip). */
START_TEST(test_live_quiet_link_times_out)
{
    char err[512];
    struct gw_capture *c = gw_capture_open_live("lo", 4, err, sizeof err);
    ck_assert_msg(c != NULL, "cannot capture on lo (root needed): %s", err);
    ck_assert_int_eq(gw_capture_set_filter(c, "tcp port 59999 and tcp port 59998", err, sizeof err), GW_OK);
    struct gw_packet pkt;
    for (int i = 0; i < 5; i++) {
        double t0 = now_s();
        ck_assert_int_eq(gw_capture_next(c, &pkt, err, sizeof err), GW_CAPTURE_TIMEOUT);
        double waited = now_s() - t0;
        /* 100 ms, with room for a loaded machine; never a blocking read */
        ck_assert_msg(waited < 0.5, "waited %.3f s without a packet", waited);
    }
    struct gw_capture_stats st;
    gw_capture_stats(c, &st);
    ck_assert_uint_eq(st.packets, 0);
    gw_capture_close(c);
}
END_TEST

START_TEST(test_max_sec_leaves_headroom)
{
    /* The cap is 9999-12-31T23:59:59Z and far enough below the overflow that
     * packet time plus a century of microseconds still fits. */
    ck_assert_uint_eq(GW_CAPTURE_MAX_SEC, 253402300799ULL);
    ck_assert(GW_CAPTURE_MAX_SEC * 1000000ULL + 999999ULL + 100ULL * 366 * 86400 * 1000000ULL <
              (unsigned long long)INT64_MAX);
}
END_TEST

static Suite *capture_suite(void)
{
    Suite *s = suite_create("capture");
    TCase *t = tcase_create("timestamps");
    tcase_add_test(t, test_pcap_timestamps_in_range);
    tcase_add_test(t, test_pcap_bad_microseconds);
    tcase_add_test(t, test_pcapng_seconds_overflow);
    tcase_add_test(t, test_pcapng_default_resolution);
    tcase_add_test(t, test_max_sec_leaves_headroom);
    tcase_add_test(t, test_live_quiet_link_times_out);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(capture_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
