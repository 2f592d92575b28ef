/* test_stream.c - the stream layer: the opening window that waits for the
 * handshake, sequence order within a direction, explicit actions (swap,
 * retry, bypass), budget refusals, flushing at the flow's end. */
#include "grpcwatch/flow.h"
#include "grpcwatch/stream.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

struct got {
    char bytes[2][256];
    size_t len[2];
    int gaps, fins;
    char order[64];   /* '0'/'1' per delivery */
    size_t n_order;
    unsigned ask;     /* actions the consumer asks for on its next data */
    int swapped_seen; /* gw_stream_roles_swapped during a delivery */
    struct gw_flow *f;
};

static unsigned c_data(void *user, int dir, const uint8_t *p, size_t n, gw_time_us ts)
{
    struct got *g = user;
    (void)ts;
    ck_assert_uint_le(g->len[dir] + n, sizeof g->bytes[dir]);
    memcpy(g->bytes[dir] + g->len[dir], p, n);
    g->len[dir] += n;
    if (g->n_order < sizeof g->order - 1) g->order[g->n_order++] = (char)('0' + dir);
    if (g->f && gw_stream_roles_swapped(g->f)) g->swapped_seen++;
    unsigned a = g->ask;
    g->ask = 0;
    return a;
}

static unsigned c_gap(void *user, int dir, size_t len, gw_time_us ts)
{
    (void)dir, (void)len, (void)ts;
    ((struct got *)user)->gaps++;
    return 0;
}

static unsigned c_fin(void *user, int dir, gw_time_us ts)
{
    (void)dir, (void)ts;
    ((struct got *)user)->fins++;
    return 0;
}

static const struct gw_stream_consumer consumer = { c_data, c_gap, c_fin };

struct rig {
    struct gw_reasm_budget budget;
    struct gw_flow_table *t;
    struct gw_stream *s;
    struct got g;
};

static void rig_init(struct rig *r, uint64_t cap)
{
    memset(r, 0, sizeof *r);
    r->budget.cap = cap;
    struct gw_stream_config sc = { .reasm = { .budget = &r->budget } };
    struct gw_flow_config fc = { .max_flows = 8, .timeout_new_s = 30, .timeout_established_s = 60,
                                 .timeout_closed_s = 5, .reasm = sc.reasm };
    r->t = gw_flow_table_create(&fc, NULL, NULL);
    r->s = gw_stream_create(&sc);
    ck_assert_ptr_nonnull(r->t);
    ck_assert_ptr_nonnull(r->s);
}

static void rig_free(struct rig *r)
{
    gw_flow_table_destroy(r->t);
    gw_stream_destroy(r->s);
}

#define CLIENT 1
#define SERVER 2
#define CPORT 40000
#define SPORT 50051   /* the higher port: without a SYN the guess makes it the client */

/* One segment from the client (from == CLIENT) or the server, through the
 * flow table and the stream, applying actions as the sensor does. */
static unsigned send_seg(struct rig *r, int from, uint8_t flags, uint32_t seq, const char *data)
{
    struct gw_segment seg;
    memset(&seg, 0, sizeof seg);
    seg.src.family = seg.dst.family = 4;
    seg.src.bytes[3] = (uint8_t)from;
    seg.dst.bytes[3] = (uint8_t)(from == CLIENT ? SERVER : CLIENT);
    seg.sport = from == CLIENT ? CPORT : SPORT;
    seg.dport = from == CLIENT ? SPORT : CPORT;
    seg.seq = seq;
    seg.flags = flags;
    seg.payload = (const uint8_t *)data;
    seg.payload_len = seg.payload_wire_len = data ? (uint32_t)strlen(data) : 0;
    seg.ts = 1000;
    int dir;
    struct gw_flow *f = gw_flow_lookup(r->t, &seg, &dir);
    ck_assert_ptr_nonnull(f);
    r->g.f = f;
    unsigned all = 0;
    for (int tries = 0; tries < 2; tries++) {
        unsigned acts = gw_stream_segment(r->s, f, dir, &seg, &consumer, &r->g);
        all |= acts;
        if (acts & GW_STREAM_SWAP) {
            ck_assert(gw_stream_roles_swapped(f) || (acts & GW_STREAM_RETRY));
            gw_flow_set_client(f, GW_DIR_TO_CLIENT);
            gw_stream_swapped(f);
            ck_assert(!gw_stream_roles_swapped(f));
            dir ^= 1;
        }
        if (!(acts & GW_STREAM_RETRY)) break;
    }
    return all;
}

