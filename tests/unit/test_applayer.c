/* test_applayer.c - the registry and the classifier with fake protocols:
 * table order breaks ties, NEED_MORE waits, the role found swaps the flow,
 * mid-stream evidence waits for a role, a switch classifies the inside
 * again, a protocol is not instantiated twice, holds are bounded. */
#include "grpcwatch/applayer.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the fake instances saw. */
static char seen[4096];
static size_t n_seen;
static int created, destroyed, closed;

static void note(const char *s)
{
    size_t k = strlen(s);
    ck_assert_uint_lt(n_seen + k, sizeof seen);
    memcpy(seen + n_seen, s, k + 1);
    n_seen += k;
}

struct inst {
    const char *name;
    const struct gw_app_env *env;
    struct gw_app_env env_copy;
};

/* "A.." at the start: alpha (YES from 3 bytes, NEED_MORE before). */
static int probe_alpha(struct gw_probe *pr)
{
    if (pr->mode != GW_PROBE_OPENING || pr->p[0] != 'A') return GW_PROBE_NO;
    pr->role = GW_DIR_TO_SERVER;
    return pr->n >= 3 ? GW_PROBE_YES : GW_PROBE_NEED_MORE;
}

/* "A" as well (a tie with alpha, which comes first), or "B". */
static int probe_beta(struct gw_probe *pr)
{
    if (pr->mode != GW_PROBE_OPENING || (pr->p[0] != 'A' && pr->p[0] != 'B')) return GW_PROBE_NO;
    pr->role = GW_DIR_TO_SERVER;
    return GW_PROBE_YES;
}

/* Mid-stream: an 'F' anywhere; the byte after it says who sent it ('c'
 * client, 's' server, else unknown). Counts its calls in its state. */
static int probe_frames(struct gw_probe *pr)
{
    if (pr->mode != GW_PROBE_MIDSTREAM) return GW_PROBE_NO;
    (*(int *)pr->state)++;
    const uint8_t *f = memchr(pr->p, 'F', pr->n);
    if (!f) return pr->n > 64 ? GW_PROBE_NO : GW_PROBE_NEED_MORE;
    if (f + 1 < pr->p + pr->n) pr->role = f[1] == 'c' ? 0 : f[1] == 's' ? 1 : GW_ROLE_UNKNOWN;
    return GW_PROBE_YES;
}

/* "GET": a protocol that switches on "UP" (to alpha) and "TUN" (classify again). */
static int probe_web(struct gw_probe *pr)
{
    if (pr->mode != GW_PROBE_OPENING || pr->n < 3 || memcmp(pr->p, "GET", 3) != 0)
        return pr->mode == GW_PROBE_OPENING && pr->n < 3 && memcmp(pr->p, "GET", pr->n) == 0
                   ? GW_PROBE_NEED_MORE : GW_PROBE_NO;
    pr->role = GW_DIR_TO_SERVER;
    return GW_PROBE_YES;
}

static void *mk(const struct gw_app_env *env, const char *name)
{
    struct inst *i = calloc(1, sizeof *i);
    i->name = name;
    i->env_copy = *env;
    i->env = &i->env_copy;
    created++;
    char b[64];
    snprintf(b, sizeof b, "[%s%s%s]", name, env->midstream ? " mid" : "", env->resumed ? " resumed" : "");
    note(b);
    return i;
}
static void *c_alpha(const struct gw_app_env *env) { return mk(env, "alpha"); }
static void *c_beta(const struct gw_app_env *env) { return mk(env, "beta"); }
static void *c_frames(const struct gw_app_env *env) { return mk(env, "frames"); }
static void *c_web(const struct gw_app_env *env) { return mk(env, "web"); }

