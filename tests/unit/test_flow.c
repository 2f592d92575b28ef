/* test_flow.c - unit tests for the flow table (src/flow.c). */
#include "grpcwatch/flow.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#define US(s) ((gw_time_us)(s) * 1000000)

/* For hot loops: a passing ck_assert writes its location to Check's pipe
 * (one syscall each); this one is silent unless it fails. */
#define REQUIRE(c) do { if (!(c)) ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #c); } while (0)

/* ---- what on_end saw ---- */

#define MAX_ENDS 200000

struct ended {
    uint64_t id;
    uint16_t client_port, server_port;
    int reason;
};

struct recorder {
    struct ended *e;
    size_t n;
    uint64_t by_reason[4];
};

static void rec_init(struct recorder *r)
{
    memset(r, 0, sizeof *r);
    r->e = calloc(MAX_ENDS, sizeof *r->e);
    ck_assert_ptr_nonnull(r->e);
}

static void on_end(void *user, struct gw_flow *f, int reason)
{
    struct recorder *r = user;
    REQUIRE(r->n < MAX_ENDS);
    REQUIRE(reason >= 0 && reason <= GW_FLOW_END_SHUTDOWN);
    r->e[r->n].id = f->id;
    r->e[r->n].client_port = f->client_port;
    r->e[r->n].server_port = f->server_port;
    r->e[r->n].reason = reason;
    r->n++;
    r->by_reason[reason]++;
    free(f->app); /* the contract: on_end frees what hangs on app */
    f->app = NULL;
}

/* How many times on_end saw the flow with this id, and the last reason. */
static size_t ends_of(const struct recorder *r, uint64_t id, int *reason)
{
    size_t k = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->e[i].id == id) {
            k++;
            if (reason) *reason = r->e[i].reason;
        }
    return k;
}

/* ---- segments ---- */

static struct gw_addr v4(const char *s)
{
    struct gw_addr a;
    memset(&a, 0, sizeof a);
    a.family = 4;
    ck_assert_int_eq(inet_pton(AF_INET, s, a.bytes), 1);
    return a;
}

static struct gw_addr v6(const char *s)
{
    struct gw_addr a;
    memset(&a, 0, sizeof a);
    a.family = 6;
    ck_assert_int_eq(inet_pton(AF_INET6, s, a.bytes), 1);
    return a;
}

static struct gw_segment seg(struct gw_addr src, uint16_t sport, struct gw_addr dst, uint16_t dport,
                             uint8_t flags, uint32_t payload, gw_time_us ts)
{
    struct gw_segment s;
    memset(&s, 0, sizeof s);
    s.ts = ts;
    s.src = src;
    s.dst = dst;
    s.sport = sport;
    s.dport = dport;
    s.flags = flags;
    s.payload_len = payload;
    s.payload_wire_len = payload;
    return s;
}

static struct gw_flow_config config(uint32_t max_flows)
{
    struct gw_flow_config c;
    memset(&c, 0, sizeof c);
    c.max_flows = max_flows;
    c.timeout_new_s = 10;
    c.timeout_established_s = 100;
    c.timeout_closed_s = 5;
    return c;
}

static struct gw_flow *look(struct gw_flow_table *t, struct gw_segment s, int *dir)
{
    struct gw_flow *f = gw_flow_lookup(t, &s, dir);
    REQUIRE(f != NULL);
    return f;
}

/* ---- tests ---- */

START_TEST(test_both_directions_one_flow)
{
    struct recorder r;
    rec_init(&r);
    struct gw_flow_config c = config(16);
    struct gw_flow_table *t = gw_flow_table_create(&c, on_end, &r);
    ck_assert_ptr_nonnull(t);
    struct gw_addr a = v4("10.0.0.1"), b = v4("10.0.0.2");
    int d1 = -1, d2 = -1;
    struct gw_segment s1 = seg(a, 50000, b, 80, GW_TCP_ACK, 100, US(1));
    s1.tunnel.type = GW_TUNNEL_VXLAN;
    s1.tunnel.id = 4242;
    struct gw_flow *f1 = look(t, s1, &d1);
    struct gw_flow *f2 = look(t, seg(b, 80, a, 50000, GW_TCP_ACK, 7, US(2)), &d2);
    ck_assert_ptr_eq(f1, f2);
    ck_assert_int_eq(f1->tunnel->type, GW_TUNNEL_VXLAN); /* from the first segment */
    ck_assert_uint_eq(f1->tunnel->id, 4242);
    ck_assert_int_eq(d1, GW_DIR_TO_SERVER);
    ck_assert_int_eq(d2, GW_DIR_TO_CLIENT);
    ck_assert_uint_eq(f1->pkts[GW_DIR_TO_SERVER], 1);
    ck_assert_uint_eq(f1->pkts[GW_DIR_TO_CLIENT], 1);
    ck_assert_uint_eq(f1->bytes[GW_DIR_TO_SERVER], 100);
    ck_assert_uint_eq(f1->bytes[GW_DIR_TO_CLIENT], 7);
    ck_assert_int_eq(f1->last_ts, US(2));
    /* a different port is a different flow */
    struct gw_flow *f3 = look(t, seg(a, 50001, b, 80, GW_TCP_ACK, 0, US(3)), &d1);
    ck_assert_ptr_ne(f3, f1);
    ck_assert_uint_ne(f3->id, f1->id);
    ck_assert_uint_eq(gw_flow_table_stats(t)->created, 2);
    ck_assert_uint_eq(gw_flow_table_stats(t)->active, 2);
    gw_flow_table_destroy(t);
    ck_assert_uint_eq(r.n, 2);
    free(r.e);
}
END_TEST

START_TEST(test_orientation_syn)
{
    struct gw_flow_config c = config(16);
    struct gw_flow_table *t = gw_flow_table_create(&c, NULL, NULL);
    struct gw_addr a = v4("192.168.1.1"), b = v4("192.168.1.2");
    int dir = -1;
    /* the SYN sender uses the lower port: the SYN still decides */
    struct gw_flow *f = look(t, seg(a, 1000, b, 60000, GW_TCP_SYN, 0, US(1)), &dir);
    ck_assert_int_eq(dir, GW_DIR_TO_SERVER);
    ck_assert(f->saw_syn);
    ck_assert_uint_eq(f->client_port, 1000);
    ck_assert_uint_eq(f->server_port, 60000);
    ck_assert_int_eq(gw_addr_cmp(&f->client, &a), 0);
    ck_assert_int_eq(gw_addr_cmp(&f->server, &b), 0);
    look(t, seg(b, 60000, a, 1000, GW_TCP_SYN | GW_TCP_ACK, 0, US(1)), &dir);
    ck_assert_int_eq(dir, GW_DIR_TO_CLIENT);
    gw_flow_table_destroy(t);
}
END_TEST

