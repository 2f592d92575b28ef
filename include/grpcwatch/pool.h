/*
 * pool.h - freed small blocks kept by size class for the next allocation.
 *
 * What a sensor allocates per flow and per call (parser states, held
 * first bytes, HTTP/2 streams, gRPC calls, nghttp2's HPACK buffers: a
 * malloc and a free per literal header field) is answered from blocks
 * freed before, so the steady state calls malloc for none of them.
 *
 * Invariants: classes are powers of two from 32 bytes to 16 KiB, and
 * 6 KiB (class_sizes in pool.c); larger requests go to malloc as they
 * are; every block carries a 16-byte header
 * with its class; a freed block is cached while the cache holds at most
 * max_cached bytes, else freed; the counters say how many blocks were
 * served from the cache, from malloc, and how many bytes are cached.
 * One pool per sensor (not thread-safe; workers each have theirs), shared
 * by every stage that allocates per flow or per call. A NULL pool is
 * malloc itself (modules used on their own, in tests and fuzzers); a block
 * goes back to the pool it came from.
 */
#ifndef GRPCWATCH_POOL_H
#define GRPCWATCH_POOL_H

#include "grpcwatch/common.h"
#include "grpcwatch/stats.h"

#define GW_POOL_CLASSES 11 /* 32 .. 16384 bytes */

struct gw_pool_stats {
    uint64_t reused, allocated, big, cached_bytes;
    uint64_t in_use; /* blocks handed out and not freed yet (big ones too) */
};

struct gw_pool;

struct gw_pool *gw_pool_create(size_t max_cached);
/* Every block must have been freed; what is cached is released. */
void gw_pool_destroy(struct gw_pool *p);
void *gw_pool_alloc(struct gw_pool *p, size_t n);
void *gw_pool_calloc(struct gw_pool *p, size_t nmemb, size_t size);
void *gw_pool_realloc(struct gw_pool *p, void *ptr, size_t n);
void gw_pool_free(struct gw_pool *p, void *ptr);
const struct gw_pool_stats *gw_pool_stats(const struct gw_pool *p);
/* "pool" in stats records: in_use, cached_bytes, reused, allocated, big */
extern const struct gw_stat_field gw_pool_stat_fields[];
extern const size_t gw_pool_stat_fields_len;

#endif
