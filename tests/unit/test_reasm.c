/* test_reasm.c - unit tests for TCP reassembly (src/reasm.c). */
#include "grpcwatch/decode.h"
#include "grpcwatch/reasm.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* For hot paths: a passing ck_assert writes its location to Check's pipe
 * (one syscall each); this one is silent unless it fails. */
#define REQUIRE(c) do { if (!(c)) ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #c); } while (0)

/* ---- a sink that records every event and rebuilds the stream ---- */

#define MAX_EVENTS 4096

struct event {
    int type;
    const uint8_t *p;
    uint32_t len;
};

struct sink {
    struct event ev[MAX_EVENTS];
    size_t nev;
    uint8_t *buf; /* DATA bytes in order; GAP bytes as 0xEE */
    size_t nbuf, cap;
    int ends;     /* FIN + RST events */
    /* optional reentrancy hook: bypass this direction on the n-th DATA */
    struct gw_reasm_dir *bypass_dir;
    const struct gw_reasm_limits *bypass_lim;
    size_t bypass_after;
};

static void sink_init(struct sink *s, size_t cap)
{
    memset(s, 0, sizeof *s);
    s->buf = malloc(cap ? cap : 1);
    s->cap = cap;
    ck_assert_ptr_nonnull(s->buf);
}

static void sink_free(struct sink *s) { free(s->buf); }

static void on_deliver(void *user, int event, const uint8_t *data, uint32_t len)
{
    struct sink *s = user;
    REQUIRE(s->nev < MAX_EVENTS);
    s->ev[s->nev].type = event;
    s->ev[s->nev].p = data;
    s->ev[s->nev].len = len;
    s->nev++;
    if (event == GW_REASM_DATA || event == GW_REASM_GAP) {
        REQUIRE(len > 0);
        REQUIRE(s->nbuf + len <= s->cap);
        if (event == GW_REASM_DATA)
            memcpy(s->buf + s->nbuf, data, len);
        else
            memset(s->buf + s->nbuf, 0xEE, len);
        s->nbuf += len;
    } else {
        REQUIRE(len == 0);
        s->ends++;
    }
    if (event == GW_REASM_DATA && s->bypass_dir && s->nev == s->bypass_after)
        gw_reasm_bypass(s->bypass_dir, s->bypass_lim);
}

static void push(struct gw_reasm_dir *d, const struct gw_reasm_limits *lim, uint32_t seq,
                 uint8_t flags, const void *p, uint32_t plen, uint32_t wlen, struct sink *s)
{
    gw_reasm_push(d, lim, seq, flags, p, plen, wlen, on_deliver, s);
    REQUIRE(gw_reasm_check(d));
}

static void push_data(struct gw_reasm_dir *d, const struct gw_reasm_limits *lim, uint32_t seq,
                      const char *text, struct sink *s)
{
    uint32_t n = (uint32_t)strlen(text);
    push(d, lim, seq, GW_TCP_ACK | GW_TCP_PSH, text, n, n, s);
}

static void expect_event(const struct sink *s, size_t i, int type, uint32_t len)
{
    ck_assert_uint_gt(s->nev, i);
    ck_assert_int_eq(s->ev[i].type, type);
    ck_assert_uint_eq(s->ev[i].len, len);
}

/* A direction that saw a SYN at isn: the first data byte is at isn + 1. */
static void start(struct gw_reasm_dir *d, const struct gw_reasm_limits *lim, uint32_t isn,
                  struct sink *s)
{
    gw_reasm_init(d);
    push(d, lim, isn, GW_TCP_SYN, NULL, 0, 0, s);
    ck_assert_uint_eq(d->next_seq, isn + 1);
    ck_assert_uint_eq(s->nev, 0);
}

/* ---- tests ---- */

START_TEST(test_in_order_zero_copy)
{
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, 64);
    start(&d, NULL, 1000, &s);
    static const char a[] = "hello", b[] = " world";
    push_data(&d, NULL, 1001, a, &s);
    push_data(&d, NULL, 1006, b, &s);
    ck_assert_uint_eq(s.nev, 2);
    expect_event(&s, 0, GW_REASM_DATA, 5);
    ck_assert_ptr_eq(s.ev[0].p, (const uint8_t *)a);
    expect_event(&s, 1, GW_REASM_DATA, 6);
    ck_assert_ptr_eq(s.ev[1].p, (const uint8_t *)b);
    ck_assert_uint_eq(d.next_seq, 1012);
    ck_assert_uint_eq(s.nbuf, 11); /* every byte delivered once */
    ck_assert_uint_eq(d.held_segments, 0);
    ck_assert_mem_eq(s.buf, "hello world", 11);
    sink_free(&s);
}
END_TEST

