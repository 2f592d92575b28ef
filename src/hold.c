/* hold.c - the bounded byte buffer of hold.h. */
#include "grpcwatch/hold.h"

#include <stdlib.h>
#include <string.h>

bool gw_hold_append(struct gw_hold *h, struct gw_pool *pool, const uint8_t *p, size_t n,
                    uint32_t limit)
{
    GW_ASSERT(h->cap || !h->len); /* not borrowed */
    if (n == 0) return true;
    if (h->len > limit || n > limit - h->len) return false;
    if (h->len + n > h->cap) {
        uint32_t want = h->cap ? h->cap : 512;
        while (want < h->len + n) want *= 2;
        if (want > limit) want = limit;
        uint8_t *nb = gw_pool_realloc(pool, h->own, want);
        if (!nb) return false;
        h->buf = h->own = nb;
        h->cap = want;
    }
    memcpy(h->own + h->len, p, n);
    h->len += (uint32_t)n;
    GW_ASSERT(h->len <= h->cap && h->cap <= limit);
    return true;
}

void gw_hold_free(struct gw_hold *h, struct gw_pool *pool)
{
    gw_pool_free(pool, h->own);
    memset(h, 0, sizeof *h);
}

void gw_hold_borrow(struct gw_hold *h, struct gw_pool *pool, const uint8_t *p, size_t n)
{
    GW_ASSERT(h->len == 0 && n <= UINT32_MAX);
    gw_hold_free(h, pool);
    h->buf = p;
    h->len = (uint32_t)n;
}

bool gw_hold_own(struct gw_hold *h, struct gw_pool *pool, uint32_t limit)
{
    if (h->cap || !h->len) return true;
    struct gw_hold copy = { 0 };
    bool ok = gw_hold_append(&copy, pool, h->buf, h->len, limit);
    *h = copy; /* on failure: empty, and nothing borrowed is left */
    return ok;
}
