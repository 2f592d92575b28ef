/*
 * test_h2frame.c - the frame header unpack and the per-type rule table
 * shared by the parser and the mid-stream sniffer.
 *
 * The table is checked three ways: against RFC 9113 section 6 facts
 * written out here by hand; for consistency between its columns (the
 * sniffer refuses whatever the parser refuses to follow); and, exhaustively
 * over types, flags, small stream ids and lengths, against the rules the
 * parser (frame_setup) and the sniffer (sniffed_header_ok) had before the
 * table existed, written out again below as independent oracles, so that
 * the table changed nothing.
 */
#include "grpcwatch/h2frame.h"

#include <check.h>
#include <string.h>

/* Check records every passing ck_assert; the sweep below checks millions */
#define REQ_MSG(c, ...)                                                         \
    do {                                                                        \
        if (!(c)) ck_abort_msg(__VA_ARGS__);                                   \
    } while (0)

#define ES 0x1
#define ACK 0x1
#define EH 0x4
#define PAD 0x8
#define PRIO 0x20

static struct gw_h2_frame_header hdr(uint8_t type, uint8_t flags, uint32_t sid, uint32_t len)
{
    struct gw_h2_frame_header h = { len, sid, type, flags, false };
    return h;
}

START_TEST(test_unpack)
{
    const uint8_t b[9] = { 0x01, 0x02, 0x03, 0x01, 0x25, 0x80, 0x00, 0x00, 0x07 };
    struct gw_h2_frame_header h;
    gw_h2_frame_unpack(&h, b);
    ck_assert_uint_eq(h.length, 0x010203);
    ck_assert_uint_eq(h.type, GW_H2_HEADERS);
    ck_assert_uint_eq(h.flags, 0x25);
    ck_assert_uint_eq(h.stream_id, 7);
    ck_assert(h.reserved);
    const uint8_t m[9] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff };
    gw_h2_frame_unpack(&h, m);
    ck_assert_uint_eq(h.length, GW_H2_LARGEST_MAX_FRAME);
    ck_assert_uint_eq(h.type, 0xff);
    ck_assert_uint_eq(h.stream_id, GW_H2_SID_MASK);
    ck_assert(!h.reserved);
    ck_assert_ptr_null(gw_h2_frame_rule(0xff));
    ck_assert_ptr_null(gw_h2_frame_rule(GW_H2_FRAME_TYPES));
    ck_assert_uint_eq(gw_h2_frame_check(&h), 0); /* unknown types are ignored */
}
END_TEST

