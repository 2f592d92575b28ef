/*
 * cursor.h - bounds-checked reads over a byte buffer.
 *
 * A cursor never reads past its end. A read that does not fit sets `err`
 * (sticky), leaves the position unchanged and returns 0, so a parser can do a
 * run of reads and check `err` once. Inline: it sits on the per-packet path.
 */
#ifndef GRPCWATCH_CURSOR_H
#define GRPCWATCH_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct gw_cursor {
    const uint8_t *p;
    size_t n;    /* total bytes */
    size_t off;  /* bytes consumed */
    bool err;    /* a read or skip went past the end */
};

static inline struct gw_cursor gw_cursor_make(const uint8_t *p, size_t n)
{
    struct gw_cursor c = { p, n, 0, false };
    return c;
}

static inline size_t gw_cursor_left(const struct gw_cursor *c) { return c->n - c->off; }
static inline const uint8_t *gw_cursor_ptr(const struct gw_cursor *c) { return c->p + c->off; }

static inline bool gw_cursor_need(struct gw_cursor *c, size_t k)
{
    if (c->err || gw_cursor_left(c) < k) {
        c->err = true;
        return false;
    }
    return true;
}

static inline uint8_t gw_get_u8(struct gw_cursor *c)
{
    if (!gw_cursor_need(c, 1)) return 0;
    return c->p[c->off++];
}

static inline uint16_t gw_get_be16(struct gw_cursor *c)
{
    if (!gw_cursor_need(c, 2)) return 0;
    const uint8_t *q = c->p + c->off;
    c->off += 2;
    return (uint16_t)((q[0] << 8) | q[1]);
}

static inline uint16_t gw_get_le16(struct gw_cursor *c)
{
    if (!gw_cursor_need(c, 2)) return 0;
    const uint8_t *q = c->p + c->off;
    c->off += 2;
    return (uint16_t)((q[1] << 8) | q[0]);
}

static inline uint32_t gw_get_be24(struct gw_cursor *c)
{
    if (!gw_cursor_need(c, 3)) return 0;
    const uint8_t *q = c->p + c->off;
    c->off += 3;
    return ((uint32_t)q[0] << 16) | ((uint32_t)q[1] << 8) | q[2];
}

static inline uint32_t gw_get_be32(struct gw_cursor *c)
{
    if (!gw_cursor_need(c, 4)) return 0;
    const uint8_t *q = c->p + c->off;
    c->off += 4;
    return ((uint32_t)q[0] << 24) | ((uint32_t)q[1] << 16) | ((uint32_t)q[2] << 8) | q[3];
}

static inline uint32_t gw_get_le32(struct gw_cursor *c)
{
    if (!gw_cursor_need(c, 4)) return 0;
    const uint8_t *q = c->p + c->off;
    c->off += 4;
    return ((uint32_t)q[3] << 24) | ((uint32_t)q[2] << 16) | ((uint32_t)q[1] << 8) | q[0];
}

/* Returns a pointer to the next k bytes and consumes them, or NULL. */
static inline const uint8_t *gw_get_bytes(struct gw_cursor *c, size_t k)
{
    if (!gw_cursor_need(c, k)) return NULL;
    const uint8_t *q = c->p + c->off;
    c->off += k;
    return q;
}

static inline bool gw_skip(struct gw_cursor *c, size_t k)
{
    if (!gw_cursor_need(c, k)) return false;
    c->off += k;
    return true;
}

/* The byte i positions ahead, without consuming it or touching err; -1
 * when the cursor ends before it (or has failed). For formats that must
 * judge a prefix byte by byte before the whole header is there. */
static inline int gw_peek_u8(const struct gw_cursor *c, size_t i)
{
    if (c->err || i >= gw_cursor_left(c)) return -1;
    return c->p[c->off + i];
}

/* A fresh cursor over the next min(k, left) bytes of c, which is not
 * consumed: a view of what a length field announces, cut to what is there. */
static inline struct gw_cursor gw_cursor_window(const struct gw_cursor *c, size_t k)
{
    if (c->err) return gw_cursor_make(c->p, 0);
    size_t left = gw_cursor_left(c);
    return gw_cursor_make(gw_cursor_ptr(c), k < left ? k : left);
}

/* A sub-cursor over the next k bytes (consumed from c). err set if short. */
static inline struct gw_cursor gw_cursor_sub(struct gw_cursor *c, size_t k)
{
    const uint8_t *q = gw_get_bytes(c, k);
    struct gw_cursor s = { q, q ? k : 0, 0, q == NULL };
    return s;
}

/* ---- scanning: the loops parsers would otherwise write over raw bytes ---- */

/* Bytes at the cursor satisfying pred, without consuming. Inline with a
 * static pred, the compiler folds the call: no indirect call per byte. */
static inline size_t gw_cursor_span(const struct gw_cursor *c, bool (*pred)(uint8_t))
{
    size_t k = 0, left = c->err ? 0 : gw_cursor_left(c);
    while (k < left && pred(c->p[c->off + k])) k++;
    return k;
}

/* Consumes the bytes satisfying pred; how many. */
static inline size_t gw_skip_while(struct gw_cursor *c, bool (*pred)(uint8_t))
{
    size_t k = gw_cursor_span(c, pred);
    c->off += k;
    return k;
}

/* Drops the bytes satisfying pred from both ends of what is left (the end
 * moves in: only a cursor over a field, never a whole buffer, is trimmed). */
static inline void gw_cursor_trim(struct gw_cursor *c, bool (*pred)(uint8_t))
{
    gw_skip_while(c, pred);
    while (!c->err && c->n > c->off && pred(c->p[c->n - 1])) c->n--;
}

/* Offset of the first byte ch at the cursor, or gw_cursor_left() if none.
 * Consumes nothing. */
static inline size_t gw_cursor_find(const struct gw_cursor *c, uint8_t ch)
{
    size_t left = c->err ? 0 : gw_cursor_left(c);
    const uint8_t *q = left ? memchr(gw_cursor_ptr(c), ch, left) : NULL;
    return q ? (size_t)(q - gw_cursor_ptr(c)) : left;
}

enum gw_cursor_match { GW_MATCH_NO = 0, GW_MATCH_PREFIX, GW_MATCH_FULL };

/* Compares what is at the cursor with the k bytes of lit when only a
 * prefix may be there yet (sniffing a stream): GW_MATCH_NO if a byte
 * differs, GW_MATCH_PREFIX if fewer than k bytes are there and all agree,
 * GW_MATCH_FULL if all k are there. Consumes nothing. */
static inline enum gw_cursor_match gw_cursor_match(const struct gw_cursor *c, const void *lit, size_t k)
{
    size_t left = c->err ? 0 : gw_cursor_left(c);
    size_t m = k < left ? k : left;
    if (m && memcmp(gw_cursor_ptr(c), lit, m) != 0) return GW_MATCH_NO;
    return m == k ? GW_MATCH_FULL : GW_MATCH_PREFIX;
}

#endif
