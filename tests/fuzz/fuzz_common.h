/*
 * fuzz_common.h - helpers shared by the libFuzzer targets in tests/fuzz/.
 *
 * Invariants:
 *  - Header-only and static: each fuzz_*.c is its own executable.
 *  - fz_* input readers never read past the input; a read past the end
 *    yields 0 / an empty span, so a target can consume control bytes
 *    without checking lengths first (FuzzedDataProvider style, from the
 *    front).
 *  - FZ_CHECK aborts with a message: a contract violation found by a target
 *    is reported by libFuzzer like a crash and its input saved.
 */
#ifndef GRPCWATCH_FUZZ_COMMON_H
#define GRPCWATCH_FUZZ_COMMON_H

#include "grpcwatch/common.h"
#include "grpcwatch/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(cond, ...)                                                  \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__,       \
                    __LINE__, #cond);                                        \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* ---- input consumption ---------------------------------------------------- */

struct fz_in {
    const uint8_t *p;
    size_t n, off;
};

static inline struct fz_in fz_in_make(const uint8_t *p, size_t n)
{
    struct fz_in in = { p, n, 0 };
    return in;
}

static inline size_t fz_left(const struct fz_in *in) { return in->n - in->off; }

static inline uint8_t fz_u8(struct fz_in *in)
{
    return fz_left(in) ? in->p[in->off++] : 0;
}

static inline uint16_t fz_be16(struct fz_in *in)
{
    uint16_t hi = fz_u8(in);
    return (uint16_t)((hi << 8) | fz_u8(in));
}

/* Up to want bytes (fewer at the end of the input); *got says how many. */
static inline const uint8_t *fz_bytes(struct fz_in *in, size_t want, size_t *got)
{
    size_t k = GW_MIN(want, fz_left(in));
    const uint8_t *q = in->p + in->off;
    in->off += k;
    *got = k;
    return q;
}

/* ---- a configuration that keeps every cap small ---------------------------- */

/* Small caps make eviction, timeouts and limits reachable with small inputs,
 * and keep per-input setup cheap (the flow table is allocated per input). */
static inline void fz_small_config(struct gw_config *cfg)
{
    gw_config_defaults(cfg);
    cfg->flow_max = 8;
    cfg->flow_timeout_new = 2;
    cfg->flow_timeout_established = 5;
    cfg->flow_timeout_closed = 1;
    cfg->reasm_ooo_max_bytes = 8192;
    cfg->reasm_ooo_max_segments = 16;
    cfg->reasm_memcap = 64 * 1024;
    cfg->h2_max_streams = 16;
    cfg->h2_max_header_table = 4096;
    cfg->h2_max_header_list = 16384;
    cfg->stats_interval = 1;
    snprintf(cfg->cred_keys[0], sizeof cfg->cred_keys[0], "x-session");
    cfg->n_cred_keys = 1;
}

/* ---- JSON validation --------------------------------------------------------
 * The record writer promises a valid JSON line whatever bytes arrive. This is
 * a strict RFC 8259 checker (UTF-8 included), recursive with a depth cap. */

struct fz_json {
    const uint8_t *p;
    size_t n, i;
    int depth;
};

static bool fz_json_value(struct fz_json *j);

static inline void fz_json_ws(struct fz_json *j)
{
    while (j->i < j->n && (j->p[j->i] == ' ' || j->p[j->i] == '\t' ||
                           j->p[j->i] == '\n' || j->p[j->i] == '\r'))
        j->i++;
}

static inline bool fz_json_lit(struct fz_json *j, const char *lit)
{
    size_t k = strlen(lit);
    if (j->n - j->i < k || memcmp(j->p + j->i, lit, k) != 0) return false;
    j->i += k;
    return true;
}