START_TEST(test_midstream_pickup)
{
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, 64);
    gw_reasm_init(&d);
    push(&d, NULL, 5000, GW_TCP_ACK, NULL, 0, 0, &s); /* a pure ACK says nothing */
    ck_assert_uint_eq(s.nev, 0);
    push_data(&d, NULL, 7000, "abc", &s);
    expect_event(&s, 0, GW_REASM_DATA, 3);
    ck_assert_uint_eq(d.next_seq, 7003);
    sink_free(&s);
}
END_TEST

START_TEST(test_out_of_order_321)
{
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, 64);
    start(&d, NULL, 0, &s);
    static const char one[] = "1111111111", two[] = "2222222222", three[] = "3333333333";
    push_data(&d, NULL, 21, three, &s);
    push_data(&d, NULL, 11, two, &s);
    ck_assert_uint_eq(s.nev, 0);
    ck_assert_uint_eq(d.held_segments, 2);
    ck_assert_uint_eq(d.held_bytes, 20);
    push_data(&d, NULL, 1, one, &s);
    ck_assert_uint_eq(s.nev, 3);
    for (size_t i = 0; i < 3; i++) expect_event(&s, i, GW_REASM_DATA, 10);
    ck_assert_ptr_eq(s.ev[0].p, (const uint8_t *)one); /* in order: straight from the packet */
    ck_assert_mem_eq(s.buf, "111111111122222222223333333333", 30);
    ck_assert_uint_eq(d.held_segments, 0);
    ck_assert_uint_eq(d.held_bytes, 0);
    ck_assert_uint_eq(d.next_seq, 31);
    ck_assert_uint_eq(s.nbuf, 30); /* every byte delivered once */
    sink_free(&s);
}
END_TEST

START_TEST(test_retransmission_dropped)
{
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, 64);
    start(&d, NULL, 99, &s);
    static const char a[] = "0123456789", b[] = "56789abcde";
    push_data(&d, NULL, 100, a, &s);
    push_data(&d, NULL, 100, a, &s); /* full retransmission */
    ck_assert_uint_eq(s.nev, 1);
    ck_assert_uint_eq(d.dup_bytes, 10);
    push_data(&d, NULL, 105, b, &s); /* half old, half new */
    ck_assert_uint_eq(s.nev, 2);
    expect_event(&s, 1, GW_REASM_DATA, 5);
    ck_assert_ptr_eq(s.ev[1].p, (const uint8_t *)b + 5);
    ck_assert_uint_eq(d.dup_bytes, 15);
    ck_assert_uint_eq(s.nbuf, 15); /* every byte delivered once */
    ck_assert_mem_eq(s.buf, "0123456789abcde", 15);
    ck_assert_uint_eq(d.conflicts, 0);
    sink_free(&s);
}
END_TEST

START_TEST(test_overlap_first_wins)
{
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, 64);
    start(&d, NULL, 0, &s);
    push_data(&d, NULL, 11, "BBBBBBBBBB", &s);       /* [11,21) held */
    push_data(&d, NULL, 16, "XXXXXYYYYY", &s);       /* [16,26): 5 overlap, differ */
    ck_assert_uint_eq(d.conflicts, 1);
    ck_assert_uint_eq(d.dup_bytes, 5);
    ck_assert_uint_eq(d.held_bytes, 15);
    push_data(&d, NULL, 21, "YYYYY", &s);            /* same bytes again: no conflict */
    ck_assert_uint_eq(d.conflicts, 1);
    ck_assert_uint_eq(d.dup_bytes, 10);
    push_data(&d, NULL, 6, "cccccBBBBB", &s);        /* ahead, overlapping held: equal bytes */
    ck_assert_uint_eq(d.conflicts, 1);
    ck_assert_uint_eq(d.dup_bytes, 15);
    push_data(&d, NULL, 1, "aaaaaZZZZZ", &s);        /* in order, overlaps held [6,11) */
    ck_assert_uint_eq(d.conflicts, 2);
    ck_assert_uint_eq(d.dup_bytes, 20);
    ck_assert_uint_eq(s.nbuf, 25);
    ck_assert_mem_eq(s.buf, "aaaaacccccBBBBBBBBBBYYYYY", 25);
    ck_assert_uint_eq(s.nbuf, 25); /* every byte delivered once */
    ck_assert_uint_eq(d.held_segments, 0);
    sink_free(&s);
}
END_TEST

