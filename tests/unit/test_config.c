/*
 * test_config.c - defaults, the YAML shape of config.h, every error class
 * with its position, sizes, ranges, credential keys, file handling, and
 * that conf/grpcwatch.yaml (run from the repo root) is exactly the
 * defaults.
 *
 * Positions are 1-based line:column of the offending node, counted by hand
 * from the test input.
 */
#include "grpcwatch/config.h"
#include "grpcwatch/decode.h"
#include "grpcwatch/defrag.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int load(const char *yaml, struct gw_config *cfg, char *err, size_t errlen)
{
    return gw_config_load_buffer("t.yaml", yaml, strlen(yaml), cfg, err, errlen);
}

/* Loads yaml, expects success, returns the result. */
static struct gw_config load_ok(const char *yaml)
{
    struct gw_config cfg;
    char err[512];
    int rc = load(yaml, &cfg, err, sizeof err);
    ck_assert_msg(rc == GW_OK, "rc %d: %s\n--- input:\n%s", rc, err, yaml);
    return cfg;
}

/* Loads yaml, expects a failure with exactly this message, and checks the
 * caller's struct was left alone. */
static void load_fails(const char *yaml, const char *want)
{
    struct gw_config cfg, before;
    char err[512];
    memset(&cfg, 0xab, sizeof cfg);
    before = cfg;
    int rc = load(yaml, &cfg, err, sizeof err);
    ck_assert_msg(rc < 0, "accepted:\n%s", yaml);
    ck_assert_msg(strcmp(err, want) == 0, "got  '%s'\nwant '%s'", err, want);
    ck_assert(memcmp(&cfg, &before, sizeof cfg) == 0);
}

