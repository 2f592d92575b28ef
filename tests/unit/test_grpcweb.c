/*
 * test_grpcweb.c - gRPC-Web calls driven straight through grpcweb.h (the
 * calls http1.c makes), and the stats field tables of grpc, http1 and
 * grpc-web: every counter exported once, offsets inside the struct, paths
 * unique under their prefix, *_stats_add summing every field.
 */
#include "grpcwatch/grpcweb.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CALLS 16

struct sink {
    struct gw_grpc_call calls[MAX_CALLS];
    int n;
};

static void on_call(void *user, struct gw_grpc_call *call)
{
    struct sink *s = user;
    ck_assert_int_lt(s->n, MAX_CALLS);
    s->calls[s->n++] = *call;
}

static struct gw_http1_str str(const char *s)
{
    struct gw_http1_str v = { (const uint8_t *)s, strlen(s) };
    return v;
}

static struct gw_http1_request request(uint32_t seq, const char *ct)
{
    struct gw_http1_request r;
    memset(&r, 0, sizeof r);
    r.seq = seq;
    r.h.ts = 100 * seq;
    r.method = str("POST");
    r.target = str("http://h:1/pkg.Svc/Do");
    r.host = str("h:1");
    r.h.content_type = str(ct);
    r.h.names[0] = str("Host");
    r.h.names[1] = str("X-Api-Key");
    r.h.names[2] = str("Content-Length");
    r.h.n_names = 3;
    r.grpc = 1;
    return r;
}

START_TEST(test_call_lifecycle)
{
    struct sink sk = { .n = 0 };
    struct gw_grpcweb *w = gw_grpcweb_create(NULL, on_call, &sk);
    ck_assert_ptr_nonnull(w);
    struct gw_http1_request rq = request(1, "application/grpc-web+proto");
    struct gw_grpcweb_head x;
    memset(&x, 0, sizeof x);
    struct gw_grpcweb_call *wc = gw_grpcweb_request(w, &rq, &x);
    ck_assert_ptr_nonnull(wc);
    static const uint8_t req[] = "\0\0\0\0\2hi";
    for (size_t i = 0; i < sizeof req - 1; i++) gw_grpcweb_body(w, wc, GW_DIR_TO_SERVER, req + i, 1);
    ck_assert(!gw_grpcweb_dir_end(w, wc, GW_DIR_TO_SERVER));
    struct gw_http1_response rs;
    memset(&rs, 0, sizeof rs);
    rs.status = 200;
    gw_grpcweb_response(wc, &rs, &x);
    static const uint8_t resp[] = "\0\0\0\0\1!\x80\0\0\0\x22grpc-status:5\r\ngrpc-message:gone\r\n";
    gw_grpcweb_body(w, wc, GW_DIR_TO_CLIENT, resp, sizeof resp - 1);
    ck_assert_int_eq(sk.n, 0);
    ck_assert(gw_grpcweb_dir_end(w, wc, GW_DIR_TO_CLIENT));
    gw_grpcweb_finish(w, wc, GW_END_STREAM, 777);
    ck_assert_int_eq(sk.n, 1);
    const struct gw_grpc_call *c = &sk.calls[0];
    ck_assert_str_eq(c->path, "/pkg.Svc/Do");
    ck_assert_str_eq(c->service, "pkg.Svc");
    ck_assert_str_eq(c->authority.s, "h:1");
    ck_assert_int_eq(c->n_metadata_keys, 1);
    ck_assert_str_eq(c->metadata_keys[0], "x-api-key");
    ck_assert_uint_eq(c->credential_mask, 0); /* policy's job, at emit */
    ck_assert_uint_eq(c->request_messages, 1);
    ck_assert_uint_eq(c->response_messages, 1);
    ck_assert_int_eq(c->grpc_status, 5);
    ck_assert_str_eq(c->grpc_message.s, "gone");
    ck_assert_int_eq(c->ended_by, GW_END_STREAM);
    ck_assert(c->end_ts == 777);
    const struct gw_grpcweb_stats *st = gw_grpcweb_stats(w);
    ck_assert_uint_eq(st->calls, 1);
    ck_assert_uint_eq(st->messages[0], 1);
    ck_assert_uint_eq(st->messages[1], 1);
    ck_assert_uint_eq(st->trailer_frames, 1);
    ck_assert_uint_eq(gw_grpcweb_open_calls(w), 0);
    gw_grpcweb_destroy(w);
    ck_assert_int_eq(sk.n, 1);
}
END_TEST