START_TEST(test_wraparound)
{
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, 64);
    start(&d, NULL, 0xFFFFFFF0u, &s); /* first byte at 0xFFFFFFF1 */
    push_data(&d, NULL, 0x00000001u, "CCCCCCCC", &s);
    push_data(&d, NULL, 0xFFFFFFF9u, "BBBBBBBB", &s); /* straddles 2^32 */
    ck_assert_uint_eq(s.nev, 0);
    push_data(&d, NULL, 0xFFFFFFF1u, "AAAAAAAA", &s);
    ck_assert_uint_eq(s.nev, 3);
    ck_assert_mem_eq(s.buf, "AAAAAAAABBBBBBBBCCCCCCCC", 24);
    ck_assert_uint_eq(d.next_seq, 9);
    /* a byte from before the wrap is now old */
    push_data(&d, NULL, 0xFFFFFFFFu, "B", &s);
    ck_assert_uint_eq(s.nev, 3);
    ck_assert_uint_eq(d.dup_bytes, 1);
    sink_free(&s);
}
END_TEST

START_TEST(test_gap_when_segment_limit_hit)
{
    struct gw_reasm_limits lim = { .ooo_max_bytes = 1000, .ooo_max_segments = 2, .budget = NULL };
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, 128);
    start(&d, &lim, 0, &s);
    push_data(&d, &lim, 11, "bbbbbbbbbb", &s);
    push_data(&d, &lim, 31, "dddddddddd", &s);
    ck_assert_uint_eq(s.nev, 0);
    push_data(&d, &lim, 51, "ffffffffff", &s); /* a third: no room */
    /* hole [1,11) declared lost, [11,21) handed on, then the new one is held */
    ck_assert_uint_eq(s.nev, 2);
    expect_event(&s, 0, GW_REASM_GAP, 10);
    ck_assert_ptr_null(s.ev[0].p);
    expect_event(&s, 1, GW_REASM_DATA, 10);
    ck_assert_uint_eq(d.gaps, 1);
    ck_assert_uint_eq(d.gap_bytes, 10);
    ck_assert_uint_eq(d.next_seq, 21);
    ck_assert_uint_eq(d.held_segments, 2);
    ck_assert_uint_eq(d.held_bytes, 20);
    gw_reasm_release(&d, &lim);
    ck_assert_uint_eq(d.held_segments, 0);
    ck_assert_uint_eq(d.held_bytes, 0);
    sink_free(&s);
}
END_TEST

START_TEST(test_gap_when_byte_limit_hit)
{
    struct gw_reasm_limits lim = { .ooo_max_bytes = 15, .ooo_max_segments = 100, .budget = NULL };
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, 128);
    start(&d, &lim, 0, &s);
    push_data(&d, &lim, 21, "cccccccccc", &s);
    static const char b[] = "bbbbbbbbbb";
    push_data(&d, &lim, 11, b, &s); /* 20 > 15: the hole before it goes */
    ck_assert_uint_eq(s.nev, 3);
    expect_event(&s, 0, GW_REASM_GAP, 10);
    expect_event(&s, 1, GW_REASM_DATA, 10);
    ck_assert_ptr_eq(s.ev[1].p, (const uint8_t *)b); /* it became in order: no copy */
    expect_event(&s, 2, GW_REASM_DATA, 10);
    ck_assert_uint_eq(d.next_seq, 31);
    ck_assert_uint_eq(d.held_segments, 0);
    /* one segment bigger than the limit on its own still gets through */
    push_data(&d, &lim, 41, "0123456789abcdefghij", &s);
    expect_event(&s, 3, GW_REASM_GAP, 10);
    expect_event(&s, 4, GW_REASM_DATA, 20);
    ck_assert_uint_eq(d.gap_bytes, 20);
    ck_assert_uint_eq(s.nbuf - d.gap_bytes, 40); /* every byte delivered once */
    sink_free(&s);
}
END_TEST

