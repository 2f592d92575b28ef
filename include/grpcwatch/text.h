/*
 * text.h - the ASCII text helpers the HTTP/1.x, gRPC-Web and gRPC parsers
 * share: case-insensitive comparison with a literal, bounded copies into
 * fixed char arrays, decimal numbers.
 *
 * Inputs are byte ranges (p, n), not NUL-terminated; every read goes
 * through the cursor (cursor.h) or one check of the length, so none
 * passes n. Literals are lowercase
 * ASCII. The character classes are inline: parsers call them per byte.
 */
#ifndef GRPCWATCH_TEXT_H
#define GRPCWATCH_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define GW_TEXT_STATUS_MAX_DIGITS 3 /* HTTP status and gRPC status are 0..999 */

static inline uint8_t gw_ascii_lower(uint8_t ch)
{
    return (uint8_t)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
}

static inline bool gw_is_digit(uint8_t ch) { return ch >= '0' && ch <= '9'; }
static inline bool gw_is_blank(uint8_t ch) { return ch == ' ' || ch == '\t'; }

/* The first k bytes of p/n (k <= n) equal lit[0..k), ignoring ASCII case. */
bool gw_text_eq_ci_n(const uint8_t *p, size_t n, const char *lit, size_t k);

/* p/n equals the lowercase literal lit, ignoring ASCII case. Inline so a
 * literal's strlen and first byte are folded at compile time: most calls
 * (header names) differ in length or first byte and cost one or two
 * comparisons. */
static inline bool gw_text_eq_ci(const uint8_t *p, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    /* n == k >= 1 makes p[0] a byte of p/n; the first byte tells most
     * names of one length apart (":path", "grpc-...", "content-type") */
    if (n != k) return false;
    if (k == 0) return true;
    return gw_ascii_lower(p[0]) == (uint8_t)lit[0] && gw_text_eq_ci_n(p + 1, n - 1, lit + 1, k - 1);
}

/* Bytes 'A'..'Z' of the 8 in x lowered, every other byte as it was. Each
 * sum stays within its byte (h <= 0x7f), so no lane carries into the next. */
static inline uint64_t gw_ascii_lower8(uint64_t x)
{
    const uint64_t ones = UINT64_C(0x0101010101010101);
    uint64_t h = x & (0x7f * ones);
    uint64_t ge_a = h + (0x80 - 'A') * ones; /* bit 7: h >= 'A' */
    uint64_t gt_z = h + (0x7f - 'Z') * ones; /* bit 7: h > 'Z' */
    uint64_t upper = ge_a & ~gt_z & ~x & (0x80 * ones);
    return x | (upper >> 2);
}

/* gw_text_eq_ci for a literal of 4..16 bytes and n == strlen(lit) already
 * checked: two overlapping word loads of p, lowered at once, against the
 * literal's words (folded at compile time). A few instructions whatever
 * the length, and no loop for the compiler to unroll per literal. */
static inline bool gw_text_eq_ci_word(const uint8_t *p, const char *lit, size_t n)
{
    if (n >= 8) {
        uint64_t a, b, la, lb;
        memcpy(&a, p, 8);
        memcpy(&b, p + n - 8, 8);
        memcpy(&la, lit, 8);
        /* n is lit's length (cppcheck pairs one call's n with another's
         * literal) */
        // cppcheck-suppress pointerOutOfBoundsCond
        memcpy(&lb, lit + n - 8, 8);
        return gw_ascii_lower8(a) == la && gw_ascii_lower8(b) == lb;
    }
    uint32_t a, b, la, lb;
    memcpy(&a, p, 4);
    memcpy(&b, p + n - 4, 4);
    memcpy(&la, lit, 4);
    // cppcheck-suppress pointerOutOfBoundsCond
    memcpy(&lb, lit + n - 4, 4);
    return (uint32_t)gw_ascii_lower8(a) == la && (uint32_t)gw_ascii_lower8(b) == lb;
}

/* p/n starts with the lowercase literal lit, ignoring ASCII case. */
static inline bool gw_text_prefix_ci(const uint8_t *p, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    return n >= k && gw_text_eq_ci_n(p, k, lit, k);
}

/* Copies at most cap - 1 bytes of p/n into dst and NUL-terminates it
 * (cap > 0); true if it had to cut. */
bool gw_text_copy(char *dst, size_t cap, const uint8_t *p, size_t n);

/* The same, lowercased; returns how many bytes were copied. */
size_t gw_text_copy_lower(char *dst, size_t cap, const uint8_t *p, size_t n);

/* 1*DIGIT into *out; false if empty, not all digits or past UINT64_MAX
 * (*out untouched then). */
bool gw_text_parse_u64(const uint8_t *p, size_t n, uint64_t *out);

/* A status: 1..GW_TEXT_STATUS_MAX_DIGITS decimal digits, else -1 (also for
 * p NULL). */
int32_t gw_text_parse_status(const uint8_t *p, size_t n);

#endif
