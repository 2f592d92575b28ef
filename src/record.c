/*
 * record.c - the JSON writer, RFC 3339 timestamps, Community ID v1 and the
 * EVE-style record builders.
 *
 * Invariants:
 *  - The writer never writes past buf[cap - 1]: one byte is always kept for
 *    a terminating NUL, so buf is a C string whenever cap > 0.
 *  - Once `overflow` is set the writer appends nothing more; the caller drops
 *    the record. `overflow` also marks misuse that would make the output
 *    invalid JSON (a value where a key belongs, unbalanced or mismatched
 *    ends, nesting deeper than 16), so a record that finishes without
 *    overflow is always syntactically valid JSON. Whether a record overflows
 *    depends only on its bytes and cap (a piece is appended only if all of
 *    it fits; what a dropped record holds is unspecified).
 *  - Strings are escaped byte-exactly: '"', '\\' and bytes < 0x20 and 0x7f
 *    are escaped, well-formed UTF-8 (RFC 3629: no overlongs, no surrogates,
 *    nothing above U+10FFFF) is copied as is, and every byte that is not
 *    part of a well-formed sequence becomes the escape \ufffd.
 *  - The record builders write their members through spans: the same
 *    JSON and the same overflow rule, checked once per piece, with the
 *    level's bookkeeping done once per run of members. Their literals
 *    carry their own separators, so a builder's text shows its key order.
 *  - Keys given with GW_JSON_KEY and the record builders' own text
 *    (numbers, timestamps, addresses) are plain ASCII and are copied without
 *    escaping; GW_ASSERT builds check that.
 *  - No allocation, no stdio on the per-record path; every fixed-size
 *    string in the input structs is read with a bound (strnlen), so a
 *    missing NUL can not cause an over-read.
 */
#include "grpcwatch/record.h"

#include "grpcwatch/grpc.h"
#include "grpcwatch/policy.h"
#include "grpcwatch/tls.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

/* need_comma[] holds per-level state bits; the name predates the bits. */
#define LVL_COMMA 0x01u /* a member or element was written at this level */
#define LVL_ARRAY 0x02u /* the container is an array (else an object) */
#define LVL_KEY 0x04u   /* object: a key was written, its value is due */

#define JSON_MAX_DEPTH ((uint8_t)sizeof(((struct gw_json *)0)->need_comma))

void gw_json_init(struct gw_json *j, char *buf, size_t cap)
{
    j->buf = buf;
    j->cap = buf ? cap : 0;
    gw_json_reset(j);
}

void gw_json_reset(struct gw_json *j)
{
    /* need_comma[] is not cleared: a level's byte is set when it opens. */
    j->len = 0;
    j->overflow = j->cap == 0;
    j->depth = 0;
    if (j->cap > 0) j->buf[0] = '\0';
}

static inline void json_commit(struct gw_json *j, const char *end)
{
    j->len = (size_t)(end - j->buf);
    j->buf[j->len] = '\0';
}

/* ---- spans: pieces appended through a bare cursor ----------------------
 *
 * A span is a cursor over the free part of the buffer. Each piece (a
 * literal, a string, a number) is checked against the end once and copied
 * whole; the first piece that does not fit stops the span (nothing more is
 * written) and ending it marks the writer overflowed. So a span overflows
 * exactly when its text does not fit. The general calls below append
 * each of their pieces through a span of its own; the record builders
 * write a run of members whose order they know as one span (span_open ..
 * span_close), their keys as literals with the separators in them, and
 * skip the general calls' bookkeeping per piece. */
struct span {
    char *o;   /* the next byte */
    char *end; /* buf + cap - 1: the place of the NUL */
    bool full; /* a piece did not fit, or the writer had overflowed */
};

static void span_at(struct gw_json *j, struct span *s)
{
    /* a writer that has not overflowed has a buffer (cap 0 starts it so) */
    s->full = j->overflow;
    s->o = s->end = j->buf;
    if (s->full) return;
    s->o = j->buf + j->len;
    s->end = j->buf + j->cap - 1;
}

/* Commits what the span wrote, or marks the writer overflowed. */
static void span_end_at(struct gw_json *j, const struct span *s)
{
    if (!s->full) {
        json_commit(j, s->o);
        return;
    }
    j->overflow = 1;
    if (j->cap) j->buf[j->len] = '\0'; /* the pieces that fit may have covered it */
}

/* Room for n more bytes; if not, the span is full from now on. */
static inline bool span_room(struct span *s, size_t n)
{
    if (!s->full && (size_t)(s->end - s->o) >= n) return true;
    s->full = true;
    return false;
}

static inline void span_put(struct span *s, const char *p, size_t n)
{
    if (!span_room(s, n)) return;
    /* p holds n bytes (json_putc passes a written char; cppcheck does not
     * follow the pointer through the inline call) */
    // cppcheck-suppress uninitvar
    memcpy(s->o, p, n);
    s->o += n;
}

/* A literal: its length is known here, so the copy is a few moves. */
#define SPAN_LIT(s, lit) span_put((s), "" lit "", sizeof(lit) - 1)

