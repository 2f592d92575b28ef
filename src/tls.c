/*
 * tls.c - ClientHello / ServerHello inventory and the JA4 fingerprint.
 *
 * Invariants:
 *  - Input is the start of one direction of a TCP stream. Nothing is read
 *    past n: record headers, record bodies and every handshake field are
 *    read through a gw_cursor (a record cut short is a window of what is
 *    there, never a length subtracted by hand).
 *  - A handshake message is joined across records into a stack buffer of at
 *    most GW_TLS_MAX_HELLO (+4 header) bytes; a longer one is GW_ERR_LIMIT.
 *    When the message sits whole in the first record it is parsed in place.
 *    Records may be as short as one byte (even the 4-byte handshake header
 *    may be split), and the classifier accepts such a first record too, so
 *    fragmenting a ClientHello does not hide its SNI/ALPN.
 *  - A valid but incomplete prefix gives GW_ERR_NEED_MORE; the caller calls
 *    again with a longer buffer starting at the same byte. Parsing is
 *    stateless, so the answer depends only on (p, n).
 *  - The client parse only writes the ClientHello fields of gw_tls_info and
 *    the server parse only the ServerHello fields; on any result other than
 *    GW_OK those fields are left cleared (have_* = 0).
 *  - JA4 needs the cipher and extension lists sorted, so they are copied to
 *    stack arrays whose size follows from GW_TLS_MAX_HELLO (they cannot
 *    overflow). Peak stack use is about 40 KB, once per hello, not per packet.
 *    Hashing is libcrypto's SHA-256 through its direct interface, on the
 *    stack: OpenSSL 3's EVP allocates a context per digest (and fetches
 *    the provider's SHA-256 per hello through EVP_sha256()), three
 *    allocations a TLS flow.
 */
#include "grpcwatch/tls.h"

#include "grpcwatch/cursor.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    TLS_CT_HANDSHAKE = 22,
    TLS_RECORD_HDR = 5,
    /* RFC 5246 6.2.3: a TLSCiphertext fragment may be 2^14 + 2048 bytes;
     * a plaintext handshake record is smaller, so more is garbage. */
    TLS_RECORD_MAX = 16384 + 2048,
    TLS_HS_HDR = 4,
    TLS_HS_CLIENT_HELLO = 1,
    TLS_HS_SERVER_HELLO = 2,
    TLS_RANDOM_LEN = 32,
    TLS_SESSION_ID_MAX = 32,
    EXT_SERVER_NAME = 0x0000,
    EXT_SIGNATURE_ALGORITHMS = 0x000d,
    EXT_ALPN = 0x0010,
    EXT_SUPPORTED_VERSIONS = 0x002b,
    SNI_HOST_NAME = 0,
    /* Upper bounds on list sizes implied by the hello size cap: a cipher
     * takes 2 bytes, an extension at least 4 (type + length). */
    JA4_MAX_CIPHERS = GW_TLS_MAX_HELLO / 2,
    JA4_MAX_EXTS = GW_TLS_MAX_HELLO / 4,
    JA4_HASH_HEX = 12
};

/* ---- record layer ------------------------------------------------------ */

/* Where a complete handshake message ended up (in p or in scratch). */
struct hs_msg {
    const uint8_t *body;
    size_t len;
};

/* RFC 8701: GREASE values are 0x?a?a with both bytes equal. */
static bool is_grease(uint16_t v)
{
    return (v >> 8) == (v & 0xff) && (v & 0x0f) == 0x0a;
}

/* Checks the available part of a record header at p. The first record is
 * what tells TLS from something else, hence UNSUPPORTED there; a bad record
 * in the middle of a handshake message is MALFORMED. */