static void temp_file(char *path, size_t len, const char *content, size_t n)
{
    snprintf(path, len, "/tmp/gw_test_config_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, n), (ssize_t)n);
    close(fd);
}

START_TEST(defaults)
{
    struct gw_config c;
    memset(&c, 0xff, sizeof c);
    gw_config_defaults(&c);
    ck_assert_uint_eq(c.flow_max, 65536);
    ck_assert_uint_eq(c.flow_timeout_new, 30);
    ck_assert_uint_eq(c.flow_timeout_established, 600);
    ck_assert_uint_eq(c.flow_timeout_closed, 10);
    ck_assert_uint_eq(c.reasm_ooo_max_bytes, 262144);
    ck_assert_uint_eq(c.reasm_ooo_max_segments, 256);
    ck_assert_uint_eq(c.reasm_memcap, 256ull * 1024 * 1024);
    ck_assert_uint_eq(c.h2_max_streams, 512);
    ck_assert_uint_eq(c.h2_max_header_table, 65536);
    ck_assert_uint_eq(c.h2_max_header_list, 262144);
    /* the decoder's own defaults, so an empty file changes nothing */
    ck_assert_uint_eq(c.frag_max_datagrams, GW_DECODE_DEFAULT_FRAG_DATAGRAMS);
    ck_assert_uint_eq(c.frag_max_bytes, GW_DECODE_DEFAULT_FRAG_BYTES);
    ck_assert_uint_eq(c.frag_timeout, GW_DECODE_DEFAULT_FRAG_TIMEOUT_S);
    ck_assert_uint_eq(c.n_cred_keys, 0);
    ck_assert_uint_eq(c.stats_interval, 60);
}
END_TEST

START_TEST(empty_and_comment_only)
{
    struct gw_config def;
    gw_config_defaults(&def);
    static const char *const inputs[] = {
        "", "\n\n", "# only a comment\n", "# a\n   # b\n", "---\n", "---\n...\n", "~\n",
        "flow:\n", "flow:\n  # max-flows: 5\npolicy:\n  credential-keys:\n", "{}\n",
        "flow: {}\noutput: {}\n",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        struct gw_config c = load_ok(inputs[i]);
        ck_assert_msg(memcmp(&c, &def, sizeof c) == 0, "input %zu differs from defaults", i);
    }
    /* a NULL buffer of length 0 is an empty file */
    struct gw_config c;
    char err[128];
    ck_assert_int_eq(gw_config_load_buffer("x", NULL, 0, &c, err, sizeof err), GW_OK);
    ck_assert(memcmp(&c, &def, sizeof c) == 0);
}
END_TEST

START_TEST(full_valid_file)
{
    struct gw_config c = load_ok("# every key\n"
                                 "flow:\n"
                                 "  max-flows: 1000\n"
                                 "  timeout-new: 5\n"
                                 "  timeout-established: 86400\n"
                                 "  timeout-closed: 1\n"
                                 "reassembly:\n"
                                 "  ooo-max-bytes: 1m\n"
                                 "  ooo-max-segments: 65535\n"
                                 "  memcap: 2g\n"
                                 "http2:\n"
                                 "  max-streams: 65536\n"
                                 "  max-header-table: 0\n"
                                 "  max-header-list: 64m\n"
                                 "policy:\n"
                                 "  credential-keys:\n"
                                 "    - X-Session\n"
                                 "    - \"x-tenant-auth\"\n"
                                 "output:\n"
                                 "  stats-interval: 0\n");
    ck_assert_uint_eq(c.flow_max, 1000);
    ck_assert_uint_eq(c.flow_timeout_new, 5);
    ck_assert_uint_eq(c.flow_timeout_established, 86400);
    ck_assert_uint_eq(c.flow_timeout_closed, 1);
    ck_assert_uint_eq(c.reasm_ooo_max_bytes, 1024 * 1024);
    ck_assert_uint_eq(c.reasm_ooo_max_segments, 65535);
    ck_assert_uint_eq(c.reasm_memcap, 2ull * 1024 * 1024 * 1024);
    ck_assert_uint_eq(c.h2_max_streams, 65536);
    ck_assert_uint_eq(c.h2_max_header_table, 0);
    ck_assert_uint_eq(c.h2_max_header_list, 64u * 1024 * 1024);
    ck_assert_uint_eq(c.n_cred_keys, 2);
    ck_assert_str_eq(c.cred_keys[0], "x-session");
    ck_assert_str_eq(c.cred_keys[1], "x-tenant-auth");
    ck_assert_uint_eq(c.stats_interval, 0);

    /* flow style works the same; untouched keys keep their defaults */
    c = load_ok("flow: {max-flows: 7}\npolicy: {credential-keys: [A, b]}\n");
    ck_assert_uint_eq(c.flow_max, 7);
    ck_assert_uint_eq(c.flow_timeout_new, 30);
    ck_assert_uint_eq(c.n_cred_keys, 2);
    ck_assert_str_eq(c.cred_keys[0], "a");
    ck_assert_str_eq(c.cred_keys[1], "b");
}
END_TEST

/* Loading starts from the defaults, not from what the struct held. */
START_TEST(load_over_defaults)
{
    struct gw_config c;
    char err[128];
    memset(&c, 0x11, sizeof c);
    ck_assert_int_eq(load("http2: {max-streams: 9}\n", &c, err, sizeof err), GW_OK);
    ck_assert_uint_eq(c.h2_max_streams, 9);
    ck_assert_uint_eq(c.flow_max, 65536);
    ck_assert_uint_eq(c.n_cred_keys, 0);
}
END_TEST

START_TEST(size_suffixes)
{
    static const struct {
        const char *text;
        uint64_t value;
    } ok[] = {
        { "65536", 65536 },     { "64k", 65536 },       { "64K", 65536 },
        { "1m", 1048576 },      { "1M", 1048576 },      { "3g", 3221225472ull },
        { "3G", 3221225472ull }, { "0064k", 65536 },    { "1048576k", 1073741824ull },
    };
    char yaml[128];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(yaml, sizeof yaml, "reassembly:\n  memcap: %s\n", ok[i].text);
        struct gw_config c = load_ok(yaml);
        ck_assert_uint_eq(c.reasm_memcap, ok[i].value);
    }
    struct gw_config c = load_ok("http2:\n  max-header-table: 16m\n  max-header-list: 1k\n");
    ck_assert_uint_eq(c.h2_max_header_table, 16u * 1024 * 1024);
    ck_assert_uint_eq(c.h2_max_header_list, 1024);
    c = load_ok("reassembly: {ooo-max-bytes: 16m}\n");
    ck_assert_uint_eq(c.reasm_ooo_max_bytes, 16u * 1024 * 1024);

    static const char *const bad[] = { "k", "1kb", "1t", "-1", "+1", "0x10", "1.5m", "1 k", "1e6" };
    char want[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(yaml, sizeof yaml, "reassembly:\n  memcap: %s\n", bad[i]);
        snprintf(want, sizeof want,
                 "t.yaml:2:11: reassembly.memcap: expected a size (integer, optional k/m/g suffix), "
                 "got '%s'",
                 bad[i]);
        load_fails(yaml, want);
    }
    /* no suffix where a count belongs */
    load_fails("flow:\n  max-flows: 64k\n", "t.yaml:2:14: flow.max-flows: expected an integer, got '64k'");
    load_fails("reassembly:\n  ooo-max-segments: 1k\n",
               "t.yaml:2:21: reassembly.ooo-max-segments: expected an integer, got '1k'");
}
END_TEST