/* Appends n raw bytes or sets overflow and appends nothing. */
static inline void json_put(struct gw_json *j, const char *s, size_t n)
{
    struct span sp;
    span_at(j, &sp);
    span_put(&sp, s, n);
    span_end_at(j, &sp);
}

static void json_putc(struct gw_json *j, char c) { json_put(j, &c, 1); }

/* Writes the separator a value needs at the current position and records
 * that the level now holds one; flags misuse as overflow. */
static void json_value_prefix(struct gw_json *j)
{
    if (j->overflow) return;
    if (j->depth == 0) {
        /* One top-level value per line: only at the start or after '\n'. */
        if (j->len != 0 && j->buf[j->len - 1] != '\n') j->overflow = 1;
        return;
    }
    uint8_t *lvl = &j->need_comma[j->depth - 1];
    if (*lvl & LVL_ARRAY) {
        if (*lvl & LVL_COMMA) json_putc(j, ',');
    } else if (!(*lvl & LVL_KEY)) {
        j->overflow = 1; /* a value in an object without a key */
        return;
    }
    *lvl = (uint8_t)((*lvl & ~LVL_KEY) | LVL_COMMA);
}

static void json_open(struct gw_json *j, char c, uint8_t kind)
{
    json_value_prefix(j);
    if (j->overflow) return;
    if (j->depth >= JSON_MAX_DEPTH) {
        j->overflow = 1;
        return;
    }
    json_putc(j, c);
    j->need_comma[j->depth++] = kind;
}

static void json_close(struct gw_json *j, char c, uint8_t kind)
{
    if (j->overflow) return;
    if (j->depth == 0) {
        j->overflow = 1;
        return;
    }
    uint8_t lvl = j->need_comma[j->depth - 1];
    if ((lvl & LVL_ARRAY) != kind || (lvl & LVL_KEY)) {
        j->overflow = 1; /* mismatched end, or a key left without value */
        return;
    }
    json_putc(j, c);
    if (!j->overflow) j->depth--;
}

void gw_json_object_begin(struct gw_json *j) { json_open(j, '{', 0); }
void gw_json_object_end(struct gw_json *j) { json_close(j, '}', 0); }
void gw_json_array_begin(struct gw_json *j) { json_open(j, '[', LVL_ARRAY); }
void gw_json_array_end(struct gw_json *j) { json_close(j, ']', LVL_ARRAY); }

/* ---- string escaping ---------------------------------------------------- */

/* Byte classes: copied as is, escaped ASCII, or >= 0x80 (UTF-8 or not).
 * One table lookup per byte instead of a chain of comparisons. */
enum { CLS_PLAIN = 0, CLS_ESC = 1, CLS_HIGH = 2 };
static const uint8_t byte_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 control */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 control */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20 '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50 '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, /* 0x70 DEL */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x80 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

#define SWAR_ONES UINT64_C(0x0101010101010101)
#define SWAR_HIGH UINT64_C(0x8080808080808080)

/* High bits where a byte of x is zero. Exact as a yes/no answer (a borrow
 * can only mark bytes above a byte that really is zero). */
static inline uint64_t swar_zero(uint64_t x) { return (x - SWAR_ONES) & ~x; }

/* Nonzero iff one of the 8 bytes in x is not CLS_PLAIN: < 0x20, '"', '\\',
 * 0x7f or >= 0x80. */
static inline uint64_t swar_special(uint64_t x)
{
    uint64_t m = x | ((x - SWAR_ONES * 0x20) & ~x); /* >= 0x80, < 0x20 */
    m |= swar_zero(x ^ (SWAR_ONES * '"')) | swar_zero(x ^ (SWAR_ONES * '\\'));
    m |= swar_zero(x ^ (SWAR_ONES * 0x7f));
    return m & SWAR_HIGH;
}

/* The end of the CLS_PLAIN bytes from p[i]: 8 at a time, the last few as
 * one word, and only where that word holds a special byte by table.
 * GCC at -O3, inlining this into a caller of a short literal, warns of an
 * 8-byte read past it: every 8-byte read lies within p[0..n). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
static inline size_t plain_end(const uint8_t *p, size_t i, size_t n)
{
    while (n - i >= 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        if (swar_special(x)) break;
        i += 8;
    }
    if (i < n && n - i < 8) {
        /* the tail in one word: the last 8 bytes (some seen already), or
         * fewer padded with a plain byte */
        uint64_t x = SWAR_ONES * 'a';
        if (n >= 8) memcpy(&x, p + n - 8, 8);
        else memcpy(&x, p + i, n - i);
        if (!swar_special(x)) return n;
    }
    while (i < n && byte_class[p[i]] == CLS_PLAIN) i++;
    return i;
}
#pragma GCC diagnostic pop

/* Length of the well-formed UTF-8 sequence starting at p[0] (a byte
 * >= 0x80), or 0 if the lead byte does not start one (RFC 3629 table). */