START_TEST(test_orientation_syn_ack)
{
    struct gw_flow_config c = config(16);
    struct gw_flow_table *t = gw_flow_table_create(&c, NULL, NULL);
    struct gw_addr a = v4("192.168.1.1"), b = v4("192.168.1.2");
    int dir = -1;
    /* first seen: the SYN+ACK from the (higher-port) server: its receiver is the client */
    struct gw_flow *f = look(t, seg(b, 60000, a, 1000, GW_TCP_SYN | GW_TCP_ACK, 0, US(1)), &dir);
    ck_assert_int_eq(dir, GW_DIR_TO_CLIENT);
    ck_assert(f->saw_syn);
    ck_assert_uint_eq(f->client_port, 1000);
    ck_assert_int_eq(gw_addr_cmp(&f->client, &a), 0);
    look(t, seg(a, 1000, b, 60000, GW_TCP_ACK, 5, US(2)), &dir);
    ck_assert_int_eq(dir, GW_DIR_TO_SERVER);
    gw_flow_table_destroy(t);
}
END_TEST

START_TEST(test_orientation_higher_port)
{
    struct gw_flow_config c = config(16);
    struct gw_flow_table *t = gw_flow_table_create(&c, NULL, NULL);
    struct gw_addr a = v4("172.16.0.1"), b = v4("172.16.0.2");
    int dir = -1;
    /* a reply from a service port to an ephemeral one */
    struct gw_flow *f = look(t, seg(a, 50051, b, 60123, GW_TCP_ACK, 10, US(1)), &dir);
    ck_assert(!f->saw_syn);
    ck_assert_uint_eq(f->client_port, 60123);
    ck_assert_uint_eq(f->server_port, 50051);
    ck_assert_int_eq(gw_addr_cmp(&f->client, &b), 0);
    ck_assert_int_eq(dir, GW_DIR_TO_CLIENT);
    /* equal ports: the sender of the first segment */
    f = look(t, seg(b, 8080, a, 8080, GW_TCP_ACK, 10, US(1)), &dir);
    ck_assert_int_eq(dir, GW_DIR_TO_SERVER);
    ck_assert_int_eq(gw_addr_cmp(&f->client, &b), 0);
    look(t, seg(a, 8080, b, 8080, GW_TCP_ACK, 10, US(1)), &dir);
    ck_assert_int_eq(dir, GW_DIR_TO_CLIENT);
    gw_flow_table_destroy(t);
}
END_TEST

START_TEST(test_late_syn_reorients)
{
    struct gw_flow_config c = config(16);
    struct gw_flow_table *t = gw_flow_table_create(&c, NULL, NULL);
    struct gw_addr a = v4("10.1.1.1"), b = v4("10.1.1.2");
    int dir = -1;
    /* by port, 50000 would be the client... */
    struct gw_flow *f = look(t, seg(a, 40000, b, 50000, GW_TCP_ACK, 3, US(1)), &dir);
    ck_assert_int_eq(dir, GW_DIR_TO_CLIENT);
    ck_assert_uint_eq(f->pkts[GW_DIR_TO_CLIENT], 1);
    f->reasm[GW_DIR_TO_CLIENT].next_seq = 4242; /* state of 40000's direction */
    /* ...until 40000 sends a SYN: the table keeps its orientation (the
     * stream layer decides whether it may still change, and asks) */
    struct gw_flow *g = look(t, seg(a, 40000, b, 50000, GW_TCP_SYN, 0, US(2)), &dir);
    ck_assert_ptr_eq(f, g);
    ck_assert_int_eq(dir, GW_DIR_TO_CLIENT);
    ck_assert(!f->saw_syn);
    /* the swap, applied as the stream layer's action */
    gw_flow_set_client(f, GW_DIR_TO_CLIENT);
    ck_assert_uint_eq(f->client_port, 40000);
    ck_assert_uint_eq(f->pkts[GW_DIR_TO_SERVER], 2);
    ck_assert_uint_eq(f->pkts[GW_DIR_TO_CLIENT], 0);
    ck_assert_uint_eq(f->bytes[GW_DIR_TO_SERVER], 3);
    ck_assert_uint_eq(f->reasm[GW_DIR_TO_SERVER].next_seq, 4242);
    /* a SYN from the other side changes nothing by itself */
    look(t, seg(b, 50000, a, 40000, GW_TCP_SYN, 0, US(3)), &dir);
    ck_assert_int_eq(dir, GW_DIR_TO_CLIENT);
    ck_assert_uint_eq(f->client_port, 40000);
    gw_flow_table_destroy(t);
}
END_TEST

START_TEST(test_set_client_swaps)
{
    struct gw_flow_config c = config(16);
    struct gw_flow_table *t = gw_flow_table_create(&c, NULL, NULL);
    struct gw_addr a = v4("10.2.2.1"), b = v4("10.2.2.2");
    int dir = -1;
    struct gw_flow *f = look(t, seg(a, 50000, b, 443, GW_TCP_ACK, 11, US(1)), &dir);
    look(t, seg(b, 443, a, 50000, GW_TCP_ACK, 22, US(1)), &dir);
    f->reasm[GW_DIR_TO_SERVER].next_seq = 111;
    f->reasm[GW_DIR_TO_CLIENT].next_seq = 222;
    gw_flow_set_client(f, GW_DIR_TO_SERVER); /* no-op */
    ck_assert_uint_eq(f->client_port, 50000);
    ck_assert_uint_eq(f->reasm[GW_DIR_TO_SERVER].next_seq, 111);
    gw_flow_set_client(f, GW_DIR_TO_CLIENT);
    ck_assert_uint_eq(f->client_port, 443);
    ck_assert_uint_eq(f->server_port, 50000);
    ck_assert_int_eq(gw_addr_cmp(&f->client, &b), 0);
    ck_assert_int_eq(gw_addr_cmp(&f->server, &a), 0);
    ck_assert_uint_eq(f->reasm[GW_DIR_TO_SERVER].next_seq, 222);
    ck_assert_uint_eq(f->reasm[GW_DIR_TO_CLIENT].next_seq, 111);
    ck_assert_uint_eq(f->bytes[GW_DIR_TO_SERVER], 22);
    ck_assert_uint_eq(f->bytes[GW_DIR_TO_CLIENT], 11);
    /* lookups follow the new orientation */
    struct gw_flow *g = look(t, seg(b, 443, a, 50000, GW_TCP_ACK, 0, US(2)), &dir);
    ck_assert_ptr_eq(f, g);
    ck_assert_int_eq(dir, GW_DIR_TO_SERVER);
    gw_flow_table_destroy(t);
}
END_TEST