static int check_record_header(const struct gw_cursor *at, bool first, size_t *frag_len)
{
    int bad = first ? GW_ERR_UNSUPPORTED : GW_ERR_MALFORMED;
    /* Judged byte by byte: a prefix that is already wrong is refused
     * without waiting for the rest (the cursor's err is sticky, so once a
     * read falls short every later one does too). */
    struct gw_cursor c = *at;
    uint8_t type = gw_get_u8(&c);
    if (!c.err && type != TLS_CT_HANDSHAKE) return bad;
    uint8_t major = gw_get_u8(&c);
    if (!c.err && major != 0x03) return bad;
    uint8_t minor = gw_get_u8(&c);
    if (!c.err && minor > 0x04) return bad;
    size_t len = gw_get_be16(&c);
    if (c.err) return GW_ERR_NEED_MORE;
    /* Zero-length handshake fragments are forbidden (RFC 8446 5.1) and would
     * let a peer make us loop without progress. */
    if (len == 0 || len > TLS_RECORD_MAX) return GW_ERR_MALFORMED;
    *frag_len = len;
    return GW_OK;
}

/* Validates the 4-byte handshake header; *total is header + body length. */
static int check_handshake_header(const uint8_t *h, uint8_t want_type, size_t *total)
{
    struct gw_cursor c = gw_cursor_make(h, TLS_HS_HDR);
    uint8_t type = gw_get_u8(&c);
    size_t len = gw_get_be24(&c);
    if (type != want_type) return GW_ERR_UNSUPPORTED;
    if (len > GW_TLS_MAX_HELLO) return GW_ERR_LIMIT;
    *total = TLS_HS_HDR + len;
    return GW_OK;
}

/* Copies what this fragment holds of the message into scratch; reads the
 * handshake header as soon as its 4 bytes are in, and then grows *need. */
static int gather_fragment(const uint8_t *frag, size_t avail, uint8_t want_type,
                           uint8_t *scratch, size_t *have, size_t *need, bool *header_known)
{
    struct gw_cursor c = gw_cursor_make(frag, avail);
    while (gw_cursor_left(&c) > 0 && *have < *need) {
        size_t take = GW_MIN(gw_cursor_left(&c), *need - *have);
        memcpy(scratch + *have, gw_get_bytes(&c, take), take);
        *have += take;
        if (!*header_known && *have == TLS_HS_HDR) {
            int rc = check_handshake_header(scratch, want_type, need);
            if (rc != GW_OK) return rc;
            *header_known = true;
        }
    }
    /* Fail on a wrong message type without waiting for the full header. */
    if (!*header_known && *have >= 1 && scratch[0] != want_type) return GW_ERR_UNSUPPORTED;
    return GW_OK;
}

/*
 * Finds the first handshake message of the stream at p and checks it is of
 * want_type. scratch must hold GW_TLS_MAX_HELLO + TLS_HS_HDR bytes; it is
 * used only when the message spans records. Each record holds at least one
 * byte, so the loop runs at most n / 6 times.
 */
static int read_handshake(const uint8_t *p, size_t n, uint8_t want_type,
                          uint8_t *scratch, struct hs_msg *msg)
{
    struct gw_cursor c = gw_cursor_make(p, n); /* at the next record header */
    size_t have = 0;           /* message bytes gathered in scratch */
    size_t need = TLS_HS_HDR;  /* message bytes wanted; set from the header */
    bool header_known = false;

    for (bool first = true;; first = false) {
        size_t frag_len = 0;
        int rc = check_record_header(&c, first, &frag_len);
        if (rc != GW_OK) return rc;
        gw_skip(&c, TLS_RECORD_HDR);
        struct gw_cursor rec = gw_cursor_window(&c, frag_len); /* what is here of it */
        const uint8_t *frag = gw_cursor_ptr(&rec);
        size_t avail = gw_cursor_left(&rec);

        /* Fast path: the whole message is inside the first record. */
        if (first && avail >= TLS_HS_HDR) {
            size_t total = 0;
            rc = check_handshake_header(frag, want_type, &total);
            if (rc != GW_OK) return rc;
            if (total <= avail) {
                msg->body = frag + TLS_HS_HDR;
                msg->len = total - TLS_HS_HDR;
                return GW_OK;
            }
        }

        rc = gather_fragment(frag, avail, want_type, scratch, &have, &need, &header_known);
        if (rc != GW_OK) return rc;
        if (header_known && have == need) break;
        if (!gw_skip(&c, frag_len)) return GW_ERR_NEED_MORE;
    }
    msg->body = scratch + TLS_HS_HDR;
    msg->len = need - TLS_HS_HDR;
    return GW_OK;
}

/* ---- ClientHello ------------------------------------------------------- */