static size_t utf8_seq_len(const uint8_t *p, size_t n)
{
    uint8_t b = p[0];
    size_t need;
    uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */

    if (b >= 0xc2 && b <= 0xdf) {
        need = 2;
    } else if (b >= 0xe0 && b <= 0xef) {
        need = 3;
        if (b == 0xe0) lo = 0xa0;      /* overlong */
        else if (b == 0xed) hi = 0x9f; /* surrogates D800..DFFF */
    } else if (b >= 0xf0 && b <= 0xf4) {
        need = 4;
        if (b == 0xf0) lo = 0x90;      /* overlong */
        else if (b == 0xf4) hi = 0x8f; /* above U+10FFFF */
    } else {
        return 0; /* continuation byte, C0/C1 overlong, F5..FF */
    }
    if (n < need || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < need; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    return need;
}

/* The end of the bytes from p[i] that are copied verbatim: plain ASCII
 * and well-formed UTF-8 sequences. */
static size_t verbatim_end(const uint8_t *p, size_t i, size_t n)
{
    for (;;) {
        i = plain_end(p, i, n);
        if (i == n || byte_class[p[i]] != CLS_HIGH) return i;
        size_t k = utf8_seq_len(p + i, n - i);
        if (k == 0) return i;
        i += k;
    }
}

/* The escape of one byte that is not copied: at most 6 bytes into o. */
static size_t escape_byte(char *o, uint8_t b)
{
    static const char hex[] = "0123456789abcdef";
    char c = 0;

    switch (b) {
    case '"': c = '"'; break;
    case '\\': c = '\\'; break;
    case '\n': c = 'n'; break;
    case '\r': c = 'r'; break;
    case '\t': c = 't'; break;
    case '\b': c = 'b'; break;
    case '\f': c = 'f'; break;
    default: break;
    }
    o[0] = '\\';
    if (c) {
        o[1] = c;
        return 2;
    }
    if (b >= 0x80) {
        static const char replacement[5] = { 'u', 'f', 'f', 'f', 'd' }; /* no NUL: a JSON run */
        memcpy(o + 1, replacement, sizeof replacement); /* one replacement per invalid byte */
        return 6;
    }
    static const char u00[3] = { 'u', '0', '0' };
    memcpy(o + 1, u00, sizeof u00);
    o[4] = hex[b >> 4];
    o[5] = hex[b & 0xf];
    return 6;
}

static bool text_is_plain(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (byte_class[(uint8_t)s[i]] != CLS_PLAIN) return false;
    return true;
}

/* "p": text known to need no escaping (numbers, timestamps, addresses;
 * GW_ASSERT builds check). */
static inline void span_plain(struct span *s, const char *p, size_t n)
{
    GW_ASSERT(text_is_plain(p, n));
    if (!span_room(s, n + 2)) return;
    char *o = s->o;
    *o++ = '"';
    memcpy(o, p, n);
    o += n;
    *o++ = '"';
    s->o = o;
}

/* s as a quoted, escaped JSON string: one check per verbatim run and per
 * escape, not per byte; a string with nothing to escape is one piece. */
static void span_quoted(struct span *sp, const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;

    if (!s) n = 0;
    size_t i = plain_end(p, 0, n);
    if (i == n) {
        span_plain(sp, n ? s : "", n);
        return;
    }
    SPAN_LIT(sp, "\"");
    span_put(sp, s, i);
    while (i < n && !sp->full) {
        size_t end = verbatim_end(p, i, n);
        if (end > i) {
            span_put(sp, s + i, end - i);
            i = end;
            continue;
        }
        char e[6];
        span_put(sp, e, escape_byte(e, p[i]));
        i++;
    }
    SPAN_LIT(sp, "\"");
}

static void json_put_quoted(struct gw_json *j, const char *s, size_t n)
{
    struct span sp;
    span_at(j, &sp);
    span_quoted(&sp, s, n);
    span_end_at(j, &sp);
}

void gw_json_string(struct gw_json *j, const char *s, size_t n)
{
    json_value_prefix(j);
    json_put_quoted(j, s, n);
}

/* The level a key goes into, or NULL (and overflow) where none may. */
static uint8_t *json_key_level(struct gw_json *j)
{
    if (j->overflow) return NULL;
    if (j->depth == 0) {
        j->overflow = 1;
        return NULL;
    }
    uint8_t *lvl = &j->need_comma[j->depth - 1];
    if (*lvl & (LVL_ARRAY | LVL_KEY)) {
        j->overflow = 1; /* a key in an array, or two keys in a row */
        return NULL;
    }
    return lvl;
}

void gw_json_key(struct gw_json *j, const char *key)
{
    uint8_t *lvl = json_key_level(j);
    if (!lvl) return;
    if (*lvl & LVL_COMMA) json_putc(j, ',');
    json_put_quoted(j, key, key ? strlen(key) : 0);
    json_putc(j, ':');
    *lvl = LVL_COMMA | LVL_KEY;
}

void gw_json_key_plain(struct gw_json *j, const char *key, size_t n)
{
    GW_ASSERT(text_is_plain(key, n));
    uint8_t *lvl = json_key_level(j);
    if (!lvl) return;
    struct span sp;
    span_at(j, &sp);
    if (*lvl & LVL_COMMA) SPAN_LIT(&sp, ",");
    span_plain(&sp, key, n);
    SPAN_LIT(&sp, ":");
    span_end_at(j, &sp);
    if (!j->overflow) *lvl = LVL_COMMA | LVL_KEY;
}

void gw_json_members(struct gw_json *j, const char *text, size_t n)
{
    if (j->overflow || n == 0) return;
    /* Members follow members: the text starts with its own ','. */
    uint8_t *lvl = json_key_level(j);
    if (!lvl) return;
    if (!(*lvl & LVL_COMMA) || text[0] != ',') {
        j->overflow = 1;
        return;
    }
    json_put(j, text, n);
}

void gw_json_cstring(struct gw_json *j, const char *s)
{
    if (!s) gw_json_null(j);
    else gw_json_string(j, s, strlen(s));
}

/* ---- numbers ------------------------------------------------------------ */

static const char digit_pairs[201] = "0001020304050607080910111213141516171819"
                                     "2021222324252627282930313233343536373839"
                                     "4041424344454647484950515253545556575859"
                                     "6061626364656667686970717273747576777879"
                                     "8081828384858687888990919293949596979899";

static inline void put2(char *o, unsigned v) { memcpy(o, digit_pairs + 2 * v, 2); }

static size_t u64_digits(uint64_t v)
{
    size_t n = 1;
    for (uint64_t t = 10; n < GW_FMT_U64_MAX && v >= t; t *= 10) n++;
    return n;
}

size_t gw_fmt_u64(char *out, uint64_t v)
{
    size_t n = u64_digits(v);
    char *p = out + n;

    /* In place, two digits per division, from the right. */
    while (v >= 100) {
        p -= 2;
        put2(p, (unsigned)(v % 100));
        v /= 100;
    }
    if (v >= 10) put2(p - 2, (unsigned)v);
    else p[-1] = (char)('0' + v);
    return n;
}

size_t gw_fmt_i64(char *out, int64_t v)
{
    if (v >= 0) return gw_fmt_u64(out, (uint64_t)v);
    out[0] = '-';
    /* 0 - (uint64_t)v is |v| even for INT64_MIN. */
    return 1 + gw_fmt_u64(out + 1, UINT64_C(0) - (uint64_t)v);
}

void gw_json_int(struct gw_json *j, int64_t v)
{
    char tmp[GW_FMT_U64_MAX + 1];
    size_t n = gw_fmt_i64(tmp, v);
    json_value_prefix(j);
    json_put(j, tmp, n);
}

void gw_json_uint(struct gw_json *j, uint64_t v)
{
    char tmp[GW_FMT_U64_MAX];
    size_t n = gw_fmt_u64(tmp, v);
    json_value_prefix(j);
    json_put(j, tmp, n);
}

void gw_json_bool(struct gw_json *j, bool v)
{
    json_value_prefix(j);
    if (v) json_put(j, "true", 4);
    else json_put(j, "false", 5);
}

void gw_json_null(struct gw_json *j)
{
    json_value_prefix(j);
    json_put(j, "null", 4);
}

bool gw_json_finish(struct gw_json *j)
{
    /* Nothing written, unbalanced, or the line is already finished. */
    if (j->depth != 0 || j->len == 0 || j->buf[j->len - 1] == '\n') j->overflow = 1;
    json_putc(j, '\n');
    return !j->overflow;
}

/* ---- timestamps -------------------------------------------------------- */

/* 9999-12-31T23:59:59.999999Z: the last instant with a 4-digit year. */
#define TS_MAX_US INT64_C(253402300799999999)
#define TS_LEN 27        /* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" */
#define TS_SECS_LEN 19   /* "YYYY-MM-DDTHH:MM:SS" */

/* Proleptic Gregorian date of day z since 1970-01-01, z >= 0 (Howard
 * Hinnant's civil_from_days: what gmtime_r computes, without the libc
 * call and its locking). */
static void civil_from_days(int64_t z, unsigned *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);                           /* [0, 146096] */
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    unsigned mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (unsigned)(yoe + era * 400) + (*m <= 2);
}