START_TEST(test_lru_eviction)
{
    struct recorder r;
    rec_init(&r);
    struct gw_flow_config c = config(3);
    struct gw_flow_table *t = gw_flow_table_create(&c, on_end, &r);
    struct gw_addr a = v4("10.3.3.1"), b = v4("10.3.3.2");
    int dir;
    uint64_t id[5];
    for (int i = 0; i < 3; i++) {
        /* mixed classes: payload makes flows 0 and 2 established */
        struct gw_flow *f = look(t, seg(a, (uint16_t)(40000 + i), b, 80, GW_TCP_ACK,
                                        i == 1 ? 0 : 10, US(1 + i)), &dir);
        f->app = malloc(16);
        id[i] = f->id;
    }
    look(t, seg(b, 80, a, 40000, GW_TCP_ACK, 0, US(4)), &dir); /* flow 0 used again */
    ck_assert_uint_eq(r.n, 0);
    struct gw_flow *f = look(t, seg(a, 40003, b, 80, GW_TCP_ACK, 0, US(5)), &dir);
    f->app = malloc(16);
    id[3] = f->id;
    /* flow 1 was the least recently used */
    ck_assert_uint_eq(r.n, 1);
    ck_assert_uint_eq(r.e[0].id, id[1]);
    ck_assert_int_eq(r.e[0].reason, GW_FLOW_END_EVICTED);
    ck_assert_uint_eq(r.e[0].client_port, 40001);
    /* next victim: flow 2 (ts 3), then flow 0 (ts 4) */
    id[4] = look(t, seg(a, 40004, b, 80, GW_TCP_ACK, 0, US(6)), &dir)->id;
    ck_assert_uint_eq(r.n, 2);
    ck_assert_uint_eq(r.e[1].id, id[2]);
    const struct gw_flow_stats *st = gw_flow_table_stats(t);
    ck_assert_uint_eq(st->evicted, 2);
    ck_assert_uint_eq(st->created, 5);
    ck_assert_uint_eq(st->active, 3);
    ck_assert_uint_eq(st->max_active, 3);
    gw_flow_table_destroy(t);
    for (int i = 0; i < 5; i++) ck_assert_uint_eq(ends_of(&r, id[i], NULL), 1);
    ck_assert_uint_eq(r.by_reason[GW_FLOW_END_EVICTED], 2);
    ck_assert_uint_eq(r.by_reason[GW_FLOW_END_SHUTDOWN], 3);
    free(r.e);
}
END_TEST

START_TEST(test_expire_by_class)
{
    struct recorder r;
    rec_init(&r);
    struct gw_flow_config c = config(16); /* new 10 s, established 100 s, closed 5 s */
    struct gw_flow_table *t = gw_flow_table_create(&c, on_end, &r);
    struct gw_addr a = v4("10.4.4.1"), b = v4("10.4.4.2");
    int dir;
    /* oldest first: established, closed, then a new flow */
    struct gw_flow *fe = look(t, seg(a, 40001, b, 80, GW_TCP_ACK, 10, US(0)), &dir);
    struct gw_flow *fc = look(t, seg(a, 40002, b, 80, GW_TCP_ACK, 10, US(1)), &dir);
    struct gw_flow *fn = look(t, seg(a, 40003, b, 80, GW_TCP_SYN, 0, US(2)), &dir);
    uint64_t ide = fe->id, idc = fc->id, idn = fn->id;
    gw_flow_mark_closed(t, fc);
    ck_assert(fc->closed);
    gw_flow_expire(t, US(6)); /* closed idle exactly 5 s: not yet */
    ck_assert_uint_eq(r.n, 0);
    gw_flow_expire(t, US(6) + 1);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_uint_eq(r.e[0].id, idc);
    ck_assert_int_eq(r.e[0].reason, GW_FLOW_END_CLOSED);
    /* the new flow goes although an older established flow is still there */
    gw_flow_expire(t, US(12) + 1);
    ck_assert_uint_eq(r.n, 2);
    ck_assert_uint_eq(r.e[1].id, idn);
    ck_assert_int_eq(r.e[1].reason, GW_FLOW_END_TIMEOUT);
    gw_flow_expire(t, US(100));
    ck_assert_uint_eq(r.n, 2);
    /* activity resets the clock */
    look(t, seg(b, 80, a, 40001, GW_TCP_ACK, 0, US(50)), &dir);
    gw_flow_expire(t, US(149));
    ck_assert_uint_eq(r.n, 2);
    gw_flow_expire(t, US(151));
    ck_assert_uint_eq(r.n, 3);
    ck_assert_uint_eq(r.e[2].id, ide);
    ck_assert_int_eq(r.e[2].reason, GW_FLOW_END_TIMEOUT);
    const struct gw_flow_stats *st = gw_flow_table_stats(t);
    ck_assert_uint_eq(st->timed_out, 2);
    ck_assert_uint_eq(st->closed, 1);
    ck_assert_uint_eq(st->active, 0);
    gw_flow_table_destroy(t);
    ck_assert_uint_eq(r.n, 3);
    free(r.e);
}
END_TEST

START_TEST(test_expire_many_of_one_class)
{
    struct recorder r;
    rec_init(&r);
    struct gw_flow_config c = config(512);
    struct gw_flow_table *t = gw_flow_table_create(&c, on_end, &r);
    struct gw_addr a = v4("10.5.5.1"), b = v4("10.5.5.2");
    int dir;
    /* 200 established flows in front of 200 new ones: all new ones must go */
    for (int i = 0; i < 400; i++)
        look(t, seg(a, (uint16_t)(20000 + i), b, 80, GW_TCP_ACK, i < 200 ? 1 : 0, US(i / 100)), &dir);
    gw_flow_expire(t, US(50));
    ck_assert_uint_eq(r.n, 200);
    for (size_t i = 0; i < r.n; i++) ck_assert_uint_ge(r.e[i].client_port, 20200);
    ck_assert_uint_eq(gw_flow_table_stats(t)->active, 200);
    gw_flow_table_destroy(t);
    ck_assert_uint_eq(r.n, 400);
    free(r.e);
}
END_TEST