START_TEST(ranges)
{
    static const struct {
        const char *section, *key, *bad, *good, *range;
    } cases[] = {
        { "flow", "max-flows", "0", "1", "1..16777216" },
        { "flow", "max-flows", "16777217", "16777216", "1..16777216" },
        { "flow", "timeout-new", "0", "86400", "1..86400" },
        { "flow", "timeout-established", "86401", "1", "1..86400" },
        { "flow", "timeout-closed", "0", "1", "1..86400" },
        { "reassembly", "ooo-max-bytes", "0", "1", "1..16777216" },
        { "reassembly", "ooo-max-bytes", "16385k", "16384k", "1..16777216" },
        { "reassembly", "ooo-max-segments", "0", "1", "1..65535" },
        { "reassembly", "ooo-max-segments", "65536", "65535", "1..65535" },
        { "http2", "max-streams", "0", "1", "1..65536" },
        { "http2", "max-streams", "65537", "65536", "1..65536" },
        { "http2", "max-header-table", "16777217", "16777216", "0..16777216" },
        { "http2", "max-header-list", "1023", "1024", "1024..67108864" },
        { "http2", "max-header-list", "65537k", "65536k", "1024..67108864" },
        { "defrag", "max-datagrams", "0", "1", "1..65536" },
        { "defrag", "max-datagrams", "65537", "65536", "1..65536" },
        { "defrag", "max-bytes", "1025m", "1g", "65536..1073741824" },
        { "defrag", "timeout", "3601", "3600", "1..3600" },
        { "output", "stats-interval", "86401", "0", "0..86400" },
    };
    char yaml[256], want[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(yaml, sizeof yaml, "%s:\n  %s: %s\n", cases[i].section, cases[i].key, cases[i].good);
        load_ok(yaml);
        snprintf(yaml, sizeof yaml, "%s:\n  %s: %s\n", cases[i].section, cases[i].key, cases[i].bad);
        /* the value starts after "  key: " on line 2 */
        snprintf(want, sizeof want, "t.yaml:2:%zu: %s.%s: '%s' out of range (%s)",
                 strlen(cases[i].key) + 5, cases[i].section, cases[i].key, cases[i].bad, cases[i].range);
        load_fails(yaml, want);
    }
    load_fails("reassembly:\n  memcap: 65535\n",
               "t.yaml:2:11: reassembly.memcap: '65535' out of range (minimum 65536)");
    load_fails("reassembly:\n  memcap: 63k\n",
               "t.yaml:2:11: reassembly.memcap: '63k' out of range (minimum 65536)");
    load_ok("reassembly:\n  memcap: 64k\n");
    /* beyond 64 bits, before and after the suffix */
    load_fails("reassembly:\n  memcap: 18446744073709551616\n",
               "t.yaml:2:11: reassembly.memcap: '18446744073709551616' out of range (minimum 65536)");
    load_fails("reassembly:\n  memcap: 18446744073709551615g\n",
               "t.yaml:2:11: reassembly.memcap: '18446744073709551615g' out of range (minimum 65536)");
    load_fails("flow:\n  max-flows: 99999999999999999999999999\n",
               "t.yaml:2:14: flow.max-flows: '99999999999999999999999999' out of range (1..16777216)");
    struct gw_config c = load_ok("reassembly:\n  memcap: 18446744073709551615\n");
    ck_assert_uint_eq(c.reasm_memcap, UINT64_MAX);
}
END_TEST