/* RFC 9113 section 6, one fact per type. */
START_TEST(test_rules_rfc)
{
    const struct gw_h2_frame_rule *r = gw_h2_frame_rules;
    ck_assert_str_eq(r[GW_H2_DATA].name, "DATA");
    ck_assert_uint_eq(r[GW_H2_DATA].flags, ES | PAD);
    ck_assert_uint_eq(r[GW_H2_HEADERS].flags, ES | EH | PAD | PRIO);
    ck_assert_uint_eq(r[GW_H2_PUSH_PROMISE].flags, EH | PAD);
    ck_assert_uint_eq(r[GW_H2_CONTINUATION].flags, EH);
    ck_assert_uint_eq(r[GW_H2_SETTINGS].flags, ACK);
    ck_assert_uint_eq(r[GW_H2_PING].flags, ACK);
    ck_assert_uint_eq(r[GW_H2_GOAWAY].flags | r[GW_H2_RST_STREAM].flags | r[GW_H2_PRIORITY].flags |
                          r[GW_H2_WINDOW_UPDATE].flags, 0);
    ck_assert_uint_eq(r[GW_H2_WINDOW_UPDATE].sid, GW_H2_SID_ANY); /* connection or stream */
    ck_assert_uint_eq(r[GW_H2_SETTINGS].sid, GW_H2_SID_ZERO);
    ck_assert_uint_eq(r[GW_H2_PING].sid, GW_H2_SID_ZERO);
    ck_assert_uint_eq(r[GW_H2_GOAWAY].sid, GW_H2_SID_ZERO);
    for (int t = 0; t < GW_H2_FRAME_TYPES; t++) {
        ck_assert_ptr_nonnull(r[t].name);
        ck_assert_ptr_eq(gw_h2_frame_rule((uint8_t)t), &r[t]);
        /* whatever the parser refuses to follow, the sniffer never takes */
        ck_assert_uint_eq((r[t].parser_skip | r[t].parser_fail | r[t].parser_report) & ~r[t].sniff, 0);
        ck_assert_uint_eq(r[t].parser_skip & r[t].parser_fail, 0);
    }
    /* lengths, stream ids */
    struct gw_h2_frame_header h = hdr(GW_H2_PING, 0, 0, 8);
    ck_assert_uint_eq(gw_h2_frame_check(&h), GW_H2_CHK_ODD); /* ODD: only a rule for odd-stream types */
    h.length = 7;
    ck_assert(gw_h2_frame_check(&h) & GW_H2_CHK_LENGTH);
    h = hdr(GW_H2_SETTINGS, ACK, 0, 6);
    ck_assert(gw_h2_frame_check(&h) & GW_H2_CHK_LENGTH); /* an ACK is empty */
    h = hdr(GW_H2_SETTINGS, 0, 0, 12);
    ck_assert(!(gw_h2_frame_check(&h) & GW_H2_CHK_LENGTH));
    h = hdr(GW_H2_SETTINGS, 0, 1, 12);
    ck_assert(gw_h2_frame_check(&h) & GW_H2_CHK_SID);
    h = hdr(GW_H2_GOAWAY, 0, 0, 100);
    ck_assert(!(gw_h2_frame_check(&h) & GW_H2_CHK_LENGTH));
    h = hdr(GW_H2_RST_STREAM, 0, 0, 4);
    ck_assert(gw_h2_frame_check(&h) & GW_H2_CHK_SID);
    h = hdr(GW_H2_WINDOW_UPDATE, 0, 0, 4);
    ck_assert(!(gw_h2_frame_check(&h) & (GW_H2_CHK_SID | GW_H2_CHK_LENGTH)));
    /* prefixes: pad length, priority, promised id */
    h = hdr(GW_H2_HEADERS, PAD | PRIO, 1, 6);
    ck_assert_uint_eq(gw_h2_frame_prefix(&h), 6);
    ck_assert(gw_h2_frame_check(&h) & GW_H2_CHK_EMPTY); /* no fragment byte */
    ck_assert(!(gw_h2_frame_check(&h) & GW_H2_CHK_PREFIX));
    h.length = 5;
    ck_assert(gw_h2_frame_check(&h) & GW_H2_CHK_PREFIX);
    h = hdr(GW_H2_PUSH_PROMISE, PAD, 2, 5);
    ck_assert_uint_eq(gw_h2_frame_prefix(&h), 5);
    h = hdr(GW_H2_CONTINUATION, PAD | PRIO, 1, 1); /* flags it does not define add nothing */
    ck_assert_uint_eq(gw_h2_frame_prefix(&h), 0);
    ck_assert(gw_h2_frame_check(&h) & GW_H2_CHK_FLAGS);
    h = hdr(GW_H2_DATA, 0, 1, 0);
    ck_assert(gw_h2_frame_check(&h) & GW_H2_CHK_EMPTY);
    h.flags = ES;
    ck_assert_uint_eq(gw_h2_frame_check(&h), 0);
    h.reserved = true;
    ck_assert_uint_eq(gw_h2_frame_check(&h), GW_H2_CHK_RESERVED);
    /* settings values */
    ck_assert(gw_h2_setting_ok(GW_H2_SETTINGS_ENABLE_PUSH, 1));
    ck_assert(!gw_h2_setting_ok(GW_H2_SETTINGS_ENABLE_PUSH, 2));
    ck_assert(!gw_h2_setting_ok(GW_H2_SETTINGS_MAX_FRAME_SIZE, 16383));
    ck_assert(gw_h2_setting_ok(GW_H2_SETTINGS_MAX_FRAME_SIZE, GW_H2_LARGEST_MAX_FRAME));
    ck_assert(!gw_h2_setting_ok(GW_H2_SETTINGS_MAX_FRAME_SIZE, GW_H2_LARGEST_MAX_FRAME + 1));
    ck_assert(!gw_h2_setting_ok(GW_H2_SETTINGS_INITIAL_WINDOW_SIZE, 0x80000000u));
    ck_assert(gw_h2_setting_ok(0x99, 0xffffffffu));
}
END_TEST

/* ---- the rules before the table, as oracles ----------------------------------------- */

static const uint8_t old_legal_flags[GW_H2_FRAME_TYPES] = {
    [GW_H2_DATA] = ES | PAD, [GW_H2_HEADERS] = ES | EH | PAD | PRIO, [GW_H2_SETTINGS] = ACK,
    [GW_H2_PUSH_PROMISE] = EH | PAD, [GW_H2_PING] = ACK, [GW_H2_CONTINUATION] = EH,
};

static uint32_t old_fixed(uint8_t type, uint8_t flags)
{
    uint32_t k = (flags & PAD) ? 1 : 0;
    if (type == GW_H2_HEADERS && (flags & PRIO)) k += 5;
    if (type == GW_H2_PUSH_PROMISE) k += 4;
    return k;
}