static struct gw_flow *the_flow(struct rig *r)
{
    return r->g.f;
}

START_TEST(handshake_first_holds_nothing)
{
    struct rig r;
    rig_init(&r, 1 << 20);
    send_seg(&r, CLIENT, GW_TCP_SYN, 100, NULL);
    send_seg(&r, SERVER, GW_TCP_SYN | GW_TCP_ACK, 500, NULL);
    send_seg(&r, CLIENT, GW_TCP_ACK, 101, NULL);
    send_seg(&r, CLIENT, GW_TCP_ACK | GW_TCP_PSH, 101, "hello");
    ck_assert_uint_eq(r.g.len[GW_DIR_TO_SERVER], 5); /* delivered at once */
    send_seg(&r, SERVER, GW_TCP_ACK | GW_TCP_PSH, 501, "world");
    ck_assert_str_eq(r.g.bytes[GW_DIR_TO_CLIENT], "world");
    ck_assert_uint_eq(gw_stream_stats(r.s)->windows, 0);
    ck_assert_uint_eq(the_flow(&r)->client_port, CPORT);
    ck_assert(gw_stream_start_seen(the_flow(&r)));
    rig_free(&r);
}
END_TEST

/* The server's first data ahead of the SYN and SYN-ACK: the port guess
 * (50051 > 40000) takes the server for the client; the late SYN corrects it
 * before a byte is delivered, and the held data comes in the right
 * direction once the server's start is known. */
START_TEST(server_data_before_handshake)
{
    struct rig r;
    rig_init(&r, 1 << 20);
    send_seg(&r, SERVER, GW_TCP_ACK | GW_TCP_PSH, 501, "SETTINGS");
    ck_assert_uint_eq(r.g.len[0] + r.g.len[1], 0); /* held */
    ck_assert(gw_stream_holding(the_flow(&r)));
    ck_assert_uint_eq(the_flow(&r)->client_port, SPORT); /* the guess, wrong */
    unsigned acts = send_seg(&r, CLIENT, GW_TCP_SYN, 100, NULL);
    ck_assert(acts & GW_STREAM_SWAP);
    ck_assert(acts & GW_STREAM_RETRY);
    ck_assert_uint_eq(the_flow(&r)->client_port, CPORT); /* corrected */
    ck_assert_uint_eq(r.g.len[0] + r.g.len[1], 0);
    send_seg(&r, SERVER, GW_TCP_SYN | GW_TCP_ACK, 500, NULL);
    ck_assert_str_eq(r.g.bytes[GW_DIR_TO_CLIENT], "SETTINGS");
    ck_assert(!gw_stream_holding(the_flow(&r)));
    send_seg(&r, CLIENT, GW_TCP_ACK | GW_TCP_PSH, 101, "PRI");
    ck_assert_str_eq(r.g.bytes[GW_DIR_TO_SERVER], "PRI");
    ck_assert_uint_eq(gw_stream_stats(r.s)->swaps_late_syn, 1);
    ck_assert_uint_eq(gw_stream_stats(r.s)->windows, 1);
    rig_free(&r);
}
END_TEST

/* No handshake at all (a pickup) and the second segment first: held until
 * the window closes, then delivered in sequence order from the real first
 * byte, not from the first segment that arrived. */