/* "YYYY-MM-DDTHH:MM:SS" of secs in [0, TS_MAX_US / 1e6]. */
static void format_secs(int64_t secs, char *o)
{
    unsigned y, m, d;
    unsigned sod = (unsigned)(secs % 86400);

    civil_from_days(secs / 86400, &y, &m, &d);
    put2(o, y / 100);
    put2(o + 2, y % 100);
    o[4] = '-';
    put2(o + 5, m);
    o[7] = '-';
    put2(o + 8, d);
    o[10] = 'T';
    put2(o + 11, sod / 3600);
    o[13] = ':';
    put2(o + 14, sod / 60 % 60);
    o[16] = ':';
    put2(o + 17, sod % 60);
}

/* The text of ts (clamped) without a NUL: TS_LEN bytes into o. Records of
 * one second share the date and time; the last second's text is kept. */
static void format_ts(gw_time_us ts, char *o)
{
    static _Thread_local struct {
        int64_t secs;
        char text[TS_SECS_LEN];
    } last = { -1, { 0 } };

    /* Packet times before the epoch or past year 9999 are bogus; clamp so
     * the text is always a valid RFC 3339 timestamp. */
    if (ts < 0) ts = 0;
    if (ts > TS_MAX_US) ts = TS_MAX_US;
    int64_t secs = ts / 1000000;
    unsigned usec = (unsigned)(ts % 1000000);
    if (secs != last.secs) {
        format_secs(secs, last.text);
        last.secs = secs;
    }
    memcpy(o, last.text, TS_SECS_LEN);
    o[19] = '.';
    put2(o + 20, usec / 10000);
    put2(o + 22, usec / 100 % 100);
    put2(o + 24, usec % 100);
    o[26] = 'Z';
}

