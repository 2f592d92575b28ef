/* test_pcapfile.c - the mapped classic pcap reader (src/pcapfile.c) against
 * what libpcap reads from the same bytes. */
#include "grpcwatch/pcapfile.h"

#include <check.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put32(uint8_t *p, uint32_t v, bool be)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (be ? 24 - 8 * i : 8 * i));
}

static void put16(uint8_t *p, uint16_t v, bool be)
{
    p[be ? 0 : 1] = (uint8_t)(v >> 8);
    p[be ? 1 : 0] = (uint8_t)v;
}

/* A file of n packets, packet i of 20 + i bytes (byte j = i ^ j), cut to
 * `cut` bytes when cut is not 0. */
static FILE *make_file(bool be, bool ns, uint32_t snaplen, uint32_t linktype, int n, size_t cut)
{
    uint8_t buf[8192];
    size_t len = 24;
    memset(buf, 0, sizeof buf);
    put32(buf, ns ? 0xa1b23c4d : 0xa1b2c3d4, be);
    put16(buf + 4, 2, be);
    put16(buf + 6, 4, be);
    put32(buf + 16, snaplen, be);
    put32(buf + 20, linktype, be);
    for (int i = 0; i < n; i++) {
        uint32_t caplen = 20 + (uint32_t)i;
        put32(buf + len, 1700000000u + (uint32_t)i, be);
        put32(buf + len + 4, ns ? 123456789u + (uint32_t)i : 123456u + (uint32_t)i, be);
        put32(buf + len + 8, caplen, be);
        put32(buf + len + 12, caplen + 100, be);
        for (uint32_t j = 0; j < caplen; j++) buf[len + 16 + j] = (uint8_t)(i ^ (int)j);
        len += 16 + caplen;
    }
    if (cut) len = cut;
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
    fflush(f);
    rewind(f);
    return f;
}

/* Every packet of the file read both ways: same bytes, lengths, times,
 * same end or the same message. */
static void compare_with_libpcap(FILE *f)
{
    bool not_ours = false;
    char err[256] = "", perr[PCAP_ERRBUF_SIZE] = "";
    struct gw_pcapfile *r = gw_pcapfile_open(f, &not_ours, err, sizeof err);
    ck_assert_msg(r != NULL, "not taken: %s", err);
    rewind(f);
    FILE *copy = fdopen(dup(fileno(f)), "rb");
    pcap_t *p = pcap_fopen_offline_with_tstamp_precision(copy, PCAP_TSTAMP_PRECISION_MICRO, perr);
    ck_assert_msg(p != NULL, "%s", perr);
    ck_assert_int_eq(gw_pcapfile_linktype(r), pcap_datalink(p));
    for (;;) {
        struct pcap_pkthdr *h;
        const u_char *d;
        struct gw_pcapfile_packet pk;
        int want = pcap_next_ex(p, &h, &d);
        int got = gw_pcapfile_next(r, &pk, err, sizeof err);
        if (want == 1) {
            ck_assert_int_eq(got, GW_CAPTURE_PACKET);
            ck_assert_int_eq(pk.sec, h->ts.tv_sec);
            ck_assert_int_eq(pk.usec, h->ts.tv_usec);
            ck_assert_uint_eq(pk.caplen, h->caplen);
            ck_assert_uint_eq(pk.wirelen, h->len);
            ck_assert_mem_eq(pk.data, d, pk.caplen);
            continue;
        }
        if (want == PCAP_ERROR_BREAK) {
            ck_assert_int_eq(got, GW_CAPTURE_END);
        } else {
            ck_assert_int_eq(got, GW_ERR_IO);
            ck_assert_str_eq(err, pcap_geterr(p));
            ck_assert_int_eq(gw_pcapfile_next(r, &pk, err, sizeof err), GW_ERR_IO); /* sticky */
        }
        break;
    }
    pcap_close(p);
    gw_pcapfile_close(r);
}

START_TEST(test_same_as_libpcap)
{
    for (int be = 0; be < 2; be++)
        for (int ns = 0; ns < 2; ns++) {
            FILE *f = make_file(be, ns, 65535, 1, 12, 0);
            compare_with_libpcap(f);
            fclose(f);
        }
}
END_TEST

START_TEST(test_snaplen_cut_and_zero)
{
    FILE *f = make_file(false, false, 25, 1, 12, 0); /* packets longer than 25 are cut */
    compare_with_libpcap(f);
    fclose(f);
    f = make_file(false, false, 0, 113, 3, 0); /* snaplen 0 = the maximum; Linux cooked */
    compare_with_libpcap(f);
    fclose(f);
}
END_TEST

START_TEST(test_truncated_anywhere)
{
    /* 24 + (36 + 37 + 38) bytes: every cut inside the records */
    for (size_t cut = 25; cut < 24 + 36 + 37 + 38; cut++) {
        FILE *f = make_file(cut & 1, false, 65535, 1, 3, cut);
        compare_with_libpcap(f);
        fclose(f);
    }
}
END_TEST

START_TEST(test_left_to_libpcap)
{
    bool not_ours = false;
    char err[64];
    FILE *f = make_file(false, false, 65535, 147, 1, 0); /* LINKTYPE_USER0 */
    ck_assert_ptr_null(gw_pcapfile_open(f, &not_ours, err, sizeof err));
    ck_assert(not_ours);
    fclose(f);
    f = make_file(false, false, 65535, 1 | (1u << 26), 1, 0); /* FCS bits set */
    ck_assert_ptr_null(gw_pcapfile_open(f, &not_ours, err, sizeof err));
    ck_assert(not_ours);
    fclose(f);
    f = make_file(false, false, 65535, 1, 0, 10); /* shorter than a file header */
    ck_assert_ptr_null(gw_pcapfile_open(f, &not_ours, err, sizeof err));
    ck_assert(not_ours);
    fclose(f);
    ck_assert_ptr_null(gw_pcapfile_open(stdin, &not_ours, err, sizeof err));
    ck_assert(not_ours);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pcapfile");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_same_as_libpcap);
    tcase_add_test(tc, test_snaplen_cut_and_zero);
    tcase_add_test(tc, test_truncated_anywhere);
    tcase_add_test(tc, test_left_to_libpcap);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
