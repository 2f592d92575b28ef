/* test_sensor.c - the sensor's stages over a real capture: when a flow's
 * parser state goes (at the close, not the closed flow's timeout) and that
 * the calls are written either way. */
#include "grpcwatch/decode.h"
#include "grpcwatch/router.h"
#include "grpcwatch/sensor.h"
#include "grpcwatch/stats.h"

#include <check.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

#define CAPTURE "pcaps/go-unary.pcap" /* 3 unary calls, both FINs */
#define CALLS 3

static uint64_t stat(const struct gw_sensor *s, const char *key)
{
    /* the sensor hands out its registry read-only; a snapshot refreshes it */
    struct gw_stats *r = (struct gw_stats *)gw_sensor_stats(s);
    uint64_t v[1024];
    char p[GW_STATS_PATH_MAX];
    ck_assert_uint_le(gw_stats_slots(r), GW_ARRAY_LEN(v));
    gw_stats_snapshot(r, v);
    for (size_t i = 0; i < gw_stats_slots(r); i++)
        if (strcmp(gw_stats_path(r, i, p, sizeof p), key) == 0) return v[i];
    ck_abort_msg("no stats key %s", key);
    return 0;
}

/* Feeds the capture to s; with drop_close, no segment carrying FIN or RST
 * (the connection never closes as far as the sensor knows). */
static unsigned feed(struct gw_sensor *s, bool drop_close)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline(CAPTURE, err);
    ck_assert_msg(pc != NULL, "%s", err);
    struct gw_decoder *probe = gw_decoder_create();
    struct pcap_pkthdr *h;
    const u_char *data;
    unsigned closing = 0;
    uint64_t n = 0;
    while (pcap_next_ex(pc, &h, &data) == 1) {
        struct gw_packet pkt = {
            .ts = (gw_time_us)h->ts.tv_sec * 1000000 + h->ts.tv_usec,
            .linktype = pcap_datalink(pc), .data = data, .caplen = h->caplen,
            .wirelen = h->len, .number = ++n,
        };
        struct gw_segment seg;
        if (gw_decoder_decode(probe, &pkt, &seg) == GW_DECODE_TCP &&
            (seg.flags & (GW_TCP_FIN | GW_TCP_RST))) {
            closing++;
            if (drop_close) continue;
        }
        gw_sensor_packet(s, &pkt);
    }
    gw_decoder_destroy(probe);
    pcap_close(pc);
    return closing;
}

static struct gw_sensor *sensor(struct gw_router **out)
{
    struct gw_config cfg;
    char err[256];
    gw_config_defaults(&cfg);
    *out = gw_router_create();
    ck_assert_int_eq(gw_router_add(*out, "json:/dev/null", NULL, err, sizeof err), GW_OK);
    struct gw_sensor *s = gw_sensor_create(&cfg, *out);
    ck_assert_ptr_nonnull(s);
    return s;
}

START_TEST(state_goes_at_close)
{
    struct gw_router *out;
    struct gw_sensor *s = sensor(&out);
    ck_assert_uint_ge(feed(s, false), 2);
    /* the closed flow stays in the table (for its last ACKs) ... */
    ck_assert_uint_eq(stat(s, "flow.active"), 1);
    ck_assert_uint_eq(stat(s, "flow.closed"), 0);
    /* ... without its parsers, and the calls were written when it closed */
    ck_assert_uint_eq(stat(s, "flow.app_states"), 0);
    ck_assert_uint_eq(stat(s, "records.grpc"), CALLS);
    gw_sensor_finish(s);
    ck_assert_uint_eq(stat(s, "records.grpc"), CALLS);
    gw_sensor_destroy(s);
    gw_router_destroy(out);
}
END_TEST

START_TEST(state_stays_while_open)
{
    struct gw_router *out;
    struct gw_sensor *s = sensor(&out);
    ck_assert_uint_ge(feed(s, true), 2);
    ck_assert_uint_eq(stat(s, "flow.active"), 1);
    ck_assert_uint_eq(stat(s, "flow.app_states"), 1);
    gw_sensor_finish(s); /* the end of the capture ends the flow */
    ck_assert_uint_eq(stat(s, "flow.app_states"), 0);
    ck_assert_uint_eq(stat(s, "records.grpc"), CALLS);
    gw_sensor_destroy(s);
    gw_router_destroy(out);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("sensor");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, state_goes_at_close);
    tcase_add_test(tc, state_stays_while_open);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