/* What the JA4 computation needs beyond what gw_tls_info keeps. */
struct hello_facts {
    uint16_t legacy_version;
    uint16_t ciphers[JA4_MAX_CIPHERS];   /* GREASE removed, wire order */
    size_t n_ciphers;
    uint16_t exts[JA4_MAX_EXTS];         /* GREASE removed, wire order */
    size_t n_exts;
    bool have_sni_ext;
    uint16_t best_version;               /* highest non-GREASE supported_version, 0 if none */
    const uint8_t *alpn0;                /* first ALPN value, untruncated */
    size_t alpn0_len;
    const uint8_t *sigalgs;              /* raw list of 2-byte values, wire order */
    size_t sigalgs_len;
};

/* Copies at most dstlen-1 bytes and NUL-terminates; true if it had to cut. */
static bool copy_truncated(char *dst, size_t dstlen, const uint8_t *src, size_t len)
{
    size_t k = GW_MIN(len, dstlen - 1);
    memcpy(dst, src, k);
    dst[k] = '\0';
    return k < len;
}

/* The rest of c is one vector with a 2-byte length (RFC 8446 3.4) and
 * nothing after it: *list is its body. */
static bool whole_list16(struct gw_cursor *c, struct gw_cursor *list)
{
    size_t len = gw_get_be16(c);
    *list = gw_cursor_sub(c, len);
    return !c->err && gw_cursor_left(c) == 0;
}

/* RFC 6066 3: ServerNameList of (name_type, opaque<1..2^16-1>). Keeps the
 * first host_name; other name types are skipped by their length. */
static int parse_sni(struct gw_cursor *ext, struct gw_tls_info *out)
{
    struct gw_cursor list;
    if (!whole_list16(ext, &list)) return GW_ERR_MALFORMED;
    bool kept = false;
    while (gw_cursor_left(&list) > 0) {
        uint8_t type = gw_get_u8(&list);
        size_t len = gw_get_be16(&list);
        const uint8_t *name = gw_get_bytes(&list, len);
        if (list.err) return GW_ERR_MALFORMED;
        if (type == SNI_HOST_NAME && !kept) {
            out->sni_truncated = copy_truncated(out->sni, sizeof out->sni, name, len);
            kept = true;
        }
    }
    return GW_OK;
}

/* RFC 7301 3.1: ProtocolNameList of opaque<1..2^8-1>. Empty names are
 * tolerated (JA4 defines an output for them). */
static int parse_alpn_list(struct gw_cursor *ext, struct gw_tls_info *out, struct hello_facts *f)
{
    struct gw_cursor list;
    if (!whole_list16(ext, &list)) return GW_ERR_MALFORMED;
    bool first = true;
    while (gw_cursor_left(&list) > 0) {
        size_t len = gw_get_u8(&list);
        const uint8_t *name = gw_get_bytes(&list, len);
        if (list.err) return GW_ERR_MALFORMED;
        if (first && f->alpn0 == NULL) {
            f->alpn0 = name;
            f->alpn0_len = len;
        }
        first = false;
        if (out->n_alpn < GW_TLS_MAX_ALPN) {
            copy_truncated(out->alpn[out->n_alpn], GW_TLS_ALPN_MAX, name, len);
            out->n_alpn++;
        }
    }
    return GW_OK;
}

/* RFC 8446 4.2.1 (ClientHello form): ProtocolVersion versions<2..254>. */
static int parse_supported_versions(struct gw_cursor *ext, struct gw_tls_info *out,
                                    struct hello_facts *f)
{
    size_t len = gw_get_u8(ext);
    if (ext->err || len % 2 != 0 || gw_cursor_left(ext) != len) return GW_ERR_MALFORMED;
    while (gw_cursor_left(ext) > 0) {
        uint16_t v = gw_get_be16(ext);
        if (is_grease(v)) continue;
        if (v > f->best_version) f->best_version = v;
        if (out->n_offered_versions < GW_ARRAY_LEN(out->offered_versions))
            out->offered_versions[out->n_offered_versions++] = v;
    }
    return GW_OK;
}