START_TEST(test_destroy_ends_all_once)
{
    struct recorder r;
    rec_init(&r);
    struct gw_flow_config c = config(64);
    struct gw_flow_table *t = gw_flow_table_create(&c, on_end, &r);
    struct gw_addr a = v4("10.6.6.1"), b = v4("10.6.6.2");
    int dir;
    struct gw_flow *fl[10];
    uint64_t id[10];
    for (int i = 0; i < 10; i++) { /* mixed classes */
        fl[i] = look(t, seg(a, (uint16_t)(30000 + i), b, 80, GW_TCP_ACK, (uint32_t)(i % 2),
                            US(1 + i)), &dir);
        fl[i]->app = malloc(8);
        id[i] = fl[i]->id;
    }
    static const int again[5] = { 7, 3, 9, 0, 5 };
    for (int k = 0; k < 5; k++) {
        look(t, seg(b, 80, a, (uint16_t)(30000 + again[k]), GW_TCP_ACK, 0, US(20 + k)), &dir);
        if (again[k] % 3 == 0) gw_flow_mark_closed(t, fl[again[k]]);
    }
    gw_flow_table_destroy(t);
    /* least recently used first: the untouched in creation order, then the
     * touched in the order they were touched */
    static const int expect[10] = { 1, 2, 4, 6, 8, 7, 3, 9, 0, 5 };
    ck_assert_uint_eq(r.n, 10);
    for (int i = 0; i < 10; i++) {
        int reason = -1;
        ck_assert_uint_eq(ends_of(&r, id[i], &reason), 1);
        ck_assert_int_eq(reason, GW_FLOW_END_SHUTDOWN);
        ck_assert_uint_eq(r.e[i].id, id[expect[i]]);
    }
    free(r.e);
}
END_TEST

START_TEST(test_ipv6_keys)
{
    struct gw_flow_config c = config(16);
    struct gw_flow_table *t = gw_flow_table_create(&c, NULL, NULL);
    struct gw_addr a = v6("2001:db8::1"), b = v6("2001:db8::2");
    int d1, d2;
    struct gw_flow *f = look(t, seg(a, 50000, b, 50051, GW_TCP_SYN, 0, US(1)), &d1);
    struct gw_flow *g = look(t, seg(b, 50051, a, 50000, GW_TCP_SYN | GW_TCP_ACK, 0, US(1)), &d2);
    ck_assert_ptr_eq(f, g);
    ck_assert_int_eq(d1, GW_DIR_TO_SERVER);
    ck_assert_int_eq(d2, GW_DIR_TO_CLIENT);
    ck_assert_int_eq(f->client.family, 6);
    ck_assert_int_eq(gw_addr_cmp(&f->client, &a), 0);
    /* addresses differing only in the last byte are different flows */
    struct gw_addr b2 = v6("2001:db8::3");
    ck_assert_ptr_ne(look(t, seg(a, 50000, b2, 50051, GW_TCP_ACK, 0, US(1)), &d1), f);
    /* same 16 bytes, other family: other flow (32.1.13.184 is 2001:0db8) */
    struct gw_addr x6 = v6("2001:db8::"), x4 = v4("32.1.13.184");
    ck_assert_mem_eq(x6.bytes, x4.bytes, 16);
    struct gw_flow *h6 = look(t, seg(x6, 1, x6, 2, GW_TCP_ACK, 0, US(1)), &d1);
    struct gw_flow *h4 = look(t, seg(x4, 1, x4, 2, GW_TCP_ACK, 0, US(1)), &d1);
    ck_assert_ptr_ne(h6, h4);
    ck_assert_uint_eq(gw_flow_table_stats(t)->active, 4);
    gw_flow_table_destroy(t);
}
END_TEST

START_TEST(test_ipv4_garbage_after_address_ignored)
{
    struct gw_flow_config c = config(16);
    struct gw_flow_table *t = gw_flow_table_create(&c, NULL, NULL);
    struct gw_addr a = v4("10.7.7.1"), b = v4("10.7.7.2");
    int dir;
    struct gw_flow *f = look(t, seg(a, 50000, b, 80, GW_TCP_ACK, 0, US(1)), &dir);
    struct gw_segment s = seg(b, 80, a, 50000, GW_TCP_ACK, 0, US(1));
    s.src.bytes[9] = 0x55; /* unused bytes of an IPv4 address */
    s.dst.bytes[15] = 0xaa;
    ck_assert_ptr_eq(look(t, s, &dir), f);
    ck_assert_int_eq(dir, GW_DIR_TO_CLIENT);
    gw_flow_table_destroy(t);
}
END_TEST

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

START_TEST(test_many_flows)
{
    enum { N = 100000, CAP = 1024 };
    struct recorder r;
    rec_init(&r);
    struct gw_flow_config c = config(CAP);
    struct gw_flow_table *t = gw_flow_table_create(&c, on_end, &r);
    uint64_t *ids = malloc(N * sizeof *ids);
    ck_assert_ptr_nonnull(ids);
    struct gw_addr srv = v4("10.9.9.9");
    int dir;
    for (uint32_t i = 0; i < N; i++) {
        struct gw_addr cli = v4("10.0.0.0");
        cli.bytes[1] = (uint8_t)(i >> 16);
        cli.bytes[2] = (uint8_t)(i >> 8);
        cli.bytes[3] = (uint8_t)i;
        struct gw_flow *f = look(t, seg(cli, (uint16_t)(1024 + i % 50000), srv, 50051,
                                        GW_TCP_SYN, 0, US(i)), &dir);
        REQUIRE(f->pkts[0] + f->pkts[1] == 1); /* every one is new */
        ids[i] = f->id;
        if (i % 97 == 0) /* and is found again from the other side */
            REQUIRE(look(t, seg(srv, 50051, cli, (uint16_t)(1024 + i % 50000),
                                GW_TCP_SYN | GW_TCP_ACK, 0, US(i)), &dir) == f);
    }
    const struct gw_flow_stats *st = gw_flow_table_stats(t);
    ck_assert_uint_eq(st->created, N);
    ck_assert_uint_eq(st->active, CAP);
    ck_assert_uint_eq(st->max_active, CAP);
    ck_assert_uint_eq(st->evicted, N - CAP);
    ck_assert_uint_eq(r.n, N - CAP);
    /* evicted in creation order: each was the least recently used */
    for (size_t i = 0; i < r.n; i++) REQUIRE(r.e[i].id == ids[i]);
    gw_flow_table_destroy(t);
    ck_assert_uint_eq(r.n, N);
    ck_assert_uint_eq(r.by_reason[GW_FLOW_END_SHUTDOWN], CAP);
    qsort(ids, N, sizeof *ids, cmp_u64);
    ck_assert_uint_gt(ids[0], 0);
    ck_assert_uint_lt(ids[N - 1], UINT64_C(1) << 53);
    for (size_t i = 1; i < N; i++) REQUIRE(ids[i - 1] != ids[i]);
    free(ids);
    free(r.e);
}
END_TEST