const char *gw_format_timestamp(gw_time_us ts, char *buf, size_t buflen)
{
    if (!buf || buflen == 0) return buf;
    buf[0] = '\0';
    if (buflen < TS_LEN + 1) return buf;
    format_ts(ts, buf);
    buf[TS_LEN] = '\0';
    return buf;
}

/* ---- Community ID v1 --------------------------------------------------- */

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* SHA-1 through libcrypto's direct interface: OpenSSL 3's EVP allocates a
 * context on every digest init (one malloc a flow, measured with the
 * bench's counter, whether the fetched SHA-1 and the context are reused or
 * not) and costs ~4.5k instructions through the provider; this is neither.
 * The interface is deprecated in 3.0 but kept (its deprecation is about
 * engines and providers, which a fixed SHA-1 of 40 bytes does not need). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void sha1(const uint8_t *in, size_t n, uint8_t digest[SHA_DIGEST_LENGTH])
{
    SHA_CTX ctx;
    SHA1_Init(&ctx);
    SHA1_Update(&ctx, in, n);
    SHA1_Final(digest, &ctx);
}
#pragma GCC diagnostic pop

void gw_community_id(uint16_t seed, const struct gw_addr *src, uint16_t sport,
                     const struct gw_addr *dst, uint16_t dport, uint8_t proto,
                     char *out, size_t outlen)
{
    /* seed(2) saddr(16) daddr(16) proto(1) pad(1) sport(2) dport(2) */
    uint8_t in[2 + 16 + 16 + 1 + 1 + 2 + 2];
    uint8_t digest[SHA_DIGEST_LENGTH];
    size_t alen, off = 0;

    if (!out || outlen == 0) return;
    out[0] = '\0';
    /* "1:" + 28 base64 chars + NUL. An unknown tuple gives "" (the spec
     * allows an empty string for what a monitor can not hash). */
    if (outlen < 31 || !src || !dst || src->family != dst->family) return;
    if (src->family == 4) alen = 4;
    else if (src->family == 6) alen = 16;
    else return;

    /* The endpoint with the smaller (address, port) comes first. */
    int c = memcmp(src->bytes, dst->bytes, alen);
    if (c > 0 || (c == 0 && sport > dport)) {
        const struct gw_addr *ta = src;
        uint16_t tp = sport;
        src = dst;
        dst = ta;
        sport = dport;
        dport = tp;
    }
    put_be16(in + off, seed);
    off += 2;
    memcpy(in + off, src->bytes, alen);
    off += alen;
    memcpy(in + off, dst->bytes, alen);
    off += alen;
    in[off++] = proto;
    in[off++] = 0;
    put_be16(in + off, sport);
    off += 2;
    put_be16(in + off, dport);
    off += 2;

    sha1(in, off, digest);
    out[0] = '1';
    out[1] = ':';
    EVP_EncodeBlock((unsigned char *)out + 2, digest, SHA_DIGEST_LENGTH); /* 28 chars + NUL */
}

/* ---- record builders --------------------------------------------------- */

void gw_json_kv_str(struct gw_json *j, const char *key, const char *s)
{
    gw_json_key(j, key);
    gw_json_cstring(j, s);
}

void gw_json_kv_uint(struct gw_json *j, const char *key, uint64_t v)
{
    gw_json_key(j, key);
    gw_json_uint(j, v);
}

/* A run of members of the object open at this level, written as one span:
 * false (and overflow) where members may not go, as for a key. The ','
 * before the first is written here if the object holds a member already;
 * each member after it starts with its own. */
static bool span_open(struct gw_json *j, struct span *s)
{
    uint8_t *lvl = json_key_level(j);
    if (!lvl) return false;
    span_at(j, s);
    if (*lvl & LVL_COMMA) SPAN_LIT(s, ",");
    return true;
}

static void span_close(struct gw_json *j, const struct span *s)
{
    span_end_at(j, s);
    if (!j->overflow) j->need_comma[j->depth - 1] = LVL_COMMA;
}