START_TEST(unknown_keys_and_sections)
{
    load_fails("flow:\n  max-flow: 5\n", "t.yaml:2:3: unknown key 'max-flow' in section 'flow'");
    load_fails("flow:\n  max-flows: 5\n  timeout_new: 1\n",
               "t.yaml:3:3: unknown key 'timeout_new' in section 'flow'");
    /* a key of another section */
    load_fails("http2:\n  memcap: 1m\n", "t.yaml:2:3: unknown key 'memcap' in section 'http2'");
    load_fails("output:\n    stats-interval: 1\n    format: json\n",
               "t.yaml:3:5: unknown key 'format' in section 'output'");
    load_fails("flows:\n  max-flows: 5\n",
               "t.yaml:1:1: unknown section 'flows' (expected flow, reassembly, http2, defrag, policy, output or outputs)");
    load_fails("flow:\n  max-flows: 5\n\nlogging: {}\n",
               "t.yaml:4:1: unknown section 'logging' (expected flow, reassembly, http2, defrag, policy, output or outputs)");
    /* hostile key text is cleaned and cut in the message */
    load_fails("flow:\n  \"a\\x01b\": 1\n", "t.yaml:2:3: unknown key 'a?b' in section 'flow'");
    char yaml[512], want[512];
    char longkey[201];
    memset(longkey, 'k', 200);
    longkey[200] = '\0';
    snprintf(yaml, sizeof yaml, "flow:\n  %s: 1\n", longkey);
    snprintf(want, sizeof want, "t.yaml:2:3: unknown key '%.*s...' in section 'flow'", 68, longkey);
    load_fails(yaml, want);
    /* duplicates */
    load_fails("flow:\n  max-flows: 5\n  max-flows: 6\n",
               "t.yaml:3:3: duplicate key 'max-flows' in section 'flow'");
    load_fails("flow: {}\nflow: {}\n", "t.yaml:2:1: duplicate section 'flow'");
}
END_TEST

START_TEST(wrong_types)
{
    load_fails("flow:\n  max-flows:\n    a: 1\n",
               "t.yaml:3:5: flow.max-flows: expected an integer, got a mapping");
    load_fails("flow:\n  max-flows: [1]\n", "t.yaml:2:14: flow.max-flows: expected an integer, got a sequence");
    load_fails("flow:\n  timeout-new: abc\n", "t.yaml:2:16: flow.timeout-new: expected an integer, got 'abc'");
    load_fails("flow:\n  timeout-new: \"30\"\n",
               "t.yaml:2:16: flow.timeout-new: expected an integer, got a quoted string");
    load_fails("flow:\n  timeout-new: ~\n", "t.yaml:2:16: flow.timeout-new: expected an integer, got nothing");
    load_fails("flow:\n  timeout-new: -5\n", "t.yaml:2:16: flow.timeout-new: expected an integer, got '-5'");
    load_fails("flow:\n  timeout-new: 1.5\n", "t.yaml:2:16: flow.timeout-new: expected an integer, got '1.5'");
    load_fails("reassembly:\n  memcap: {a: 1}\n",
               "t.yaml:2:11: reassembly.memcap: expected a size (integer, optional k/m/g suffix), got a mapping");
    load_fails("flow: 5\n", "t.yaml:1:7: section 'flow' must be a mapping, got a scalar");
    load_fails("flow:\n  - 5\n", "t.yaml:2:3: section 'flow' must be a mapping, got a sequence");
    load_fails("- flow\n", "t.yaml:1:1: expected a mapping of sections at the top level, got a sequence");
    load_fails("hello\n", "t.yaml:1:1: expected a mapping of sections at the top level, got a scalar");
    load_fails("? [a]\n: 1\n", "t.yaml:1:3: expected a section name, got a sequence");
    load_fails("flow:\n  ? {a: 1}\n  : 1\n", "t.yaml:2:5: expected a key in section 'flow', got a mapping");
}
END_TEST