START_TEST(pickup_second_segment_first)
{
    struct rig r;
    rig_init(&r, 1 << 20);
    send_seg(&r, CLIENT, GW_TCP_ACK, 1005, "WORLD");
    send_seg(&r, CLIENT, GW_TCP_ACK, 1000, "HELLO");
    ck_assert_uint_eq(r.g.len[0] + r.g.len[1], 0);
    /* fill the window with the server's side */
    uint32_t sseq = 7000;
    for (int i = 0; i < GW_STREAM_WINDOW_PACKETS - 2; i++, sseq += 1)
        send_seg(&r, SERVER, GW_TCP_ACK, sseq, "s");
    ck_assert(!gw_stream_holding(the_flow(&r)));
    /* no SYN ever: the port guess stands (50051 taken for the client), so
     * the real client's bytes are direction 1 */
    ck_assert_uint_eq(r.g.len[1], 10);
    ck_assert(memcmp(r.g.bytes[1], "HELLOWORLD", 10) == 0);
    ck_assert_uint_eq(r.g.len[0], GW_STREAM_WINDOW_PACKETS - 2);
    ck_assert_uint_eq(r.g.gaps, 0);
    ck_assert_uint_ge(gw_stream_stats(r.s)->reordered, 1);
    ck_assert(!gw_stream_start_seen(the_flow(&r)));
    rig_free(&r);
}
END_TEST

START_TEST(flush_delivers_what_is_held)
{
    struct rig r;
    rig_init(&r, 1 << 20);
    send_seg(&r, CLIENT, GW_TCP_ACK, 1000, "abc");
    ck_assert_uint_eq(r.g.len[1], 0);
    ck_assert_uint_gt(r.budget.used, 0); /* charged while held */
    gw_stream_flush(r.s, the_flow(&r), &consumer, &r.g);
    ck_assert_uint_eq(r.g.len[1], 3);
    ck_assert_uint_eq(r.budget.used, 0);
    gw_stream_flush(r.s, the_flow(&r), &consumer, &r.g); /* twice is safe */
    ck_assert_uint_eq(r.g.len[1], 3);
    rig_free(&r);
}
END_TEST

START_TEST(budget_refusal_delivers_now)
{
    struct rig r;
    rig_init(&r, 16); /* less than one held segment costs */
    send_seg(&r, CLIENT, GW_TCP_ACK, 1000, "abc");
    ck_assert_uint_eq(r.g.len[1], 3);
    ck_assert_uint_eq(gw_stream_stats(r.s)->window_refused, 1);
    ck_assert_uint_eq(r.budget.used, 0);
    rig_free(&r);
}
END_TEST

START_TEST(rst_releases_the_window)
{
    struct rig r;
    rig_init(&r, 1 << 20);
    send_seg(&r, CLIENT, GW_TCP_ACK, 1000, "abc");
    send_seg(&r, CLIENT, GW_TCP_RST, 1003, NULL);
    ck_assert_uint_eq(r.g.len[1], 3);
    ck_assert(!gw_stream_holding(the_flow(&r)));
    rig_free(&r);
}
END_TEST

/* The consumer decides mid-delivery that the roles are the other way: the
 * rest of that delivery already comes re-mapped, the caller gets the swap. */
START_TEST(consumer_swap_remaps_the_rest)
{
    struct rig r;
    rig_init(&r, 1 << 20);
    send_seg(&r, CLIENT, GW_TCP_SYN, 100, NULL);
    send_seg(&r, SERVER, GW_TCP_SYN | GW_TCP_ACK, 500, NULL);
    /* two segments of the client out of order: the second is held by
     * reassembly, the first fills the hole: two data calls in one push */
    send_seg(&r, CLIENT, GW_TCP_ACK, 104, "def");
    r.g.ask = GW_STREAM_SWAP;
    unsigned acts = send_seg(&r, CLIENT, GW_TCP_ACK, 101, "abc");
    ck_assert(acts & GW_STREAM_SWAP);
    ck_assert(!(acts & GW_STREAM_RETRY));
    ck_assert_str_eq(r.g.bytes[0], "abc");
    ck_assert_str_eq(r.g.bytes[1], "def"); /* after the swap: the other role */
    ck_assert_int_eq(r.g.swapped_seen, 1);
    ck_assert_uint_eq(gw_stream_stats(r.s)->swaps_app, 1);
    ck_assert_uint_eq(the_flow(&r)->client_port, SPORT); /* applied by the caller */
    rig_free(&r);
}
END_TEST