/* RFC 8446 4.2.3: SignatureScheme supported_signature_algorithms<2..2^16-2>. */
static int parse_sigalgs(struct gw_cursor *ext, struct hello_facts *f)
{
    size_t len = gw_get_be16(ext);
    const uint8_t *list = gw_get_bytes(ext, len);
    if (ext->err || len % 2 != 0 || gw_cursor_left(ext) != 0) return GW_ERR_MALFORMED;
    if (f->sigalgs == NULL) {
        f->sigalgs = list;
        f->sigalgs_len = len;
    }
    return GW_OK;
}

static int parse_client_extension(uint16_t type, struct gw_cursor *ext,
                                  struct gw_tls_info *out, struct hello_facts *f)
{
    switch (type) {
    case EXT_SERVER_NAME:
        f->have_sni_ext = true;
        /* An empty server_name is legal in a ServerHello only, but a
         * client that sends one still "has SNI" for JA4. */
        return gw_cursor_left(ext) == 0 ? GW_OK : parse_sni(ext, out);
    case EXT_ALPN: return parse_alpn_list(ext, out, f);
    case EXT_SUPPORTED_VERSIONS: return parse_supported_versions(ext, out, f);
    case EXT_SIGNATURE_ALGORITHMS: return parse_sigalgs(ext, f);
    default: return GW_OK;
    }
}

/* Extensions run to the end of the hello; an absent block is legal (TLS 1.2
 * and earlier), trailing bytes after the block are not. Calls fn for each
 * extension with a cursor over its body; the first error ends the walk. */
typedef int (*ext_fn)(uint16_t type, struct gw_cursor *ext, void *user);

static int walk_extensions(struct gw_cursor *c, ext_fn fn, void *user)
{
    if (gw_cursor_left(c) == 0) return GW_OK;
    struct gw_cursor block;
    if (!whole_list16(c, &block)) return GW_ERR_MALFORMED;
    while (gw_cursor_left(&block) > 0) {
        uint16_t type = gw_get_be16(&block);
        size_t len = gw_get_be16(&block);
        struct gw_cursor ext = gw_cursor_sub(&block, len);
        if (block.err) return GW_ERR_MALFORMED;
        int rc = fn(type, &ext, user);
        if (rc != GW_OK) return rc;
    }
    return GW_OK;
}

struct client_walk {
    struct gw_tls_info *out;
    struct hello_facts *f;
};

static int on_client_extension(uint16_t type, struct gw_cursor *ext, void *user)
{
    struct client_walk *w = user;
    if (is_grease(type)) return GW_OK;
    if (w->f->n_exts < JA4_MAX_EXTS) w->f->exts[w->f->n_exts++] = type;
    return parse_client_extension(type, ext, w->out, w->f);
}

/* RFC 8446 4.1.2 / RFC 5246 7.4.1.2 ClientHello body. */
static int parse_client_hello_body(const uint8_t *p, size_t n, struct gw_tls_info *out,
                                   struct hello_facts *f)
{
    struct gw_cursor c = gw_cursor_make(p, n);
    f->legacy_version = gw_get_be16(&c);
    gw_skip(&c, TLS_RANDOM_LEN);
    size_t sid_len = gw_get_u8(&c);
    if (c.err || sid_len > TLS_SESSION_ID_MAX) return GW_ERR_MALFORMED;
    gw_skip(&c, sid_len);

    size_t cs_len = gw_get_be16(&c);
    struct gw_cursor cs = gw_cursor_sub(&c, cs_len);
    if (c.err || cs_len % 2 != 0) return GW_ERR_MALFORMED;
    while (gw_cursor_left(&cs) > 0) {
        uint16_t v = gw_get_be16(&cs);
        if (!is_grease(v) && f->n_ciphers < JA4_MAX_CIPHERS) f->ciphers[f->n_ciphers++] = v;
    }

    size_t comp_len = gw_get_u8(&c);
    gw_skip(&c, comp_len);
    if (c.err) return GW_ERR_MALFORMED;

    out->client_version = f->legacy_version;
    struct client_walk w = { out, f };
    return walk_extensions(&c, on_client_extension, &w);
}

/* ---- JA4 ----------------------------------------------------------------- */

static const char hex_digits[] = "0123456789abcdef";