START_TEST(test_gap_on_flush)
{
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, 128);
    start(&d, NULL, 0, &s);
    push_data(&d, NULL, 11, "bbbbbbbbbb", &s);
    push_data(&d, NULL, 31, "dddddddddd", &s);
    gw_reasm_flush(&d, NULL, on_deliver, &s);
    ck_assert(gw_reasm_check(&d));
    ck_assert_uint_eq(s.nev, 4);
    expect_event(&s, 0, GW_REASM_GAP, 10);
    expect_event(&s, 1, GW_REASM_DATA, 10);
    expect_event(&s, 2, GW_REASM_GAP, 10);
    expect_event(&s, 3, GW_REASM_DATA, 10);
    ck_assert_uint_eq(d.held_segments, 0);
    ck_assert_ptr_null(d.held);
    ck_assert_uint_eq(d.gaps, 2);
    ck_assert_uint_eq(d.next_seq, 41);
    gw_reasm_flush(&d, NULL, on_deliver, &s); /* twice is harmless */
    ck_assert_uint_eq(s.nev, 4);
    sink_free(&s);
}
END_TEST

START_TEST(test_flush_pending_fin)
{
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, 128);
    start(&d, NULL, 0, &s);
    push(&d, NULL, 11, GW_TCP_FIN | GW_TCP_ACK, "bbbbb", 5, 5, &s);
    ck_assert_uint_eq(s.nev, 0);
    gw_reasm_flush(&d, NULL, on_deliver, &s);
    ck_assert_uint_eq(s.nev, 3);
    expect_event(&s, 0, GW_REASM_GAP, 10);
    expect_event(&s, 1, GW_REASM_DATA, 5);
    expect_event(&s, 2, GW_REASM_FIN, 0);
    ck_assert(d.ended);
    gw_reasm_flush(&d, NULL, on_deliver, &s);
    ck_assert_uint_eq(s.nev, 3);
    sink_free(&s);
}
END_TEST

START_TEST(test_snap_cut_in_order)
{
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, 128);
    start(&d, NULL, 0, &s);
    static const char a[] = "abcd";
    push(&d, NULL, 1, GW_TCP_ACK, a, 4, 10, &s); /* carried 10, captured 4 */
    ck_assert_uint_eq(s.nev, 2);
    expect_event(&s, 0, GW_REASM_DATA, 4);
    ck_assert_ptr_eq(s.ev[0].p, (const uint8_t *)a);
    expect_event(&s, 1, GW_REASM_GAP, 6);
    ck_assert_uint_eq(d.next_seq, 11);
    push_data(&d, NULL, 11, "next", &s);
    expect_event(&s, 2, GW_REASM_DATA, 4);
    ck_assert_uint_eq(d.gap_bytes, 6);
    ck_assert_uint_eq(s.nbuf - d.gap_bytes, 8); /* every byte delivered once */
    sink_free(&s);
}
END_TEST

START_TEST(test_snap_cut_out_of_order)
{
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, 128);
    start(&d, NULL, 0, &s);
    push_data(&d, NULL, 21, "tail", &s);
    push(&d, NULL, 11, GW_TCP_ACK, "wxyz", 4, 10, &s); /* [11,15) bytes, [15,21) cut */
    ck_assert_uint_eq(d.held_segments, 3);
    ck_assert_uint_eq(d.held_bytes, 8); /* the cut part is not stored */
    push_data(&d, NULL, 1, "0123456789", &s);
    ck_assert_uint_eq(s.nev, 4);
    expect_event(&s, 0, GW_REASM_DATA, 10);
    expect_event(&s, 1, GW_REASM_DATA, 4);
    expect_event(&s, 2, GW_REASM_GAP, 6);
    expect_event(&s, 3, GW_REASM_DATA, 4);
    ck_assert_mem_eq(s.buf, "0123456789wxyz\xEE\xEE\xEE\xEE\xEE\xEEtail", 24);
    ck_assert_uint_eq(d.next_seq, 25);
    sink_free(&s);
}
END_TEST