static void span_u64(struct span *s, uint64_t v)
{
    if (!s->full && (size_t)(s->end - s->o) >= GW_FMT_U64_MAX) {
        s->o += gw_fmt_u64(s->o, v);
        return;
    }
    char tmp[GW_FMT_U64_MAX];
    span_put(s, tmp, gw_fmt_u64(tmp, v));
}

static void span_cstring(struct span *s, const char *str)
{
    if (!str) SPAN_LIT(s, "null");
    else span_quoted(s, str, strlen(str));
}

/* A fixed-size field, read no further than its array even without a NUL. */
static void span_field(struct span *s, const char *str, size_t size)
{
    span_quoted(s, str, strnlen(str, size));
}

/* ...null when empty. */
static void span_field_or_null(struct span *s, const char *str, size_t size)
{
    if (size == 0 || str[0] == '\0') SPAN_LIT(s, "null");
    else span_field(s, str, size);
}

/* A gw_grpc_str: null when absent. */
static void span_grpc_str(struct span *s, const struct gw_grpc_str *g)
{
    if (!g->present) SPAN_LIT(s, "null");
    else span_field(s, g->s, sizeof g->s);
}

/* A status code: null when none (-1). */
static void span_status(struct span *s, int32_t v)
{
    if (v < 0) SPAN_LIT(s, "null");
    else span_u64(s, (uint64_t)v);
}

/* An address; t, when given, is its text already formatted (see
 * gw_record_head). */
static void span_addr(struct span *s, const struct gw_addr *a, const struct gw_addr_text *t)
{
    if (!a || (a->family != 4 && a->family != 6)) {
        SPAN_LIT(s, "null");
    } else if (t) {
        span_plain(s, t->s, t->len);
    } else {
        char tmp[GW_ADDR_STR_MAX];
        span_plain(s, tmp, gw_addr_fmt(a, tmp));
    }
}

static const char *tunnel_type_str(uint8_t type)
{
    static const char *const names[] = {
        [GW_TUNNEL_NONE] = "none",       [GW_TUNNEL_GRE] = "gre",
        [GW_TUNNEL_ERSPAN2] = "erspan2", [GW_TUNNEL_ERSPAN3] = "erspan3",
        [GW_TUNNEL_VXLAN] = "vxlan",     [GW_TUNNEL_GENEVE] = "geneve",
        [GW_TUNNEL_IPIP] = "ipip",       [GW_TUNNEL_MPLS] = "mpls",
    };
    return type < GW_ARRAY_LEN(names) ? names[type] : "unknown";
}

static void record_tunnel(struct span *s, const struct gw_tunnel *t)
{
    SPAN_LIT(s, ",\"tunnel\":{\"type\":");
    span_cstring(s, tunnel_type_str(t->type));
    SPAN_LIT(s, ",\"outer_src_ip\":");
    span_addr(s, &t->outer_src, NULL);
    SPAN_LIT(s, ",\"outer_dest_ip\":");
    span_addr(s, &t->outer_dst, NULL);
    SPAN_LIT(s, ",\"id\":");
    span_u64(s, t->id);
    SPAN_LIT(s, "}");
}

void gw_record_begin_event(struct gw_json *j, gw_time_us ts, const char *event_type)
{
    char tsbuf[TS_LEN];
    struct span s;

    gw_json_object_begin(j);
    if (!span_open(j, &s)) return;
    SPAN_LIT(&s, "\"timestamp\":");
    format_ts(ts, tsbuf);
    span_plain(&s, tsbuf, TS_LEN);
    SPAN_LIT(&s, ",\"event_type\":");
    span_cstring(&s, event_type);
    span_close(j, &s);
}

void gw_record_begin(struct gw_json *j, const struct gw_record_head *h)
{
    gw_record_begin_event(j, h->ts, h->event_type);
    gw_record_head_fields(j, h);
}

void gw_record_head_fields(struct gw_json *j, const struct gw_record_head *h)
{
    struct span s;

    if (!span_open(j, &s)) return;
    SPAN_LIT(&s, "\"flow_id\":");
    span_u64(&s, h->flow_id);
    SPAN_LIT(&s, ",\"community_id\":");
    span_cstring(&s, h->community_id);
    SPAN_LIT(&s, ",\"src_ip\":");
    span_addr(&s, h->src, h->src_text);
    SPAN_LIT(&s, ",\"src_port\":");
    span_u64(&s, h->sport);
    SPAN_LIT(&s, ",\"dest_ip\":");
    span_addr(&s, h->dst, h->dst_text);
    SPAN_LIT(&s, ",\"dest_port\":");
    span_u64(&s, h->dport);
    SPAN_LIT(&s, ",\"proto\":\"TCP\"");
    if (h->app_proto) {
        SPAN_LIT(&s, ",\"app_proto\":");
        span_cstring(&s, h->app_proto);
    }
    if (h->tunnel && h->tunnel->type != GW_TUNNEL_NONE) record_tunnel(&s, h->tunnel);
    span_close(j, &s);
}