static void feed(void *st, int dir, const uint8_t *p, size_t n, gw_time_us ts)
{
    struct inst *i = st;
    (void)ts;
    char b[300];
    snprintf(b, sizeof b, "%s%d:%.*s;", i->name, dir, (int)n, (const char *)p);
    note(b);
    if (strcmp(i->name, "web") == 0) {
        if (n >= 2 && memcmp(p, "UP", 2) == 0)
            gw_app_switch(i->env->app, dir, "alpha", p + 2, n - 2, ts);
        else if (n >= 3 && memcmp(p, "TUN", 3) == 0)
            gw_app_switch(i->env->app, dir, NULL, p + 3, n - 3, ts);
    }
    if (strcmp(i->name, "beta") == 0 && n && p[n - 1] == '!') gw_app_request(i->env->app, GW_STREAM_BYPASS);
}
static void gap(void *st, int dir, size_t len, gw_time_us ts) { (void)st, (void)dir, (void)len, (void)ts; note("gap;"); }
static void close_(void *st, int reason, gw_time_us ts) { (void)st, (void)reason, (void)ts; closed++; }
static int losses;
static void loss(const void *st, struct gw_record_loss *l)
{
    const struct inst *i = st;
    (void)l;
    ck_assert_ptr_nonnull(i->name); /* reads the instance: ASan says if it is freed */
    losses++;
}
/* Like a parser writing its open calls at the end: asks for the loss of
 * every level of the flow. */
static void destroy(void *st, int reason, gw_time_us ts)
{
    struct inst *i = st;
    struct gw_record_loss l;
    (void)reason, (void)ts;
    gw_app_loss(i->env->app, &l);
    destroyed++;
    free(st);
}

/* beta is idle (parkable) after a message ending in '.' */
static bool parkable(const void *st)
{
    const struct inst *i = st;
    return strcmp(i->name, "beta") == 0 && n_seen && seen[n_seen - 2] == '.';
}

#define PROTO(n, pr, cr) { .name = n, .probe = pr, .create = cr, .feed = feed, .gap = gap, .close = close_, .loss = loss, .destroy = destroy, .parkable = parkable }
static const struct gw_app_proto alpha = PROTO("alpha", probe_alpha, c_alpha);
static const struct gw_app_proto beta = PROTO("beta", probe_beta, c_beta);
static const struct gw_app_proto frames = PROTO("frames", probe_frames, c_frames);
static const struct gw_app_proto web = PROTO("web", probe_web, c_web);
static const struct gw_app_proto *const table[] = { &alpha, &beta, &frames, &web };

struct rig {
    struct gw_router *router;
    struct gw_emit *emit;
    struct gw_applayer *al;
    struct gw_flow flow;
    struct gw_app *app;
};

static void rig_init(struct rig *r, bool start_seen)
{
    struct gw_config cfg;
    char err[128];
    gw_config_defaults(&cfg);
    memset(r, 0, sizeof *r);
    n_seen = 0;
    seen[0] = '\0';
    created = destroyed = closed = 0;
    r->router = gw_router_create();
    ck_assert_int_eq(gw_router_add(r->router, "json:/dev/null", NULL, err, sizeof err), GW_OK);
    r->emit = gw_emit_create(&cfg, r->router);
    r->al = gw_applayer_create(table, GW_ARRAY_LEN(table), &cfg, r->emit, NULL);
    ck_assert_ptr_nonnull(r->al);
    r->flow.saw_syn = start_seen;
    r->flow.pkts[0] = r->flow.pkts[1] = 1;
    r->app = gw_app_create(r->al, &r->flow);
    ck_assert_ptr_nonnull(r->app);
}

static void rig_free(struct rig *r)
{
    gw_app_destroy(r->app, GW_END_EOF, 0);
    ck_assert_int_eq(created, destroyed);
    gw_applayer_destroy(r->al);
    gw_emit_destroy(r->emit);
    gw_router_destroy(r->router);
}

static unsigned data(struct rig *r, int dir, const char *s)
{
    return gw_app_data(r->app, dir, (const uint8_t *)s, strlen(s), 1);
}

START_TEST(table_order_breaks_ties)
{
    struct rig r;
    rig_init(&r, true);
    data(&r, 0, "Axx");
    ck_assert_str_eq(seen, "[alpha]alpha0:Axx;");
    ck_assert_str_eq(gw_app_protocol(r.app), "alpha");
    rig_free(&r);
}
END_TEST

START_TEST(need_more_waits_and_replays_client_first)
{
    struct rig r;
    rig_init(&r, true);
    data(&r, 1, "srv");           /* the server speaks first: held */
    data(&r, 0, "A");             /* alpha: NEED_MORE */
    ck_assert_str_eq(seen, "");
    ck_assert_str_eq(gw_app_protocol(r.app), "undecided");
    data(&r, 0, "bc");
    ck_assert_str_eq(seen, "[alpha]alpha0:Abc;alpha1:srv;");
    data(&r, 1, "more");
    ck_assert_str_eq(seen, "[alpha]alpha0:Abc;alpha1:srv;alpha1:more;");
    rig_free(&r);
}
END_TEST

