/*
 * policy.c - what a finished call means.
 *
 * The credential test runs once per metadata key per call (not per packet):
 * a handful of exact names, a handful of substrings, then the config's extra
 * names. Keys arrive lowercase from the grpc stage.
 */
#include "grpcwatch/policy.h"

#include "grpcwatch/config.h"

#include <stdlib.h>
#include <string.h>

struct gw_policy {
    char extra[GW_CONFIG_MAX_CRED_KEYS][GW_CONFIG_NAME_MAX];
    uint32_t n_extra;
};

static const char *const credential_names[] = {
    "authorization", "proxy-authorization", "cookie", "x-api-key",
};

static const char *const credential_parts[] = {
    "token", "secret", "password", "api-key",
};

struct gw_policy *gw_policy_create(const struct gw_config *cfg)
{
    struct gw_policy *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    if (cfg) {
        p->n_extra = GW_MIN(cfg->n_cred_keys, (uint32_t)GW_CONFIG_MAX_CRED_KEYS);
        memcpy(p->extra, cfg->cred_keys, sizeof p->extra);
    }
    return p;
}

void gw_policy_destroy(struct gw_policy *p)
{
    free(p);
}

bool gw_policy_is_credential_key(const struct gw_policy *p, const char *name)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(credential_names); i++)
        if (strcmp(name, credential_names[i]) == 0) return true;
    for (size_t i = 0; i < GW_ARRAY_LEN(credential_parts); i++)
        if (strstr(name, credential_parts[i])) return true;
    for (uint32_t i = 0; p && i < p->n_extra; i++)
        if (strcmp(name, p->extra[i]) == 0) return true;
    return false;
}

bool gw_policy_evaluate(const struct gw_policy *p, struct gw_grpc_call *call,
                        struct gw_alert *alert)
{
    call->credential_mask = 0;
    for (uint32_t i = 0; i < call->n_metadata_keys && i < 32; i++)
        if (gw_policy_is_credential_key(p, call->metadata_keys[i]))
            call->credential_mask |= 1u << i;

    alert->category = "Cleartext Credentials and Service Calls";
    if (call->credential_mask) {
        alert->signature_id = GW_SID_CLEARTEXT_CREDENTIALS;
        alert->signature = "Cleartext gRPC call exposes credentials";
        alert->severity = 1;
    } else if (call->midstream) {
        alert->signature_id = GW_SID_CLEARTEXT_MIDSTREAM;
        alert->signature = "Cleartext HTTP/2 carrying gRPC, picked up mid-stream";
        alert->severity = 2;
    } else {
        alert->signature_id = GW_SID_CLEARTEXT_CALL;
        alert->signature = "Cleartext gRPC call";
        alert->severity = 2;
    }
    return true;
}