START_TEST(bypass_stops_reassembly)
{
    struct rig r;
    rig_init(&r, 1 << 20);
    send_seg(&r, CLIENT, GW_TCP_SYN, 100, NULL);
    send_seg(&r, SERVER, GW_TCP_SYN | GW_TCP_ACK, 500, NULL);
    r.g.ask = GW_STREAM_BYPASS;
    unsigned acts = send_seg(&r, CLIENT, GW_TCP_ACK, 101, "abc");
    ck_assert(acts & GW_STREAM_BYPASS);
    acts = send_seg(&r, CLIENT, GW_TCP_ACK, 104, "def");
    ck_assert(!(acts & GW_STREAM_BYPASS)); /* said once, done once */
    ck_assert_uint_eq(r.g.len[0], 3); /* nothing after the bypass */
    send_seg(&r, CLIENT, GW_TCP_FIN | GW_TCP_ACK, 107, NULL);
    ck_assert(the_flow(&r)->reasm[0].ended); /* FINs still tracked */
    rig_free(&r);
}
END_TEST

START_TEST(late_syn_after_delivery_is_ignored)
{
    struct rig r;
    rig_init(&r, 1 << 20);
    send_seg(&r, CLIENT, GW_TCP_SYN, 100, NULL);
    send_seg(&r, SERVER, GW_TCP_SYN | GW_TCP_ACK, 500, NULL);
    send_seg(&r, CLIENT, GW_TCP_ACK, 101, "abc");
    /* a SYN from the server side: contradicts an orientation in use */
    unsigned acts = send_seg(&r, SERVER, GW_TCP_SYN, 900, NULL);
    ck_assert(!(acts & GW_STREAM_SWAP));
    ck_assert_uint_eq(gw_stream_stats(r.s)->late_syn_ignored, 1);
    ck_assert_uint_eq(the_flow(&r)->client_port, CPORT);
    rig_free(&r);
}
END_TEST

/* SYN with RST or FIN: no endpoint takes it, it ends nothing. */
START_TEST(invalid_flags_end_nothing)
{
    struct rig r;
    rig_init(&r, 1 << 20);
    send_seg(&r, CLIENT, GW_TCP_SYN, 100, NULL);
    send_seg(&r, SERVER, GW_TCP_SYN | GW_TCP_ACK, 500, NULL);
    unsigned acts = send_seg(&r, CLIENT, GW_TCP_SYN | GW_TCP_FIN | GW_TCP_RST | GW_TCP_PSH, 101, "x");
    ck_assert(acts & GW_STREAM_DROPPED);
    acts = send_seg(&r, SERVER, GW_TCP_SYN | GW_TCP_FIN, 501, NULL);
    ck_assert(acts & GW_STREAM_DROPPED);
    ck_assert(!the_flow(&r)->reasm[0].ended && !the_flow(&r)->reasm[1].ended);
    send_seg(&r, CLIENT, GW_TCP_ACK, 101, "abc");
    ck_assert_str_eq(r.g.bytes[0], "abc");
    ck_assert_uint_eq(gw_stream_stats(r.s)->invalid_flags, 2);
    rig_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("stream");
    tcase_add_test(tc, handshake_first_holds_nothing);
    tcase_add_test(tc, server_data_before_handshake);
    tcase_add_test(tc, pickup_second_segment_first);
    tcase_add_test(tc, flush_delivers_what_is_held);
    tcase_add_test(tc, budget_refusal_delivers_now);
    tcase_add_test(tc, rst_releases_the_window);
    tcase_add_test(tc, consumer_swap_remaps_the_rest);
    tcase_add_test(tc, bypass_stops_reassembly);
    tcase_add_test(tc, late_syn_after_delivery_is_ignored);
    tcase_add_test(tc, invalid_flags_end_nothing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