static const char *ja4_version(uint16_t v)
{
    switch (v) {
    case 0x0304: return "13";
    case 0x0303: return "12";
    case 0x0302: return "11";
    case 0x0301: return "10";
    case 0x0300: return "s3";
    case 0x0002: return "s2";
    case 0xfeff: return "d1";
    case 0xfefd: return "d2";
    case 0xfefc: return "d3";
    default: return "00";
    }
}

static bool is_alnum_byte(uint8_t b)
{
    return (b >= '0' && b <= '9') || (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z');
}

/* First and last characters of the first ALPN value; when either end is not
 * alphanumeric, the first and last hex digits of the value instead. */
static void ja4_alpn_chars(const struct hello_facts *f, char out2[2])
{
    if (f->alpn0 == NULL || f->alpn0_len == 0) {
        out2[0] = out2[1] = '0';
        return;
    }
    struct gw_cursor v = gw_cursor_make(f->alpn0, f->alpn0_len);
    uint8_t first = (uint8_t)gw_peek_u8(&v, 0);                /* len > 0: both exist */
    uint8_t last = (uint8_t)gw_peek_u8(&v, f->alpn0_len - 1);
    if (is_alnum_byte(first) && is_alnum_byte(last)) {
        out2[0] = (char)first;
        out2[1] = (char)last;
    } else {
        out2[0] = hex_digits[first >> 4];
        out2[1] = hex_digits[last & 0x0f];
    }
}

/* Feeds "xxxx" items to SHA-256, comma separated, via a small buffer so the
 * digest sees few large updates. The direct SHA256_* interface is
 * deprecated in OpenSSL 3.0 but kept, and allocates nothing (see above). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
struct hex_feed {
    SHA256_CTX ctx;
    char buf[512];
    size_t len;
};

static void feed_flush(struct hex_feed *h)
{
    if (h->len > 0) SHA256_Update(&h->ctx, h->buf, h->len);
    h->len = 0;
}

static void feed_char(struct hex_feed *h, char ch)
{
    if (h->len == sizeof h->buf) feed_flush(h);
    h->buf[h->len++] = ch;
}

static void feed_hex16(struct hex_feed *h, uint16_t v, bool comma)
{
    if (comma) feed_char(h, ',');
    for (int shift = 12; shift >= 0; shift -= 4) feed_char(h, hex_digits[(v >> shift) & 0x0f]);
}

/* Writes the first 12 hex digits of the digest into dst (13 bytes). */
static void feed_finish(struct hex_feed *h, char *dst)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    _Static_assert(SHA256_DIGEST_LENGTH * 2 >= JA4_HASH_HEX, "the digest covers the hash's digits");
    feed_flush(h);
    SHA256_Final(md, &h->ctx);
    for (int i = 0; i < JA4_HASH_HEX / 2; i++) {
        dst[2 * i] = hex_digits[md[i] >> 4];
        dst[2 * i + 1] = hex_digits[md[i] & 0x0f];
    }
    dst[JA4_HASH_HEX] = '\0';
}

static void feed_start(struct hex_feed *h)
{
    SHA256_Init(&h->ctx);
    h->len = 0;
}
#pragma GCC diagnostic pop

static int cmp_u16(const void *a, const void *b)
{
    uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
    return (x > y) - (x < y);
}

static void ja4_cipher_hash(struct hello_facts *f, char *dst)
{
    if (f->n_ciphers == 0) {
        memcpy(dst, "000000000000", JA4_HASH_HEX + 1);
        return;
    }
    qsort(f->ciphers, f->n_ciphers, sizeof f->ciphers[0], cmp_u16);
    struct hex_feed h;
    feed_start(&h);
    for (size_t i = 0; i < f->n_ciphers; i++) feed_hex16(&h, f->ciphers[i], i > 0);
    feed_finish(&h, dst);
}

/* Sorted extensions minus SNI and ALPN, then '_' and the signature
 * algorithms in wire order (no '_' when there are none). */