START_TEST(syntax_errors)
{
    /* libyaml's own problem text, at the position of the problem */
    load_fails("a: b: c\n", "t.yaml:1:5: mapping values are not allowed in this context");
    load_fails("flow:\n\tmax-flows: 1\n",
               "t.yaml:2:1: found character that cannot start any token (while scanning for the next token)");
    load_fails("flow: [1, 2\n", "t.yaml:2:1: did not find expected ',' or ']' (while parsing a flow sequence)");
    load_fails("flow:\n  max-flows: 5\n timeout-new: 3\n",
               "t.yaml:3:2: did not find expected key (while parsing a block mapping)");
    load_fails("flow: *nope\n", "t.yaml:1:7: found undefined alias");
    /* a reader error carries an offset only; byte 8 is line 2 column 3 */
    load_fails("flow:\n  \xff\n", "t.yaml:2:3: invalid leading UTF-8 octet");
    load_fails("flow: {}\n---\nhttp2: {}\n", "t.yaml:3:1: more than one YAML document");
}
END_TEST

START_TEST(credential_keys)
{
    struct gw_config c = load_ok("policy:\n  credential-keys: [X-Session-Token, AUTH, x_y.z, \"Q\"]\n");
    ck_assert_uint_eq(c.n_cred_keys, 4);
    ck_assert_str_eq(c.cred_keys[0], "x-session-token");
    ck_assert_str_eq(c.cred_keys[1], "auth");
    ck_assert_str_eq(c.cred_keys[2], "x_y.z");
    ck_assert_str_eq(c.cred_keys[3], "q");

    /* 63 characters fit, 64 do not */
    char name[70], yaml[512], want[512];
    memset(name, 'A', 63);
    name[63] = '\0';
    snprintf(yaml, sizeof yaml, "policy:\n  credential-keys: [%s]\n", name);
    c = load_ok(yaml);
    ck_assert_uint_eq(strlen(c.cred_keys[0]), 63);
    ck_assert_int_eq(c.cred_keys[0][0], 'a');
    strcat(name, "A");
    snprintf(yaml, sizeof yaml, "policy:\n  credential-keys: [%s]\n", name);
    snprintf(want, sizeof want, "t.yaml:2:21: policy.credential-keys: '%.*s...' must be 1..63 characters long",
             44, name);
    load_fails(yaml, want);

    load_fails("policy:\n  credential-keys: [\"\"]\n",
               "t.yaml:2:21: policy.credential-keys: '' must be 1..63 characters long");
    load_fails("policy:\n  credential-keys: [\"a b\"]\n",
               "t.yaml:2:21: policy.credential-keys: 'a b' is not a valid header name");
    load_fails("policy:\n  credential-keys: [\"a:b\"]\n",
               "t.yaml:2:21: policy.credential-keys: 'a:b' is not a valid header name");
    load_fails("policy:\n  credential-keys:\n    - ok\n    - [x]\n",
               "t.yaml:4:7: policy.credential-keys: expected a name, got a sequence");
    load_fails("policy:\n  credential-keys: token\n",
               "t.yaml:2:20: policy.credential-keys: expected a sequence of names, got a scalar");

    /* 32 names fit; the 33rd is refused at its own position */
    size_t o = (size_t)snprintf(yaml, sizeof yaml, "policy:\n  credential-keys:\n");
    for (int i = 0; i < 32; i++) o += (size_t)snprintf(yaml + o, sizeof yaml - o, "  - k%d\n", i);
    c = load_ok(yaml);
    ck_assert_uint_eq(c.n_cred_keys, 32);
    ck_assert_str_eq(c.cred_keys[31], "k31");
    snprintf(yaml + o, sizeof yaml - o, "  - k32\n");
    load_fails(yaml, "t.yaml:35:5: policy.credential-keys: at most 32 names");
}
END_TEST

