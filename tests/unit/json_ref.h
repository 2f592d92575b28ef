/*
 * json_ref.h - reference implementations the JSON writer's tests compare
 * with (test_record.c, test_recordfmt.c): a deterministic PRNG, an
 * arithmetic UTF-8 decoder and a byte-at-a-time escaper, written for
 * clarity, not speed. Included by one test file each (static functions).
 */
#ifndef GRPCWATCH_TEST_JSON_REF_H
#define GRPCWATCH_TEST_JSON_REF_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Small deterministic PRNG (xorshift64*). */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

/* Reference: the code point of a well-formed sequence of length k at p, or
 * -1. Decodes arithmetically and then rejects overlongs, surrogates and
 * values above U+10FFFF, per RFC 3629 section 3. */
static long ref_decode(const uint8_t *p, size_t n, size_t k)
{
    static const uint8_t lead_mask[5] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
    static const uint8_t lead_tag[5] = { 0, 0x00, 0xc0, 0xe0, 0xf0 };
    static const long min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };

    if (k > n || (p[0] & (uint8_t)~lead_mask[k]) != lead_tag[k]) return -1;
    long cp = p[0] & lead_mask[k];
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xc0) != 0x80) return -1;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min_cp[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
    return cp;
}

/* Reference escaper: the expected JSON text of a string value. */
static size_t ref_escape(const uint8_t *p, size_t n, char *out)
{
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n;) {
        uint8_t b = p[i];
        if (b == '"' || b == '\\') {
            out[o++] = '\\';
            out[o++] = (char)b;
            i++;
        } else if (b == '\n' || b == '\r' || b == '\t' || b == '\b' || b == '\f') {
            out[o++] = '\\';
            out[o++] = b == '\n' ? 'n' : b == '\r' ? 'r' : b == '\t' ? 't' : b == '\b' ? 'b' : 'f';
            i++;
        } else if (b < 0x20 || b == 0x7f) {
            o += (size_t)sprintf(out + o, "\\u%04x", b);
            i++;
        } else if (b < 0x80) {
            out[o++] = (char)b;
            i++;
        } else {
            size_t k;
            for (k = 2; k <= 4; k++)
                if (ref_decode(p + i, n - i, k) >= 0) break;
            if (k <= 4) {
                memcpy(out + o, p + i, k);
                o += k;
                i += k;
            } else {
                memcpy(out + o, "\\ufffd", 6);
                o += 6;
                i++;
            }
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return o;
}

#endif