/* h2.c's sniffed_header_ok, max_frame aside */
static bool old_sniff_ok(uint8_t type, uint8_t flags, uint32_t sid, uint32_t len, bool reserved)
{
    if (type > GW_H2_CONTINUATION || reserved) return false;
    if (flags & ~old_legal_flags[type]) return false;
    bool zero = sid == 0, odd = (sid & 1) != 0;
    switch (type) {
    case GW_H2_DATA: return odd && len >= old_fixed(type, flags) && (len > 0 || (flags & ES));
    case GW_H2_HEADERS: return odd && len > old_fixed(type, flags);
    case GW_H2_PUSH_PROMISE: return !zero && len > old_fixed(type, flags);
    case GW_H2_PRIORITY: return !zero && len == 5;
    case GW_H2_RST_STREAM: return !zero && len == 4;
    case GW_H2_SETTINGS: return zero && ((flags & ACK) ? len == 0 : len % 6 == 0);
    case GW_H2_PING: return zero && len == 8;
    case GW_H2_GOAWAY: return zero && len >= 8;
    case GW_H2_WINDOW_UPDATE: return len == 4;
    default: return odd && len > 0;
    }
}

enum old_verdict { OLD_OK, OLD_SKIP, OLD_FAIL };

/* h2.c's frame_setup before the table: skipped as bad, or failing the
 * direction (CONTINUATION's block rules aside) */
static enum old_verdict old_parser(uint8_t type, uint8_t flags, uint32_t sid, uint32_t len)
{
    uint32_t pad = (flags & PAD) ? 1 : 0;
    switch (type) {
    case GW_H2_DATA: return (sid == 0 || len < pad) ? OLD_SKIP : OLD_OK;
    case GW_H2_HEADERS:
        return len < pad + ((flags & PRIO) ? 5 : 0) ? OLD_FAIL : OLD_OK;
    case GW_H2_PUSH_PROMISE: return len < pad + 4 ? OLD_FAIL : OLD_OK;
    case GW_H2_PRIORITY: return (len != 5 || sid == 0) ? OLD_SKIP : OLD_OK;
    case GW_H2_RST_STREAM: return (len != 4 || sid == 0) ? OLD_SKIP : OLD_OK;
    case GW_H2_SETTINGS:
        return (sid != 0 || ((flags & ACK) ? len != 0 : len % 6 != 0)) ? OLD_SKIP : OLD_OK;
    case GW_H2_PING: return (len != 8 || sid != 0) ? OLD_SKIP : OLD_OK;
    case GW_H2_GOAWAY: return (len < 8 || sid != 0) ? OLD_SKIP : OLD_OK;
    case GW_H2_WINDOW_UPDATE: return len != 4 ? OLD_SKIP : OLD_OK;
    default: return OLD_OK;
    }
}

START_TEST(test_table_matches_old_rules)
{
    static const uint32_t sids[] = { 0, 1, 2, 3, 0x7ffffffe, 0x7fffffff };
    unsigned compared = 0, sniff_ok = 0, skipped = 0, failed = 0;
    for (unsigned type = 0; type < GW_H2_FRAME_TYPES; type++) {
        const struct gw_h2_frame_rule *r = gw_h2_frame_rule((uint8_t)type);
        for (unsigned flags = 0; flags < 256; flags++) {
            for (size_t si = 0; si < sizeof sids / sizeof sids[0]; si++) {
                for (uint32_t len = 0; len <= 40; len++) {
                    for (int res = 0; res < 2; res++) {
                        struct gw_h2_frame_header h = hdr((uint8_t)type, (uint8_t)flags, sids[si], len);
                        h.reserved = res;
                        unsigned bad = gw_h2_frame_check(&h);
                        bool ok = (bad & r->sniff) == 0;
                        REQ_MSG(ok == old_sniff_ok((uint8_t)type, (uint8_t)flags, sids[si], len, res),
                                      "sniff type %u flags %#x sid %u len %u res %d", type, flags, sids[si], len, res);
                        enum old_verdict v = old_parser((uint8_t)type, (uint8_t)flags, sids[si], len);
                        enum old_verdict got = (bad & r->parser_fail) ? OLD_FAIL
                                               : (bad & r->parser_skip) ? OLD_SKIP : OLD_OK;
                        REQ_MSG(got == v, "parser type %u flags %#x sid %u len %u: %d, was %d", type, flags,
                                      sids[si], len, got, v);
                        /* the parser's only "report and go on": a header block on stream 0 */
                        bool report = (bad & r->parser_report) != 0;
                        REQ_MSG(report == ((type == GW_H2_HEADERS || type == GW_H2_PUSH_PROMISE) && sids[si] == 0),
                                "report type %u sid %u", type, sids[si]);
                        compared++;
                        sniff_ok += ok;
                        skipped += v == OLD_SKIP;
                        failed += v == OLD_FAIL;
                    }
                }
            }
        }
    }
    /* the sweep met every outcome */
    ck_assert_uint_gt(compared, 200000);
    ck_assert_uint_gt(sniff_ok, 100);
    ck_assert_uint_gt(skipped, 1000);
    ck_assert_uint_gt(failed, 100);
}
END_TEST

static Suite *h2frame_suite(void)
{
    Suite *s = suite_create("h2frame");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, test_unpack);
    tcase_add_test(tc, test_rules_rfc);
    tcase_add_test(tc, test_table_matches_old_rules);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(h2frame_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