/* One UTF-8 sequence (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
static inline bool fz_json_utf8(struct fz_json *j)
{
    uint8_t b = j->p[j->i];
    size_t len;
    uint32_t cp, min;
    if (b < 0x80) { j->i++; return true; }
    if ((b & 0xe0) == 0xc0) { len = 2; cp = b & 0x1f; min = 0x80; }
    else if ((b & 0xf0) == 0xe0) { len = 3; cp = b & 0x0f; min = 0x800; }
    else if ((b & 0xf8) == 0xf0) { len = 4; cp = b & 0x07; min = 0x10000; }
    else return false;
    if (j->n - j->i < len) return false;
    for (size_t k = 1; k < len; k++) {
        uint8_t c = j->p[j->i + k];
        if ((c & 0xc0) != 0x80) return false;
        cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    j->i += len;
    return true;
}

static inline bool fz_json_string(struct fz_json *j)
{
    if (j->i >= j->n || j->p[j->i] != '"') return false;
    j->i++;
    while (j->i < j->n) {
        uint8_t c = j->p[j->i];
        if (c == '"') { j->i++; return true; }
        if (c < 0x20) return false;
        if (c == '\\') {
            if (++j->i >= j->n) return false;
            c = j->p[j->i++];
            if (c == 'u') {
                for (int k = 0; k < 4; k++, j->i++) {
                    if (j->i >= j->n) return false;
                    uint8_t h = j->p[j->i];
                    if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')))
                        return false;
                }
            } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
                return false;
            }
            continue;
        }
        if (!fz_json_utf8(j)) return false;
    }
    return false;
}

static inline bool fz_json_digits(struct fz_json *j)
{
    size_t start = j->i;
    while (j->i < j->n && j->p[j->i] >= '0' && j->p[j->i] <= '9') j->i++;
    return j->i > start;
}

static inline bool fz_json_number(struct fz_json *j)
{
    if (j->i < j->n && j->p[j->i] == '-') j->i++;
    if (j->i < j->n && j->p[j->i] == '0') j->i++;
    else if (!fz_json_digits(j)) return false;
    if (j->i < j->n && j->p[j->i] == '.') {
        j->i++;
        if (!fz_json_digits(j)) return false;
    }
    if (j->i < j->n && (j->p[j->i] == 'e' || j->p[j->i] == 'E')) {
        j->i++;
        if (j->i < j->n && (j->p[j->i] == '+' || j->p[j->i] == '-')) j->i++;
        if (!fz_json_digits(j)) return false;
    }
    return true;
}

/* '{' members '}' or '[' values ']' */
static inline bool fz_json_container(struct fz_json *j, bool object)
{
    uint8_t close = object ? '}' : ']';
    if (++j->depth > 32) return false;
    j->i++;
    fz_json_ws(j);
    if (j->i < j->n && j->p[j->i] == close) {
        j->i++;
        j->depth--;
        return true;
    }
    for (;;) {
        if (object) {
            if (!fz_json_string(j)) return false;
            fz_json_ws(j);
            if (j->i >= j->n || j->p[j->i] != ':') return false;
            j->i++;
        }
        if (!fz_json_value(j)) return false;
        fz_json_ws(j);
        if (j->i >= j->n) return false;
        if (j->p[j->i] == close) break;
        if (j->p[j->i] != ',') return false;
        j->i++;
        fz_json_ws(j);
    }
    j->i++;
    j->depth--;
    return true;
}

static bool fz_json_value(struct fz_json *j)
{
    fz_json_ws(j);
    if (j->i >= j->n) return false;
    switch (j->p[j->i]) {
    case '{': return fz_json_container(j, true);
    case '[': return fz_json_container(j, false);
    case '"': return fz_json_string(j);
    case 't': return fz_json_lit(j, "true");
    case 'f': return fz_json_lit(j, "false");
    case 'n': return fz_json_lit(j, "null");
    default: return fz_json_number(j);
    }
}

/* True if buf[0..n) is exactly one JSON object followed by one '\n'. */
static inline bool fz_json_line_valid(const char *buf, size_t n)
{
    if (n < 3 || buf[n - 1] != '\n' || buf[0] != '{') return false;
    struct fz_json j = { (const uint8_t *)buf, n - 1, 0, 0 };
    if (!fz_json_value(&j)) return false;
    return j.i == j.n && memchr(buf, '\n', n - 1) == NULL;
}

#endif
