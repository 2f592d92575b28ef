/*
 * text.c - shared ASCII text helpers (text.h).
 *
 * Every byte of the input is read through a cursor (the one bounds check
 * is the cursor's, however the caller computed n), but for the comparison
 * with a literal, which checks its length once.
 */
#include "grpcwatch/text.h"

#include "grpcwatch/common.h"
#include "grpcwatch/cursor.h"

#include <string.h>

bool gw_text_eq_ci_n(const uint8_t *p, size_t n, const char *lit, size_t k)
{
    /* the one bounds check, for all k bytes: a cursor's per byte cost 2k
     * instructions more on every header name of every call */
    if (k > n) return false;
    for (size_t i = 0; i < k; i++)
        if (gw_ascii_lower(p[i]) != (uint8_t)lit[i]) return false;
    return true;
}

bool gw_text_copy(char *dst, size_t cap, const uint8_t *p, size_t n)
{
    size_t k = GW_MIN(n, cap - 1);
    if (k) memcpy(dst, p, k);
    dst[k] = '\0';
    return k < n;
}

size_t gw_text_copy_lower(char *dst, size_t cap, const uint8_t *p, size_t n)
{
    size_t k = GW_MIN(n, cap - 1);
    struct gw_cursor c = gw_cursor_make(p, k);
    for (size_t i = 0; i < k; i++) dst[i] = (char)gw_ascii_lower(gw_get_u8(&c));
    dst[k] = '\0';
    return k;
}

bool gw_text_parse_u64(const uint8_t *p, size_t n, uint64_t *out)
{
    uint64_t x = 0;
    if (n == 0) return false;
    struct gw_cursor c = gw_cursor_make(p, n);
    while (gw_cursor_left(&c)) {
        uint8_t ch = gw_get_u8(&c);
        if (!gw_is_digit(ch)) return false;
        uint64_t d = (uint64_t)(ch - '0');
        if (x > (UINT64_MAX - d) / 10) return false;
        x = x * 10 + d;
    }
    *out = x;
    return true;
}

int32_t gw_text_parse_status(const uint8_t *p, size_t n)
{
    uint64_t v;
    if (!p || n == 0 || n > GW_TEXT_STATUS_MAX_DIGITS || !gw_text_parse_u64(p, n, &v)) return -1;
    return (int32_t)v;
}
