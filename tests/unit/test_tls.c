/*
 * test_tls.c - ClientHello / ServerHello parsing and JA4.
 *
 * Expected values come from outside this module:
 *  - the JA4 spec (github.com/FoxIO-LLC/ja4, technical_details/JA4.md): its
 *    worked example lists ciphers, extensions and signature algorithms and
 *    gives t13d1516h2_8daaf6152771_e5627efa2ab1 (and 6d807ffa2a79 as the
 *    extension hash without signature algorithms);
 *  - real ClientHello / ServerHello bytes cut from public captures under
 *    /work/shared/pcaps/public with `tshark -T fields -e tcp.payload`; SNI,
 *    ALPN, versions and ciphers as tshark 4.0 dissects them; JA4 from
 *    suricata-verify ja4-tls-quic/test.yaml and from nDPI 4.10's expected
 *    output (ndpi/result/<capture>.out), and for the Chrome capture from a separate
 *    script over tshark's dissection (the same value nDPI gives for another
 *    Chrome 12x hello, tls_ech.pcapng);
 *  - small hand-built hellos whose JA4 input strings are spelled out in the
 *    test and hashed here with SHA256().
 */
#include "grpcwatch/tls.h"

#include <check.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- real captures -------------------------------------------------------- */

/* suricata-verify ja4-tls-quic/input.pcap frame 4, 517 bytes: Chrome to
 * cloudflare-quic.com, one record. */
static const char CH_CLOUDFLARE_HEX[] =
    "1603010200010001fc0303a8ba73151e99d1a071af2e07e67c8b38f14914d8757d56f0f1"
    "d85a5a3372f74120c08eb52a78fdabf9d36b2bc688a1d2024ac9d39c07fe8d2f8190fe1c"
    "a00232640020baba130113021303c02bc02fc02cc030cca9cca8c013c014009c009d002f"
    "0035010001930a0a0000000000180016000013636c6f7564666c6172652d717569632e63"
    "6f6d00170000ff01000100000a000a0008eaea001d00170018000b000201000023000000"
    "10000e000c02683208687474702f312e31000500050100000000000d0012001004030804"
    "040105030805050108060601001200000033002b0029eaea000100001d002065f7b9167d"
    "2fb3022d176527bb5b9649296ce07a0fae416fc279d0789747ca10002d00020101002b00"
    "07063a3a03040303001b00030200024469000500030268328a8a000100001500c4000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000";

/* ndpi/443-curl.pcap frame 4, 517 bytes: curl (TLS 1.2 only) to www.ntop.org. */
static const char CH_CURL_HEX[] =
    "1603010200010001fc03033e3841edcc20f6d0e5f7167ab7ee91a800c8ef70c2d624c7c7"
    "943a24026d9fbc000086cc14cc13cc15c030c02cc028c024c014c00a00a3009f006b006a"
    "00390038ff8500c400c3008800870081c032c02ec02ac026c00fc005009d003d003500c0"
    "0084c02fc02bc027c023c013c00900a2009e006700400033003200be00bd00450044c031"
    "c02dc029c025c00ec004009c003c002f00ba0041c012c00800160013c00dc003000a00ff"
    "0100014d00000011000f00000c7777772e6e746f702e6f7267000b000403000102000a00"
    "3a0038000e000d0019001c000b000c001b00180009000a001a0016001700080006000700"
    "1400150004000500120013000100020003000f00100011000d00260024060106020603ef"
    "ef050105020503040104020403eeeeeded03010302030302010202020333740000001000"
    "0e000c02683208687474702f312e31001500ae0000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000";

/* zeek/tls/chrome-1250-tls-x25519-kyber.pcap frame 4, 1756 bytes: Chrome
 * with an X25519Kyber768 key share, a 1747-byte hello in one record. */
static const char CH_CHROME_KYBER_HEX[] =
    "16030106d7010006d3030356767d9ae8a843809398310469168e09e8543de551ed52fbd4"
    "403dea567ea1c120c72b78a56497f6e8e86debee9ec616ade6851b0ce90cda4658d36cbe"
    "d28cafed0020eaea130113021303c02bc02fc02cc030cca9cca8c013c014009c009d002f"
    "00350100066a6a6a000000230000000d0012001004030804040105030805050108060601"
    "000b00020100000a000c000acaca6399001d00170018001b000302000244690005000302"
    "6832003304ef04edcaca000100639904c0a2778cd4d2ca31c7120c5b67691a33d480dabe"
    "6d387f14cfd82e1aa68547c4180b291697a6c2b16b2b230c64cd97266592673d8443ccc5"
    "0f4ae894d5aa9e1ad1c0b01a44ae605f27d47311f117b5bc9dfcc762e612771d5668a734"
    "62162b9c580770ad417e7b2b8953f50912b67b8b171d6f81615dd94f787a00a8d75a1455"
    "0c66385437e16a2d43519b9980647520fde07c40388a17d4ae8514bf962313b1da12445a"
    "911f5a372e49792bcc62d4ac5f41900aafe02ed634245b492e8d8a06e245a6487678f28c"
    "0e0d8c88ad705dee88138e7a31445c9499035b53022abe94802148c8341c3412ea3ed281"
    "2c1a841748ca6e2022bd3e8c740c963fb15467360bc90d05c8e99c76b85b3009a8b86471"
    "4981533bb7ab6c70e3895e20b6dba6ccb7530a091a4998dbbff58902b2b66b9690c98f72"
    "c4d01526bce1076762a895045e33881d2b85a7ceb95d38602ec099ad0da92339ab0b4fea"
    "051fb8ccf0216b67a02acac71641dc2505e9998f6939dbc63c722539f0226a79e0bc2546"
    "9b069a8df37340205241fe5676e6e688f04a3fcdd309f4e65f59a31e3183c0c15b7844b2"
    "337827a7d7790ff7ecbfdaea624b4402962794f685ccb81534ce7a4f54f28b52261ea407"
    "69e1bb668c403fe031b5bfe30c74a56d2b013241130e203b8c805c7106767a1bd1b532d1"
    "b22172835adb26caaa95b3ec9b98274a7d434fb3629baefb3aa00184d7bb826ad5975e2b"
    "811c81ace1b3050e9a7e5617a25528274fe963dac029c335066d56cd107bc9ace2815235"
    "a20d975271762a34d8c6a46b567fb4538b5515b459465021ae269770cc9909434082d734"
    "00c180961c0a509536b64e3a6a9df31b66a51d5c1cbf788827cb25bbd8f6159392c5e1ac"
    "7607a41199a732e8ebb729f44dcd270f134a578d052537b03547e4787a2680094bb8b6dc"
    "16706500d0e455b77b0d61986ecf4b1fd2e1ad46369b5a67375ff762d2f69fb93330a393"
    "23a6b713a19620a9b139c1f27254e408749ca078bc44598663a87b4b53d20c9c909564b3"
    "131be1cd4167b1fe7b3356b629005a1467c9c5701022c2bca78bc81cc1a15f429329aea2"
    "23edea8844e200b781990bc026e059377a840264d9570592a07fc7688916c5eb99ba169b"
    "8bbe394844f620ebab8c70212108b24ca0121c0a7a7dd6877f90e94b3605699a9c1b4607"
    "140901955271172f9cab61ea096790016a92905268799834148d64202ee01beb2886655a"
    "b496e4009f263eda3b3bae1086fae7c34a2719a116abb18a9486859b5d93c5d5bb759805"
    "ac924c2a5b846c69860789e18b4e800e2de6b4a4a23a2eca54f2f108d8b4584bd0406777"
    "4e016923c74249b8028767d3a0cc891ecd7130cf185b7d68a2bd0b31d7899a0a215542d4"
    "74ede686e0c8bc1972be2a97cefa49af93265aa6a3579d527c8ae2a0e2b51ff3971a84dc"
    "baeb4134b4742f3d144c04229dc7e9265ec5cfdde00b513c6b1c81316c71a86385694a25"
    "0a1e99c2b5954d309a8e2f77300274a7f875bba2f5734ec05f89e83e4093331cb2163007"
    "48f33c475ac83f35e2c077724fdc77a74e292b409897b0f463a490c37b982d0605afb3c1"
    "13659181150520f0103ba1ca95fca6adc1581dfe467f0ce70e6ff7246ac6400723080f16"
    "1c284128e933924a33c10a89bf874c5f11905084253340c1f20fd87d551cf88bf2173add"
    "13f3b6a3755dd270f1001d00204518f31c6d02159e6f8ea20bd2e325c9d7ad26f38daade"
    "6bf959afa516a26e760010000e000c02683208687474702f312e31002b0007068a8a0304"
    "030300170000ff01000100000500050100000000002d00020101fe0d00da000001000102"
    "002089384cd8b5a698ff8240d9b5ea186bb1d0e487de252aed9d9a28ea0f0cc2b65800b0"
    "1a472e144587036684e269b294f7c441d993d311dc5f3d15fa9f4850e07ccaf054be940e"
    "418a7e0eced08073992ca532efdef028349c1507e7bfa77813a8ddaf9bca4acd70932168"
    "08e24a39541efc9b73ca33561db210809e582aeafe7c3ec256ab6b5f3edfcae236531110"
    "5389da11ad6099e8adea371d8f9c0b6107bca00c5bc0ca11369dc4957b80d0f222162e19"
    "9abdb886d8050c07de1de124d84987eeedca8470250578734ea0526a396dc81600120000"
    "00000013001100000e6c68332e676f6f676c652e636f6d4a4a000100";

