/* test_stats.c - the counter registry: nesting, order, merging, checks, and
 * the sensor's own registrations against the keys stats records have always had. */
#include "grpcwatch/config.h"
#include "grpcwatch/router.h"
#include "grpcwatch/sensor.h"
#include "grpcwatch/stats.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ctr {
    uint64_t a, b, c, hw;
};

static const struct gw_stat_field fields_x[] = {
    GW_STAT_FIELD(struct ctr, a, "a"),
    GW_STAT_FIELD(struct ctr, b, "inner.b"),
    GW_STAT_FIELD(struct ctr, c, "inner.deeper.c"),
    GW_STAT_FIELD_MAX(struct ctr, hw, "hw"),
};

static char *write_json(struct gw_stats *r, char *buf, size_t cap)
{
    struct gw_json j;
    uint64_t v[16];
    ck_assert_uint_le(gw_stats_slots(r), 16);
    gw_stats_snapshot(r, v);
    gw_json_init(&j, buf, cap);
    gw_json_object_begin(&j);
    gw_stats_write(r, &j, v);
    gw_json_object_end(&j);
    ck_assert(gw_json_finish(&j));
    buf[j.len - 1] = '\0'; /* drop the newline */
    return buf;
}

START_TEST(nesting_and_order)
{
    struct gw_stats *r = gw_stats_create();
    struct ctr x = { 1, 2, 3, 4 }, y = { 10, 20, 30, 40 };
    ck_assert_int_eq(gw_stats_add(r, "x", fields_x, 4, &x, NULL, NULL), GW_OK);
    ck_assert_int_eq(gw_stats_add(r, "y", fields_x, 2, &y, NULL, NULL), GW_OK);
    ck_assert(gw_stats_check(r));
    char buf[512];
    ck_assert_str_eq(write_json(r, buf, sizeof buf),
                     "{\"stats\":{\"x\":{\"a\":1,\"inner\":{\"b\":2,\"deeper\":{\"c\":3}},\"hw\":4},"
                     "\"y\":{\"a\":10,\"inner\":{\"b\":20}}}}");
    char p[GW_STATS_PATH_MAX];
    ck_assert_str_eq(gw_stats_path(r, 2, p, sizeof p), "x.inner.deeper.c");
    ck_assert_ptr_null(gw_stats_path(r, 6, p, sizeof p));
    gw_stats_destroy(r);
}
END_TEST

static int refreshed;
static void refresh(void *user)
{
    struct ctr *c = user;
    c->a = 100 + (uint64_t)refreshed++;
}

START_TEST(refresh_and_merge)
{
    struct gw_stats *r = gw_stats_create();
    struct ctr x = { 0, 5, 0, 7 };
    refreshed = 0;
    ck_assert_int_eq(gw_stats_add(r, "", fields_x, 4, &x, refresh, &x), GW_OK);
    uint64_t s1[4], s2[4];
    gw_stats_snapshot(r, s1);
    ck_assert_uint_eq(s1[0], 100);
    x.hw = 3;
    x.b = 6;
    gw_stats_snapshot(r, s2);
    ck_assert_uint_eq(s2[0], 101);
    gw_stats_merge(r, s1, s2); /* two workers */
    ck_assert_uint_eq(s1[0], 201);
    ck_assert_uint_eq(s1[1], 11);
    ck_assert_uint_eq(s1[3], 7); /* a high-water mark: the larger, not the sum */
    gw_stats_destroy(r);
}
END_TEST

START_TEST(check_catches_bad_layouts)
{
    struct ctr x = { 0 };
    static const struct gw_stat_field reopen[] = {
        GW_STAT_FIELD(struct ctr, a, "o.a"),
        GW_STAT_FIELD(struct ctr, b, "p"),
        GW_STAT_FIELD(struct ctr, c, "o.c"), /* "o" closed at "p" and reopened */
    };
    static const struct gw_stat_field dup[] = {
        GW_STAT_FIELD(struct ctr, a, "a"),
        GW_STAT_FIELD(struct ctr, b, "a"),
    };
    static const struct gw_stat_field both[] = {
        GW_STAT_FIELD(struct ctr, a, "a"),
        GW_STAT_FIELD(struct ctr, b, "a.b"), /* a counter and an object */
    };
    const struct gw_stat_field *bad[] = { reopen, dup, both };
    size_t n[] = { 3, 2, 2 };
    for (size_t i = 0; i < 3; i++) {
        struct gw_stats *r = gw_stats_create();
        ck_assert_int_eq(gw_stats_add(r, "", bad[i], n[i], &x, NULL, NULL), GW_OK);
        ck_assert_msg(!gw_stats_check(r), "layout %zu should be refused", i);
        gw_stats_destroy(r);
    }
    /* the same object split over two sources, contiguous, is fine */
    struct gw_stats *r = gw_stats_create();
    ck_assert_int_eq(gw_stats_add(r, "o", fields_x, 1, &x, NULL, NULL), GW_OK);
    ck_assert_int_eq(gw_stats_add(r, "o", fields_x + 3, 1, &x, NULL, NULL), GW_OK);
    ck_assert(gw_stats_check(r));
    gw_stats_destroy(r);
}
END_TEST

