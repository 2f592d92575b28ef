/*
 * hold.h - a bounded, growable byte buffer for bytes a stage must keep
 * until it can decide (classification, TLS hellos).
 *
 * Invariants: len <= cap <= the cap given to every append (or cap == 0 and
 * the bytes are borrowed, see gw_hold_borrow); grown by doubling from 512
 * bytes, never past that cap; a zeroed struct is empty. Storage comes from
 * the pool given to every call (the same one for a hold's life; NULL:
 * malloc).
 */
#ifndef GRPCWATCH_HOLD_H
#define GRPCWATCH_HOLD_H

#include "grpcwatch/common.h"
#include "grpcwatch/pool.h"

struct gw_hold {
    const uint8_t *buf;  /* the bytes: own storage, or borrowed */
    uint8_t *own;        /* own storage (cap bytes), NULL while borrowed or empty */
    uint32_t len, cap;
};

/* Appends n bytes unless the hold would pass `limit` bytes (or memory is
 * short): false, and nothing is appended. */
bool gw_hold_append(struct gw_hold *h, struct gw_pool *pool, const uint8_t *p, size_t n,
                    uint32_t limit);
void gw_hold_free(struct gw_hold *h, struct gw_pool *pool);

/* A borrowed hold points at bytes someone else owns (cap 0): it is read
 * and replayed like any hold while those bytes live, freed without a free;
 * gw_hold_own copies them into the hold's own storage (true, also when
 * there was nothing borrowed). Appending to a borrowed hold is an error. */
void gw_hold_borrow(struct gw_hold *h, struct gw_pool *pool, const uint8_t *p, size_t n);
bool gw_hold_own(struct gw_hold *h, struct gw_pool *pool, uint32_t limit);

#endif