static void count_delivery(void *user, int event, const uint8_t *data, uint32_t len)
{
    GW_UNUSED(data);
    GW_UNUSED(len);
    GW_UNUSED(event);
    (*(int *)user)++;
}

START_TEST(test_end_releases_reassembly)
{
    struct gw_reasm_budget budget = { .cap = 1 << 20, .used = 0, .refused = 0 };
    struct gw_flow_config c = config(1);
    c.reasm.budget = &budget;
    struct recorder r;
    rec_init(&r);
    struct gw_flow_table *t = gw_flow_table_create(&c, on_end, &r);
    struct gw_addr a = v4("10.8.8.1"), b = v4("10.8.8.2");
    int dir, delivered = 0;
    static const uint8_t bytes[100];
    struct gw_flow *f = look(t, seg(a, 40000, b, 80, GW_TCP_SYN, 0, US(1)), &dir);
    gw_reasm_push(&f->reasm[dir], &c.reasm, 1000, GW_TCP_SYN, NULL, 0, 0, count_delivery, &delivered);
    gw_reasm_push(&f->reasm[dir], &c.reasm, 1500, GW_TCP_ACK, bytes, 100, 100, count_delivery,
                  &delivered); /* out of order: held */
    ck_assert_uint_eq(budget.used, 100);
    look(t, seg(a, 40001, b, 80, GW_TCP_SYN, 0, US(2)), &dir); /* evicts the first */
    ck_assert_uint_eq(r.n, 1);
    ck_assert_uint_eq(budget.used, 0);
    ck_assert_int_eq(delivered, 0);
    gw_flow_table_destroy(t);
    free(r.e);
}
END_TEST

START_TEST(test_port_reuse_after_close)
{
    struct recorder r;
    rec_init(&r);
    struct gw_flow_config c = config(16);
    struct gw_flow_table *t = gw_flow_table_create(&c, on_end, &r);
    struct gw_addr a = v4("10.10.0.1"), b = v4("10.10.0.2");
    int dir;
    struct gw_flow *f = look(t, seg(a, 40000, b, 80, GW_TCP_SYN, 0, US(1)), &dir);
    uint64_t old = f->id;
    gw_flow_mark_closed(t, f);
    struct gw_flow *g = look(t, seg(a, 40000, b, 80, GW_TCP_SYN, 0, US(2)), &dir);
    ck_assert_uint_ne(g->id, old);
    ck_assert(!g->closed);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_uint_eq(r.e[0].id, old);
    ck_assert_int_eq(r.e[0].reason, GW_FLOW_END_CLOSED);
    gw_flow_table_destroy(t);
    free(r.e);
}
END_TEST

START_TEST(test_zero_capacity_and_bad_config)
{
    struct gw_flow_config c = config(0);
    struct gw_flow_table *t = gw_flow_table_create(&c, NULL, NULL);
    ck_assert_ptr_nonnull(t);
    int dir;
    struct gw_segment s = seg(v4("1.1.1.1"), 1, v4("2.2.2.2"), 2, GW_TCP_SYN, 0, US(1));
    ck_assert_ptr_null(gw_flow_lookup(t, &s, &dir));
    gw_flow_table_destroy(t);
    c.max_flows = UINT32_MAX; /* over the documented cap */
    ck_assert_ptr_null(gw_flow_table_create(&c, NULL, NULL));
    ck_assert_ptr_null(gw_flow_table_create(NULL, NULL, NULL));
}
END_TEST

/* ---- eviction by value ---- */

/* A client address per index, all distinct. */
static struct gw_addr client_addr(uint32_t i)
{
    struct gw_addr a = v4("10.0.0.0");
    a.bytes[1] = (uint8_t)(i >> 16);
    a.bytes[2] = (uint8_t)(i >> 8);
    a.bytes[3] = (uint8_t)i;
    return a;
}

START_TEST(test_syn_flood_spares_high_flows)
{
    enum { CAP = 256, NHIGH = 8, FLOOD = 50000 };
    struct recorder r;
    rec_init(&r);
    struct gw_flow_config c = config(CAP);
    c.timeout_new_s = 1000000; /* only eviction ends flows here */
    struct gw_flow_table *t = gw_flow_table_create(&c, on_end, &r);
    struct gw_addr srv = v4("192.0.2.1"), gsrv = v4("192.0.2.50");
    int dir;
    uint64_t high_id[NHIGH];
    struct gw_flow *high[NHIGH];
    /* the gRPC flows come first (the oldest in the table): half of them
     * never carried payload (class NEW), half did (ESTABLISHED) */
    for (uint32_t i = 0; i < NHIGH; i++) {
        struct gw_addr cli = v4("198.51.100.0");
        cli.bytes[3] = (uint8_t)(i + 1);
        high[i] = look(t, seg(cli, 60000, gsrv, 50051, GW_TCP_ACK, i % 2 ? 100 : 0, US(1)), &dir);
        gw_flow_set_value(t, high[i], GW_FLOW_VALUE_HIGH);
        ck_assert_uint_eq(high[i]->value, GW_FLOW_VALUE_HIGH);
        high_id[i] = high[i]->id;
    }
    /* the flood: SYNs from new sources, one LOW flow each */
    uint64_t *flood_id = malloc(FLOOD * sizeof *flood_id);
    ck_assert_ptr_nonnull(flood_id);
    for (uint32_t i = 0; i < FLOOD; i++) {
        struct gw_flow *f = look(t, seg(client_addr(i), (uint16_t)(1024 + i % 60000), srv, 80,
                                        GW_TCP_SYN, 0, US(2) + i), &dir);
        REQUIRE(f->value == GW_FLOW_VALUE_LOW);
        flood_id[i] = f->id;
    }
    /* no gRPC flow ended; the LOW ones went in LRU order */
    ck_assert_uint_eq(r.n, FLOOD - (CAP - NHIGH));
    for (size_t i = 0; i < r.n; i++) REQUIRE(r.e[i].id == flood_id[i]);
    for (int i = 0; i < NHIGH; i++) ck_assert_uint_eq(ends_of(&r, high_id[i], NULL), 0);
    const struct gw_flow_stats *st = gw_flow_table_stats(t);
    ck_assert_uint_eq(st->evicted, r.n);
    ck_assert_uint_eq(st->evicted_by_value[GW_FLOW_VALUE_LOW], r.n);
    ck_assert_uint_eq(st->evicted_by_value[GW_FLOW_VALUE_MID], 0);
    ck_assert_uint_eq(st->evicted_by_value[GW_FLOW_VALUE_HIGH], 0);
    ck_assert_uint_eq(st->active, CAP);
    /* and they are still found, as the same flows */
    for (uint32_t i = 0; i < NHIGH; i++) {
        struct gw_addr cli = v4("198.51.100.0");
        cli.bytes[3] = (uint8_t)(i + 1);
        struct gw_flow *f = look(t, seg(gsrv, 50051, cli, 60000, GW_TCP_ACK, 0, US(3)), &dir);
        ck_assert_ptr_eq(f, high[i]);
        ck_assert_uint_eq(f->id, high_id[i]);
        ck_assert_int_eq(dir, GW_DIR_TO_CLIENT);
    }
    gw_flow_table_destroy(t);
    for (int i = 0; i < NHIGH; i++) ck_assert_uint_eq(ends_of(&r, high_id[i], NULL), 1);
    ck_assert_uint_eq(r.n, FLOOD + NHIGH);
    free(flood_id);
    free(r.e);
}
END_TEST