/* The table is bounded; destroy writes (and frees) every open call once;
 * after a close the session takes calls again. */
START_TEST(test_close_and_destroy_write_each_once)
{
    struct sink sk = { .n = 0 };
    struct gw_grpcweb *w = gw_grpcweb_create(NULL, on_call, &sk);
    struct gw_grpcweb_head x;
    memset(&x, 0, sizeof x);
    for (uint32_t i = 1; i <= GW_HTTP1_MAX_WEB_CALLS + 1; i++) {
        struct gw_http1_request rq = request(i, "application/grpc-web");
        struct gw_grpcweb_call *wc = gw_grpcweb_request(w, &rq, &x);
        ck_assert(i <= GW_HTTP1_MAX_WEB_CALLS ? wc != NULL : wc == NULL);
    }
    ck_assert_uint_eq(gw_grpcweb_stats(w)->calls_untracked, 1);
    ck_assert_uint_eq(gw_grpcweb_open_calls(w), GW_HTTP1_MAX_WEB_CALLS);
    gw_grpcweb_close(w, GW_END_EVICTED, 5);
    ck_assert_int_eq(sk.n, GW_HTTP1_MAX_WEB_CALLS);
    gw_grpcweb_close(w, GW_END_EOF, 6);
    ck_assert_int_eq(sk.n, GW_HTTP1_MAX_WEB_CALLS);
    for (int i = 0; i < sk.n; i++) {
        ck_assert_int_eq(sk.calls[i].ended_by, GW_END_EVICTED);
        for (int j = 0; j < i; j++) ck_assert_uint_ne(sk.calls[i].stream_id, sk.calls[j].stream_id);
    }
    struct gw_http1_request rq = request(20, "application/grpc-web");
    ck_assert_ptr_nonnull(gw_grpcweb_request(w, &rq, &x));
    gw_grpcweb_destroy(w);
    ck_assert_int_eq(sk.n, GW_HTTP1_MAX_WEB_CALLS + 1);
    ck_assert_uint_eq(sk.calls[sk.n - 1].stream_id, 20);
    ck_assert_int_eq(sk.calls[sk.n - 1].ended_by, GW_END_CONN_CLOSED);
}
END_TEST

/* base64 text: a hole stops the count (where the decoded bytes resume is
 * not provable); a bad character stops it after framing what came before;
 * an unpadded tail counts at the body's end. */
START_TEST(test_text_loss)
{
    struct sink sk = { .n = 0 };
    struct gw_grpcweb *w = gw_grpcweb_create(NULL, on_call, &sk);
    struct gw_grpcweb_head x;
    memset(&x, 0, sizeof x);
    /* "AAAAAAJoaQ" is 00 00 00 00 02 'h' 'i' without padding */
    for (int how = 0; how < 3; how++) {
        struct gw_http1_request rq = request(1, "application/grpc-web-text");
        struct gw_grpcweb_call *wc = gw_grpcweb_request(w, &rq, &x);
        gw_grpcweb_body(w, wc, GW_DIR_TO_SERVER, (const uint8_t *)"AAAAAAJoaQ", 10);
        if (how == 1) gw_grpcweb_gap(wc, GW_DIR_TO_SERVER, 4);
        if (how == 2) gw_grpcweb_body(w, wc, GW_DIR_TO_SERVER, (const uint8_t *)"A*AAAAJoaQ", 10);
        else gw_grpcweb_body(w, wc, GW_DIR_TO_SERVER, (const uint8_t *)"==AAAAAAJoaQ", 12);
        gw_grpcweb_dir_end(w, wc, GW_DIR_TO_SERVER);
        gw_grpcweb_close(w, GW_END_EOF, 0);
        const struct gw_grpc_call *c = &sk.calls[sk.n - 1];
        ck_assert_uint_eq(c->request_messages, how == 0 ? 2 : 1);
        ck_assert_int_eq(c->messages_partial, how == 0 ? 0 : GW_GRPC_PARTIAL_REQUEST);
    }
    gw_grpcweb_destroy(w);
}
END_TEST