START_TEST(files)
{
    struct gw_config c, def;
    char path[64], err[256], want[256];
    gw_config_defaults(&def);

    ck_assert_int_eq(gw_config_load("/nonexistent-gw/grpcwatch.yaml", &c, err, sizeof err), GW_ERR_IO);
    snprintf(want, sizeof want, "cannot open /nonexistent-gw/grpcwatch.yaml: %s", strerror(ENOENT));
    ck_assert_str_eq(err, want);

    const char *yaml = "flow:\n  max-flows: 12\n  bogus: 1\n";
    temp_file(path, sizeof path, yaml, strlen(yaml));
    memset(&c, 0x5a, sizeof c);
    struct gw_config before = c;
    ck_assert_int_eq(gw_config_load(path, &c, err, sizeof err), GW_ERR_MALFORMED);
    snprintf(want, sizeof want, "%s:3:3: unknown key 'bogus' in section 'flow'", path);
    ck_assert_str_eq(err, want);
    ck_assert(memcmp(&c, &before, sizeof c) == 0); /* untouched on error */
    unlink(path);

    yaml = "flow:\n  max-flows: 12\n";
    temp_file(path, sizeof path, yaml, strlen(yaml));
    ck_assert_int_eq(gw_config_load(path, &c, err, sizeof err), GW_OK);
    ck_assert_uint_eq(c.flow_max, 12);
    unlink(path);

    /* exactly 1 MiB of comments is fine, one byte more is not */
    size_t mib = 1024 * 1024;
    char *big = malloc(mib + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, '#', mib + 1);
    for (size_t i = 79; i < mib + 1; i += 80) big[i] = '\n';
    temp_file(path, sizeof path, big, mib);
    ck_assert_int_eq(gw_config_load(path, &c, err, sizeof err), GW_OK);
    ck_assert(memcmp(&c, &def, sizeof c) == 0);
    unlink(path);
    temp_file(path, sizeof path, big, mib + 1);
    ck_assert_int_eq(gw_config_load(path, &c, err, sizeof err), GW_ERR_LIMIT);
    snprintf(want, sizeof want, "%s: config file larger than 1 MiB", path);
    ck_assert_str_eq(err, want);
    unlink(path);
    ck_assert_int_eq(gw_config_load_buffer("buf", big, mib + 1, &c, err, sizeof err), GW_ERR_LIMIT);
    ck_assert_str_eq(err, "buf: config file larger than 1 MiB");
    free(big);

    /* a directory opens but can not be read */
    ck_assert_int_eq(gw_config_load("/tmp", &c, err, sizeof err), GW_ERR_IO);
    snprintf(want, sizeof want, "cannot read /tmp: %s", strerror(EISDIR));
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(shipped_config_is_defaults)
{
    struct gw_config c, def;
    char err[256];
    gw_config_defaults(&def);
    memset(&c, 0x77, sizeof c);
    int rc = gw_config_load("conf/grpcwatch.yaml", &c, err, sizeof err);
    ck_assert_msg(rc == GW_OK, "%s", err);
    ck_assert(memcmp(&c, &def, sizeof c) == 0);

    /* and it spells out every key (the file documents them all) */
    FILE *f = fopen("conf/grpcwatch.yaml", "r");
    ck_assert_ptr_nonnull(f);
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    static const char *const keys[] = { "max-flows:", "timeout-new:", "timeout-established:",
                                        "timeout-closed:", "ooo-max-bytes:", "ooo-max-segments:",
                                        "memcap:", "max-streams:", "max-header-table:",
                                        "max-header-list:", "credential-keys:", "stats-interval:" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "\n  %s ", keys[i]);
        ck_assert_msg(strstr(text, line) != NULL, "conf/grpcwatch.yaml does not set %s", keys[i]);
    }
}
END_TEST

