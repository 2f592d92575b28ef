/* test_pool.c - the size-class block cache (src/pool.c). */
#include "grpcwatch/pool.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_freed_block_is_reused)
{
    struct gw_pool *p = gw_pool_create(1 << 20);
    void *a = gw_pool_alloc(p, 40); /* class 64 */
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq((uintptr_t)a % 16, 0);
    memset(a, 0x5a, 40);
    gw_pool_free(p, a);
    ck_assert_uint_eq(gw_pool_stats(p)->cached_bytes, 64);
    void *b = gw_pool_alloc(p, 64); /* same class: the same block */
    ck_assert_ptr_eq(a, b);
    ck_assert_uint_eq(gw_pool_stats(p)->reused, 1);
    ck_assert_uint_eq(gw_pool_stats(p)->allocated, 1);
    ck_assert_uint_eq(gw_pool_stats(p)->cached_bytes, 0);
    void *c = gw_pool_alloc(p, 65); /* the next class: a new block */
    ck_assert_ptr_ne(c, b);
    gw_pool_free(p, b);
    gw_pool_free(p, c);
    gw_pool_destroy(p);
}
END_TEST

START_TEST(test_big_and_calloc_and_realloc)
{
    struct gw_pool *p = gw_pool_create(1 << 20);
    uint8_t *big = gw_pool_alloc(p, 100000); /* past the classes: malloc */
    ck_assert_ptr_nonnull(big);
    memset(big, 1, 100000);
    big = gw_pool_realloc(p, big, 200000);
    ck_assert_uint_eq(big[99999], 1);
    gw_pool_free(p, big);
    ck_assert_uint_eq(gw_pool_stats(p)->big, 1);
    ck_assert_uint_eq(gw_pool_stats(p)->cached_bytes, 0); /* big blocks are not cached */
    uint8_t *z = gw_pool_calloc(p, 10, 10);
    for (int i = 0; i < 100; i++) ck_assert_uint_eq(z[i], 0);
    memcpy(z, "0123456789", 10);
    uint8_t *same = gw_pool_realloc(p, z, 128); /* fits its class (128): in place */
    ck_assert_ptr_eq(same, z);
    uint8_t *grown = gw_pool_realloc(p, z, 3000);
    ck_assert_mem_eq(grown, "0123456789", 10);
    ck_assert_ptr_null(gw_pool_calloc(p, SIZE_MAX / 2, 4)); /* overflow refused */
    gw_pool_free(p, grown);
    gw_pool_free(p, NULL);
    gw_pool_destroy(p);
}
END_TEST

START_TEST(test_cache_is_capped)
{
    struct gw_pool *p = gw_pool_create(4096); /* at most 4 KiB cached */
    void *blocks[100];
    for (int i = 0; i < 100; i++) blocks[i] = gw_pool_alloc(p, 256);
    for (int i = 0; i < 100; i++) gw_pool_free(p, blocks[i]);
    ck_assert_uint_eq(gw_pool_stats(p)->cached_bytes, 4096); /* 16 kept, 84 freed */
    gw_pool_destroy(p);
}
END_TEST

START_TEST(test_in_use_and_null_pool)
{
    struct gw_pool *p = gw_pool_create(1 << 20);
    void *a = gw_pool_alloc(p, 100), *b = gw_pool_alloc(p, 20000), *c = gw_pool_calloc(p, 3, 1000);
    ck_assert_uint_eq(gw_pool_stats(p)->in_use, 3);
    b = gw_pool_realloc(p, b, 40000); /* big stays one block */
    a = gw_pool_realloc(p, a, 5000);  /* moves to the 8 KiB class: still one */
    ck_assert_uint_eq(gw_pool_stats(p)->in_use, 3);
    gw_pool_free(p, a);
    gw_pool_free(p, b);
    gw_pool_free(p, c);
    ck_assert_uint_eq(gw_pool_stats(p)->in_use, 0);
    void *d = gw_pool_alloc(p, 16384); /* the largest class: cached, not big */
    gw_pool_free(p, d);
    ck_assert_uint_eq(gw_pool_stats(p)->big, 1);
    ck_assert_ptr_eq(gw_pool_alloc(p, 16000), d);
    gw_pool_free(p, d);
    gw_pool_destroy(p);
    /* no pool: malloc's own blocks, which free() takes (ASan checks the pairing) */
    uint8_t *m = gw_pool_calloc(NULL, 10, 10);
    for (int i = 0; i < 100; i++) ck_assert_uint_eq(m[i], 0);
    m = gw_pool_realloc(NULL, m, 1000);
    ck_assert_uint_eq(m[99], 0);
    free(m);
    gw_pool_free(NULL, gw_pool_alloc(NULL, 64));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_freed_block_is_reused);
    tcase_add_test(tc, test_big_and_calloc_and_realloc);
    tcase_add_test(tc, test_cache_is_capped);
    tcase_add_test(tc, test_in_use_and_null_pool);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
