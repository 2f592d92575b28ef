/* pool.c - the size-class block cache of pool.h. */
#include "grpcwatch/pool.h"

#include <stdlib.h>
#include <string.h>

/* Under AddressSanitizer a cached block is poisoned: a use after free of a
 * pooled block is reported as it would be for malloc's. */
#if defined(__SANITIZE_ADDRESS__)
#define POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_ASAN 1
#endif
#endif
#ifdef POOL_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define BIG 0xffu
#define HEADER 16 /* keeps the payload 16-byte aligned, as malloc's */

struct block {
    uint32_t cls;
    uint32_t pad;
    struct block *next; /* while cached */
};

_Static_assert(sizeof(struct block) <= HEADER, "the header holds a block's bookkeeping");

struct gw_pool {
    struct block *free[GW_POOL_CLASSES];
    size_t max_cached;
    struct gw_pool_stats st;
};

/* Powers of two, and 6 KiB between 4 and 8: a gRPC call's state (~5 KB) is
 * the most common large block, and would waste 3 KB in an 8 KiB one. */
static const uint32_t class_sizes[GW_POOL_CLASSES] = {
    32, 64, 128, 256, 512, 1024, 2048, 4096, 6144, 8192, 16384,
};

static size_t class_size(uint32_t cls) { return class_sizes[cls]; }

static uint32_t class_of(size_t n)
{
    uint32_t c = 0;
    while (c < GW_POOL_CLASSES && class_size(c) < n) c++;
    return c < GW_POOL_CLASSES ? c : BIG;
}

static struct block *block_of(void *ptr) { return (struct block *)((char *)ptr - HEADER); }
static void *payload(struct block *b) { return (char *)b + HEADER; }

struct gw_pool *gw_pool_create(size_t max_cached)
{
    struct gw_pool *p = calloc(1, sizeof *p);
    if (p) p->max_cached = max_cached;
    return p;
}

void gw_pool_destroy(struct gw_pool *p)
{
    if (!p) return;
    for (int c = 0; c < GW_POOL_CLASSES; c++) {
        while (p->free[c]) {
            struct block *b = p->free[c];
            p->free[c] = b->next;
            free(b);
        }
    }
    free(p);
}

void *gw_pool_alloc(struct gw_pool *p, size_t n)
{
    if (!p) return malloc(n);
    uint32_t cls = class_of(n);
    if (cls != BIG && p->free[cls]) {
        struct block *b = p->free[cls];
        p->free[cls] = b->next;
        p->st.cached_bytes -= class_size(cls);
        p->st.reused++;
        p->st.in_use++;
        UNPOISON(payload(b), class_size(cls));
        return payload(b);
    }
    if (n > SIZE_MAX - HEADER) return NULL;
    struct block *b = malloc(HEADER + (cls == BIG ? n : class_size(cls)));
    if (!b) return NULL;
    b->cls = cls;
    if (cls == BIG) p->st.big++;
    else p->st.allocated++;
    p->st.in_use++;
    return payload(b);
}

void *gw_pool_calloc(struct gw_pool *p, size_t nmemb, size_t size)
{
    if (!p) return calloc(nmemb, size);
    if (size && nmemb > SIZE_MAX / size) return NULL;
    void *ptr = gw_pool_alloc(p, nmemb * size);
    if (ptr) memset(ptr, 0, nmemb * size);
    return ptr;
}

void gw_pool_free(struct gw_pool *p, void *ptr)
{
    if (!p || !ptr) {
        free(ptr);
        return;
    }
    struct block *b = block_of(ptr);
    GW_ASSERT(p->st.in_use > 0);
    p->st.in_use--;
    if (b->cls == BIG || p->st.cached_bytes + class_size(b->cls) > p->max_cached) {
        free(b);
        return;
    }
    GW_ASSERT(b->cls < GW_POOL_CLASSES);
    b->next = p->free[b->cls];
    p->free[b->cls] = b;
    p->st.cached_bytes += class_size(b->cls);
    POISON(ptr, class_size(b->cls));
}

void *gw_pool_realloc(struct gw_pool *p, void *ptr, size_t n)
{
    if (!p) return realloc(ptr, n);
    if (!ptr) return gw_pool_alloc(p, n);
    struct block *b = block_of(ptr);
    if (b->cls == BIG) {
        if (n > SIZE_MAX - HEADER) return NULL;
        struct block *nb = realloc(b, HEADER + n);
        return nb ? payload(nb) : NULL;
    }
    if (n <= class_size(b->cls)) return ptr;
    void *np = gw_pool_alloc(p, n);
    if (!np) return NULL;
    memcpy(np, ptr, class_size(b->cls));
    gw_pool_free(p, ptr);
    return np;
}

const struct gw_pool_stats *gw_pool_stats(const struct gw_pool *p) { return &p->st; }

#define F(m) GW_STAT_FIELD(struct gw_pool_stats, m, #m)
const struct gw_stat_field gw_pool_stat_fields[] = {
    F(in_use), F(cached_bytes), F(reused), F(allocated), F(big),
};
#undef F
const size_t gw_pool_stat_fields_len = GW_ARRAY_LEN(gw_pool_stat_fields);