START_TEST(limits)
{
    struct gw_stats *r = gw_stats_create();
    struct ctr x = { 0 };
    size_t i = 0;
    while (gw_stats_add(r, "s", fields_x, 1, &x, NULL, NULL) == GW_OK) i++;
    ck_assert_uint_eq(i, GW_STATS_MAX_SOURCES);
    ck_assert_int_eq(gw_stats_add(NULL, "s", fields_x, 1, &x, NULL, NULL), GW_ERR_ARG);
    gw_stats_destroy(r);
}
END_TEST

/* Every key a stats record has had since the first release is still there,
 * in the same order (keys are only ever added). */
START_TEST(sensor_keys_kept)
{
    static const char *const keys[] = {
        "capture.packets", "capture.kernel_received", "capture.kernel_dropped",
        "capture.bad_timestamps", "decoder.packets", "decoder.tcp", "decoder.other",
        "decoder.truncated", "decoder.malformed", "decoder.unsupported", "decoder.snapped",
        "decoder.ipv4", "decoder.ipv6", "decoder.vlan", "decoder.tunnels.encapsulated",
        "decoder.tunnels.mpls", "decoder.tunnels.gre", "decoder.tunnels.erspan",
        "decoder.tunnels.vxlan", "decoder.tunnels.geneve", "decoder.tunnels.ipip",
        "decoder.fragments.received", "decoder.fragments.reassembled",
        "decoder.fragments.overlaps", "decoder.fragments.conflicts", "decoder.fragments.tiny",
        "decoder.fragments.invalid", "decoder.fragments.timeouts", "decoder.fragments.evicted",
        "decoder.fragments.datagrams_held", "decoder.fragments.bytes_held", "flow.created",
        "flow.active", "flow.max_active", "flow.evicted", "flow.timed_out", "flow.closed",
        "flow.http2", "flow.tls", "flow.other", "flow.http1", "flow.http1_switches",
        "flow.http1_tunnels", "flow.http2_midstream", "flow.one_sided",
        "flow.evicted_by_value.low", "flow.evicted_by_value.mid", "flow.evicted_by_value.high",
        "flow.table_bytes", "reassembly.memcap", "reassembly.held_bytes", "reassembly.refused",
        "http2.frames_to_server", "http2.frames_to_client", "http2.header_blocks",
        "http2.anomalies", "grpc.calls", "grpc.non_grpc_streams", "grpc.request_messages",
        "grpc.response_messages", "records.grpc", "records.alert", "records.tls",
        "records.anomaly", "records.anomalies_suppressed", "records.reset_calls_suppressed",
        "records.oversize", "records.written", "records.write_errors", "records.dropped",
        "records.reconnects", "records.retries",
    };
    struct gw_config cfg;
    char err[256];
    gw_config_defaults(&cfg);
    cfg.flow_max = 64;
    struct gw_router *out = gw_router_create();
    ck_assert_int_eq(gw_router_add(out, "json:/dev/null", NULL, err, sizeof err), GW_OK);
    struct gw_sensor *s = gw_sensor_create(&cfg, out);
    ck_assert_ptr_nonnull(s);
    const struct gw_stats *r = gw_sensor_stats(s);
    ck_assert(gw_stats_check(r));
    size_t at = 0;
    char p[GW_STATS_PATH_MAX];
    for (size_t i = 0; i < GW_ARRAY_LEN(keys); i++) {
        while (at < gw_stats_slots(r) && strcmp(gw_stats_path(r, at, p, sizeof p), keys[i]) != 0)
            at++;
        ck_assert_msg(at < gw_stats_slots(r), "key %s missing or out of order", keys[i]);
    }
    gw_sensor_destroy(s);
    gw_router_destroy(out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("stats");
    tcase_add_test(tc, nesting_and_order);
    tcase_add_test(tc, refresh_and_merge);
    tcase_add_test(tc, check_catches_bad_layouts);
    tcase_add_test(tc, limits);
    tcase_add_test(tc, sensor_keys_kept);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