START_TEST(test_all_high_lru_among_high)
{
    struct recorder r;
    rec_init(&r);
    struct gw_flow_config c = config(4);
    struct gw_flow_table *t = gw_flow_table_create(&c, on_end, &r);
    struct gw_addr a = v4("10.11.0.1"), b = v4("10.11.0.2");
    int dir;
    uint64_t id[4];
    struct gw_flow *fl[4];
    for (int i = 0; i < 4; i++) {
        fl[i] = look(t, seg(a, (uint16_t)(41000 + i), b, 50051, GW_TCP_ACK, 50, US(1 + i)), &dir);
        gw_flow_set_value(t, fl[i], GW_FLOW_VALUE_HIGH);
        id[i] = fl[i]->id;
    }
    /* use flow 0 again: flow 1 becomes the least recently used; setting
     * the value it already has is no use of it */
    look(t, seg(b, 50051, a, 41000, GW_TCP_ACK, 10, US(10)), &dir);
    gw_flow_set_value(t, fl[1], GW_FLOW_VALUE_HIGH);
    struct gw_flow *n1 = look(t, seg(a, 41010, b, 50051, GW_TCP_SYN, 0, US(11)), &dir);
    uint64_t n1_id = n1->id;
    ck_assert_uint_eq(r.n, 1);
    ck_assert_uint_eq(r.e[0].id, id[1]);
    ck_assert_int_eq(r.e[0].reason, GW_FLOW_END_EVICTED);
    /* now one LOW flow is there: however recent, it goes before any HIGH one */
    look(t, seg(a, 41011, b, 50051, GW_TCP_SYN, 0, US(12)), &dir);
    ck_assert_uint_eq(r.n, 2);
    ck_assert_uint_eq(r.e[1].id, n1_id);
    const struct gw_flow_stats *st = gw_flow_table_stats(t);
    ck_assert_uint_eq(st->evicted_by_value[GW_FLOW_VALUE_HIGH], 1);
    ck_assert_uint_eq(st->evicted_by_value[GW_FLOW_VALUE_LOW], 1);
    ck_assert_uint_eq(st->evicted, 2);
    gw_flow_table_destroy(t);
    for (int i = 0; i < 4; i++) ck_assert_uint_eq(ends_of(&r, id[i], NULL), 1);
    free(r.e);
}
END_TEST

START_TEST(test_mid_goes_before_high)
{
    struct recorder r;
    rec_init(&r);
    struct gw_flow_config c = config(2);
    struct gw_flow_table *t = gw_flow_table_create(&c, on_end, &r);
    struct gw_addr a = v4("10.12.0.1"), b = v4("10.12.0.2");
    int dir;
    struct gw_flow *hi = look(t, seg(a, 42000, b, 50051, GW_TCP_ACK, 10, US(1)), &dir);
    gw_flow_set_value(t, hi, GW_FLOW_VALUE_HIGH);
    struct gw_flow *mid = look(t, seg(a, 42001, b, 443, GW_TCP_ACK, 10, US(2)), &dir);
    gw_flow_set_value(t, mid, GW_FLOW_VALUE_MID);
    uint64_t hi_id = hi->id, mid_id = mid->id;
    /* the HIGH flow is older, but the MID one is worth less */
    struct gw_flow *low = look(t, seg(a, 42002, b, 80, GW_TCP_SYN, 0, US(3)), &dir);
    uint64_t low_id = low->id;
    ck_assert_uint_eq(r.n, 1);
    ck_assert_uint_eq(r.e[0].id, mid_id);
    look(t, seg(a, 42003, b, 80, GW_TCP_SYN, 0, US(4)), &dir);
    ck_assert_uint_eq(r.n, 2);
    ck_assert_uint_eq(r.e[1].id, low_id);
    ck_assert_uint_eq(ends_of(&r, hi_id, NULL), 0);
    const struct gw_flow_stats *st = gw_flow_table_stats(t);
    ck_assert_uint_eq(st->evicted_by_value[GW_FLOW_VALUE_LOW], 1);
    ck_assert_uint_eq(st->evicted_by_value[GW_FLOW_VALUE_MID], 1);
    ck_assert_uint_eq(st->evicted_by_value[GW_FLOW_VALUE_HIGH], 0);
    /* lowering a value moves the flow back among the cheap ones */
    gw_flow_set_value(t, hi, GW_FLOW_VALUE_LOW);
    look(t, seg(a, 42004, b, 80, GW_TCP_SYN, 0, US(5)), &dir);
    ck_assert_uint_eq(ends_of(&r, hi_id, NULL), 1);
    gw_flow_table_destroy(t);
    free(r.e);
}
END_TEST

START_TEST(test_closed_high_flow_ranks_low)
{
    struct recorder r;
    rec_init(&r);
    struct gw_flow_config c = config(2);
    struct gw_flow_table *t = gw_flow_table_create(&c, on_end, &r);
    struct gw_addr a = v4("10.13.0.1"), b = v4("10.13.0.2");
    int dir;
    struct gw_flow *g = look(t, seg(a, 43000, b, 50051, GW_TCP_ACK, 10, US(1)), &dir);
    gw_flow_set_value(t, g, GW_FLOW_VALUE_HIGH);
    gw_flow_mark_closed(t, g);
    uint64_t gid = g->id;
    struct gw_flow *l = look(t, seg(a, 43001, b, 80, GW_TCP_ACK, 10, US(2)), &dir);
    uint64_t lid = l->id;
    /* its calls were written at close: it is the oldest cheap flow now */
    look(t, seg(a, 43002, b, 80, GW_TCP_SYN, 0, US(3)), &dir);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_uint_eq(r.e[0].id, gid);
    ck_assert_uint_eq(ends_of(&r, lid, NULL), 0);
    ck_assert_uint_eq(gw_flow_table_stats(t)->evicted_by_value[GW_FLOW_VALUE_LOW], 1);
    ck_assert_uint_eq(gw_flow_table_stats(t)->evicted_by_value[GW_FLOW_VALUE_HIGH], 0);
    gw_flow_table_destroy(t);
    free(r.e);
}
END_TEST