static void ja4_extension_hash(struct hello_facts *f, char *dst)
{
    size_t kept = 0;
    for (size_t i = 0; i < f->n_exts; i++)
        if (f->exts[i] != EXT_SERVER_NAME && f->exts[i] != EXT_ALPN) f->exts[kept++] = f->exts[i];
    if (kept == 0) {
        memcpy(dst, "000000000000", JA4_HASH_HEX + 1);
        return;
    }
    qsort(f->exts, kept, sizeof f->exts[0], cmp_u16);
    struct hex_feed h;
    feed_start(&h);
    for (size_t i = 0; i < kept; i++) feed_hex16(&h, f->exts[i], i > 0);

    struct gw_cursor sig = gw_cursor_make(f->sigalgs, f->sigalgs ? f->sigalgs_len : 0);
    bool first = true;
    while (gw_cursor_left(&sig) >= 2) {
        uint16_t v = gw_get_be16(&sig);
        if (is_grease(v)) continue;
        if (first) feed_char(&h, '_');
        feed_hex16(&h, v, !first);
        first = false;
    }
    feed_finish(&h, dst);
}

/* Builds "t13d1516h2_8daaf6152771_e5627efa2ab1" into out->ja4. Counts use the full lists (before the SNI/ALPN
 * removal, which ja4_extension_hash does in place), so they come first. */
static void compute_ja4(struct hello_facts *f, struct gw_tls_info *out)
{
    char alpn2[2];
    char hash_b[JA4_HASH_HEX + 1], hash_c[JA4_HASH_HEX + 1];
    uint16_t version = f->best_version ? f->best_version : f->legacy_version;
    unsigned n_ciphers = (unsigned)GW_MIN(f->n_ciphers, 99);
    unsigned n_exts = (unsigned)GW_MIN(f->n_exts, 99);

    out->ja4[0] = '\0';
    ja4_alpn_chars(f, alpn2);
    ja4_cipher_hash(f, hash_b);
    ja4_extension_hash(f, hash_c);
    snprintf(out->ja4, sizeof out->ja4, "t%s%c%02u%02u%c%c_%s_%s", ja4_version(version),
             f->have_sni_ext ? 'd' : 'i', n_ciphers, n_exts, alpn2[0], alpn2[1], hash_b, hash_c);
}

/* Only the scalars are reset: the arrays are read up to n_* and are 24 KB,
 * not worth clearing on every hello. */
static void facts_reset(struct hello_facts *f)
{
    f->legacy_version = 0;
    f->n_ciphers = 0;
    f->n_exts = 0;
    f->have_sni_ext = false;
    f->best_version = 0;
    f->alpn0 = NULL;
    f->alpn0_len = 0;
    f->sigalgs = NULL;
    f->sigalgs_len = 0;
}

static void clear_client_fields(struct gw_tls_info *out)
{
    out->have_client_hello = 0;
    memset(out->sni, 0, sizeof out->sni);
    out->sni_truncated = 0;
    memset(out->alpn, 0, sizeof out->alpn);
    out->n_alpn = 0;
    out->client_version = 0;
    memset(out->offered_versions, 0, sizeof out->offered_versions);
    out->n_offered_versions = 0;
    memset(out->ja4, 0, sizeof out->ja4);
}

int gw_tls_parse_client_hello(const uint8_t *p, size_t n, struct gw_tls_info *out)
{
    uint8_t scratch[GW_TLS_MAX_HELLO + TLS_HS_HDR];
    struct hello_facts facts;
    struct hs_msg msg;

    if (out == NULL || (p == NULL && n > 0)) return GW_ERR_ARG;
    clear_client_fields(out);
    if (n == 0) return GW_ERR_NEED_MORE;
    int rc = read_handshake(p, n, TLS_HS_CLIENT_HELLO, scratch, &msg);
    if (rc != GW_OK) return rc;

    facts_reset(&facts);
    rc = parse_client_hello_body(msg.body, msg.len, out, &facts);
    if (rc != GW_OK) {
        clear_client_fields(out);
        return rc;
    }
    compute_ja4(&facts, out);
    out->have_client_hello = 1;
    return GW_OK;
}

/* ---- ServerHello ----------------------------------------------------------- */

/* RFC 7301 3.1: the server's list holds exactly one protocol name. */
static int parse_server_alpn(struct gw_cursor *ext, struct gw_tls_info *out)
{
    size_t list_len = gw_get_be16(ext);
    size_t len = gw_get_u8(ext);
    const uint8_t *name = gw_get_bytes(ext, len);
    if (ext->err || list_len != len + 1 || gw_cursor_left(ext) != 0) return GW_ERR_MALFORMED;
    copy_truncated(out->alpn_selected, sizeof out->alpn_selected, name, len);
    return GW_OK;
}