START_TEST(arguments_and_small_err)
{
    struct gw_config c;
    char err[16];
    ck_assert_int_eq(gw_config_load_buffer("x", "flow: {}", 8, NULL, err, sizeof err), GW_ERR_ARG);
    ck_assert_int_eq(gw_config_load(NULL, &c, err, sizeof err), GW_ERR_ARG);
    /* no error buffer at all, and a tiny one that is cut, not overrun */
    ck_assert_int_eq(gw_config_load_buffer("x", "bad: 1", 6, &c, NULL, 0), GW_ERR_MALFORMED);
    memset(err, 'z', sizeof err);
    ck_assert_int_eq(gw_config_load_buffer("x", "bad: 1", 6, &c, err, 8), GW_ERR_MALFORMED);
    ck_assert_str_eq(err, "x:1:1: ");
    ck_assert_int_eq(err[8], 'z');
    /* a NULL name still gives a message */
    char msg[128];
    ck_assert_int_eq(gw_config_load_buffer(NULL, "bad: 1", 6, &c, msg, sizeof msg), GW_ERR_MALFORMED);
    ck_assert_ptr_nonnull(strstr(msg, "unknown section 'bad'"));
    /* the length is honoured: bytes past it are not parsed */
    ck_assert_int_eq(gw_config_load_buffer("x", "flow: {}\nbad: 1", 9, &c, msg, sizeof msg), GW_OK);
}
END_TEST

/* outputs: a list of sinks with optional record types. */
START_TEST(outputs_list)
{
    struct gw_config c = load_ok("outputs:\n"
                                 "  - sink: json:/var/log/grpcwatch/alerts.json\n"
                                 "    types: [alert, grpc]\n"
                                 "  - sink: \"unix:/run/gw.sock\"\n"
                                 "  - {sink: json:-, types: [stats, tls, anomaly]}\n"
                                 "  - sink: unixgram:/run/g\n"
                                 "    types:\n"
                                 "      - grpc\n");
    ck_assert_uint_eq(c.n_outputs, 4);
    ck_assert_str_eq(c.outputs[0].sink, "json:/var/log/grpcwatch/alerts.json");
    ck_assert_str_eq(c.outputs[0].types, "alert,grpc");
    ck_assert_str_eq(c.outputs[1].sink, "unix:/run/gw.sock");
    ck_assert_str_eq(c.outputs[1].types, "");
    ck_assert_str_eq(c.outputs[2].sink, "json:-");
    ck_assert_str_eq(c.outputs[2].types, "stats,tls,anomaly");
    ck_assert_str_eq(c.outputs[3].types, "grpc");
    /* every type at once still fits */
    c = load_ok("outputs:\n  - sink: json:-\n    types: [grpc, alert, tls, anomaly, stats]\n");
    ck_assert_str_eq(c.outputs[0].types, "grpc,alert,tls,anomaly,stats");
    /* empty: no outputs, as without the section; sits beside output: */
    c = load_ok("output:\n  stats-interval: 5\noutputs:\n");
    ck_assert_uint_eq(c.n_outputs, 0);
    ck_assert_uint_eq(c.stats_interval, 5);
    c = load_ok("outputs: []\n");
    ck_assert_uint_eq(c.n_outputs, 0);
    /* eight fit, the ninth does not */
    char yaml[1024] = "outputs:\n";
    for (int i = 0; i < 8; i++) strcat(yaml, "  - sink: json:/dev/null\n");
    c = load_ok(yaml);
    ck_assert_uint_eq(c.n_outputs, 8);
    strcat(yaml, "  - sink: json:/dev/null\n");
    load_fails(yaml, "t.yaml:10:5: outputs: at most 8 entries");
}
END_TEST