/* ---- stats tables -------------------------------------------------------------- */

/* Every uint64_t of a struct of `size` bytes is in the table exactly once;
 * paths are non-empty and unique; add() sums each. */
static void check_table(const struct gw_stat_field *t, size_t n, size_t size,
                        void (*add)(void *, const void *))
{
    ck_assert_uint_eq(n * sizeof(uint64_t), size);
    for (size_t i = 0; i < n; i++) {
        ck_assert_ptr_nonnull(t[i].path);
        ck_assert_uint_gt(strlen(t[i].path), 0);
        ck_assert_uint_lt(strlen(t[i].path), GW_STATS_PATH_MAX);
        ck_assert_uint_eq(t[i].offset % sizeof(uint64_t), 0);
        ck_assert_uint_le(t[i].offset + sizeof(uint64_t), size);
        for (size_t j = 0; j < i; j++) {
            ck_assert_uint_ne(t[i].offset, t[j].offset);
            ck_assert_str_ne(t[i].path, t[j].path);
        }
    }
    uint64_t one[64], total[64];
    ck_assert_uint_le(n, 64);
    for (size_t i = 0; i < n; i++) {
        memcpy((uint8_t *)one + t[i].offset, &(uint64_t){ i + 1 }, sizeof(uint64_t));
        memcpy((uint8_t *)total + t[i].offset, &(uint64_t){ 1000 }, sizeof(uint64_t));
    }
    add(total, one);
    add(total, one);
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        memcpy(&v, (uint8_t *)total + t[i].offset, sizeof v);
        ck_assert_uint_eq(v, 1000 + 2 * (i + 1));
    }
}

static void grpc_add(void *t, const void *o) { gw_grpc_stats_add(t, o); }
static void http1_add(void *t, const void *o) { gw_http1_stats_add(t, o); }
static void web_add(void *t, const void *o) { gw_grpcweb_stats_add(t, o); }

START_TEST(test_stat_tables)
{
    check_table(gw_grpc_stat_fields, gw_grpc_stat_fields_len, sizeof(struct gw_grpc_stats), grpc_add);
    check_table(gw_http1_stat_fields, gw_http1_stat_fields_len, sizeof(struct gw_http1_stats), http1_add);
    check_table(gw_grpcweb_stat_fields, gw_grpcweb_stat_fields_len, sizeof(struct gw_grpcweb_stats), web_add);
    /* grpc: today's keys, in today's order (sensor.c stats_apps) */
    static const char *const grpc_keys[] = { "calls", "non_grpc_streams", "request_messages", "response_messages" };
    ck_assert_uint_eq(gw_grpc_stat_fields_len, 4);
    for (size_t i = 0; i < 4; i++) ck_assert_str_eq(gw_grpc_stat_fields[i].path, grpc_keys[i]);
    ck_assert_uint_eq(gw_grpc_stat_fields[2].offset, offsetof(struct gw_grpc_stats, messages[0]));
    ck_assert_uint_eq(gw_grpc_stat_fields[3].offset, offsetof(struct gw_grpc_stats, messages[1]));
    /* http1 and grpc-web share the prefix "http1": no path twice */
    for (size_t i = 0; i < gw_grpcweb_stat_fields_len; i++)
        for (size_t j = 0; j < gw_http1_stat_fields_len; j++)
            ck_assert_str_ne(gw_grpcweb_stat_fields[i].path, gw_http1_stat_fields[j].path);
}
END_TEST

static Suite *grpcweb_suite(void)
{
    Suite *s = suite_create("grpcweb");
    TCase *tc = tcase_create("calls");
    tcase_add_test(tc, test_call_lifecycle);
    tcase_add_test(tc, test_close_and_destroy_write_each_once);
    tcase_add_test(tc, test_text_loss);
    tcase_add_test(tc, test_stat_tables);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(grpcweb_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