START_TEST(test_value_keeps_expiry_exact)
{
    struct recorder r;
    rec_init(&r);
    struct gw_flow_config c = config(16); /* new 10 s, established 100 s, closed 5 s */
    struct gw_flow_table *t = gw_flow_table_create(&c, on_end, &r);
    struct gw_addr a = v4("10.14.0.1"), b = v4("10.14.0.2");
    int dir;
    /* a HIGH flow without payload yet and a LOW established one, same age */
    struct gw_flow *hn = look(t, seg(a, 44000, b, 50051, GW_TCP_SYN, 0, US(0)), &dir);
    gw_flow_set_value(t, hn, GW_FLOW_VALUE_HIGH);
    struct gw_flow *le = look(t, seg(a, 44001, b, 80, GW_TCP_ACK, 5, US(0)), &dir);
    struct gw_flow *he = look(t, seg(a, 44002, b, 50051, GW_TCP_ACK, 5, US(0)), &dir);
    gw_flow_set_value(t, he, 200); /* past HIGH counts as HIGH */
    ck_assert_uint_eq(he->value, GW_FLOW_VALUE_HIGH);
    uint64_t hn_id = hn->id, le_id = le->id, he_id = he->id;
    gw_flow_expire(t, US(10));
    ck_assert_uint_eq(r.n, 0);
    /* value does not protect from the timeout of the flow's state */
    gw_flow_expire(t, US(10) + 1);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_uint_eq(r.e[0].id, hn_id);
    ck_assert_int_eq(r.e[0].reason, GW_FLOW_END_TIMEOUT);
    gw_flow_expire(t, US(100) + 1);
    ck_assert_uint_eq(r.n, 3);
    ck_assert_uint_eq(ends_of(&r, le_id, NULL), 1);
    ck_assert_uint_eq(ends_of(&r, he_id, NULL), 1);
    ck_assert_uint_eq(gw_flow_table_stats(t)->timed_out, 3);
    ck_assert_uint_eq(gw_flow_table_stats(t)->evicted, 0);
    gw_flow_table_destroy(t);
    ck_assert_uint_eq(r.n, 3);
    free(r.e);
}
END_TEST

/* on_end that classifies while it ends, as the sensor does when flushing
 * held bytes into a classifier. */
struct reentrant {
    struct gw_flow_table *t;
    size_t n;
};

static void on_end_sets_value(void *user, struct gw_flow *f, int reason)
{
    struct reentrant *re = user;
    GW_UNUSED(reason);
    gw_flow_set_value(re->t, f, GW_FLOW_VALUE_HIGH);
    REQUIRE(f->value == GW_FLOW_VALUE_HIGH);
    re->n++;
}

START_TEST(test_set_value_from_on_end)
{
    struct reentrant re = { NULL, 0 };
    struct gw_flow_config c = config(8);
    struct gw_flow_table *t = gw_flow_table_create(&c, on_end_sets_value, &re);
    re.t = t;
    struct gw_addr b = v4("10.15.0.2");
    int dir;
    for (uint32_t i = 0; i < 100; i++)
        look(t, seg(client_addr(i), 45000, b, 80, GW_TCP_SYN, 0, US(i)), &dir);
    ck_assert_uint_eq(re.n, 92);
    /* the table is intact: still LRU among LOW flows, and all are found */
    ck_assert_uint_eq(gw_flow_table_stats(t)->evicted_by_value[GW_FLOW_VALUE_LOW], 92);
    for (uint32_t i = 92; i < 100; i++) {
        struct gw_segment s = seg(b, 80, client_addr(i), 45000, GW_TCP_ACK, 0, US(200));
        ck_assert_uint_eq(look(t, s, &dir)->client_port, 45000);
    }
    ck_assert_uint_eq(re.n, 92);
    gw_flow_expire(t, US(1000));
    ck_assert_uint_eq(re.n, 100);
    ck_assert_uint_eq(gw_flow_table_stats(t)->active, 0);
    gw_flow_table_destroy(t);
    ck_assert_uint_eq(re.n, 100);
}
END_TEST


/* ---- the index ---- */

struct churn {
    uint64_t live[4096]; /* flow id by client port - 20000, 0 = not in the table */
};

static void on_end_churn(void *user, struct gw_flow *f, int reason)
{
    struct churn *c = user;
    (void)reason;
    REQUIRE(f->client_port >= 20000 && f->client_port < 20000 + 4096);
    REQUIRE(c->live[f->client_port - 20000] == f->id);
    c->live[f->client_port - 20000] = 0;
}

/* Evictions delete from the open-addressing index all the time: after each
 * of 200,000 lookups over 4096 tuples into 512 flows, a tuple the table
 * holds is found (not created again) and one it gave up is created. */
START_TEST(test_index_churn)
{
    static struct churn c;
    memset(&c, 0, sizeof c);
    struct gw_flow_config cfg = config(512);
    struct gw_flow_table *t = gw_flow_table_create(&cfg, on_end_churn, &c);
    ck_assert_ptr_nonnull(t);
    struct gw_addr a = v4("10.1.0.1"), b = v4("10.2.0.2");
    uint64_t x = 12345;
    int dir;
    for (int i = 0; i < 200000; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        uint32_t k = (uint32_t)(x >> 33) % 4096;
        uint64_t created = gw_flow_table_stats(t)->created;
        uint64_t was = c.live[k];
        struct gw_flow *f = look(t, seg(a, (uint16_t)(20000 + k), b, 80, GW_TCP_ACK, 0, i), &dir);
        REQUIRE(dir == GW_DIR_TO_SERVER);
        if (was) {
            REQUIRE(f->id == was);
            REQUIRE(gw_flow_table_stats(t)->created == created);
        } else {
            REQUIRE(gw_flow_table_stats(t)->created == created + 1);
            c.live[k] = f->id;
        }
    }
    ck_assert_uint_eq(gw_flow_table_stats(t)->active, 512);
    ck_assert_uint_lt(gw_flow_table_max_probe(t), 64);
    gw_flow_table_destroy(t);
    for (int k = 0; k < 4096; k++) ck_assert_uint_eq(c.live[k], 0);
}
END_TEST

/* What the key is for. Under a key the sender knows, NH is easy to aim:
 * with key 0 every tuple whose lower address word is 0 hashes alike,
 * whatever the other address. 2,000 such flows then share one cluster;
 * under the table's own random key the same flows spread out. */