START_TEST(test_fin_after_hole)
{
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, 128);
    start(&d, NULL, 0, &s);
    push(&d, NULL, 11, GW_TCP_FIN | GW_TCP_ACK, "bbbbbbbbbb", 10, 10, &s);
    ck_assert_uint_eq(s.nev, 0);
    ck_assert(!d.ended);
    push_data(&d, NULL, 1, "aaaaaaaaaa", &s);
    ck_assert_uint_eq(s.nev, 3);
    expect_event(&s, 0, GW_REASM_DATA, 10);
    expect_event(&s, 1, GW_REASM_DATA, 10);
    expect_event(&s, 2, GW_REASM_FIN, 0);
    ck_assert(d.ended);
    /* later segments, even a FIN retransmission, are ignored */
    push(&d, NULL, 11, GW_TCP_FIN | GW_TCP_ACK, "bbbbbbbbbb", 10, 10, &s);
    push_data(&d, NULL, 21, "zz", &s);
    ck_assert_uint_eq(s.nev, 3);
    ck_assert_int_eq(s.ends, 1);
    sink_free(&s);
}
END_TEST

START_TEST(test_data_after_fin_ignored)
{
    struct gw_reasm_budget budget = { .cap = 1000, .used = 0, .refused = 0 };
    struct gw_reasm_limits lim = { 0, 0, &budget, NULL };
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, 128);
    start(&d, &lim, 0, &s);
    push_data(&d, &lim, 31, "beyondfin!", &s);                  /* held, later proven bogus */
    push(&d, &lim, 11, GW_TCP_FIN | GW_TCP_ACK, "bbbbbbbbbb", 10, 10, &s); /* stream ends at 21 */
    ck_assert_uint_eq(d.held_segments, 1);
    ck_assert_uint_eq(budget.used, 10);
    push_data(&d, &lim, 16, "BBBBBxxxxx", &s);                  /* [21,26) is past the FIN */
    ck_assert_uint_eq(d.held_segments, 1);
    ck_assert_uint_eq(d.held_bytes, 10);
    push_data(&d, &lim, 1, "aaaaaaaaaa", &s);
    ck_assert_uint_eq(s.nev, 3);
    expect_event(&s, 2, GW_REASM_FIN, 0);
    ck_assert_uint_eq(s.nbuf, 20);
    ck_assert_mem_eq(s.buf, "aaaaaaaaaabbbbbbbbbb", 20);
    ck_assert_uint_eq(d.next_seq, 21);
    ck_assert_uint_eq(budget.used, 0);
    sink_free(&s);
}
END_TEST

START_TEST(test_fin_in_order_without_data)
{
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, 128);
    start(&d, NULL, 0, &s);
    push_data(&d, NULL, 1, "abc", &s);
    push(&d, NULL, 4, GW_TCP_FIN | GW_TCP_ACK, NULL, 0, 0, &s);
    ck_assert_uint_eq(s.nev, 2);
    expect_event(&s, 1, GW_REASM_FIN, 0);
    ck_assert(d.ended);
    sink_free(&s);
}
END_TEST

START_TEST(test_rst)
{
    struct gw_reasm_limits lim = { 0, 0, NULL, NULL };
    struct gw_reasm_budget budget = { .cap = 1000, .used = 0, .refused = 0 };
    lim.budget = &budget;
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, 128);
    start(&d, &lim, 0, &s);
    push_data(&d, &lim, 11, "bbbbbbbbbb", &s);
    ck_assert_uint_eq(budget.used, 10);
    push(&d, &lim, 30, GW_TCP_RST, NULL, 0, 0, &s);
    ck_assert_uint_eq(s.nev, 3);
    expect_event(&s, 0, GW_REASM_GAP, 10);
    expect_event(&s, 1, GW_REASM_DATA, 10);
    expect_event(&s, 2, GW_REASM_RST, 0);
    ck_assert(d.ended);
    ck_assert_uint_eq(budget.used, 0);
    push(&d, &lim, 30, GW_TCP_RST, NULL, 0, 0, &s);
    push_data(&d, &lim, 21, "x", &s);
    ck_assert_uint_eq(s.nev, 3);
    sink_free(&s);
}
END_TEST