/* ,"metadata_keys":[...],"credential_keys":[...] */
static void grpc_keys(struct span *s, const struct gw_grpc_call *c)
{
    size_t n = GW_MIN((size_t)c->n_metadata_keys, (size_t)GW_GRPC_MAX_KEYS);

    SPAN_LIT(s, ",\"metadata_keys\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) SPAN_LIT(s, ",");
        span_field(s, c->metadata_keys[i], sizeof c->metadata_keys[i]);
    }
    SPAN_LIT(s, "],\"credential_keys\":[");
    bool first = true;
    for (size_t i = 0; i < n && i < 32; i++) {
        if (!(c->credential_mask & (UINT32_C(1) << i))) continue;
        if (!first) SPAN_LIT(s, ",");
        first = false;
        span_field(s, c->metadata_keys[i], sizeof c->metadata_keys[i]);
    }
    SPAN_LIT(s, "]");
}

/* Names with a flag each: those set are written as array elements. */
struct named_flag {
    const char *name;
    bool set;
};

static bool any_set(const struct named_flag *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (f[i].set) return true;
    return false;
}

static void span_names(struct span *s, const struct named_flag *f, size_t n)
{
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (!f[i].set) continue;
        if (!first) SPAN_LIT(s, ",");
        first = false;
        span_cstring(s, f[i].name);
    }
}

/* "messages_partial": the directions whose message count is a lower bound
 * (bytes of that stream were lost, or its start was not seen);
 * "truncated": the names of the fields that were cut. Each omitted if empty. */
static void grpc_partial_and_truncated(struct span *s, const struct gw_grpc_call *c)
{
    const struct named_flag partial[] = {
        { "request", (c->messages_partial & GW_GRPC_PARTIAL_REQUEST) != 0 },
        { "response", (c->messages_partial & GW_GRPC_PARTIAL_RESPONSE) != 0 },
    };
    const struct named_flag truncated[] = {
        { "path", c->path_truncated },
        { "authority", c->authority.truncated },
        { "content_type", c->content_type.truncated },
        { "user_agent", c->user_agent.truncated },
        { "grpc_message", c->grpc_message.truncated },
        { "grpc_encoding", c->grpc_encoding.truncated },
        { "metadata_keys", c->metadata_keys_truncated },
    };
    if (any_set(partial, GW_ARRAY_LEN(partial))) {
        SPAN_LIT(s, ",\"messages_partial\":[");
        span_names(s, partial, GW_ARRAY_LEN(partial));
        SPAN_LIT(s, "]");
    }
    if (any_set(truncated, GW_ARRAY_LEN(truncated))) {
        SPAN_LIT(s, ",\"truncated\":[");
        span_names(s, truncated, GW_ARRAY_LEN(truncated));
        SPAN_LIT(s, "]");
    }
}

void gw_record_grpc_object(struct gw_json *j, const struct gw_grpc_call *c)
{
    struct span s;

    if (!span_open(j, &s)) return;
    SPAN_LIT(&s, "\"grpc\":{\"path\":");
    if (!c->path_present) SPAN_LIT(&s, "null");
    else span_field(&s, c->path, sizeof c->path);
    SPAN_LIT(&s, ",\"service\":");
    span_field_or_null(&s, c->service, sizeof c->service);
    SPAN_LIT(&s, ",\"method\":");
    span_field_or_null(&s, c->method, sizeof c->method);
    SPAN_LIT(&s, ",\"authority\":");
    span_grpc_str(&s, &c->authority);
    SPAN_LIT(&s, ",\"content_type\":");
    span_grpc_str(&s, &c->content_type);
    SPAN_LIT(&s, ",\"user_agent\":");
    span_grpc_str(&s, &c->user_agent);
    grpc_keys(&s, c);
    SPAN_LIT(&s, ",\"grpc_status\":");
    span_status(&s, c->grpc_status);
    SPAN_LIT(&s, ",\"grpc_message\":");
    span_grpc_str(&s, &c->grpc_message);
    SPAN_LIT(&s, ",\"http_status\":");
    span_status(&s, c->http_status);
    SPAN_LIT(&s, ",\"request_messages\":");
    span_u64(&s, c->request_messages);
    SPAN_LIT(&s, ",\"response_messages\":");
    span_u64(&s, c->response_messages);
    SPAN_LIT(&s, ",\"request_bytes\":");
    span_u64(&s, c->request_bytes);
    SPAN_LIT(&s, ",\"response_bytes\":");
    span_u64(&s, c->response_bytes);
    if (c->grpc_encoding.present) {
        SPAN_LIT(&s, ",\"grpc_encoding\":");
        span_grpc_str(&s, &c->grpc_encoding);
    }
    if (c->midstream) SPAN_LIT(&s, ",\"midstream\":true");
    grpc_partial_and_truncated(&s, c);
    SPAN_LIT(&s, ",\"ended_by\":");
    span_cstring(&s, gw_end_str(c->ended_by));
    SPAN_LIT(&s, "}");
    span_close(j, &s);
}