START_TEST(outputs_errors)
{
    load_fails("outputs:\n  sink: json:-\n",
               "t.yaml:2:3: outputs: expected a sequence of entries such as - sink: json:PATH, got a mapping");
    load_fails("outputs: json:-\n",
               "t.yaml:1:10: outputs: expected a sequence of entries such as - sink: json:PATH, got a scalar");
    load_fails("outputs:\n  - json:/tmp/x\n",
               "t.yaml:2:5: outputs: expected an entry such as {sink: json:PATH}, got a scalar");
    load_fails("outputs:\n  - types: [grpc]\n", "t.yaml:2:5: outputs: entry without a sink");
    load_fails("outputs:\n  - sink: json:-\n    filename: eve.json\n",
               "t.yaml:3:5: outputs: unknown key 'filename' (expected sink or types)");
    load_fails("outputs:\n  - sink: json:-\n    sink: json:/tmp/x\n", "t.yaml:3:5: outputs: duplicate key 'sink'");
    load_fails("outputs:\n  - sink: json:-\n    types: [grpc]\n    types: [tls]\n",
               "t.yaml:4:5: outputs: duplicate key 'types'");
    load_fails("outputs:\n  - sink: xml:/tmp/x\n",
               "t.yaml:2:11: outputs.sink: unknown output 'xml:/tmp/x' (expected json:-, json:PATH, unix:PATH or unixgram:PATH)");
    load_fails("outputs:\n  - sink: \"json:\"\n",
               "t.yaml:2:11: outputs.sink: unknown output 'json:' (expected json:-, json:PATH, unix:PATH or unixgram:PATH)");
    load_fails("outputs:\n  - sink:\n", "t.yaml:2:10: outputs.sink: expected a sink such as json:PATH, got nothing");
    load_fails("outputs:\n  - sink: [json:-]\n", "t.yaml:2:11: outputs.sink: expected a sink such as json:PATH, got a sequence");
    load_fails("outputs:\n  - sink: json:-\n    types: [grpc, flows]\n",
               "t.yaml:3:19: outputs.types: unknown record type 'flows' (expected grpc, alert, tls, anomaly or stats)");
    load_fails("outputs:\n  - sink: json:-\n    types: [Alert]\n",
               "t.yaml:3:13: outputs.types: unknown record type 'Alert' (expected grpc, alert, tls, anomaly or stats)");
    load_fails("outputs:\n  - sink: json:-\n    types: [grpc, grpc]\n", "t.yaml:3:19: outputs.types: 'grpc' listed twice");
    load_fails("outputs:\n  - sink: json:-\n    types: grpc\n",
               "t.yaml:3:12: outputs.types: expected a sequence of record types (grpc, alert, tls, anomaly or stats), got a scalar");
    load_fails("outputs:\n  - sink: json:-\n    types: []\n",
               "t.yaml:3:12: outputs.types: an empty list takes no record (leave types out for all)");
    load_fails("outputs:\n  - sink: json:-\n    types: [[grpc]]\n",
               "t.yaml:3:13: outputs.types: expected a record type, got a sequence");
    load_fails("outputs: []\noutputs: []\n", "t.yaml:2:1: duplicate section 'outputs'");
    /* a spec longer than the config keeps */
    char yaml[700];
    snprintf(yaml, sizeof yaml, "outputs:\n  - sink: json:/%0600d\n", 0);
    struct gw_config c;
    char err[512];
    ck_assert_int_lt(load(yaml, &c, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "t.yaml:2:11: outputs.sink: 'json:/000"));
    ck_assert_ptr_nonnull(strstr(err, "is not a sink (at most 511 characters)"));
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, empty_and_comment_only);
    tcase_add_test(tc, full_valid_file);
    tcase_add_test(tc, load_over_defaults);
    tcase_add_test(tc, size_suffixes);
    tcase_add_test(tc, ranges);
    tcase_add_test(tc, unknown_keys_and_sections);
    tcase_add_test(tc, wrong_types);
    tcase_add_test(tc, syntax_errors);
    tcase_add_test(tc, credential_keys);
    tcase_add_test(tc, files);
    tcase_add_test(tc, shipped_config_is_defaults);
    tcase_add_test(tc, arguments_and_small_err);
    tcase_add_test(tc, outputs_list);
    tcase_add_test(tc, outputs_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
