/*
 * policy.h - decides what a finished call means: which metadata keys carry
 * credentials, whether it alerts, with which signature and severity.
 *
 * Signature ids are stable (documented in grpcwatch(8)):
 *   2300001  Cleartext gRPC call exposes credentials          severity 1
 *   2300002  Cleartext gRPC call                              severity 2
 *   2300003  Cleartext HTTP/2 carrying gRPC, picked up mid-stream  severity 2
 */
#ifndef GRPCWATCH_POLICY_H
#define GRPCWATCH_POLICY_H

#include "grpcwatch/common.h"
#include "grpcwatch/grpc.h"

#define GW_SID_CLEARTEXT_CREDENTIALS 2300001
#define GW_SID_CLEARTEXT_CALL 2300002
#define GW_SID_CLEARTEXT_MIDSTREAM 2300003

struct gw_alert {
    uint32_t signature_id;
    const char *signature;   /* static strings */
    const char *category;
    uint8_t severity;        /* 1 = high .. 3 = low */
};

struct gw_config;
struct gw_policy;

struct gw_policy *gw_policy_create(const struct gw_config *cfg);
void gw_policy_destroy(struct gw_policy *p);

/* True if a lowercase metadata key carries credentials: authorization,
 * proxy-authorization, cookie, x-api-key, anything containing token, secret,
 * password or api-key, and the config's extra names. */
bool gw_policy_is_credential_key(const struct gw_policy *p, const char *name);

/* Fills call->credential_mask and *alert. Returns true if the call alerts. */
bool gw_policy_evaluate(const struct gw_policy *p, struct gw_grpc_call *call,
                        struct gw_alert *alert);

#endif