START_TEST(start_seen_client_decides)
{
    struct rig r;
    rig_init(&r, true);
    /* with the start seen, a server's "B" says nothing about the client */
    data(&r, 1, "Bxx");
    ck_assert_str_eq(seen, "");
    ck_assert(!gw_app_finished(r.app)); /* undecided */
    unsigned acts = data(&r, 0, "zzz"); /* nobody claims the client's bytes */
    ck_assert(acts & GW_STREAM_BYPASS);
    ck_assert_str_eq(gw_app_protocol(r.app), "none");
    ck_assert(gw_app_finished(r.app)); /* the sensor may free it now */
    ck_assert_uint_eq(gw_applayer_counters(r.al)->other, 1);
    rig_free(&r);
}
END_TEST

START_TEST(opening_from_the_server_side_swaps)
{
    struct rig r;
    rig_init(&r, false);
    data(&r, 0, "zz");
    unsigned acts = data(&r, 1, "Bhello");
    ck_assert(acts & GW_STREAM_SWAP);
    ck_assert(!gw_app_finished(r.app)); /* decided: a protocol lives */
    /* replayed in the new roles: the B sender is now the client (dir 0) */
    ck_assert_str_eq(seen, "[beta]beta0:Bhello;beta1:zz;");
    rig_free(&r);
}
END_TEST

START_TEST(midstream_waits_for_a_role)
{
    struct rig r;
    rig_init(&r, false);
    data(&r, 0, "xxFx");          /* frames, role unknown: wait */
    ck_assert_str_eq(seen, "");
    unsigned acts = data(&r, 1, "yyFc"); /* the other side's bytes are the client's */
    ck_assert(acts & GW_STREAM_SWAP);
    ck_assert_str_eq(seen, "[frames mid]frames0:yyFc;frames1:xxFx;");
    ck_assert_uint_eq(gw_applayer_counters(r.al)->other, 0);
    rig_free(&r);
}
END_TEST

START_TEST(midstream_without_evidence_gives_up)
{
    struct rig r;
    rig_init(&r, false);
    char junk[80];
    memset(junk, 'z', sizeof junk - 1);
    junk[sizeof junk - 1] = '\0';
    /* every byte held so far ruled out, nothing else alive: no need to wait */
    unsigned acts = data(&r, 0, junk);
    ck_assert(acts & GW_STREAM_BYPASS);
    ck_assert(!(data(&r, 1, junk) & GW_STREAM_BYPASS)); /* dead already: asked once */
    ck_assert_str_eq(gw_app_protocol(r.app), "none");
    rig_free(&r);
}
END_TEST


/* An idle instance goes with its app; the next bytes resume the protocol
 * without classifying again, as a resumed instance, counted once. */
START_TEST(park_and_resume)
{
    struct rig r;
    rig_init(&r, true);
    data(&r, 0, "Bone");
    ck_assert(!gw_app_parkable(r.app));   /* mid-message */
    data(&r, 0, "two.");
    ck_assert(gw_app_parkable(r.app));
    uint8_t token = gw_app_park(r.app, 2);
    ck_assert_uint_eq(token, 2);           /* beta: the table's second entry */
    ck_assert_int_eq(destroyed, 1);
    r.app = gw_app_resume(r.al, &r.flow, token);
    ck_assert_ptr_nonnull(r.app);
    data(&r, 0, "zzz");                    /* not a 'B': no probe ran, beta reads it */
    ck_assert_str_eq(seen, "[beta]beta0:Bone;beta0:two.;[beta resumed]beta0:zzz;");
    ck_assert_str_eq(gw_app_protocol(r.app), "beta");
    ck_assert_uint_eq(gw_applayer_counters(r.al)->parked, 1);
    ck_assert_uint_eq(gw_applayer_counters(r.al)->resumed, 1);
    rig_free(&r);
}
END_TEST

START_TEST(switch_to_a_named_protocol)
{
    struct rig r;
    rig_init(&r, true);
    data(&r, 0, "GET /");
    data(&r, 0, "UPAbc");         /* web switches dir 0 to alpha, "Abc" held past the switch */
    data(&r, 0, "next");
    data(&r, 1, "resp");          /* dir 1 has not switched: still web */
    ck_assert_str_eq(seen, "[web]web0:GET /;web0:UPAbc;[alpha]alpha0:Abc;alpha0:next;web1:resp;");
    ck_assert_uint_eq(gw_applayer_counters(r.al)->http1_switches, 1);
    rig_free(&r);
}
END_TEST