START_TEST(test_bypass)
{
    struct gw_reasm_budget budget = { .cap = 1000, .used = 0, .refused = 0 };
    struct gw_reasm_limits lim = { 0, 0, &budget, NULL };
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, 128);
    start(&d, &lim, 0, &s);
    push_data(&d, &lim, 1, "abc", &s);
    push_data(&d, &lim, 14, "held", &s);
    ck_assert_uint_eq(budget.used, 4);
    gw_reasm_bypass(&d, &lim);
    ck_assert(gw_reasm_check(&d));
    ck_assert_uint_eq(d.held_segments, 0);
    ck_assert_uint_eq(budget.used, 0);
    push_data(&d, &lim, 4, "0123456789", &s);
    push_data(&d, &lim, 20, "later", &s);
    ck_assert_uint_eq(s.nev, 1);             /* only the first "abc" */
    ck_assert_uint_eq(d.next_seq, 25);       /* tracked, not delivered */
    ck_assert_uint_eq(d.held_segments, 0);
    push(&d, &lim, 25, GW_TCP_FIN | GW_TCP_ACK, NULL, 0, 0, &s);
    ck_assert_uint_eq(s.nev, 2);
    expect_event(&s, 1, GW_REASM_FIN, 0);
    push(&d, &lim, 26, GW_TCP_RST, NULL, 0, 0, &s);
    ck_assert_uint_eq(s.nev, 2);
    ck_assert_uint_eq(s.nbuf, 3); /* every byte delivered once */
    sink_free(&s);
}
END_TEST

START_TEST(test_bypass_from_callback)
{
    struct gw_reasm_budget budget = { .cap = 1000, .used = 0, .refused = 0 };
    struct gw_reasm_limits lim = { 0, 0, &budget, NULL };
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, 128);
    start(&d, &lim, 0, &s);
    push_data(&d, &lim, 11, "bbbbbbbbbb", &s);
    push_data(&d, &lim, 21, "cccccccccc", &s);
    push_data(&d, &lim, 31, "dddddddddd", &s);
    s.bypass_dir = &d;
    s.bypass_lim = &lim;
    s.bypass_after = 2; /* the classifier gives up after the second DATA */
    push_data(&d, &lim, 1, "aaaaaaaaaa", &s);
    ck_assert_uint_eq(s.nev, 2);
    ck_assert_uint_eq(d.held_segments, 0);
    ck_assert_uint_eq(budget.used, 0);
    push(&d, &lim, 41, GW_TCP_RST, NULL, 0, 0, &s);
    expect_event(&s, 2, GW_REASM_RST, 0);
    sink_free(&s);
}
END_TEST

/* The callback bypasses in the middle of an in-order segment that reaches
 * past held data: nothing more may be delivered from it. */
START_TEST(test_bypass_from_callback_mid_segment)
{
    struct gw_reasm_limits lim = { 0, 0, NULL, NULL };
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, 128);
    start(&d, &lim, 0, &s);
    push_data(&d, &lim, 11, "bbbbbbbbbb", &s);
    s.bypass_dir = &d;
    s.bypass_lim = &lim;
    s.bypass_after = 1;
    push_data(&d, &lim, 1, "aaaaaaaaaaBBBBBBBBBBcccccccccc", &s);
    ck_assert_uint_eq(s.nev, 1);
    expect_event(&s, 0, GW_REASM_DATA, 10);
    ck_assert_uint_eq(s.nbuf, 10); /* every byte delivered once */
    ck_assert_uint_eq(d.next_seq, 31); /* bypass still tracks the stream end */
    ck_assert_uint_eq(d.held_segments, 0);
    sink_free(&s);
}
END_TEST

START_TEST(test_budget_shared_and_returned)
{
    struct gw_reasm_budget budget = { .cap = 25, .used = 0, .refused = 0 };
    struct gw_pool *pool = gw_pool_create(1 << 20); /* held segments' memory */
    struct gw_reasm_limits lim = { 1000, 100, &budget, pool };
    struct gw_reasm_dir a, b;
    struct sink sa, sb;
    sink_init(&sa, 128);
    sink_init(&sb, 128);
    start(&a, &lim, 0, &sa);
    start(&b, &lim, 500, &sb);
    push_data(&a, &lim, 11, "aaaaaaaaaa", &sa);
    push_data(&b, &lim, 511, "bbbbbbbbbb", &sb);
    ck_assert_uint_eq(budget.used, a.held_bytes + b.held_bytes);
    ck_assert_uint_eq(budget.used, 20);
    push_data(&b, &lim, 531, "cccccccccc", &sb); /* 30 > 25: refused, b moves on */
    ck_assert_uint_eq(budget.refused, 1);
    expect_event(&sb, 0, GW_REASM_GAP, 10);
    expect_event(&sb, 1, GW_REASM_DATA, 10);
    ck_assert_uint_eq(budget.used, a.held_bytes + b.held_bytes);
    ck_assert_uint_eq(budget.used, 20);
    ck_assert_uint_eq(gw_pool_stats(pool)->in_use, a.held_segments + b.held_segments);
    gw_reasm_release(&a, &lim);
    ck_assert_uint_eq(budget.used, 10);
    gw_reasm_release(&b, &lim);
    ck_assert_uint_eq(budget.used, 0);
    ck_assert_uint_eq(gw_pool_stats(pool)->in_use, 0);
    ck_assert(gw_reasm_check(&a));
    ck_assert(gw_reasm_check(&b));
    gw_reasm_release(&b, &lim); /* twice is harmless */
    ck_assert_uint_eq(budget.used, 0);
    gw_pool_destroy(pool);
    sink_free(&sa);
    sink_free(&sb);
}
END_TEST

