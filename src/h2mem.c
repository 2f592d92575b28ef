/*
 * h2mem.c - the memory of a connection's two HPACK inflaters (nghttp2_mem).
 *
 * nghttp2 allocates an inflater's table piece by piece: the inflater, its
 * ring of entry pointers, and per inserted field an entry and two rcbufs,
 * some 20 to 45 blocks a connection. From the pool they land anywhere, so
 * with a thousand connections open each header block touches cold lines
 * all over the heap, and destroying the inflaters walks every entry again
 * only to give the blocks back (5% of the time on a capture of short gRPC
 * connections, 1000 open at once).
 *
 * So a connection's inflaters first take their memory from one arena: a
 * single pool block, cut front to back. What is freed inside it is only
 * counted; the arena starts over when nothing in it is live. What does
 * not fit (large or long-lived tables) comes from the pool as before, and
 * the arena is then marked spilled. An inflater holds nothing but memory
 * from this allocator, so when nothing spilled the inflaters are dropped
 * with the arena in one free, without nghttp2_hd_inflate_del.
 *
 * Invariants:
 *  - every arena allocation is preceded by an 8-byte header holding its
 *    size (for realloc) and is 8-byte aligned, as nghttp2's structs need;
 *  - live counts the arena allocations not yet freed;
 *  - spilled is set before any block outside the arena is handed out, and
 *    never cleared: h2_mem_whole() is then false for good.
 */
#include "h2_int.h"

#include <stdint.h>
#include <string.h>

#define ARENA_HDR 8u

_Static_assert(H2_ARENA_BYTES % ARENA_HDR == 0, "arena allocations stay 8-byte aligned");

static bool in_arena(const struct h2_mem *m, const void *p)
{
    /* compared as integers: p may belong to any other block */
    uintptr_t a = (uintptr_t)m->arena, q = (uintptr_t)p;
    return m->arena && q >= a && q < a + H2_ARENA_BYTES;
}

static void *mem_malloc(size_t n, void *user)
{
    struct h2_mem *m = user;
    if (m->arena && n <= H2_ARENA_BYTES) {
        size_t need = ARENA_HDR + ((n + ARENA_HDR - 1) & ~(size_t)(ARENA_HDR - 1));
        if (need <= H2_ARENA_BYTES - m->used) {
            uint8_t *p = m->arena + m->used;
            uint32_t size = (uint32_t)n;
            memcpy(p, &size, sizeof size);
            m->used += (uint32_t)need;
            m->live++;
            return p + ARENA_HDR;
        }
    }
    m->spilled = true;
    return gw_pool_alloc(m->pool, n);
}

static void mem_free(void *ptr, void *user)
{
    struct h2_mem *m = user;
    if (!ptr) return;
    if (!in_arena(m, ptr)) {
        gw_pool_free(m->pool, ptr);
        return;
    }
    GW_ASSERT(m->live > 0);
    if (--m->live == 0) m->used = 0;
}

static void *mem_calloc(size_t k, size_t n, void *user)
{
    if (n && k > SIZE_MAX / n) return NULL;
    void *p = mem_malloc(k * n, user);
    if (p) memset(p, 0, k * n);
    return p;
}

static void *mem_realloc(void *ptr, size_t n, void *user)
{
    struct h2_mem *m = user;
    if (!ptr) return mem_malloc(n, user);
    if (!in_arena(m, ptr)) {
        /* stays outside: spilled is already set */
        return gw_pool_realloc(m->pool, ptr, n);
    }
    uint32_t old;
    memcpy(&old, (uint8_t *)ptr - ARENA_HDR, sizeof old);
    void *np = mem_malloc(n, user);
    if (!np) return NULL;
    memcpy(np, ptr, old < n ? old : n);
    mem_free(ptr, user);
    return np;
}

void h2_mem_init(struct h2_mem *m, struct gw_pool *pool)
{
    *m = (struct h2_mem){ .pool = pool };
    m->nmem = (nghttp2_mem){ m, mem_malloc, mem_free, mem_calloc, mem_realloc };
    /* without an arena (out of memory) everything comes from the pool */
    m->arena = gw_pool_alloc(pool, H2_ARENA_BYTES);
    if (!m->arena) m->spilled = true;
}

bool h2_mem_whole(const struct h2_mem *m)
{
    return !m->spilled;
}

void h2_mem_release(struct h2_mem *m)
{
    gw_pool_free(m->pool, m->arena);
    m->arena = NULL;
    m->used = m->live = 0;
}
