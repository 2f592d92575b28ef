/*
 * fuzz_config.c - the YAML configuration loader (gw_config_load_buffer).
 *
 * Input: the YAML text, as is. Checks, beyond the sanitizers, the contract
 * of config.h / config.c:
 *  - the message buffer is always NUL-terminated, empty on success, not
 *    empty on failure, and printable ASCII only (file text in messages is
 *    stripped of other bytes);
 *  - on failure the caller's struct is untouched; on success every field
 *    is within the range conf/grpcwatch.yaml documents and the extra
 *    credential names are lowercase, NUL-terminated header names;
 *  - a short message buffer gives the same result and a NUL-terminated
 *    prefix of the long message;
 *  - an accepted configuration builds a policy that knows its extra names.
 */
#include "fuzz_common.h"

#include "grpcwatch/policy.h"

#define SENTINEL 0xa5

static void check_message(const char *err, size_t errlen, int rc)
{
    const char *nul = memchr(err, '\0', errlen);
    FZ_CHECK(nul != NULL, "message not NUL-terminated");
    FZ_CHECK((rc == GW_OK) == (err[0] == '\0'), "rc %d with message '%s'", rc, err);
    for (const char *q = err; q < nul; q++)
        FZ_CHECK(*q >= 0x20 && *q < 0x7f, "non-printable byte 0x%02x in message", (unsigned)(uint8_t)*q);
}

static bool in_range(uint64_t v, uint64_t lo, uint64_t hi) { return v >= lo && v <= hi; }

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void check_accepted(const struct gw_config *cfg)
{
    const uint64_t MIB = 1024 * 1024;
    FZ_CHECK(in_range(cfg->flow_max, 1, 16777216), "flow_max %u", cfg->flow_max);
    FZ_CHECK(in_range(cfg->flow_timeout_new, 1, 86400), "timeout_new");
    FZ_CHECK(in_range(cfg->flow_timeout_established, 1, 86400), "timeout_established");
    FZ_CHECK(in_range(cfg->flow_timeout_closed, 1, 86400), "timeout_closed");
    FZ_CHECK(in_range(cfg->reasm_ooo_max_bytes, 1, 16 * MIB), "ooo_max_bytes");
    FZ_CHECK(in_range(cfg->reasm_ooo_max_segments, 1, 65535), "ooo_max_segments");
    FZ_CHECK(cfg->reasm_memcap >= 64 * 1024, "memcap");
    FZ_CHECK(in_range(cfg->h2_max_streams, 1, 65536), "max_streams");
    FZ_CHECK(cfg->h2_max_header_table <= 16 * MIB, "max_header_table");
    FZ_CHECK(in_range(cfg->h2_max_header_list, 1024, 64 * MIB), "max_header_list");
    FZ_CHECK(cfg->stats_interval <= 86400, "stats_interval");
    FZ_CHECK(cfg->n_cred_keys <= GW_CONFIG_MAX_CRED_KEYS, "n_cred_keys %u", cfg->n_cred_keys);
    for (uint32_t i = 0; i < cfg->n_cred_keys; i++) {
        const char *k = cfg->cred_keys[i];
        size_t len = strnlen(k, GW_CONFIG_NAME_MAX);
        FZ_CHECK(len > 0 && len < GW_CONFIG_NAME_MAX, "credential key %u length %zu", i, len);
        for (size_t c = 0; c < len; c++)
            FZ_CHECK(is_name_char(k[c]), "credential key %u byte 0x%02x", i, (unsigned)(uint8_t)k[c]);
    }
}

static void check_policy(const struct gw_config *cfg)
{
    struct gw_policy *p = gw_policy_create(cfg);
    FZ_CHECK(p != NULL, "gw_policy_create failed");
    for (uint32_t i = 0; i < cfg->n_cred_keys; i++)
        FZ_CHECK(gw_policy_is_credential_key(p, cfg->cred_keys[i]), "'%s' not a credential key",
                 cfg->cred_keys[i]);
    FZ_CHECK(gw_policy_is_credential_key(p, "authorization"), "authorization");
    gw_policy_destroy(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *yaml = (const char *)data;
    struct gw_config cfg, untouched;
    char err[512];

    memset(&cfg, SENTINEL, sizeof cfg);
    memset(&untouched, SENTINEL, sizeof untouched);
    memset(err, 'x', sizeof err);
    int rc = gw_config_load_buffer("fuzz.yaml", yaml, size, &cfg, err, sizeof err);
    check_message(err, sizeof err, rc);
    FZ_CHECK(rc <= 0, "rc %d", rc);

    if (rc != GW_OK) {
        FZ_CHECK(memcmp(&cfg, &untouched, sizeof cfg) == 0, "config written on failure (rc %d)", rc);
        /* a buffer too short for the message: same answer, cut and terminated */
        char shorter[16];
        size_t shortlen = 1 + size % sizeof shorter;
        memset(shorter, 'x', sizeof shorter);
        int rc2 = gw_config_load_buffer("fuzz.yaml", yaml, size, &cfg, shorter, shortlen);
        FZ_CHECK(rc2 == rc, "rc %d then %d", rc, rc2);
        FZ_CHECK(memchr(shorter, '\0', shortlen) != NULL, "short message not terminated");
        FZ_CHECK(strncmp(shorter, err, strlen(shorter)) == 0, "'%s' is not a prefix of '%s'",
                 shorter, err);
        return 0;
    }
    check_accepted(&cfg);
    check_policy(&cfg);
    return 0;
}