START_TEST(test_far_ahead_ignored)
{
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, 64);
    start(&d, NULL, 0, &s);
    push_data(&d, NULL, 1u + (1u << 30), "far", &s); /* beyond any TCP window */
    ck_assert_uint_eq(d.held_segments, 0);
    ck_assert_uint_eq(s.nev, 0);
    push_data(&d, NULL, 1, "ok", &s);
    ck_assert_uint_eq(s.nev, 1);
    sink_free(&s);
}
END_TEST

/* ---- randomized: segments shuffled with duplicates ---- */

static uint64_t rng_next(uint64_t *st) /* xorshift64* */
{
    uint64_t x = *st;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return x * UINT64_C(2685821657736338717);
}

static uint32_t rng_below(uint64_t *st, uint32_t n) { return (uint32_t)(rng_next(st) % n); }

struct piece {
    uint32_t off, len;
};

/* Cuts [0, n) into pieces of 1..maxlen, adds `dups` random sub-ranges again,
 * shuffles. Returns the count; *out is malloc'ed. */
static size_t make_pieces(uint64_t *rng, uint32_t n, uint32_t maxlen, size_t dups, struct piece **out)
{
    size_t cap = n + dups, k = 0;
    struct piece *p = malloc(cap * sizeof *p);
    ck_assert_ptr_nonnull(p);
    for (uint32_t off = 0; off < n;) {
        uint32_t len = 1 + rng_below(rng, maxlen);
        if (len > n - off) len = n - off;
        p[k].off = off;
        p[k].len = len;
        k++;
        off += len;
    }
    for (size_t i = 0; i < dups; i++) {
        uint32_t off = rng_below(rng, n);
        uint32_t len = 1 + rng_below(rng, GW_MIN(maxlen * 3, n - off));
        p[k].off = off;
        p[k].len = len;
        k++;
    }
    for (size_t i = k; i > 1; i--) {
        size_t j = rng_below(rng, (uint32_t)i);
        struct piece t = p[i - 1];
        p[i - 1] = p[j];
        p[j] = t;
    }
    *out = p;
    return k;
}

static void run_random_stream(uint64_t seed, uint32_t isn)
{
    const uint32_t n = 200000;
    uint64_t rng = seed;
    uint8_t *src = malloc(n);
    ck_assert_ptr_nonnull(src);
    for (uint32_t i = 0; i < n; i++) src[i] = (uint8_t)rng_next(&rng);
    struct piece *pc;
    size_t k = make_pieces(&rng, n, 1460, 300, &pc);

    struct gw_reasm_budget budget = { .cap = UINT64_MAX, .used = 0, .refused = 0 };
    struct gw_reasm_limits lim = { 0, 0, &budget, NULL }; /* built-in caps: large */
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, n);
    start(&d, &lim, isn, &s);
    for (size_t i = 0; i < k; i++) {
        push(&d, &lim, isn + 1 + pc[i].off, GW_TCP_ACK, src + pc[i].off, pc[i].len, pc[i].len, &s);
        REQUIRE(budget.used == d.held_bytes);
    }
    push(&d, &lim, isn + 1 + n, GW_TCP_FIN | GW_TCP_ACK, NULL, 0, 0, &s);
    ck_assert_uint_eq(d.gaps, 0);
    ck_assert_uint_eq(d.conflicts, 0);
    ck_assert_uint_eq(s.nbuf, n);
    ck_assert(memcmp(s.buf, src, n) == 0);
    ck_assert_int_eq(s.ev[s.nev - 1].type, GW_REASM_FIN);
    ck_assert_int_eq(s.ends, 1);
    ck_assert_uint_eq(d.held_segments, 0);
    ck_assert_uint_eq(budget.used, 0);
    /* every byte pushed beyond the first copy was counted as a duplicate */
    uint64_t pushed = 0;
    for (size_t i = 0; i < k; i++) pushed += pc[i].len;
    ck_assert_uint_eq(d.dup_bytes, pushed - n);
    free(pc);
    free(src);
    sink_free(&s);
}