START_TEST(test_chosen_collisions_need_the_key)
{
    static const uint32_t zero[GW_FLOW_KEY_WORDS];
    struct gw_addr lo = v4("0.0.0.0"), b1 = client_addr(1), b2 = client_addr(2);
    ck_assert_uint_eq(gw_flow_tuple_hash(zero, &lo, 1000, &b1, 80),
                      gw_flow_tuple_hash(zero, &lo, 1000, &b2, 80));
    for (int keyed = 0; keyed < 2; keyed++) {
        struct gw_flow_config cfg = config(4096);
        struct gw_flow_table *t = gw_flow_table_create(&cfg, NULL, NULL);
        ck_assert_ptr_nonnull(t);
        if (!keyed) gw_flow_table_set_key(t, zero);
        int dir;
        for (uint32_t i = 0; i < 2000; i++) {
            struct gw_addr b = client_addr(i + 1);
            look(t, seg(lo, 1000, b, 80, GW_TCP_SYN, 0, US(1)), &dir);
        }
        ck_assert_uint_eq(gw_flow_table_stats(t)->active, 2000);
        uint32_t probe = gw_flow_table_max_probe(t);
        if (keyed) ck_assert_uint_lt(probe, 64);
        else ck_assert_uint_ge(probe, 1999);
        gw_flow_table_destroy(t);
    }
}
END_TEST

/* A flow moves in its list at most once an epoch (~65 ms); expiry is still
 * exact to the microsecond inside one. */
START_TEST(test_epoch_touch_keeps_expiry_exact)
{
    struct recorder r;
    rec_init(&r);
    struct gw_flow_config cfg = config(16);
    struct gw_flow_table *t = gw_flow_table_create(&cfg, on_end, &r);
    struct gw_addr a = v4("10.1.0.1"), b = v4("10.2.0.2");
    gw_time_us t0 = US(100);
    int dir;
    struct gw_flow *fa = look(t, seg(a, 40000, b, 80, GW_TCP_SYN, 0, t0), &dir);
    struct gw_flow *fb = look(t, seg(a, 40001, b, 80, GW_TCP_SYN, 0, t0 + 1), &dir);
    uint64_t ida = fa->id, idb = fb->id;
    look(t, seg(a, 40000, b, 80, GW_TCP_ACK, 0, t0 + 2), &dir); /* same epoch: A stays the tail */
    /* timeout_new is 10 s: idle more than 10 s ends a flow */
    gw_flow_expire(t, t0 + 1 + US(10));
    ck_assert_uint_eq(r.n, 0);
    gw_flow_expire(t, t0 + 2 + US(10)); /* B idle 10 s + 1 us, A exactly 10 s */
    ck_assert_uint_eq(r.n, 1);
    ck_assert_uint_eq(ends_of(&r, idb, NULL), 1);
    gw_flow_expire(t, t0 + 3 + US(10));
    ck_assert_uint_eq(ends_of(&r, ida, NULL), 1);
    ck_assert_uint_eq(gw_flow_table_stats(t)->active, 0);
    gw_flow_table_destroy(t);
    free(r.e);
}
END_TEST

START_TEST(test_memory_accounting)
{
    struct gw_flow_config c = config(1000);
    struct gw_flow_table *t = gw_flow_table_create(&c, NULL, NULL);
    ck_assert_ptr_nonnull(t);
    size_t m = gw_flow_table_memory(t);
    /* every flow struct and its cold tunnel slot, plus 2048 index slots (a
     * power of two >= 2 * max_flows) */
    size_t floor = 1000 * (sizeof(struct gw_flow) + sizeof(struct gw_tunnel)) + 2048 * sizeof(uint32_t);
    /* the per-flow budget #9 set: 256 bytes resident per idle flow, index included */
    ck_assert_uint_le(sizeof(struct gw_flow) + 2 * sizeof(uint32_t), 232);
    ck_assert_uint_ge(m, floor);
    ck_assert_uint_lt(m, floor + 4096); /* plus the table struct itself */
    /* fixed for the table's life, whatever passes through it */
    struct gw_addr b = v4("10.16.0.2");
    int dir;
    for (uint32_t i = 0; i < 5000; i++)
        look(t, seg(client_addr(i), 46000, b, 80, GW_TCP_SYN, 0, US(i)), &dir);
    ck_assert_uint_eq(gw_flow_table_memory(t), m);
    /* and linear in max_flows */
    struct gw_flow_config c2 = config(2000);
    struct gw_flow_table *t2 = gw_flow_table_create(&c2, NULL, NULL);
    ck_assert_uint_eq(gw_flow_table_memory(t2) - m,
                      1000 * (sizeof(struct gw_flow) + sizeof(struct gw_tunnel)) + 2048 * sizeof(uint32_t));
    ck_assert_uint_eq(gw_flow_table_memory(NULL), 0);
    gw_flow_table_destroy(t2);
    gw_flow_table_destroy(t);
}
END_TEST

static Suite *flow_suite(void)
{
    Suite *s = suite_create("flow");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_both_directions_one_flow);
    tcase_add_test(tc, test_orientation_syn);
    tcase_add_test(tc, test_orientation_syn_ack);
    tcase_add_test(tc, test_orientation_higher_port);
    tcase_add_test(tc, test_late_syn_reorients);
    tcase_add_test(tc, test_set_client_swaps);
    tcase_add_test(tc, test_lru_eviction);
    tcase_add_test(tc, test_expire_by_class);
    tcase_add_test(tc, test_expire_many_of_one_class);
    tcase_add_test(tc, test_destroy_ends_all_once);
    tcase_add_test(tc, test_ipv6_keys);
    tcase_add_test(tc, test_ipv4_garbage_after_address_ignored);
    tcase_add_test(tc, test_many_flows);
    tcase_add_test(tc, test_end_releases_reassembly);
    tcase_add_test(tc, test_port_reuse_after_close);
    tcase_add_test(tc, test_zero_capacity_and_bad_config);
    tcase_add_test(tc, test_syn_flood_spares_high_flows);
    tcase_add_test(tc, test_all_high_lru_among_high);
    tcase_add_test(tc, test_mid_goes_before_high);
    tcase_add_test(tc, test_closed_high_flow_ranks_low);
    tcase_add_test(tc, test_value_keeps_expiry_exact);
    tcase_add_test(tc, test_set_value_from_on_end);
    tcase_add_test(tc, test_memory_accounting);
    tcase_add_test(tc, test_index_churn);
    tcase_add_test(tc, test_chosen_collisions_need_the_key);
    tcase_add_test(tc, test_epoch_touch_keeps_expiry_exact);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(flow_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