static int on_server_extension(uint16_t type, struct gw_cursor *ext, void *user)
{
    struct gw_tls_info *out = user;
    if (type == EXT_SUPPORTED_VERSIONS) {
        /* RFC 8446 4.2.1: ServerHello carries one selected_version. */
        uint16_t v = gw_get_be16(ext);
        if (ext->err || gw_cursor_left(ext) != 0) return GW_ERR_MALFORMED;
        out->version = v;
        return GW_OK;
    }
    if (type == EXT_ALPN) return parse_server_alpn(ext, out);
    return GW_OK;
}

/* A HelloRetryRequest has the same layout (RFC 8446 4.1.3) and is taken as
 * a ServerHello: its cipher and selected version are the ones that follow. */
static int parse_server_hello_body(const uint8_t *p, size_t n, struct gw_tls_info *out)
{
    struct gw_cursor c = gw_cursor_make(p, n);
    out->version = gw_get_be16(&c);
    gw_skip(&c, TLS_RANDOM_LEN);
    size_t sid_len = gw_get_u8(&c);
    if (c.err || sid_len > TLS_SESSION_ID_MAX) return GW_ERR_MALFORMED;
    gw_skip(&c, sid_len);
    out->cipher = gw_get_be16(&c);
    gw_get_u8(&c); /* compression method */
    if (c.err) return GW_ERR_MALFORMED;
    return walk_extensions(&c, on_server_extension, out);
}

static void clear_server_fields(struct gw_tls_info *out)
{
    out->have_server_hello = 0;
    out->version = 0;
    memset(out->alpn_selected, 0, sizeof out->alpn_selected);
    out->cipher = 0;
}

int gw_tls_parse_server_hello(const uint8_t *p, size_t n, struct gw_tls_info *out)
{
    uint8_t scratch[GW_TLS_MAX_HELLO + TLS_HS_HDR];
    struct hs_msg msg;

    if (out == NULL || (p == NULL && n > 0)) return GW_ERR_ARG;
    clear_server_fields(out);
    if (n == 0) return GW_ERR_NEED_MORE;
    int rc = read_handshake(p, n, TLS_HS_SERVER_HELLO, scratch, &msg);
    if (rc == GW_OK) rc = parse_server_hello_body(msg.body, msg.len, out);
    if (rc != GW_OK) {
        clear_server_fields(out);
        return rc;
    }
    out->have_server_hello = 1;
    return GW_OK;
}

/* ---- helpers ----------------------------------------------------------------- */

bool gw_tls_looks_like_client_hello(const uint8_t *p, size_t n)
{
    if (p == NULL || n == 0) return n == 0;
    /* The same record header rules as the parser: any non-empty record may
     * carry the hello's first bytes (a ClientHello fragmented into records
     * shorter than its 4-byte handshake header is legal, RFC 8446 5.1, and
     * an evasion if refused here); only an empty record (forbidden for
     * handshake data) or an oversized one is not TLS. */
    struct gw_cursor c = gw_cursor_make(p, n);
    size_t frag_len;
    int rc = check_record_header(&c, true, &frag_len);
    if (rc != GW_OK && rc != GW_ERR_NEED_MORE) return false;
    int hs_type = gw_peek_u8(&c, TLS_RECORD_HDR);
    return hs_type < 0 || hs_type == TLS_HS_CLIENT_HELLO;
}

const char *gw_tls_version_str(uint16_t v, char *buf, size_t buflen)
{
    const char *name = NULL;
    switch (v) {
    case 0x0300: name = "SSLv3"; break;
    case 0x0301: name = "1.0"; break;
    case 0x0302: name = "1.1"; break;
    case 0x0303: name = "1.2"; break;
    case 0x0304: name = "1.3"; break;
    default: break;
    }
    if (buf == NULL || buflen == 0) return "";
    if (name != NULL)
        snprintf(buf, buflen, "%s", name);
    else
        snprintf(buf, buflen, "0x%04x", v);
    return buf;
}
