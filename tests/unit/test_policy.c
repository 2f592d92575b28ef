/* test_policy.c - credential names, severities and signature ids. */
#include "grpcwatch/config.h"
#include "grpcwatch/policy.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static struct gw_grpc_call *call_with_keys(const char *const *keys, size_t n)
{
    struct gw_grpc_call *c = calloc(1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    for (size_t i = 0; i < n; i++)
        strcpy(c->metadata_keys[i], keys[i]);
    c->n_metadata_keys = (uint8_t)n;
    c->grpc_status = -1;
    return c;
}

START_TEST(credential_names)
{
    struct gw_policy *p = gw_policy_create(NULL);
    static const char *const yes[] = { "authorization", "proxy-authorization", "cookie",
                                       "x-api-key", "x-auth-token", "token", "client-secret",
                                       "db-password", "my-api-key-bin" };
    static const char *const no[] = { "x-request-id", "trace-bin", "grpc-tags-bin", "authority",
                                      "x-api-keys-are-not-here", "tok", "cookies-not" };
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        ck_assert_msg(gw_policy_is_credential_key(p, yes[i]), "%s should be a credential", yes[i]);
    /* "x-api-keys-are-not-here" contains "api-key": it is one, by the rule */
    ck_assert(gw_policy_is_credential_key(p, no[4]));
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (i != 4 && i != 6)
            ck_assert_msg(!gw_policy_is_credential_key(p, no[i]), "%s is not a credential", no[i]);
    /* "cookies-not" is not the exact name "cookie" and holds no marker */
    ck_assert(!gw_policy_is_credential_key(p, "cookies-not"));
    gw_policy_destroy(p);
}
END_TEST

START_TEST(config_extra_names)
{
    struct gw_config cfg;
    gw_config_defaults(&cfg);
    strcpy(cfg.cred_keys[0], "x-internal-sig");
    cfg.n_cred_keys = 1;
    struct gw_policy *p = gw_policy_create(&cfg);
    ck_assert(gw_policy_is_credential_key(p, "x-internal-sig"));
    ck_assert(!gw_policy_is_credential_key(p, "x-internal"));
    gw_policy_destroy(p);
}
END_TEST

START_TEST(severity_and_mask)
{
    static const char *const keys[] = { "x-request-id", "authorization", "trace-bin", "x-session-token" };
    struct gw_policy *p = gw_policy_create(NULL);
    struct gw_grpc_call *c = call_with_keys(keys, 4);
    struct gw_alert a;
    ck_assert(gw_policy_evaluate(p, c, &a));
    ck_assert_uint_eq(c->credential_mask, (1u << 1) | (1u << 3));
    ck_assert_int_eq(a.severity, 1);
    ck_assert_uint_eq(a.signature_id, GW_SID_CLEARTEXT_CREDENTIALS);
    ck_assert_str_eq(a.signature, "Cleartext gRPC call exposes credentials");

    struct gw_grpc_call *plain = call_with_keys(keys, 1);
    ck_assert(gw_policy_evaluate(p, plain, &a));
    ck_assert_uint_eq(plain->credential_mask, 0);
    ck_assert_int_eq(a.severity, 2);
    ck_assert_uint_eq(a.signature_id, GW_SID_CLEARTEXT_CALL);

    plain->midstream = 1;
    ck_assert(gw_policy_evaluate(p, plain, &a));
    ck_assert_uint_eq(a.signature_id, GW_SID_CLEARTEXT_MIDSTREAM);
    ck_assert_int_eq(a.severity, 2);
    /* credentials outrank mid-stream */
    c->midstream = 1;
    ck_assert(gw_policy_evaluate(p, c, &a));
    ck_assert_uint_eq(a.signature_id, GW_SID_CLEARTEXT_CREDENTIALS);
    free(c);
    free(plain);
    gw_policy_destroy(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("policy");
    tcase_add_test(tc, credential_names);
    tcase_add_test(tc, config_extra_names);
    tcase_add_test(tc, severity_and_mask);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
