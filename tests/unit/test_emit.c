/* test_emit.c - records from calls, TLS sessions and anomalies: the alert
 * beside each call, credential keys from the policy, the per-flow anomaly
 * cap, orientation while a swap is pending, event types for the router. */
#include "grpcwatch/emit.h"
#include "grpcwatch/stream.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rig {
    char path[64];
    struct gw_router *router;
    struct gw_emit *emit;
    struct gw_flow flow;
    struct gw_emit_flow ef;
};

static void rig_init(struct rig *r, const char *types)
{
    struct gw_config cfg;
    char err[128], spec[80];
    memset(r, 0, sizeof *r);
    strcpy(r->path, "/tmp/test_emit.XXXXXX");
    int fd = mkstemp(r->path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    gw_config_defaults(&cfg);
    r->router = gw_router_create();
    snprintf(spec, sizeof spec, "json:%s", r->path);
    ck_assert_int_eq(gw_router_add(r->router, spec, types, err, sizeof err), GW_OK);
    r->emit = gw_emit_create(&cfg, r->router);
    ck_assert_ptr_nonnull(r->emit);
    r->flow.id = 77;
    r->flow.client.family = r->flow.server.family = 4;
    r->flow.client.bytes[0] = 10, r->flow.client.bytes[3] = 1;
    r->flow.server.bytes[0] = 10, r->flow.server.bytes[3] = 2;
    r->flow.client_port = 40000;
    r->flow.server_port = 50051;
    gw_emit_flow_init(&r->ef, &r->flow);
}

/* Flushes and returns the file's text (caller frees). */
static char *rig_text(struct rig *r)
{
    gw_router_flush(r->router);
    FILE *f = fopen(r->path, "r");
    ck_assert_ptr_nonnull(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void rig_free(struct rig *r)
{
    gw_emit_destroy(r->emit);
    gw_router_destroy(r->router);
    unlink(r->path);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++) n++;
    return n;
}

static void a_call(struct gw_grpc_call *c)
{
    memset(c, 0, sizeof *c);
    strcpy(c->path, "/pkg.Svc/Do");
    c->path_present = 1;
    strcpy(c->metadata_keys[0], "x-request-id");
    strcpy(c->metadata_keys[1], "authorization");
    c->n_metadata_keys = 2;
    c->http_status = 200;
    c->grpc_status = 0;
    c->start_ts = 1700000000000000;
}

START_TEST(call_and_alert)
{
    struct rig r;
    rig_init(&r, NULL);
    struct gw_grpc_call c;
    a_call(&c);
    gw_emit_call(r.emit, &r.ef, &c, "grpc", NULL);
    const char *t = rig_text(&r);
    ck_assert_uint_eq(count(t, "\n"), 2);
    ck_assert_ptr_nonnull(strstr(t, "\"event_type\":\"grpc\""));
    ck_assert_ptr_nonnull(strstr(t, "\"event_type\":\"alert\""));
    ck_assert_ptr_nonnull(strstr(t, "\"credential_keys\":[\"authorization\"]"));
    ck_assert_ptr_nonnull(strstr(t, "\"signature_id\":2300001"));
    ck_assert_ptr_nonnull(strstr(t, "\"src_ip\":\"10.0.0.1\",\"src_port\":40000"));
    ck_assert_uint_eq(count(t, "\"flow_id\":77,"), 2);
    const struct gw_emit_counters *n = gw_emit_counters(r.emit);
    ck_assert_uint_eq(n->grpc, 1);
    ck_assert_uint_eq(n->alert, 1);
    rig_free(&r);
}
END_TEST

START_TEST(anomalies_capped_per_flow)
{
    struct rig r;
    rig_init(&r, NULL);
    for (int i = 0; i < GW_EMIT_ANOMALIES_PER_FLOW + 5; i++)
        gw_emit_anomaly(r.emit, &r.ef, "http2", "bad_frame", GW_DIR_TO_CLIENT, 3, 1);
    const char *t = rig_text(&r);
    ck_assert_uint_eq(count(t, "\"event_type\":\"anomaly\""), GW_EMIT_ANOMALIES_PER_FLOW);
    ck_assert_ptr_nonnull(strstr(t, "\"direction\":\"to_client\",\"stream_id\":3"));
    ck_assert_uint_eq(gw_emit_counters(r.emit)->anomalies_suppressed, 5);
    /* another flow has its own cap */
    struct gw_emit_flow other;
    gw_emit_flow_init(&other, &r.flow);
    gw_emit_anomaly(r.emit, &other, "tls", "client_hello_malformed", 0, 0, 1);
    ck_assert_uint_eq(gw_emit_counters(r.emit)->anomaly, GW_EMIT_ANOMALIES_PER_FLOW + 1);
    rig_free(&r);
}
END_TEST

/* A swap asked for during a delivery is honoured before the flow applies it. */
START_TEST(pending_swap_is_honoured)
{
    struct rig r;
    rig_init(&r, NULL);
    r.flow.stream.flags = 1u << 4; /* ST_SWAP_PENDING, as stream.c sets it */
    ck_assert(gw_stream_roles_swapped(&r.flow));
    struct gw_tls_info tls;
    memset(&tls, 0, sizeof tls);
    tls.have_client_hello = 1;
    strcpy(tls.sni, "grpc.test");
    gw_emit_tls(r.emit, &r.ef, &tls, 1700000000000000);
    const char *t = rig_text(&r);
    ck_assert_ptr_nonnull(strstr(t, "\"src_ip\":\"10.0.0.2\",\"src_port\":50051"));
    ck_assert_ptr_nonnull(strstr(t, "\"sni\":\"grpc.test\""));
    rig_free(&r);
}
END_TEST

/* Each record goes with its event type: a sink taking alerts only. */
START_TEST(event_types_reach_the_router)
{
    struct rig r;
    rig_init(&r, "alert");
    struct gw_grpc_call c;
    a_call(&c);
    gw_emit_call(r.emit, &r.ef, &c, "grpc-web", NULL);
    gw_emit_anomaly(r.emit, &r.ef, "http1", "malformed", 0, 0, 1);
    const char *t = rig_text(&r);
    ck_assert_uint_eq(count(t, "\n"), 1);
    ck_assert_ptr_nonnull(strstr(t, "\"event_type\":\"alert\""));
    ck_assert_ptr_nonnull(strstr(t, "\"app_proto\":\"grpc-web\""));
    rig_free(&r);
}
END_TEST

START_TEST(stats_from_a_registry)
{
    struct rig r;
    rig_init(&r, NULL);
    struct gw_stats *reg = gw_stats_create();
    ck_assert_int_eq(gw_emit_register_stats(r.emit, reg), GW_OK);
    gw_emit_call_suppressed(r.emit);
    uint64_t v[32];
    ck_assert_uint_le(gw_stats_slots(reg), 32);
    gw_stats_snapshot(reg, v);
    gw_emit_stats(r.emit, 1700000000000000, reg, v);
    const char *t = rig_text(&r);
    ck_assert_ptr_nonnull(strstr(t, "\"event_type\":\"stats\",\"stats\":{\"records\":{\"grpc\":0,"));
    ck_assert_ptr_nonnull(strstr(t, "\"reset_calls_suppressed\":1"));
    gw_stats_destroy(reg);
    rig_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("emit");
    TCase *tc = tcase_create("emit");
    tcase_add_test(tc, call_and_alert);
    tcase_add_test(tc, anomalies_capped_per_flow);
    tcase_add_test(tc, pending_swap_is_honoured);
    tcase_add_test(tc, event_types_reach_the_router);
    tcase_add_test(tc, stats_from_a_registry);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