START_TEST(test_random_exactly_once)
{
    run_random_stream(UINT64_C(0x1234567887654321) + (uint64_t)_i, 0xFFFF0000u + (uint32_t)_i * 7919u);
}
END_TEST

/* Tight limits: what comes out must still be the stream, with holes as gaps:
 * every DATA byte sits at its true offset, DATA + GAP cover the stream once. */
START_TEST(test_random_tight_limits)
{
    const uint32_t n = 100000;
    uint64_t rng = UINT64_C(0xdeadbeefcafef00d) + (uint64_t)_i;
    uint8_t *src = malloc(n);
    ck_assert_ptr_nonnull(src);
    for (uint32_t i = 0; i < n; i++) src[i] = (uint8_t)(1 + rng_below(&rng, 200)); /* never 0xEE */
    struct piece *pc;
    size_t k = make_pieces(&rng, n, 1000, 100, &pc);
    /* loop 0: the per-direction limits bind; later loops: the budget too */
    struct gw_reasm_budget budget = { .cap = _i == 0 ? 100000 : 3000, .used = 0, .refused = 0 };
    struct gw_reasm_limits lim = { 4000, 8, &budget, NULL };
    struct gw_reasm_dir d;
    struct sink s;
    sink_init(&s, n);
    start(&d, &lim, 77, &s);
    for (size_t i = 0; i < k; i++) {
        push(&d, &lim, 78 + pc[i].off, GW_TCP_ACK, src + pc[i].off, pc[i].len, pc[i].len, &s);
        REQUIRE(d.held_bytes <= 4000);
        REQUIRE(d.held_segments <= 8);
        REQUIRE(budget.used == d.held_bytes);
    }
    gw_reasm_flush(&d, &lim, on_deliver, &s);
    ck_assert_uint_eq(budget.used, 0);
    ck_assert_uint_eq(s.nbuf, n);
    ck_assert_uint_gt(d.gaps, 0);
    for (uint32_t i = 0; i < n; i++)
        REQUIRE(s.buf[i] == 0xEE || s.buf[i] == src[i]);
    ck_assert_uint_eq(d.conflicts, 0);
    if (_i > 0) ck_assert_uint_gt(budget.refused, 0);
    free(pc);
    free(src);
    sink_free(&s);
}
END_TEST

static Suite *reasm_suite(void)
{
    Suite *s = suite_create("reasm");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_in_order_zero_copy);
    tcase_add_test(tc, test_midstream_pickup);
    tcase_add_test(tc, test_out_of_order_321);
    tcase_add_test(tc, test_retransmission_dropped);
    tcase_add_test(tc, test_overlap_first_wins);
    tcase_add_test(tc, test_wraparound);
    tcase_add_test(tc, test_gap_when_segment_limit_hit);
    tcase_add_test(tc, test_gap_when_byte_limit_hit);
    tcase_add_test(tc, test_gap_on_flush);
    tcase_add_test(tc, test_flush_pending_fin);
    tcase_add_test(tc, test_snap_cut_in_order);
    tcase_add_test(tc, test_snap_cut_out_of_order);
    tcase_add_test(tc, test_fin_after_hole);
    tcase_add_test(tc, test_data_after_fin_ignored);
    tcase_add_test(tc, test_fin_in_order_without_data);
    tcase_add_test(tc, test_rst);
    tcase_add_test(tc, test_bypass);
    tcase_add_test(tc, test_bypass_from_callback);
    tcase_add_test(tc, test_bypass_from_callback_mid_segment);
    tcase_add_test(tc, test_budget_shared_and_returned);
    tcase_add_test(tc, test_far_ahead_ignored);
    tcase_add_loop_test(tc, test_random_exactly_once, 0, 4);
    tcase_add_loop_test(tc, test_random_tight_limits, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(reasm_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