void gw_record_alert_object(struct gw_json *j, const struct gw_alert *a)
{
    struct span s;

    if (!span_open(j, &s)) return;
    /* a passive sensor blocks nothing */
    SPAN_LIT(&s, "\"alert\":{\"action\":\"allowed\",\"gid\":1,\"signature_id\":");
    span_u64(&s, a->signature_id);
    SPAN_LIT(&s, ",\"rev\":1,\"signature\":");
    span_cstring(&s, a->signature);
    SPAN_LIT(&s, ",\"category\":");
    span_cstring(&s, a->category);
    SPAN_LIT(&s, ",\"severity\":");
    span_u64(&s, a->severity);
    SPAN_LIT(&s, "}");
    span_close(j, &s);
}

void gw_record_loss_object(struct gw_json *j, const struct gw_record_loss *l)
{
    struct span s;
    if (!l->gap_bytes[0] && !l->gap_bytes[1] && !l->stopped[0] && !l->stopped[1] &&
        !l->resynced[0] && !l->resynced[1])
        return;
    const struct named_flag stopped[] = {
        { "to_server", l->stopped[0] },
        { "to_client", l->stopped[1] },
    };
    const struct named_flag resynced[] = {
        { "to_server", l->resynced[0] && !l->stopped[0] },
        { "to_client", l->resynced[1] && !l->stopped[1] },
    };
    if (!span_open(j, &s)) return;
    SPAN_LIT(&s, "\"loss\":{\"gap_bytes_to_server\":");
    span_u64(&s, l->gap_bytes[0]);
    SPAN_LIT(&s, ",\"gap_bytes_to_client\":");
    span_u64(&s, l->gap_bytes[1]);
    SPAN_LIT(&s, ",\"gaps_to_server\":");
    span_u64(&s, l->gaps[0]);
    SPAN_LIT(&s, ",\"gaps_to_client\":");
    span_u64(&s, l->gaps[1]);
    SPAN_LIT(&s, ",\"decoding_stopped\":[");
    span_names(&s, stopped, GW_ARRAY_LEN(stopped));
    SPAN_LIT(&s, "],\"decoding_resynced\":[");
    span_names(&s, resynced, GW_ARRAY_LEN(resynced));
    SPAN_LIT(&s, "]}");
    span_close(j, &s);
}

/* The version a ClientHello offers: the highest supported_versions entry,
 * else the legacy client_version. */
static uint16_t tls_offered_version(const struct gw_tls_info *t)
{
    uint16_t best = 0;
    size_t n = GW_MIN((size_t)t->n_offered_versions, GW_ARRAY_LEN(t->offered_versions));

    for (size_t i = 0; i < n; i++) best = GW_MAX(best, t->offered_versions[i]);
    return n ? best : t->client_version;
}

/* "version" and where it was read ("version_source"), or null. */
static void tls_version(struct span *s, const struct gw_tls_info *t)
{
    char tmp[16];

    SPAN_LIT(s, ",\"version\":");
    if (t->have_server_hello) {
        span_cstring(s, gw_tls_version_str(t->version, tmp, sizeof tmp));
        SPAN_LIT(s, ",\"version_source\":\"server_hello\"");
    } else if (t->have_client_hello) {
        span_cstring(s, gw_tls_version_str(tls_offered_version(t), tmp, sizeof tmp));
        SPAN_LIT(s, ",\"version_source\":\"client_hello\"");
    } else {
        SPAN_LIT(s, "null");
    }
}

static void span_bool(struct span *s, bool v)
{
    if (v) SPAN_LIT(s, "true");
    else SPAN_LIT(s, "false");
}

void gw_record_tls_object(struct gw_json *j, const struct gw_tls_info *t)
{
    size_t n_alpn = GW_MIN((size_t)t->n_alpn, (size_t)GW_TLS_MAX_ALPN);
    struct span s;

    if (!span_open(j, &s)) return;
    SPAN_LIT(&s, "\"tls\":{\"sni\":");
    span_field_or_null(&s, t->sni, sizeof t->sni);
    SPAN_LIT(&s, ",\"alpn\":[");
    for (size_t i = 0; i < n_alpn; i++) {
        if (i) SPAN_LIT(&s, ",");
        span_field(&s, t->alpn[i], sizeof t->alpn[i]);
    }
    SPAN_LIT(&s, "]");
    tls_version(&s, t);
    SPAN_LIT(&s, ",\"alpn_selected\":");
    span_field_or_null(&s, t->alpn_selected, sizeof t->alpn_selected);
    SPAN_LIT(&s, ",\"ja4\":");
    span_field_or_null(&s, t->ja4, sizeof t->ja4);
    SPAN_LIT(&s, ",\"client_hello\":");
    span_bool(&s, t->have_client_hello);
    SPAN_LIT(&s, ",\"server_hello\":");
    span_bool(&s, t->have_server_hello);
    SPAN_LIT(&s, "}");
    span_close(j, &s);
}