/* ndpi/tls_2_reasms.pcapng frame 2, 404 bytes: Instagram (Fizz) offering
 * TLS 1.3 and the Fizz draft version 0xfb1a. */
static const char CH_FIZZ_HEX[] =
    "160301018f0100018b030300957252c8b6d358dac5d363528f6f211da9a4cb42f9c02610"
    "9c75022ffeb3de20f92e17c1cd53451b0082ab31e034a3b29817d9ecad2f210125a4f452"
    "3d8f39d900061301130213030100013c002b0005040304fb1a000a00060004001d001700"
    "3300260024001d0020102c6912c7176b4a73a74770723d8db11483cf4c2df00e5b362cb4"
    "b287bed916000d000a0008040305030603080400000014001200000f692e696e73746167"
    "72616d2e636f6d0010001400120268320568322d666208687474702f312e31002d000302"
    "0100002a0000002900b2008d0087840e8e12ab969812859523d81be57ee5b1bc682d041b"
    "a879c5a6717c688d562f00000000ee7f0b937201dcee5619f1256585ad54dd992bd1577d"
    "c66bdb829a21a6415234c2c3219f05991da94cc0786f60b12c9185129b299a88a3042bca"
    "4127e914e40e04b84e6d6d602ab97a015f18eeb11c620031739efb019ad7c6df4b753357"
    "31189c8d6e5c4b3d4900212095eefcbd3ec1f911bf703dcc8c0715f295f1eeb460f15ae2"
    "7a176bd44a43771b";

/* suricata-verify ja4-tls-quic/input.pcap frame 6, first record only
 * (127 bytes): TLS 1.3 ServerHello, TLS_AES_128_GCM_SHA256. */
static const char SH_CLOUDFLARE_HEX[] =
    "160303007a02000076030307e6ecd16f49319f76cf80f580e5cbef24e4d151b6c19ca734"
    "c356f44be0813820c08eb52a78fdabf9d36b2bc688a1d2024ac9d39c07fe8d2f8190fe1c"
    "a0023264130100002e00330024001d0020fc893a4c7f0b894abd20f361e5fe039fc025c6"
    "89b7e4e0a8e803a0cb37b10869002b00020304";

/* ndpi/443-curl.pcap frame 6, first record only (107 bytes): TLS 1.2
 * ServerHello, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ALPN h2. */
static const char SH_CURL_HEX[] =
    "16030300660200006203038f72dd2e35dcf5ddf38ae75db855d1610b4db32937cb20cd31"
    "87eec12057fb2520ea8fcd1da8f8635bd5df2a45b603764dd7cfb5f82666ff77fd47635b"
    "f9a8f0cbc02f00001aff0100010000000000000b000403000102001000050003026832";

enum { BUF_CAP = 24576 };

struct bytes {
    uint8_t b[BUF_CAP];
    size_t n;
};

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Decodes a hex literal into a heap buffer of exactly the decoded size, so
 * ASan flags any read past the end. */
static uint8_t *unhex(const char *s, size_t *n)
{
    size_t len = strlen(s);
    ck_assert_uint_eq(len % 2, 0);
    uint8_t *out = malloc(len / 2 ? len / 2 : 1);
    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        ck_assert(hi >= 0 && lo >= 0);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *n = len / 2;
    return out;
}

/* Parses a copy of exactly n bytes (heap, so ASan sees overreads). */
static int parse_ch_exact(const uint8_t *p, size_t n, struct gw_tls_info *info)
{
    uint8_t *copy = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(copy);
    if (n) memcpy(copy, p, n);
    int rc = gw_tls_parse_client_hello(copy, n, info);
    free(copy);
    return rc;
}

static int parse_sh_exact(const uint8_t *p, size_t n, struct gw_tls_info *info)
{
    uint8_t *copy = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(copy);
    if (n) memcpy(copy, p, n);
    int rc = gw_tls_parse_server_hello(copy, n, info);
    free(copy);
    return rc;
}

/* ---- a tiny ClientHello / ServerHello builder ------------------------------ */

static void put8(struct bytes *b, uint8_t v)
{
    ck_assert_uint_lt(b->n, BUF_CAP);
    b->b[b->n++] = v;
}

static void put16(struct bytes *b, uint16_t v)
{
    put8(b, (uint8_t)(v >> 8));
    put8(b, (uint8_t)v);
}

static void put_mem(struct bytes *b, const void *p, size_t n)
{
    ck_assert_uint_le(b->n + n, BUF_CAP);
    if (n > 0) memcpy(b->b + b->n, p, n);
    b->n += n;
}

/* Length-prefixed blocks: open_lenN leaves room, close_lenN fills it in. */
static size_t open_len(struct bytes *b, int width)
{
    size_t at = b->n;
    for (int i = 0; i < width; i++) put8(b, 0);
    return at;
}

static void close_len(struct bytes *b, size_t at, int width)
{
    size_t len = b->n - at - (size_t)width;
    for (int i = width - 1; i >= 0; i--) {
        b->b[at + (size_t)i] = (uint8_t)len;
        len >>= 8;
    }
}

/* A handshake message under construction (header included). */
struct hello {
    struct bytes m;
    size_t hs_len_at;
    size_t ext_at;
    size_t ext_open_at;
};

static void hello_begin(struct hello *h, uint8_t hs_type, uint16_t legacy_version)
{
    h->m.n = 0;
    put8(&h->m, hs_type);
    h->hs_len_at = open_len(&h->m, 3);
    put16(&h->m, legacy_version);
    for (int i = 0; i < 32; i++) put8(&h->m, (uint8_t)(0xa0 + i)); /* random */
    put8(&h->m, 32);                                                /* session id */
    for (int i = 0; i < 32; i++) put8(&h->m, (uint8_t)i);
}

static void ch_begin(struct hello *h, uint16_t legacy, const uint16_t *ciphers, size_t nc)
{
    hello_begin(h, 1, legacy);
    size_t at = open_len(&h->m, 2);
    for (size_t i = 0; i < nc; i++) put16(&h->m, ciphers[i]);
    close_len(&h->m, at, 2);
    put8(&h->m, 1); /* compression methods: null */
    put8(&h->m, 0);
    h->ext_at = open_len(&h->m, 2);
}

/* Starts one extension; returns where its length goes. */
static size_t ext_open(struct hello *h, uint16_t type)
{
    put16(&h->m, type);
    return open_len(&h->m, 2);
}

static void ext_close(struct hello *h, size_t at) { close_len(&h->m, at, 2); }

static void ext_raw(struct hello *h, uint16_t type, const void *data, size_t len)
{
    size_t at = ext_open(h, type);
    put_mem(&h->m, data, len);
    ext_close(h, at);
}

static void ext_sni(struct hello *h, const char *host)
{
    size_t at = ext_open(h, 0x0000);
    size_t list = open_len(&h->m, 2);
    put8(&h->m, 0); /* host_name */
    put16(&h->m, (uint16_t)strlen(host));
    put_mem(&h->m, host, strlen(host));
    close_len(&h->m, list, 2);
    ext_close(h, at);
}

/* names[i] with explicit lengths so binary names can be tested. */
static void ext_alpn_bin(struct hello *h, const char *const *names, const size_t *lens, size_t k)
{
    size_t at = ext_open(h, 0x0010);
    size_t list = open_len(&h->m, 2);
    for (size_t i = 0; i < k; i++) {
        put8(&h->m, (uint8_t)lens[i]);
        put_mem(&h->m, names[i], lens[i]);
    }
    close_len(&h->m, list, 2);
    ext_close(h, at);
}

static void ext_alpn(struct hello *h, const char *const *names, size_t k)
{
    size_t lens[16];
    ck_assert_uint_le(k, 16);
    for (size_t i = 0; i < k; i++) lens[i] = strlen(names[i]);
    ext_alpn_bin(h, names, lens, k);
}

static void ext_u16_list(struct hello *h, uint16_t type, int len_width, const uint16_t *v, size_t k)
{
    size_t at = ext_open(h, type);
    size_t list = open_len(&h->m, len_width);
    for (size_t i = 0; i < k; i++) put16(&h->m, v[i]);
    close_len(&h->m, list, len_width);
    ext_close(h, at);
}

static void ext_versions(struct hello *h, const uint16_t *v, size_t k)
{
    ext_u16_list(h, 0x002b, 1, v, k);
}

static void ext_sigalgs(struct hello *h, const uint16_t *v, size_t k)
{
    ext_u16_list(h, 0x000d, 2, v, k);
}

/* Closes the extension block (or drops it when omit_ext) and the message. */
static void hello_end(struct hello *h, bool omit_ext)
{
    if (omit_ext)
        h->m.n = h->ext_at;
    else
        close_len(&h->m, h->ext_at, 2);
    close_len(&h->m, h->hs_len_at, 3);
}

/* Wraps a handshake message in records of at most frag bytes each. */
static void wrap_records(const struct bytes *msg, size_t frag, uint16_t rec_version, struct bytes *out)
{
    out->n = 0;
    for (size_t off = 0; off < msg->n; off += frag) {
        size_t k = msg->n - off < frag ? msg->n - off : frag;
        put8(out, 22);
        put16(out, rec_version);
        put16(out, (uint16_t)k);
        put_mem(out, msg->b + off, k);
    }
}

