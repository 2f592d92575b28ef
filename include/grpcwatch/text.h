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
