/*
 * fuzz_tls.c - the TLS ClientHello and ServerHello parsers.
 *
 * Input: the first bytes of one direction of a TCP stream, as is. Both
 * parsers read every prefix of the input (sampled once the answer is
 * decided, see check_prefixes) and the whole of it. tls.h promises that
 * parsing is stateless and that GW_ERR_NEED_MORE means "more bytes may
 * complete it"; the sensor relies on that when it re-parses its growing
 * hold buffer and stops at the first other answer. So, for each parser:
 *  - once a prefix gets an answer other than NEED_MORE, every longer
 *    prefix gets the same answer and, for GW_OK, the same fields;
 *  - a ClientHello the parser accepts is one the classifier
 *    (gw_tls_looks_like_client_hello) accepts at every prefix, otherwise
 *    the sensor would never hand it to the parser;
 *  - strings in gw_tls_info are NUL-terminated within their arrays, and
 *    the tls record built from an accepted hello is one valid JSON line.
 */
#include "fuzz_common.h"

#include "grpcwatch/record.h"
#include "grpcwatch/tls.h"

typedef int (*parse_fn)(const uint8_t *p, size_t n, struct gw_tls_info *out);

static bool terminated(const char *s, size_t cap) { return memchr(s, '\0', cap) != NULL; }

static void check_strings(const struct gw_tls_info *t)
{
    FZ_CHECK(terminated(t->sni, sizeof t->sni), "sni");
    FZ_CHECK(terminated(t->ja4, sizeof t->ja4), "ja4");
    FZ_CHECK(terminated(t->alpn_selected, sizeof t->alpn_selected), "alpn_selected");
    FZ_CHECK(t->n_alpn <= GW_TLS_MAX_ALPN, "n_alpn %u", t->n_alpn);
    for (unsigned i = 0; i < t->n_alpn; i++) FZ_CHECK(terminated(t->alpn[i], GW_TLS_ALPN_MAX), "alpn");
    FZ_CHECK(t->n_offered_versions <= GW_ARRAY_LEN(t->offered_versions), "n_offered_versions");
}

/* Field-wise: the struct has padding, and each parser writes only its half. */
static bool same_info(const struct gw_tls_info *a, const struct gw_tls_info *b)
{
    return a->have_client_hello == b->have_client_hello && strcmp(a->sni, b->sni) == 0 &&
           a->sni_truncated == b->sni_truncated && a->n_alpn == b->n_alpn &&
           memcmp(a->alpn, b->alpn, sizeof a->alpn) == 0 && a->client_version == b->client_version &&
           memcmp(a->offered_versions, b->offered_versions, sizeof a->offered_versions) == 0 &&
           a->n_offered_versions == b->n_offered_versions && strcmp(a->ja4, b->ja4) == 0 &&
           a->have_server_hello == b->have_server_hello && a->version == b->version &&
           strcmp(a->alpn_selected, b->alpn_selected) == 0 && a->cipher == b->cipher;
}

/* After the first decided answer a parser reads nothing new (the hello is
 * complete or refused), and a decided parse costs a JA4 hash, so past that
 * point the prefixes are sampled: the next DENSE_AFTER one by one, then at
 * doubling distances, and the whole input. Before it, every prefix. */
#define DENSE_AFTER 64

static size_t next_prefix(size_t k, size_t decided_at, bool decided, size_t n)
{
    if (!decided || k < decided_at + DENSE_AFTER) return k + 1;
    size_t step = k - decided_at;
    return step > n - k ? n : k + step;
}

/* Parses the prefixes and the whole input; returns the answer for the whole. */
static int check_prefixes(parse_fn parse, const char *what, const uint8_t *p, size_t n,
                          struct gw_tls_info *final)
{
    int decided = GW_ERR_NEED_MORE;
    size_t decided_at = 0;
    struct gw_tls_info first;
    memset(&first, 0, sizeof first);
    for (size_t k = 0; k <= n; k = next_prefix(k, decided_at, decided != GW_ERR_NEED_MORE, n)) {
        struct gw_tls_info t;
        memset(&t, 0, sizeof t);
        int rc = parse(p, k, &t);
        check_strings(&t);
        FZ_CHECK(rc == GW_OK || rc == GW_ERR_NEED_MORE || rc == GW_ERR_MALFORMED ||
                     rc == GW_ERR_UNSUPPORTED || rc == GW_ERR_LIMIT,
                 "%s: prefix %zu: unexpected rc %d", what, k, rc);
        if (decided == GW_ERR_NEED_MORE) {
            decided = rc;
            decided_at = k;
            first = t;
        } else {
            FZ_CHECK(rc == decided, "%s: prefix %zu answered %d but prefix %zu answered %d", what,
                     decided_at, decided, k, rc);
            FZ_CHECK(rc != GW_OK || same_info(&t, &first),
                     "%s: prefix %zu and prefix %zu give different fields", what, decided_at, k);
        }
        if (k == n) {
            *final = t;
            break;
        }
    }
    return decided;
}

static void check_record(const struct gw_tls_info *t)
{
    static char buf[16384];
    struct gw_json j;
    struct gw_addr a = { .family = 4, .bytes = { 10, 0, 0, 1 } };
    struct gw_addr b = { .family = 4, .bytes = { 10, 0, 0, 2 } };
    struct gw_record_head h = {
        .ts = 1700000000000000LL, .event_type = "tls", .flow_id = 1,
        .community_id = "1:xxxxxxxxxxxxxxxxxxxxxxxxxxxx=", .src = &a, .dst = &b,
        .sport = 40000, .dport = 443, .app_proto = "tls",
    };
    gw_json_init(&j, buf, sizeof buf);
    gw_record_begin(&j, &h);
    gw_record_tls_object(&j, t);
    gw_json_object_end(&j);
    FZ_CHECK(gw_json_finish(&j), "tls record overflowed %zu bytes", sizeof buf);
    FZ_CHECK(fz_json_line_valid(j.buf, j.len), "invalid JSON: %.*s", (int)j.len, j.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_tls_info client, server;
    int rc_client = check_prefixes(gw_tls_parse_client_hello, "client", data, size, &client);
    int rc_server = check_prefixes(gw_tls_parse_server_hello, "server", data, size, &server);

    if (rc_client == GW_OK) {
        FZ_CHECK(client.have_client_hello, "client hello OK without have_client_hello");
        for (size_t k = 1; k <= size; k++)
            FZ_CHECK(gw_tls_looks_like_client_hello(data, k),
                     "parser accepts a ClientHello the classifier rejects at prefix %zu", k);
    }
    if (rc_client == GW_OK || rc_server == GW_OK) {
        struct gw_tls_info both = client;
        both.have_server_hello = server.have_server_hello;
        both.version = server.version;
        memcpy(both.alpn_selected, server.alpn_selected, sizeof both.alpn_selected);
        both.cipher = server.cipher;
        check_record(&both);
    }
    return 0;
}