/* Wraps into records whose fragment sizes are given (the last one takes the rest). */
static void wrap_records_sizes(const struct bytes *msg, const size_t *sizes, size_t k, struct bytes *out)
{
    size_t off = 0;
    out->n = 0;
    for (size_t i = 0; i < k && off < msg->n; i++) {
        size_t len = i + 1 == k ? msg->n - off : sizes[i];
        put8(out, 22);
        put16(out, 0x0301);
        put16(out, (uint16_t)len);
        put_mem(out, msg->b + off, len);
        off += len;
    }
    ck_assert_uint_eq(off, msg->n);
}

/* First 12 hex digits of SHA-256(s): how the spec truncates. */
static void sha12(const char *s, char out[13])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s, strlen(s), md);
    for (int i = 0; i < 6; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ---- the JA4 spec example -------------------------------------------------- */

/* JA4.md "Cipher hash" / "Extension hash": ciphers and extensions in wire
 * order, plus GREASE values that must be ignored. */
static const uint16_t spec_ciphers[] = {
    0x2a2a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9,
    0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
};
static const uint16_t spec_sigalgs[] = { 0x0403, 0x0804, 0x0401, 0x0503,
                                         0x0805, 0x0501, 0x0806, 0x0601 };

/* Extensions of the spec example in its order:
 * 001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015
 * with GREASE extensions in front and behind. sigalgs may be empty. */
static void build_spec_hello(struct hello *h, bool with_sigalgs)
{
    static const char *const alpn[] = { "h2", "http/1.1" };
    static const uint16_t versions[] = { 0xdada, 0x0304, 0x0303 };
    static const uint8_t zero2[2] = { 0, 0 }, one_null[1] = { 0 };
    ch_begin(h, 0x0303, spec_ciphers, GW_ARRAY_LEN(spec_ciphers));
    ext_raw(h, 0x0a0a, NULL, 0);
    ext_raw(h, 0x001b, "\x02\x00\x02", 3);
    ext_sni(h, "example.com");
    ext_raw(h, 0x0033, "\x00\x00", 2);
    ext_alpn(h, alpn, 2);
    ext_raw(h, 0x4469, "\x00\x03\x02h2", 5);
    ext_raw(h, 0x0017, NULL, 0);
    ext_raw(h, 0x002d, "\x01\x01", 2);
    ext_sigalgs(h, spec_sigalgs, with_sigalgs ? GW_ARRAY_LEN(spec_sigalgs) : 0);
    ext_raw(h, 0x0005, "\x01\x00\x00\x00\x00", 5);
    ext_raw(h, 0x0023, NULL, 0);
    ext_raw(h, 0x0012, NULL, 0);
    ext_versions(h, versions, GW_ARRAY_LEN(versions));
    ext_raw(h, 0xff01, one_null, 1);
    ext_raw(h, 0x000b, "\x01\x00", 2);
    ext_raw(h, 0x000a, "\x00\x02\x00\x1d", 4);
    ext_raw(h, 0xfafa, one_null, 1);
    ext_raw(h, 0x0015, zero2, 2);
    hello_end(h, false);
}

START_TEST(test_ja4_spec_example)
{
    struct hello h;
    struct bytes rec;
    struct gw_tls_info info;
    build_spec_hello(&h, true);
    wrap_records(&h.m, 16384, 0x0301, &rec);
    ck_assert_int_eq(parse_ch_exact(rec.b, rec.n, &info), GW_OK);
    ck_assert_uint_eq(info.have_client_hello, 1);
    ck_assert_str_eq(info.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
    ck_assert_str_eq(info.sni, "example.com");
    ck_assert_uint_eq(info.n_alpn, 2);
    ck_assert_str_eq(info.alpn[0], "h2");
    ck_assert_str_eq(info.alpn[1], "http/1.1");
    ck_assert_uint_eq(info.client_version, 0x0303);
    ck_assert_uint_eq(info.n_offered_versions, 2); /* GREASE 0xdada dropped */
    ck_assert_uint_eq(info.offered_versions[0], 0x0304);
    ck_assert_uint_eq(info.offered_versions[1], 0x0303);
}
END_TEST

START_TEST(test_ja4_spec_no_sigalgs)
{
    /* JA4.md: without signature algorithms there is no '_' part and
     * "0005,...,ff01" hashes to 6d807ffa2a79. */
    struct hello h;
    struct bytes rec;
    struct gw_tls_info info;
    build_spec_hello(&h, false);
    wrap_records(&h.m, 16384, 0x0301, &rec);
    ck_assert_int_eq(parse_ch_exact(rec.b, rec.n, &info), GW_OK);
    ck_assert_str_eq(info.ja4, "t13d1516h2_8daaf6152771_6d807ffa2a79");
}
END_TEST

START_TEST(test_ja4_spec_split_records)
{
    /* The same hello in records of 1, 2, 3, 7 and 100 bytes: the record
     * boundaries must not change anything, including a boundary inside the
     * 4-byte handshake header. */
    static const size_t frags[] = { 1, 2, 3, 7, 100 };
    struct hello h;
    struct bytes rec;
    build_spec_hello(&h, true);
    for (size_t i = 0; i < GW_ARRAY_LEN(frags); i++) {
        struct gw_tls_info info;
        wrap_records(&h.m, frags[i], 0x0303, &rec);
        ck_assert_int_eq(parse_ch_exact(rec.b, rec.n, &info), GW_OK);
        ck_assert_str_eq(info.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
        ck_assert_str_eq(info.sni, "example.com");
    }
}
END_TEST

START_TEST(test_two_records)
{
    /* A hello in two records, split inside the handshake header, inside the
     * cipher list and one byte before the end. */
    static const size_t first[] = { 2, 60, 0 };
    struct hello h;
    struct bytes rec;
    build_spec_hello(&h, true);
    for (size_t i = 0; i < GW_ARRAY_LEN(first); i++) {
        size_t sizes[2] = { first[i] ? first[i] : h.m.n - 1, 0 };
        struct gw_tls_info info;
        wrap_records_sizes(&h.m, sizes, 2, &rec);
        ck_assert_uint_eq(rec.n, h.m.n + 10);
        ck_assert_int_eq(parse_ch_exact(rec.b, rec.n, &info), GW_OK);
        ck_assert_str_eq(info.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
        /* the first record alone is a valid prefix */
        ck_assert_int_eq(parse_ch_exact(rec.b, 5 + sizes[0], &info), GW_ERR_NEED_MORE);
    }
}
END_TEST

/* ---- real ClientHellos ------------------------------------------------------ */

START_TEST(test_real_cloudflare_hello)
{
    size_t n;
    uint8_t *p = unhex(CH_CLOUDFLARE_HEX, &n);
    struct gw_tls_info info;
    ck_assert_uint_eq(n, 517);
    ck_assert(gw_tls_looks_like_client_hello(p, n));
    ck_assert_int_eq(parse_ch_exact(p, n, &info), GW_OK);
    ck_assert_uint_eq(info.have_client_hello, 1);
    /* suricata-verify ja4-tls-quic/test.yaml */
    ck_assert_str_eq(info.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
    /* tshark: extensions_server_name, extensions_alpn_str, versions */
    ck_assert_str_eq(info.sni, "cloudflare-quic.com");
    ck_assert_uint_eq(info.sni_truncated, 0);
    ck_assert_uint_eq(info.n_alpn, 2);
    ck_assert_str_eq(info.alpn[0], "h2");
    ck_assert_str_eq(info.alpn[1], "http/1.1");
    ck_assert_uint_eq(info.client_version, 0x0303);
    ck_assert_uint_eq(info.n_offered_versions, 2);
    ck_assert_uint_eq(info.offered_versions[0], 0x0304);
    ck_assert_uint_eq(info.offered_versions[1], 0x0303);
    free(p);
}
END_TEST

START_TEST(test_real_curl_hello)
{
    size_t n;
    uint8_t *p = unhex(CH_CURL_HEX, &n);
    struct gw_tls_info info;
    ck_assert_int_eq(parse_ch_exact(p, n, &info), GW_OK);
    /* nDPI 4.10 ndpi/result/443-curl.pcap.out */
    ck_assert_str_eq(info.ja4, "t12d6707h2_2955a3196ffa_c83f907a73d3");
    ck_assert_str_eq(info.sni, "www.ntop.org");
    ck_assert_uint_eq(info.n_alpn, 2);
    ck_assert_str_eq(info.alpn[0], "h2");
    ck_assert_str_eq(info.alpn[1], "http/1.1");
    ck_assert_uint_eq(info.client_version, 0x0303);
    ck_assert_uint_eq(info.n_offered_versions, 0);
    free(p);
}
END_TEST

START_TEST(test_real_chrome_kyber_hello)
{
    size_t n;
    uint8_t *p = unhex(CH_CHROME_KYBER_HEX, &n);
    struct gw_tls_info info;
    ck_assert_uint_eq(n, 1756);
    ck_assert_int_eq(parse_ch_exact(p, n, &info), GW_OK);
    ck_assert_str_eq(info.ja4, "t13d1516h2_8daaf6152771_02713d6af862");
    ck_assert_str_eq(info.sni, "lh3.google.com");
    ck_assert_uint_eq(info.n_alpn, 2);
    ck_assert_str_eq(info.alpn[0], "h2");
    ck_assert_str_eq(info.alpn[1], "http/1.1");
    ck_assert_uint_eq(info.n_offered_versions, 2);
    ck_assert_uint_eq(info.offered_versions[0], 0x0304);
    free(p);
}
END_TEST

START_TEST(test_real_fizz_hello)
{
    /* supported_versions {0x0304, 0xfb1a}: the highest value is the Fizz
     * draft, which JA4 has no name for, hence "00" (nDPI agrees). */
    size_t n;
    uint8_t *p = unhex(CH_FIZZ_HEX, &n);
    struct gw_tls_info info;
    ck_assert_int_eq(parse_ch_exact(p, n, &info), GW_OK);
    ck_assert_str_eq(info.ja4, "t00d0309h2_55b375c5d22e_566d5108064c");
    ck_assert_str_eq(info.sni, "i.instagram.com");
    ck_assert_uint_eq(info.n_alpn, 3);
    ck_assert_str_eq(info.alpn[0], "h2");
    ck_assert_str_eq(info.alpn[1], "h2-fb");
    ck_assert_str_eq(info.alpn[2], "http/1.1");
    ck_assert_uint_eq(info.n_offered_versions, 2);
    ck_assert_uint_eq(info.offered_versions[0], 0x0304);
    ck_assert_uint_eq(info.offered_versions[1], 0xfb1a);
    free(p);
}
END_TEST

/* Re-frames a real single-record hello into records of `frag` bytes. */
static void reframe_real(const char *hex, size_t frag, struct bytes *out)
{
    size_t n;
    uint8_t *p = unhex(hex, &n);
    struct bytes msg;
    ck_assert_uint_ge(n, 5);
    msg.n = 0;
    put_mem(&msg, p + 5, n - 5);
    wrap_records(&msg, frag, 0x0303, out);
    free(p);
}

START_TEST(test_real_chrome_reframed)
{
    static const size_t frags[] = { 1, 4, 5, 512, 1000, 1746 };
    for (size_t i = 0; i < GW_ARRAY_LEN(frags); i++) {
        struct bytes rec;
        struct gw_tls_info info;
        reframe_real(CH_CHROME_KYBER_HEX, frags[i], &rec);
        ck_assert_int_eq(parse_ch_exact(rec.b, rec.n, &info), GW_OK);
        ck_assert_str_eq(info.ja4, "t13d1516h2_8daaf6152771_02713d6af862");
        ck_assert_str_eq(info.sni, "lh3.google.com");
    }
}
END_TEST

/* Every strict prefix of a valid stream is NEED_MORE and clears the client
 * fields; the whole stream is OK. */
static void check_all_prefixes(const uint8_t *p, size_t n)
{
    struct gw_tls_info info;
    for (size_t k = 0; k < n; k++) {
        memset(&info, 0x55, sizeof info);
        int rc = parse_ch_exact(p, k, &info);
        ck_assert_msg(rc == GW_ERR_NEED_MORE, "prefix %zu of %zu: rc %d", k, n, rc);
        ck_assert_uint_eq(info.have_client_hello, 0);
        ck_assert_uint_eq(info.n_alpn, 0);
        ck_assert_str_eq(info.sni, "");
        ck_assert(gw_tls_looks_like_client_hello(p, k));
    }
    ck_assert_int_eq(parse_ch_exact(p, n, &info), GW_OK);
}

START_TEST(test_truncation_real_single_record)
{
    size_t n;
    uint8_t *p = unhex(CH_CLOUDFLARE_HEX, &n);
    check_all_prefixes(p, n);
    free(p);
}
END_TEST

START_TEST(test_truncation_multi_record)
{
    struct bytes rec;
    reframe_real(CH_FIZZ_HEX, 37, &rec);
    check_all_prefixes(rec.b, rec.n);
}
END_TEST

START_TEST(test_trailing_bytes_ignored)
{
    /* What follows the hello (the next flight, garbage) is not our concern. */
    size_t n;
    uint8_t *p = unhex(CH_CLOUDFLARE_HEX, &n);
    struct bytes s;
    struct gw_tls_info info;
    s.n = 0;
    put_mem(&s, p, n);
    put_mem(&s, "\x17\x03\x03\x00\x05hello", 10);
    ck_assert_int_eq(parse_ch_exact(s.b, s.n, &info), GW_OK);
    ck_assert_str_eq(info.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
    free(p);
}
END_TEST

/* ---- hand-built variations ------------------------------------------------- */

static int parse_built(struct hello *h, struct gw_tls_info *info)
{
    struct bytes rec;
    wrap_records(&h->m, 16384, 0x0301, &rec);
    return parse_ch_exact(rec.b, rec.n, info);
}

START_TEST(test_no_sni_no_alpn)
{
    /* 'i' without server_name, "00" without ALPN; one cipher after GREASE. */
    static const uint16_t ciphers[] = { 0x1a1a, 0x1301, 0x002f };
    static const uint16_t sigalgs[] = { 0x0804, 0x0403 };
    struct hello h;
    struct gw_tls_info info;
    char b[13], c[13], want[64];
    ch_begin(&h, 0x0303, ciphers, GW_ARRAY_LEN(ciphers));
    ext_raw(&h, 0x000a, "\x00\x02\x00\x1d", 4);
    ext_sigalgs(&h, sigalgs, 2);
    hello_end(&h, false);
    ck_assert_int_eq(parse_built(&h, &info), GW_OK);
    sha12("002f,1301", b);
    sha12("000a,000d_0804,0403", c);
    snprintf(want, sizeof want, "t12i0202" "00_%s_%s", b, c);
    ck_assert_str_eq(info.ja4, want);
    ck_assert_str_eq(info.sni, "");
    ck_assert_uint_eq(info.n_alpn, 0);
}
END_TEST

START_TEST(test_empty_lists)
{
    /* No ciphers and no extensions block at all: both hashes are the
     * spec's twelve zeros, version from legacy_version. */
    struct hello h;
    struct gw_tls_info info;
    ch_begin(&h, 0x0301, NULL, 0);
    hello_end(&h, true);
    ck_assert_int_eq(parse_built(&h, &info), GW_OK);
    ck_assert_str_eq(info.ja4, "t10i000000_000000000000_000000000000");

    /* Only SNI and ALPN: they count in part a, but the hashed list is empty. */
    static const char *const alpn[] = { "h2" };
    static const uint16_t ciphers[] = { 0x0035 };
    ch_begin(&h, 0x0300, ciphers, 1);
    ext_sni(&h, "a.example");
    ext_alpn(&h, alpn, 1);
    hello_end(&h, false);
    ck_assert_int_eq(parse_built(&h, &info), GW_OK);
    char b[13], want[64];
    sha12("0035", b);
    snprintf(want, sizeof want, "ts3d0102h2_%s_000000000000", b);
    ck_assert_str_eq(info.ja4, want);
}
END_TEST

static void ja4_alpn_case(const char *name, size_t len, const char *want2)
{
    const char *names[1] = { name };
    size_t lens[1] = { len };
    struct hello h;
    struct gw_tls_info info;
    ch_begin(&h, 0x0303, spec_ciphers, GW_ARRAY_LEN(spec_ciphers));
    ext_alpn_bin(&h, names, lens, 1);
    hello_end(&h, false);
    ck_assert_int_eq(parse_built(&h, &info), GW_OK);
    ck_assert_msg(strncmp(info.ja4 + 8, want2, 2) == 0, "alpn chars %.2s, want %s", info.ja4 + 8,
                  want2);
    ck_assert_uint_eq(info.n_alpn, 1);
    /* gw_tls_info keeps at most GW_TLS_ALPN_MAX - 1 bytes of each name */
    size_t kept = len < GW_TLS_ALPN_MAX - 1 ? len : GW_TLS_ALPN_MAX - 1;
    ck_assert_uint_eq(strlen(info.alpn[0]), kept);
    ck_assert_int_eq(memcmp(info.alpn[0], name, kept), 0);
}

START_TEST(test_ja4_alpn_chars)
{
    /* JA4.md "ALPN Extension Value" and its hex examples. */
    ja4_alpn_case("http/1.1", 8, "h1");
    ja4_alpn_case("h2", 2, "h2");
    ja4_alpn_case("x", 1, "xx");
    ja4_alpn_case("", 0, "00");
    ja4_alpn_case("\xab", 1, "ab");
    ja4_alpn_case("\xab\xcd", 2, "ad");
    ja4_alpn_case("0\xab", 2, "3b");
    ja4_alpn_case("01\xab\xcd", 4, "3d");
    ja4_alpn_case("0\xab\xcd" "1", 4, "01");
    ja4_alpn_case("h3/", 3, "6f"); /* '/' last: hex of "h3/" is 68332f */
}
END_TEST

START_TEST(test_ja4_alpn_uses_untruncated_value)
{
    /* A 40-byte first ALPN: gw_tls_info keeps 31 bytes, JA4 still uses the
     * real last byte. */
    char name[41];
    memset(name, 'a', 40);
    name[39] = 'Z';
    name[40] = '\0';
    ja4_alpn_case(name, 40, "aZ");
}
END_TEST

static void version_case(uint16_t legacy, const uint16_t *sv, size_t k, const char *want2)
{
    struct hello h;
    struct gw_tls_info info;
    ch_begin(&h, legacy, spec_ciphers, 2);
    if (sv) ext_versions(&h, sv, k);
    hello_end(&h, sv == NULL);
    ck_assert_int_eq(parse_built(&h, &info), GW_OK);
    ck_assert_msg(strncmp(info.ja4 + 1, want2, 2) == 0, "version %.2s, want %s", info.ja4 + 1, want2);
}

START_TEST(test_ja4_version)
{
    static const uint16_t only_grease[] = { 0x3a3a };
    static const uint16_t tls13_last[] = { 0x0301, 0x0302, 0x0303, 0x0304, 0x7a7a };
    version_case(0x0304, NULL, 0, "13");
    version_case(0x0303, NULL, 0, "12");
    version_case(0x0302, NULL, 0, "11");
    version_case(0x0301, NULL, 0, "10");
    version_case(0x0300, NULL, 0, "s3");
    version_case(0x0305, NULL, 0, "00");
    /* supported_versions wins over legacy_version, GREASE aside */
    version_case(0x0303, tls13_last, GW_ARRAY_LEN(tls13_last), "13");
    version_case(0x0301, only_grease, 1, "10");
}
END_TEST

START_TEST(test_offered_versions_capped)
{
    /* Ten versions offered: eight are kept, JA4 still sees the highest. */
    static const uint16_t sv[] = { 0x0300, 0x0301, 0x0302, 0x0303, 0x7f1c,
                                   0x7f1d, 0x7f1e, 0x7f1f, 0x0301, 0x0304 };
    struct hello h;
    struct gw_tls_info info;
    ch_begin(&h, 0x0303, spec_ciphers, 2);
    ext_versions(&h, sv, GW_ARRAY_LEN(sv));
    hello_end(&h, false);
    ck_assert_int_eq(parse_built(&h, &info), GW_OK);
    ck_assert_uint_eq(info.n_offered_versions, 8);
    for (int i = 0; i < 8; i++) ck_assert_uint_eq(info.offered_versions[i], sv[i]);
    /* highest is 0x7f1f (not named by JA4) */
    ck_assert_int_eq(strncmp(info.ja4, "t00", 3), 0);
}
END_TEST

START_TEST(test_counts_capped_at_99)
{
    uint16_t ciphers[120];
    struct hello h;
    struct gw_tls_info info;
    for (int i = 0; i < 120; i++) ciphers[i] = (uint16_t)(0x0100 + i);
    ch_begin(&h, 0x0303, ciphers, 120);
    for (int i = 0; i < 105; i++) ext_raw(&h, (uint16_t)(0x1000 + i), NULL, 0);
    hello_end(&h, false);
    ck_assert_int_eq(parse_built(&h, &info), GW_OK);
    ck_assert_int_eq(strncmp(info.ja4, "t12i999900_", 11), 0);
    ck_assert_uint_eq(strlen(info.ja4), 36);
}
END_TEST

START_TEST(test_sni_details)
{
    /* A 300-byte host name is cut to GW_TLS_SNI_MAX-1 with the flag; a
     * non-host_name entry ahead of it is skipped. */
    char host[301];
    memset(host, 'h', 300);
    host[300] = '\0';
    struct hello h;
    struct gw_tls_info info;
    ch_begin(&h, 0x0303, spec_ciphers, 2);
    size_t at = ext_open(&h, 0x0000);
    size_t list = open_len(&h.m, 2);
    put8(&h.m, 7); /* unknown name type */
    put16(&h.m, 3);
    put_mem(&h.m, "abc", 3);
    put8(&h.m, 0);
    put16(&h.m, 300);
    put_mem(&h.m, host, 300);
    put8(&h.m, 0); /* a second host_name is ignored */
    put16(&h.m, 5);
    put_mem(&h.m, "other", 5);
    close_len(&h.m, list, 2);
    ext_close(&h, at);
    hello_end(&h, false);
    ck_assert_int_eq(parse_built(&h, &info), GW_OK);
    ck_assert_uint_eq(strlen(info.sni), GW_TLS_SNI_MAX - 1);
    ck_assert_int_eq(memcmp(info.sni, host, GW_TLS_SNI_MAX - 1), 0);
    ck_assert_uint_eq(info.sni_truncated, 1);
    ck_assert_int_eq(info.ja4[3], 'd');
}
END_TEST

START_TEST(test_alpn_list_capped)
{
    static const char *const names[] = { "p0", "p1", "p2", "p3", "p4", "p5",
                                         "p6", "p7", "p8", "p9" };
    struct hello h;
    struct gw_tls_info info;
    ch_begin(&h, 0x0303, spec_ciphers, 2);
    ext_alpn(&h, names, GW_ARRAY_LEN(names));
    hello_end(&h, false);
    ck_assert_int_eq(parse_built(&h, &info), GW_OK);
    ck_assert_uint_eq(info.n_alpn, GW_TLS_MAX_ALPN);
    for (int i = 0; i < GW_TLS_MAX_ALPN; i++) ck_assert_str_eq(info.alpn[i], names[i]);
    ck_assert_int_eq(strncmp(info.ja4 + 8, "p0", 2), 0);
}
END_TEST

/* ---- errors -------------------------------------------------------------- */

/* A minimal valid hello to corrupt: legacy 0x0303, 2 ciphers, SNI, ALPN. */
static void build_small(struct hello *h)
{
    static const char *const alpn[] = { "h2" };
    static const uint16_t ciphers[] = { 0x1301, 0x1302 };
    ch_begin(h, 0x0303, ciphers, 2);
    ext_sni(h, "example.org");
    ext_alpn(h, alpn, 1);
    hello_end(h, false);
}

/* Offsets inside build_small's message (handshake header included). */
enum {
    OFF_SID_LEN = 4 + 2 + 32,
    OFF_CS_LEN = OFF_SID_LEN + 1 + 32,
    OFF_COMP_LEN = OFF_CS_LEN + 2 + 4,
    OFF_EXT_LEN = OFF_COMP_LEN + 2,
    OFF_SNI_EXT_LEN = OFF_EXT_LEN + 2 + 2,
    OFF_SNI_LIST_LEN = OFF_SNI_EXT_LEN + 2,
    OFF_SNI_NAME_LEN = OFF_SNI_LIST_LEN + 2 + 1,
    OFF_ALPN_EXT = OFF_SNI_LIST_LEN + 2 + 1 + 2 + 11,
    OFF_ALPN_LIST_LEN = OFF_ALPN_EXT + 4
};

static int parse_corrupted(size_t off, uint8_t val)
{
    struct hello h;
    struct gw_tls_info info;
    build_small(&h);
    ck_assert_uint_lt(off, h.m.n);
    h.m.b[off] = val;
    int rc = parse_built(&h, &info);
    if (rc != GW_OK) ck_assert_uint_eq(info.have_client_hello, 0);
    return rc;
}

START_TEST(test_malformed_lengths)
{
    struct hello h;
    struct gw_tls_info info;
    build_small(&h);
    /* sanity: the offsets point where the builder put things */
    ck_assert_int_eq(parse_built(&h, &info), GW_OK);
    ck_assert_uint_eq(h.m.b[OFF_SID_LEN], 32);
    ck_assert_uint_eq(h.m.b[OFF_CS_LEN + 1], 4);
    ck_assert_uint_eq(h.m.b[OFF_COMP_LEN], 1);
    ck_assert_uint_eq(h.m.b[OFF_SNI_NAME_LEN + 1], 11);
    ck_assert_uint_eq(h.m.b[OFF_ALPN_EXT + 1], 0x10);

    ck_assert_int_eq(parse_corrupted(OFF_SID_LEN, 33), GW_ERR_MALFORMED);      /* > 32 */
    ck_assert_int_eq(parse_corrupted(OFF_CS_LEN + 1, 3), GW_ERR_MALFORMED);    /* odd */
    ck_assert_int_eq(parse_corrupted(OFF_CS_LEN, 0x40), GW_ERR_MALFORMED);     /* past end */
    ck_assert_int_eq(parse_corrupted(OFF_COMP_LEN, 0xff), GW_ERR_MALFORMED);
    ck_assert_int_eq(parse_corrupted(OFF_EXT_LEN + 1, (uint8_t)(h.m.b[OFF_EXT_LEN + 1] + 1)),
                     GW_ERR_MALFORMED);
    ck_assert_int_eq(parse_corrupted(OFF_EXT_LEN + 1, (uint8_t)(h.m.b[OFF_EXT_LEN + 1] - 1)),
                     GW_ERR_MALFORMED);
    ck_assert_int_eq(parse_corrupted(OFF_SNI_EXT_LEN + 1, 0xf0), GW_ERR_MALFORMED);
    ck_assert_int_eq(parse_corrupted(OFF_SNI_LIST_LEN + 1, 3), GW_ERR_MALFORMED);
    ck_assert_int_eq(parse_corrupted(OFF_SNI_NAME_LEN + 1, 12), GW_ERR_MALFORMED);
    ck_assert_int_eq(parse_corrupted(OFF_ALPN_LIST_LEN + 1, 2), GW_ERR_MALFORMED);
    ck_assert_int_eq(parse_corrupted(OFF_ALPN_LIST_LEN + 2, 5), GW_ERR_MALFORMED);

    /* The handshake length shorter than the body: the hello ends early. */
    ck_assert_int_eq(parse_corrupted(3, (uint8_t)(h.m.b[3] - 1)), GW_ERR_MALFORMED);
}
END_TEST

START_TEST(test_record_errors)
{
    struct hello h;
    struct bytes rec;
    struct gw_tls_info info;
    build_small(&h);

    /* Record length 0 and above 2^14+2048. */
    static const uint8_t zero_len[] = { 0x16, 0x03, 0x01, 0x00, 0x00, 0x01 };
    ck_assert_int_eq(parse_ch_exact(zero_len, sizeof zero_len, &info), GW_ERR_MALFORMED);
    static const uint8_t huge_len[] = { 0x16, 0x03, 0x01, 0x48, 0x01, 0x01 };
    ck_assert_int_eq(parse_ch_exact(huge_len, sizeof huge_len, &info), GW_ERR_MALFORMED);

    /* The hello is split, then the second record is application data. */
    wrap_records(&h.m, 40, 0x0301, &rec);
    rec.b[5 + 40] = 0x17;
    ck_assert_int_eq(parse_ch_exact(rec.b, rec.n, &info), GW_ERR_MALFORMED);
    wrap_records(&h.m, 40, 0x0301, &rec);
    rec.b[5 + 40 + 2] = 0x07; /* bad minor version in the second record */
    ck_assert_int_eq(parse_ch_exact(rec.b, rec.n, &info), GW_ERR_MALFORMED);
}
END_TEST

START_TEST(test_unsupported_first_record)
{
    struct gw_tls_info info;
    /* An SSLv2-compatible ClientHello (2-byte header, msg type 1). */
    static const uint8_t sslv2[] = { 0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00 };
    ck_assert_int_eq(parse_ch_exact(sslv2, sizeof sslv2, &info), GW_ERR_UNSUPPORTED);
    static const uint8_t appdata[] = { 0x17, 0x03, 0x03, 0x00, 0x02, 0xaa, 0xbb };
    ck_assert_int_eq(parse_ch_exact(appdata, sizeof appdata, &info), GW_ERR_UNSUPPORTED);
    static const uint8_t http[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    ck_assert_int_eq(parse_ch_exact(http, sizeof http - 1, &info), GW_ERR_UNSUPPORTED);
    /* one byte is enough to tell */
    ck_assert_int_eq(parse_ch_exact(appdata, 1, &info), GW_ERR_UNSUPPORTED);
    static const uint8_t tls_major4[] = { 0x16, 0x04 };
    ck_assert_int_eq(parse_ch_exact(tls_major4, 2, &info), GW_ERR_UNSUPPORTED);

    /* A ServerHello on the client side, and a ClientHello on the server side. */
    size_t n;
    uint8_t *sh = unhex(SH_CURL_HEX, &n);
    ck_assert_int_eq(parse_ch_exact(sh, n, &info), GW_ERR_UNSUPPORTED);
    ck_assert_int_eq(parse_ch_exact(sh, 6, &info), GW_ERR_UNSUPPORTED);
    free(sh);
    uint8_t *ch = unhex(CH_CURL_HEX, &n);
    ck_assert_int_eq(parse_sh_exact(ch, n, &info), GW_ERR_UNSUPPORTED);
    free(ch);
}
END_TEST

START_TEST(test_hello_too_large)
{
    struct gw_tls_info info;
    /* handshake length GW_TLS_MAX_HELLO + 1 */
    uint8_t rec[] = { 0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x40, 0x01 };
    ck_assert_int_eq(parse_ch_exact(rec, sizeof rec, &info), GW_ERR_LIMIT);
    /* exactly GW_TLS_MAX_HELLO is accepted as a prefix */
    rec[8] = 0x00;
    ck_assert_int_eq(parse_ch_exact(rec, sizeof rec, &info), GW_ERR_NEED_MORE);
}
END_TEST

START_TEST(test_largest_hello_across_records)
{
    /* A hello of exactly GW_TLS_MAX_HELLO bytes, padded with extension
     * 0x0015, arriving in two full records and a tail. */
    static const uint16_t ciphers[] = { 0x1301 };
    struct hello h;
    struct bytes rec;
    struct gw_tls_info info;
    static uint8_t pad[GW_TLS_MAX_HELLO];
    ch_begin(&h, 0x0303, ciphers, 1);
    ext_sni(&h, "big.example");
    size_t body_so_far = h.m.n - 4;
    size_t pad_len = GW_TLS_MAX_HELLO - body_so_far - 4;
    ext_raw(&h, 0x0015, pad, pad_len);
    hello_end(&h, false);
    ck_assert_uint_eq(h.m.n - 4, GW_TLS_MAX_HELLO);
    wrap_records(&h.m, 8000, 0x0303, &rec);
    ck_assert_int_eq(parse_ch_exact(rec.b, rec.n, &info), GW_OK);
    ck_assert_str_eq(info.sni, "big.example");
    ck_assert_int_eq(strncmp(info.ja4, "t12d0102", 8), 0);
    ck_assert_int_eq(parse_ch_exact(rec.b, rec.n - 1, &info), GW_ERR_NEED_MORE);
}
END_TEST

START_TEST(test_hostile_bytes_never_crash)
{
    /* Every single-byte change to a real hello: whatever the verdict, it is
     * a known code, and a success yields a well-formed JA4. */
    size_t n;
    uint8_t *orig = unhex(CH_CLOUDFLARE_HEX, &n);
    static const uint8_t vals[] = { 0x00, 0x01, 0x7f, 0xff };
    int ok = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t v = 0; v < GW_ARRAY_LEN(vals); v++) {
            struct gw_tls_info info;
            uint8_t *p = malloc(n);
            ck_assert_ptr_nonnull(p);
            memcpy(p, orig, n);
            p[i] = vals[v];
            int rc = gw_tls_parse_client_hello(p, n, &info);
            ck_assert(rc == GW_OK || rc == GW_ERR_NEED_MORE || rc == GW_ERR_MALFORMED ||
                      rc == GW_ERR_UNSUPPORTED || rc == GW_ERR_LIMIT);
            if (rc == GW_OK) {
                ok++;
                ck_assert_uint_eq(strlen(info.ja4), 36);
                ck_assert_uint_lt(strlen(info.sni), GW_TLS_SNI_MAX);
                ck_assert_uint_le(info.n_alpn, GW_TLS_MAX_ALPN);
            }
            free(p);
        }
    }
    ck_assert_int_gt(ok, 0); /* changes inside random/key shares still parse */
    free(orig);
}
END_TEST

START_TEST(test_bad_arguments)
{
    struct gw_tls_info info;
    ck_assert_int_eq(gw_tls_parse_client_hello(NULL, 5, &info), GW_ERR_ARG);
    ck_assert_int_eq(gw_tls_parse_client_hello((const uint8_t *)"\x16", 1, NULL), GW_ERR_ARG);
    ck_assert_int_eq(gw_tls_parse_server_hello(NULL, 5, &info), GW_ERR_ARG);
    ck_assert_int_eq(gw_tls_parse_client_hello(NULL, 0, &info), GW_ERR_NEED_MORE);
}
END_TEST

/* ---- ServerHello ------------------------------------------------------------ */

static void sh_begin(struct hello *h, uint16_t legacy, uint16_t cipher)
{
    hello_begin(h, 2, legacy);
    put16(&h->m, cipher);
    put8(&h->m, 0);
    h->ext_at = open_len(&h->m, 2);
}

static void sh_ext_alpn(struct hello *h, const char *name)
{
    const char *names[1] = { name };
    ext_alpn(h, names, 1);
}

START_TEST(test_server_hello_tls13_h2)
{
    static const uint16_t v13[] = { 0x0304 };
    struct hello h;
    struct bytes rec;
    struct gw_tls_info info;
    sh_begin(&h, 0x0303, 0x1302);
    ext_raw(&h, 0x0033, "\x00\x1d\x00\x01\x42", 5);
    ext_u16_list(&h, 0x002b, 0, v13, 1); /* ServerHello form: bare version */
    sh_ext_alpn(&h, "h2");
    hello_end(&h, false);
    wrap_records(&h.m, 16384, 0x0303, &rec);
    memset(&info, 0, sizeof info);
    ck_assert_int_eq(parse_sh_exact(rec.b, rec.n, &info), GW_OK);
    ck_assert_uint_eq(info.have_server_hello, 1);
    ck_assert_uint_eq(info.version, 0x0304);
    ck_assert_uint_eq(info.cipher, 0x1302);
    ck_assert_str_eq(info.alpn_selected, "h2");
    ck_assert_uint_eq(info.have_client_hello, 0);

    /* split into 3-byte records and every prefix */
    wrap_records(&h.m, 3, 0x0303, &rec);
    ck_assert_int_eq(parse_sh_exact(rec.b, rec.n, &info), GW_OK);
    ck_assert_str_eq(info.alpn_selected, "h2");
    for (size_t k = 0; k < rec.n; k++) {
        ck_assert_int_eq(parse_sh_exact(rec.b, k, &info), GW_ERR_NEED_MORE);
        ck_assert_uint_eq(info.have_server_hello, 0);
    }
}
END_TEST

START_TEST(test_server_hello_tls12_no_extensions)
{
    struct hello h;
    struct bytes rec;
    struct gw_tls_info info;
    sh_begin(&h, 0x0303, 0xc02f);
    hello_end(&h, true);
    wrap_records(&h.m, 16384, 0x0303, &rec);
    ck_assert_int_eq(parse_sh_exact(rec.b, rec.n, &info), GW_OK);
    ck_assert_uint_eq(info.version, 0x0303);
    ck_assert_uint_eq(info.cipher, 0xc02f);
    ck_assert_str_eq(info.alpn_selected, "");
}
END_TEST

START_TEST(test_server_hello_retry_request)
{
    /* RFC 8446 4.1.3: HelloRetryRequest = ServerHello with this random. */
    static const uint8_t hrr_random[32] = {
        0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C,
        0x02, 0x1E, 0x65, 0xB8, 0x91, 0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB,
        0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C };
    static const uint16_t v13[] = { 0x0304 };
    struct hello h;
    struct bytes rec;
    struct gw_tls_info info;
    sh_begin(&h, 0x0303, 0x1301);
    memcpy(h.m.b + 6, hrr_random, 32);
    ext_u16_list(&h, 0x002b, 0, v13, 1);
    ext_raw(&h, 0x0033, "\x00\x17", 2);
    hello_end(&h, false);
    wrap_records(&h.m, 16384, 0x0303, &rec);
    ck_assert_int_eq(parse_sh_exact(rec.b, rec.n, &info), GW_OK);
    ck_assert_uint_eq(info.version, 0x0304);
    ck_assert_uint_eq(info.cipher, 0x1301);
}
END_TEST

START_TEST(test_server_hello_real)
{
    size_t n;
    struct gw_tls_info info;
    uint8_t *p = unhex(SH_CURL_HEX, &n);
    ck_assert_uint_eq(n, 107);
    ck_assert_int_eq(parse_sh_exact(p, n, &info), GW_OK);
    ck_assert_uint_eq(info.version, 0x0303);
    ck_assert_uint_eq(info.cipher, 0xc02f);
    ck_assert_str_eq(info.alpn_selected, "h2");
    for (size_t k = 0; k < n; k++) ck_assert_int_eq(parse_sh_exact(p, k, &info), GW_ERR_NEED_MORE);
    free(p);

    p = unhex(SH_CLOUDFLARE_HEX, &n);
    ck_assert_uint_eq(n, 127);
    ck_assert_int_eq(parse_sh_exact(p, n, &info), GW_OK);
    ck_assert_uint_eq(info.version, 0x0304);
    ck_assert_uint_eq(info.cipher, 0x1301);
    ck_assert_str_eq(info.alpn_selected, ""); /* TLS 1.3: ALPN is encrypted */
    free(p);
}
END_TEST

START_TEST(test_server_hello_malformed)
{
    static const uint16_t v_two[] = { 0x0304, 0x0303 };
    static const char *const two[] = { "h2", "http/1.1" };
    struct hello h;
    struct bytes rec;
    struct gw_tls_info info;

    sh_begin(&h, 0x0303, 0x1301);
    ext_u16_list(&h, 0x002b, 0, v_two, 2); /* selected_version is one value */
    hello_end(&h, false);
    wrap_records(&h.m, 16384, 0x0303, &rec);
    ck_assert_int_eq(parse_sh_exact(rec.b, rec.n, &info), GW_ERR_MALFORMED);
    ck_assert_uint_eq(info.have_server_hello, 0);

    sh_begin(&h, 0x0303, 0x1301);
    ext_alpn(&h, two, 2); /* a server selects exactly one protocol */
    hello_end(&h, false);
    wrap_records(&h.m, 16384, 0x0303, &rec);
    ck_assert_int_eq(parse_sh_exact(rec.b, rec.n, &info), GW_ERR_MALFORMED);

    sh_begin(&h, 0x0303, 0x1301);
    hello_end(&h, true);
    h.m.b[4 + 2 + 32] = 40; /* session id longer than 32 */
    wrap_records(&h.m, 16384, 0x0303, &rec);
    ck_assert_int_eq(parse_sh_exact(rec.b, rec.n, &info), GW_ERR_MALFORMED);
}
END_TEST

START_TEST(test_client_and_server_fields_independent)
{
    size_t n;
    struct gw_tls_info info;
    memset(&info, 0, sizeof info);
    uint8_t *ch = unhex(CH_CURL_HEX, &n);
    ck_assert_int_eq(gw_tls_parse_client_hello(ch, n, &info), GW_OK);
    free(ch);
    uint8_t *sh = unhex(SH_CURL_HEX, &n);
    ck_assert_int_eq(gw_tls_parse_server_hello(sh, n, &info), GW_OK);
    free(sh);
    ck_assert_uint_eq(info.have_client_hello, 1);
    ck_assert_uint_eq(info.have_server_hello, 1);
    ck_assert_str_eq(info.sni, "www.ntop.org");
    ck_assert_str_eq(info.ja4, "t12d6707h2_2955a3196ffa_c83f907a73d3");
    ck_assert_str_eq(info.alpn_selected, "h2");
}
END_TEST

/* ---- helpers ------------------------------------------------------------------- */

START_TEST(test_looks_like_client_hello)
{
    static const uint8_t good[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00 };
    for (size_t k = 0; k <= sizeof good; k++) ck_assert(gw_tls_looks_like_client_hello(good, k));
    static const uint8_t ssl3[] = { 0x16, 0x03, 0x00, 0x00, 0x04, 0x01 };
    ck_assert(gw_tls_looks_like_client_hello(ssl3, sizeof ssl3));

    static const uint8_t not_hs[] = { 0x17, 0x03, 0x03, 0x00, 0x10, 0x01 };
    static const uint8_t major2[] = { 0x16, 0x02, 0x00, 0x00, 0x10, 0x01 };
    static const uint8_t minor5[] = { 0x16, 0x03, 0x05, 0x00, 0x10, 0x01 };
    static const uint8_t zero_len[] = { 0x16, 0x03, 0x01, 0x00, 0x00, 0x01 };
    static const uint8_t server_hello[] = { 0x16, 0x03, 0x03, 0x00, 0x40, 0x02 };
    ck_assert(!gw_tls_looks_like_client_hello(not_hs, 1));
    ck_assert(!gw_tls_looks_like_client_hello(major2, 2));
    ck_assert(!gw_tls_looks_like_client_hello(minor5, 3));
    ck_assert(!gw_tls_looks_like_client_hello(zero_len, 5));
    ck_assert(gw_tls_looks_like_client_hello(server_hello, 5));
    ck_assert(!gw_tls_looks_like_client_hello(server_hello, 6));
    ck_assert(!gw_tls_looks_like_client_hello((const uint8_t *)"PRI * HTTP/2.0", 14));
    ck_assert(!gw_tls_looks_like_client_hello((const uint8_t *)"GET / HTTP/1.1", 14));

    size_t n;
    uint8_t *p = unhex(CH_CHROME_KYBER_HEX, &n);
    ck_assert(gw_tls_looks_like_client_hello(p, n));
    free(p);
}
END_TEST

/* ---- fragmented ClientHellos (evasion) -------------------------------------- */

/* Records shorter than the 4-byte handshake header are legal (RFC 8446 5.1:
 * a handshake message may be fragmented across several records; only
 * zero-length handshake fragments are forbidden). Each record length from
 * 1 to 4 must classify as TLS, byte by byte, and still give SNI and ALPN. */
START_TEST(test_fragmented_tiny_records_classify_and_parse)
{
    struct hello h;
    struct bytes rec;
    build_spec_hello(&h, true);
    for (size_t frag = 1; frag <= 4; frag++) {
        struct gw_tls_info info;
        wrap_records(&h.m, frag, 0x0301, &rec);
        /* record header says length frag < 4 for frag 1..3 */
        ck_assert_uint_eq(((size_t)rec.b[3] << 8) | rec.b[4], frag);
        check_all_prefixes(rec.b, rec.n); /* classifier true + NEED_MORE on every prefix */
        ck_assert_int_eq(parse_ch_exact(rec.b, rec.n, &info), GW_OK);
        ck_assert_str_eq(info.sni, "example.com");
        ck_assert_uint_eq(info.n_alpn, 2);
        ck_assert_str_eq(info.alpn[0], "h2");
        ck_assert_str_eq(info.alpn[1], "http/1.1");
        ck_assert_str_eq(info.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
    }
}
END_TEST

/* The shape the fuzzer found: a first record holding only the handshake
 * type byte, the rest of the hello in a second record. */
START_TEST(test_first_record_one_byte)
{
    size_t n;
    uint8_t *p = unhex(CH_CURL_HEX, &n);
    struct bytes msg, rec;
    struct gw_tls_info whole, split;
    ck_assert_int_eq(parse_ch_exact(p, n, &whole), GW_OK);
    msg.n = 0;
    put_mem(&msg, p + 5, n - 5);
    static const size_t sizes[] = { 1, 0 };
    wrap_records_sizes(&msg, sizes, 2, &rec);
    ck_assert_uint_eq(rec.b[3], 0x00);
    ck_assert_uint_eq(rec.b[4], 0x01);
    ck_assert_uint_eq(rec.b[5], 0x01); /* ClientHello type, alone in its record */
    for (size_t k = 0; k <= 6; k++) ck_assert(gw_tls_looks_like_client_hello(rec.b, k));
    ck_assert_int_eq(parse_ch_exact(rec.b, 6, &split), GW_ERR_NEED_MORE);
    ck_assert_int_eq(parse_ch_exact(rec.b, rec.n, &split), GW_OK);
    /* the record boundaries change nothing the parser reports */
    ck_assert_str_eq(split.sni, whole.sni);
    ck_assert_uint_eq(split.n_alpn, whole.n_alpn);
    ck_assert_str_eq(split.ja4, whole.ja4);
    ck_assert_uint_gt(strlen(split.sni), 0);
    free(p);
}
END_TEST

START_TEST(test_looks_like_record_length_bounds)
{
    /* 1 <= length <= 2^14 + 2048 (RFC 5246 6.2.3) */
    uint8_t r[] = { 0x16, 0x03, 0x03, 0x00, 0x01, 0x01 };
    ck_assert(gw_tls_looks_like_client_hello(r, sizeof r));
    r[4] = 0x00;
    ck_assert(!gw_tls_looks_like_client_hello(r, sizeof r));
    ck_assert(!gw_tls_looks_like_client_hello(r, 5));
    ck_assert(gw_tls_looks_like_client_hello(r, 4)); /* cannot tell yet */
    r[3] = 0x48; /* 18432 */
    ck_assert(gw_tls_looks_like_client_hello(r, sizeof r));
    r[4] = 0x01; /* 18433 */
    ck_assert(!gw_tls_looks_like_client_hello(r, sizeof r));
    for (unsigned len = 1; len < 4; len++) {
        r[3] = 0;
        r[4] = (uint8_t)len;
        ck_assert(gw_tls_looks_like_client_hello(r, sizeof r));
        r[5] = 0x02; /* ServerHello type: not a client's first bytes */
        ck_assert(!gw_tls_looks_like_client_hello(r, sizeof r));
        r[5] = 0x01;
    }
}
END_TEST

/* Writes msg into records of frag bytes in a heap buffer (too big for struct
 * bytes when records are tiny). */
static uint8_t *wrap_heap(const struct bytes *msg, size_t frag, size_t *out_n)
{
    size_t nrec = (msg->n + frag - 1) / frag;
    uint8_t *out = malloc(msg->n + 5 * nrec);
    ck_assert_ptr_nonnull(out);
    size_t w = 0;
    for (size_t off = 0; off < msg->n; off += frag) {
        size_t k = GW_MIN(frag, msg->n - off);
        out[w++] = 22;
        out[w++] = 0x03;
        out[w++] = 0x03;
        out[w++] = (uint8_t)(k >> 8);
        out[w++] = (uint8_t)k;
        memcpy(out + w, msg->b + off, k);
        w += k;
    }
    *out_n = w;
    return out;
}

/* Reassembly is bounded by GW_TLS_MAX_HELLO whatever the fragmentation: the
 * largest hello in 3-byte records is read whole; one byte more is LIMIT as
 * soon as the (split) handshake header is complete. */
START_TEST(test_fragmented_hello_bound)
{
    static const uint16_t ciphers[] = { 0x1301 };
    static uint8_t pad[GW_TLS_MAX_HELLO];
    struct hello h;
    struct gw_tls_info info;
    ch_begin(&h, 0x0303, ciphers, 1);
    ext_sni(&h, "frag.example");
    ext_raw(&h, 0x0015, pad, GW_TLS_MAX_HELLO - (h.m.n - 4) - 4);
    hello_end(&h, false);
    ck_assert_uint_eq(h.m.n - 4, GW_TLS_MAX_HELLO);

    size_t n;
    uint8_t *p = wrap_heap(&h.m, 3, &n);
    ck_assert_int_eq(parse_ch_exact(p, n, &info), GW_OK);
    ck_assert_str_eq(info.sni, "frag.example");
    ck_assert_int_eq(parse_ch_exact(p, n - 1, &info), GW_ERR_NEED_MORE);
    free(p);

    /* handshake length GW_TLS_MAX_HELLO + 1, header split 1 + 3 */
    static const uint8_t big[] = { 0x16, 0x03, 0x01, 0x00, 0x01, 0x01,
                                   0x16, 0x03, 0x01, 0x00, 0x03, 0x00, 0x40, 0x01 };
    ck_assert(gw_tls_looks_like_client_hello(big, sizeof big));
    ck_assert_int_eq(parse_ch_exact(big, sizeof big - 1, &info), GW_ERR_NEED_MORE);
    ck_assert_int_eq(parse_ch_exact(big, sizeof big, &info), GW_ERR_LIMIT);
}
END_TEST

/* A fragmented hello interrupted by another record type is not a hello. */
START_TEST(test_fragmented_hello_interleaved_record)
{
    struct hello h;
    struct bytes rec;
    struct gw_tls_info info;
    build_spec_hello(&h, true);
    wrap_records(&h.m, 2, 0x0301, &rec);
    rec.b[7] = 0x15; /* second record becomes an alert */
    ck_assert(gw_tls_looks_like_client_hello(rec.b, rec.n));
    ck_assert_int_eq(parse_ch_exact(rec.b, rec.n, &info), GW_ERR_MALFORMED);
    ck_assert_uint_eq(info.have_client_hello, 0);
    wrap_records(&h.m, 2, 0x0301, &rec);
    rec.b[10] = 0x00; /* second record empty: forbidden for handshake data */
    rec.b[11] = 0x00;
    ck_assert_int_eq(parse_ch_exact(rec.b, rec.n, &info), GW_ERR_MALFORMED);
}
END_TEST

START_TEST(test_version_str)
{
    char buf[16];
    ck_assert_str_eq(gw_tls_version_str(0x0300, buf, sizeof buf), "SSLv3");
    ck_assert_str_eq(gw_tls_version_str(0x0301, buf, sizeof buf), "1.0");
    ck_assert_str_eq(gw_tls_version_str(0x0302, buf, sizeof buf), "1.1");
    ck_assert_str_eq(gw_tls_version_str(0x0303, buf, sizeof buf), "1.2");
    ck_assert_str_eq(gw_tls_version_str(0x0304, buf, sizeof buf), "1.3");
    ck_assert_str_eq(gw_tls_version_str(0x7f1c, buf, sizeof buf), "0x7f1c");
    ck_assert_str_eq(gw_tls_version_str(0x0000, buf, 8), "0x0000");
    char small[4];
    ck_assert_str_eq(gw_tls_version_str(0xfefd, small, sizeof small), "0xf"); /* cut, terminated */
}
END_TEST

static Suite *tls_suite(void)
{
    Suite *s = suite_create("tls");
    TCase *ja4 = tcase_create("ja4");
    tcase_add_test(ja4, test_ja4_spec_example);
    tcase_add_test(ja4, test_ja4_spec_no_sigalgs);
    tcase_add_test(ja4, test_ja4_spec_split_records);
    tcase_add_test(ja4, test_two_records);
    tcase_add_test(ja4, test_no_sni_no_alpn);
    tcase_add_test(ja4, test_empty_lists);
    tcase_add_test(ja4, test_ja4_alpn_chars);
    tcase_add_test(ja4, test_ja4_alpn_uses_untruncated_value);
    tcase_add_test(ja4, test_ja4_version);
    tcase_add_test(ja4, test_offered_versions_capped);
    tcase_add_test(ja4, test_counts_capped_at_99);
    suite_add_tcase(s, ja4);

    TCase *real = tcase_create("real_captures");
    tcase_add_test(real, test_real_cloudflare_hello);
    tcase_add_test(real, test_real_curl_hello);
    tcase_add_test(real, test_real_chrome_kyber_hello);
    tcase_add_test(real, test_real_fizz_hello);
    tcase_add_test(real, test_real_chrome_reframed);
    tcase_add_test(real, test_trailing_bytes_ignored);
    suite_add_tcase(s, real);

    TCase *client = tcase_create("client_hello");
    tcase_add_test(client, test_sni_details);
    tcase_add_test(client, test_alpn_list_capped);
    tcase_add_test(client, test_truncation_real_single_record);
    tcase_add_test(client, test_truncation_multi_record);
    tcase_add_test(client, test_malformed_lengths);
    tcase_add_test(client, test_record_errors);
    tcase_add_test(client, test_unsupported_first_record);
    tcase_add_test(client, test_hello_too_large);
    tcase_add_test(client, test_largest_hello_across_records);
    tcase_add_test(client, test_hostile_bytes_never_crash);
    tcase_add_test(client, test_bad_arguments);
    tcase_add_test(client, test_fragmented_tiny_records_classify_and_parse);
    tcase_add_test(client, test_first_record_one_byte);
    tcase_add_test(client, test_fragmented_hello_bound);
    tcase_add_test(client, test_fragmented_hello_interleaved_record);
    tcase_set_timeout(client, 30);
    suite_add_tcase(s, client);

    TCase *server = tcase_create("server_hello");
    tcase_add_test(server, test_server_hello_tls13_h2);
    tcase_add_test(server, test_server_hello_tls12_no_extensions);
    tcase_add_test(server, test_server_hello_retry_request);
    tcase_add_test(server, test_server_hello_real);
    tcase_add_test(server, test_server_hello_malformed);
    tcase_add_test(server, test_client_and_server_fields_independent);
    suite_add_tcase(s, server);

    TCase *helpers = tcase_create("helpers");
    tcase_add_test(helpers, test_looks_like_client_hello);
    tcase_add_test(helpers, test_looks_like_record_length_bounds);
    tcase_add_test(helpers, test_version_str);
    suite_add_tcase(s, helpers);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tls_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