START_TEST(tunnel_is_classified_again)
{
    struct rig r;
    rig_init(&r, true);
    data(&r, 0, "GET /");
    data(&r, 0, "TUNB1");         /* inside: "B1" -> beta */
    ck_assert_str_eq(seen, "[web]web0:GET /;web0:TUNB1;[beta]beta0:B1;");
    ck_assert_uint_eq(gw_applayer_counters(r.al)->http1_tunnels, 1);
    /* the protocol asks for a bypass: returned to the stream layer */
    ck_assert(data(&r, 0, "bye!") & GW_STREAM_BYPASS);
    rig_free(&r);
}
END_TEST

START_TEST(not_instantiated_twice)
{
    struct rig r;
    rig_init(&r, true);
    data(&r, 0, "GET /");
    unsigned acts = data(&r, 0, "TUNGET /"); /* web inside web: not followed */
    ck_assert(acts & GW_STREAM_BYPASS);
    ck_assert_int_eq(created, 1);
    rig_free(&r);
}
END_TEST

START_TEST(gap_before_the_decision)
{
    struct rig r;
    rig_init(&r, true);
    data(&r, 0, "A");
    unsigned acts = gw_app_gap(r.app, 0, 10, 1); /* the opening bytes are lost */
    ck_assert(acts & GW_STREAM_BYPASS);
    ck_assert_int_eq(created, 0);
    rig_free(&r);
}
END_TEST

START_TEST(hold_is_bounded)
{
    struct rig r;
    rig_init(&r, true);
    static char big[GW_APP_HOLD_MAX + 2];
    memset(big, 'G', sizeof big - 1); /* "GGG...": web NO, frames not asked: start seen */
    data(&r, 1, "x");                 /* the server's bytes are held */
    big[0] = 'G', big[1] = 'E';       /* "GE": web says NEED_MORE on the first 2 bytes only */
    unsigned acts = gw_app_data(r.app, 1, (const uint8_t *)big, sizeof big - 1, 1);
    ck_assert(acts & GW_STREAM_BYPASS);
    ck_assert_uint_eq(gw_applayer_counters(r.al)->hold_overflows, 1);
    rig_free(&r);
}
END_TEST

START_TEST(close_reaches_every_level)
{
    struct rig r;
    rig_init(&r, true);
    data(&r, 0, "GET /");
    data(&r, 0, "UPAbc");
    gw_app_close(r.app, GW_END_CONN_CLOSED, 2);
    ck_assert_int_eq(closed, 2);
    rig_free(&r);
    ck_assert_int_eq(destroyed, 2);
}
END_TEST

START_TEST(destroy_writes_while_every_level_lives)
{
    struct rig r;
    rig_init(&r, true);
    data(&r, 0, "GET /");
    data(&r, 0, "UPAbc");
    losses = 0;
    gw_app_destroy(r.app, GW_END_EOF, 2);
    r.app = gw_app_create(r.al, &r.flow); /* for rig_free */
    ck_assert_int_eq(closed, 2);          /* both levels closed before either is freed */
    /* each destroy asked both levels; the second found the first gone, so
     * it asked only itself */
    ck_assert_int_eq(losses, 3);
    rig_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("applayer");
    TCase *tc = tcase_create("applayer");
    tcase_add_test(tc, table_order_breaks_ties);
    tcase_add_test(tc, need_more_waits_and_replays_client_first);
    tcase_add_test(tc, start_seen_client_decides);
    tcase_add_test(tc, park_and_resume);
    tcase_add_test(tc, opening_from_the_server_side_swaps);
    tcase_add_test(tc, midstream_waits_for_a_role);
    tcase_add_test(tc, midstream_without_evidence_gives_up);
    tcase_add_test(tc, switch_to_a_named_protocol);
    tcase_add_test(tc, tunnel_is_classified_again);
    tcase_add_test(tc, not_instantiated_twice);
    tcase_add_test(tc, gap_before_the_decision);
    tcase_add_test(tc, hold_is_bounded);
    tcase_add_test(tc, close_reaches_every_level);
    tcase_add_test(tc, destroy_writes_while_every_level_lives);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
